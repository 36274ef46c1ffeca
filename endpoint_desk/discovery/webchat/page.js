/*
 * endpoint-desk: the in-page side of web chat discovery (window.__deskDiscover).
 *
 * Reads the page and marks elements with data-desk-* attributes so Python can address
 * them through Playwright locators (which pierce open shadow roots). Builds on the
 * adapter's page.js (window.__deskChat: deepAll, visible, textOf). Never types or
 * clicks; Python does that like a person would.
 *
 *   fingerprint()          framework markers and the DOM's shape
 *   loginWall()            a visible password field / sign-in form, or null
 *   inputs()               ranked message input candidates (marked data-desk-cand)
 *   controls()             visible buttons with their state (marked data-desk-el)
 *   record() / recorded()  a mutation log with timestamps (added elements, text)
 *   find(needles)          the deepest elements whose text contains each needle
 *   describeReply(a, u)    message element, container and selector candidates for
 *                          the assistant message (a) given the user message (u)
 *   selectorsFor(el, scope)  stable selectors that pick el, best first
 *   samples()              visible busy-looking elements right now (marked)
 *   outline(limit)         a short, numbered outline of the page for AI assistance
 */
(() => {
  if (window.__deskDiscover) return;
  const C = () => window.__deskChat;

  const HASHED = [
    /^(css|sc|jsx|emotion|styled|svelte|astro|tw|chakra|mantine|mui)-[\w-]*\d[\w-]*$/i,
    /^[a-z0-9]+_[a-z0-9]+__[\w-]{4,}$/i, // CSS modules: Comp_class__hash
    /__[\w-]{5,}$/,
    /^_[\w-]{4,}$/,
    /^[a-z]{1,3}[A-Z0-9][\w]{3,}$/, // aBc123
    /^[\w-]*[0-9][\w-]*[0-9][\w-]*$/, // two digits or more anywhere
  ];
  const GOOD_WORDS = /(assistant|bot|ai|model|response|answer|reply|agent|message|msg|chat|turn)/i;
  const INPUT_GOOD = /(message|ask|send|chat|prompt|type|question|talk|say|write|reply|anything)/i;
  const INPUT_BAD = /(search|find|filter|login|log in|sign in|email|e-mail|user ?name|password|phone|zip|subscribe|newsletter|url|title|name)/i;
  const SEND_WORDS = /(send|submit|ask|go|run|↑|➤|➔|→|arrow|paper|plane)/i;
  const NEW_WORDS = /(new (chat|conversation|thread|session|topic)|start (over|new)|clear( chat| conversation| history)?|reset|^new$|^\+$|retry|delete conversation)/i;
  const STOP_WORDS = /(stop|cancel|abort|interrupt)/i;
  const BUSY_CLASS = /(loading|spinner|typing|thinking|generating|pending|progress|busy|dots|stream)/i;
  const ATTR_PREF = [
    'data-testid', 'data-test-id', 'data-test', 'data-role', 'data-message-author-role',
    'data-author', 'data-sender', 'data-from', 'data-type', 'data-kind', 'role',
  ];

  let seq = 0;
  function mark(el, attr) {
    let v = el.getAttribute(attr);
    if (!v) {
      v = String(++seq);
      el.setAttribute(attr, v);
    }
    return v;
  }

  function esc(v) {
    return String(v).replace(/(["\\])/g, '\\$1');
  }
  function cssId(v) {
    return window.CSS && CSS.escape ? CSS.escape(v) : v;
  }

  function rootOf(el) {
    const r = el.getRootNode();
    return r instanceof ShadowRoot ? r : document;
  }

  function hashed(tok) {
    return HASHED.some((re) => re.test(tok));
  }

  function labelOf(el) {
    const parts = [];
    for (const a of ['aria-label', 'placeholder', 'title', 'name', 'id', 'data-testid', 'aria-placeholder']) {
      const v = el.getAttribute && el.getAttribute(a);
      if (v) parts.push(v);
    }
    if (el.id) {
      const r = rootOf(el);
      const lab = r.querySelector && r.querySelector(`label[for="${esc(el.id)}"]`);
      if (lab) parts.push(lab.textContent || '');
    }
    const wrap = el.closest && el.closest('label');
    if (wrap) parts.push(wrap.textContent || '');
    const lb = el.getAttribute && el.getAttribute('aria-labelledby');
    if (lb) {
      for (const id of lb.split(/\s+/)) {
        const t = rootOf(el).getElementById ? rootOf(el).getElementById(id) : document.getElementById(id);
        if (t) parts.push(t.textContent || '');
      }
    }
    return parts.join(' ').replace(/\s+/g, ' ').trim().slice(0, 200);
  }

  function nameOf(el) {
    const t = (el.innerText || el.textContent || '').replace(/\s+/g, ' ').trim();
    return (labelOf(el) + ' ' + t).trim().slice(0, 120);
  }

  function rect(el) {
    const r = el.getBoundingClientRect();
    return { x: r.x, y: r.y, w: r.width, h: r.height };
  }

  function isEnabled(el) {
    if (el.disabled || el.readOnly) return false;
    if (el.getAttribute('aria-disabled') === 'true') return false;
    if (el.isContentEditable === false && el.getAttribute('contenteditable') !== null) return false;
    return true;
  }

  // ---------------------------------------------------------------- fingerprint

  function fingerprint() {
    const w = window;
    const markers = [];
    const has = (sel) => !!document.querySelector(sel) || C().deepAll(sel).length > 0;
    if (w.gradio_config || has('gradio-app') || has('.gradio-container')) markers.push('gradio');
    if (has('[data-testid="stApp"]') || has('.stApp')) markers.push('streamlit');
    if (w.__NEXT_DATA__ || has('#__next') || has('script[src*="/_next/"]')) markers.push('nextjs');
    if (w.__NUXT__ || has('#__nuxt')) markers.push('nuxt');
    if (has('[ng-version]')) markers.push('angular');
    if (has('[data-reactroot]') || has('#root') || has('#app')) markers.push('spa-root');
    if (document.querySelector('[class*="svelte-"]')) markers.push('svelte');
    if (document.querySelector('[data-v-app]') || document.querySelector('[class][data-v-]')) markers.push('vue');
    if (w.chainlit || has('#chainlit-copilot') || document.title.toLowerCase().includes('chainlit')) markers.push('chainlit');
    if (document.title.includes('Open WebUI') || has('#chat-input')) markers.push('open-webui-like');
    const gen = document.querySelector('meta[name="generator"]');
    if (gen) markers.push('generator:' + (gen.getAttribute('content') || '').split(/\s/)[0].toLowerCase());
    const all = C().deepAll('*');
    const custom = new Set();
    for (const el of all) if (el.tagName.includes('-')) custom.add(el.tagName.toLowerCase());
    const shape = {
      textareas: C().deepAll('textarea').length,
      editables: C().deepAll('[contenteditable=""],[contenteditable="true"],[contenteditable="plaintext-only"]').length,
      textboxes: C().deepAll('[role="textbox"]').length,
      text_inputs: C().deepAll('input:not([type]),input[type="text"]').length,
      buttons: C().deepAll('button,[role="button"]').length,
      forms: C().deepAll('form').length,
      passwords: C().deepAll('input[type="password"]').length,
      shadow_roots: C().roots().length - 1,
      iframes: document.querySelectorAll('iframe').length,
      custom_elements: [...custom].sort().slice(0, 12),
      elements: all.length,
    };
    return { markers, shape, title: document.title.slice(0, 120) };
  }

  // ---------------------------------------------------------------- login wall

  function loginWall() {
    for (const pw of C().deepAll('input[type="password"]')) {
      if (!C().visible(pw)) continue;
      const form = pw.closest('form');
      const sel = form ? selectorsFor(form, null)[0] : null;
      return {
        selector: sel || 'input[type="password"]',
        text: (form ? form.innerText : pw.outerHTML).replace(/\s+/g, ' ').trim().slice(0, 160),
      };
    }
    return null;
  }

  // a visible "Sign in" / "Log in" link or button (a page that hides its chat until
  // the visitor signs in through another page or a pop-up)
  function loginLink() {
    for (const el of C().deepAll('a,button,[role="button"]')) {
      if (!C().visible(el)) continue;
      const t = nameOf(el);
      if (/^(log ?in|sign ?in|sign up|continue with|register)\b/i.test(t.trim()) ||
          /\b(log ?in|sign ?in)\b/i.test(t) && t.length < 40) return t.slice(0, 40);
    }
    return null;
  }

  // ---------------------------------------------------------------- inputs

  function inputs() {
    const sel =
      'textarea,[contenteditable=""],[contenteditable="true"],[contenteditable="plaintext-only"],[role="textbox"],input:not([type]),input[type="text"],input[type="search"]';
    const vh = window.innerHeight || 800;
    const out = [];
    const seen = new Set();
    for (const el of C().deepAll(sel)) {
      // a contenteditable's descendants are editable too: keep the outermost
      if (el.parentElement && el.parentElement.closest('[contenteditable=""],[contenteditable="true"]')) continue;
      if (seen.has(el)) continue;
      seen.add(el);
      const reasons = [];
      let score = 0;
      const vis = C().visible(el);
      if (!vis) {
        score -= 100;
        reasons.push('hidden');
      }
      const enabled = isEnabled(el);
      if (!enabled) {
        score -= 20;
        reasons.push('disabled');
      }
      const tag = el.tagName.toLowerCase();
      const kind = tag === 'textarea' ? 'textarea' : tag === 'input' ? 'input' : 'contenteditable';
      if (kind === 'textarea') {
        score += 20;
        reasons.push('textarea');
      } else if (kind === 'contenteditable') {
        score += 18;
        reasons.push('contenteditable');
      } else {
        score += 5;
      }
      const label = labelOf(el);
      if (INPUT_GOOD.test(label)) {
        score += 25;
        reasons.push(`label "${label.slice(0, 40)}"`);
      }
      if (INPUT_BAD.test(label) || el.type === 'search' || el.type === 'email') {
        score -= 40;
        reasons.push('looks like search/login');
      }
      if (el.closest('form') && el.closest('form').querySelector('input[type="password"]')) {
        score -= 60;
        reasons.push('in a login form');
      }
      if (el.closest('nav,header,[role="search"],[role="navigation"]')) {
        score -= 15;
        reasons.push('in navigation');
      }
      const r = rect(el);
      if (vis) {
        const bottom = Math.min(1, Math.max(0, (r.y + r.h) / vh));
        score += Math.round(bottom * 20);
        if (bottom > 0.6) reasons.push('near the bottom');
        if (r.w > 250) score += 8;
      }
      const id = mark(el, 'data-desk-cand');
      out.push({
        id, tag, kind, score, reasons, label, rect: r, visible: vis, enabled,
        in_shadow: rootOf(el) !== document,
        selectors: selectorsFor(el, null),
      });
    }
    out.sort((a, b) => b.score - a.score);
    return out;
  }

  // ---------------------------------------------------------------- controls

  function controls() {
    const out = [];
    for (const el of C().deepAll('button,[role="button"],input[type="submit"],input[type="button"]')) {
      const vis = C().visible(el);
      const id = mark(el, 'data-desk-el');
      const name = nameOf(el);
      out.push({
        id,
        name,
        visible: vis,
        enabled: isEnabled(el),
        submit: (el.type || '').toLowerCase() === 'submit',
        rect: vis ? rect(el) : null,
        send_words: SEND_WORDS.test(name) || /send|submit/i.test(el.className || ''),
        new_words: NEW_WORDS.test(name.trim()),
        stop_words: STOP_WORDS.test(name),
      });
    }
    return out;
  }

  // ---------------------------------------------------------------- recording

  let R = null;
  function record() {
    if (R && R.observer) R.observer.disconnect();
    R = { t0: performance.now(), events: [], observer: null, added: 0, toggled: new Map() };
    const obs = new MutationObserver((records) => {
      const t = performance.now() - R.t0;
      for (const rec of records) {
        if (rec.type === 'childList') {
          for (const n of rec.addedNodes) {
            if (n.nodeType === 1) {
              if (!n.getAttribute('data-desk-new')) n.setAttribute('data-desk-new', String(Math.round(t)));
              R.added++;
              if (n.shadowRoot) watch(n.shadowRoot);
            }
          }
          const target = rec.target.nodeType === 1 ? rec.target : rec.target.parentElement;
          if (target) R.events.push({ t, el: mark(target, 'data-desk-el'), kind: 'child' });
        } else if (rec.type === 'characterData') {
          const target = rec.target.parentElement;
          if (target) R.events.push({ t, el: mark(target, 'data-desk-el'), kind: 'text' });
        } else if (rec.type === 'attributes' && rec.target.nodeType === 1) {
          const el = rec.target;
          if (el.hasAttribute('data-desk-cand') && !isEnabled(el)) R.input_disabled = true;
          const id = mark(el, 'data-desk-el');
          if (!R.toggled.has(id)) R.toggled.set(id, { t, shown: C().visible(el) });
          else if (C().visible(el)) R.toggled.get(id).shown = true;
        }
      }
    });
    R.observer = obs;
    const watch = (root) =>
      obs.observe(root, {
        childList: true, subtree: true, characterData: true, attributes: true,
        attributeFilter: [
          'hidden', 'style', 'class', 'disabled', 'aria-busy', 'aria-hidden', 'open',
          'contenteditable', 'readonly', 'aria-disabled',
        ],
      });
    for (const r of C().roots()) watch(r);
    return true;
  }

  function recorded() {
    if (!R) return { events: [], added: 0, input_disabled: false };
    return { events: R.events.slice(), added: R.added, input_disabled: !!R.input_disabled };
  }

  // times (ms since record()) at which the message element's text grew
  function growth(msgId) {
    const msg = byId(msgId);
    if (!R || !msg) return [];
    const out = [];
    for (const ev of R.events) {
      const el = byId(ev.el);
      if (el && (msg === el || msg.contains(el))) out.push(ev.t);
    }
    return out;
  }

  // elements whose visibility attributes changed while recording and that are hidden
  // now: busy-signal candidates (a stop button, a typing note shown while answering)
  function toggled(excludeId) {
    if (!R) return [];
    const ex = excludeId ? byId(excludeId) : null;
    const out = [];
    for (const [id, info] of R.toggled) {
      const el = byId(id);
      if (!el || !info.shown || C().visible(el)) continue;
      if (ex && (ex.contains(el) || el.contains(ex))) continue;
      const name = nameOf(el);
      out.push({
        id,
        name: name.slice(0, 80),
        stop: STOP_WORDS.test(name),
        busy_class: BUSY_CLASS.test(typeof el.className === 'string' ? el.className : '') ||
          /(typing|thinking|generating|loading)/i.test(name),
        t: info.t,
      });
    }
    return out;
  }

  function stopRecording() {
    if (R && R.observer) R.observer.disconnect();
    R = null;
  }

  // ---------------------------------------------------------------- finding text

  function contains(el, needle) {
    return (el.textContent || '').includes(needle);
  }

  // the deepest elements (across roots) whose text contains needle, marked
  function find(needle) {
    const out = [];
    for (const el of C().deepAll('*')) {
      if (el.matches('script,style,textarea,input,noscript,template,title,head,[data-desk-outline]')) continue;
      if (!contains(el, needle) && !(el.shadowRoot && contains(el.shadowRoot, needle))) continue;
      // keep only the deepest: no child element contains it too
      let deeper = false;
      const kids = el.shadowRoot ? [...el.children, ...el.shadowRoot.children] : el.children;
      for (const ch of kids) {
        if (contains(ch, needle)) {
          deeper = true;
          break;
        }
      }
      if (deeper) continue;
      if (el.isContentEditable) continue; // the input itself
      const id = mark(el, 'data-desk-el');
      out.push({
        id,
        text: C().textOf(el, {}).slice(0, 400),
        added_at: addedAt(el),
        visible: C().visible(el),
        user_text: false,
      });
    }
    return out;
  }

  function addedAt(el) {
    for (let n = el; n && n.nodeType === 1; n = n.parentElement || (n.getRootNode().host || null)) {
      const v = n.getAttribute('data-desk-new');
      if (v) return Number(v);
    }
    return null;
  }

  function byId(id) {
    return C().deepAll(`[data-desk-el="${id}"]`)[0] || null;
  }

  // parent across a shadow boundary
  function up(el) {
    if (el.parentElement) return el.parentElement;
    const r = el.getRootNode();
    return r instanceof ShadowRoot ? r.host : null;
  }

  function ancestors(el) {
    const out = [];
    for (let n = el; n; n = up(n)) out.push(n);
    return out;
  }

  // ---------------------------------------------------------------- selectors

  function deepMatches(sel) {
    try {
      return C().deepAll(sel);
    } catch (e) {
      return null;
    }
  }

  function stableClasses(el) {
    return [...el.classList].filter((c) => !hashed(c) && !c.startsWith('data-desk') && c.length < 40);
  }

  // selector candidates for el: simple, stable, ranked; "scope" limits the check
  // (elements that must NOT match, e.g. the user's message)
  function selectorsFor(el, avoid) {
    const tag = el.tagName.toLowerCase();
    const cands = [];
    const push = (sel, base) => cands.push({ sel, base });
    if (el.id && !hashed(el.id) && !/\d{3,}/.test(el.id)) push(`#${cssId(el.id)}`, 100);
    for (const a of ATTR_PREF) {
      const v = el.getAttribute(a);
      if (v && v.length < 60 && !/^\d+$/.test(v)) {
        push(`${tag}[${a}="${esc(v)}"]`, a === 'role' ? 70 : 90);
        push(`[${a}="${esc(v)}"]`, a === 'role' ? 65 : 88);
      }
    }
    for (const a of el.getAttributeNames()) {
      if (!a.startsWith('data-') || a.startsWith('data-desk') || ATTR_PREF.includes(a)) continue;
      const v = el.getAttribute(a);
      if (v && v.length < 40 && !/\d{3,}/.test(v) && !hashed(v)) push(`${tag}[${a}="${esc(v)}"]`, 75);
    }
    for (const a of ['aria-label', 'name', 'placeholder', 'type']) {
      const v = el.getAttribute(a);
      if (v && v.length < 60) push(`${tag}[${a}="${esc(v)}"]`, a === 'type' ? 40 : 72);
    }
    const cls = stableClasses(el);
    for (const c of cls) push(`${tag}.${cssId(c)}`, GOOD_WORDS.test(c) ? 68 : 50);
    for (let i = 0; i < cls.length; i++)
      for (let j = i + 1; j < cls.length; j++)
        push(`${tag}.${cssId(cls[i])}.${cssId(cls[j])}`, GOOD_WORDS.test(cls[i] + cls[j]) ? 69 : 52);
    if (tag.includes('-')) push(tag, 60);
    // parent context for generic elements
    const p = up(el);
    if (p && p.nodeType === 1) {
      const pc = [];
      if (p.id && !hashed(p.id)) pc.push(`#${cssId(p.id)}`);
      for (const a of ATTR_PREF) {
        const v = p.getAttribute(a);
        if (v && v.length < 60) pc.push(`[${a}="${esc(v)}"]`);
      }
      for (const c of stableClasses(p).slice(0, 3)) pc.push(`.${cssId(c)}`);
      for (const ps of pc.slice(0, 4)) {
        push(`${ps} > ${tag}`, 45);
        for (const c of cls.slice(0, 2)) push(`${ps} > ${tag}.${cssId(c)}`, 55);
      }
    }
    push(tag, 10);
    const out = [];
    const avoidEls = (avoid || []).map((x) => (typeof x === 'string' ? byId(x) : x)).filter(Boolean);
    for (const c of cands) {
      const m = deepMatches(c.sel);
      if (!m || !m.includes(el)) continue;
      if (avoidEls.some((a) => m.some((x) => x === a || a.contains(x) || x.contains(a)))) continue;
      let score = c.base;
      const vis = m.filter((x) => C().visible(x));
      if (m.length === 1) score += 15;
      else if (vis[0] === el) score += 8;
      if (m[m.length - 1] === el) score += 6;
      score -= Math.min(20, m.length - 1);
      if (out.some((o) => o.sel === c.sel)) continue;
      out.push({ sel: c.sel, score, count: m.length, last: m[m.length - 1] === el, first_visible: vis[0] === el });
    }
    out.sort((a, b) => b.score - a.score);
    return out.slice(0, 8).map((o) => o.sel);
  }

  function selectorsDetail(id, avoidIds) {
    const el = byId(id) || C().deepAll(`[data-desk-cand="${id}"]`)[0];
    if (!el) return [];
    return selectorsFor(el, avoidIds || []);
  }

  // ---------------------------------------------------------------- the reply

  // a = deepest element holding the reply, u = the user's message (or null)
  function describeReply(aId, uId) {
    const a = byId(aId);
    if (!a) return null;
    const u = uId ? byId(uId) : null;
    const aAnc = ancestors(a);
    let container = null;
    let msg = null;
    let umsg = null;
    if (u) {
      const uAnc = new Set(ancestors(u));
      for (let i = 0; i < aAnc.length; i++) {
        if (uAnc.has(aAnc[i])) {
          container = aAnc[i];
          msg = i > 0 ? aAnc[i - 1] : a;
          break;
        }
      }
      if (container) {
        for (const n of ancestors(u)) {
          if (up(n) === container) {
            umsg = n;
            break;
          }
        }
      }
    }
    if (!container) {
      // no user bubble: climb while the text stays the reply's own
      const own = C().textOf(a, {});
      msg = a;
      for (const n of aAnc.slice(1)) {
        if (n === document.body || n === document.documentElement) break;
        if (C().textOf(n, {}).length > own.length * 1.6 + 40) break;
        msg = n;
      }
      container = up(msg);
    }
    // levels between the message element and the text: candidates for the message
    const levels = [];
    for (const n of aAnc) {
      levels.push(n);
      if (n === msg) break;
    }
    const mid = mark(msg, 'data-desk-el');
    const uid = umsg ? mark(umsg, 'data-desk-el') : null;
    const avoid = umsg ? [umsg] : [];
    const candidates = [];
    for (const lvl of levels.reverse()) {
      // from the message element down to the text
      for (const sel of selectorsFor(lvl, avoid)) {
        const m = deepMatches(sel) || [];
        const last = m[m.length - 1];
        candidates.push({
          sel,
          level: mark(lvl, 'data-desk-el'),
          is_message: lvl === msg,
          newest: last === lvl,
          count: m.length,
          text: C().textOf(lvl, {}).slice(0, 300),
        });
      }
    }
    // no attribute of its own tells the reply from the user's message: a descendant
    // that only assistant messages have does (an avatar, a label): "X:has(Y)"
    if (umsg && !candidates.some((c) => c.newest)) {
      for (const lvl of levels) {
        const bases = selectorsFor(lvl, []).slice(0, 3);
        const marks = [];
        for (const d of lvl.querySelectorAll('*')) {
          for (const sel of selectorsFor(d, [])) {
            if (/^[a-z0-9-]+$/.test(sel)) continue; // a bare tag says nothing
            try {
              if (!umsg.querySelector(sel) && lvl.querySelector(sel)) marks.push(sel);
            } catch (e) {}
          }
          if (marks.length > 6) break;
        }
        for (const b of bases)
          for (const mk of marks.slice(0, 6)) {
            const sel = `${b}:has(${mk})`;
            const m = deepMatches(sel) || [];
            if (!m.length || m[m.length - 1] !== lvl || m.includes(umsg)) continue;
            if (m.some((x) => umsg.contains(x) || x.contains(umsg))) continue;
            candidates.push({
              sel, level: mark(lvl, 'data-desk-el'), is_message: lvl === msg, newest: true,
              count: m.length, text: C().textOf(lvl, {}).slice(0, 300),
            });
          }
        if (candidates.some((c) => c.newest)) break;
      }
    }
    return {
      message: mid,
      user_message: uid,
      container: container ? mark(container, 'data-desk-el') : null,
      container_selectors: container && container.nodeType === 1 ? selectorsFor(container, []) : [],
      message_text: C().textOf(msg, {}).slice(0, 500),
      text_text: C().textOf(a, {}).slice(0, 500),
      text_selectors_in_message: a === msg ? [] : relSelectors(a, msg),
      candidates,
    };
  }

  // selectors for el relative to its message element msg (for assistant_text)
  function relSelectors(el, msg) {
    const out = [];
    for (const sel of selectorsFor(el, [])) {
      try {
        if (msg.querySelector(sel) === el) out.push(sel);
      } catch (e) {}
    }
    const tag = el.tagName.toLowerCase();
    try {
      if (msg.querySelector(tag) === el) out.push(tag);
    } catch (e) {}
    return out;
  }

  function checkSelector(sel) {
    const m = deepMatches(sel);
    if (m === null) return { valid: false, count: 0 };
    const last = m[m.length - 1];
    return {
      valid: true,
      count: m.length,
      visible: m.filter((x) => C().visible(x)).length,
      last_text: last ? C().textOf(last, {}).slice(0, 500) : '',
    };
  }

  // ---------------------------------------------------------------- busy signals

  function samples(exclude) {
    const ex = exclude ? byId(exclude) : null;
    const out = [];
    const sel =
      'button,[role="button"],[role="progressbar"],[aria-busy="true"],[class*="load"],[class*="spin"],[class*="typing"],[class*="think"],[class*="generat"],[class*="pending"],[class*="progress"],[class*="stop"]';
    for (const el of C().deepAll(sel)) {
      if (!C().visible(el)) continue;
      if (ex && (ex.contains(el) || el.contains(ex))) continue;
      const name = nameOf(el);
      out.push({
        id: mark(el, 'data-desk-el'),
        name: name.slice(0, 80),
        stop: STOP_WORDS.test(name),
        busy_class: BUSY_CLASS.test(typeof el.className === 'string' ? el.className : ''),
        enabled: isEnabled(el),
      });
    }
    // text-only busy notes ("typing...", "thinking")
    for (const el of C().deepAll('div,span,p')) {
      if (el.children.length) continue;
      const t = (el.textContent || '').trim();
      if (t.length > 60 || !/(typing|thinking|generating|loading|…|\.\.\.)/i.test(t)) continue;
      if (!C().visible(el)) continue;
      if (ex && (ex.contains(el) || el.contains(ex))) continue;
      out.push({ id: mark(el, 'data-desk-el'), name: t, stop: false, busy_class: true, enabled: true });
    }
    return out;
  }

  function inputState(sel) {
    const el = C().firstVisible(sel) || C().deepAll(sel)[0];
    if (!el) return null;
    return { enabled: isEnabled(el), text: (el.value !== undefined ? el.value : el.innerText || '').slice(0, 200) };
  }

  // ---------------------------------------------------------------- outline

  function outline(limit) {
    const items = [];
    const sel =
      'textarea,[contenteditable="true"],[contenteditable=""],[role="textbox"],input,button,[role="button"],[role="log"],[aria-live],article,[data-testid],[data-role],[class*="message"],[class*="bubble"]';
    for (const el of C().deepAll(sel)) {
      if (!C().visible(el)) continue;
      if (items.length >= (limit || 60)) break;
      const id = mark(el, 'data-desk-el');
      items.push({
        id,
        tag: el.tagName.toLowerCase(),
        role: el.getAttribute('role') || '',
        label: labelOf(el).slice(0, 60),
        text: (el.innerText || '').replace(/\s+/g, ' ').trim().slice(0, 60),
        cls: stableClasses(el).slice(0, 3).join(' '),
      });
    }
    return items;
  }

  window.__deskDiscover = {
    fingerprint, loginWall, loginLink, inputs, controls, record, recorded, stopRecording, find,
    describeReply, selectorsDetail, growth, toggled, checkSelector, samples, inputState, outline, hashed,
  };
})();

/*
 * endpoint-desk: the in-page side of the web chat adapter.
 *
 * Installed into every page of a web chat endpoint (context.add_init_script) as
 * window.__deskChat. It only reads the page; the adapter types and clicks through
 * Playwright. Reusable by discovery: every query here crosses open shadow roots.
 *
 *   deskChat.deepAll(sel)        elements matching sel in the document and every open
 *                                shadow root (document order per root)
 *   deskChat.visible(el)         laid out and not hidden
 *   deskChat.firstVisible(sel)   the first visible match, or null
 *   deskChat.textOf(el, cfg)     the message's text without buttons, icons, hidden
 *                                labels or cfg.ignore matches (cfg.assistant_text
 *                                narrows to a part of the message)
 *   deskChat.ready(cfg)          "input" | "login" | "" (what the page shows now)
 *   deskChat.isBusy(cfg)         the page's own busy signal (cfg.busy visible, or the
 *                                input disabled when cfg.busy_input)
 *   deskChat.count(sel)          number of matches
 *   deskChat.arm(cfg)            remember the newest assistant message, then report
 *                                the text of the next one as it grows
 *   deskChat.take()              events buffered since the last take() (poll mode)
 *   deskChat.disarm()            stop observing
 *
 * Events (batched per mutation batch): {d: "delta"} text appended; {r: "text"} the
 * text was rewritten (full new text); {b: true|false} busy signal changed; {i: true|false}
 * the composer (send control, input lock) is (not) in the state it had at arm().
 * In push mode (cfg.report === "push") batches go to window.__deskReport(batch),
 * a Playwright binding; otherwise they wait in a buffer for take().
 */
(() => {
  if (window.__deskChat) return;

  const EXCLUDE =
    'button,svg,style,script,noscript,template,textarea,input,select,[aria-hidden="true"],[hidden],[data-desk-ignore]';
  const BLOCK = new Set([
    'P', 'DIV', 'LI', 'PRE', 'H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'TR', 'BLOCKQUOTE',
    'UL', 'OL', 'TABLE', 'SECTION', 'ARTICLE', 'HEADER', 'FOOTER', 'FIGURE', 'HR',
  ]);
  const ATTRS = [
    'class', 'style', 'disabled', 'hidden', 'aria-busy', 'aria-disabled', 'aria-hidden',
    'contenteditable', 'readonly', 'data-state', 'data-busy', 'open', 'aria-label', 'title',
  ];

  // Open shadow roots, cached; the cache is dropped when a root is attached to a host
  // that is in the document (attachShadow is hooked: this script runs before the
  // page's own) or when a cached root's host left it. A root attached while its host
  // was not in the document waits in `pendingHosts` until the host is connected.
  let rootsCache = null;
  const pendingHosts = new Set();

  const attachShadow = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    const root = attachShadow.call(this, init);
    if (init && init.mode === 'open') {
      if (this.isConnected) rootsCache = null;
      else pendingHosts.add(this);
    }
    return root;
  };

  function collectRoots(start, out) {
    const stack = [start];
    while (stack.length) {
      const r = stack.pop();
      const all = r.querySelectorAll('*');
      for (const el of all) {
        if (el.shadowRoot) {
          out.push(el.shadowRoot);
          stack.push(el.shadowRoot);
        }
      }
    }
    return out;
  }

  function roots() {
    for (const h of pendingHosts) {
      if (h.isConnected) {
        pendingHosts.delete(h);
        rootsCache = null;
      }
    }
    if (pendingHosts.size > 500) pendingHosts.clear(); // hosts that never joined the page
    if (!rootsCache || rootsCache.some((r) => r !== document && !r.host.isConnected)) {
      rootsCache = collectRoots(document, [document]);
    }
    return rootsCache;
  }

  function deepAll(sel) {
    const out = [];
    for (const r of roots()) {
      for (const el of r.querySelectorAll(sel)) out.push(el);
    }
    return out;
  }

  function visible(el) {
    if (!el || !el.isConnected) return false;
    if (!(el.offsetWidth || el.offsetHeight || el.getClientRects().length)) return false;
    const style = getComputedStyle(el);
    return style.visibility !== 'hidden' && style.display !== 'none';
  }

  function firstVisible(sel) {
    if (!sel) return null;
    for (const el of deepAll(sel)) if (visible(el)) return el;
    return null;
  }

  function count(sel) {
    return sel ? deepAll(sel).length : 0;
  }

  // The first match of sel inside el, its own shadow root and its descendants'.
  function deepIn(el, sel) {
    const stack = [el];
    while (stack.length) {
      const r = stack.shift();
      const hit = r.querySelector(sel);
      if (hit) return hit;
      if (r.shadowRoot) stack.push(r.shadowRoot);
      for (const h of r.querySelectorAll('*')) if (h.shadowRoot) stack.push(h.shadowRoot);
    }
    return null;
  }

  // Page chrome around a message's text. SMALL_CHROME is skipped only when its text is
  // short (a class such as "avatar" may also name a wrapper of the whole message);
  // LABEL_RE/TIME_RE are an author label or a time stamp standing alone in an element
  // (a label only before any of the message's text), and so is a leading element
  // without a letter or digit in it (an icon glyph, an emoji avatar, a status dot).
  const SMALL_CHROME =
    '[class*=avatar i],[class*=timestamp i],[class*=time-stamp i],[class*=stamp i],' +
    '[class*=author i],[class*=username i],[class*=sender i],[class*=-name i],[class*=_name i]';
  const LABEL_RE =
    /^(assistant|ai|bot|chatbot|model|gpt|you|user|me|system|agent)\s*:?$/i;
  const TIME_RE =
    /^(\d{1,2}:\d{2}(:\d{2})?(\s*[ap]\.?m\.?)?|just now|now|today|yesterday|\d+\s*(s|sec|min|m|h|hours?|minutes?|seconds?)\s*ago)$/i;
  const CHROME_MAX = 40;

  // elements that hold the message's own prose (a reply may be just "12:30" or "You")
  const PROSE = 'p,li,td,th,h1,h2,h3,h4,h5,h6,blockquote,pre,code,strong,em,b,i';

  // A code block's header: a short label (its language, "Raw code") beside a copy
  // button, right before the code (a <pre>, or a <code> in its own box).
  function codeToolbar(n) {
    if (!n.querySelector('button,[role=button]')) return false;
    const next = n.nextElementSibling;
    return !!next && (next.matches('pre,code') || !!next.querySelector('pre,code'));
  }

  function isChrome(n, before) {
    if (n.matches(PROSE) || n.closest(PROSE)) return false;
    const t = (n.textContent || '').trim();
    if (t.length > CHROME_MAX) return false;
    if (n.matches(SMALL_CHROME)) return true;
    if (TIME_RE.test(t)) return true;
    if (codeToolbar(n)) return true;
    // before the text: an author label, or an icon, emoji or status dot (no word in it)
    return before && (LABEL_RE.test(t) || (t !== '' && !/[\p{L}\p{N}]/u.test(t)));
  }

  function textOf(el, cfg) {
    cfg = cfg || {};
    if (cfg.assistant_text) {
      const part = deepIn(el, cfg.assistant_text);
      if (part) el = part;
    }
    const skip = cfg.ignore
      ? EXCLUDE + ',time,img,picture,[role=img],[role=progressbar],[role=toolbar],' + cfg.ignore
      : EXCLUDE + ',time,img,picture,[role=img],[role=progressbar],[role=toolbar]';
    const parts = [];
    let before = true; // no text of the message read yet
    const walk = (node) => {
      for (let n = node.firstChild; n; n = n.nextSibling) {
        if (n.nodeType === 3) {
          parts.push(n.data);
          if (before && n.data.trim()) before = false;
        } else if (n.nodeType === 1) {
          if (n.matches(skip) || isChrome(n, before)) continue;
          if (n.tagName === 'BR') {
            parts.push('\n');
            continue;
          }
          const block = BLOCK.has(n.tagName);
          if (block) parts.push('\n');
          walk(n);
          if (n.shadowRoot) walk(n.shadowRoot);
          if (block) parts.push('\n');
        }
      }
    };
    walk(el);
    if (el.shadowRoot) walk(el.shadowRoot);
    return parts
      .join('')
      .replace(/[ \t\r\f\v\u200b]+/g, ' ')
      .replace(/ ?\n ?/g, '\n')
      .replace(/\n{3,}/g, '\n\n')
      .trim();
  }

  function isBusy(cfg) {
    if (cfg.busy && firstVisible(cfg.busy)) return true;
    if (cfg.busy_input && cfg.input) {
      const inp = deepAll(cfg.input)[0];
      if (!inp) return false;
      if (inp.disabled || inp.readOnly) return true;
      if (inp.getAttribute('aria-disabled') === 'true') return true;
      if (inp.hasAttribute('contenteditable') && inp.getAttribute('contenteditable') === 'false')
        return true;
    }
    return false;
  }

  // The composer's state: the send control (shown, usable, its label) and the input's
  // lock. arm() notes it before the prompt is typed (the idle state); a page that
  // turns Send into Stop or locks its input while answering shows when it is done by
  // coming back to it, even with no busy selector configured.
  function composerState(cfg) {
    const parts = [];
    if (cfg.send) {
      const b = firstVisible(cfg.send);
      parts.push(
        b
          ? [
              b.disabled || b.getAttribute('aria-disabled') === 'true',
              b.getAttribute('aria-label'),
              b.getAttribute('title'),
              (b.textContent || '').trim().slice(0, 30),
            ].join('|')
          : '-',
      );
    }
    const inp = cfg.input ? deepAll(cfg.input)[0] : null;
    if (inp) {
      parts.push(
        [
          !!inp.disabled,
          !!inp.readOnly,
          inp.getAttribute('aria-disabled'),
          inp.getAttribute('contenteditable'),
        ].join('|'),
      );
    }
    return parts.join('#');
  }

  function ready(cfg) {
    if (cfg.login_wall && firstVisible(cfg.login_wall)) return 'login';
    if (firstVisible(cfg.input)) return 'input';
    return '';
  }

  // ---- the armed reply ----------------------------------------------------

  let A = null; // armed state
  let observer = null;
  let buffer = [];

  function emit(ev) {
    if (!A) return;
    if (A.cfg.report === 'push' && typeof window.__deskReport === 'function') {
      A.pending.push(ev);
    } else {
      buffer.push(ev);
    }
  }

  function flush() {
    if (!A || !A.pending.length) return;
    const batch = A.pending;
    A.pending = [];
    try {
      window.__deskReport(batch);
    } catch (e) {
      buffer.push(...batch);
    }
  }

  function observeRoot(r) {
    if (!observer || A.observed.has(r)) return;
    A.observed.add(r);
    observer.observe(r, {
      childList: true,
      subtree: true,
      characterData: true,
      attributes: true,
      attributeFilter: ATTRS,
    });
  }

  function current() {
    const list = deepAll(A.cfg.assistant);
    const last = list.length ? list[list.length - 1] : null;
    if (!last) return '';
    const isNew = list.length > A.baseCount || last !== A.baseLast;
    if (!isNew) return '';
    const text = textOf(last, A.cfg);
    if (list.length <= A.baseCount && text === A.baseText) return '';
    return text;
  }

  function check() {
    if (!A) return;
    const text = current();
    if (text !== A.sent) {
      if (text.startsWith(A.sent)) emit({ d: text.slice(A.sent.length) });
      else emit({ r: text });
      A.sent = text;
    }
    const busy = isBusy(A.cfg);
    if (busy !== A.busy) {
      A.busy = busy;
      emit({ b: busy });
    }
    const idle = composerState(A.cfg) === A.idleState;
    if (idle !== A.idle) {
      A.idle = idle;
      emit({ i: idle });
    }
    flush();
  }

  function onMutations(records) {
    for (const rec of records) {
      for (const n of rec.addedNodes) {
        if (n.nodeType !== 1) continue;
        if (n.shadowRoot || n.querySelector('*')) {
          rootsCache = null;
          break;
        }
      }
    }
    if (rootsCache === null) for (const r of roots()) observeRoot(r);
    check();
  }

  function arm(cfg) {
    disarm();
    const list = deepAll(cfg.assistant);
    const last = list.length ? list[list.length - 1] : null;
    A = {
      cfg,
      baseCount: list.length,
      baseLast: last,
      baseText: last ? textOf(last, cfg) : '',
      sent: '',
      busy: isBusy(cfg),
      idleState: composerState(cfg),
      idle: true,
      pending: [],
      observed: new Set(),
    };
    buffer = [];
    observer = new MutationObserver(onMutations);
    rootsCache = null;
    for (const r of roots()) observeRoot(r);
    return { count: A.baseCount, busy: A.busy };
  }

  function take() {
    if (A) check();
    const out = buffer;
    buffer = [];
    return out;
  }

  function disarm() {
    if (observer) observer.disconnect();
    observer = null;
    A = null;
    buffer = [];
  }

  window.__deskChat = {
    deepAll, visible, firstVisible, count, textOf, isBusy, ready, arm, take, disarm,
    check, roots,
  };
})();

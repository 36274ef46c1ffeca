// Step 5, completion: a mutation log while the page answers, and busy-looking
// elements (a stop button, a typing note, a spinner).

const BUSY_CLASS = /(loading|spinner|typing|thinking|generating|pending|progress|busy|dots|stream)/i;

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
  for (const r of roots()) watch(r);
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
    if (el && deepContains(msg, el)) out.push(ev.t);
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
    if (ex && nested(ex, el)) continue;
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

// ---------------------------------------------------------------- busy signals

function samples(exclude) {
  const ex = exclude ? byId(exclude) : null;
  const out = [];
  const sel =
    'button,[role="button"],[role="progressbar"],[aria-busy="true"],[class*="load"],[class*="spin"],[class*="typing"],[class*="think"],[class*="generat"],[class*="pending"],[class*="progress"],[class*="stop"]';
  for (const el of deepAll(sel)) {
    if (!C().visible(el)) continue;
    if (ex && nested(ex, el)) continue;
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
  for (const el of deepAll('div,span,p')) {
    if (el.children.length) continue;
    const t = (el.textContent || '').trim();
    if (t.length > 60 || !/(typing|thinking|generating|loading|…|\.\.\.)/i.test(t)) continue;
    if (!C().visible(el)) continue;
    if (ex && nested(ex, el)) continue;
    out.push({ id: mark(el, 'data-desk-el'), name: t, stop: false, busy_class: true, enabled: true });
  }
  return out;
}

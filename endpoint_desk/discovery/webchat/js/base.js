/*
 * endpoint-desk: the in-page side of web chat discovery (window.__deskDiscover).
 *
 * Reads the page and marks elements with data-desk-* attributes so Python can address
 * them through Playwright locators (which pierce open shadow roots). Builds on the
 * adapter's page.js (window.__deskChat: deepAll, visible, textOf). Never types or
 * clicks; Python does that like a person would.
 *
 * One file per discovery step, like the Python modules next to this folder; script.py
 * joins them, in the order of PARTS there, into one function body (so they share
 * these helpers) and export.js lists what window.__deskDiscover offers:
 *
 *   base.js        shared helpers: marking elements, labels, names, shadow-aware parents
 *   load.js        fingerprint()  framework markers and the DOM's shape
 *                  loginWall()    a visible password field / sign-in form, or null
 *                  loginLink()    a visible "Sign in" control
 *   inputs.js      inputs()       ranked message input candidates (marked data-desk-cand)
 *                  inputState(s)  enabled and text of an input
 *   send.js        controls()     visible buttons with their state (marked data-desk-el)
 *   reply.js       find(needle)   the deepest elements whose text contains needle
 *                  describeReply(a, u)  message element, container and selector
 *                                 candidates for the assistant message (a) given the
 *                                 user message (u)
 *   completion.js  record() / recorded() / growth() / toggled()  a mutation log with
 *                                 timestamps (added elements, text, toggled visibility)
 *                  samples()      visible busy-looking elements right now (marked)
 *   selectors.js   selectorsFor(el, avoid)  stable selectors that pick el, best first
 *                  checkSelector(sel)       matches, visible matches, newest text
 *   outline.js     outline(limit) a short, numbered outline of the page for AI assistance
 */
const C = () => window.__deskChat;

const STOP_WORDS = /(stop|cancel|abort|interrupt)/i;

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

/*
 * endpoint-desk: the in-page side of web chat discovery (window.__deskDiscover).
 *
 * Reads the page and marks elements with data-desk-* attributes so Python can address
 * them through Playwright locators (which pierce open shadow roots). Uses the
 * adapter's page.js (window.__deskChat: visible, textOf) but queries the page with its
 * own deepAll: the open shadow roots are walked afresh on every query, because widget
 * frameworks (Panel/Bokeh, Lit, Stencil) attach theirs after load, several deep.
 * Never types or clicks; Python does that like a person would.
 *
 * One file per discovery step, like the Python modules next to this folder; script.py
 * joins them, in the order of PARTS there, into one function body (so they share
 * these helpers) and export.js lists what window.__deskDiscover offers:
 *
 *   base.js        shared helpers: deep queries across open shadow roots, marking
 *                  elements, labels, names, shadow-aware parents
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

// ---------------------------------------------------------------- deep queries

// the document and every open shadow root, walked afresh (never cached: a web
// component may attach its root at any time). Pre-order: a host's roots come right
// after the root holding it, so matches in sibling components stay in page order
// (the newest message's parts come last).
function roots() {
  const out = [];
  const visit = (r) => {
    out.push(r);
    for (const el of r.querySelectorAll('*')) if (el.shadowRoot) visit(el.shadowRoot);
  };
  visit(document);
  return out;
}

function deepAll(sel) {
  const out = [];
  for (const r of roots()) for (const el of r.querySelectorAll(sel)) out.push(el);
  return out;
}

function firstVisible(sel) {
  for (const el of deepAll(sel)) if (C().visible(el)) return el;
  return null;
}

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
  return joinDistinct(parts).slice(0, 200);
}

// Texts joined once each: an aria-label repeated by a <label> (or an icon's ligature
// repeated by its button's text) is one name, not two.
function joinDistinct(parts) {
  const seen = [];
  for (const p of parts) {
    const t = (p || '').replace(/\s+/g, ' ').trim();
    const low = t.toLowerCase();
    if (t && !seen.some((s) => s.toLowerCase().includes(low))) seen.push(t);
  }
  return seen.join(' ');
}

function nameOf(el) {
  const t = (el.innerText || el.textContent || '').replace(/\s+/g, ' ').trim();
  return joinDistinct([labelOf(el), t]).slice(0, 120);
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
  return deepAll(`[data-desk-el="${id}"]`)[0] || null;
}

// parent across a shadow boundary
function up(el) {
  if (el.parentElement) return el.parentElement;
  const r = el.getRootNode();
  return r instanceof ShadowRoot ? r.host : null;
}

// a contains b, across shadow boundaries (Node.contains stops at a shadow root)
function deepContains(a, b) {
  for (let n = b; n; n = up(n)) if (n === a) return true;
  return false;
}

// a and b are one inside the other (or the same), across shadow boundaries
function nested(a, b) {
  return deepContains(a, b) || deepContains(b, a);
}

function ancestors(el) {
  const out = [];
  for (let n = el; n; n = up(n)) out.push(n);
  return out;
}

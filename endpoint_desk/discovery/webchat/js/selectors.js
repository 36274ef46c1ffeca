// Step 6, selectors: stable selectors for an element; hashed class names never.

const HASHED = [
  /^(css|sc|jsx|emotion|styled|svelte|astro|tw|chakra|mantine|mui)-[\w-]*\d[\w-]*$/i,
  /^[a-z0-9]+_[a-z0-9]+__[\w-]{4,}$/i, // CSS modules: Comp_class__hash
  /__[\w-]{5,}$/,
  /^_[\w-]{4,}$/,
  /^[a-z]{1,3}[A-Z0-9][\w]{3,}$/, // aBc123
  /^[\w-]*[0-9][\w-]*[0-9][\w-]*$/, // two digits or more anywhere
  // Angular's generated and state classes (ng-star-inserted on every *ngIf/*ngFor
  // element; ng-pristine turns ng-dirty once typed into)
  /^ng-(star-inserted|tns-|trigger|animating|animate|untouched|touched|pristine|dirty|valid|invalid|pending|submitted)/,
  /^cdk-(focused|mouse-focused|keyboard-focused|program-focused|text-field-autofilled)$/,
];
// ids a framework numbers as it renders (mat-input-0 becomes mat-input-2 on the next
// render; React's useId ":r1:"): never a stable handle
const COUNTED_ID = /([-_:]\d+|\d{3,}|:)$|^:/;
// attributes never worth a selector (frameworks' own bookkeeping, styling)
const NOT_NAMES = /^(class|style|id|_ng|ng-|on|tabindex|jsaction|jscontroller|jsname|jsmodel|width|height|src|href|srcset)/;
const GOOD_WORDS = /(assistant|bot|ai|model|response|answer|reply|agent|message|msg|chat|turn)/i;
const ATTR_PREF = [
  'data-testid', 'data-test-id', 'data-test', 'data-role', 'data-message-author-role',
  'data-author', 'data-sender', 'data-from', 'data-type', 'data-kind', 'role',
];

function hashed(tok) {
  return HASHED.some((re) => re.test(tok));
}

// ---------------------------------------------------------------- selectors

function deepMatches(sel) {
  try {
    return deepAll(sel);
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
  if (el.id && !hashed(el.id) && !COUNTED_ID.test(el.id)) push(`#${cssId(el.id)}`, 100);
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
  for (const a of ['aria-label', 'name', 'placeholder', 'title', 'label', 'type']) {
    const v = el.getAttribute(a);
    if (v && v.length < 60) push(`${tag}[${a}="${esc(v)}"]`, a === 'type' ? 40 : 72);
  }
  // a web component's own attributes name what it is (<bk-chat-message user="Assistant">)
  if (tag.includes('-')) {
    for (const a of el.getAttributeNames()) {
      const v = el.getAttribute(a);
      if (NOT_NAMES.test(a) || a.startsWith('data-') || a.startsWith('aria-') || !v) continue;
      if (v.length < 40 && !/^\d+$/.test(v) && !hashed(v)) push(`${tag}[${a}="${esc(v)}"]`, 80);
    }
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
  const out = rank(el, cands, avoid);
  // a control alone in a web component's shadow root whose own markup is the same as
  // its siblings' (Send, Stop and Clear buttons of one widget class): its host's
  // selectors click it
  if (!out.some((o) => o.count === 1) && el.matches(CLICKABLE)) {
    const host = hostOf(el);
    for (const o of host ? selectorsFor(host, avoid) : []) {
      // what the adapter clicks: the first visible match
      if ((deepMatches(o) || []).find((x) => C().visible(x)) === host)
        out.push({ sel: o, score: 50, count: 1 });
    }
  }
  out.sort((a, b) => b.score - a.score);
  return out.slice(0, 8).map((o) => o.sel);
}

const CLICKABLE = 'button,[role="button"],a,input[type="submit"],input[type="button"]';

// the shadow host of el's root when el is the only control in it
function hostOf(el) {
  const r = el.getRootNode();
  if (!(r instanceof ShadowRoot)) return null;
  return r.querySelectorAll(CLICKABLE).length === 1 ? r.host : null;
}

// the candidates that pick el (and nothing of avoid), scored: unique, first visible or
// newest; a visible el that is neither the first visible match (what the adapter
// clicks) nor the last one (the newest message; never for a control) is dropped
function rank(el, cands, avoid) {
  const out = [];
  const clickable = el.matches(CLICKABLE);
  const avoidEls = (avoid || []).map((x) => (typeof x === 'string' ? byId(x) : x)).filter(Boolean);
  for (const c of cands) {
    const m = deepMatches(c.sel);
    if (!m || !m.includes(el)) continue;
    if (avoidEls.some((a) => m.some((x) => nested(a, x)))) continue;
    let score = c.base;
    const vis = m.filter((x) => C().visible(x));
    if (m.length === 1) score += 15;
    else if (vis[0] === el) score += 8;
    if (m[m.length - 1] === el) score += 6;
    score -= Math.min(20, m.length - 1);
    if (out.some((o) => o.sel === c.sel)) continue;
    const last = m[m.length - 1] === el;
    if (vis.length && C().visible(el) && vis[0] !== el && (!last || clickable)) continue;
    out.push({ sel: c.sel, score, count: m.length, last, first_visible: vis[0] === el });
  }
  return out;
}

function selectorsDetail(id, avoidIds) {
  const el = byId(id) || deepAll(`[data-desk-cand="${id}"]`)[0];
  if (!el) return [];
  return selectorsFor(el, avoidIds || []);
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

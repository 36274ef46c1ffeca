// Step 2, find the input: message input candidates, ranked by evidence.

const INPUT_GOOD = /(message|ask|send|chat|prompt|type|question|talk|say|write|reply|anything)/i;
const INPUT_BAD = /(search|find|filter|login|log in|sign in|email|e-mail|user ?name|password|phone|zip|subscribe|newsletter|url|title|name)/i;

// ---------------------------------------------------------------- inputs

function inputs() {
  const sel =
    'textarea,[contenteditable=""],[contenteditable="true"],[contenteditable="plaintext-only"],[role="textbox"],input:not([type]),input[type="text"],input[type="search"]';
  const vh = window.innerHeight || 800;
  const out = [];
  const seen = new Set();
  for (const el of deepAll(sel)) {
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
    if (INPUT_BAD.test(label) || el.type === 'email') {
      score -= 40;
      reasons.push('looks like search/login');
    } else if (el.type === 'search') {
      score -= 10; // some chats use a search-typed box: a hint, not a verdict
      reasons.push('type=search');
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

function inputState(sel) {
  const el = firstVisible(sel) || deepAll(sel)[0];
  if (!el) return null;
  return { enabled: isEnabled(el), text: (el.value !== undefined ? el.value : el.innerText || '').slice(0, 200) };
}

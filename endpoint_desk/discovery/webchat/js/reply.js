// Step 4, read the reply: where a text shows up, and what the reply's message
// element looks like next to the user's.

function contains(el, needle) {
  return (el.textContent || '').includes(needle);
}

// the deepest elements (across roots) whose text contains needle, marked
function find(needle) {
  const out = [];
  for (const el of deepAll('*')) {
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
  // the part of the message that holds the whole reply: never a sub-part of it
  // (pre/code/p of a markdown answer), and beside it only chrome (author, time)
  const part = replyPart(a, msg);
  // levels from the message element down to that part: candidates for the message
  const levels = [];
  for (const n of ancestors(part)) {
    levels.push(n);
    if (n === msg) break;
  }
  const mid = mark(msg, 'data-desk-el');
  const uid = umsg ? mark(umsg, 'data-desk-el') : null;
  const avoid = umsg ? [umsg] : [];
  const candidates = [];
  for (const lvl of levels.reverse()) {
    // from the message element down to the text
    const info = levelInfo(lvl, msg, part);
    for (const sel of selectorsFor(lvl, avoid)) candidates.push(candidate(sel, info));
  }
  // no attribute of its own tells the reply from the user's message (generated
  // markup): a structural locator does, proved later by the second canary
  if (umsg && !candidates.some((c) => c.newest)) {
    for (const c of structural(levels, msg, umsg, part)) candidates.push(c);
  }
  return {
    message: mid,
    user_message: uid,
    container: container ? mark(container, 'data-desk-el') : null,
    container_selectors: container && container.nodeType === 1 ? selectorsFor(container, []) : [],
    message_text: C().textOf(msg, {}).slice(0, 500),
    text_text: C().textOf(part, {}).slice(0, 500),
    text_selectors_in_message: part === msg ? [] : relSelectors(part, msg),
    chrome: chromeSelectors(msg, part),
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
  const path = tagPath(msg, el);
  if (path && !out.length) out.push(':scope ' + path);
  return out;
}

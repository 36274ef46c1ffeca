// Step 4/6, the reply's structure: which part of a message holds the whole reply (not
// a pre/code/p inside it; beside it only chrome: author, time stamp, avatar), and
// structural locators for pages whose user and assistant messages share generated
// markup (":has()" of a part only the reply's message has; the position among the
// message list's rows).

// tags a markdown answer is made of: the reply is never one of these alone
const SUB_PART = new Set([
  'P', 'PRE', 'CODE', 'LI', 'UL', 'OL', 'DL', 'DT', 'DD', 'BLOCKQUOTE', 'TABLE', 'THEAD',
  'TBODY', 'TR', 'TD', 'TH', 'H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'STRONG', 'EM', 'B', 'I',
  'A', 'KBD', 'DEL', 'S', 'SUP', 'SUB', 'MARK', 'U', 'SMALL', 'HR', 'BR',
]);
// a sibling holding one of these is part of the answer, not chrome
const CONTENT = 'p,pre,code,li,ul,ol,blockquote,table,h1,h2,h3,h4,h5,h6';
const CHROME_CHARS = 40;

// a node beside the reply that is page chrome (an author label, a time stamp, an
// avatar, an icon), not part of the answer
function isChrome(n) {
  if (n.nodeType === 3) return n.data.trim().length <= CHROME_CHARS;
  if (n.nodeType !== 1) return true;
  if (n.matches('style,script,template,noscript,link')) return true;
  if (!C().visible(n)) return true;
  if (n.matches(CONTENT) || n.querySelector(CONTENT)) return false;
  return C().textOf(n, {}).length <= CHROME_CHARS;
}

// between el and msg, only chrome beside the path (across shadow roots)
function onlyChromeAround(el, msg) {
  for (let x = el; x && x !== msg; x = up(x)) {
    const parent = x.parentNode;
    if (!parent) return false;
    for (const s of parent.childNodes) if (s !== x && !isChrome(s)) return false;
  }
  return true;
}

// the lowest element from a (the deepest holder of the answer) up to msg that holds
// the whole reply: not a markdown sub-part, only chrome beside it
function replyPart(a, msg) {
  for (let n = a; n; n = up(n)) {
    if (n === msg) return msg;
    if (!SUB_PART.has(n.tagName) && onlyChromeAround(n, msg)) return n;
  }
  return msg;
}

// "> tag > tag:nth-of-type(k)" from el down to d, within one tree; null when d is in
// another shadow root or deeper than six levels
function tagPath(el, d) {
  if (!el.contains(d) || el === d) return null;
  const segs = [];
  for (let n = d; n !== el; n = n.parentElement) {
    if (!n || segs.length >= 6) return null;
    const tag = n.tagName.toLowerCase();
    const same = n.parentElement ? [...n.parentElement.children].filter((x) => x.tagName === n.tagName) : [n];
    segs.unshift(same.length > 1 ? `${tag}:nth-of-type(${same.indexOf(n) + 1})` : tag);
  }
  return '> ' + segs.join(' > ');
}

// what describeReply reports for an assistant-message candidate at level lvl
function levelInfo(lvl, msg, part) {
  const text = C().textOf(lvl, {});
  const same = lvl === part || squashed(text) === squashed(C().textOf(part, {}));
  return {
    lvl,
    level: mark(lvl, 'data-desk-el'),
    is_message: lvl === msg,
    text: text.slice(0, 300),
    text_sels: same ? [] : relSelectors(part, lvl),
  };
}

function squashed(t) {
  return String(t).replace(/\s+/g, ' ').trim();
}

function candidate(sel, info, how) {
  const m = deepMatches(sel) || [];
  return {
    sel, level: info.level, is_message: info.is_message, newest: m[m.length - 1] === info.lvl,
    count: m.length, text: info.text, whole: true, text_sels: info.text_sels, how: how || 'attributes',
  };
}

// a locator that picks lvl (the newest) and nothing of the user's message umsg
function picksReply(sel, lvl, umsg) {
  const m = deepMatches(sel) || [];
  return m.length > 0 && m[m.length - 1] === lvl && !m.some((x) => nested(umsg, x));
}

// levels: message element first, down to part. Structural candidates, best first:
// "X:has(Y)" (Y: a descendant outside the reply's text that the user's message lacks,
// by a stable selector or by its tag path), then the message's position among its
// siblings ("X:nth-child(even of X)": turns alternate).
function structural(levels, msg, umsg, part) {
  const out = [];
  for (const lvl of levels) {
    if (lvl === part) break;
    const info = levelInfo(lvl, msg, part);
    const bases = selectorsFor(lvl, []).slice(0, 3);
    const marks = [];
    let seen = 0;
    for (const d of lvl.querySelectorAll('*')) {
      if (d === part || part.contains(d) || d.matches('style,script,template')) continue;
      if (++seen > 40 || marks.length > 8) break;
      for (const sel of selectorsFor(d, [])) {
        if (/^[a-z0-9-]+$/.test(sel)) continue; // a bare tag says nothing
        try {
          if (!umsg.querySelector(sel) && !marks.includes(sel)) marks.push(sel);
        } catch (e) {}
      }
      const path = tagPath(lvl, d);
      if (path && path.split('>').length <= 4 && !marks.includes(path)) {
        try {
          if (!umsg.querySelector(':scope ' + path)) marks.push(path);
        } catch (e) {}
      }
    }
    for (const b of bases)
      for (const mk of marks.slice(0, 8)) {
        const sel = `${b}:has(${mk})`;
        if (picksReply(sel, lvl, umsg)) out.push(candidate(sel, info, 'has'));
      }
    if (out.length) return out;
  }
  // position: the message list's rows alternate user, assistant
  const parent = msg.parentNode;
  if (!parent || umsg.parentNode !== parent) return out;
  const info = levelInfo(msg, msg, part);
  const bases = selectorsFor(msg, []).filter((s) => !/[\s>]/.test(s)).slice(0, 5);
  // a named base before a bare tag, then the fewest parts (the most lasting)
  const bare = (q) => (/^[a-z0-9-]+$/.test(q) ? 1 : 0);
  bases.sort((a, b) => bare(a) - bare(b) || a.length - b.length);
  for (const base of bases) {
    const m = deepMatches(base) || [];
    if (!m.includes(umsg) || m.some((x) => x.parentNode !== parent)) continue;
    const rows = [...parent.children].filter((x) => x.matches(base));
    const k = rows.indexOf(msg) + 1;
    if (k % 2 === (rows.indexOf(umsg) + 1) % 2) continue;
    const sel = `${base}:nth-child(${k % 2 ? 'odd' : 'even'} of ${base})`;
    if (picksReply(sel, msg, umsg)) out.push(candidate(sel, info, 'position'));
  }
  return out;
}

// stable selectors of the chrome beside the reply's part inside msg (author label,
// time stamp, avatar): what the adapter may skip when the text part cannot be
// addressed (a shadow root between the message and its text)
function chromeSelectors(msg, part) {
  const out = [];
  for (let x = part; x && x !== msg; x = up(x)) {
    const parent = x.parentNode;
    if (!parent) break;
    for (const s of parent.children) {
      if (s === x || !C().visible(s) || !C().textOf(s, {})) continue;
      const sel = selectorsFor(s, []).find((q) => !/^[a-z0-9-]+$/.test(q) && !/[\s>]/.test(q));
      if (!sel) return null; // chrome nothing stable names: no ignore list at all
      if (deepMatches(sel).some((y) => deepContains(part, y))) return null;
      if (!out.includes(sel)) out.push(sel);
    }
  }
  return out;
}

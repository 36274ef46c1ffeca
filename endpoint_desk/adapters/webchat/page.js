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
 * text was rewritten (full new text); {b: true|false} busy signal changed.
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
    'contenteditable', 'readonly', 'data-state', 'data-busy', 'open',
  ];

  let rootsCache = null;

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
    if (!rootsCache || rootsCache.some((r) => r !== document && !r.host.isConnected)) {
      rootsCache = collectRoots(document, [document]);
      // web components attach shadow roots at any time (after load, several deep):
      // the cache serves one batch of queries, never a later call
      queueMicrotask(() => {
        rootsCache = null;
      });
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

  function textOf(el, cfg) {
    cfg = cfg || {};
    if (cfg.assistant_text) {
      const part = el.querySelector(cfg.assistant_text);
      if (part) el = part;
    }
    const skip = cfg.ignore ? EXCLUDE + ',' + cfg.ignore : EXCLUDE;
    const parts = [];
    const walk = (node) => {
      for (let n = node.firstChild; n; n = n.nextSibling) {
        if (n.nodeType === 3) {
          parts.push(n.data);
        } else if (n.nodeType === 1) {
          if (n.matches(skip)) continue;
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
    if (el.shadowRoot) walk(el.shadowRoot); // a web component's own text
    return parts
      .join('')
      .replace(/[ \t\r\f\v]+/g, ' ')
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

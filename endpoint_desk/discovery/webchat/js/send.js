// Step 3, send: the page's controls, with the words that make one a send, a
// new-conversation or a stop control.

const SEND_WORDS = /(send|submit|ask|go|run|↑|➤|➔|→|arrow|paper|plane)/i;
const NEW_WORDS = /(new (chat|conversation|thread|session|topic)|start (over|new)|clear( chat| conversation| history)?|reset|^new$|^\+$|retry|delete conversation)/i;

// ---------------------------------------------------------------- controls

function controls() {
  const out = [];
  for (const el of deepAll('button,[role="button"],input[type="submit"],input[type="button"]')) {
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

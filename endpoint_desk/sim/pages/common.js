// Shared by the fixture chat pages: the conversation and the streamed fetch.
window.fixtureChat = {
  knobs: Object.fromEntries(new URLSearchParams(location.search)),
  history: [],
  // Send the conversation, call onText(fullTextSoFar) as the reply streams in; an
  // AbortSignal (optional) stops it, as a page's "Stop" button does.
  async stream(style, onText, signal) {
    const resp = await fetch('/api/reply', {
      method: 'POST',
      signal,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ style, messages: this.history, knobs: this.knobs }),
    });
    if (resp.status === 401) {
      // signed out meanwhile: back to the login wall, like real chat apps do
      location.reload();
      return new Promise(() => {}); // the page is going away
    }
    if (!resp.ok) throw new Error('reply failed: ' + resp.status);
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let text = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      onText(text);
    }
    this.history.push({ role: 'assistant', content: text });
    return text;
  },
};

// The files chosen in a file input, described as the bot reads them (name, type, size,
// SHA-256 in hex), then the input is cleared as chat apps do once a message is sent.
window.fixtureChat.takeFiles = async function (input) {
  const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
  const files = await Promise.all([...input.files].map(async (f) => ({
    name: f.name, type: f.type, size: f.size,
    sha256: hex(await crypto.subtle.digest('SHA-256', await f.arrayBuffer())),
  })));
  input.value = '';
  return files;
};

// Wire a page's controls the usual way: Enter (not Shift+Enter) in `box` and a click
// on `send` call `submit`; a click on `newChat` empties `thread` and forgets the
// conversation, unless `isBusy()`.
window.fixtureChat.wire = function ({ box, send, submit, newChat, thread, isBusy }) {
  box.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); submit(); }
  });
  send.addEventListener('click', submit);
  newChat.addEventListener('click', () => {
    if (isBusy()) return;
    thread.innerHTML = '';
    this.history = [];
  });
};

// A small markdown renderer for the framework-style pages (mui, quasar, ...), as chat
// apps render model replies: paragraphs, "- " lists, ``` code blocks, **bold**, *em* and
// `code`. A half-streamed reply renders too (an open fence runs to the end).
window.fixtureChat.markdown = function (text) {
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const inline = (s) => esc(s)
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
    .replace(/\*([^*]+)\*/g, '<em>$1</em>')
    .replace(/`([^`]+)`/g, '<code>$1</code>');
  const out = [];
  const lines = text.replace(/\s+$/, '').split('\n');
  for (let i = 0; i < lines.length; ) {
    const line = lines[i];
    if (line.startsWith('```')) {
      const code = [];
      for (i++; i < lines.length && !lines[i].startsWith('```'); i++) code.push(lines[i]);
      i++;
      out.push('<pre><code>' + esc(code.join('\n')) + '</code></pre>');
    } else if (/^[-*] /.test(line)) {
      const items = [];
      for (; i < lines.length && /^[-*] /.test(lines[i]); i++) items.push('<li>' + inline(lines[i].slice(2)) + '</li>');
      out.push('<ul>' + items.join('') + '</ul>');
    } else if (line.trim()) {
      const para = [];
      for (; i < lines.length && lines[i].trim() && !/^([-*] |```)/.test(lines[i]); i++) para.push(lines[i]);
      out.push('<p>' + inline(para.join(' ')) + '</p>');
    } else {
      i++;
    }
  }
  return out.join('');
};

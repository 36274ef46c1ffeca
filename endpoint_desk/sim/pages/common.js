// Shared by the fixture chat pages: the conversation and the streamed fetch.
window.fixtureChat = {
  knobs: Object.fromEntries(new URLSearchParams(location.search)),
  history: [],
  // Send the conversation, call onText(fullTextSoFar) as the reply streams in.
  async stream(style, onText) {
    const resp = await fetch('/api/reply', {
      method: 'POST',
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

// Step 1, load: what the page is built with, and whether it shows a login wall.

function fingerprint() {
  const w = window;
  const markers = [];
  const has = (sel) => !!document.querySelector(sel) || deepAll(sel).length > 0;
  if (w.gradio_config || has('gradio-app') || has('.gradio-container')) markers.push('gradio');
  if (has('[data-testid="stApp"]') || has('.stApp')) markers.push('streamlit');
  if (w.__NEXT_DATA__ || has('#__next') || has('script[src*="/_next/"]')) markers.push('nextjs');
  if (w.__NUXT__ || has('#__nuxt')) markers.push('nuxt');
  if (has('[ng-version]')) markers.push('angular');
  if (has('[data-reactroot]') || has('#root') || has('#app')) markers.push('spa-root');
  if (document.querySelector('[class*="svelte-"]')) markers.push('svelte');
  if (document.querySelector('[data-v-app]') || document.querySelector('[class][data-v-]')) markers.push('vue');
  if (w.chainlit || has('#chainlit-copilot') || document.title.toLowerCase().includes('chainlit')) markers.push('chainlit');
  if (document.title.includes('Open WebUI') || has('#chat-input')) markers.push('open-webui-like');
  const gen = document.querySelector('meta[name="generator"]');
  if (gen) markers.push('generator:' + (gen.getAttribute('content') || '').split(/\s/)[0].toLowerCase());
  const all = deepAll('*');
  const custom = new Set();
  for (const el of all) if (el.tagName.includes('-')) custom.add(el.tagName.toLowerCase());
  const shape = {
    textareas: deepAll('textarea').length,
    editables: deepAll('[contenteditable=""],[contenteditable="true"],[contenteditable="plaintext-only"]').length,
    textboxes: deepAll('[role="textbox"]').length,
    text_inputs: deepAll('input:not([type]),input[type="text"]').length,
    buttons: deepAll('button,[role="button"]').length,
    forms: deepAll('form').length,
    passwords: deepAll('input[type="password"]').length,
    shadow_roots: roots().length - 1,
    iframes: document.querySelectorAll('iframe').length,
    custom_elements: [...custom].sort().slice(0, 12),
    elements: all.length,
  };
  return { markers, shape, title: document.title.slice(0, 120) };
}

// ---------------------------------------------------------------- login wall

function loginWall() {
  for (const pw of deepAll('input[type="password"]')) {
    if (!C().visible(pw)) continue;
    const form = pw.closest('form');
    const sel = form ? selectorsFor(form, null)[0] : null;
    return {
      selector: sel || 'input[type="password"]',
      text: (form ? form.innerText : pw.outerHTML).replace(/\s+/g, ' ').trim().slice(0, 160),
    };
  }
  return null;
}

// a visible "Sign in" / "Log in" link or button (a page that hides its chat until
// the visitor signs in through another page or a pop-up)
function loginLink() {
  for (const el of deepAll('a,button,[role="button"]')) {
    if (!C().visible(el)) continue;
    const t = nameOf(el);
    if (/^(log ?in|sign ?in|sign up|continue with|register)\b/i.test(t.trim()) ||
        /\b(log ?in|sign ?in)\b/i.test(t) && t.length < 40) return t.slice(0, 40);
  }
  return null;
}

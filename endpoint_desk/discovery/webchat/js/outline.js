// A short outline of the page, for an endpoint asked to choose (assist).

function outline(limit) {
  const items = [];
  const sel =
    'textarea,[contenteditable="true"],[contenteditable=""],[role="textbox"],input,button,[role="button"],[role="log"],[aria-live],article,[data-testid],[data-role],[class*="message"],[class*="bubble"]';
  for (const el of deepAll(sel)) {
    if (!C().visible(el)) continue;
    if (items.length >= (limit || 60)) break;
    const id = mark(el, 'data-desk-el');
    items.push({
      id,
      tag: el.tagName.toLowerCase(),
      role: el.getAttribute('role') || '',
      label: labelOf(el).slice(0, 60),
      text: (el.innerText || '').replace(/\s+/g, ' ').trim().slice(0, 60),
      cls: stableClasses(el).slice(0, 3).join(' '),
    });
  }
  return items;
}

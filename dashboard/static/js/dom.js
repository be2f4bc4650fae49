// Builds page elements from API data. Text always goes in as text nodes: nothing the API returns is
// ever parsed as HTML, so a service called "<img onerror=...>" is shown, never run.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  appendAll(node, children);
  return node;
}

function appendAll(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) appendAll(node, child);
    else node.append(child instanceof Node ? child : String(child));
  }
}

// A table whose rows are arrays of cells; a row may carry a click handler to open what it names.
export function table(headings, rows, emptyText = 'none') {
  if (rows.length === 0) return el('p', { class: 'empty' }, emptyText);
  return el('table', {},
    el('thead', {}, el('tr', {}, headings.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows.map(({ cells, onclick, cls }) => el('tr', {
      class: [cls, onclick && 'clickable'].filter(Boolean).join(' ') || null,
      tabindex: onclick ? 0 : null,
      onclick,
      onkeydown: onclick && ((e) => { if (e.key === 'Enter') onclick(e); }),
    }, cells.map((c) => el('td', {}, c))))));
}

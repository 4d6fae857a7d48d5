// Building the page: elements with their text set as text, never parsed as HTML. Every value
// a user or a provider wrote (product names, YAML, error messages) goes through here.

/** An element: `attrs` are attributes, but `class`, `text`, `dataset` and `on…` handlers. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

/** SVG elements (the DAG's edges). */
export function svg(tag, attrs = {}) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  return el;
}

/** Appends children: nodes as they are, anything else as a text node. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces an element's content. */
export function mount(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A message box; `kind` is `error` (announced at once) or `info`. */
export function notice(kind, ...children) {
  return h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, ...children);
}

/** A table from column titles and rows of cells. */
export function table(caption, headers, rows, attrs = {}) {
  return h('table', attrs,
    caption ? h('caption', { text: caption }) : null,
    h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', {}, rows.map((cells) => cells instanceof Node ? cells : h('tr', {}, cells.map((c) => h('td', {}, c))))));
}

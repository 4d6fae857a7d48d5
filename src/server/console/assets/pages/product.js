// A product's tech pack: photos and the same sections as the exported page, live: while one
// of its runs is going, sections appear as the run's steps finish. Clicking a callout marks
// its BOM or POM row, and a row marks its callouts. A field is edited in its table (the
// `edit` step, 1 credit) and a view's photo regenerated (1 credit), both through the public
// API; the history lists the edits and the photos' revisions.
import { ApiError, get, post, seg } from '../api.js';
import { h, mount, notice, table } from '../dom.js';
import { credits, status, time, value } from '../format.js';

const SECTIONS = [
  ['bill_of_materials', 'Bill of materials', 'bom'],
  ['points_of_measure', 'Points of measure', 'pom'],
  ['construction', 'Construction'],
  ['colorways', 'Colourways'],
  ['labels_and_packaging', 'Labels and packaging'],
  ['callouts', 'Callouts', 'callout'],
  ['category_specific', 'Category-specific'],
];

// Every export of a product's newest tech pack: [path under the product, file name, label].
const DOWNLOADS = [
  ['tech-pack', 'techpack.json', 'JSON'],
  ['tech-pack.html', 'index.html', 'HTML'],
  ['tech-pack/techpack.pdf', 'techpack.pdf', 'PDF'],
  ['tech-pack/techpack.xlsx', 'techpack.xlsx', 'Spreadsheet (XLSX)'],
  ['tech-pack/bom.csv', 'bom.csv', 'BOM (CSV)'],
  ['tech-pack/points-of-measure.csv', 'points-of-measure.csv', 'Points of measure (CSV)'],
];

/** What the tech pack can be downloaded as: the size chart only once it is graded. */
const downloads = (pack) => pack.size_chart
  ? [...DOWNLOADS, ['tech-pack/size-chart.csv', 'size-chart.csv', 'Size chart (CSV)']]
  : DOWNLOADS;

export async function render(main, [id]) {
  let product = await get(`/api/products/${seg(id)}`);
  let analysis = null; // the newest, whose fields are edited
  const liveLine = h('p', { class: 'muted small', role: 'status' });
  const balanceLine = h('p', { id: 'balance', class: 'muted small', role: 'status' });
  const message = h('div', { id: 'product-message', 'aria-live': 'polite' });
  const photos = h('div');
  const body = h('div', { id: 'tech-pack' });
  const history = h('section', { id: 'history', 'aria-labelledby': 'history-h' });
  const base = `/api/products/${seg(id)}`;
  mount(main,
    h('p', { class: 'crumbs' }, h('a', { href: '/products', text: 'Products' }), ' / '),
    h('h1', { id: 'product-name', text: product.name }),
    product.description ? h('p', { text: product.description }) : null,
    liveLine, balanceLine, message,
    h('section', { 'aria-labelledby': 'photos-h' }, h('h2', { id: 'photos-h', text: 'Photos' }), photos),
    body, history);

  async function drawBalance() {
    const account = await get('/api/me/credits').catch(() => null);
    if (account) balanceLine.textContent = `Your balance: ${credits(account.balance)}. An edit or a regeneration costs 1 credit.`;
    return account;
  }

  /** A 402 as what it means: the price and the balance, not JSON. */
  async function refused(what, err) {
    if (err instanceof ApiError && err.status === 402) {
      const account = await drawBalance();
      mount(message, notice('error', `Not enough credits to ${what}: it costs 1 credit and your balance is ${credits(account ? account.balance : 0)}. Nothing was charged.`));
    } else {
      mount(message, notice('error', `Could not ${what}: ${err.message}`));
    }
  }

  function drawPhotos() {
    const current = product.revisions.filter((r) => r.isCurrent);
    const view = h('select', { id: 'regen-view' }, current.map((r) => h('option', { value: r.view, text: r.view })));
    const prompt = h('input', { id: 'regen-prompt', type: 'text', placeholder: 'optional: what to change' });
    const button = h('button', { type: 'submit', text: 'Regenerate (1 credit)' });
    mount(photos,
      h('div', { class: 'gallery' }, current.map((r) => h('figure', {},
        h('img', { src: `${base}/images/${seg(r.imageHash)}`, alt: `${r.view} photo` }),
        h('figcaption', { text: `${r.view} · v${r.version} · ${r.width}×${r.height}` })))),
      current.length ? h('form', { class: 'inline regenerate', onsubmit: async (e) => {
        e.preventDefault();
        button.disabled = true;
        try {
          const answer = await post('/api/tech-pack-v2/regenerate', { productId: id, view: view.value, analysisId: analysis?.id, prompt: prompt.value.trim() || undefined });
          mount(message, notice('info', `Regenerated the ${view.value} view${answer.revision?.version ? ` (version ${answer.revision.version})` : ''}; ${credits(answer.creditsUsed ?? 1)} charged.`));
          await drawTechPack();
        } catch (err) {
          await refused('regenerate the view', err);
        } finally { button.disabled = false; }
      } }, h('label', { for: 'regen-view', text: 'Regenerate view' }), view,
      h('label', { for: 'regen-prompt', text: 'Change' }), prompt, button) : null);
  }

  function drawHistory() {
    const edits = analysis?.edits || [];
    mount(history, h('h2', { id: 'history-h', text: 'History' }),
      edits.length
        ? table('Edits', ['When', 'Field', 'Was', 'Now', 'By'], [...edits].reverse().map((e) => h('tr', { class: 'edit' },
          h('td', { text: time(e.at) }), h('td', { class: 'mono', text: e.path }),
          h('td', { text: value(e.oldValue) }), h('td', { text: value(e.newValue) }),
          h('td', { text: e.instruction ? `${e.provider}: ${e.instruction}` : e.provider }))), { class: 'edits' })
        : h('p', { class: 'muted', text: 'No edits yet: edit a field in the tables above.' }),
      table('Photo revisions', ['View', 'Version', 'From', 'When', 'Current'], product.revisions.map((r) => [
        r.view, `v${r.version}`, r.origin.kind === 'regenerated' ? `regenerated${r.origin.prompt ? `: ${r.origin.prompt}` : ''}` : 'upload',
        time(r.createdAt), r.isCurrent ? 'yes' : 'no'])));
  }

  /** Saves a field through the `edit` step, then shows the tech pack as it is now. */
  async function save(path, newValue) {
    try {
      await post('/api/tech-pack-v2/edit', { analysisId: analysis.id, path, value: newValue });
      mount(message, notice('info', `Saved ${path}: now ${value(newValue)}.`));
      await drawTechPack();
      return true;
    } catch (err) {
      await refused('edit the field', err);
      return false;
    }
  }
  const editing = { analysis: () => analysis, save };

  /** The newest analysis's flats (large, as drawn for print: dimension lines and numbered
   * callouts) and close-ups. */
  function drawImages() {
    const newest = (list) => {
      const last = list[list.length - 1];
      return last ? list.filter((x) => x.analysisId === last.analysisId) : [];
    };
    const flats = newest(product.sketches || []);
    const closeUps = newest(product.closeUps || []);
    return [
      section('flats', 'Flats', flats.length ? h('div', { class: 'flats' }, flats.map((s) => h('figure', {},
        h('img', { src: `${base}/tech-pack/flats/${seg(s.view)}.svg?analysis=${encodeURIComponent(s.analysisId)}`, alt: `technical flat, ${s.view} view, with its dimensions and callouts` }),
        h('figcaption', { text: `${s.view} · ${s.width}×${s.height}` })))) : h('p', { class: 'muted', text: 'No flats yet.' })),
      section('close_ups', 'Close-ups', closeUps.length ? h('div', { class: 'gallery' }, closeUps.map((c) => h('figure', {},
        h('img', { src: `${base}/images/${seg(c.imageHash)}`, alt: `close-up: ${c.detail}` }),
        h('figcaption', { text: c.detail })))) : h('p', { class: 'muted', text: 'No close-ups yet.' })),
    ];
  }

  async function drawTechPack() {
    product = await get(`/api/products/${seg(id)}`);
    drawPhotos();
    analysis = (await get(`${base}/analyses`)).analyses.at(-1) || null;
    drawHistory();
    drawBalance();
    let pack;
    try {
      pack = await get(`${base}/tech-pack`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        mount(body, h('p', { class: 'muted', text: 'No tech pack yet: its sections appear here as a tech-pack run finishes its steps.' }));
        return;
      }
      throw e;
    }
    mount(body,
      h('p', { class: 'downloads' }, 'Download: ', downloads(pack).flatMap(([path, file, text], i) => [
        i ? ' · ' : null, h('a', { href: `${base}/${path}`, download: file, text })])),
      section('meta', 'Overview', table(null, ['Field', 'Value'], Object.entries(pack.meta || {}).map(([k, v]) => [k.replaceAll('_', ' '), value(v)]))),
      drawImages(),
      SECTIONS.map(([key, title, kind]) => section(key, title, Array.isArray(pack[key]) && pack[key].length
        ? rows(pack[key], kind, key === 'callouts' ? null : { ...editing, key, title })
        : h('p', { class: 'muted', text: 'Nothing recorded: the photos did not show it (see each field\'s source in the JSON).' }))));
    wireCallouts(body);
  }

  // Follow a run of this product that is still going.
  let stream = null;
  const recent = await get('/api/runs?limit=50').catch(() => ({ runs: [] }));
  const running = recent.runs.find((r) => r.photo?.productId === id && !['succeeded', 'failed', 'cancelled'].includes(r.status));
  if (running) {
    mount(liveLine, 'Live: run ', h('a', { href: `/runs/${seg(running.id)}`, class: 'mono', text: running.id }), ' ', status('running'));
    stream = new EventSource(`/api/runs/${seg(running.id)}/events`);
    stream.addEventListener('node', (e) => {
      if (JSON.parse(e.data).status === 'succeeded') drawTechPack();
    });
    stream.addEventListener('run', (e) => {
      const end = JSON.parse(e.data).status;
      if (['succeeded', 'failed', 'cancelled'].includes(end)) {
        stream.close();
        mount(liveLine, 'The run ended: ', status(end));
        drawTechPack();
      }
    });
  }
  await drawTechPack();
  return () => stream && stream.close();
}

function section(key, title, content) {
  return h('section', { class: 'tp-section', dataset: { section: key }, 'aria-label': title }, h('h2', { text: title }), content);
}

/** An array of records as a table, a column per field (the first eight); with `edit`, each
 * field that holds a value can be edited in place. */
function rows(items, kind, edit) {
  const columns = [...new Set(items.flatMap((item) => (item && typeof item === 'object' ? Object.keys(item) : ['value'])))].slice(0, 8);
  return table(null, columns.map((c) => c.replaceAll('_', ' ')), items.map((item, index) => {
    const row = h('tr', { dataset: kind ? { kind, ref: item.id || item.code || '', bom: item.bom_ref || '', pom: item.pom_ref || '' } : {} },
      columns.map((c) => {
        const cell = typeof item === 'object' ? item[c] : item;
        const field = edit && typeof item === 'object' ? editable(cell, `${edit.key}.${index}.${c}`) : null;
        const td = h('td', { text: value(cell) });
        if (field) editButton(td, field, `${edit.title}, row ${item.id || item.code || index + 1}, ${c.replaceAll('_', ' ')}`, edit);
        return td;
      }));
    if (kind) { row.tabIndex = 0; row.setAttribute('role', 'button'); }
    return row;
  }), { class: kind ? `linked ${kind}` : null });
}

/** Where a cell's value can be edited (`path`, and whether it is a number), if it can: a text
 * or number field, or the value of an estimate or quantity. Ids and references stay. */
function editable(cell, path) {
  if (/\.(id|code|bom_ref|pom_ref)$/.test(path)) return null;
  if (typeof cell === 'string') return { path, number: false, current: cell };
  if (typeof cell === 'number') return { path, number: true, current: String(cell) };
  if (cell && typeof cell === 'object' && !Array.isArray(cell) && 'value' in cell
    && (cell.value === null || ['string', 'number'].includes(typeof cell.value))) {
    return { path: `${path}.value`, number: typeof cell.value === 'number' || (cell.value === null && 'unit' in cell), current: cell.value === null ? '' : String(cell.value) };
  }
  return null;
}

/** An "Edit" button in a cell that turns it into a small form: the new value, Save, Cancel. */
function editButton(td, field, label, edit) {
  const open = (e) => {
    e.stopPropagation();
    const shown = [...td.childNodes];
    const input = h('input', { type: field.number ? 'number' : 'text', step: field.number ? 'any' : null, value: field.current, 'aria-label': `New value: ${label}`, required: true });
    const close = () => td.replaceChildren(...shown);
    const form = h('form', { class: 'cell-edit', onclick: (ev) => ev.stopPropagation(), onkeydown: (ev) => { ev.stopPropagation(); if (ev.key === 'Escape') close(); },
      onsubmit: async (ev) => {
        ev.preventDefault();
        form.querySelectorAll('button').forEach((b) => { b.disabled = true; });
        const saved = await edit.save(field.path, field.number ? Number(input.value) : input.value);
        if (!saved) form.querySelectorAll('button').forEach((b) => { b.disabled = false; });
      } },
    input, h('button', { type: 'submit', text: 'Save (1 credit)' }), h('button', { type: 'button', class: 'link', text: 'Cancel', onclick: close }));
    td.replaceChildren(form);
    input.focus();
  };
  td.append(' ', h('button', { type: 'button', class: 'link edit-field', 'aria-label': `Edit ${label}`, title: 'Edit (1 credit)', dataset: { path: field.path }, text: '✎', onclick: open }));
}

/** A callout's row marks the BOM / POM rows it names; such a row marks its callouts. */
function wireCallouts(root) {
  const mark = (rowsToMark) => {
    root.querySelectorAll('tr.marked').forEach((r) => r.classList.remove('marked'));
    rowsToMark.forEach((r) => r.classList.add('marked'));
    rowsToMark[0]?.scrollIntoView({ block: 'nearest' });
  };
  const activate = (row) => {
    const { kind, ref, bom, pom } = row.dataset;
    if (kind === 'callout') {
      mark([row, ...root.querySelectorAll('tr[data-kind="bom"], tr[data-kind="pom"]')].filter((r) => r === row
        || (bom && r.dataset.kind === 'bom' && r.dataset.ref === bom) || (pom && r.dataset.kind === 'pom' && r.dataset.ref === pom)));
    } else if (ref) {
      mark([row, ...[...root.querySelectorAll('tr[data-kind="callout"]')].filter((r) => (kind === 'bom' ? r.dataset.bom : r.dataset.pom) === ref)]);
    }
  };
  root.querySelectorAll('tr[data-kind]').forEach((row) => {
    row.addEventListener('click', () => activate(row));
    row.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); activate(row); } });
  });
}

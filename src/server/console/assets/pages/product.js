// A product's tech pack: photos and the same sections as the exported page, live: while one
// of its runs is going, sections appear as the run's steps finish. Clicking a callout marks
// its BOM or POM row, and a row marks its callouts.
import { ApiError, get, seg } from '../api.js';
import { h, mount, table } from '../dom.js';
import { status, value } from '../format.js';

const SECTIONS = [
  ['bill_of_materials', 'Bill of materials', 'bom'],
  ['points_of_measure', 'Points of measure', 'pom'],
  ['construction', 'Construction'],
  ['colorways', 'Colourways'],
  ['labels_and_packaging', 'Labels and packaging'],
  ['callouts', 'Callouts', 'callout'],
  ['category_specific', 'Category-specific'],
];

export async function render(main, [id]) {
  let product = await get(`/api/products/${seg(id)}`);
  const liveLine = h('p', { class: 'muted small', role: 'status' });
  const body = h('div', { id: 'tech-pack' });
  const base = `/api/products/${seg(id)}`;
  mount(main,
    h('p', { class: 'crumbs' }, h('a', { href: '/products', text: 'Products' }), ' / '),
    h('h1', { id: 'product-name', text: product.name }),
    product.description ? h('p', { text: product.description }) : null,
    liveLine,
    h('section', { 'aria-labelledby': 'photos-h' }, h('h2', { id: 'photos-h', text: 'Photos' }),
      h('div', { class: 'gallery' }, product.revisions.filter((r) => r.isCurrent).map((r) => h('figure', {},
        h('img', { src: `${base}/images/${seg(r.imageHash)}`, alt: `${r.view} photo` }),
        h('figcaption', { text: `${r.view} · v${r.version} · ${r.width}×${r.height}` }))))),
    body);

  /** The newest analysis's flats (large) and close-ups. */
  function drawImages() {
    const newest = (list) => {
      const last = list[list.length - 1];
      return last ? list.filter((x) => x.analysisId === last.analysisId) : [];
    };
    const flats = newest(product.sketches || []);
    const closeUps = newest(product.closeUps || []);
    return [
      section('flats', 'Flats', flats.length ? h('div', { class: 'flats' }, flats.map((s) => h('figure', {},
        h('img', { src: `${base}/images/${seg(s.imageHash)}`, alt: `technical flat, ${s.view} view` }),
        h('figcaption', { text: `${s.view} · ${s.width}×${s.height}` })))) : h('p', { class: 'muted', text: 'No flats yet.' })),
      section('close_ups', 'Close-ups', closeUps.length ? h('div', { class: 'gallery' }, closeUps.map((c) => h('figure', {},
        h('img', { src: `${base}/images/${seg(c.imageHash)}`, alt: `close-up: ${c.detail}` }),
        h('figcaption', { text: c.detail })))) : h('p', { class: 'muted', text: 'No close-ups yet.' })),
    ];
  }

  async function drawTechPack() {
    product = await get(`/api/products/${seg(id)}`);
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
      h('p', { class: 'downloads' }, 'Download: ',
        h('a', { href: `${base}/tech-pack`, download: 'techpack.json', text: 'JSON' }), ' · ',
        h('a', { href: `${base}/tech-pack.html`, download: 'index.html', text: 'HTML' })),
      section('meta', 'Overview', table(null, ['Field', 'Value'], Object.entries(pack.meta || {}).map(([k, v]) => [k.replaceAll('_', ' '), value(v)]))),
      drawImages(),
      SECTIONS.map(([key, title, kind]) => section(key, title, Array.isArray(pack[key]) && pack[key].length
        ? rows(pack[key], kind)
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

/** An array of records as a table, a column per field (the first eight). */
function rows(items, kind) {
  const columns = [...new Set(items.flatMap((item) => (item && typeof item === 'object' ? Object.keys(item) : ['value'])))].slice(0, 8);
  return table(null, columns.map((c) => c.replaceAll('_', ' ')), items.map((item) => {
    const row = h('tr', { dataset: kind ? { kind, ref: item.id || item.code || '', bom: item.bom_ref || '', pom: item.pom_ref || '' } : {} },
      columns.map((c) => h('td', { text: value(typeof item === 'object' ? item[c] : item) })));
    if (kind) { row.tabIndex = 0; row.setAttribute('role', 'button'); }
    return row;
  }), { class: kind ? `linked ${kind}` : null });
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

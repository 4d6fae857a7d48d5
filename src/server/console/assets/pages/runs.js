// Runs: newest first, a page at a time ("Load more" follows the API's cursor), filtered by
// status and workflow, searched by id; bulk cancel.
import { get, post, seg } from '../api.js';
import { h, mount, notice } from '../dom.js';
import { duration, isFinished, status, time } from '../format.js';

const STATUSES = ['', 'pending', 'queued', 'running', 'succeeded', 'failed', 'cancelled'];
const PAGE = 50;

export async function render(main) {
  const params = new URLSearchParams(location.search);
  // Rows per page: 50, or the address's `limit` (kept in it).
  const pageSize = Math.min(1000, Math.max(1, Number(params.get('limit')) || PAGE));
  const statusSelect = h('select', { id: 'f-status', name: 'status' },
    STATUSES.map((s) => h('option', { value: s, text: s || 'any status', selected: params.get('status') === s })));
  const workflowSelect = h('select', { id: 'f-workflow', name: 'workflow' }, h('option', { value: '', text: 'any workflow' }));
  const search = h('input', { id: 'f-q', name: 'q', type: 'search', placeholder: 'run id', value: params.get('q') || '' });
  const message = h('div', { 'aria-live': 'polite' });
  const results = h('div');
  const selected = new Set();
  const cancelButton = h('button', { type: 'button', disabled: true, text: 'Cancel selected', onclick: cancelSelected });

  let next = null;
  const rowsBody = h('tbody');
  const moreButton = h('button', { type: 'button', id: 'load-more', text: 'Load more', onclick: () => load(next) });

  function row(run) {
    const box = isFinished(run.status) ? '' : h('input', { type: 'checkbox', 'aria-label': `Select run ${run.id}`, onchange: (e) => {
      if (e.target.checked) selected.add(run.id); else selected.delete(run.id);
      cancelButton.disabled = selected.size === 0;
    } });
    const thumb = run.photo ? h('img', { class: 'thumb', alt: '', loading: 'lazy', src: `/api/products/${seg(run.photo.productId)}/images/${seg(run.photo.imageHash)}` }) : null;
    return h('tr', { dataset: { run: run.id } },
      h('td', {}, box),
      h('td', {}, thumb, h('a', { href: `/runs/${seg(run.id)}`, class: 'mono', text: run.id })),
      h('td', { text: `${run.workflowName} v${run.workflowVersion}` }),
      h('td', {}, status(run.status)),
      h('td', { text: time(run.startedAt || run.createdAt) }),
      h('td', { text: run.startedAt ? duration(run.startedAt, run.finishedAt) : '—' }),
      h('td', { text: `${run.credits.charged} charged · ${run.credits.refunded} refunded${run.credits.reserved ? ` · ${run.credits.reserved} held` : ''}` }));
  }

  /** The first page for the filters, or (`before`) the page after the rows shown. */
  async function load(before) {
    const query = new URLSearchParams();
    if (statusSelect.value) query.set('status', statusSelect.value);
    if (workflowSelect.value) query.set('workflow', workflowSelect.value);
    if (search.value.trim()) query.set('q', search.value.trim());
    if (params.get('limit')) query.set('limit', String(pageSize));
    history.replaceState(null, '', `/runs${query.toString() ? `?${query}` : ''}`);
    query.set('limit', String(pageSize));
    if (before) query.set('before', before);
    moreButton.disabled = true;
    const data = await get(`/api/runs?${query}`);
    next = data.next || null;
    if (!before) {
      selected.clear();
      cancelButton.disabled = true;
      rowsBody.replaceChildren();
    }
    rowsBody.append(...data.runs.map(row));
    const shown = rowsBody.children.length;
    if (!shown) {
      const filtered = statusSelect.value || workflowSelect.value || search.value.trim();
      mount(results, h('p', { class: 'muted' }, filtered ? 'No run matches these filters.' : 'No runs yet. ', filtered ? null : h('a', { href: '/workflows', text: 'Start one from a workflow.' })));
      return;
    }
    moreButton.disabled = false;
    mount(results,
      h('p', { class: 'muted small', role: 'status', text: `${shown} run${shown === 1 ? '' : 's'} shown${next ? ', more below' : ''}` }),
      h('table', { class: 'runs' },
        h('thead', {}, h('tr', {}, ['', 'Run', 'Workflow', 'Status', 'Started', 'Duration', 'Credits'].map((t) => h('th', { scope: 'col', text: t })))),
        rowsBody),
      next ? moreButton : null);
  }

  /** The workflow filter's choices: the workflows there are. */
  async function loadWorkflows() {
    const chosen = params.get('workflow') || '';
    const data = await get('/api/workflows').catch(() => ({ workflows: [] }));
    const names = [...new Set([...data.workflows.map((w) => w.name).filter(Boolean), chosen].filter(Boolean))].sort();
    mount(workflowSelect, h('option', { value: '', text: 'any workflow' }),
      names.map((w) => h('option', { value: w, text: w, selected: w === chosen })));
  }

  async function cancelSelected() {
    cancelButton.disabled = true;
    const ids = [...selected];
    const failures = [];
    await Promise.all(ids.map((id) => post(`/api/runs/${seg(id)}/cancel`).catch((e) => failures.push(`${id}: ${e.message}`))));
    mount(message, failures.length ? notice('error', `Some runs could not be cancelled: ${failures.join('; ')}`) : notice('info', `Asked ${ids.length} run(s) to cancel.`));
    await load();
  }

  let typing;
  const form = h('form', { class: 'filters', role: 'search', onsubmit: (e) => { e.preventDefault(); load(); } },
    h('label', { for: 'f-status', text: 'Status' }), statusSelect,
    h('label', { for: 'f-workflow', text: 'Workflow' }), workflowSelect,
    h('label', { for: 'f-q', text: 'Search' }), search,
    cancelButton);
  statusSelect.addEventListener('change', () => load());
  workflowSelect.addEventListener('change', () => load());
  search.addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(() => load(), 250); });
  mount(main, h('h1', { text: 'Runs' }), form, message, results);
  await loadWorkflows();
  await load();
}

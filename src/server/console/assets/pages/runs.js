// Runs: newest first, filtered by status and workflow, searched by id; bulk cancel.
import { get, post, seg } from '../api.js';
import { h, mount, notice, table } from '../dom.js';
import { duration, isFinished, status, time } from '../format.js';

const STATUSES = ['', 'pending', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'];

export async function render(main) {
  const params = new URLSearchParams(location.search);
  const statusSelect = h('select', { id: 'f-status', name: 'status' },
    STATUSES.map((s) => h('option', { value: s, text: s || 'any status', selected: params.get('status') === s })));
  const workflowSelect = h('select', { id: 'f-workflow', name: 'workflow' }, h('option', { value: '', text: 'any workflow' }));
  const search = h('input', { id: 'f-q', name: 'q', type: 'search', placeholder: 'run id', value: params.get('q') || '' });
  const message = h('div', { 'aria-live': 'polite' });
  const results = h('div');
  const selected = new Set();
  const cancelButton = h('button', { type: 'button', disabled: true, text: 'Cancel selected', onclick: cancelSelected });

  async function load() {
    const query = new URLSearchParams();
    if (statusSelect.value) query.set('status', statusSelect.value);
    if (workflowSelect.value) query.set('workflow', workflowSelect.value);
    if (search.value.trim()) query.set('q', search.value.trim());
    history.replaceState(null, '', `/runs${query.toString() ? `?${query}` : ''}`);
    const data = await get(`/api/runs?${query}`);
    const chosen = workflowSelect.value || params.get('workflow') || '';
    mount(workflowSelect, h('option', { value: '', text: 'any workflow' }),
      data.workflows.map((w) => h('option', { value: w, text: w, selected: w === chosen })));
    selected.clear();
    cancelButton.disabled = true;
    if (!data.runs.length) {
      mount(results, h('p', { class: 'muted' }, data.total ? 'No run matches these filters.' : 'No runs yet. ', data.total ? null : h('a', { href: '/workflows', text: 'Start one from a workflow.' })));
      return;
    }
    mount(results,
      h('p', { class: 'muted small', text: `${data.runs.length} of ${data.matching} matching runs (${data.total} in all)` }),
      table(null, ['', 'Run', 'Workflow', 'Status', 'Started', 'Duration', 'Credits'], data.runs.map((run) => {
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
      }), { class: 'runs' }));
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
  statusSelect.addEventListener('change', load);
  workflowSelect.addEventListener('change', load);
  search.addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(load, 250); });
  if (params.get('workflow')) workflowSelect.append(h('option', { value: params.get('workflow'), text: params.get('workflow'), selected: true }));
  mount(main, h('h1', { text: 'Runs' }), form, message, results);
  await load();
}

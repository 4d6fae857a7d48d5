// Logs: the AI operation log, every provider call with its tokens, latency and outcome.
import { get, seg } from '../api.js';
import { h, mount, table } from '../dom.js';
import { time } from '../format.js';

export async function render(main) {
  const run = new URLSearchParams(location.search).get('run');
  const { operations } = await get(`/api/logs${run ? `?run=${seg(run)}` : ''}`);
  mount(main, h('h1', { text: 'AI operation log' }),
    run ? h('p', {}, 'Run ', h('a', { href: `/runs/${seg(run)}`, class: 'mono', text: run }), ' · ', h('a', { href: '/logs', text: 'all runs' })) : null,
    operations.length ? table(null, ['When', 'Operation', 'Provider', 'Model', 'Tokens (in/out)', 'Latency', 'Status', 'Run / step'], [...operations].reverse().map((o) => [
      time(o.at), o.operation, o.provider, o.model, `${o.usage.promptTokens}/${o.usage.completionTokens}`, `${o.latencyMs} ms`,
      o.error ? h('span', { class: 'error-text', text: `${o.status}: ${o.error}` }) : o.status,
      o.runId ? [h('a', { href: `/runs/${seg(o.runId)}`, class: 'mono', text: o.runId }), o.stepId ? ` / ${o.stepId}` : ''] : '—',
    ])) : h('p', { class: 'muted', text: 'No model calls yet.' }));
}

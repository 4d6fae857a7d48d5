// A run: its DAG from the pinned workflow, live from the run's server-sent events; a timeline
// of attempts; a panel for one step (the failed one opens by default); the actions the API
// offers on the run. The panel shows the step's log lines, per attempt, as text.
import { ApiError, get, post, seg } from '../api.js';
import { drawDag } from '../dag.js';
import { h, mount, notice, table } from '../dom.js';
import { credits as creditsText, duration, isFinished, status, time, value } from '../format.js';

export async function render(main, [id], { go }) {
  const [report, workflow] = await Promise.all([get(`/api/runs/${seg(id)}`), get(`/api/runs/${seg(id)}/workflow`)]);
  let run = report.run;
  let nodes = new Map(report.nodes.map((n) => [n.stepId, n]));
  let ledger = [];
  let operations = [];
  let selected = null;
  // A step's log lines by step id, with the node state they were read at: read again when
  // the step moves on (another attempt, its end).
  const logs = new Map();

  const head = h('div');
  const actions = h('div', { class: 'actions', role: 'group', 'aria-label': 'Run actions' });
  const message = h('div', { 'aria-live': 'polite' });
  const graph = h('section', { class: 'graph', 'aria-label': 'Steps' });
  const panel = h('section', { class: 'panel', id: 'step-panel', 'aria-live': 'polite', 'aria-label': 'Step' });
  const timeline = h('section', { class: 'timeline' });
  const live = h('span', { class: 'live muted small', role: 'status' });

  mount(main, head, actions, message, h('div', { class: 'run-body' }, graph, panel), timeline);
  // Until someone picks a step, the panel follows the first failed one.
  let chosen = false;
  const dag = drawDag(graph, workflow.steps, { onSelect: (step) => { chosen = true; select(step); } });

  function drawHead() {
    const credit = ledger.reduce((sum, e) => {
      if (e.kind === 'post') sum.charged += e.amount;
      if (e.kind === 'void' || e.kind === 'expire') sum.refunded += e.amount;
      return sum;
    }, { charged: 0, refunded: 0 });
    mount(head,
      h('p', { class: 'crumbs' }, h('a', { href: '/runs', text: 'Runs' }), ' / '),
      h('h1', {}, 'Run ', h('span', { class: 'mono', text: run.id })),
      h('dl', { class: 'facts' },
        h('dt', { text: 'Status' }), h('dd', { id: 'run-status' }, status(run.status), ' ', live),
        h('dt', { text: 'Workflow' }), h('dd', {}, h('a', { href: `/workflows/${seg(run.workflowName)}`, text: run.workflowName }), ` v${run.workflowVersion}`),
        h('dt', { text: 'Started' }), h('dd', { text: time(run.startedAt || run.createdAt) }),
        h('dt', { text: 'Duration' }), h('dd', { text: duration(run.startedAt, run.finishedAt) }),
        h('dt', { text: 'Credits' }), h('dd', { text: `${credit.charged} charged · ${credit.refunded} refunded (at most ${workflow.price})` }),
        run.parentRunId ? [h('dt', { text: 'Replays' }), h('dd', {}, h('a', { href: `/runs/${seg(run.parentRunId)}`, class: 'mono', text: run.parentRunId }), ` from ${run.replayFrom}`)] : null,
        run.error ? [h('dt', { text: 'Error' }), h('dd', { class: 'error-text', text: run.error })] : null));
    drawActions();
  }

  // Redrawn only when the run's status changes, so a button keeps its focus meanwhile.
  let actionsFor = null;
  function drawActions() {
    if (actionsFor === run.status) return;
    actionsFor = run.status;
    const finished = isFinished(run.status);
    const act = (label, path, body, after) => h('button', { type: 'button', text: label, onclick: async (e) => {
      e.target.disabled = true;
      try {
        const answer = await post(`/api/runs/${seg(id)}/${path}`, body);
        mount(message, notice("info", `${label}: requested.`));
        if (after) after(answer);
        else await refresh().then(follow);
      } catch (err) {
        mount(message, notice('error', `${label} refused: ${err.message}`));
      } finally { e.target.disabled = false; }
    } });
    const replayFrom = h('select', { id: 'replay-from', name: 'from' }, workflow.steps.map((s) => h('option', { value: s.id, text: s.id })));
    mount(actions,
      !finished ? act('Cancel', 'cancel') : null,
      run.status === 'interrupted' || run.status === 'pending' ? act('Resume', 'resume') : null,
      run.status === 'failed' || run.status === 'cancelled' ? act('Retry', 'retry') : null,
      finished ? h('span', { class: 'inline' }, h('label', { for: 'replay-from', text: 'Replay from' }), replayFrom,
        h('button', { type: 'button', text: 'Replay', onclick: async (e) => {
          e.target.disabled = true;
          try {
            const answer = await post(`/api/runs/${seg(id)}/replay`, { from: replayFrom.value });
            go(`/runs/${seg(answer.runId)}`);
          } catch (err) { mount(message, notice('error', `Replay refused: ${err.message}`)); e.target.disabled = false; }
        } })) : null);
  }

  function select(step) {
    selected = step;
    dag.select(step);
    drawPanel();
  }

  function drawPanel() {
    if (!selected) { mount(panel, h('p', { class: 'muted', text: 'Choose a step to see its attempts, errors, output and credits.' })); return; }
    const def = workflow.steps.find((s) => s.id === selected) || { needs: [], uses: '?', credits: 0 };
    const node = nodes.get(selected);
    const state = node?.status || 'pending';
    const stepLedger = ledger.filter((e) => e.stepId === selected);
    const sum = (kind) => stepLedger.filter((e) => kind.includes(e.kind)).reduce((n, e) => n + e.amount, 0);
    const calls = operations.filter((o) => o.stepId === selected);
    mount(panel,
      h('h2', {}, 'Step ', h('span', { class: 'mono', text: selected })),
      h('dl', { class: 'facts' },
        h('dt', { text: 'Status' }), h('dd', {}, status(state)),
        h('dt', { text: 'Kind' }), h('dd', { class: 'mono', text: def.uses }),
        h('dt', { text: 'Needs' }), h('dd', { text: def.needs.length ? def.needs.join(', ') : 'nothing' }),
        h('dt', { text: 'Attempts' }), h('dd', { text: node ? String(node.attempt) : '0' }),
        node?.startedAt ? [h('dt', { text: 'Time' }), h('dd', { text: duration(node.startedAt, node.finishedAt) })] : null,
        h('dt', { text: 'Credits' }), h('dd', { text: def.credits ? `${def.credits} per run · reserved ${sum(['reserve'])}, charged ${sum(['post'])}, refunded ${sum(['void', 'expire'])}` : 'free' }),
        node?.reusedFrom ? [h('dt', { text: 'Output from' }), h('dd', {}, h('a', { href: `/runs/${seg(node.reusedFrom)}`, class: 'mono', text: node.reusedFrom }))] : null),
      node?.error ? h('details', { class: 'step-error', open: state === 'failed' || state === 'cancelled' },
        h('summary', { text: `Error${node.errorCode ? ` (${node.errorCode})` : ''}` }), h('pre', { class: 'error-text', text: node.error })) : null,
      node?.attempts?.length ? table('Attempts', ['#', 'Round', 'Outcome', 'Time', 'Error'], node.attempts.map((a) => [
        String(a.attempt), String(a.round), a.outcome, duration(a.startedAt, a.finishedAt), a.error || '']), { class: 'attempts' }) : null,
      stepLog(selected, node),
      node?.output !== undefined && node?.output !== null ? output(node.output) : null,
      calls.length ? table('AI calls', ['Provider', 'Model', 'Tokens', 'Latency', 'Status'], calls.map((o) => [
        o.provider, o.model, String(o.usage.totalTokens), `${o.latencyMs} ms`, o.error ? `${o.status}: ${o.error}` : o.status])) : null);
  }

  /** The step's log lines, each attempt's in a block of text (read when the step changes). */
  function stepLog(step, node) {
    const box = h('section', { class: 'step-log', 'aria-label': 'Log' }, h('h3', { text: 'Log' }));
    if (!node) {
      box.append(h('p', { class: 'muted', text: 'Not started: no log yet.' }));
      return box;
    }
    const at = `${node.status}:${node.attempt}`;
    const known = logs.get(step);
    if (!known || known.at !== at) {
      logs.set(step, { at, attempts: known?.attempts });
      get(`/api/runs/${seg(id)}/nodes/${seg(step)}/logs`).then((answer) => {
        if (logs.get(step)?.at !== at) return;
        logs.set(step, { at, attempts: answer.attempts });
        if (selected === step) drawPanel();
      }).catch(() => {});
    }
    const attempts = logs.get(step).attempts;
    if (!attempts) box.append(h('p', { class: 'muted', text: 'Reading the log…' }));
    else if (!attempts.length) box.append(h('p', { class: 'muted', text: 'The step logged nothing.' }));
    else for (const a of attempts) {
      box.append(h('h4', { text: `Attempt ${a.attempt}` }),
        a.dropped ? h('p', { class: 'muted small', text: `${a.dropped} older lines were not kept.` }) : null,
        h('pre', { class: 'log', dataset: { attempt: a.attempt }, tabindex: '0', text: a.lines.map((l) => `${new Date(l.at).toISOString().slice(11, 23)} ${l.level.toUpperCase().padEnd(5)} ${l.text}`).join('\n') }));
    }
    return box;
  }

  function output(out) {
    const productId = out.product_id || out.productId || run.inputs?.product_id;
    const images = [];
    const walk = (v, depth) => {
      if (!v || typeof v !== 'object' || depth > 4 || images.length >= 12) return;
      for (const [k, x] of Object.entries(v)) {
        if ((k === 'image_hash' || k === 'imageHash') && typeof x === 'string') images.push(x);
        else walk(x, depth + 1);
      }
    };
    walk(out, 0);
    const fields = typeof out === 'object' && !Array.isArray(out)
      ? table('Output', ['Field', 'Value'], Object.entries(out).slice(0, 40).map(([k, v]) => [k, value(v).slice(0, 400)]))
      : h('p', {}, 'Output: ', h('code', { text: value(out) }));
    return h('div', { class: 'output' }, fields,
      productId && images.length ? h('div', { class: 'gallery' }, images.map((hash) => h('img', { alt: `image ${hash.slice(0, 8)}`, loading: 'lazy', src: `/api/products/${seg(productId)}/images/${seg(hash)}` }))) : null,
      productId ? h('p', {}, h('a', { href: `/products/${seg(productId)}`, text: 'Open the tech pack' })) : null,
      h('details', {}, h('summary', { text: 'Raw JSON' }), h('pre', { text: JSON.stringify(out, null, 2) })));
  }

  function drawTimeline() {
    const started = [...nodes.values()].filter((n) => n.startedAt).sort((a, b) => a.startedAt - b.startedAt);
    if (!started.length) { mount(timeline); return; }
    const from = run.startedAt || started[0].startedAt;
    const to = Math.max(run.finishedAt || 0, ...started.map((n) => n.finishedAt || Date.now()));
    const span = Math.max(1, to - from);
    const pct = (t) => `${(100 * (t - from)) / span}%`;
    const width = (a, b) => `${Math.max(0.3, (100 * (b - a)) / span)}%`;
    const shown = started.slice(0, 200);
    mount(timeline, h('h2', { text: 'Timeline' }),
      h('p', { class: 'muted small' }, h('span', { class: 'key waiting' }), ' waiting (for needs or a retry) ', h('span', { class: 'key running' }), ' running', started.length > shown.length ? ` · first ${shown.length} of ${started.length} steps` : ''),
      h('ol', { class: 'gantt' }, shown.map((n) => {
        const def = workflow.steps.find((s) => s.id === n.stepId);
        const ready = Math.max(from, ...(def?.needs || []).map((x) => nodes.get(x)?.finishedAt || from));
        const bars = [h('span', { class: 'bar waiting', style: null, dataset: {} })];
        bars[0].style.left = pct(ready); bars[0].style.width = width(ready, n.startedAt);
        const attempts = n.attempts?.length ? n.attempts : [{ startedAt: n.startedAt, finishedAt: n.finishedAt }];
        for (const a of attempts) {
          if (!a.startedAt) continue;
          const bar = h('span', { class: `bar running${a.outcome && a.outcome !== 'succeeded' ? ' bad' : ''}`, title: `attempt ${a.attempt || 1}: ${duration(a.startedAt, a.finishedAt)}` });
          bar.style.left = pct(a.startedAt); bar.style.width = width(a.startedAt, a.finishedAt || Date.now());
          bars.push(bar);
        }
        return h('li', {}, h('span', { class: 'label mono', text: n.stepId }), h('span', { class: 'track' }, bars), h('span', { class: 'muted small', text: duration(n.startedAt, n.finishedAt) }));
      })));
  }

  function apply(fresh) {
    run = fresh.run;
    nodes = new Map(fresh.nodes.map((n) => [n.stepId, n]));
    for (const step of workflow.steps) {
      const n = nodes.get(step.id);
      dag.set(step.id, n ? n.status : 'pending', n?.attempt);
    }
    const failed = workflow.steps.find((s) => nodes.get(s.id)?.status === 'failed');
    if (!chosen && failed && failed.id !== selected) { selected = failed.id; dag.select(selected); }
    drawHead();
    drawPanel();
    drawTimeline();
  }

  let refreshing = null;
  async function refresh() {
    const [fresh, credits, logs] = await Promise.all([
      get(`/api/runs/${seg(id)}`),
      get('/api/me/credits').catch(() => ({ history: [] })),
      get(`/api/logs?run=${seg(id)}`).catch(() => ({ operations: [] })),
    ]);
    ledger = credits.history.filter((e) => e.runId === id);
    operations = logs.operations;
    apply(fresh);
  }
  // Many events arrive together (a fan-out): read the run once for all of them.
  function refreshSoon() {
    if (refreshing) return;
    refreshing = setTimeout(() => { refreshing = null; refresh().catch(() => {}); }, 250);
  }

  // Live: the run's events, never a polling loop. The stream ends when the run does.
  let stream = null;
  function follow() {
    if (stream || isFinished(run.status)) return;
    stream = new EventSource(`/api/runs/${seg(id)}/events`);
    live.textContent = '· live';
    stream.addEventListener('snapshot', (e) => {
      apply(JSON.parse(e.data));
      if (isFinished(run.status)) stop();
    });
    stream.addEventListener('node', (e) => {
      const event = JSON.parse(e.data);
      dag.set(event.stepId, event.status, event.attempt);
      refreshSoon();
    });
    stream.addEventListener('run', (e) => {
      const event = JSON.parse(e.data);
      if (isFinished(event.status)) stop();
      refreshSoon();
    });
    stream.onerror = () => {
      if (stream && stream.readyState === EventSource.CLOSED) stop();
      else live.textContent = '· reconnecting';
    };
  }
  function stop() {
    if (stream) stream.close();
    stream = null;
    live.textContent = '';
  }

  selected = workflow.steps[0]?.id;
  dag.select(selected);
  apply(report);
  document.body.dataset.rendered = String(Math.round(performance.now()));
  follow();
  refresh().catch((e) => { if (!(e instanceof ApiError)) throw e; });
  return stop;
}

// A workflow's DAG: steps in layers (a step sits one layer below the deepest step it needs),
// each a button that names the step and its state in words, edges drawn under them. Built
// once; a state change touches one node, so a run with a thousand steps stays quick.
import { h, svg } from './dom.js';
import { status as statusBadge } from './format.js';

/** Layers of step ids, each step below everything it needs. */
export function layers(steps) {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const depth = new Map();
  const visiting = new Set();
  const level = (id) => {
    if (depth.has(id)) return depth.get(id);
    if (visiting.has(id)) return 0; // a cycle (only in text being edited): flatten it
    visiting.add(id);
    const needs = (byId.get(id)?.needs || []).filter((n) => byId.has(n));
    const d = needs.length ? 1 + Math.max(...needs.map(level)) : 0;
    visiting.delete(id);
    depth.set(id, d);
    return d;
  };
  const out = [];
  for (const step of steps) {
    const d = level(step.id);
    (out[d] ||= []).push(step.id);
  }
  return out.filter(Boolean);
}

/** Edges are drawn up to this many; beyond, each step's needs are in its panel. */
const MAX_EDGES = 400;

/**
 * Draws `steps` ({id, name?, uses, needs, credits}) into `container`. `onSelect(id)` is
 * called when a node is chosen. Returns `{ set(id, status, attempt), select(id) }`.
 */
export function drawDag(container, steps, { onSelect, preview = false } = {}) {
  const nodes = new Map();
  const byId = new Map(steps.map((s) => [s.id, s]));
  const rows = layers(steps);
  const edges = steps.reduce((n, s) => n + s.needs.length, 0);
  const graph = h('div', { class: preview ? 'dag preview' : 'dag', role: 'group', 'aria-label': `Workflow graph: ${steps.length} steps` });
  const lines = svg('svg', { class: 'edges', 'aria-hidden': 'true' });
  graph.append(lines);
  rows.forEach((ids, depth) => {
    // A wide layer (a fan-out) draws compact nodes: the id and the state's icon; the state's
    // word stays in the node's accessible name and its tooltip.
    const row = h('ol', { class: ids.length > 60 ? 'layer wide' : 'layer', 'aria-label': `Layer ${depth + 1}: ${ids.length} steps` });
    for (const id of ids) {
      const step = byId.get(id);
      const label = h('span', { class: 'state' });
      const node = h('button', {
        type: 'button', class: 'node s-pending', dataset: { step: id },
        'aria-label': `${step.name || id}: pending`,
        title: `${id}: pending · ${step.uses}${step.credits ? ` · ${step.credits} credits` : ''}`,
        onclick: () => onSelect && onSelect(id),
      }, h('span', { class: 'id', text: step.name || id }), label);
      label.append(statusBadge('pending'));
      nodes.set(id, { node, label, status: 'pending' });
      row.append(h('li', {}, node));
    }
    graph.append(row);
  });
  container.replaceChildren(graph);
  if (edges > MAX_EDGES) {
    container.append(h('p', { class: 'muted small', text: `${steps.length} steps in ${rows.length} layers; the ${edges} edges are not drawn (a step's needs are in its panel).` }));
  } else {
    requestAnimationFrame(() => drawEdges(graph, lines, steps, nodes));
  }

  let selected = null;
  return {
    set(id, status, attempt) {
      const entry = nodes.get(id);
      if (!entry || (entry.status === status && !attempt)) return;
      entry.node.classList.replace(`s-${entry.status}`, `s-${status}`);
      entry.status = status;
      entry.label.replaceChildren(statusBadge(status), attempt > 1 ? ` · attempt ${attempt}` : '');
      const step = byId.get(id);
      entry.node.setAttribute('aria-label', `${step.name || id}: ${status}${attempt > 1 ? `, attempt ${attempt}` : ''}`);
      entry.node.title = `${id}: ${status} · ${step.uses}${step.credits ? ` · ${step.credits} credits` : ''}`;
    },
    select(id) {
      if (selected) nodes.get(selected)?.node.removeAttribute('aria-pressed');
      selected = id;
      nodes.get(id)?.node.setAttribute('aria-pressed', 'true');
    },
    status: (id) => nodes.get(id)?.status,
  };
}

function drawEdges(graph, lines, steps, nodes) {
  const box = graph.getBoundingClientRect();
  // A zero-size SVG whose drawing overflows it: the edges add nothing to the scroll area.
  lines.setAttribute('width', 0);
  lines.setAttribute('height', 0);
  const at = new Map();
  for (const [id, { node }] of nodes) {
    const r = node.getBoundingClientRect();
    at.set(id, { x: r.left - box.left + r.width / 2, top: r.top - box.top, bottom: r.bottom - box.top });
  }
  for (const step of steps) {
    const to = at.get(step.id);
    for (const need of step.needs) {
      const from = at.get(need);
      if (!from || !to) continue;
      const mid = (from.bottom + to.top) / 2;
      lines.append(svg('path', { d: `M${from.x},${from.bottom} C${from.x},${mid} ${to.x},${mid} ${to.x},${to.top}` }));
    }
  }
}

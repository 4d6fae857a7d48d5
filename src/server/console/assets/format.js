// How values read on the page: times, durations, statuses (never by colour alone).
import { h } from './dom.js';

export function time(ms) {
  if (!ms) return '—';
  const d = new Date(ms);
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function duration(from, to) {
  if (!from) return '—';
  const ms = Math.max(0, (to || Date.now()) - from);
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

const ICONS = {
  pending: '○', running: '◔', succeeded: '✓', failed: '✗', cancelled: '⊘', skipped: '↷',
  interrupted: '‖', retrying: '↻', waiting: '…',
};

/** A status as an icon and its word, coloured by a class. */
export function status(value) {
  const s = value || 'pending';
  return h('span', { class: `status s-${s}` }, h('span', { 'aria-hidden': 'true', text: ICONS[s] || '•' }), h('span', { class: 'word', text: ` ${s}` }));
}

export const isFinished = (s) => ['succeeded', 'failed', 'cancelled'].includes(s);

export function credits(n) {
  return `${n} credit${n === 1 ? '' : 's'}`;
}

/** A stored estimate `{value, source, confidence}` as one line; anything else as text. */
export function value(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'object' && !Array.isArray(v) && 'value' in v && ('source' in v || 'confidence' in v)) {
    const bits = [v.source, typeof v.confidence === 'number' ? `confidence ${v.confidence}` : null].filter(Boolean);
    return `${value(v.value)}${bits.length ? ` (${bits.join(', ')})` : ''}`;
  }
  if (Array.isArray(v)) return v.map(value).join(', ');
  if (typeof v === 'object') return Object.entries(v).map(([k, x]) => `${k}: ${value(x)}`).join('; ');
  return String(v);
}

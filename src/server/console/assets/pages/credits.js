// Credits: the balance and every ledger entry, linked to its run and step.
import { get, seg } from '../api.js';
import { h, mount, table } from '../dom.js';
import { credits, time } from '../format.js';

const MEANING = {
  grant: 'added', reserve: 'held for a step', post: 'charged (the step succeeded)',
  void: 'returned (the step failed, was cancelled or cached)', expire: 'returned (the hold ran out)', renew: 'hold extended',
};

export async function render(main) {
  const account = await get('/api/me/credits');
  const history = [...account.history].reverse();
  mount(main, h('h1', { text: 'Credits' }),
    h('dl', { class: 'facts big' },
      h('dt', { text: 'Available' }), h('dd', { id: 'balance', text: credits(account.balance) }),
      h('dt', { text: 'Held for running steps' }), h('dd', { text: credits(account.reserved) }),
      h('dt', { text: 'Spent' }), h('dd', { text: credits(account.spent) }),
      h('dt', { text: 'Granted' }), h('dd', { text: credits(account.granted) })),
    h('h2', { text: 'Ledger' }),
    history.length ? table(null, ['When', 'Entry', 'Amount', 'Run', 'Step'], history.map((e) => [
      time(e.at), `${e.kind}: ${MEANING[e.kind] || ''}`, String(e.amount),
      e.runId ? h('a', { href: `/runs/${seg(e.runId)}`, class: 'mono', text: e.runId }) : '—',
      e.stepId || '—',
    ])) : h('p', { class: 'muted', text: 'No entries yet.' }));
}

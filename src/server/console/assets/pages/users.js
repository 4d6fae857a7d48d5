// Users (admin): create a user (its token is shown once, here) and grant credits.
import { post, seg } from '../api.js';
import { h, mount, notice } from '../dom.js';

export function render(main, _params, { me }) {
  if (!me()?.admin) {
    mount(main, h('h1', { text: 'Users' }), notice('error', 'Only the admin manages users.'));
    return;
  }
  const created = h('div', { 'aria-live': 'polite' });
  const granted = h('div', { 'aria-live': 'polite' });
  const name = h('input', { id: 'new-name', required: true, pattern: '[A-Za-z0-9_.-]+' });
  const initial = h('input', { id: 'new-credits', type: 'number', min: '0', step: '1', value: '0' });
  const who = h('input', { id: 'grant-name', required: true });
  const amount = h('input', { id: 'grant-amount', type: 'number', min: '1', step: '1', required: true });
  mount(main, h('h1', { text: 'Users' }),
    h('form', { class: 'card', onsubmit: async (e) => {
      e.preventDefault();
      try {
        const user = await post('/api/admin/users', { name: name.value.trim(), credits: Number(initial.value || 0) });
        mount(created, notice('info', `Created ${user.name}. Its token, shown only now: `, h('code', { class: 'token', text: user.token })));
      } catch (err) { mount(created, notice('error', err.message)); }
    } }, h('h2', { text: 'New user' }), h('label', { for: 'new-name', text: 'Name' }), name,
    h('label', { for: 'new-credits', text: 'Credits' }), initial, h('button', { type: 'submit', text: 'Create' }), created),
    h('form', { class: 'card', onsubmit: async (e) => {
      e.preventDefault();
      try {
        const answer = await post(`/api/admin/users/${seg(who.value.trim())}/credits`, { amount: Number(amount.value), operationId: `console-${crypto.randomUUID()}` });
        mount(granted, notice('info', `Granted. ${who.value.trim()} now has ${answer.balance} credits.`));
      } catch (err) { mount(granted, notice('error', err.message)); }
    } }, h('h2', { text: 'Grant credits' }), h('label', { for: 'grant-name', text: 'User' }), who,
    h('label', { for: 'grant-amount', text: 'Credits' }), amount, h('button', { type: 'submit', text: 'Grant' }), granted));
}

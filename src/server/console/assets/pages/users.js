// Users (admin): every user with its balance (`GET /api/admin/users`), create a user (its
// token is shown once, here) and grant credits.
import { get, post, seg } from '../api.js';
import { h, mount, notice, table } from '../dom.js';
import { time } from '../format.js';

export async function render(main, _params, { me }) {
  if (!me()?.admin) {
    mount(main, h('h1', { text: 'Users' }), notice('error', 'Only the admin manages users.'));
    return;
  }
  const list = h('section', { id: 'user-list', 'aria-label': 'Users' });
  const created = h('div', { 'aria-live': 'polite' });
  const granted = h('div', { 'aria-live': 'polite' });
  const name = h('input', { id: 'new-name', required: true, pattern: '[A-Za-z0-9_.-]+' });
  const initial = h('input', { id: 'new-credits', type: 'number', min: '0', step: '1', value: '0' });
  const who = h('input', { id: 'grant-name', required: true, list: 'user-names' });
  const names = h('datalist', { id: 'user-names' });
  const amount = h('input', { id: 'grant-amount', type: 'number', min: '1', step: '1', required: true });

  async function drawList() {
    const { users } = await get('/api/admin/users');
    mount(names, users.map((u) => h('option', { value: u.name })));
    mount(list, users.length
      ? table(`${users.length} user${users.length === 1 ? '' : 's'}`, ['Name', 'Created', 'Balance', 'Held by steps'],
        users.map((u) => h('tr', { dataset: { user: u.name } },
          h('td', { text: u.name }), h('td', { text: time(u.createdAt) }),
          h('td', { text: String(u.balance) }), h('td', { text: String(u.reserved) }))), { class: 'users' })
      : h('p', { class: 'muted', text: 'No users yet: create one below.' }));
  }

  mount(main, h('h1', { text: 'Users' }), list,
    h('form', { class: 'card', onsubmit: async (e) => {
      e.preventDefault();
      try {
        const user = await post('/api/admin/users', { name: name.value.trim(), credits: Number(initial.value || 0) });
        mount(created, notice('info', `Created ${user.name}. Its token, shown only now: `, h('code', { class: 'token', text: user.token })));
        await drawList();
      } catch (err) { mount(created, notice('error', err.message)); }
    } }, h('h2', { text: 'New user' }), h('label', { for: 'new-name', text: 'Name' }), name,
    h('label', { for: 'new-credits', text: 'Credits' }), initial, h('button', { type: 'submit', text: 'Create' }), created),
    h('form', { class: 'card', onsubmit: async (e) => {
      e.preventDefault();
      try {
        const answer = await post(`/api/admin/users/${seg(who.value.trim())}/credits`, { amount: Number(amount.value), operationId: `console-${crypto.randomUUID()}` });
        mount(granted, notice('info', `Granted. ${who.value.trim()} now has ${answer.balance} credits.`));
        await drawList();
      } catch (err) { mount(granted, notice('error', err.message)); }
    } }, h('h2', { text: 'Grant credits' }), h('label', { for: 'grant-name', text: 'User' }), who, names,
    h('label', { for: 'grant-amount', text: 'Credits' }), amount, h('button', { type: 'submit', text: 'Grant' }), granted));
  await drawList();
}

// Workflows: each file of the server's folder with its validation state.
import { get, seg } from '../api.js';
import { h, mount, table } from '../dom.js';

export async function render(main, _params, { me }) {
  const { workflows } = await get('/api/workflows');
  const admin = me()?.admin;
  mount(main,
    h('h1', { text: 'Workflows' }),
    admin ? h('p', {}, h('a', { href: '/workflows/new/edit', class: 'button', text: 'New workflow' })) : null,
    workflows.length ? table(null, ['Workflow', 'File', 'Version', 'Steps', 'State', ''], workflows.map((w) => [
      w.name ? (admin ? h('span', { class: 'mono', text: w.name }) : h('a', { href: `/workflows/${seg(w.name)}`, text: w.name })) : h('span', { class: 'muted', text: '(none live)' }),
      h('span', { class: 'mono', text: w.file }),
      w.version || '—',
      String(w.steps),
      w.errors
        ? h('details', {}, h('summary', { class: 'status s-failed', text: '✗ invalid (the previous version stays live)' }), h('pre', { class: 'error-text', text: w.errors }))
        : h('span', { class: 'status s-succeeded', text: '✓ valid' }),
      w.name ? h('a', { href: `/workflows/${seg(w.name)}/edit`, text: admin ? 'Edit' : 'YAML' }) : '',
    ])) : h('p', { class: 'muted', text: 'The workflows folder has no YAML files.' }));
}

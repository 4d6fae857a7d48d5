// The YAML editor: a textarea with line numbers, validated as you type by the server (the
// same TP-coded checks as `techpack validate`), problems marked on their lines, the DAG
// previewed. Only the admin saves, and only a valid text.
import { ApiError, get, post, put, seg } from '../api.js';
import { drawDag } from '../dag.js';
import { h, mount, notice } from '../dom.js';

const TEMPLATE = `name: my-workflow
version: 1
description: What it is for.
inputs:
  who: { type: string, default: world }
steps:
  greet:
    uses: core/echo
    with:
      value: "hello, \${{ inputs.who }}"
`;

export async function render(main, [name], { me, go }) {
  const admin = me()?.admin;
  const creating = name === 'new';
  const existing = creating ? null : await get(`/api/workflows/${seg(name)}`);
  const text = h('textarea', { id: 'yaml', class: 'code', spellcheck: 'false', wrap: 'off', autocapitalize: 'off', 'aria-describedby': 'problems' });
  text.value = existing ? existing.source : TEMPLATE;
  const gutter = h('div', { class: 'gutter', 'aria-hidden': 'true' });
  const state = h('p', { class: 'validity', role: 'status' });
  const problems = h('ol', { id: 'problems', class: 'problems' });
  const preview = h('div');
  const message = h('div', { 'aria-live': 'polite' });
  const save = admin ? h('button', { type: 'button', disabled: true, text: 'Save', onclick: saveIt }) : null;
  let valid = null; // the last answer that validated, with its workflow
  let saved = text.value;

  mount(main,
    h('p', { class: 'crumbs' }, h('a', { href: '/workflows', text: 'Workflows' }), ' / '),
    h('h1', { text: creating ? 'New workflow' : `Edit ${name}` }),
    existing?.status?.errors ? notice('error', 'The file on disk does not validate; the version below is the one live for runs.') : null,
    admin ? null : h('p', { class: 'muted', text: 'You can try changes here; only the admin saves workflows.' }),
    h('label', { for: 'yaml', text: 'Workflow YAML' }),
    h('div', { class: 'editor' }, gutter, text),
    h('div', { class: 'actions' }, save, state), message,
    h('section', {}, h('h2', { text: 'Problems' }), problems),
    h('section', {}, h('h2', { text: 'Preview' }), preview));

  function lines(marks) {
    const count = text.value.split('\n').length;
    gutter.replaceChildren(...Array.from({ length: count }, (_, i) => {
      const mark = marks.get(i + 1);
      return h('div', { class: mark ? 'bad' : null, title: mark || null, text: String(i + 1) });
    }));
    gutter.scrollTop = text.scrollTop;
  }

  function goTo(line, column) {
    const all = text.value.split('\n');
    const offset = all.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0) + Math.max(0, (column || 1) - 1);
    text.focus();
    text.setSelectionRange(offset, offset);
  }

  let seq = 0;
  async function check() {
    const mine = ++seq;
    let answer;
    try {
      answer = await post('/api/workflows/validate', { source: text.value });
    } catch (e) {
      if (mine === seq) mount(state, notice('error', e.message));
      return;
    }
    if (mine !== seq) return; // a newer keystroke's answer is coming
    const marks = new Map();
    for (const d of answer.diagnostics) if (d.line) marks.set(d.line, [marks.get(d.line), `${d.code}: ${d.message}`].filter(Boolean).join('\n'));
    lines(marks);
    valid = answer.valid ? answer : null;
    state.className = `validity ${answer.valid ? 's-succeeded' : 's-failed'}`;
    state.textContent = answer.valid ? '✓ Valid' : `✗ ${answer.diagnostics.length} problem${answer.diagnostics.length === 1 ? '' : 's'}`;
    mount(problems, answer.diagnostics.map((d) => h('li', {},
      d.line ? h('button', { type: 'button', class: 'link mono', text: `line ${d.line}:${d.column}`, onclick: () => goTo(d.line, d.column) }) : null,
      ' ', h('strong', { text: d.code }), d.step ? ` step ${d.step}: ` : ': ', h('span', { text: d.message }))));
    if (answer.valid) drawDag(preview, answer.workflow.steps, { preview: true });
    else mount(preview, h('p', { class: 'muted', text: 'The preview shows once the text validates.' }));
    if (save) save.disabled = !answer.valid || text.value === saved;
  }

  async function saveIt() {
    if (!valid) return;
    save.disabled = true;
    try {
      const answer = await put(`/api/workflows/${seg(valid.workflow.name)}`, { source: text.value });
      saved = text.value;
      mount(message, notice('info', `Saved as ${answer.file}; new runs use version ${answer.version}.`));
      if (creating || answer.name !== name) history.replaceState(null, '', `/workflows/${seg(answer.name)}/edit`);
    } catch (e) {
      mount(message, notice('error', e instanceof ApiError && e.status === 401 ? 'Only the admin can save workflows.' : e.message));
      save.disabled = false;
    }
  }

  let typing;
  text.addEventListener('input', () => {
    lines(new Map());
    clearTimeout(typing);
    typing = setTimeout(check, 200);
  });
  text.addEventListener('scroll', () => { gutter.scrollTop = text.scrollTop; });
  text.addEventListener('keydown', (e) => {
    // Tab indents (two spaces); Escape then Tab leaves the editor, so the keyboard is never trapped.
    if (e.key === 'Tab' && !e.shiftKey && !text.dataset.escaped) {
      e.preventDefault();
      text.setRangeText('  ', text.selectionStart, text.selectionEnd, 'end');
      text.dispatchEvent(new Event('input'));
    }
    if (e.key === 'Escape') text.dataset.escaped = '1';
    else if (e.key !== 'Tab') delete text.dataset.escaped;
  });
  lines(new Map());
  await check();
  return () => clearTimeout(typing);
}

// Start a run: a form generated from the workflow's typed inputs, its DAG and its price.
import { ApiError, get, post, seg } from '../api.js';
import { drawDag } from '../dag.js';
import { h, mount, notice } from '../dom.js';
import { credits } from '../format.js';

const VIEWS = ['front', 'back', 'side', 'top', 'detail'];

export async function render(main, [name], { go }) {
  const [workflow, account] = await Promise.all([get(`/api/workflows/${seg(name)}`), get('/api/me/credits')]);
  const message = h('div', { 'aria-live': 'assertive' });
  const fields = workflow.inputs.map(field);
  const button = h('button', { type: 'submit', text: 'Start run' });
  const form = h('form', { class: 'card', novalidate: true, onsubmit: submit },
    h('h2', { text: 'Inputs' }),
    fields.length ? fields.map((f) => f.el) : h('p', { class: 'muted', text: 'This workflow takes no inputs.' }),
    h('p', { class: 'price' }, workflow.price
      ? `Costs at most ${credits(workflow.price)} (charged only for steps that succeed). Your balance: ${credits(account.balance)}.`
      : 'Free to run.'),
    message, button);
  const graph = h('div');
  mount(main,
    h('p', { class: 'crumbs' }, h('a', { href: '/workflows', text: 'Workflows' }), ' / '),
    h('h1', {}, workflow.name, h('span', { class: 'muted', text: ` v${workflow.version}` })),
    workflow.description ? h('p', { text: workflow.description }) : null,
    h('div', { class: 'two' }, form, h('section', {}, h('h2', { text: `Steps (${workflow.steps.length})` }), graph)));
  drawDag(graph, workflow.steps, { preview: true });

  async function submit(event) {
    event.preventDefault();
    mount(message);
    button.disabled = true;
    try {
      const inputs = {};
      for (const f of fields) {
        const v = await f.read();
        if (v !== undefined) inputs[f.name] = v;
      }
      const answer = await post(`/api/workflows/${seg(name)}/runs`, { inputs });
      go(`/runs/${seg(answer.runId)}`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 402) {
        const now = await get('/api/me/credits').catch(() => account);
        mount(message, notice('error', h('strong', { text: 'Not enough credits. ' }),
          `This run can cost up to ${credits(workflow.price)} and your balance is ${credits(now.balance)}. Nothing was charged; ask the operator for credits, then start it again.`));
      } else {
        mount(message, notice('error', e.message));
      }
    } finally {
      button.disabled = false;
    }
  }
}

/** One input's control and how to read it: `{name, el, read()}`. */
function field(input) {
  const id = `in-${input.name}`;
  const label = h('label', { for: id }, input.name, input.required ? h('span', { class: 'req', text: ' (required)' }) : null, h('span', { class: 'muted', text: ` · ${input.type}` }));
  const help = input.description ? h('p', { class: 'help', id: `${id}-help`, text: input.description }) : null;
  const described = help ? `${id}-help` : null;
  const dflt = input.default;
  let control;
  let read;
  switch (input.type) {
    case 'boolean':
      control = h('input', { id, type: 'checkbox', checked: dflt === true, 'aria-describedby': described });
      read = () => control.checked;
      break;
    case 'integer':
    case 'number':
      control = h('input', { id, type: 'number', step: input.type === 'integer' ? '1' : 'any', value: dflt ?? '', required: input.required, 'aria-describedby': described });
      read = () => {
        if (control.value === '') { if (input.required) throw new Error(`${input.name} is required`); return undefined; }
        return Number(control.value);
      };
      break;
    case 'images':
      return imagesField(input, id, label, help);
    case 'path':
      control = h('input', { id, disabled: true, value: 'server paths are for the operator only' });
      read = () => undefined;
      break;
    case 'string':
      control = h('input', { id, type: 'text', value: dflt ?? '', required: input.required, 'aria-describedby': described });
      read = () => {
        if (control.value === '') { if (input.required) throw new Error(`${input.name} is required`); return undefined; }
        return control.value;
      };
      break;
    default: // array, object, any: JSON
      control = h('textarea', { id, rows: 3, class: 'mono', 'aria-describedby': described, placeholder: 'JSON' });
      control.value = dflt === undefined || dflt === null ? '' : JSON.stringify(dflt);
      read = () => {
        if (control.value.trim() === '') { if (input.required) throw new Error(`${input.name} is required`); return undefined; }
        try { return JSON.parse(control.value); } catch { throw new Error(`${input.name} must be JSON`); }
      };
  }
  return { name: input.name, el: h('div', { class: 'field' }, label, control, help), read: async () => read() };
}

/** Photos: a product name and one upload per view; on start, the product is created and the
 * photos uploaded, and the run gets their revision ids. */
function imagesField(input, id, label, help) {
  const product = h('input', { id, type: 'text', placeholder: 'product name', required: input.required });
  const files = VIEWS.map((view) => {
    const file = h('input', { id: `${id}-${view}`, type: 'file', accept: 'image/png,image/jpeg' });
    return { view, file, el: h('div', { class: 'inline' }, h('label', { for: `${id}-${view}`, text: view }), file) };
  });
  const read = async () => {
    const chosen = files.filter((f) => f.file.files.length);
    if (!chosen.length) { if (input.required) throw new Error(`${input.name}: choose at least one photo`); return undefined; }
    const name = product.value.trim() || chosen[0].file.files[0].name;
    const created = await post('/api/products', { name });
    const images = [];
    for (const f of chosen) {
      const body = new FormData();
      body.append('view', f.view);
      body.append('image', f.file.files[0]);
      const revision = await post(`/api/products/${seg(created.id)}/images`, body);
      images.push({ view: f.view, revisionId: revision.revisionId });
    }
    return images;
  };
  return {
    name: input.name,
    el: h('fieldset', { class: 'field' }, h('legend', {}, label), help, h('label', { for: id, text: 'Product name' }), product, files.map((f) => f.el)),
    read,
  };
}

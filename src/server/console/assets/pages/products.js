// Products: the caller's, newest first.
import { get, seg } from '../api.js';
import { h, mount, table } from '../dom.js';
import { time } from '../format.js';

export async function render(main) {
  const { products } = await get('/api/products');
  mount(main, h('h1', { text: 'Products' }),
    products.length
      ? table(null, ['Product', 'Description', 'Created'], products.map((p) => [
        h('a', { href: `/products/${seg(p.id)}`, text: p.name }), p.description || '', time(p.createdAt)]))
      : h('p', { class: 'muted', text: 'No products yet: start a tech-pack run with photos from its workflow page.' }));
}

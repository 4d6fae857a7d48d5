// The console's entry: who is signed in, the navigation, and which page a path shows.
// Pages are ES modules loaded when first opened, so a first load fetches only this file and
// what it imports. Links within the console change the page without reloading it.
import { ApiError, del, get } from './api.js';
import { h, mount, notice } from './dom.js';

const PAGES = [
  [/^\/signin$/, 'signin'],
  [/^\/runs$/, 'runs'],
  [/^\/runs\/([^/]+)$/, 'run'],
  [/^\/workflows$/, 'workflows'],
  [/^\/workflows\/([^/]+)$/, 'workflow'],
  [/^\/workflows\/([^/]+)\/edit$/, 'editor'],
  [/^\/products$/, 'products'],
  [/^\/products\/([^/]+)$/, 'product'],
  [/^\/credits$/, 'credits'],
  [/^\/logs$/, 'logs'],
  [/^\/users$/, 'users'],
];

const main = document.getElementById('main');
let session = null; // {user, admin}
let leave = null; // the open page's clean-up (closing its event stream)

export const me = () => session;

export function go(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  show();
}

function nav() {
  const links = session?.admin
    ? [['/workflows', 'Workflows'], ['/users', 'Users']]
    : [['/runs', 'Runs'], ['/workflows', 'Workflows'], ['/products', 'Products'], ['/credits', 'Credits'], ['/logs', 'Logs']];
  mount(document.getElementById('nav'), session ? h('ul', {}, links.map(([href, label]) => h('li', {},
    h('a', { href, 'aria-current': location.pathname.startsWith(href) ? 'page' : null, text: label })))) : null);
  mount(document.getElementById('who'), session
    ? [h('span', { class: 'muted', text: session.admin ? 'admin' : session.user }), ' ',
      h('button', { type: 'button', class: 'link', onclick: signOut, text: 'Sign out' })]
    : null);
}

async function signOut() {
  await del('/api/session').catch(() => {});
  session = null;
  go('/signin');
}

/** Called by the sign-in page. */
export function signedIn(who) {
  session = who;
}

async function show() {
  if (leave) { leave(); leave = null; }
  let path = location.pathname;
  if (path === '/' ) { history.replaceState(null, '', session?.admin ? '/workflows' : '/runs'); path = location.pathname; }
  if (!session && path !== '/signin') {
    try {
      session = await get('/api/session');
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) throw e;
      const next = path === '/' ? '' : `?next=${encodeURIComponent(path + location.search)}`;
      history.replaceState(null, '', `/signin${next}`);
      path = '/signin';
    }
  }
  nav();
  const [pattern, name] = PAGES.find(([re]) => re.test(path)) || [];
  if (!name) {
    mount(main, h('h1', { text: 'Not found' }), h('p', { text: 'No page here.' }));
    return;
  }
  const params = path.match(pattern).slice(1).map(decodeURIComponent);
  mount(main, h('p', { class: 'muted', text: 'Loading…' }));
  try {
    const page = await import(`./pages/${name}.js`);
    leave = (await page.render(main, params, { go, me, signedIn })) || null;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401 && session?.admin) {
      // The admin's session is fine; this page shows a user's things.
      mount(main, h('h1', { text: 'For users' }), notice('info', 'Signed in as the admin, who manages workflows and users. Sign in with a user\'s token to see runs, products and credits.'));
      return;
    }
    if (e instanceof ApiError && e.status === 401) {
      session = null;
      go(`/signin?next=${encodeURIComponent(path)}`, { replace: true });
      return;
    }
    mount(main, h('h1', { text: e instanceof ApiError && e.status === 404 ? 'Not found' : 'Something went wrong' }),
      notice('error', e.message || String(e)));
  }
  nav();
  document.title = `${main.querySelector('h1')?.textContent || 'techpack'} · techpack`;
}

// Links inside the console change the page in place; others (downloads, new tabs) are left
// to the browser.
document.addEventListener('click', (event) => {
  const a = event.target.closest('a[href]');
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || a.hasAttribute('download') || a.target || url.pathname.startsWith('/api/')) return;
  event.preventDefault();
  if (url.pathname + url.search !== location.pathname + location.search) go(url.pathname + url.search);
});
window.addEventListener('popstate', show);
show();

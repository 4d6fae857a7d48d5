// Sign-in: a token in, a session cookie out. The token goes only into the request body; it is
// never put in the URL, in storage or on the page again.
import { ApiError, post } from '../api.js';
import { h, mount, notice } from '../dom.js';

export function render(main, _params, { go, signedIn }) {
  const message = h('div', { 'aria-live': 'polite' });
  const token = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true, spellcheck: 'false' });
  const button = h('button', { type: 'submit', text: 'Sign in' });
  const form = h('form', { class: 'card narrow', onsubmit: async (event) => {
    event.preventDefault();
    button.disabled = true;
    mount(message);
    try {
      const who = await post('/api/session', { token: token.value });
      token.value = '';
      signedIn(who);
      const next = new URLSearchParams(location.search).get('next');
      go(next && next.startsWith('/') && !next.startsWith('//') ? next : (who.admin ? '/workflows' : '/runs'), { replace: true });
    } catch (e) {
      const text = e instanceof ApiError && e.status === 401 ? 'That token is not valid. Check it and try again.' : e.message;
      mount(message, notice('error', text));
      token.focus();
    } finally {
      button.disabled = false;
    }
  } },
  h('h1', { text: 'Sign in' }),
  h('p', { class: 'muted', text: 'Paste your techpack token (from `techpack users create`), or the admin token.' }),
  h('label', { for: 'token', text: 'Token' }), token, message, button);
  mount(main, form);
  token.focus();
}

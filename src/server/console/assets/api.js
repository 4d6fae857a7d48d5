// The public HTTP API, as the console calls it: same-origin requests signed in by the session
// cookie (the browser sends it; no script can read it), errors as `ApiError` with the API's
// stable `code`.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', 'The server cannot be reached. Check that `techpack serve` is running.');
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = text;
  try { data = JSON.parse(text); } catch { /* not JSON */ }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(response.status, error.code || 'error', error.message || `HTTP ${response.status}`);
  }
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body);
export const put = (path, body) => api('PUT', path, body);
export const del = (path) => api('DELETE', path);

/** A path segment from a value (ids are safe already; this keeps them so). */
export const seg = (value) => encodeURIComponent(value);

// The agent desktop's log-in and token, and an api() that keeps the whole error body (message and details)
// so that forms can show every problem next to the fields.
import { logIn, logOut, token } from '../agent/net.js';

export { logIn, logOut, token };

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

/** `api('/queues', {method: 'POST', body})`: JSON in and out under /api/v1; throws ApiError on an error body. */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

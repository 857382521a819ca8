// Talking to tongdai's API: the bearer token kept in sessionStorage (gone when the tab closes).
const TOKEN = 'tongdai.token';

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.errorId = body?.error_id || '';
  }
}

export function token() { return sessionStorage.getItem(TOKEN); }
export function logOut() { sessionStorage.removeItem(TOKEN); }

/** POST /api/v1/auth/token (OAuth2 password form); keeps the token. */
export async function logIn(email, password) {
  const form = new URLSearchParams({ username: email, password });
  const r = await fetch('/api/v1/auth/token', { method: 'POST', body: form });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, body);
  sessionStorage.setItem(TOKEN, body.access_token);
}

/** `api('/routing/agents')`: JSON in and out under /api/v1; throws ApiError on an error body. */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

/** The event stream (/api/v1/events) limited to `types`; `onEvent` gets each parsed event. */
export function events(types, onEvent) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${location.host}/api/v1/events?token=${encodeURIComponent(token())}&types=${types.join(',')}`);
  ws.onmessage = (m) => { try { onEvent(JSON.parse(m.data)); } catch { /* not JSON: ignored */ } };
  return ws;
}

// Talking to tongdai's API, for every screen: the bearer token kept in sessionStorage (shared by the
// screens of a tab, gone when it closes), api() for JSON under /api/v1, and the two live sockets.
const TOKEN = 'tongdai.token';

/** An error body from the API: `message`, the stable `errorId`, and the whole `body` (with `details`). */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.errorId = body?.error_id || '';
    this.body = body || {};
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

/** `api('/queues', {method: 'POST', body})`: JSON in and out under /api/v1; throws ApiError on an error body. */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

function socketUrl(path, query = '') {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/api/v1${path}?token=${encodeURIComponent(token())}${query}`;
}

/** The event stream (/api/v1/events) limited to `types`; `onEvent` gets each parsed event. */
export function events(types, onEvent) {
  const ws = new WebSocket(socketUrl('/events', `&types=${types.join(',')}`));
  ws.onmessage = (m) => { try { onEvent(JSON.parse(m.data)); } catch { /* not JSON: ignored */ } };
  return ws;
}

/** The wallboard socket: `onFrame` gets each snapshot or delta; reconnects (bounded back-off) until closed. */
export function wallboard(onFrame, onStatus) {
  let ws = null;
  let stopped = false;
  let delay = 500;
  const open = () => {
    ws = new WebSocket(socketUrl('/wallboard'));
    ws.onopen = () => { delay = 500; onStatus(true); };
    ws.onmessage = (m) => { try { onFrame(JSON.parse(m.data)); } catch (err) { console.error(err); } };
    ws.onclose = (e) => {
      onStatus(false, e.code);
      if (stopped || e.code === 4401 || e.code === 4403) return;
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  };
  open();
  return { close() { stopped = true; ws?.close(); } };
}

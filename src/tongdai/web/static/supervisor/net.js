// Talking to tongdai's API: the bearer token kept in sessionStorage (shared with the other screens of the tab).
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

/** `api('/queues')`: JSON in and out under /api/v1; throws ApiError on an error body. */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

/** The wallboard socket: `onFrame` gets each snapshot or delta; reconnects (bounded back-off) until closed. */
export function wallboard(onFrame, onStatus) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  let ws = null;
  let stopped = false;
  let delay = 500;
  const open = () => {
    ws = new WebSocket(`${scheme}://${location.host}/api/v1/wallboard?token=${encodeURIComponent(token())}`);
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

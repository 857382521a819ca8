// The supervisor wallboard: a snapshot then deltas from /api/v1/wallboard, timers ticking locally from the
// server's clock, agent state changes through the routing API and skills/queues through the directory API.
import { api, ApiError, logIn, logOut, token, wallboard } from '../shared/net.js';
import { LANGUAGES, language, setLanguage, t } from './strings.js';

const $ = (id) => document.getElementById(id);
const STATES = ['talking', 'ringing', 'wrap_up', 'available', 'not_ready', 'offline'];
const ROLES = new Set(['supervisor', 'tenant_admin', 'provider_admin']);
const board = { queues: new Map(), agents: new Map(), alerts: [], offset: 0 };
let socket = null;

// ---------------------------------------------------------------- helpers

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  for (const c of children) node.append(c);
  return node;
}

function serverNow() { return Date.now() / 1000 + board.offset; }

/** 75 -> "1:15", 3725 -> "1:02:05". */
export function duration(s) {
  s = Math.max(0, Math.floor(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

function role() {
  try { return JSON.parse(atob(token().split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).role; } catch { return ''; }
}

// ---------------------------------------------------------------- frames in

function onFrame(msg) {
  board.offset = msg.server_time - Date.now() / 1000;
  if (msg.type === 'wallboard.snapshot') { board.queues.clear(); board.agents.clear(); }
  for (const q of msg.queues || []) board.queues.set(q.id, q);
  for (const a of msg.agents || []) board.agents.set(a.id, a);
  for (const id of msg.removed_agents || []) board.agents.delete(id);
  for (const id of msg.removed_queues || []) board.queues.delete(id);
  if (msg.alerts) board.alerts = msg.alerts;
  render(msg.type === 'wallboard.snapshot');
}

function render(full) {
  renderAlerts();
  renderQueues(full);
  renderAgents(full);
  tick();
}

// ---------------------------------------------------------------- alerts

function alertText(a) {
  if (a.kind === 'service_level') {
    return t('alert_service_level', { queue: a.queue, sl: a.service_level_pct.toFixed(1), target: a.target_pct });
  }
  return t('alert_waiting', { queue: a.queue, wait: duration(a.longest_wait_s), threshold: a.threshold_s });
}

function renderAlerts() {
  const list = $('alert-list');
  const texts = board.alerts.map(alertText);
  if (list.dataset.texts === JSON.stringify(texts)) return; // unchanged: no re-announcement
  list.dataset.texts = JSON.stringify(texts);
  list.replaceChildren(...texts.map((text) => el('li', { textContent: text })));
}

// ---------------------------------------------------------------- queues

function renderQueues(full) {
  const body = $('queues').tBodies[0];
  if (full) body.replaceChildren();
  const alerting = new Set(board.alerts.map((a) => a.queue));
  for (const q of [...board.queues.values()].sort((a, b) => a.id.localeCompare(b.id))) {
    let row = body.querySelector(`tr[data-id="${CSS.escape(q.id)}"]`);
    if (!row) {
      row = el('tr');
      row.dataset.id = q.id;
      for (const cls of ['name', 'waiting num big', 'longest num timer', 'sl num', 'asa num', 'answered num', 'abandoned num', 'counts-cell']) {
        row.append(el('td', { className: cls }));
      }
      row.cells[0].outerHTML = `<th scope="row" class="name"></th>`;
      body.append(row);
    }
    fillQueue(row, q, alerting.has(q.id));
  }
  for (const row of [...body.rows]) if (!board.queues.has(row.dataset.id)) row.remove();
}

function fillQueue(row, q, alert) {
  const c = row.cells;
  row.classList.toggle('alert', alert);
  c[0].textContent = q.id;
  c[1].textContent = q.waiting;
  c[2].dataset.since = q.oldest_since ?? '';
  const sl = q.service_level_pct;
  c[3].replaceChildren(
    el('span', { className: sl === null ? '' : sl < q.target_pct ? 'sl-bad' : 'sl-ok', textContent: sl === null ? t('none') : `${sl.toFixed(1)} %` }),
    el('br'), el('small', { textContent: t('target', { pct: q.target_pct }) }));
  c[4].textContent = q.asa_s === null ? t('none') : duration(q.asa_s);
  c[5].textContent = q.answered;
  c[6].textContent = q.abandoned;
  const counts = el('div', { className: 'counts' });
  for (const s of STATES) {
    if (q.agents[s]) {
      const badge = el('span', { className: 'badge', textContent: `${t(s)} ${q.agents[s]}` });
      badge.dataset.state = s;
      counts.append(badge);
    }
  }
  c[7].replaceChildren(counts);
}

// ---------------------------------------------------------------- agents

function renderAgents(full) {
  const body = $('agents').tBodies[0];
  if (full) body.replaceChildren();
  const sorted = [...board.agents.values()].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  let previous = null;
  for (const a of sorted) {
    let row = body.querySelector(`tr[data-id="${CSS.escape(a.id)}"]`);
    if (!row) {
      row = agentRow(a);
      if (previous) previous.after(row); else body.prepend(row);
    }
    fillAgent(row, a);
    previous = row;
  }
  for (const row of [...body.rows]) if (!board.agents.has(row.dataset.id)) row.remove();
}

function agentRow(a) {
  const row = el('tr');
  row.dataset.id = a.id;
  row.append(el('th', { scope: 'row', className: 'name' }), el('td', { className: 'state' }),
    el('td', { className: 'num timer in-state' }), el('td', { className: 'call' }), el('td', { className: 'agent-queues' }),
    el('td', {}, actions(a)));
  return row;
}

function actions(a) {
  const box = el('div', { className: 'actions' });
  const select = el('select', { className: 'set-state' });
  select.setAttribute('aria-label', t('change_state', { name: a.name }));
  for (const s of ['available', 'not_ready', 'offline']) select.append(el('option', { value: s, textContent: t(s) }));
  const apply = el('button', { type: 'button', className: 'apply', textContent: t('apply') });
  apply.setAttribute('aria-label', `${t('apply')}: ${a.name}`);
  apply.addEventListener('click', () => setState(a.id, select.value));
  const skills = el('button', { type: 'button', className: 'edit-skills', textContent: t('edit_skills') });
  skills.setAttribute('aria-label', t('skills_of', { name: a.name }));
  skills.addEventListener('click', () => editSkills(a.id));
  box.append(select, apply, skills);
  for (const k of ['listen', 'whisper', 'barge']) {  // enabled while the agent is on a call
    const button = el('button', { type: 'button', disabled: true, className: 'monitor', textContent: t(k),
                                  title: t('monitor_note') });
    button.dataset.mode = k;
    button.setAttribute('aria-label', `${t(k)}: ${a.name}`);
    button.addEventListener('click', () => monitor(a.id, k));
    box.append(button);
  }
  return box;
}

function fillAgent(row, a) {
  const [name, state, timer, call, queues] = row.cells;
  name.textContent = `${a.name} (${a.extension})`;
  if (state.dataset.state !== a.state) {
    const badge = el('span', { className: 'badge', textContent: t(a.state) });
    badge.dataset.state = a.state;
    state.replaceChildren(badge);
    state.dataset.state = a.state;
    row.classList.remove('flash'); void row.offsetWidth; row.classList.add('flash');
  }
  timer.dataset.since = a.since;
  call.textContent = a.call ? t('call_from', { caller: a.call.caller || t('none'), queue: a.call.queue || '' }) : '';
  queues.textContent = a.queues.join(', ');
  const onCall = Boolean(a.call && a.call.call_id);
  for (const button of row.querySelectorAll('button.monitor')) button.disabled = !onCall;
  // the call listened to is over: nothing is monitored any more
  if (!onCall && row.querySelector('button.monitor[aria-pressed="true"]')) monitoring(null, null);
  const select = row.querySelector('select.set-state');
  if (document.activeElement !== select && ['available', 'not_ready', 'offline'].includes(a.activity)) select.value = a.activity;
}

// ---------------------------------------------------------------- timers

function tick() {
  const now = serverNow();
  for (const cell of document.querySelectorAll('td.timer')) {
    const since = parseFloat(cell.dataset.since);
    cell.textContent = Number.isFinite(since) ? duration(now - since) : t('none');
  }
}

// ---------------------------------------------------------------- actions

async function setState(agentId, activity) {
  $('action-error').textContent = '';
  try {
    await api('/routing/agents/activity', { method: 'POST', body: { agent_id: agentId, activity } });
  } catch (err) {
    $('action-error').textContent = t('failed', { error: err.message });
  }
}

/** Ring the supervisor's phone into the agent's call: listen, whisper (to the agent) or barge. Pressed
 *  again while that phone is in the call, another mode switches it without a new call. */
async function monitor(agentId, mode) {
  $('action-error').textContent = '';
  const agent = board.agents.get(agentId);
  const extension = $('my-phone').value.trim();
  if (!extension) { $('action-error').textContent = t('my_phone_needed'); $('my-phone').focus(); return; }
  localStorage.setItem('tongdai.supervisor.phone', extension);
  try {
    await api(`/calls/${encodeURIComponent(agent.call.call_id)}/monitor`, { method: 'POST', body: { extension, mode } });
    monitoring(agentId, mode);
    $('monitor-status').textContent = t('monitoring', { extension, name: agent.name, mode: t(mode) });
  } catch (err) {
    $('action-error').textContent = t('failed', { error: err.message });
  }
}

/** Which monitor button is in effect: pressed in the agent's row, released everywhere else. */
function monitoring(agentId, mode) {
  for (const button of document.querySelectorAll('#agents button.monitor')) {
    const on = agentId !== null && button.closest('tr').dataset.id === agentId && button.dataset.mode === mode;
    button.setAttribute('aria-pressed', String(on));
  }
  if (agentId === null) $('monitor-status').textContent = '';
}

async function editSkills(agentId) {
  const [agent, skills, queues] = await Promise.all([
    api(`/agents/${agentId}`), api('/skills?limit=200'), api('/queues?limit=200')]);
  const dialog = $('skills-dialog');
  $('skills-title').textContent = t('skills_of', { name: agent.name });
  $('skills-error').textContent = '';
  const names = [...new Set([...skills.items.map((s) => s.name), ...Object.keys(agent.skills)])].sort();
  $('skills-fields').replaceChildren(...names.map((n) => el('label', {},
    el('span', { textContent: n }),
    el('input', { type: 'number', min: 1, max: 10, name: `skill:${n}`, value: agent.skills[n] ?? '' }))));
  $('queue-fields').replaceChildren(...queues.items.map((q) => el('label', { className: 'check' },
    el('input', { type: 'checkbox', name: `queue:${q.name}`, checked: agent.queues.includes(q.name) }),
    el('span', { textContent: q.name }))));
  dialog.dataset.agent = agentId;
  dialog.showModal();
}

async function saveSkills(event) {
  event.preventDefault();
  const dialog = $('skills-dialog');
  const form = $('skills-form');
  const skills = {};
  const queues = [];
  for (const input of form.querySelectorAll('input')) {
    const [kind, name] = input.name.split(/:(.*)/s);
    if (kind === 'skill' && input.value !== '') skills[name] = Number(input.value);
    if (kind === 'queue' && input.checked) queues.push(name);
  }
  try {
    await api(`/agents/${dialog.dataset.agent}`, { method: 'PATCH', body: { skills, queues } });
    dialog.close();
  } catch (err) {
    $('skills-error').textContent = t('failed', { error: err.message });
  }
}

// ---------------------------------------------------------------- log-in and start

function showBoard() {
  $('login').hidden = true;
  $('board').hidden = false;
  $('logout').hidden = false;
  socket?.close();
  socket = wallboard(onFrame, (live, code) => {
    $('live').dataset.live = live ? 'on' : 'off';
    $('live').textContent = live ? t('live') : t('reconnecting');
    if (code === 4401) { logOut(); location.reload(); }
  });
}

function start() {
  const picker = $('lang');
  for (const [code, name] of Object.entries(LANGUAGES)) picker.append(el('option', { value: code, textContent: name }));
  picker.value = language();
  setLanguage(language());
  picker.addEventListener('change', () => {
    setLanguage(picker.value);
    if (!$("board").hidden) { $("alert-list").dataset.texts = ""; render(true); }
  });
  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('login-error').textContent = '';
    try {
      await logIn($('email').value, $('password').value);
      if (!ROLES.has(role())) { logOut(); $('login-error').textContent = t('not_allowed'); return; }
      showBoard();
    } catch (err) {
      $('login-error').textContent = t('login_failed', { error: err instanceof ApiError ? err.message : String(err) });
    }
  });
  $('logout').addEventListener('click', () => { socket?.close(); logOut(); location.reload(); });
  $('skills-form').addEventListener('submit', saveSkills);
  $('skills-cancel').addEventListener('click', () => $('skills-dialog').close());
  setInterval(tick, 1000);
  if (token() && ROLES.has(role())) showBoard();
}

start();

{ const phone = document.getElementById('my-phone'); if (phone) phone.value = localStorage.getItem('tongdai.supervisor.phone') || ''; }

// The agent desktop: log in, state with a timer, the browser softphone, the screen pop and wrap-up.
import { api, events, logIn, logOut, token } from '../shared/net.js';
import { Softphone } from './phone.js';
import { LANGUAGES, lang, setLang, t, translate } from './strings.js';
import { Ringer } from './ringer.js';

const $ = (id) => document.getElementById(id);
const phone = new Softphone();
const ringer = new Ringer();
window.tongdaiPhone = phone; // for the end-to-end test's getStats and for troubleshooting from the console

const desk = {
  me: null,               // GET /api/v1/softphone
  activity: 'offline',    // the routing engine's activity of this agent
  tasks: [],              // its routing tasks (the call in wrap-up stays here until Done)
  since: Date.now(),      // when the shown state began
  shown: '',
  call: null,             // {number, started, answered}
  wrapping: null,         // the call being wrapped up
  poll: null,
};

// --- helpers ---
function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  return `${hh ? `${hh}:` : ''}${String(mm).padStart(hh ? 2 : 1, '0')}:${String(ss).padStart(2, '0')}`;
}

function show(id, visible) { $(id).hidden = !visible; }

function fill(select, options, keep) {
  select.replaceChildren(...options.map(([value, label]) => new Option(label, value)));
  if (keep && options.some(([v]) => v === keep)) select.value = keep;
}

function message(text) { $('phone-message').textContent = text; }

// --- state ---
function shownState() {
  if (desk.call) return 'on_call';
  if (desk.wrapping) return 'wrap_up';
  return desk.activity;
}

function renderState() {
  const state = shownState();
  if (state !== desk.shown) { desk.shown = state; desk.since = Date.now(); }
  $('state').dataset.state = state;
  $('state').textContent = t(state);
  $('state-reason').textContent = state === 'not_ready' ? (localStorage.getItem('tongdai.reason.label') || '') : '';
  $('state-timer').textContent = t('since', { time: clock(Date.now() - desk.since) });
  if (desk.call && desk.call.answered) $('call-timer').textContent = clock(Date.now() - desk.call.answered);
}

async function refreshState() {
  try {
    const mine = (await api('/routing/agents')).find((a) => a.worker_id === desk.me.agent_id);
    if (mine) { desk.activity = mine.activity; desk.tasks = mine.tasks; }
  } catch (err) { message(String(err.message || err)); }
  renderState();
}

async function setActivity(activity) {
  await api('/routing/agents/activity', { method: 'POST', body: { agent_id: desk.me.agent_id, activity } });
  await refreshState();
}

async function goNotReady() {
  const select = $('reason');
  localStorage.setItem('tongdai.reason', select.value);
  localStorage.setItem('tongdai.reason.label', select.selectedOptions[0]?.textContent || '');
  await setActivity('not_ready');
}

// --- the phone ---
function registration(status) {
  const el = $('registration');
  el.dataset.status = status;
  if (status.startsWith('failed')) {
    delete el.dataset.i18n; // the cause stays as the browser phone said it
    el.textContent = `${t('unregistered')} (${status})`;
  } else {
    el.dataset.i18n = status; // follows a change of language
    el.textContent = t(status);
  }
}

async function devices() {
  const { mics, speakers } = await Softphone.devices();
  const label = (d, i) => d.label || `${t('default_device')} ${i + 1}`;
  fill($('mic'), [['', t('default_device')], ...mics.map((d, i) => [d.deviceId, label(d, i)])], localStorage.getItem('tongdai.mic'));
  fill($('speaker'), [['', t('default_device')], ...speakers.map((d, i) => [d.deviceId, label(d, i)])], localStorage.getItem('tongdai.speaker'));
  phone.micId = $('mic').value;
  await phone.setSpeaker($('speaker').value);
}

function incoming(info) {
  desk.call = { number: info.number, started: Date.now(), answered: 0, incoming: true, customerId: '' };
  $('incoming-number').textContent = info.number;
  show('incoming', true);
  show('in-call', false);
  ringer.start();
  screenPop(info.number);
  renderState();
  $('answer').focus();
}

function answered(info) {
  ringer.stop();
  if (!desk.call) desk.call = { number: info.number, started: Date.now(), incoming: false };
  desk.call.answered = Date.now();
  show('incoming', false);
  show('in-call', true);
  $('call-with').textContent = t('in_call_with', { number: desk.call.number });
  message('');
  renderState();
  $('hangup').focus();
}

function ended(info) {
  ringer.stop();
  const call = desk.call || { number: info.number, started: Date.now(), answered: 0 };
  desk.call = null;
  show('incoming', false);
  show('in-call', false);
  setPressed('mute', false, 'mute', 'unmute');
  setPressed('hold', false, 'hold', 'resume');
  show('held', false);
  message(t('call_ended'));
  call.ended = Date.now();
  if (call.answered) startWrapUp(call);
  else addHistory(call, '');
  refreshState();
}

function setPressed(id, on, offKey, onKey) {
  $(id).setAttribute('aria-pressed', String(on));
  $(id).textContent = t(on ? onKey : offKey);
  $(id).dataset.i18n = on ? onKey : offKey;
}

function keypad() {
  const keys = '123456789*0#'.split('').map((k) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = k;
    b.setAttribute('aria-label', `${t('keypad')} ${k}`);
    b.addEventListener('click', () => phone.dtmf(k));
    return b;
  });
  $('keys').replaceChildren(...keys);
}

// --- screen pop (the CRM lookup answers when the CRM is there; without it the number alone) ---
function listItems(id, items) {
  $(id).replaceChildren(...(items.length ? items : [t('none')]).map((text) => {
    const li = document.createElement('li');
    li.textContent = text;
    return li;
  }));
}

async function screenPop(number) {
  show('pop', true);
  $('pop-number').textContent = number;
  $('pop-name').textContent = t('unknown_caller');
  $('pop-vip').textContent = '';
  $('pop-error').textContent = '';
  listItems('pop-cases', []);
  listItems('pop-recent', []);
  try {
    const found = await api(`/customers/lookup?phone=${encodeURIComponent(number)}`);
    const who = found.customer || found.external;
    if (who) $('pop-name').textContent = who.name;
    if (desk.call && found.customer) desk.call.customerId = found.customer.id;
    $('pop-vip').textContent = found.vip_tier || '';
    $('pop-vip').className = found.vip_tier ? 'vip' : '';
    listItems('pop-cases', (found.open_cases || []).map((c) => `${c.subject} (${c.status}, ${c.priority})`));
    listItems('pop-recent', (found.recent_interactions || []).map((i) =>
      `${new Date(i.started_at).toLocaleString(lang())} · ${i.queue || i.channel} · ${i.agent || ''}`));
  } catch (err) {
    $('pop-error').textContent = t('crm_unavailable');
  }
}

// --- wrap-up ---
function startWrapUp(call) {
  desk.wrapping = call;
  show('wrapup', true);
  renderState();
  $('disposition').focus();
}

async function finishWrapUp(event) {
  event.preventDefault();
  const call = desk.wrapping;
  if (!call) return;
  const disposition = $('disposition').value;
  const notes = $('notes').value;
  await refreshState();
  for (const taskId of desk.tasks) {
    try {
      await api('/routing/tasks/wrap-up-done', { method: 'POST', body: { task_id: taskId } });
    } catch (err) { if (err.status !== 409) message(String(err.message)); } // 409: its wrap-up time already ended
    if (call.customerId) await recordDisposition(call.customerId, taskId, disposition, notes);
  }
  addHistory(call, $('disposition').selectedOptions[0]?.textContent || disposition);
  desk.wrapping = null;
  $('notes').value = '';
  show('wrapup', false);
  await refreshState();
}

/** The disposition and notes go on the call's interaction in the customer's timeline (the CRM writes
 *  it when the call ends: looked for a few times). Without a CRM they stay in the agent's own history. */
async function recordDisposition(customerId, callId, disposition, notes) {
  for (let attempt = 0; attempt < 5; attempt += 1) {
    try {
      const page = await api(`/customers/${encodeURIComponent(customerId)}/timeline?limit=20`);
      const item = (page.items || []).find((i) => i.call_id === callId);
      if (item) {
        await api(`/interactions/${item.id}`, { method: 'PATCH', body: { disposition, notes: notes || undefined } });
        return true;
      }
    } catch { return false; }
    await new Promise((done) => setTimeout(done, 400));
  }
  return false;
}

function addHistory(call, disposition) {
  const li = document.createElement('li');
  const talk = call.answered ? t('talk', { time: clock((call.ended || Date.now()) - call.answered) }) : t('call_ended');
  li.textContent = `${new Date(call.started).toLocaleTimeString(lang())} · ${call.number} · ${talk}${disposition ? ` · ${disposition}` : ''}`;
  $('history').prepend(li);
}

// --- wiring ---
function bindPhone() {
  phone.on('registration', registration);
  phone.on('incoming', incoming);
  phone.on('progress', (info) => { if (!info.incoming) message(t('calling')); });
  phone.on('answered', answered);
  phone.on('ended', ended);
  phone.on('hold', (on) => { setPressed('hold', on, 'hold', 'resume'); show('held', on); });
  phone.on('consult-answered', () => { show('complete', true); show('cancel-consult', true); });
  phone.on('consult-ended', () => { show('complete', false); show('cancel-consult', false); });
  phone.on('error', message);
  $('answer').addEventListener('click', () => phone.answer());
  $('decline').addEventListener('click', () => phone.hangUp());
  $('hangup').addEventListener('click', () => phone.hangUp());
  $('mute').addEventListener('click', () => setPressed('mute', phone.toggleMute(), 'mute', 'unmute'));
  $('hold').addEventListener('click', () => phone.toggleHold());
  $('dial-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const number = $('dial').value.trim();
    if (!number) return;
    desk.call = { number, started: Date.now(), answered: 0, incoming: false };
    screenPop(number);
    phone.call(number);
  });
  $('transfer-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const target = $('transfer-target').value.trim();
    if (!target) return;
    phone.transfer(target);
    message(t('transferred', { target }));
  });
  $('consult').addEventListener('click', () => {
    const target = $('transfer-target').value.trim();
    if (target) phone.startConsult(target);
  });
  $('complete').addEventListener('click', () => phone.completeConsult());
  $('cancel-consult').addEventListener('click', () => phone.cancelConsult());
  $('mic').addEventListener('change', () => { phone.micId = $('mic').value; localStorage.setItem('tongdai.mic', phone.micId); });
  $('speaker').addEventListener('change', () => { localStorage.setItem('tongdai.speaker', $('speaker').value); phone.setSpeaker($('speaker').value); });
}

function bindState() {
  $('go-available').addEventListener('click', () => setActivity('available').catch((e) => message(e.message)));
  $('go-not-ready').addEventListener('click', () => goNotReady().catch((e) => message(e.message)));
  $('go-offline').addEventListener('click', () => setActivity('offline').catch((e) => message(e.message)));
  $('wrapup-form').addEventListener('submit', (e) => finishWrapUp(e).catch((err) => message(err.message)));
}

async function loadReasons() {
  let codes = [];
  try { codes = (await api('/reason-codes?limit=200')).items || []; } catch { /* shown without reasons */ }
  const of = (kind) => codes.filter((c) => c.kind === kind).map((c) => [c.code, c.label]);
  fill($('reason'), of('not_ready'), localStorage.getItem('tongdai.reason'));
  fill($('disposition'), [['', t('pick_disposition')], ...of('wrap_up')]);
  $('disposition').options[0].disabled = true;
}

async function enterDesk() {
  try {
    desk.me = await api('/softphone');
  } catch (err) {
    if (err.status === 401) { logOut(); return showLogin(); }
    $('login-error').textContent = t('no_softphone');
    return showLogin();
  }
  show('login', false);
  show('desk', true);
  show('logout', true);
  $('who').hidden = false;
  $('who').textContent = `${desk.me.name} · ${desk.me.extension}`;
  await loadReasons();
  await devices().catch((e) => message(String(e)));
  phone.start(desk.me);
  await refreshState();
  events(['agent.activity_changed'], () => refreshState());
  desk.poll = setInterval(() => { renderState(); }, 1000);
  setInterval(refreshState, 5000);
}

function showLogin() {
  show('login', true);
  show('desk', false);
  $('email').focus();
}

function languages() {
  fill($('lang'), Object.entries(LANGUAGES), lang());
  $('lang').addEventListener('change', () => {
    setLang($('lang').value);
    translate();
    keypad();
    renderState();
    if (desk.me) { loadReasons(); devices().catch((e) => message(String(e))); }
  });
  setLang(lang());
  translate();
}

async function main() {
  languages();
  keypad();
  bindPhone();
  bindState();
  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('login-error').textContent = '';
    try {
      await logIn($('email').value, $('password').value);
      await enterDesk();
    } catch (err) { $('login-error').textContent = t('login_failed', { error: err.message }); }
  });
  $('logout').addEventListener('click', async () => {
    try { if (desk.me) await setActivity('offline'); } catch { /* logged out anyway */ }
    phone.stop();
    logOut();
    location.reload();
  });
  if (token()) await enterDesk(); else showLogin();
}

main();

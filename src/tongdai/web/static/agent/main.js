// The agent desktop: log in, state with a timer, the browser softphone, the screen pop (with what the call
// flow learnt, the customer's cases), work during the call (cases, notes, recording) and wrap-up.
import { api, events, logIn, logOut, token } from '../shared/net.js';
import { Softphone } from './phone.js';
import { DeskPhone } from './deskphone.js';
import { LANGUAGES, lang, setLang, t, translate } from './strings.js';
import { Ringer } from './ringer.js';
import { initConference } from './conference.js';
import { initCallbacks } from './callbacks.js';

const $ = (id) => document.getElementById(id);
// where the agent answers: this browser (the WebRTC softphone) or a desk SIP phone (the desktop follows
// its calls on the event stream); a change of choice reloads the page
const PHONE_MODE = 'tongdai.phone';
const phone = localStorage.getItem(PHONE_MODE) === 'desk' ? new DeskPhone() : new Softphone();
const ringer = new Ringer();
window.tongdaiPhone = phone; // for the end-to-end test's getStats and for troubleshooting from the console

const desk = {
  me: null,               // GET /api/v1/softphone
  activity: 'offline',    // the routing engine's activity of this agent
  tasks: [],              // its routing tasks (the call in wrap-up stays here until Done)
  since: Date.now(),      // when the shown state began
  shown: '',
  call: null,             // {number, started, answered, pop: the INVITE's X-Tongdai-* facts, customerId, caseId}
  wrapping: null,         // the call being wrapped up
  poll: null,
  recording: null,        // {policy, state} of the call's recording as last shown
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
  const pop = info.pop || {};
  desk.call = { number: info.number, started: Date.now(), answered: 0, incoming: true,
    customerId: pop.customerId || '', pop, caseId: '' };
  $('incoming-number').textContent = info.number;
  $('incoming-queue').textContent = pop.queue || '';
  $('incoming-ivr').textContent = pop.ivrPath || t('none');
  $('incoming-digits').textContent = digitsText(pop.digits);
  show('incoming-facts', Boolean(pop.queue));
  show('incoming', true);
  show('in-call', false);
  if (!phone.desk) ringer.start(); // a desk phone rings on its own
  screenPop(info.number, pop);
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
  show('call-notes-label', true);
  renderState();
  $('hangup').focus();
  startRecordingControls(desk.call);
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
  call.notes = $('call-notes').value;
  show('recording', false);
  desk.recording = null;
  show('call-notes-label', false);
  show('case-form', false);
  show('customer-form', false);
  $('call-notes').value = '';
  if (call.answered) startWrapUp(call);
  else loadHistory();
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
  $(id).replaceChildren(...(items.length ? items : [t('none')]).map((item) => {
    if (item instanceof Node) return item;
    const li = document.createElement('li');
    li.textContent = item;
    return li;
  }));
}

function digitsText(digits) {
  return (digits || []).map(([name, value]) => `${name} = ${value}`).join(', ') || t('none');
}

function popMessage(text) { $('pop-message').textContent = text; }

async function screenPop(number, pop = {}) {
  show('pop', true);
  $('pop').dataset.callId = pop.callId || ''; // the id the calls API takes (recording), for troubleshooting too
  $('pop-number').textContent = number;
  $('pop-name').textContent = t('unknown_caller');
  $('pop-vip').textContent = '';
  $('pop-queue').textContent = pop.queue || '';
  $('pop-ivr').textContent = pop.ivrPath || t('none');
  $('pop-digits').textContent = digitsText(pop.digits);
  $('pop-error').textContent = '';
  popMessage('');
  listItems('pop-cases', []);
  listItems('pop-solved', []);
  listItems('pop-recent', []);
  await lookUp(number);
}

/** The customer of `number`, their open and solved cases and recent interactions, from the CRM. */
async function lookUp(number) {
  try {
    const found = await api(`/customers/lookup?phone=${encodeURIComponent(number)}`);
    const who = found.customer || found.external;
    $('pop-name').textContent = who ? who.name : t('unknown_caller');
    if (desk.call && found.customer) desk.call.customerId = found.customer.id;
    $('pop-vip').textContent = found.vip_tier || '';
    $('pop-vip').className = found.vip_tier ? 'vip' : '';
    listItems('pop-cases', (found.open_cases || []).map(caseItem));
    listItems('pop-solved', (found.solved_cases || []).map(caseItem));
    listItems('pop-recent', (found.recent_interactions || []).map((i) =>
      `${new Date(i.started_at).toLocaleString(lang())} · ${i.queue || i.channel} · ${i.agent || ''}`));
    const onCall = Boolean(desk.call);
    show('customer-form', onCall && !found.customer);
    show('case-form', onCall && Boolean(found.customer));
  } catch (err) {
    $('pop-error').textContent = t('crm_unavailable');
  }
}

/** A case with its status and a comment to change them (PATCH /cases/{id}). */
function caseItem(c) {
  const li = document.createElement('li');
  li.dataset.caseId = c.id;
  const text = document.createElement('span');
  text.className = 'case-text';
  text.textContent = `${c.subject} (${t(`status_${c.status}`)}, ${t(`priority_${c.priority}`)})`;
  const form = document.createElement('form');
  form.className = 'row case-update';
  const status = document.createElement('select');
  status.className = 'case-status';
  status.setAttribute('aria-label', t('case_status', { subject: c.subject }));
  fill(status, ['open', 'pending', 'solved'].map((v) => [v, t(`status_${v}`)]), c.status);
  const comment = document.createElement('input');
  comment.className = 'case-comment';
  comment.maxLength = 10000;
  comment.setAttribute('aria-label', t('case_comment', { subject: c.subject }));
  const button = document.createElement('button');
  button.type = 'submit';
  button.textContent = t('update_case');
  form.append(status, comment, button);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    updateCase(c, status.value, comment.value.trim()).catch((err) => popMessage(t('crm_failed', { error: err.message })));
  });
  li.append(text, form);
  return li;
}

async function updateCase(c, status, comment) {
  const body = { comment };
  if (status !== c.status) body.status = status;
  await api(`/cases/${encodeURIComponent(c.id)}`, { method: 'PATCH', body });
  popMessage(t('case_updated', { subject: c.subject }));
  await lookUp($('pop-number').textContent);
  // the lists were drawn again: the keyboard stays on this case (now perhaps among the solved ones)
  document.querySelector(`li[data-case-id="${CSS.escape(c.id)}"] select`)?.focus();
}

/** Open a case for the customer on the call (linked to the call's interaction at wrap-up). */
async function openCase(event) {
  event.preventDefault();
  const call = desk.call;
  const subject = $('case-subject').value.trim();
  if (!call || !call.customerId || !subject) return;
  const callId = call.pop && call.pop.callId;
  const created = await api('/cases', { method: 'POST', body: {
    customer_id: call.customerId, subject, priority: $('case-priority').value, owner_agent_id: desk.me.agent_id,
    description: callId ? `call ${callId}` : '' } });
  call.caseId ||= created.id;
  $('case-subject').value = '';
  popMessage(t('case_opened', { subject }));
  await lookUp(call.number);
}

/** A caller nobody knows: a customer with this name and the caller's number. */
async function addCustomer(event) {
  event.preventDefault();
  const call = desk.call;
  const name = $('customer-name').value.trim();
  if (!call || !name) return;
  const created = await api('/customers', { method: 'POST', body: { name, phones: [call.number] } });
  call.customerId = created.id;
  $('customer-name').value = '';
  popMessage(t('customer_added', { name }));
  await lookUp(call.number);
  $('case-subject').focus();
}

// --- recording, as the queue's policy allows (POST /calls/{id}/recording) ---
function renderRecording(policy, state) {
  desk.recording = { policy, state };
  const el = $('rec-state');
  el.dataset.recState = state;
  el.dataset.state = { recording: 'on_call', paused: 'not_ready' }[state] || 'offline';
  el.textContent = t(`rec_${state}`);
  const onDemand = policy === 'on_demand';
  show('rec-start', onDemand && state === 'stopped');
  show('rec-stop', onDemand && state !== 'stopped');
  show('rec-pause', state === 'recording');
  show('rec-resume', state === 'paused');
}

async function startRecordingControls(call) {
  const pop = call.pop || {};
  if (!pop.callId || pop.recording === 'never') return;
  // the call is joined (and an `always` recording started) just after the agent's answer: asked a few times
  for (let attempt = 0; attempt < 10 && desk.call === call; attempt += 1) {
    try {
      const now = await api(`/calls/${encodeURIComponent(pop.callId)}/recording`);
      call.recording = now.policy;
      renderRecording(now.policy, now.state);
      show('recording', true);
      return;
    } catch (err) {
      if (err.status === 403) return; // not this agent's to control (e.g. a call transferred to them)
      if (err.status !== 404) { message(t('rec_failed', { error: err.message })); return; }
    }
    await new Promise((done) => setTimeout(done, 300));
  }
}

async function recordingAction(action) {
  const call = desk.call;
  if (!call || !call.pop || !call.pop.callId) return;
  try {
    const now = await api(`/calls/${encodeURIComponent(call.pop.callId)}/recording`, { method: 'POST', body: { action } });
    renderRecording(call.recording, now.state);
  } catch (err) { message(t('rec_failed', { error: err.message })); }
}

// --- wrap-up ---
function startWrapUp(call) {
  desk.wrapping = call;
  $('notes').value = call.notes || '';
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
  }
  const callId = (call.pop && call.pop.callId) || desk.tasks[0];
  if (callId) keepDisposition(callId, $('disposition').selectedOptions[0]?.textContent || disposition);
  if (call.customerId && callId) await recordDisposition(call.customerId, callId, disposition, notes, call.caseId);
  desk.wrapping = null;
  $('notes').value = '';
  show('wrapup', false);
  await refreshState();
  await loadHistory(callId);
}

/** The disposition and notes (and the case opened during the call) go on the call's interaction in the
 *  customer's timeline (the CRM writes it when the call ends: looked for a few times). */
async function recordDisposition(customerId, callId, disposition, notes, caseId) {
  for (let attempt = 0; attempt < 5; attempt += 1) {
    try {
      const page = await api(`/customers/${encodeURIComponent(customerId)}/timeline?limit=20`);
      const item = (page.items || []).find((i) => i.call_id === callId);
      if (item) {
        await api(`/interactions/${item.id}`, { method: 'PATCH', body: {
          disposition, notes: notes || undefined, customer_id: customerId, case_id: caseId || undefined } });
        return true;
      }
    } catch { return false; }
    await new Promise((done) => setTimeout(done, 400));
  }
  return false;
}

// --- the agent's own calls today, from the server's call records ---
const DISPOSITIONS = 'tongdai.dispositions';

/** The wrap-up disposition the agent gave a call, shown with its record (the last 100 kept in the browser). */
function keepDisposition(callId, label) {
  const kept = JSON.parse(localStorage.getItem(DISPOSITIONS) || '[]').filter(([id]) => id !== callId);
  kept.push([callId, label]);
  localStorage.setItem(DISPOSITIONS, JSON.stringify(kept.slice(-100)));
}

function historyItem(r, wrapped) {
  const li = document.createElement('li');
  li.dataset.callId = r.call_id;
  const party = r.agent === desk.me.extension ? r.caller : r.callee;
  const talk = r.answered_at ? t('talk', { time: clock(r.talk_s * 1000) }) : t('call_ended');
  li.textContent = [new Date(r.started_at).toLocaleTimeString(lang()), party, r.queue, talk,
    t(`cdr_${r.disposition}`), wrapped.get(r.call_id)].filter(Boolean).join(' · ');
  return li;
}

/** GET /call-records?agent=me since midnight; when `expect` names a call, asked again until it is there
 *  (its record is written as the call ends). */
async function loadHistory(expect = '') {
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  for (let attempt = 0; attempt < 8; attempt += 1) {
    try {
      const page = await api(`/call-records?agent=me&limit=50&since=${encodeURIComponent(midnight.toISOString())}`);
      const wrapped = new Map(JSON.parse(localStorage.getItem(DISPOSITIONS) || '[]'));
      $('history').replaceChildren(...page.items.map((r) => historyItem(r, wrapped)));
      $('history-error').textContent = '';
      if (!expect || page.items.some((r) => r.call_id === expect)) return;
    } catch (err) {
      $('history-error').textContent = t('history_unavailable');
      return;
    }
    await new Promise((done) => setTimeout(done, 500));
  }
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
    if (!target || phone.desk) return; // a desk phone transfers with its own keys
    phone.transfer(target);
    message(t('transferred', { target }));
  });
  $('consult').addEventListener('click', () => {
    const target = $('transfer-target').value.trim();
    if (target) phone.startConsult(target);
  });
  $('complete').addEventListener('click', () => phone.completeConsult());
  $('cancel-consult').addEventListener('click', () => phone.cancelConsult());
  $('phone-mode').addEventListener('change', () => {
    localStorage.setItem(PHONE_MODE, $('phone-mode').value);
    phone.stop();
    location.reload();
  });
  $('mic').addEventListener('change', () => { phone.micId = $('mic').value; localStorage.setItem('tongdai.mic', phone.micId); });
  $('speaker').addEventListener('change', () => { localStorage.setItem('tongdai.speaker', $('speaker').value); phone.setSpeaker($('speaker').value); });
}

function bindState() {
  $('go-available').addEventListener('click', () => setActivity('available').catch((e) => message(e.message)));
  $('go-not-ready').addEventListener('click', () => goNotReady().catch((e) => message(e.message)));
  $('go-offline').addEventListener('click', () => setActivity('offline').catch((e) => message(e.message)));
  $('wrapup-form').addEventListener('submit', (e) => finishWrapUp(e).catch((err) => message(err.message)));
}

function bindCallWork() {
  const failed = (err) => popMessage(t('crm_failed', { error: err.message }));
  $('case-form').addEventListener('submit', (e) => openCase(e).catch(failed));
  $('customer-form').addEventListener('submit', (e) => addCustomer(e).catch(failed));
  for (const action of ['start', 'pause', 'resume', 'stop']) {
    $(`rec-${action}`).addEventListener('click', () => recordingAction(action));
  }
}

function priorities() {
  fill($('case-priority'), ['low', 'normal', 'high', 'urgent'].map((v) => [v, t(`priority_${v}`)]),
    $('case-priority').value || 'normal');
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
  document.body.classList.toggle('desk-phone', Boolean(phone.desk));
  $('phone-mode').value = phone.desk ? 'desk' : 'browser';
  if (!phone.desk) await devices().catch((e) => message(String(e)));
  phone.start(desk.me);
  await refreshState();
  await loadHistory();
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
    priorities();
    renderState();
    if (desk.me) { loadReasons(); if (!phone.desk) devices().catch((e) => message(String(e))); loadHistory(); }
    if (desk.call) lookUp(desk.call.number); // the case lists speak the new language too
    if (desk.recording) renderRecording(desk.recording.policy, desk.recording.state);
    if (desk.call && desk.call.pop) {
      $('pop-ivr').textContent = desk.call.pop.ivrPath || t('none');
      $('pop-digits').textContent = digitsText(desk.call.pop.digits);
    }
  });
  setLang(lang());
  translate();
}

async function main() {
  languages();
  keypad();
  priorities();
  bindPhone();
  bindState();
  bindCallWork();
  initConference({ callId: () => (desk.call && desk.call.pop && desk.call.pop.callId) || desk.tasks[0] });
  initCallbacks({ callerNumber: () => (desk.call || desk.wrapping)?.number || '',
    callQueue: () => (desk.call || desk.wrapping)?.pop?.queue || '' });
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

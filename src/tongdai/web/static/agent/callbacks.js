// The agent desktop's scheduled callbacks: a form that books one (when, the number prefilled with the
// caller's, a note, "call back myself" or "anyone in the queue") and the agent's upcoming callbacks,
// each with Cancel. Talks to /api/v1/callbacks; its words in English, Vietnamese and Chinese.
import { api } from '../shared/net.js';
import { lang } from './strings.js';

const WORDS = {
  en: { title: 'Scheduled callbacks', when: 'When', number: 'Number', note: 'Note for the call', queue: 'Queue',
    who: 'Who calls back', me: 'Me', anyone: 'Anyone in the queue', book: 'Schedule callback',
    upcoming: 'My upcoming callbacks', none: 'No callbacks scheduled', cancel: 'Cancel',
    booked: 'Callback scheduled for {when}', cancelled: 'Callback cancelled', failed: 'Not scheduled: {error}',
    scheduled: 'scheduled', in_progress: 'calling now', done: 'done', failed_status: 'failed',
    attempts: '{n} attempt(s)' },
  vi: { title: 'Lịch gọi lại', when: 'Thời gian', number: 'Số điện thoại', note: 'Ghi chú cho cuộc gọi', queue: 'Hàng đợi',
    who: 'Ai gọi lại', me: 'Tôi', anyone: 'Bất kỳ ai trong hàng đợi', book: 'Đặt lịch gọi lại',
    upcoming: 'Các cuộc gọi lại sắp tới của tôi', none: 'Chưa có lịch gọi lại', cancel: 'Hủy',
    booked: 'Đã đặt lịch gọi lại lúc {when}', cancelled: 'Đã hủy lịch gọi lại', failed: 'Không đặt được: {error}',
    scheduled: 'đã lên lịch', in_progress: 'đang gọi', done: 'đã xong', failed_status: 'thất bại',
    attempts: '{n} lần thử' },
  zh: { title: '预约回电', when: '时间', number: '号码', note: '通话备注', queue: '队列',
    who: '由谁回电', me: '我', anyone: '队列中任何人', book: '预约回电',
    upcoming: '我即将进行的回电', none: '没有预约的回电', cancel: '取消',
    booked: '已预约在 {when} 回电', cancelled: '回电已取消', failed: '未能预约：{error}',
    scheduled: '已预约', in_progress: '正在呼叫', done: '已完成', failed_status: '失败',
    attempts: '尝试 {n} 次' },
};

const $ = (id) => document.getElementById(id);

function say(key, vars = {}) {
  const text = (WORDS[lang()] || WORDS.en)[key] ?? WORDS.en[key];
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ''));
}

/** A datetime-local value for tomorrow at 10:00 in the browser's time. */
function tomorrowAtTen() {
  const d = new Date();
  d.setDate(d.getDate() + 1);
  d.setHours(10, 0, 0, 0);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function translate() {
  document.querySelectorAll('#callbacks [data-cb]').forEach((el) => { el.textContent = say(el.dataset.cb); });
}

function shownTime(iso) {
  return new Date(iso).toLocaleString(lang(), { dateStyle: 'medium', timeStyle: 'short' });
}

async function loadQueues(queueOfCall) {
  let names = [];
  try {
    const me = await api('/softphone');
    names = (await api(`/agents/${encodeURIComponent(me.agent_id)}`)).queues || [];
  } catch { /* not an agent with a phone: every queue the directory shows */ }
  if (!names.length) names = (await api('/queues?limit=200')).items.map((q) => q.name);
  const select = $('cb-queue');
  const keep = select.value || queueOfCall();
  select.replaceChildren(...names.map((n) => new Option(n, n)));
  if (names.includes(keep)) select.value = keep;
}

function row(cb, reload) {
  const li = document.createElement('li');
  li.dataset.id = cb.id;
  li.dataset.status = cb.status;
  const status = say(cb.status === 'failed' ? 'failed_status' : cb.status);
  const who = cb.customer_name ? `${cb.customer_name} (${cb.number})` : cb.number;
  const text = document.createElement('span');
  text.textContent = [shownTime(cb.due_at), who, cb.queue, status, cb.attempts ? say('attempts', { n: cb.attempts }) : '',
    cb.note].filter(Boolean).join(' · ');
  li.append(text);
  if (cb.status === 'scheduled') {
    const cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.textContent = say('cancel');
    cancel.addEventListener('click', async () => {
      try {
        await api(`/callbacks/${encodeURIComponent(cb.id)}`, { method: 'PATCH', body: { status: 'cancelled' } });
        $('cb-message').textContent = say('cancelled');
      } catch (err) { $('cb-message').textContent = say('failed', { error: err.message }); }
      await reload();
    });
    li.append(' ', cancel);
  }
  return li;
}

async function loadList() {
  const list = $('cb-list');
  try {
    const page = await api('/callbacks?mine=true&status=scheduled,in_progress&limit=50');
    list.replaceChildren(...page.items.map((cb) => row(cb, loadList)));
    $('cb-empty').hidden = page.items.length > 0;
  } catch (err) { $('cb-message').textContent = say('failed', { error: err.message }); }
}

async function book(event) {
  event.preventDefault();
  const message = $('cb-message');
  const due = new Date($('cb-when').value); // the browser's time; the API answers in the tenant's zone
  const body = { number: $('cb-number').value.trim(), queue: $('cb-queue').value, note: $('cb-note').value.trim(),
    due_at: Number.isNaN(due.getTime()) ? $('cb-when').value : due.toISOString(),
    assign: $('cb-me').checked ? 'me' : 'queue' };
  try {
    const cb = await api('/callbacks', { method: 'POST', body });
    message.textContent = say('booked', { when: shownTime(cb.due_at) });
    message.dataset.errorId = '';
    $('cb-note').value = '';
    await loadList();
  } catch (err) {
    message.textContent = say('failed', { error: err.message });
    message.dataset.errorId = err.errorId || 'failed';
  }
}

/** Wire the #callbacks section; `callerNumber()` and `callQueue()` answer the current (or last) call's. */
export function initCallbacks({ callerNumber, callQueue }) {
  translate();
  $('cb-when').value = tomorrowAtTen();
  $('lang').addEventListener('change', () => { translate(); if (!$('desk').hidden) loadList(); });
  $('cb-form').addEventListener('submit', book);
  const number = $('cb-number');
  number.addEventListener('input', () => { number.dataset.typed = number.value ? 'yes' : ''; });
  const follow = () => { // the caller's number until the agent types another
    const caller = callerNumber();
    if (caller && !number.dataset.typed && number.value !== caller) number.value = caller;
  };
  const start = () => { loadQueues(callQueue).catch(() => {}); loadList(); };
  new MutationObserver(() => { if (!$('desk').hidden) start(); }).observe($('desk'), { attributes: true,
    attributeFilter: ['hidden'] });
  setInterval(() => { if (!$('desk').hidden) { follow(); } }, 1000);
  setInterval(() => { if (!$('desk').hidden) loadList(); }, 15000);
  if (!$('desk').hidden) start();
}

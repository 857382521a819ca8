// The agent desktop's Conference button: calls the number in "Transfer to" into the current call
// (POST /api/v1/calls/{id}/conference); tongdai moves the call onto its mixer and rings the third party.
import { api } from '../shared/net.js';
import { lang } from './strings.js';

const WORDS = {
  en: { conference: 'Conference', calling: 'Calling {target} into the call…', joined: '{target} joined the call',
    failed: 'Conference not started: {error}', no_call: 'No call to add a party to', no_target: 'Enter a number to call in' },
  vi: { conference: 'Hội nghị', calling: 'Đang gọi {target} vào cuộc gọi…', joined: '{target} đã tham gia cuộc gọi',
    failed: 'Không bắt đầu được hội nghị: {error}', no_call: 'Không có cuộc gọi để thêm người', no_target: 'Nhập số cần gọi thêm' },
  zh: { conference: '会议', calling: '正在呼叫 {target} 加入通话…', joined: '{target} 已加入通话',
    failed: '未能开始会议：{error}', no_call: '没有可添加参与者的通话', no_target: '请输入要加入的号码' },
};

function say(key, vars = {}) {
  const text = (WORDS[lang()] || WORDS.en)[key] ?? WORDS.en[key];
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ''));
}

/** Wire the #conference button; `callId()` answers the id of the call in progress (or nothing). */
export function initConference({ callId }) {
  const button = document.getElementById('conference');
  const status = document.getElementById('phone-message');
  const label = () => { button.textContent = say('conference'); };
  label();
  document.getElementById('lang').addEventListener('change', label);
  button.addEventListener('click', async () => {
    const target = document.getElementById('transfer-target').value.trim();
    const id = callId();
    if (!target || !id) { status.textContent = say(target ? 'no_call' : 'no_target'); return; }
    button.disabled = true;
    status.textContent = say('calling', { target });
    try {
      await api(`/calls/${encodeURIComponent(id)}/conference`, { method: 'POST', body: { target } });
      status.textContent = say('joined', { target });
      button.dataset.state = 'joined';
    } catch (err) {
      status.textContent = say('failed', { error: err.message });
      button.dataset.state = err.errorId || 'failed';
    } finally {
      button.disabled = false;
    }
  });
}

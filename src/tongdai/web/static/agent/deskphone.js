// The desktop of an agent who answers on a desk SIP phone: no browser phone; the screen pop, the
// answered call and its end (wrap-up) come from the event stream (`agent.call` events of this agent),
// with the same facts the browser phone reads from the INVITE. Emits what the Softphone emits
// (`registration`, `incoming`, `answered`, `ended`), so the desktop works the same with either; the
// browser phone's own controls (mute, hold, keypad, transfer) are hidden: the desk phone has its keys.
import { events } from '../shared/net.js';
import { popFrom } from './phone.js';

/** The `X-Tongdai-*` header a field of an `agent.call` event stands for. */
const HEADERS = {
  'X-Tongdai-Call-Id': 'call_id', 'X-Tongdai-Task-Id': 'task_id', 'X-Tongdai-Queue': 'queue',
  'X-Tongdai-Ivr-Path': 'ivr_path', 'X-Tongdai-Digits': 'digits', 'X-Tongdai-Customer-Id': 'customer_id',
  'X-Tongdai-Recording': 'recording',
};

/** What the Softphone tells of an incoming call, from an `agent.call` event. */
function infoOf(e) {
  return { number: e.caller, name: '', incoming: true, pop: popFrom((h) => String(e[HEADERS[h]] ?? '')) };
}

export class DeskPhone {
  constructor() {
    this.handlers = {};
    this.socket = null;
    this.call = null;  // {info, answered} of the call this agent's phone rings or talks on
    this.desk = true;
  }

  on(name, fn) { this.handlers[name] = fn; }
  emit(name, ...args) { if (this.handlers[name]) this.handlers[name](...args); }

  /** Follow the calls of `me` (GET /api/v1/softphone) on the event stream. */
  start(me) {
    this.me = me;
    this.emit('registration', 'desk_phone');
    this.socket = events(['agent.call'], (e) => this._event(e));
    this.socket.addEventListener('open', () => this.emit('registration', 'desk_phone'));
    this.socket.addEventListener('close', () => this.emit('registration', 'disconnected'));
  }

  stop() {
    if (this.socket) this.socket.close();
    this.socket = null;
  }

  _event(e) {
    if (e.type !== 'agent.call' || !(e.user_ids || []).includes(this.me.user_id)) return;
    const current = this.call && this.call.info.pop.callId === e.call_id ? this.call : null;
    if (e.phase === 'offered') {
      this.call = { info: infoOf(e), answered: false };
      this.emit('incoming', this.call.info);
    } else if (e.phase === 'answered') {
      let call = current;
      if (!call) { // transferred to this agent by another: no offer came first
        call = this.call = { info: infoOf(e), answered: false };
        this.emit('incoming', call.info);
      }
      call.answered = true;
      this.emit('answered', call.info);
    } else if ((e.phase === 'withdrawn' || e.phase === 'ended') && current) {
      this.call = null;
      this.emit('ended', { ...current.info, cause: e.phase, originator: 'system' });
    }
  }
}

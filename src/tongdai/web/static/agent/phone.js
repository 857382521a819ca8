// The browser softphone: JsSIP registers the agent's extension over SIP over WebSocket (RFC 7118) with
// the same digest account as a desk phone; media is WebRTC, anchored by rtpengine on tongdai's side.
// One call at a time (plus the one being consulted for an attended transfer). Events go to `on(name, fn)`.
import JsSIP from '../vendor/jssip.min.mjs';

const MEDIA = { audio: true, video: false };
const PC_CONFIG = { iceServers: [] }; // rtpengine is reachable directly: no STUN/TURN
// Host candidates are all the phone needs (no STUN/TURN); Chromium may keep gathering for half a minute
// on some networks, so the SDP goes this long after the first candidate instead of at "complete".
const ICE_WAIT_MS = 1000;

/** What tongdai says of a queued call on the INVITE (`X-Tongdai-*`): call and task ids, queue, the
 *  caller's path through the call flow, what they entered (`name=value;...`, percent-encoded), the
 *  customer and the queue's recording policy. Empty strings when the call came some other way. */
export function popOf(request) {
  return popFrom((name) => (request && request.hasHeader(name) ? String(request.getHeader(name)) : ''));
}

/** The screen pop's facts from `header(name)`, which answers a `X-Tongdai-*` header's value ('' if none). */
export function popFrom(header) {
  const digits = header('X-Tongdai-Digits').split(';').filter(Boolean).map((pair) => {
    const [name, value = ''] = pair.split('=');
    try { return [decodeURIComponent(name), decodeURIComponent(value)]; } catch { return [name, value]; }
  });
  return {
    callId: header('X-Tongdai-Call-Id'), taskId: header('X-Tongdai-Task-Id'), queue: header('X-Tongdai-Queue'),
    ivrPath: header('X-Tongdai-Ivr-Path'), digits, customerId: header('X-Tongdai-Customer-Id'),
    recording: header('X-Tongdai-Recording') || 'never',
  };
}

export class Softphone {
  constructor() {
    this.ua = null;
    this.session = null;      // the current call
    this.consult = null;      // a second call placed to consult before an attended transfer
    this.micId = '';
    this.speakerId = '';
    this.audio = new Audio();
    this.audio.autoplay = true;
    this.handlers = {};
    this.muted = false;
    this.held = false;
  }

  on(name, fn) { (this.handlers[name] ||= []).push(fn); }
  emit(name, data) { for (const fn of this.handlers[name] || []) fn(data); }

  /** Register `account` (GET /api/v1/softphone) over ws(s)://<this host>/sip. */
  start(account) {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new JsSIP.WebSocketInterface(`${scheme}://${location.host}${account.ws_path}`);
    this.ua = new JsSIP.UA({
      sockets: [socket], uri: account.sip_uri, password: account.sip_password,
      authorization_user: account.extension, display_name: account.name,
      register: true, register_expires: 300, session_timers: false, user_agent: 'tongdai agent desktop',
    });
    this.ua.on('registered', () => this.emit('registration', 'registered'));
    this.ua.on('unregistered', () => this.emit('registration', 'unregistered'));
    this.ua.on('registrationFailed', (e) => this.emit('registration', `failed: ${e.cause}`));
    this.ua.on('disconnected', () => this.emit('registration', 'disconnected'));
    this.ua.on('newRTCSession', (e) => this._session(e));
    this.ua.start();
  }

  stop() {
    if (this.ua) this.ua.stop();
    this.ua = null;
  }

  _constraints() {
    return { audio: this.micId ? { deviceId: { exact: this.micId } } : true, video: false };
  }

  _session(e) {
    const s = e.session;
    if (e.originator === 'remote' && (this.session || this.consult)) {
      s.terminate({ status_code: 486 }); // busy: one call at a time
      return;
    }
    if (!this.session) this.session = s;
    const peer = s.remote_identity;
    const info = { number: peer.uri.user, name: peer.display_name || '', incoming: e.originator === 'remote' };
    if (info.incoming) info.pop = popOf(e.request);
    s.on('peerconnection', (ev) => this._media(ev.peerconnection));
    let gathering = null;
    s.on('icecandidate', (ev) => { gathering ||= setTimeout(() => { gathering = null; ev.ready(); }, ICE_WAIT_MS); });
    if (s.connection) this._media(s.connection);
    s.on('progress', () => this.emit('progress', info));
    s.on('confirmed', () => this.emit(s === this.consult ? 'consult-answered' : 'answered', info));
    s.on('hold', () => { if (s === this.session) { this.held = true; this.emit('hold', true); } });
    s.on('unhold', () => { if (s === this.session) { this.held = false; this.emit('hold', false); } });
    const ended = (ev) => {
      if (s === this.consult) { this.consult = null; this.emit('consult-ended', ev.cause); return; }
      if (s !== this.session) return;
      this.session = null;
      this.muted = this.held = false;
      this.emit('ended', { ...info, cause: ev.cause, originator: ev.originator });
    };
    s.on('ended', ended);
    s.on('failed', ended);
    if (info.incoming) this.emit('incoming', info);
  }

  _media(pc) {
    pc.addEventListener('track', (ev) => {
      this.audio.srcObject = ev.streams[0] || new MediaStream([ev.track]);
      this._applySpeaker();
    });
  }

  async _applySpeaker() {
    if (this.speakerId && typeof this.audio.setSinkId === 'function') {
      try { await this.audio.setSinkId(this.speakerId); } catch (err) { this.emit('error', `speaker: ${err}`); }
    }
  }

  async setSpeaker(id) { this.speakerId = id; await this._applySpeaker(); }

  /** The microphones and speakers the browser offers (labels once microphone access was granted). */
  static async devices() {
    try { (await navigator.mediaDevices.getUserMedia(MEDIA)).getTracks().forEach((t) => t.stop()); } catch { /* listed without labels */ }
    const all = await navigator.mediaDevices.enumerateDevices();
    return { mics: all.filter((d) => d.kind === 'audioinput'), speakers: all.filter((d) => d.kind === 'audiooutput') };
  }

  answer() {
    // offerToReceiveAudio: an INVITE without SDP (a call transferred to us) still gets our audio offer
    if (this.session) {
      this.session.answer({ mediaConstraints: this._constraints(), pcConfig: PC_CONFIG,
        rtcOfferConstraints: { offerToReceiveAudio: true } });
    }
  }

  hangUp() {
    if (this.session) this.session.terminate();
  }

  call(target) {
    if (!this.ua || this.session) return;
    this.ua.call(target, { mediaConstraints: this._constraints(), pcConfig: PC_CONFIG });
  }

  toggleMute() {
    if (!this.session) return this.muted;
    this.muted ? this.session.unmute({ audio: true }) : this.session.mute({ audio: true });
    this.muted = !this.muted;
    return this.muted;
  }

  toggleHold() {
    if (!this.session) return;
    this.held ? this.session.unhold() : this.session.hold();
  }

  dtmf(key) {
    // SIP INFO (application/dtmf-relay): the B2BUA passes it to the other party as it does for desk phones
    if (this.session) this.session.sendDTMF(key, { transportType: 'INFO', duration: 160 });
  }

  /** Blind transfer: the other party goes to `target` (an extension, a queue's number or an outside number). */
  transfer(target) {
    if (this.session) this.session.refer(target);
  }

  /** Attended transfer, first step: hold the caller and call `target` to consult. */
  startConsult(target) {
    if (!this.session || this.consult) return;
    if (!this.held) this.session.hold();
    this.consult = this.ua.call(target, { mediaConstraints: this._constraints(), pcConfig: PC_CONFIG });
  }

  /** Attended transfer, second step: join the caller with the consulted party (REFER with Replaces). */
  completeConsult() {
    if (this.session && this.consult) this.session.refer(this.consult.remote_identity.uri, { replaces: this.consult });
  }

  cancelConsult() {
    if (this.consult) this.consult.terminate();
    if (this.session && this.held) this.session.unhold();
  }

  /** Packets in and out of the current call (RTCPeerConnection.getStats). */
  async stats() {
    const out = { inPackets: 0, outPackets: 0, state: '' };
    const pc = this.session && this.session.connection;
    if (!pc) return out;
    out.state = pc.connectionState;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') out.inPackets += s.packetsReceived;
      if (s.type === 'outbound-rtp' && s.kind === 'audio') out.outPackets += s.packetsSent;
    });
    return out;
  }
}

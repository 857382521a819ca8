// The ring of an incoming call: a 440+480 Hz tone, 2 s on and 4 s off (the North American ring cadence,
// familiar enough), made with Web Audio so that no sound file is needed.
export class Ringer {
  constructor() { this.ctx = null; this.timer = null; this.nodes = []; }

  start() {
    if (this.timer) return;
    try { this.ctx ||= new AudioContext(); } catch { return; } // no audio output: the panel still flashes
    const burst = () => {
      const gain = this.ctx.createGain();
      gain.gain.value = 0.08;
      gain.connect(this.ctx.destination);
      this.nodes = [440, 480].map((f) => {
        const osc = this.ctx.createOscillator();
        osc.frequency.value = f;
        osc.connect(gain);
        osc.start();
        osc.stop(this.ctx.currentTime + 2);
        return osc;
      });
    };
    burst();
    this.timer = setInterval(burst, 6000);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    for (const osc of this.nodes) { try { osc.stop(); } catch { /* already stopped */ } }
    this.nodes = [];
  }
}

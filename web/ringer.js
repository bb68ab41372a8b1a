// A ring made with WebAudio: two short bursts of a 440 + 480 Hz tone every
// three seconds. The softphone rings with it for calls and callback offers;
// the widget rings with it when an agent calls the customer back in the tab.

export class Ringer {
  constructor() {
    this.context = null;
    this.timer = null;
  }

  /** Browsers allow sound only after a gesture; call this from one. */
  unlock() {
    this.context ??= new AudioContext();
    this.context.resume().catch(() => {});
  }

  start() {
    if (this.timer) return;
    this._burst();
    this.timer = setInterval(() => this._burst(), 3000);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  _burst() {
    if (!this.context) return;
    const now = this.context.currentTime;
    this._tone(now, 0.4);
    this._tone(now + 0.6, 0.4);
  }

  _tone(at, seconds) {
    const gain = this.context.createGain();
    gain.gain.setValueAtTime(0, at);
    gain.gain.linearRampToValueAtTime(0.15, at + 0.02);
    gain.gain.setValueAtTime(0.15, at + seconds - 0.05);
    gain.gain.linearRampToValueAtTime(0, at + seconds);
    gain.connect(this.context.destination);
    for (const frequency of [440, 480]) {
      const oscillator = this.context.createOscillator();
      oscillator.frequency.value = frequency;
      oscillator.connect(gain);
      oscillator.start(at);
      oscillator.stop(at + seconds);
    }
  }
}

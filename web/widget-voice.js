// The voice of the IVR in the page. One HTMLAudioElement plays each prompt
// the server sends, and the server hears when the prompt is over: the IVR
// waits for that before it moves on from an announcement or starts the
// no-input timer of a menu.
//
// A prompt that cannot be heard is over at once, so a call never hangs on
// sound nobody hears: a prompt with no audio, the voice switched off, audio
// that fails to load, and a browser that refuses to start audio without a
// click (autoplay policy). In that last case `blocked` holds the audio, and
// a Play button lets the customer start it by hand.

export class PromptVoice extends EventTarget {
  /**
   * @param {HTMLAudioElement} audio
   * @param {object} options
   * @param {string} options.origin the Helpline URL that audio paths are on
   * @param {(play: number) => void} options.onDone prompt `play` is over
   */
  constructor(audio, { origin, onDone }) {
    super();
    this.audio = audio;
    this.origin = origin;
    this.onDone = onDone;
    this.on = true;
    this.current = null;
    this.blocked = null;
    audio.addEventListener('ended', () => this._over());
    audio.addEventListener('error', () => this._over());
    audio.addEventListener('playing', () => this._changed());
    audio.addEventListener('pause', () => this._changed());
  }

  /** The URL playing now, or null. */
  get playing() {
    return this.audio.paused ? null : this.audio.currentSrc || null;
  }

  /** Plays prompt number `play`; `path` is its audio, or null if none. */
  prompt(play, path) {
    this._finish();
    this.audio.pause();
    const url = path ? new URL(path, this.origin).href : null;
    this.current = { play, url, done: false };
    this.blocked = null;
    if (url && this.on) {
      this._start(url, this.current);
    } else {
      this._over();
    }
  }

  /** Stops prompt number `play` if it still plays (the caller barged in). */
  stop(play) {
    if (this.current?.play !== play) return;
    this.current.done = true;
    this.audio.pause();
  }

  /** Plays an answer again on request; the prompt playing now is over. */
  replay(path) {
    this._finish();
    const url = new URL(path, this.origin).href;
    this.current = { play: null, url, done: true };
    this.blocked = null;
    this._start(url, this.current);
  }

  /** Plays what the browser refused to start on its own (from a click). */
  playBlocked() {
    if (!this.blocked) return;
    this.replay(this.blocked);
  }

  /** Switches the voice on or off; off ends the prompt playing now. */
  setOn(on) {
    this.on = on;
    if (on) return;
    this.audio.pause();
    this._finish();
  }

  /** Silence for good (the call ended or an agent answered). */
  close() {
    this._finish();
    this.audio.pause();
    this.current = null;
    this.blocked = null;
    this._changed();
  }

  _start(url, prompt) {
    if (this.audio.src !== url) this.audio.src = url;
    this.audio.currentTime = 0;
    this.audio.play().then(
      () => this._changed(),
      (error) => this._refused(error, prompt),
    );
  }

  // AbortError: a newer prompt or a stop took over; nothing to do.
  _refused(error, prompt) {
    if (error?.name === 'AbortError' || prompt !== this.current) return;
    if (error?.name === 'NotAllowedError') this.blocked = prompt.url;
    this._over();
  }

  // The prompt playing now is over for the IVR, without stopping the sound.
  _finish() {
    if (this.current && !this.current.done) this._over();
  }

  _over() {
    const prompt = this.current;
    if (prompt && !prompt.done) {
      prompt.done = true;
      if (prompt.play !== null) this.onDone(prompt.play);
    }
    this._changed();
  }

  _changed() {
    this.dispatchEvent(new Event('change'));
  }
}

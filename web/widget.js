// The embeddable "Call us" widget. A company site adds one tag:
//
//   <script type="module" src="https://helpline.example/widget.js"
//           data-name="Ada" data-topic="Billing"></script>
//
// The widget draws itself in a shadow root (its own styles, untouched by the
// page's) and talks to the Helpline origin it was loaded from. It offers the
// cheapest help first: a search of the FAQ, with "Call us" under the
// answers. A call starts in the IVR when the helpline has a menu (the menu
// as buttons, the keypad, prompts spoken and shown, FAQ answers, a callback
// form), and reaches the first free agent over WebRTC when the customer
// asks for one, or straight away when there is no menu. When the agent
// transfers the call, the widget says so and offers again to the new agent.
//
// When the helpline takes callbacks, a "Call me back" form sits beside
// "Call us", and a kept callback shows on a card of its own
// (widget-callback.js). So the widget opens its session when it
// loads, and keeps it between calls: the page that follows a callback is
// rung in the tab when an agent calls back, and answering it goes on as
// any answered call. `window.helplineWidget` is the instance.

import {
  CallMedia,
  HelplineClient,
  IVR_EVENTS,
  IvrChannel,
  messageListener,
  openMicrophone,
  signalingUrl,
} from './static/client.js';
import { Ringer } from './static/ringer.js';
import { WidgetCallbacks } from './static/widget-callback.js';
import { FaqSearch } from './static/widget-faq.js';
import { IvrView } from './static/widget-ivr.js';
import { STYLE } from './static/widget-style.js';
import { visitId } from './static/widget-visit.js';

const HELPLINE_ORIGIN = import.meta.url;
const CALLER_LIMITS = { name: 80, topic: 200, page: 500 };
const HANGUP_CONFIRM_MS = 5000;

const END_REASONS = {
  'customer-hangup': 'You ended the call.',
  'agent-hangup': 'The agent ended the call.',
  'customer-lost': 'The call was lost because the connection dropped.',
  rejected: 'Nobody can take your call right now. Please try again later.',
  error: 'The call ended because of a technical problem.',
  'callback-requested': 'We will call you back at the time you chose.',
  'ivr-hangup': 'Thank you for contacting us.',
  tollfree: 'Please call our toll-free line.',
  'line-hangup': 'Our toll-free line ended the call.',
  'bridge-lost': 'The call was lost because of a technical problem on our side.',
  'media-failed': 'The call’s audio could not connect, so it was ended.',
  'no-answer': 'You did not answer our call.',
  'callback-declined': 'You declined our call, so your callback is cancelled.',
  'agent-lost': 'The agent’s connection was lost.',
};

const PHONE_ICON = `<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">
  <path d="M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.24 11.4 11.4 0 0 0
  3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1
  1c0 1.25.2 2.45.57 3.57a1 1 0 0 1-.25 1z"/></svg>`;

const TEMPLATE = `
  <style>${STYLE}</style>
  <div class="hl">
    <section class="panel" role="region" aria-labelledby="hl-title" hidden>
      <header>
        <h2 id="hl-title">Talk to us</h2>
        <button type="button" class="voice" role="switch" aria-checked="true"
                title="Speak the menu and the answers aloud">Voice</button>
        <button type="button" class="close" aria-label="Close">&times;</button>
      </header>
      <p class="status" role="status" aria-live="polite"></p>
      <p class="detail" aria-live="polite"></p>
      <div class="ivr" hidden></div>
      <div class="controls in-call">
        <button type="button" class="mute" aria-pressed="false">Mute</button>
        <button type="button" class="keys" aria-expanded="false"
                aria-controls="hl-keypad">Keypad</button>
        <button type="button" class="hangup">Hang up</button>
      </div>
      <div class="controls incoming" hidden>
        <button type="button" class="answer">Answer</button>
        <button type="button" class="decline-ring">Decline</button>
      </div>
      <div class="keypad" id="hl-keypad" role="group" aria-label="Keypad" hidden></div>
      <button type="button" class="again" hidden>Call again</button>
      <audio class="remote" autoplay></audio>
    </section>
    <section class="callback-card" role="region" aria-labelledby="hl-cbc-title"
             hidden></section>
    <div class="dock">
      <div role="search">
        <label for="hl-search">Questions? Search our answers</label>
        <input id="hl-search" type="search" autocomplete="off"
               placeholder="For example: return an order">
      </div>
      <p class="found" aria-live="polite"></p>
      <ul class="results" aria-label="Answers found"></ul>
      <form class="callback own-callback" aria-labelledby="hl-cb-title" novalidate
            hidden></form>
      <div class="dock-actions">
        <button type="button" class="ask-callback" hidden>Call me back</button>
        <button type="button" class="launcher">${PHONE_ICON}<span>Call us</span></button>
      </div>
    </div>
    <audio class="voice-audio" preload="auto"></audio>
  </div>
`;

// `dialling`: an agent calls the customer back, and the tab rings.
const ACTIVE_STATES = [
  'connecting',
  'ivr',
  'queued',
  'ringing',
  'dialling',
  'answered',
  'held',
];
const TALKING_STATES = ['answered', 'held'];
// Keys go to the IVR while the call is in it, to the agent once answered.
const KEYPAD_STATES = ['ivr', ...TALKING_STATES];
const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];
const KEY_LABELS = { '*': 'Star', '#': 'Pound' };

/** The `<script>` element that loaded this module, for its data attributes. */
function ownScript() {
  const scripts = document.querySelectorAll('script[type="module"][src]');
  const isOwn = (script) => new URL(script.src, location.href).href === HELPLINE_ORIGIN;
  return [...scripts].find(isOwn);
}

const NOT_TEXT_INPUTS = ['button', 'checkbox', 'radio', 'reset', 'submit'];

/** True for a place where typing is text, not keypad digits. */
function isTextField(element) {
  if (!element || element.nodeType !== Node.ELEMENT_NODE) return false;
  if (element.isContentEditable) return true;
  if (element.tagName === 'INPUT') return !NOT_TEXT_INPUTS.includes(element.type);
  return ['TEXTAREA', 'SELECT'].includes(element.tagName);
}

function clip(text, limit) {
  return typeof text === 'string' ? text.slice(0, limit) : undefined;
}

function queueInWords(position) {
  return position ? `You are number ${position} in the queue.` : 'You are in the queue.';
}

function waitInWords(seconds) {
  if (typeof seconds !== 'number') return '';
  if (seconds < 60) return 'Estimated wait: less than a minute.';
  const minutes = Math.round(seconds / 60);
  return `Estimated wait: about ${minutes} minute${minutes === 1 ? '' : 's'}.`;
}

export class HelplineWidget {
  constructor({ name = null, topic = null } = {}) {
    this.name = name;
    this.topic = topic;
    this.state = 'idle';
    this.callId = null;
    this.position = null;
    this.estimatedWaitS = null;
    this.agentName = null;
    this.transferring = false;
    this.endReason = null;
    this.muted = false;
    this.remoteMuted = false;
    this.client = null;
    this.media = null;
    this.microphone = null;
    this.ringer = new Ringer();
    this._session = null; // resolves once the session is open
    this._hangupWanted = false;
    this._answering = false;
  }

  /** The call id, named as in the protocol. */
  get call_id() {
    return this.callId;
  }

  /** Draws the widget into a new shadow root at the end of `parent`. */
  mount(parent = document.body) {
    const host = document.createElement('div');
    host.id = 'helpline-widget';
    this.root = host.attachShadow({ mode: 'open' });
    this.root.innerHTML = TEMPLATE;
    parent.append(host);
    this.ui = this._findParts(this.root);
    const { ivr: root, voice: audio, voiceSwitch } = this.ui;
    this.ivr = new IvrView({ root, audio, voiceSwitch }, HELPLINE_ORIGIN);
    this.ivr.addEventListener('change', () => this._render());
    this.faq = new FaqSearch(this.ui, {
      origin: HELPLINE_ORIGIN,
      onListen: (path) => this.ivr.voice.replay(path),
    });
    this._mountCallbacks();
    this._buildKeypad();
    this._bindButtons();
    this._bindKeyboard();
    host.addEventListener('pointerdown', () => this.ringer.unlock());
    this._render();
    // A page holds a socket only while it has a use for one: a call, the
    // callback form, or a callback it follows (stored before a reload).
    if (this.callbacks.pending) this._openIdleSession();
  }

  /** Starts a call: microphone, session, then `call.place`. */
  async call() {
    if (!['idle', 'ended', 'failed'].includes(this.state)) return;
    this._reset();
    this._setState('connecting');
    try {
      this.microphone = await openMicrophone();
      await this._ensureSession();
      this.client.request('call.place', { caller: this._caller(), visit: visitId() });
    } catch (error) {
      this._failed(error);
    }
  }

  /** Hangs up, or gives up waiting if the call has no id yet. */
  hangup() {
    if (this.callId && this.client?.connection !== 'closed') {
      this.client.request('call.hangup', { call_id: this.callId });
      this.media?.close();
      this._render('Ending the call…');
      // The server confirms with `call.state` ended; do not wait forever.
      const callId = this.callId;
      setTimeout(() => {
        if (this.callId === callId) this._ended('customer-hangup');
      }, HANGUP_CONFIRM_MS);
    } else if (this.state === 'connecting') {
      this._hangupWanted = true;
      this._render('Ending the call…');
    }
  }

  /** Sends keypad digits to the IVR, or to the agent once answered. */
  pressDigits(digits) {
    if (!this.callId || !KEYPAD_STATES.includes(this.state)) return;
    if (this.state === 'ivr') {
      for (const digit of digits) this.ivr.digit(digit);
    } else {
      this.client.request('call.dtmf', { call_id: this.callId, digits });
    }
  }

  /** Answers an agent calling back in this tab; the page then offers its
   * audio as for any answered call. */
  async answerCallback() {
    if (this.state !== 'dialling' || this._answering) return;
    this._answering = true;
    this.ringer.stop();
    this._render('Connecting…');
    try {
      this.microphone ??= await openMicrophone();
    } catch (error) {
      console.warn('helpline: no microphone to answer with:', error);
      this._answering = false;
      this._render('Please allow the microphone to answer.');
      return;
    }
    if (this.state === 'dialling') {
      this.client.request('call.accept', { call_id: this.callId });
    }
  }

  toggleMute() {
    if (!this.media) return;
    this.muted = !this.muted;
    this.media.setMute(this.muted);
    this._render();
  }

  /** Audio packet counters of the current call, for tests and diagnostics. */
  async stats() {
    if (!this.media) return { packetsReceived: 0, packetsSent: 0 };
    return this.media.stats();
  }

  _findParts(root) {
    const part = (selector) => root.querySelector(selector);
    return {
      panel: part('.panel'),
      launcher: part('.launcher'),
      close: part('.close'),
      status: part('.status'),
      detail: part('.detail'),
      controls: part('.in-call'),
      mute: part('.mute'),
      keys: part('.keys'),
      hangup: part('.hangup'),
      keypad: part('.keypad'),
      again: part('.again'),
      incoming: part('.incoming'),
      answer: part('.answer'),
      declineRing: part('.decline-ring'),
      card: part('.callback-card'),
      search: part('[role="search"]'),
      callbackForm: part('.own-callback'),
      askCallback: part('.ask-callback'),
      audio: part('.remote'),
      ivr: part('.ivr'),
      voice: part('.voice-audio'),
      voiceSwitch: part('.voice'),
      dock: part('.dock'),
      input: part('input[type="search"]'),
      found: part('.found'),
      results: part('.results'),
    };
  }

  _buildKeypad() {
    for (const key of KEYS) {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = key;
      button.setAttribute('aria-label', KEY_LABELS[key] ?? key);
      button.dataset.key = key;
      button.addEventListener('click', () => this.pressDigits(key));
      this.ui.keypad.append(button);
    }
  }

  // The keyboard's digit keys work as the keypad, except where the customer
  // types text (the callback form, the search box, the page's own fields).
  _bindKeyboard() {
    const keyButton = (key) => this.ui.keypad.querySelector(`[data-key="${key}"]`);
    window.addEventListener('keydown', (event) => {
      if (!KEYS.includes(event.key) || !KEYPAD_STATES.includes(this.state)) return;
      if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
      if (isTextField(event.composedPath()[0])) return;
      event.preventDefault();
      keyButton(event.key)?.classList.add('pressed');
      if (!event.repeat) this.pressDigits(event.key);
    });
    window.addEventListener('keyup', (event) => {
      if (KEYS.includes(event.key)) keyButton(event.key)?.classList.remove('pressed');
    });
  }

  _bindButtons() {
    const { ui } = this;
    ui.launcher.addEventListener('click', () => this.call());
    ui.again.addEventListener('click', () => this.call());
    ui.hangup.addEventListener('click', () => this.hangup());
    ui.answer.addEventListener('click', () => this.answerCallback());
    ui.declineRing.addEventListener('click', () => this.hangup());
    ui.mute.addEventListener('click', () => this.toggleMute());
    ui.keys.addEventListener('click', () => {
      ui.keypad.hidden = !ui.keypad.hidden;
      ui.keys.setAttribute('aria-expanded', String(!ui.keypad.hidden));
    });
    ui.close.addEventListener('click', () => {
      this._panelClosed = true;
      this._render();
    });
  }

  _reset() {
    this.ivr.reset();
    Object.assign(this, {
      callId: null,
      position: null,
      estimatedWaitS: null,
      agentName: null,
      transferring: false,
      endReason: null,
      muted: false,
      remoteMuted: false,
      _hangupWanted: false,
      _answering: false,
      _panelClosed: false,
    });
  }

  _mountCallbacks() {
    this.callbacks = new WidgetCallbacks(this.ui, {
      request: (type, fields) => this.client.request(type, fields),
      open: () => this._openIdleSession(),
      topic: this.topic,
    });
    this.callbacks.addEventListener('change', () => this._render());
  }

  // Without a session the widget cannot know whether callbacks are on, nor
  // follow one; a call still opens it when this fails.
  async _openIdleSession() {
    try {
      await this._ensureSession();
    } catch (error) {
      console.warn('helpline: the helpline is not reachable now:', error);
    }
  }

  /** The widget's session, opened once and kept between calls. */
  _ensureSession() {
    this._session ??= this._openSession().catch((error) => {
      this._session = null;
      throw error;
    });
    return this._session;
  }

  async _openSession() {
    const client = new HelplineClient({
      url: signalingUrl(HELPLINE_ORIGIN),
      role: 'customer',
      name: clip(this.name, CALLER_LIMITS.name),
    });
    this.client = client;
    const on = messageListener(client, this);
    on('call.state', this._onCallState);
    on('error', this._onError);
    on('connection', this._onConnection);
    on('session-lost', this._onSessionLost);
    on('call.mute', this._onRemoteMute);
    for (const type of IVR_EVENTS) on(type, (event) => this.ivr.handle(event));
    this.callbacks.bind(client);
    await client.connect();
  }

  // A call in progress is lost with the session; a callback followed is
  // attached again on a new one.
  _onSessionLost() {
    this._session = null;
    if (ACTIVE_STATES.includes(this.state)) this._ended('customer-lost');
    if (this.callbacks.pending) this._openIdleSession();
  }

  _caller() {
    const caller = { page: clip(location.href, CALLER_LIMITS.page) };
    if (this.name) caller.name = clip(this.name, CALLER_LIMITS.name);
    if (this.topic) caller.topic = clip(this.topic, CALLER_LIMITS.topic);
    return caller;
  }

  _onCallState(event) {
    if (event.state === 'dialling') {
      this._ringBack(event);
      return;
    }
    if (this.callId && event.call_id !== this.callId) return;
    this.callId = event.call_id;
    if (this._hangupWanted) {
      this._hangupWanted = false;
      this.hangup();
    }
    switch (event.state) {
      case 'ivr':
        // Also after the toll-free line failed: the IVR takes the call back.
        this._stopMedia();
        this.ivr.throughToLine = false;
        this._enterIvr();
        break;
      case 'queued':
        // Back in the queue (the agent was lost): the next agent gets a
        // fresh connection and a fresh offer.
        this._stopMedia();
        this.position = event.position ?? null;
        this.estimatedWaitS = event.estimated_wait_s ?? null;
        break;
      case 'ringing':
        // Ringing an agent (again, when transferred): no agent hears us.
        this._stopMedia();
        this.transferring = Boolean(event.transfer);
        break;
      case 'answered':
        // Another agent took the call (a completed consult): the old peer
        // connection went to the first agent, so offer afresh.
        if (event.transfer) this._stopMedia();
        this.transferring = false;
        this.agentName = event.agent?.name ?? this.agentName;
        this.ivr.leave();
        this._startMedia();
        break;
      case 'ended':
        this._ended(event.reason);
        return;
      default:
        break;
    }
    this._setState(event.state);
  }

  // An agent calls back: the tab rings, unless the widget is on a call
  // (the server rings only a page with no other call).
  _ringBack(event) {
    if (ACTIVE_STATES.includes(this.state) && event.call_id !== this.callId) return;
    this._reset();
    this.callId = event.call_id;
    this.agentName = event.agent?.name ?? null;
    this.ringer.start();
    this._setState('dialling');
  }

  // The call enters the IVR at the start, and again when it waited in the
  // queue longer than the menu allows (on to the overflow node).
  _enterIvr() {
    if (!this.ivr.started) this.ivr.start(new IvrChannel(this.client, this.callId));
    if (this.state !== 'ivr') this.ui.keypad.hidden = false;
  }

  _startMedia() {
    if (this.media) return;
    this.media = new CallMedia(this.client, this.callId, {
      iceServers: this.client.iceServers,
      remoteAudio: this.ui.audio,
      stream: this.microphone,
    });
    this.media.addEventListener('error', () => this._render('The call’s audio failed.'));
    this.media.addEventListener('state', () => this._render());
    this.media.offer();
  }

  _onError(event) {
    if (this.callbacks.handleError(event)) return;
    // Errors about one request leave the call as it is, except a refused call.
    if (this.ivr.handleError(event)) return;
    if (this.state === 'connecting' && !this.callId) {
      this._failed(event);
    } else {
      this._render('That did not work. Please try again.');
    }
  }

  _onConnection({ state }) {
    if (state === 'reconnecting') this._render('Connection lost, reconnecting…');
    if (state === 'open') this._render();
  }

  _onRemoteMute(event) {
    if (event.call_id !== this.callId) return;
    this.remoteMuted = event.on;
    this._render();
  }

  _ended(reason) {
    if (this.state === 'ended') return;
    this.endReason = reason ?? 'error';
    this._release();
    this._setState('ended');
  }

  _failed(error) {
    console.warn('helpline: the call could not start:', error);
    const denied = error?.name === 'NotAllowedError';
    this.endReason = denied ? 'no-microphone' : 'unavailable';
    this._release();
    this._setState('failed');
  }

  _stopMedia() {
    this.media?.close();
    this.media = null;
    this.remoteMuted = false;
  }

  // The session stays open: it follows a callback, and takes the next call.
  _release() {
    this.ivr.leave();
    this._stopMedia();
    this.microphone?.getTracks().forEach((track) => track.stop());
    this.microphone = null;
  }

  _setState(state) {
    const hadFocus = this.root.activeElement !== null;
    this.state = state;
    if (state !== 'dialling') this.ringer.stop();
    this._render();
    if (hadFocus) this._keepFocus();
  }

  // A button that hides itself (Call us, Hang up) hands focus to the next
  // control, so keyboard and screen reader users stay in the widget.
  _keepFocus() {
    const active = this.root.activeElement;
    if (active?.checkVisibility()) return;
    const { answer, hangup, again, launcher } = this.ui;
    const next = [answer, hangup, again, launcher];
    next.find((button) => button.checkVisibility())?.focus();
  }

  _statusText() {
    switch (this.state) {
      case 'connecting':
        return ['Connecting…', 'Your browser may ask to use your microphone.'];
      case 'ivr':
        return this.ivr.statusText();
      case 'queued':
        return [queueInWords(this.position), waitInWords(this.estimatedWaitS)];
      case 'ringing':
        if (this.transferring) return ['Transferring you…', 'Please stay on the line.'];
        return ['Calling an agent…', 'Someone will pick up in a moment.'];
      case 'dialling':
        return [
          `${this.agentName ?? 'An agent'} is calling you back.`,
          'Answer to talk now, or decline if you no longer need the call.',
        ];
      case 'answered':
        if (this.ivr.throughToLine) {
          return ['On the line with our toll-free number.', this._audioText()];
        }
        return [`Connected with ${this.agentName ?? 'an agent'}.`, this._audioText()];
      case 'held':
        return ['On hold.', 'Please stay on the line.'];
      case 'ended':
        return ['Call ended.', this._endText()];
      case 'failed':
        return ['The call could not start.', this._failureText()];
      default:
        return ['', ''];
    }
  }

  // A callback booked or the toll-free line: what the IVR said, in full.
  _endText() {
    if (this.ivr.outcome) return this.ivr.statusText().join(' ');
    return END_REASONS[this.endReason] ?? END_REASONS.error;
  }

  _audioText() {
    const state = this.media?.connectionState;
    if (state === 'new' || state === 'connecting') return 'Connecting audio…';
    if (state === 'failed' || state === 'disconnected') {
      return 'The audio connection was lost.';
    }
    return this.remoteMuted ? 'The agent has muted their microphone.' : '';
  }

  _failureText() {
    if (this.endReason === 'no-microphone') {
      return 'Please allow the microphone and try again.';
    }
    return 'We could not reach the helpline. Please try again in a minute.';
  }

  _render(note = null) {
    const { ui } = this;
    if (!ui) return;
    const active = ACTIVE_STATES.includes(this.state);
    const talking = TALKING_STATES.includes(this.state);
    const [status, detail] = this._statusText();

    const open = active || (this.state !== 'idle' && !this._panelClosed);
    ui.dock.hidden = open;
    ui.panel.hidden = !open;
    ui.close.hidden = active;
    ui.status.textContent = status;
    ui.detail.textContent = note ?? detail;
    const ringing = this.state === 'dialling';
    ui.controls.hidden = !active || ringing;
    ui.incoming.hidden = !ringing;
    ui.answer.disabled = this._answering;
    ui.mute.disabled = !talking;
    ui.keys.disabled = !KEYPAD_STATES.includes(this.state);
    ui.mute.setAttribute('aria-pressed', String(this.muted));
    ui.mute.textContent = this.muted ? 'Unmute' : 'Mute';
    if (ui.keys.disabled) ui.keypad.hidden = true;
    ui.keys.setAttribute('aria-expanded', String(!ui.keypad.hidden));
    ui.again.hidden = active;
    this.ivr.render(this.state);
    this.callbacks.render(active);
  }
}

function start() {
  const script = ownScript();
  const widget = new HelplineWidget({
    name: script?.dataset.name ?? null,
    topic: script?.dataset.topic ?? null,
  });
  widget.mount();
  window.helplineWidget = widget;
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', start, { once: true });
} else {
  start();
}

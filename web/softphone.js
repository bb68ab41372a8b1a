// The agent softphone: sign in, go available, answer customers' calls.
//
// The agent's token lives in sessionStorage, so reloading the page opens a
// new session without asking for the password again. When a call is
// answered the customer makes the offer; the softphone answers it, and
// re-offers to put the call on hold. A call that went through the IVR rings
// with its journey, shown beside the caller (see journey.js). A call can be
// handed to a colleague, at once or after a consult (softphone-transfer.js).
// Callbacks due are listed, offered and claimed in softphone-callbacks.js;
// a claimed callback's call shows here as any call, `dialling` first, and
// the customer (or the media worker that dialled the phone) makes the offer
// once it is answered. `window.softphone` is the instance.

import {
  AGENT_STATUS_WORDS,
  CallMedia,
  HelplineClient,
  asSentence,
  messageListener,
  signalingUrl,
} from './client.js';
import { findJourneyParts, renderJourney } from './journey.js';
import { Callbacks, bindCallbackUi, findCallbackUi } from './softphone-callbacks.js';
import { Ringer } from './ringer.js';
import { Transfers, bindTransferUi, findTransferUi } from './softphone-transfer.js';

const STORAGE_KEY = 'helpline.agent';

const STATUS_WORDS = { ...AGENT_STATUS_WORDS, connecting: 'Connecting…' };

const AUDIO_LOST = 'The audio connection was lost.';
const RANG_OUT =
  'The call rang out and went back to the queue. You are now Away: ' +
  'switch on Available for calls to get calls again.';

const END_REASONS = {
  'customer-hangup': 'The customer hung up.',
  'agent-hangup': 'You hung up.',
  'customer-lost': 'The customer’s connection was lost.',
  rejected: 'The call could not be routed.',
  transferred: 'You transferred the call.',
  declined: 'You declined the consult.',
  cancelled: 'The consult was cancelled.',
  completed: 'The customer was transferred to you.',
  'call-left': 'The customer’s call ended, and the consult with it.',
  'media-failed': 'The call’s audio could not connect, so it was ended.',
  'no-answer': 'The customer did not answer; the callback will be tried again.',
  busy: 'The line was busy; the callback will be tried again.',
  'dial-failed': 'The number could not be dialled; the callback will be tried again.',
  'callback-declined': 'The customer declined the call; the callback is cancelled.',
  error: 'The call ended because of a technical problem.',
};

const VIA_WORDS = {
  tab: 'via the customer’s browser tab',
  trunk: 'via the phone line',
};

function formatDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const minutes = String(Math.floor(total / 60)).padStart(2, '0');
  const seconds = String(total % 60).padStart(2, '0');
  return `${minutes}:${seconds}`;
}

function loadSaved() {
  try {
    return JSON.parse(sessionStorage.getItem(STORAGE_KEY));
  } catch {
    return null;
  }
}

export class Softphone {
  constructor(ui) {
    this.ui = ui;
    this.user = null;
    this.token = null;
    this.agentStatus = 'signed-out';
    this.call = null;
    this.note = '';
    this.client = null;
    this.media = null;
    this.ringer = new Ringer();
    this._timer = null;
    this._requeuePending = false; // until the agent's status that follows
    this.transfers = new Transfers(this, ui.transfers);
    this.callbacks = new Callbacks(this, ui.callbacks);
  }

  /** The call's state while there is a call, else the agent's status. */
  get state() {
    return this.call?.state ?? this.agentStatus;
  }

  get callState() {
    return this.call?.state ?? null;
  }

  get callId() {
    return this.call?.id ?? null;
  }

  /** Audio packet counters of the current call. */
  async stats() {
    if (!this.media) return { packetsReceived: 0, packetsSent: 0 };
    return this.media.stats();
  }

  /** Picks up where a reload left off, or shows the sign-in form. */
  async restore() {
    const saved = loadSaved();
    if (!saved?.token) {
      this.render();
      return;
    }
    this.token = saved.token;
    this.user = saved.user;
    await this._connect();
  }

  async signIn(username, password) {
    this.ringer.unlock();
    const response = await fetch('/api/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const message = body.error?.message ?? 'Signing in failed. Please try again';
      throw new Error(asSentence(message));
    }
    this.token = body.token;
    this.user = body.user;
    const saved = { token: this.token, user: this.user };
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(saved));
    await this._connect();
  }

  async signOut() {
    if (this.call && this.call.state !== 'ended') return;
    const token = this.token;
    // The session outlives the socket for its grace period; ring no calls there.
    if (this.client?.connection === 'open') {
      this.client.request('agent.status', { status: 'away' });
    }
    this._forget();
    await fetch('/api/logout', {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
    }).catch(() => {});
  }

  setAvailable(on) {
    this.ringer.unlock();
    this.client?.request('agent.status', { status: on ? 'available' : 'away' });
  }

  answer() {
    const call = this.call;
    if (call?.state !== 'ringing' || this.media) return;
    this.ringer.stop();
    this.media = this._newMedia(call.id);
    this.client.request('call.accept', { call_id: call.id });
  }

  decline() {
    const call = this.call;
    if (call?.state !== 'ringing') return;
    this.client.request('call.decline', { call_id: call.id });
    this.ringer.stop();
    this.call = null;
    this._say(
      call.consult
        ? END_REASONS.declined
        : 'You declined the call; it went back to the queue.',
    );
  }

  hangup() {
    const ends = ['ringing', 'dialling', 'answered', 'held', 'consulting'];
    if (!ends.includes(this.call?.state)) return;
    this.client.request('call.hangup', { call_id: this.call.id });
  }

  setHold(on) {
    if (!this.media?.negotiated || !['answered', 'held'].includes(this.call?.state)) return;
    this.client.request('call.hold', { call_id: this.call.id, on });
    this.media.setHold(on);
  }

  setMute(on) {
    if (!this.media) return;
    this.media.setMute(on);
    this.render();
  }

  async _connect() {
    this.agentStatus = 'connecting';
    this.render();
    this.client = this._newClient();
    try {
      const welcome = await this.client.connect();
      this.agentStatus = welcome.agent?.status ?? 'away';
      this.note = '';
      this.callbacks.refresh();
    } catch (error) {
      this._connectFailed(error);
      return;
    }
    this.render();
  }

  _newClient() {
    const client = new HelplineClient({
      url: signalingUrl(location.href),
      role: 'agent',
      token: this.token,
    });
    const on = messageListener(client, this);
    on('agent.state', this._onAgentState);
    on('call.state', this._onCallState);
    on('call.dtmf', this._onDigits);
    on('call.mute', this._onRemoteMute);
    on('error', this._onError);
    on('connection', this._onConnection);
    on('session-lost', this._onSessionLost);
    this.transfers.bind(client);
    this.callbacks.bind(client);
    return client;
  }

  _connectFailed(error) {
    if (error.code === 'unauthorized') {
      this._forget('Your sign-in has expired. Please sign in again.');
      return;
    }
    const saved = JSON.stringify({ token: this.token, user: this.user });
    this._forget('Could not reach the helpline. Please try again in a moment.');
    // Still signed in: a reload tries again without the password.
    sessionStorage.setItem(STORAGE_KEY, saved);
  }

  _forget(message = '') {
    this._endMedia();
    this.client?.close();
    this.client = null;
    this.call = null;
    this.callbacks.close();
    this.token = null;
    this.user = null;
    this.agentStatus = 'signed-out';
    sessionStorage.removeItem(STORAGE_KEY);
    this.ui.signInError.textContent = message;
    this.render();
  }

  _onAgentState(event) {
    if (event.status === 'offline' && event.reason === 'replaced') {
      this._forget('You signed in on another page, so this one was signed out.');
      return;
    }
    this._afterRequeue(event.status);
    this.callbacks.onAgentState(event.status);
    this.agentStatus = event.status;
    this.render();
  }

  // A call taken back from this agent is told apart by the status that
  // follows it: a ring that timed out sets the agent away (the server's
  // routing), while a call declined or moved on leaves the agent available.
  // The agent back to available has nothing more to do about it.
  _afterRequeue(status) {
    if (this._requeuePending && status === 'away') this.note = RANG_OUT;
    else if (this.note === RANG_OUT && status !== 'away') this.note = '';
    this._requeuePending = false;
  }

  _onCallState(event) {
    if (this.transfers.onCallState(event)) return;
    if (event.state === 'ringing') {
      this._ringing(event);
      return;
    }
    if (event.state === 'dialling') {
      this._dialling(event);
      return;
    }
    if (event.call_id !== this.call?.id) return;
    if (event.state === 'queued' || event.reason === 'requeued') {
      this._requeued();
      return;
    }
    const before = this.call.state;
    this.call.state = event.state;
    this.transfers.onMainState(before, event.state);
    if (event.state === 'answered' && !this.call.answeredAt) this._answered();
    if (event.state === 'ended') this._ended(event.reason);
    this.render();
  }

  // A ring that timed out, or a call taken from this agent, is not over for
  // the customer: it waits at the head of the queue again.
  _requeued() {
    this._endMedia();
    this.call = null;
    this._requeuePending = true;
    this._say('The call went back to the queue.');
  }

  /** A customer's call handed to this agent after a consult: answered
   * already; the customer offers to this new connection. */
  adoptCall(event) {
    this._endMedia();
    this.call = this._callFrom(event);
    this.note = '';
    this.media = this._newMedia(event.call_id);
    this._answered();
    this.transfers.refresh();
    this.render();
  }

  _newMedia(callId) {
    const media = new CallMedia(this.client, callId, {
      iceServers: this.client.iceServers,
      remoteAudio: this.ui.audio,
    });
    media.addEventListener('error', () => this._say('The call’s audio failed.'));
    media.addEventListener('state', () => this.render());
    return media;
  }

  _ringing(event) {
    this.call = this._callFrom(event);
    this.note = '';
    this.ringer.start();
    this.render();
  }

  // A callback this agent claimed: its call rings the customer. The media
  // is ready now, to answer the offer that comes once the customer answers.
  _dialling(event) {
    this.callbacks.claimed();
    this._endMedia();
    this.call = this._callFrom(event);
    this.note = '';
    this.media = this._newMedia(event.call_id);
    this.render();
  }

  _callFrom(event) {
    return {
      id: event.call_id,
      state: event.state,
      callback: event.callback ?? null,
      via: event.via ?? null,
      consult: event.consult ?? null,
      caller: event.caller ?? {},
      journey: event.journey ?? null,
      digits: '',
      remoteMuted: false,
      answeredAt: null,
      endedAt: null,
      reason: null,
    };
  }

  _answered() {
    this.call.answeredAt = Date.now();
    this.ringer.stop();
    clearInterval(this._timer);
    this._timer = setInterval(() => this._renderTimer(), 1000);
  }

  _ended(reason) {
    this.call.reason = reason ?? 'error';
    this.call.endedAt = Date.now();
    this.ringer.stop();
    this._endMedia();
  }

  _endMedia() {
    clearInterval(this._timer);
    this._timer = null;
    this.ringer.stop();
    this.media?.close();
    this.media = null;
    this.transfers.close();
  }

  _onDigits(event) {
    if (event.call_id !== this.call?.id) return;
    this.call.digits = (this.call.digits + event.digits).slice(-64);
    this.render();
  }

  _onRemoteMute(event) {
    if (event.call_id !== this.call?.id) return;
    this.call.remoteMuted = event.on;
    this.render();
  }

  _onError(event) {
    if (this.callbacks.handleError(event)) return;
    this._say(asSentence(event.message || `The helpline refused that (${event.code})`));
    if (event.code === 'unknown-call' || event.code === 'bad-state') {
      // The call moved on without us; drop its media if it never started.
      if (this.call?.state === 'ringing') this._endMedia();
    }
  }

  _onConnection({ state }) {
    if (state === 'reconnecting') this._say('Connection lost, reconnecting…');
    if (state === 'open') this._say('');
  }

  _onSessionLost() {
    this._endMedia();
    this.call = null;
    this._connect();
  }

  _say(note) {
    this.note = note;
    this.render();
  }

  _callTexts() {
    const call = this.call;
    if (!call && this.callbacks.offer) {
      return ['No call', this.note || 'A callback is due: claim it, or skip it.'];
    }
    if (!call) {
      const waiting = this.agentStatus === 'available' ? 'Waiting for a call.' : '';
      return ['No call', this.note || waiting || 'Go available to take calls.'];
    }
    const transferring = this.transfers.texts(call);
    if (transferring) return [transferring[0], this.note || transferring[1]];
    const name = call.caller.name;
    const who = call.caller.number || name || 'the customer';
    const texts = {
      ringing: ['Incoming call', `${name || 'A customer'} is calling.`],
      dialling: [`Calling back ${who}`, `Calling back… ${VIA_WORDS[call.via] ?? ''}`],
      answered: [name ? `On a call with ${name}` : 'On a call', this._audioText()],
      held: [`${name || 'The customer'} is on hold`, 'The customer cannot hear you.'],
      ended: ['Call ended', END_REASONS[call.reason] ?? END_REASONS.error],
    };
    const [title, status] = texts[call.state] ?? ['Call', ''];
    return [title, this.note || status];
  }

  _audioText() {
    const state = this.media?.connectionState;
    if (state === 'new' || state === 'connecting') return 'Connecting audio…';
    if (state === 'failed' || state === 'disconnected') return AUDIO_LOST;
    return this.call.remoteMuted ? 'The customer has muted their microphone.' : '';
  }

  _renderTimer() {
    const call = this.call;
    const { timer } = this.ui;
    timer.hidden = !call?.answeredAt;
    if (timer.hidden) return;
    timer.textContent = formatDuration((call.endedAt ?? Date.now()) - call.answeredAt);
  }

  render() {
    const focused = document.activeElement;
    this._render();
    if (focused !== document.body && !focused?.checkVisibility()) this._keepFocus();
  }

  // A button that hides itself (Answer, Hang up) hands focus to the next one.
  _keepFocus() {
    const { hangup, answer, availability, username } = this.ui;
    const next = [hangup, answer, availability, username];
    next.find((element) => element.checkVisibility())?.focus();
  }

  _render() {
    const { ui } = this;
    const signedIn = this.agentStatus !== 'signed-out';
    ui.signIn.hidden = signedIn;
    ui.desk.hidden = !signedIn;
    ui.who.hidden = !signedIn;
    if (!signedIn) return;

    ui.agentName.textContent = this.user?.name ?? this.user?.username ?? '';
    ui.status.textContent = STATUS_WORDS[this.agentStatus] ?? this.agentStatus;
    ui.status.dataset.status = this.agentStatus;
    // Ringing and busy agents become available again when the call ends.
    const available = ['available', 'ringing', 'busy'].includes(this.agentStatus);
    ui.availability.setAttribute('aria-checked', String(available));
    const settled = ['available', 'away', 'offline'].includes(this.agentStatus);
    ui.availability.disabled = !settled;
    this._renderCall();
  }

  _renderCall() {
    const { ui, call } = this;
    const [title, status] = this._callTexts();
    ui.callTitle.textContent = title;
    ui.callStatus.textContent = status;
    ui.callCard.dataset.state = call?.state ?? 'idle';
    ui.caller.hidden = !call;
    ui.callerName.textContent = call?.caller.name || '—';
    ui.callerTopic.textContent = call?.caller.topic || '—';
    ui.callerPage.textContent = call?.caller.page || '—';
    ui.digits.textContent = call?.digits || '—';
    ui.callerNumber.textContent = call?.caller.number || '—';
    for (const element of ui.callbackOnly) element.hidden = !call?.callback;
    renderJourney(ui.journey, call?.journey ?? null);
    this._renderTimer();
    this._renderButtons();
    this.callbacks.render();
    ui.signOut.disabled = Boolean(call && call.state !== 'ended');
    const ringing = call?.state === 'ringing';
    document.title = ringing ? 'Ringing · Helpline' : 'Softphone · Helpline';
  }

  _renderButtons() {
    const { ui } = this;
    const state = this.call?.state;
    const talking = state === 'answered' || state === 'held';
    const answering = state === 'ringing' && Boolean(this.media);
    ui.answer.hidden = state !== 'ringing';
    ui.answer.disabled = answering;
    ui.decline.hidden = state !== 'ringing';
    ui.decline.disabled = answering;
    ui.mute.hidden = !talking;
    ui.hold.hidden = !talking;
    ui.hold.disabled = !this.media?.negotiated;
    ui.hangup.hidden = !talking;
    const muted = Boolean(this.media?.muted);
    ui.mute.setAttribute('aria-pressed', String(muted));
    ui.mute.textContent = muted ? 'Unmute' : 'Mute';
    ui.hold.setAttribute('aria-pressed', String(state === 'held'));
    ui.hold.textContent = state === 'held' ? 'Resume' : 'Hold';
    if (this.call?.consult) ui.hold.hidden = true;
    ui.hangup.hidden = !talking && !['consulting', 'dialling'].includes(state);
    this.transfers.render(this.call);
  }
}

function findUi() {
  const $ = (id) => document.getElementById(id);
  return {
    signIn: $('sign-in'),
    signInForm: $('sign-in-form'),
    signInError: $('sign-in-error'),
    username: $('username'),
    password: $('password'),
    desk: $('desk'),
    who: $('who'),
    agentName: $('agent-name'),
    signOut: $('sign-out'),
    status: $('agent-status'),
    availability: $('availability'),
    callCard: $('call'),
    callTitle: $('call-title'),
    callStatus: $('call-status'),
    timer: $('timer'),
    caller: $('caller'),
    callerName: $('caller-name'),
    callerTopic: $('caller-topic'),
    callerPage: $('caller-page'),
    digits: $('digits'),
    callerNumber: $('caller-number'),
    callbackOnly: document.querySelectorAll('.callback-only'),
    answer: $('answer'),
    decline: $('decline'),
    mute: $('mute'),
    hold: $('hold'),
    hangup: $('hangup'),
    audio: $('remote-audio'),
    journey: findJourneyParts(document),
    transfers: findTransferUi(document),
    callbacks: findCallbackUi(document),
  };
}

function bindUi(phone, ui) {
  ui.signInForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    ui.signInError.textContent = '';
    try {
      await phone.signIn(ui.username.value, ui.password.value);
      ui.password.value = '';
    } catch (error) {
      ui.signInError.textContent = error.message;
    }
  });
  ui.availability.addEventListener('click', () => {
    phone.setAvailable(ui.availability.getAttribute('aria-checked') !== 'true');
  });
  ui.signOut.addEventListener('click', () => phone.signOut());
  ui.answer.addEventListener('click', () => phone.answer());
  ui.decline.addEventListener('click', () => phone.decline());
  ui.hangup.addEventListener('click', () => phone.hangup());
  ui.mute.addEventListener('click', () => phone.setMute(!phone.media?.muted));
  ui.hold.addEventListener('click', () => phone.setHold(phone.call?.state !== 'held'));
  document.addEventListener('pointerdown', () => phone.ringer.unlock(), { once: true });
  bindTransferUi(phone.transfers, ui.transfers);
  bindCallbackUi(phone.callbacks, ui.callbacks);
}

const ui = findUi();
const phone = new Softphone(ui);
bindUi(phone, ui);
window.softphone = phone;
phone.restore();

// The one browser client of the Helpline signaling protocol
// (docs/protocol.md), shared by the customer widget and the agent softphone.
//
// HelplineClient owns the WebSocket and the session: it says `hello`, keeps
// the session id, resume token and last `seq`, reconnects with backoff when
// the socket drops and resumes the session within its grace period. Every
// server message is dispatched as a CustomEvent named after its `type`,
// with the message as `detail`. It also keeps the session's ICE servers
// (`iceServers`): they come with `welcome`, and their TURN credentials are
// renewed with `ice.servers` before they expire.
//
// IvrChannel speaks the IVR part of the protocol for one customer call in
// state `ivr`: key presses, menu choices, the callback form and the end of
// each prompt the page played.
//
// CallMedia owns one RTCPeerConnection for one call: local microphone,
// offer/answer through `sdp.*`, trickle ICE through `ice.candidate`, hold by
// re-offer, mute, and audio packet counters.

const PROTOCOL_VERSION = 1;
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 5000;
const PING_INTERVAL_MS = 25000;
const OUTBOX_LIMIT = 100;
const CANDIDATE_QUEUE_LIMIT = 50;
// TURN credentials are renewed when this share of their lifetime has passed.
const ICE_RENEW_AT = 0.75;

/** The ws: or wss: URL of `/ws` on the origin of `base`. */
export function signalingUrl(base) {
  const url = new URL('/ws', base);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.href;
}

/** A server's message as a sentence: capital first, full stop last. */
export function asSentence(text) {
  const trimmed = String(text).trim();
  if (!trimmed) return '';
  const capital = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?…]$/.test(capital) ? capital : `${capital}.`;
}

/**
 * `on(type, handler)` for one client: calls `handler` as a method of
 * `owner` with each server message of `type`.
 */
export function messageListener(client, owner) {
  return (type, handler) => {
    client.addEventListener(type, (event) => handler.call(owner, event.detail));
  };
}

/** An error event from the server, thrown or passed on as an Error. */
export class SignalingError extends Error {
  constructor(event) {
    super(event.message || event.code);
    this.name = 'SignalingError';
    this.code = event.code;
    this.ref = event.ref ?? null;
    this.retryAfterS = event.retry_after_s ?? null;
  }
}

export class HelplineClient extends EventTarget {
  /**
   * @param {object} options
   * @param {string} options.url the ws: URL of `/ws`
   * @param {'customer'|'agent'} options.role
   * @param {string} [options.token] an agent's token from POST /api/login
   * @param {string} [options.name] a customer's name
   */
  constructor({ url, role, token = null, name = null }) {
    super();
    this.url = url;
    this.role = role;
    this.token = token;
    this.name = name;
    this.sessionId = null;
    this.resumeToken = null;
    this.lastSeq = 0;
    this.graceS = 0;
    this.welcome = null;
    /** RTCIceServer[] for this session's calls, TURN credentials included. */
    this.iceServers = [];
    this.connection = 'closed';
    this._socket = null;
    this._closing = false;
    this._outbox = [];
    this._nextId = 1;
    this._droppedAt = null;
    this._backoffMs = BACKOFF_FIRST_MS;
    this._retryTimer = null;
    this._pingTimer = null;
    this._iceTimer = null;
    this._pendingConnect = null;
  }

  /** Opens the socket and a new session; resolves with the `welcome`. */
  connect() {
    this._closing = false;
    return new Promise((resolve, reject) => {
      this._pendingConnect = { resolve, reject };
      this._openSocket();
    });
  }

  /** Sends a request with a fresh `id` and returns that id. */
  request(type, fields = {}) {
    const id = `${this.role[0]}${this._nextId++}`;
    this.send({ type, id, ...fields });
    return id;
  }

  /** Sends a message now, or after the session is resumed. */
  send(message) {
    if (this.connection === 'open') {
      this._socket.send(JSON.stringify(message));
      return;
    }
    if (this.connection !== 'reconnecting') {
      throw new Error('the signaling session is not open');
    }
    if (this._outbox.length >= OUTBOX_LIMIT) {
      throw new Error('too many messages waiting for the connection');
    }
    this._outbox.push(message);
  }

  /** Closes the socket for good; the server ends the session after grace. */
  close() {
    this._closing = true;
    clearTimeout(this._retryTimer);
    clearTimeout(this._iceTimer);
    this._stopPing();
    this._outbox = [];
    if (this._socket) this._socket.close(1000);
    this._setConnection('closed');
  }

  _openSocket() {
    const socket = new WebSocket(this.url);
    this._socket = socket;
    socket.addEventListener('open', () => this._sendHello(socket));
    socket.addEventListener('message', (event) => this._receive(event.data));
    socket.addEventListener('close', (event) => this._onClose(socket, event));
  }

  _sendHello(socket) {
    const id = `hello${this._nextId++}`;
    const hello = { type: 'hello', id, v: PROTOCOL_VERSION, role: this.role };
    if (this.sessionId) {
      hello.resume = {
        session_id: this.sessionId,
        resume_token: this.resumeToken,
        last_seq: this.lastSeq,
      };
    } else {
      if (this.token) hello.token = this.token;
      if (this.name) hello.name = this.name;
    }
    socket.send(JSON.stringify(hello));
  }

  _receive(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (!message || typeof message.type !== 'string') return;

    // Before `welcome` the only request on this socket is `hello`.
    if (message.type === 'error' && this.connection !== 'open') {
      this._onHelloRefused(message);
      return;
    }
    if (typeof message.seq === 'number') {
      // A resumed session may replay what this client already handled.
      if (message.seq <= this.lastSeq && message.type !== 'welcome') return;
      this.lastSeq = Math.max(this.lastSeq, message.seq);
    }
    if (message.type === 'welcome') this._onWelcome(message);
    if (message.type === 'ice.servers') this._takeIceServers(message);
    this.dispatchEvent(new CustomEvent(message.type, { detail: message }));
  }

  // The server replays missed events before it welcomes a resumed session.
  _onWelcome(welcome) {
    if (!welcome.resumed) this.lastSeq = welcome.seq ?? 0;
    this.sessionId = welcome.session_id;
    this.resumeToken = welcome.resume_token;
    this.graceS = welcome.grace_s ?? 0;
    this.welcome = welcome;
    this._takeIceServers(welcome);
    this._droppedAt = null;
    this._backoffMs = BACKOFF_FIRST_MS;
    this._setConnection('open');
    this._startPing();
    this._flushOutbox();

    if (this._pendingConnect) {
      this._pendingConnect.resolve(welcome);
      this._pendingConnect = null;
    }
  }

  // Credentials are renewed while the socket is open; a resumed session's
  // `welcome` brings fresh ones anyway.
  _takeIceServers(event) {
    this.iceServers = Array.isArray(event.ice_servers) ? event.ice_servers : [];
    clearTimeout(this._iceTimer);
    this._iceTimer = null;
    if (!(event.ice_ttl_s > 0)) return;
    this._iceTimer = setTimeout(() => {
      if (this.connection === 'open') this.request('ice.servers');
    }, event.ice_ttl_s * ICE_RENEW_AT * 1000);
  }

  _onHelloRefused(error) {
    const resuming = this.sessionId !== null;
    this._closing = true;
    this._socket.close(1000);
    if (resuming) {
      this._loseSession(error.code);
    } else {
      this._setConnection('closed');
    }
    if (this._pendingConnect) {
      this._pendingConnect.reject(new SignalingError(error));
      this._pendingConnect = null;
    }
  }

  _onClose(socket, event) {
    if (socket !== this._socket) return;
    this._stopPing();
    if (this._closing) return;

    if (this.sessionId === null) {
      this._setConnection('closed');
      this._pendingConnect?.reject(
        new Error(`the signaling socket closed (code ${event.code})`),
      );
      this._pendingConnect = null;
      return;
    }
    this._droppedAt ??= Date.now();
    this._scheduleReconnect();
  }

  _scheduleReconnect() {
    const elapsedMs = Date.now() - this._droppedAt;
    if (elapsedMs >= this.graceS * 1000) {
      this._loseSession('grace-expired');
      return;
    }
    this._setConnection('reconnecting');
    const delayMs = this._backoffMs * (0.5 + Math.random() / 2);
    this._backoffMs = Math.min(this._backoffMs * 2, BACKOFF_MAX_MS);
    this._retryTimer = setTimeout(() => this._openSocket(), delayMs);
  }

  _loseSession(reason) {
    clearTimeout(this._iceTimer);
    this.sessionId = null;
    this.resumeToken = null;
    this._outbox = [];
    this._setConnection('closed');
    this.dispatchEvent(new CustomEvent('session-lost', { detail: { reason } }));
  }

  _flushOutbox() {
    const waiting = this._outbox;
    this._outbox = [];
    for (const message of waiting) this._socket.send(JSON.stringify(message));
  }

  _setConnection(state) {
    if (this.connection === state) return;
    this.connection = state;
    this.dispatchEvent(new CustomEvent('connection', { detail: { state } }));
  }

  _startPing() {
    this._stopPing();
    this._pingTimer = setInterval(() => this.request('ping'), PING_INTERVAL_MS);
  }

  _stopPing() {
    clearInterval(this._pingTimer);
    this._pingTimer = null;
  }
}

/** An agent's status (`agent.state`, `floor`) in words. */
export const AGENT_STATUS_WORDS = Object.freeze({
  available: 'Available',
  away: 'Away',
  ringing: 'Ringing',
  busy: 'On a call',
  offline: 'Offline',
});

/** One key of a phone keypad. */
export const DTMF_DIGIT = /^[0-9*#]$/;

/** The events the server sends a customer while its call is in the IVR. */
export const IVR_EVENTS = Object.freeze([
  'ivr.prompt',
  'ivr.stop_prompt',
  'ivr.menu',
  'ivr.callback_form',
  'ivr.collect',
  'ivr.callback_refused',
  'ivr.callback_requested',
  'ivr.tollfree',
]);

export class IvrChannel {
  /**
   * @param {HelplineClient} client
   * @param {string} callId a customer's call that the server put in the IVR
   */
  constructor(client, callId) {
    this.client = client;
    this.callId = callId;
  }

  /** One key press; anything but 0-9 * # is not sent. */
  digit(digit) {
    if (!DTMF_DIGIT.test(digit)) return null;
    return this._request('ivr.digit', { digit });
  }

  /** A menu button: the same as keying `digits` at `node`. */
  choose(node, digits) {
    return this._request('ivr.choose', { node, digits });
  }

  /** The callback form: a number and a time window, or a refusal. */
  callback(node, { number = null, window = null, decline = false } = {}) {
    const fields = { node };
    if (decline) {
      fields.decline = true;
    } else {
      fields.number = number;
      if (window) fields.window = window;
    }
    return this._request('ivr.callback', fields);
  }

  /** The page finished prompt number `play`, or could not play it. */
  promptDone(play) {
    return this._request('ivr.prompt_done', { play });
  }

  _request(type, fields) {
    return this.client.request(type, { call_id: this.callId, ...fields });
  }
}

/** The microphone, asked for once per call. */
export function openMicrophone() {
  return navigator.mediaDevices.getUserMedia({ audio: true, video: false });
}

export class CallMedia extends EventTarget {
  /**
   * @param {HelplineClient} client
   * @param {string} callId
   * @param {object} options
   * @param {RTCIceServer[]} [options.iceServers]
   * @param {HTMLAudioElement} [options.remoteAudio] plays the other end
   * @param {MediaStream|Promise<MediaStream>} [options.stream] the local
   *   microphone; opened here when not given
   */
  constructor(client, callId, options = {}) {
    super();
    const { iceServers = [], remoteAudio = null, stream = null } = options;
    this.client = client;
    this.callId = callId;
    this.remoteAudio = remoteAudio;
    this.muted = false;
    this.held = false;
    this.closed = false;
    this.localStream = null;
    this._ownsStream = stream === null;
    this._pendingCandidates = [];
    this._chain = Promise.resolve();
    this.pc = new RTCPeerConnection({ iceServers });
    this._watchPeerConnection();
    this._listeners = this._subscribe();
    this._enqueue(() => this._addMicrophone(stream ?? openMicrophone()));
  }

  /** True once an offer and its answer are applied and none is pending. */
  get negotiated() {
    return this.pc.currentRemoteDescription !== null && this.pc.signalingState === 'stable';
  }

  /** The peer connection's state: new, connecting, connected, failed, ... */
  get connectionState() {
    return this.pc.connectionState;
  }

  /** Makes and sends an offer (the customer does, once answered). */
  offer() {
    return this._enqueue(() => this._sendOffer());
  }

  /** Puts the call on hold (`sendonly`) or takes it off, by re-offer. */
  setHold(on) {
    return this._enqueue(async () => {
      this.held = on;
      this._applyTrackEnabled();
      const transceiver = this._audioTransceiver();
      if (transceiver) transceiver.direction = on ? 'sendonly' : 'sendrecv';
      await this._sendOffer();
    });
  }

  /** Silences the microphone locally and tells the other end. */
  setMute(on) {
    this.muted = on;
    this._applyTrackEnabled();
    this._request('call.mute', { on });
  }

  /** Audio packet counters of this call so far. */
  async stats() {
    const totals = { packetsReceived: 0, packetsSent: 0 };
    if (this.closed) return totals;
    const report = await this.pc.getStats();
    report.forEach((entry) => {
      const audio = entry.kind === 'audio' || entry.mediaType === 'audio';
      if (!audio) return;
      if (entry.type === 'inbound-rtp') {
        totals.packetsReceived += entry.packetsReceived ?? 0;
      } else if (entry.type === 'outbound-rtp') {
        totals.packetsSent += entry.packetsSent ?? 0;
      }
    });
    return totals;
  }

  /** Ends the media of this call; safe to call twice. */
  close() {
    if (this.closed) return;
    this.closed = true;
    for (const [type, listener] of this._listeners) {
      this.client.removeEventListener(type, listener);
    }
    this.pc.close();
    if (this._ownsStream) this.localStream?.getTracks().forEach((t) => t.stop());
    if (this.remoteAudio) this.remoteAudio.srcObject = null;
  }

  _subscribe() {
    const listeners = new Map([
      ['sdp.offer', (event) => this._onOffer(event.detail)],
      ['sdp.answer', (event) => this._onAnswer(event.detail)],
      ['ice.candidate', (event) => this._onCandidate(event.detail)],
    ]);
    for (const [type, listener] of listeners) {
      this.client.addEventListener(type, listener);
    }
    return listeners;
  }

  _watchPeerConnection() {
    const pc = this.pc;
    pc.addEventListener('icecandidate', (event) => this._sendCandidate(event.candidate));
    pc.addEventListener('track', (event) => this._playRemote(event));
    const changed = () => {
      const state = pc.connectionState;
      this.dispatchEvent(new CustomEvent('state', { detail: { state } }));
    };
    pc.addEventListener('connectionstatechange', changed);
    pc.addEventListener('signalingstatechange', changed);
  }

  // Every step that touches the peer connection runs in order, so an offer
  // that arrives while the microphone is still opening waits for it.
  _enqueue(step) {
    const run = this._chain.then(() => (this.closed ? undefined : step()));
    this._chain = run.catch((error) => this._fail(error));
    return run;
  }

  _request(type, fields) {
    try {
      this.client.request(type, { call_id: this.callId, ...fields });
    } catch (error) {
      this._fail(error);
    }
  }

  _fail(error) {
    if (this.closed) return;
    console.warn('helpline: call media failed:', error);
    this.dispatchEvent(new CustomEvent('error', { detail: { error } }));
  }

  async _addMicrophone(streamOrPromise) {
    const stream = await streamOrPromise;
    if (this.closed) {
      if (this._ownsStream) stream.getTracks().forEach((t) => t.stop());
      return;
    }
    this.localStream = stream;
    for (const track of stream.getAudioTracks()) this.pc.addTrack(track, stream);
    this._applyTrackEnabled();
  }

  async _sendOffer() {
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    this._request('sdp.offer', { sdp: this.pc.localDescription.sdp });
  }

  _onOffer(message) {
    if (message.call_id !== this.callId) return;
    this._enqueue(async () => {
      await this.pc.setRemoteDescription({ type: 'offer', sdp: message.sdp });
      await this._applyPendingCandidates();
      const answer = await this.pc.createAnswer();
      await this.pc.setLocalDescription(answer);
      this._request('sdp.answer', { sdp: this.pc.localDescription.sdp });
    });
  }

  _onAnswer(message) {
    if (message.call_id !== this.callId) return;
    this._enqueue(async () => {
      await this.pc.setRemoteDescription({ type: 'answer', sdp: message.sdp });
      await this._applyPendingCandidates();
    });
  }

  _onCandidate(message) {
    if (message.call_id !== this.callId) return;
    this._enqueue(() => this._addCandidate(message.candidate));
  }

  async _addCandidate(candidate) {
    if (this.pc.remoteDescription === null) {
      if (this._pendingCandidates.length < CANDIDATE_QUEUE_LIMIT) {
        this._pendingCandidates.push(candidate);
      }
      return;
    }
    if (candidate === null || candidate === '' || candidate.candidate === '') {
      // End of candidates; browsers that cannot take the marker need none.
      await this.pc.addIceCandidate().catch(() => {});
      return;
    }
    // One unusable candidate leaves the others to connect the call.
    await this.pc.addIceCandidate(candidate).catch((error) => {
      console.warn('helpline: a remote candidate was not usable:', error);
    });
  }

  async _applyPendingCandidates() {
    const pending = this._pendingCandidates;
    this._pendingCandidates = [];
    for (const candidate of pending) await this._addCandidate(candidate);
  }

  _sendCandidate(candidate) {
    if (this.closed) return;
    const init = candidate && candidate.candidate ? candidate.toJSON() : null;
    this._request('ice.candidate', { candidate: init });
  }

  _playRemote(event) {
    if (!this.remoteAudio) return;
    const stream = event.streams[0] ?? new MediaStream([event.track]);
    if (this.remoteAudio.srcObject === stream) return;
    this.remoteAudio.srcObject = stream;
    this.remoteAudio.play().catch(() => {});
  }

  _audioTransceiver() {
    return this.pc.getTransceivers().find((t) => t.sender.track?.kind === 'audio')
      ?? this.pc.getTransceivers()[0];
  }

  _applyTrackEnabled() {
    const enabled = !this.muted && !this.held;
    this.localStream?.getAudioTracks().forEach((track) => {
      track.enabled = enabled;
    });
  }
}

// Callbacks in the softphone (docs/callbacks.md): the due and upcoming
// lists, the offer of a due callback, and the outcome after its call.
//
// The lists come from `callback.list`, asked for when the session opens
// and pushed by the server when they change. A due callback may be claimed
// from the list; routing may also offer one to this agent (`callback.offer`),
// which rings like a call, with Claim and Skip and the time left. A claim
// makes the callback's call, which the softphone shows as any call
// (softphone.js): `dialling` while the customer's tab or phone rings, then
// answered. When an answered callback's call ends, the agent records how
// it went (`callback.outcome`). The phone number shows only as its last
// two digits (`number_hint`) until the claimed call brings it.

import { asSentence, messageListener } from './client.js';
import { dueInWords, journeyInWords } from './softphone-callback-words.js';

const PANEL_CODES = ['callback-taken', 'not-due', 'unknown-callback', 'agent-busy'];
const MAX_NOTE = 500;

export class Callbacks {
  /**
   * @param {object} phone the Softphone
   * @param {object} ui the parts from findCallbackUi
   */
  constructor(phone, ui) {
    this.phone = phone;
    this.ui = ui;
    this.due = [];
    this.upcoming = [];
    this.offer = null; // {callback, topic, ..., deadline} while offered
    this.error = '';
    this.outcomeError = '';
    this.recorded = new Map(); // callback id -> the outcome sent for it
    this._refs = new Map(); // request id -> what it asked ('claim', ...)
    this._countdown = null;
  }

  bind(client) {
    const on = messageListener(client, this);
    on('callback.list', this._onList);
    on('callback.offer', this._onOffer);
  }

  /** Asks for the lists again. */
  refresh() {
    if (this.phone.client?.connection === 'open') this._request('list', 'callback.list');
  }

  /** Claims a due callback, or the one offered; the call follows. */
  claim(callback) {
    if (!callback || this._onCall()) return;
    this.error = '';
    this._request('claim', 'callback.claim', { callback });
    this.phone.render();
  }

  /** Gives the offered callback back. */
  skip() {
    if (!this.offer) return;
    this._request('skip', 'callback.skip', { callback: this.offer.callback });
    this._clearOffer();
    this.phone.render();
  }

  /** Records how the callback of the ended call went. */
  recordOutcome(outcome, note) {
    const callback = this._wrappingUp();
    if (!callback || !outcome) return;
    const fields = { callback, outcome };
    const text = note.trim().slice(0, MAX_NOTE);
    if (text) fields.note = text;
    this.outcomeError = '';
    this.recorded.set(callback, outcome);
    this._request('outcome', 'callback.outcome', fields);
    this.phone.note = 'Outcome saved.';
    this.phone.render();
  }

  /** The claimed callback's call started dialling: the offer is over. */
  claimed() {
    this._clearOffer();
    this.error = '';
  }

  /** The agent's status moved on from ringing: an offer is over. */
  onAgentState(status) {
    if (this.offer && status !== 'ringing') this._clearOffer();
  }

  /** Takes an `error` about callbacks; false if it is about something else. */
  handleError(event) {
    const asked = this._refs.get(event.ref);
    if (!asked && !PANEL_CODES.includes(event.code)) return false;
    this._refs.delete(event.ref);
    const sentence = asSentence(event.message || `That did not work (${event.code})`);
    if (asked === 'outcome') {
      // Not recorded: the form shows again, with the reason.
      this.outcomeError = sentence;
      this.recorded.delete(this._wrappingUp(true));
    } else {
      this.error = sentence;
      if (asked === 'claim') this._clearOffer();
      // Taken by another agent, or not due yet: the list was out of date.
      if (asked === 'claim' || asked === 'skip') this.refresh();
    }
    this.phone.render();
    return true;
  }

  close() {
    this._clearOffer();
  }

  render() {
    const { ui } = this;
    ui.error.textContent = this.error;
    this._renderList(ui.due, this.due, true);
    this._renderList(ui.upcoming, this.upcoming, false);
    this._renderOffer();
    const wrapping = this._wrappingUp();
    ui.outcome.hidden = !wrapping;
    ui.outcomeError.textContent = this.outcomeError;
    if (!wrapping) ui.outcome.reset();
  }

  _onList(event) {
    this.due = Array.isArray(event.due) ? event.due : [];
    this.upcoming = Array.isArray(event.upcoming) ? event.upcoming : [];
    this.phone.render();
  }

  _onOffer(event) {
    const timeoutMs = (event.offer_timeout_s ?? 0) * 1000;
    this.offer = { ...event, deadline: Date.now() + timeoutMs };
    this.error = '';
    this.phone.ringer.start();
    clearInterval(this._countdown);
    this._countdown = setInterval(() => this._tick(), 250);
    this.phone.render();
  }

  _tick() {
    if (this.offer && Date.now() >= this.offer.deadline) {
      this._clearOffer();
      this.phone.note = 'The callback offer timed out.';
    }
    this.phone.render();
  }

  _clearOffer() {
    if (this.offer) this.phone.ringer.stop();
    this.offer = null;
    clearInterval(this._countdown);
    this._countdown = null;
  }

  // The callback whose answered call ended and has no outcome yet; with
  // `any`, also one whose outcome is on its way.
  _wrappingUp(any = false) {
    const call = this.phone.call;
    if (call?.state !== 'ended' || !call.callback || !call.answeredAt) return null;
    if (!any && this.recorded.has(call.callback)) return null;
    return call.callback;
  }

  _onCall() {
    const state = this.phone.call?.state;
    return Boolean(state) && state !== 'ended';
  }

  _request(kind, type, fields = {}) {
    try {
      this._refs.set(this.phone.client.request(type, fields), kind);
    } catch (error) {
      this.error = 'Not connected to the helpline; try again in a moment.';
      console.warn(`helpline: ${type} was not sent:`, error);
    }
  }

  _renderList(list, items, due) {
    const rows = items.map((item) => this._row(item, due));
    if (rows.length === 0) {
      const none = document.createElement('li');
      none.className = 'none';
      none.textContent = due ? 'No callback is due.' : 'No callback is waiting.';
      rows.push(none);
    }
    list.replaceChildren(...rows);
  }

  _row(item, due) {
    const row = document.createElement('li');
    row.className = 'callback-item';
    row.dataset.callback = item.id;
    row.dataset.state = item.state ?? '';
    row.append(
      textElement('strong', 'cb-when', dueInWords(item)),
      textElement('span', 'cb-topic', item.topic || 'No topic'),
      textElement('span', 'cb-number', `Number ${item.number_hint ?? '—'}`),
      textElement('span', 'cb-attempts', attemptsInWords(item)),
      textElement('span', 'cb-journey', journeyInWords(item.journey)),
    );
    if (item.agent) row.append(textElement('span', 'cb-agent', this._agentInWords(item)));
    if (due) row.append(this._claimButton(item));
    return row;
  }

  _claimButton(item) {
    const button = textElement('button', 'small primary', 'Claim');
    button.type = 'button';
    button.disabled = this._onCall() || ['dialling', 'connected'].includes(item.state);
    button.setAttribute('aria-label', `Claim the callback about ${item.topic || 'no topic'}`);
    button.addEventListener('click', () => this.claim(item.id));
    return button;
  }

  _agentInWords(item) {
    const mine = item.agent === this.phone.client?.welcome?.agent?.id;
    const who = mine ? 'you' : 'a colleague';
    return item.state === 'offered' ? `Offered to ${who}` : `Taken by ${who}`;
  }

  _renderOffer() {
    const { ui, offer } = this;
    ui.offer.hidden = !offer;
    if (!offer) return;
    const left = Math.max(0, Math.ceil((offer.deadline - Date.now()) / 1000));
    ui.offerCountdown.textContent = `${left} s`;
    ui.offerTopic.textContent = offer.topic || '—';
    ui.offerNumber.textContent = offer.number_hint || '—';
    ui.offerAttempts.textContent = attemptsInWords(offer);
    ui.offerJourney.textContent = journeyInWords(offer.journey);
    ui.offerStatus.textContent = this.error || 'Claim it to call the customer back now.';
  }
}

function attemptsInWords({ attempts = 0 }) {
  if (!attempts) return 'Not tried yet';
  return attempts === 1 ? 'Tried once' : `Tried ${attempts} times`;
}


function textElement(tag, className, text) {
  const element = document.createElement(tag);
  element.className = className;
  element.textContent = text;
  return element;
}

export function findCallbackUi(document) {
  const $ = (id) => document.getElementById(id);
  return {
    panel: $('callbacks'),
    refresh: $('callbacks-refresh'),
    error: $('callbacks-error'),
    due: $('callbacks-due'),
    upcoming: $('callbacks-upcoming'),
    offer: $('callback-offer'),
    offerCountdown: $('offer-countdown'),
    offerStatus: $('offer-status'),
    offerTopic: $('offer-topic'),
    offerNumber: $('offer-number'),
    offerAttempts: $('offer-attempts'),
    offerJourney: $('offer-journey'),
    offerClaim: $('offer-claim'),
    offerSkip: $('offer-skip'),
    outcome: $('callback-outcome'),
    outcomeError: $('outcome-error'),
  };
}

export function bindCallbackUi(callbacks, ui) {
  ui.refresh.addEventListener('click', () => callbacks.refresh());
  ui.offerClaim.addEventListener('click', () => callbacks.claim(callbacks.offer?.callback));
  ui.offerSkip.addEventListener('click', () => callbacks.skip());
  ui.outcome.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(ui.outcome);
    callbacks.recordOutcome(data.get('outcome'), String(data.get('note') ?? ''));
  });
}

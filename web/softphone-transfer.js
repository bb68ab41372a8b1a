// Transfers in the softphone: hand the call to a colleague at once (blind),
// or consult the colleague first and then complete or cancel.
//
// The colleagues come from `agent.list`; only available ones can be picked.
// A consult holds the customer (the customer's connection is re-offered
// `sendonly`, as for hold) and opens a second peer connection, to the
// colleague, on the consult call; the consulting agent makes its offer, as
// a customer does. The colleague sees the consult ring like a call; after
// a completed consult the customer's call is answered at the colleague's
// softphone with a fresh connection, which the customer offers.

import { CallMedia } from './client.js';

const CONSULT_ENDS = {
  declined: 'declined the consult',
  'no-answer': 'did not answer',
  'agent-hangup': 'hung up',
  'agent-lost': 'lost the connection',
  cancelled: 'was not consulted',
};

export class Transfers {
  /**
   * @param {object} phone the Softphone
   * @param {object} ui the transfer panel's parts
   */
  constructor(phone, ui) {
    this.phone = phone;
    this.ui = ui;
    this.agents = [];
    this.consult = null; // {id, state, name} while this agent consults
    this.media = null; // the consult call's peer connection
  }

  bind(client) {
    client.addEventListener('agent.list', (event) => {
      this.agents = event.detail.agents ?? [];
      this.phone.render();
    });
  }

  /** Asks for the colleagues and their status. */
  refresh() {
    if (this.phone.client?.connection === 'open') this.phone.client.request('agent.list');
  }

  /** Blind: the call rings the colleague; this agent is done with it. */
  transferNow() {
    const call = this.phone.call;
    const agent = this._picked();
    if (!agent || !['answered', 'held'].includes(call?.state)) return;
    this.phone.client.request('call.transfer', { call_id: call.id, agent: agent.id });
    this.phone.note = `Transferring the call to ${agent.name}…`;
    this.phone.render();
  }

  /** Blind, to the toll-free line: a media worker puts the caller
   * through. Only a caller whose menu offered FAQ answers and a callback
   * may go; the server says so otherwise. */
  transferToLine() {
    const call = this.phone.call;
    if (!['answered', 'held'].includes(call?.state)) return;
    this.phone.client.request('call.transfer', { call_id: call.id, tollfree: true });
    this.phone.note = 'Sending the caller to the toll-free line…';
    this.phone.render();
  }

  /** Holds the customer and rings the colleague on a consult call. */
  startConsult() {
    const call = this.phone.call;
    const agent = this._picked();
    if (!agent || !['answered', 'held'].includes(call?.state) || this.consult) return;
    this.consult = { id: null, state: 'requested', name: agent.name };
    this.phone.client.request('call.consult', { call_id: call.id, agent: agent.id });
    this.phone.render();
  }

  complete() {
    if (this.consult?.state !== 'answered') return;
    this.phone.client.request('call.consult_complete', { call_id: this.phone.call.id });
  }

  cancel() {
    if (!this.consult) return;
    this.phone.client.request('call.consult_cancel', { call_id: this.phone.call.id });
  }

  /** Serves a `call.state` about transfers; true if it was one. */
  onCallState(event) {
    const call = this.phone.call;
    if (event.consult && event.call_id !== call?.id && this._consulting(event)) {
      this._onConsultState(event);
      return true;
    }
    if (event.transfer === 'attended' && event.state === 'answered' && event.call_id !== call?.id) {
      this._takeOver(event);
      return true;
    }
    return false;
  }

  /** The customer's call moved: hold it for a consult, resume after one. */
  onMainState(before, state) {
    const media = this.phone.media;
    if (state === 'consulting' && before !== 'held') media?.setHold(true);
    if (state === 'answered' && before === 'consulting') media?.setHold(false);
    if (state === 'answered' || state === 'held') this.refresh();
    if (state === 'ended') {
      this.close();
      this.phone.note = ''; // the end reason says what became of the call
    }
  }

  /** Audio packet counters of the consult call. */
  async stats() {
    if (!this.media) return { packetsReceived: 0, packetsSent: 0 };
    return this.media.stats();
  }

  close() {
    this.media?.close();
    this.media = null;
    this.consult = null;
  }

  /** The title and status while consulting, or null. */
  texts(call) {
    if (call.consult) return this._consultedTexts(call);
    if (call.state !== 'consulting') return null;
    const name = this.consult?.name ?? 'a colleague';
    const title = `Consulting ${name}`;
    if (this.consult?.state === 'answered') {
      return [title, `You are talking with ${name}; the customer is on hold.`];
    }
    return [title, `Ringing ${name}… The customer is on hold.`];
  }

  render(call) {
    const { ui } = this;
    const state = call?.state;
    const canHand = ['answered', 'held'].includes(state) && !call.consult;
    ui.panel.hidden = !canHand;
    if (canHand) this._renderTargets();
    const picked = Boolean(this._picked());
    ui.transfer.disabled = !picked;
    ui.consult.disabled = !picked;
    const offers = call?.journey?.offers ?? [];
    ui.line.hidden = !(offers.includes('faq') && offers.includes('callback'));
    const consulting = state === 'consulting';
    ui.complete.hidden = !consulting;
    ui.complete.disabled = this.consult?.state !== 'answered';
    ui.cancel.hidden = !consulting;
  }

  _renderTargets() {
    const { target } = this.ui;
    const chosen = target.value;
    const available = this.agents.filter((agent) => agent.status === 'available');
    const options = available.map((agent) => new Option(agent.name, agent.id));
    if (!options.length) options.push(new Option('No colleague is available', ''));
    target.replaceChildren(...options);
    if (available.some((agent) => agent.id === chosen)) target.value = chosen;
  }

  _picked() {
    const id = this.ui.target.value;
    return this.agents.find((agent) => agent.id === id && agent.status === 'available');
  }

  _consulting(event) {
    if (this.consult?.id) return event.call_id === this.consult.id;
    return this.consult !== null && event.consult.call_id === this.phone.call?.id;
  }

  _onConsultState(event) {
    const consult = this.consult;
    consult.id = event.call_id;
    consult.state = event.state;
    if (event.state === 'answered' && !this.media) {
      this.media = new CallMedia(this.phone.client, consult.id, {
        iceServers: this.phone.client.iceServers,
        remoteAudio: this.ui.audio,
      });
      this.media.offer();
    }
    if (event.state === 'ended') {
      const ended = CONSULT_ENDS[event.reason];
      this.close();
      if (ended) this.phone.note = `${consult.name} ${ended}; the customer is back with you.`;
    }
    this.phone.render();
  }

  // The consult was completed: the customer's call is ours now.
  _takeOver(event) {
    this.phone.adoptCall(event);
  }

  _consultedTexts(call) {
    const from = call.consult.from?.name ?? 'A colleague';
    const about = call.caller.name ? ` about ${call.caller.name}` : '';
    const texts = {
      ringing: ['Incoming consult', `${from} wants to consult you${about}.`],
      answered: [`Consult with ${from}`, `The customer is on hold with ${from}.`],
    };
    return texts[call.state] ?? null;
  }
}

export function findTransferUi(document) {
  const $ = (id) => document.getElementById(id);
  return {
    panel: $('transfer'),
    target: $('transfer-target'),
    transfer: $('transfer-now'),
    line: $('transfer-line'),
    consult: $('consult'),
    complete: $('complete'),
    cancel: $('cancel-consult'),
    audio: $('consult-audio'),
  };
}

export function bindTransferUi(transfers, ui) {
  ui.target.addEventListener('focus', () => transfers.refresh());
  ui.target.addEventListener('change', () => transfers.phone.render());
  ui.transfer.addEventListener('click', () => transfers.transferNow());
  ui.line.addEventListener('click', () => transfers.transferToLine());
  ui.consult.addEventListener('click', () => transfers.startConsult());
  ui.complete.addEventListener('click', () => transfers.complete());
  ui.cancel.addEventListener('click', () => transfers.cancel());
}

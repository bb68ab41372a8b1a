// The IVR in the page: what the server's `ivr.*` events show, and what the
// customer's clicks and key presses send back (docs/protocol.md).
//
// The same menu a phone caller hears shows here as text and buttons: the
// prompt text (also spoken, see widget-voice.js), the FAQ answers given as
// cards, the menu's options as buttons, the callback form, and the outcome
// (callback booked, or the toll-free number as a last resort). Keys typed
// on the keypad go to the server one by one, as on a phone. A callback the
// server refuses over a daily limit is said at the form, and stays said
// under it once the IVR has moved on.

import { asSentence } from './client.js';
import { countriesInWords, windowBounds } from './widget-callback-words.js';
import { textElement } from './widget-faq.js';
import { PromptVoice } from './widget-voice.js';

const MAX_ENTRY = 32;
const KEY_WORDS = { '*': 'star', '#': 'pound' };

const TEMPLATE = `
  <p class="prompt" aria-live="polite"></p>
  <button type="button" class="play" hidden>Play</button>
  <ol class="cards" aria-label="Answers"></ol>
  <div class="options" role="group" aria-label="Menu"></div>
  <form class="callback" aria-label="Callback" novalidate hidden>
    <label for="hl-number">Your phone number</label>
    <input id="hl-number" name="number" type="tel" autocomplete="tel"
           inputmode="tel" maxlength="32" aria-describedby="hl-number-error hl-number-hint">
    <p class="form-error" id="hl-number-error" role="alert"></p>
    <p class="hint" id="hl-number-hint"></p>
    <fieldset class="windows">
      <legend>When should we call?</legend>
    </fieldset>
    <div class="form-actions">
      <button type="submit" class="submit">Call me back</button>
      <button type="button" class="decline">No thanks</button>
    </div>
  </form>
  <p class="entry" aria-label="Keys typed"></p>
  <p class="outcome" aria-live="polite"></p>
`;

function keyWord(digits) {
  return [...digits].map((key) => KEY_WORDS[key] ?? key).join(' ');
}

export class IvrView extends EventTarget {
  /**
   * @param {object} parts
   * @param {HTMLElement} parts.root the (empty) element the IVR draws itself in
   * @param {HTMLAudioElement} parts.audio plays the prompts
   * @param {HTMLButtonElement} parts.voiceSwitch turns the spoken prompts on or off
   * @param {string} origin the Helpline URL that audio paths are on
   */
  constructor({ root, audio, voiceSwitch }, origin) {
    super();
    this.root = root;
    root.innerHTML = TEMPLATE;
    this.ui = { ...findParts(root), voice: voiceSwitch };
    this.channel = null;
    this.voice = new PromptVoice(audio, {
      origin,
      onDone: (play) => this.channel?.promptDone(play),
    });
    this.voice.addEventListener('change', () => this._changed());
    this._bind();
    this.reset();
  }

  /** Forgets the last call. */
  reset() {
    Object.assign(this, {
      channel: null,
      prompt: null,
      menu: null,
      form: null,
      collect: null,
      entry: '',
      cards: [],
      outcome: null,
      throughToLine: false,
      formError: '',
      refusal: '',
      _callbackRef: null,
    });
    this.voice.close();
    this.ui.cards.replaceChildren();
    this.ui.options.replaceChildren();
    this.ui.form.reset();
  }

  /** The call entered the IVR; requests go out on `channel`. */
  start(channel) {
    this.channel = channel;
  }

  /** True once the call has been in the IVR. */
  get started() {
    return this.channel !== null;
  }

  /** Dispatches one server event; false if it is not an IVR event. */
  handle(event) {
    const handler = HANDLERS[event.type];
    if (!handler || !this.channel || event.call_id !== this.channel.callId) return false;
    handler.call(this, event);
    this._changed();
    return true;
  }

  /** Takes an `error` that answers the callback form; false if it is not one. */
  handleError(event) {
    const answersForm = event.ref != null && event.ref === this._callbackRef;
    if (!answersForm && !(this.form && event.code === 'invalid-number')) return false;
    this._callbackRef = null;
    this.formError = asSentence(event.message || 'That number does not work');
    this._changed();
    this.ui.number.focus();
    return true;
  }

  /** One key of the keypad (or the keyboard). */
  digit(key) {
    if (!this.channel) return;
    this.entry = (this.entry + key).slice(-MAX_ENTRY);
    this.channel.digit(key);
    this._changed();
  }

  /** A menu option's button. */
  choose(digits) {
    if (!this.menu) return;
    this.channel.choose(this.menu.node, digits);
    this.menu.chosen = digits;
    this._changed();
  }

  /** The callback form, sent; the server checks the number. */
  submitCallback(number, window) {
    if (!this.form) return;
    if (!number.trim()) {
      this.formError = 'Please enter your phone number.';
    } else {
      this.formError = '';
      this._callbackRef = this.channel.callback(this.form.node, {
        number: number.trim(),
        window,
      });
    }
    this._changed();
  }

  /** "No thanks" to the callback. */
  declineCallback() {
    if (!this.form) return;
    this.channel.callback(this.form.node, { decline: true });
    this.form = null;
    this._changed();
  }

  /** An agent took the call, or it ended: no more prompts. */
  leave() {
    this.voice.close();
    this.menu = null;
    this.form = null;
    this.collect = null;
  }

  /** What the widget's status line says while the call is in the IVR. */
  statusText() {
    if (this.outcome?.kind === 'callback') {
      const when = this.outcome.window ? ` between ${windowBounds(this.outcome.window)}` : '';
      return ['Callback booked.', `We will call you back${when}.`];
    }
    if (this.outcome?.kind === 'tollfree') {
      return ['Please call our toll-free line.', 'Our agents are all busy right now.'];
    }
    if (this.throughToLine) {
      return ['Putting you through to our toll-free line…', 'Please stay on the line.'];
    }
    if (this.form) return ['We can call you back.', 'Leave your number, or choose No thanks.'];
    if (this.menu) return ['Choose an option.', 'Click it, or press its key on the keypad.'];
    if (this.collect?.max_digits > 3) {
      return ['Type your number on the keypad.', 'Then press #.'];
    }
    return ['Our automated assistant', 'Please listen, or read along.'];
  }

  /** Shows what fits the widget's call `state`. */
  render(state) {
    const { ui } = this;
    const inIvr = state === 'ivr';
    const visible = this.started && ['ivr', 'queued', 'ringing', 'ended'].includes(state);
    this.root.hidden = !visible;
    ui.prompt.textContent = state === 'ended' ? '' : (this.prompt?.text ?? '');
    ui.voice.hidden = !this.started || !['ivr', 'queued'].includes(state);
    ui.voice.setAttribute('aria-checked', String(this.voice.on));
    ui.play.hidden = !this.voice.blocked || state === 'ended';
    ui.options.hidden = !inIvr || !this.menu;
    this._renderMenu();
    this._renderCards();
    ui.form.hidden = !inIvr || !this.form;
    ui.formError.textContent = this.formError || this.refusal;
    ui.number.setAttribute('aria-invalid', String(Boolean(this.formError)));
    ui.entry.hidden = !inIvr;
    ui.entry.textContent = this.entry ? `Keys: ${this.entry}` : '';
    this._renderOutcome();
  }

  _bind() {
    const { ui } = this;
    ui.voice.addEventListener('click', () => {
      this.voice.setOn(!this.voice.on);
      this._changed();
    });
    ui.play.addEventListener('click', () => this.voice.playBlocked());
    ui.form.addEventListener('submit', (event) => {
      event.preventDefault();
      const window = new FormData(ui.form).get('window');
      this.submitCallback(ui.number.value, window || null);
    });
    ui.decline.addEventListener('click', () => this.declineCallback());
  }

  _onPrompt(event) {
    this._leaveOtherNodes(event.node);
    // An FAQ answer shows as a card; the prompt line is for the rest.
    this.prompt = {
      play: event.play,
      node: event.node,
      text: event.faq ? '' : (event.text ?? ''),
      faq: event.faq ?? null,
    };
    if (event.faq) this._addCard(event);
    this.voice.prompt(event.play, event.audio ?? null);
  }

  // A prompt of another node means the call moved on from the menu or the
  // form shown: its buttons would now press keys at the wrong node.
  _leaveOtherNodes(node) {
    if (this.menu && this.menu.node !== node) this.menu = null;
    if (this.form && this.form.node !== node) this.form = null;
    if (this.collect && this.collect.node !== node) {
      this.collect = null;
      this.entry = '';
    }
  }

  _addCard(event) {
    const card = {
      id: event.faq.id,
      question: event.faq.question ?? '',
      answer: event.text ?? '',
      audio: event.audio ?? null,
    };
    this.cards = [...this.cards.filter((c) => c.id !== card.id), card];
    this.ui.cards.replaceChildren(...this.cards.map((c) => this._cardElement(c)));
    this._reveal(this.ui.cards.lastElementChild);
  }

  _cardElement(card) {
    const item = document.createElement('li');
    item.className = 'card';
    item.dataset.faq = card.id;
    item.append(textElement('h3', 'question', card.question));
    item.append(textElement('p', 'answer-text', card.answer));
    if (card.audio) {
      const button = textElement('button', 'listen', 'Listen again');
      button.type = 'button';
      button.setAttribute('aria-label', `Listen again: ${card.question}`);
      button.addEventListener('click', () => this.voice.replay(card.audio));
      item.append(button);
    }
    return item;
  }

  _onStopPrompt(event) {
    this.voice.stop(event.play);
  }

  _onMenu(event) {
    this.menu = { node: event.node, options: event.options ?? [], chosen: null };
    this.form = null;
    this.entry = '';
    this._buildMenu();
  }

  _onCallbackForm(event) {
    this.form = {
      node: event.node,
      windows: event.windows ?? [],
      countries: event.countries ?? [],
      timeZone: event.time_zone ?? '',
    };
    this.menu = null;
    this.formError = '';
    this.refusal = '';
    this.entry = '';
    this._buildForm();
  }

  _onCollect(event) {
    this.collect = { node: event.node, max_digits: event.max_digits ?? 1 };
    this.entry = '';
  }

  // A limit refused the request: the IVR says so, then takes the node's
  // declined path (the form goes with the next node's prompt).
  _onCallbackRefused(event) {
    this.refusal = asSentence(event.message || 'We cannot take this callback request');
  }

  _onCallbackRequested(event) {
    this.outcome = { kind: 'callback', window: event.window ?? null };
    this.refusal = '';
    this.menu = null;
    this.form = null;
  }

  _onTollfree(event) {
    this.menu = null;
    this.form = null;
    // Bridged: Helpline puts the call through itself; the number is shown
    // only if that fails for good (the call ends with the number).
    this.throughToLine = Boolean(event.bridged);
    if (!this.throughToLine) this.outcome = { kind: 'tollfree', number: event.number ?? '' };
  }

  _buildMenu() {
    const hadFocus = this.ui.options.contains(this.root.getRootNode().activeElement);
    const buttons = this.menu.options.map((option) => this._optionButton(option));
    this.ui.options.replaceChildren(...buttons);
    if (hadFocus) buttons[0]?.focus();
    this._reveal(this.ui.options);
  }

  _optionButton({ digits, label }) {
    const button = document.createElement('button');
    button.type = 'button';
    button.dataset.digits = digits;
    button.append(textElement('span', 'key', digits), textElement('span', 'label', label));
    button.setAttribute('aria-label', `${label} (key ${keyWord(digits)})`);
    button.addEventListener('click', () => this.choose(digits));
    return button;
  }

  _buildForm() {
    const { ui, form } = this;
    ui.form.reset();
    ui.hint.textContent = countriesInWords(form.countries);
    const choices = form.windows.map((window, index) => {
      const label = document.createElement('label');
      const radio = document.createElement('input');
      Object.assign(radio, { type: 'radio', name: 'window', value: window });
      radio.checked = index === 0;
      label.append(radio, ` ${window.replace('-', ' – ')}`);
      return label;
    });
    ui.windowsLegend.textContent = form.timeZone
      ? `When should we call? (${form.timeZone.replaceAll('_', ' ')} time)`
      : 'When should we call?';
    ui.windows.replaceChildren(ui.windowsLegend, ...choices);
    ui.windows.hidden = choices.length === 0;
    this._reveal(ui.form);
  }

  // Scrolls what just appeared into the panel's view, once it is shown.
  _reveal(element) {
    requestAnimationFrame(() => element.scrollIntoView({ block: 'nearest' }));
  }

  _renderMenu() {
    for (const button of this.ui.options.children) {
      const chosen = button.dataset.digits === this.menu?.chosen;
      button.setAttribute('aria-pressed', String(chosen));
    }
  }

  _renderCards() {
    for (const item of this.ui.cards.children) {
      const playing = this.prompt?.faq?.id === item.dataset.faq && Boolean(this.voice.playing);
      item.dataset.playing = String(playing);
    }
  }

  // Only the toll-free number shows here, as a link: a callback booked is
  // said once, in the widget's status (statusText).
  _renderOutcome() {
    const { outcome } = this.ui;
    outcome.classList.toggle('refused', Boolean(this.refusal) && !this.outcome);
    if (this.outcome?.kind === 'tollfree' && this.outcome.number) {
      const link = document.createElement('a');
      link.href = `tel:${this.outcome.number.replace(/[^0-9+]/g, '')}`;
      link.textContent = this.outcome.number;
      outcome.replaceChildren('Call us free on ', link, '.');
    } else if (this.refusal && !this.form) {
      outcome.replaceChildren(this.refusal);
    } else {
      outcome.replaceChildren();
    }
  }

  _changed() {
    this.dispatchEvent(new Event('change'));
  }
}

const HANDLERS = {
  'ivr.prompt': IvrView.prototype._onPrompt,
  'ivr.stop_prompt': IvrView.prototype._onStopPrompt,
  'ivr.menu': IvrView.prototype._onMenu,
  'ivr.callback_form': IvrView.prototype._onCallbackForm,
  'ivr.collect': IvrView.prototype._onCollect,
  'ivr.callback_refused': IvrView.prototype._onCallbackRefused,
  'ivr.callback_requested': IvrView.prototype._onCallbackRequested,
  'ivr.tollfree': IvrView.prototype._onTollfree,
};

function findParts(root) {
  const part = (selector) => root.querySelector(selector);
  return {
    prompt: part('.prompt'),
    voice: part('.voice'),
    play: part('.play'),
    cards: part('.cards'),
    options: part('.options'),
    form: part('.callback'),
    number: part('input[name="number"]'),
    hint: part('.hint'),
    windows: part('.windows'),
    windowsLegend: part('.windows legend'),
    formError: part('.form-error'),
    decline: part('.decline'),
    entry: part('.entry'),
    outcome: part('.outcome'),
  };
}

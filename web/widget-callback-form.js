// The widget's own "Call me back" form, outside any call (docs/callbacks.md).
//
// The customer's `welcome` says whether callbacks are on, and with what:
// the windows offered (times of day in the line's time zone), the countries
// called, and the consent sentence, shown beside the button and sent back
// with the request. The form sends `callback.request`; the server answers
// with `callback.status` (kept: the pending card takes over) or refuses
// with an `error` or `callback.refused`, whose sentence shows at the form
// while what the customer typed stays.

import { asSentence } from './client.js';
import { countriesInWords, windowInWords } from './widget-callback-words.js';
import { visitId } from './widget-visit.js';

const DAYS_AHEAD = 7;
const MAX_TOPIC = 64;
const FORM_CODES = ['invalid-number', 'invalid-window', 'callback-limit', 'rate-limited'];
const FALLBACK = {
  'invalid-number': 'That number does not work. Please check it',
  'invalid-window': 'We cannot call at that time. Please choose another',
  'callback-limit': 'We cannot take another callback request today',
  'rate-limited': 'Too many requests. Please try again in a minute',
};
const UNREACHABLE = 'We could not reach the helpline. Please try again in a minute.';

const TEMPLATE = `
  <h3 id="hl-cb-title">We can call you back</h3>
  <label for="hl-cb-number">Phone number</label>
  <input id="hl-cb-number" name="number" type="tel" autocomplete="tel"
         inputmode="tel" maxlength="32" aria-describedby="hl-cb-error hl-cb-hint">
  <p class="hint" id="hl-cb-hint"></p>
  <fieldset class="windows">
    <legend>When should we call?</legend>
  </fieldset>
  <label for="hl-cb-day">Day</label>
  <select id="hl-cb-day" name="date"></select>
  <p class="form-error" id="hl-cb-error" role="alert"></p>
  <p class="consent"></p>
  <div class="form-actions">
    <button type="submit" class="submit">Request callback</button>
    <button type="button" class="back">Back</button>
  </div>
`;

/** `count` days from today in `timeZone`: [{date: "2026-12-05", label}]. */
export function daysAhead(timeZone, count = DAYS_AHEAD, now = new Date()) {
  let today;
  try {
    today = new Intl.DateTimeFormat('en-CA', { timeZone }).format(now);
  } catch {
    today = new Intl.DateTimeFormat('en-CA').format(now); // the browser's zone
  }
  const [year, month, day] = today.split('-').map(Number);
  const long = new Intl.DateTimeFormat('en', {
    timeZone: 'UTC',
    weekday: 'long',
    day: 'numeric',
    month: 'long',
  });
  return Array.from({ length: count }, (_, index) => {
    const date = new Date(Date.UTC(year, month - 1, day + index));
    const named = ['Today', 'Tomorrow'][index];
    const label = named ? `${named}, ${long.format(date)}` : long.format(date);
    return { date: date.toISOString().slice(0, 10), label };
  });
}

export class CallbackForm extends EventTarget {
  /**
   * @param {HTMLFormElement} form the (empty) form element in the dock
   * @param {object} options
   * @param {(type: string, fields: object) => string} options.request sends
   *   a request on the widget's session and returns its id
   * @param {string|null} options.topic the page's topic, sent along
   */
  constructor(form, { request, topic = null }) {
    super();
    form.innerHTML = TEMPLATE;
    this.form = form;
    this.ui = findParts(form);
    this.request = request;
    this.topic = topic;
    this.offer = undefined; // welcome.callbacks; null when callbacks are off
    this.open = false;
    this.error = '';
    this.sending = null; // the id of the request waiting for its answer
    this._bind();
  }

  /** Takes `welcome.callbacks`; null or missing hides the form. */
  configure(offer) {
    this.offer = offer && typeof offer === 'object' ? offer : null;
    if (!this.offer) this.open = false;
    if (this.offer) this._build();
    this._changed();
  }

  show() {
    if (!this.offer) return;
    this.open = true;
    this._changed();
    this.ui.number.focus();
  }

  hide() {
    this.open = false;
    this.sending = null;
    this._changed();
  }

  /** Sends the request; the values typed stay until it is kept. */
  submit() {
    const number = this.ui.number.value.trim();
    if (!number) {
      this._refused('Please enter your phone number.');
      return;
    }
    try {
      this.sending = this.request('callback.request', this._fields(number));
      this.error = '';
    } catch (error) {
      console.warn('helpline: the callback request was not sent:', error);
      this._refused(UNREACHABLE);
      return;
    }
    this._changed();
  }

  /** A `callback.status` with a token: the request is kept. */
  kept() {
    if (!this.sending) return;
    this.form.reset();
    this._build();
    this.error = '';
    this.hide();
  }

  /** Takes an `error` or `callback.refused` that answers the form; false if
   * it is about something else. */
  handleError(event) {
    const answers = this.sending !== null && event.ref === this.sending;
    const refused = event.type === 'callback.refused' && this.sending !== null;
    const ours = this.open && FORM_CODES.includes(event.code) && event.ref == null;
    if (!answers && !refused && !ours) return false;
    this._refused(asSentence(event.message || FALLBACK[event.code] || UNREACHABLE));
    return true;
  }

  render() {
    const { ui } = this;
    this.form.hidden = !this.open;
    ui.error.textContent = this.error;
    ui.number.setAttribute('aria-invalid', String(Boolean(this.error)));
    ui.submit.disabled = this.sending !== null;
    ui.submit.textContent = this.sending ? 'Sending…' : 'Request callback';
    const soon = new FormData(this.form).get('window') === '';
    ui.day.disabled = soon;
  }

  _fields(number) {
    const fields = { number, consent: this.offer?.consent ?? '', visit: visitId() };
    const data = new FormData(this.form);
    const window = data.get('window');
    if (window) {
      fields.window = window;
      if (data.get('date')) fields.date = data.get('date');
    }
    if (this.topic) fields.topic = this.topic.slice(0, MAX_TOPIC);
    return fields;
  }

  _refused(sentence) {
    this.sending = null;
    this.error = sentence;
    this._changed();
    this.ui.number.focus();
  }

  _bind() {
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
    });
    this.form.addEventListener('change', () => this._changed());
    this.ui.back.addEventListener('click', () => this.hide());
  }

  _build() {
    const { ui, offer } = this;
    ui.hint.textContent = countriesInWords(offer.countries);
    const zone = offer.time_zone ? ` (${offer.time_zone.replaceAll('_', ' ')} time)` : '';
    ui.legend.textContent = `When should we call?${zone}`;
    const windows = Array.isArray(offer.windows) ? offer.windows : [];
    const choices = ['', ...windows].map((window, index) => {
      const label = document.createElement('label');
      const radio = document.createElement('input');
      Object.assign(radio, { type: 'radio', name: 'window', value: window });
      radio.checked = index === 0;
      label.append(radio, ` ${windowInWords(window)}`);
      return label;
    });
    ui.windows.replaceChildren(ui.legend, ...choices);
    const days = daysAhead(offer.time_zone);
    const first = new Option('The first day possible', '');
    ui.day.replaceChildren(first, ...days.map((day) => new Option(day.label, day.date)));
    ui.consent.textContent = offer.consent ?? '';
  }

  _changed() {
    this.dispatchEvent(new Event('change'));
  }
}

function findParts(form) {
  const part = (selector) => form.querySelector(selector);
  return {
    number: part('input[name="number"]'),
    hint: part('.hint'),
    windows: part('.windows'),
    legend: part('.windows legend'),
    day: part('select[name="date"]'),
    error: part('.form-error'),
    consent: part('.consent'),
    submit: part('.submit'),
    back: part('.back'),
  };
}

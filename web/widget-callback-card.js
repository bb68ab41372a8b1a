// The pending-callback card: where a kept callback stands, from the
// `callback.status` events pushed to the page that follows it.
//
// A kept request comes with its secret `token`; the card keeps `{callback,
// token}` in sessionStorage, so after a reload the widget's new session
// sends `callback.attach` and follows the same callback again (and is rung
// in this tab when an agent calls back). The customer may cancel while the
// callback waits. A final state (done, failed, cancelled) is shown until
// the customer closes the card, and the stored token is forgotten.

import { asSentence } from './client.js';
import { isFinal, statusInWords } from './widget-callback-words.js';

const STORAGE_KEY = 'helpline.callback';
const CANCELLABLE = ['waiting', 'offered'];

const TEMPLATE = `
  <header>
    <h3 id="hl-cbc-title">Your callback</h3>
    <button type="button" class="dismiss" aria-label="Close the callback card">&times;</button>
  </header>
  <p class="cb-title" aria-live="polite"></p>
  <p class="cb-detail" aria-live="polite"></p>
  <p class="form-error" role="alert"></p>
  <button type="button" class="cancel-callback">Cancel callback</button>
`;

function loadStored() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY));
    return stored?.callback && stored?.token ? stored : null;
  } catch {
    return null;
  }
}

export class CallbackCard extends EventTarget {
  /**
   * @param {HTMLElement} root the (empty) element the card draws itself in
   * @param {object} options
   * @param {(type: string, fields: object) => string} options.request sends
   *   a request on the widget's session and returns its id
   */
  constructor(root, { request }) {
    super();
    root.innerHTML = TEMPLATE;
    this.root = root;
    this.request = request;
    this.ui = findParts(root);
    this.status = null; // the last `callback.status`
    this.error = '';
    this._refs = new Set(); // ids of our attach and cancel requests
    this.ui.cancel.addEventListener('click', () => this.cancel());
    this.ui.dismiss.addEventListener('click', () => this.dismiss());
  }

  /** `{callback, token}` of the callback this page follows, or null. */
  get stored() {
    return loadStored();
  }

  /** True while a callback is kept and not final. */
  get pending() {
    if (this.status) return !isFinal(this.status.state);
    return this.stored !== null;
  }

  /** A new session: follow the stored callback again, if any. */
  attach() {
    const stored = this.stored;
    if (stored) this._send('callback.attach', stored);
  }

  /** Takes a `callback.status`; false if it is about another callback. */
  handle(event) {
    const stored = this.stored;
    if (event.token) {
      sessionStorage.setItem(
        STORAGE_KEY,
        JSON.stringify({ callback: event.callback, token: event.token }),
      );
    } else if (stored?.callback !== event.callback) {
      return false;
    }
    this.status = event;
    this.error = '';
    if (isFinal(event.state)) sessionStorage.removeItem(STORAGE_KEY);
    this._changed();
    return true;
  }

  /** Takes an `error` that answers an attach or a cancel; false otherwise. */
  handleError(event) {
    if (!this._refs.delete(event.ref)) return false;
    if (event.code === 'unknown-callback') {
      // Ended, or never ours: nothing left to follow.
      sessionStorage.removeItem(STORAGE_KEY);
      if (!this.status || !isFinal(this.status.state)) this.status = null;
    } else {
      this.error = asSentence(event.message || 'That did not work. Please try again');
    }
    this._changed();
    return true;
  }

  cancel() {
    const stored = this.stored;
    if (!stored || !CANCELLABLE.includes(this.status?.state)) return;
    this._send('callback.cancel', stored);
  }

  /** Closes a card whose callback is over. */
  dismiss() {
    if (this.pending) return;
    this.status = null;
    this._changed();
  }

  /** Shows the card unless `covered` (the widget's panel shows the call). */
  render(covered = false) {
    const { ui, status } = this;
    this.root.hidden = covered || !status;
    if (!status) return;
    const [title, detail] = statusInWords(status);
    ui.title.textContent = title;
    ui.detail.textContent = status.merged && !status.attempts
      ? 'You had asked already: we kept your earlier request.'
      : detail;
    ui.error.textContent = this.error;
    ui.cancel.hidden = !CANCELLABLE.includes(status.state);
    ui.dismiss.hidden = !isFinal(status.state);
    this.root.dataset.state = status.state;
  }

  _send(type, stored) {
    try {
      this._refs.add(this.request(type, { callback: stored.callback, token: stored.token }));
    } catch (error) {
      console.warn(`helpline: ${type} was not sent:`, error);
      this.error = 'We could not reach the helpline. Please try again in a minute.';
      this._changed();
    }
  }

  _changed() {
    this.dispatchEvent(new Event('change'));
  }
}

function findParts(root) {
  const part = (selector) => root.querySelector(selector);
  return {
    title: part('.cb-title'),
    detail: part('.cb-detail'),
    error: part('.form-error'),
    cancel: part('.cancel-callback'),
    dismiss: part('.dismiss'),
  };
}

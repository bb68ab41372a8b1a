// The FAQ search of the widget: the cheapest help comes first. As the
// customer types, the widget asks GET /api/faq/search (debounced, the older
// request aborted) and lists the answers found, each one expandable, with a
// button that plays its recorded or spoken answer when there is one.
// Opening an answer is reported (POST /api/visits/events), once per answer
// and page visit.

import { reportFaqViewed } from './widget-visit.js';

const DEBOUNCE_MS = 250;
const MAX_QUERY = 200;
const MAX_RESULTS = 5;

export class FaqSearch {
  /**
   * @param {object} parts the dock's `input`, `found` and `results` elements
   * @param {object} options
   * @param {string} options.origin the Helpline URL to search on
   * @param {(path: string) => void} options.onListen plays an answer's audio
   */
  constructor(parts, { origin, onListen }) {
    this.parts = parts;
    this.origin = origin;
    this.onListen = onListen;
    this.query = '';
    this.results = [];
    this.state = 'idle';
    this.viewed = new Set();
    this._timer = null;
    this._abort = null;
    parts.input.maxLength = MAX_QUERY;
    parts.input.addEventListener('input', () => this._typed());
    parts.input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') this.search(parts.input.value);
    });
  }

  /** Searches now; resolves when the results (or the failure) are shown. */
  async search(text) {
    clearTimeout(this._timer);
    this._abort?.abort();
    const query = String(text).trim().slice(0, MAX_QUERY);
    this.query = query;
    if (!query) {
      this._show('idle', []);
      return;
    }
    const abort = new AbortController();
    this._abort = abort;
    this.state = 'searching';
    try {
      const results = await this._fetch(query, abort.signal);
      if (abort === this._abort) this._show('done', results);
    } catch (error) {
      if (error?.name === 'AbortError') return;
      console.warn('helpline: the FAQ search failed:', error);
      if (abort === this._abort) this._show('failed', []);
    }
  }

  _typed() {
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this.search(this.parts.input.value), DEBOUNCE_MS);
  }

  async _fetch(query, signal) {
    const url = new URL('/api/faq/search', this.origin);
    url.search = new URLSearchParams({ q: query, limit: String(MAX_RESULTS) });
    const response = await fetch(url, { signal });
    if (!response.ok) throw new Error(`the search answered ${response.status}`);
    const body = await response.json();
    return Array.isArray(body.results) ? body.results : [];
  }

  _show(state, results) {
    this.state = state;
    this.results = results;
    this.parts.results.replaceChildren(...results.map((hit) => this._item(hit)));
    this.parts.found.textContent = this._summary();
  }

  _summary() {
    if (this.state === 'failed') {
      return 'Searching is not available right now. You can still call us.';
    }
    if (this.state !== 'done') return '';
    const count = this.results.length;
    if (count === 0) return `Nothing found for “${this.query}”. Try other words, or call us.`;
    return count === 1 ? '1 answer found.' : `${count} answers found.`;
  }

  _item(hit) {
    const item = document.createElement('li');
    const details = document.createElement('details');
    const summary = document.createElement('summary');
    summary.textContent = hit.question ?? '';
    if (hit.snippet) summary.append(textElement('span', 'snippet', hit.snippet));
    details.append(summary, textElement('p', 'answer-text', hit.answer ?? ''));
    if (hit.audio) details.append(this._listenButton(hit));
    details.addEventListener('toggle', () => {
      if (details.open) this._viewed(hit.id);
    });
    item.append(details);
    return item;
  }

  _viewed(faqId) {
    if (typeof faqId !== 'string' || this.viewed.has(faqId)) return;
    this.viewed.add(faqId);
    reportFaqViewed(this.origin, faqId);
  }

  _listenButton(hit) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'listen';
    button.textContent = 'Listen';
    button.setAttribute('aria-label', `Listen to the answer: ${hit.question ?? ''}`);
    button.addEventListener('click', () => this.onListen(hit.audio));
    return button;
  }
}

/** An element holding `text` as text: nothing from the server is markup. */
export function textElement(tag, className, text) {
  const element = document.createElement(tag);
  element.className = className;
  element.textContent = text;
  return element;
}

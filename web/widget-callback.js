// Callbacks in the widget (docs/callbacks.md): the "Call me back" form of
// its own in the dock (widget-callback-form.js) and the pending-callback
// card (widget-callback-card.js), on the widget's session.
//
// The session's `welcome` says whether callbacks are on (the button shows
// until a session says they are off; pressing it opens the session) and a new session attaches to the callback this
// page follows. `callback.status` goes to the card, and closes the form
// whose request it answers; refusals go to the form. The ring in the tab
// when an agent calls back is a call, and so stays with the widget.

import { messageListener } from './client.js';
import { CallbackCard } from './widget-callback-card.js';
import { CallbackForm } from './widget-callback-form.js';

export class WidgetCallbacks extends EventTarget {
  /**
   * @param {object} ui the widget's parts: `callbackForm`, `card`,
   *   `askCallback`, and the FAQ search's `search`, `found`, `results`
   * @param {object} options
   * @param {(type: string, fields: object) => string} options.request sends
   *   a request on the widget's session and returns its id
   * @param {() => Promise<void>} options.open opens the widget's session
   *   (its `welcome` says whether callbacks are on)
   * @param {string|null} options.topic the page's topic
   */
  constructor(ui, { request, open, topic }) {
    super();
    this.ui = ui;
    this.form = new CallbackForm(ui.callbackForm, { request, topic });
    this.card = new CallbackCard(ui.card, { request });
    const changed = () => this.dispatchEvent(new Event('change'));
    this.form.addEventListener('change', changed);
    this.card.addEventListener('change', changed);
    ui.askCallback.addEventListener('click', async () => {
      await open();
      this.form.show();
      changed();
    });
  }

  /** True while this page follows a callback that is not over. */
  get pending() {
    return this.card.pending;
  }

  /** Listens on a new session of the widget. */
  bind(client) {
    const on = messageListener(client, this);
    on('welcome', this._onWelcome);
    on('callback.status', this._onStatus);
    on('callback.refused', (event) => this.form.handleError(event));
  }

  /** Takes an `error` about callbacks; false if it is about something else. */
  handleError(event) {
    return this.form.handleError(event) || this.card.handleError(event);
  }

  /** Shows the form, its button and the card; the card gives way to a
   * call the panel shows (`active`). */
  render(active) {
    const { ui, form, card } = this;
    form.render();
    card.render(active);
    ui.search.hidden = form.open;
    ui.found.hidden = form.open;
    ui.results.hidden = form.open;
    // Until a session says otherwise (`offer` null), callbacks are offered.
    ui.askCallback.hidden = form.offer === null || form.open || card.pending;
  }

  // A resumed session still follows its callback; a new one attaches.
  _onWelcome(welcome) {
    this.form.configure(welcome.callbacks ?? null);
    if (!welcome.resumed) this.card.attach();
  }

  _onStatus(event) {
    if (this.card.handle(event) && event.token) this.form.kept();
  }
}

// The floor tab: the live floor (docs/reports.md, "Live floor"). Agents
// with their status and time in it, calls waiting with a running wait,
// calls in progress, callbacks due and upcoming, and how full each media
// worker is.
//
// The tab opens a signaling session as an operator (the console's token)
// and sends `floor.watch`; the server then pushes a `floor` event whenever
// the floor changes. The page never polls: the clocks run here, from the
// timestamps of the last snapshot and the server's clock (`at`). A dropped
// socket is resumed as the softphone's is; a session that could not be
// resumed is replaced by a new one.

import { AGENT_STATUS_WORDS, HelplineClient, signalingUrl } from './client.js';
import { h, say } from './console-dom.js';
import { TIERS } from './console-report-charts.js';
import { moneyFormat, percent } from './console-reports.js';

const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 10000;

const STATE_WORDS = {
  ivr: 'In the menu',
  ringing: 'Ringing',
  answered: 'Talking',
  held: 'On hold',
  consulting: 'Consulting',
  dialling: 'Calling back',
};

const CONNECTION_WORDS = {
  open: ['Connected', 'available'],
  reconnecting: ['Reconnecting…', 'ringing'],
  closed: ['Not connected', 'ended'],
};

/** Seconds as m:ss, or h:mm:ss from an hour on. */
export function clock(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const secs = String(total % 60).padStart(2, '0');
  if (hours) return `${hours}:${String(minutes).padStart(2, '0')}:${secs}`;
  return `${minutes}:${secs}`;
}

/** A cell whose text the tab's clock keeps up to date (since `at`). */
function timer(at) {
  if (typeof at !== 'number') return h('td', { text: '—' });
  return h('td', { class: 'since', dataset: { since: String(at) } });
}

export class FloorTab {
  constructor(app) {
    this.app = app;
    this.$ = app.$;
    this.client = null;
    this.floor = null;
    /** Server time minus this page's time, in seconds. */
    this.skewS = 0;
    this._retryMs = RETRY_FIRST_MS;
    this._retryTimer = null;
    this._ticker = null;
    this.reset();
  }

  get dirty() {
    return false;
  }

  reset() {
    const client = this.client;
    this.client = null;
    client?.close();
    clearTimeout(this._retryTimer);
    clearInterval(this._ticker);
    this._ticker = null;
    this.floor = null;
    for (const id of ['floor-agents', 'floor-waiting', 'floor-calls', 'floor-workers']) {
      this.$(id).tBodies[0].replaceChildren();
    }
    this.$('floor-due').textContent = '0';
    this.$('floor-upcoming').textContent = '0';
    this._showConnection('closed');
    say(this.$('floor-status'), '');
  }

  show() {
    if (!this.client) this._open();
    this._ticker ??= setInterval(() => this.tick(), 1000);
  }

  // The session

  async _open() {
    const client = new HelplineClient({
      url: signalingUrl(location.href),
      role: 'operator',
      token: this.app.api.token,
    });
    this.client = client;
    client.addEventListener('floor', (event) => this.render(event.detail));
    client.addEventListener('welcome', () => client.request('floor.watch'));
    client.addEventListener('connection', (event) => {
      if (this.client === client) this._showConnection(event.detail.state);
    });
    client.addEventListener('session-lost', () => {
      if (this.client === client) this._retry();
    });
    client.addEventListener('error', (event) => {
      say(this.$('floor-status'), event.detail.message || event.detail.code);
    });
    this._showConnection('reconnecting');
    try {
      await client.connect();
      this._retryMs = RETRY_FIRST_MS;
      say(this.$('floor-status'), '');
    } catch (error) {
      if (this.client !== client) return;
      if (error.code === 'unauthorized' || error.code === 'forbidden') {
        this._showConnection('closed');
        say(this.$('floor-status'), `The floor cannot be shown: ${error.message}`);
        return;
      }
      this._retry();
    }
  }

  _retry() {
    this._showConnection('reconnecting');
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => this._open(), this._retryMs);
    this._retryMs = Math.min(this._retryMs * 2, RETRY_MAX_MS);
  }

  _showConnection(state) {
    const [words, look] = CONNECTION_WORDS[state] ?? CONNECTION_WORDS.closed;
    const badge = this.$('floor-connection');
    badge.textContent = words;
    badge.dataset.status = look;
    badge.dataset.state = state;
  }

  // Showing a snapshot

  render(floor) {
    this.floor = floor;
    this.skewS = floor.at - Date.now() / 1000;
    const names = new Map(floor.agents.map((agent) => [agent.id, agent.name]));
    this._fill('floor-agents', floor.agents.map((agent) => this._agentRow(agent)));
    this._fill('floor-waiting', floor.waiting.map((call) => this._waitingRow(call)));
    this._fill(
      'floor-calls',
      floor.in_progress.map((call) => this._callRow(call, names)),
    );
    this._fill('floor-workers', floor.workers.map((worker) => this._workerRow(worker)));
    this.$('floor-due').textContent = String(floor.callbacks.due);
    this.$('floor-upcoming').textContent = String(floor.callbacks.upcoming);
    this.$('floor-waiting-count').textContent = String(floor.waiting.length);
    this._today(floor.today);
    this.tick();
  }

  /** Today so far: each tier's interactions, deflection, cost and savings. */
  _today(today) {
    this.$('floor-today').hidden = !today;
    if (!today) return;
    const money = moneyFormat(today.currency ?? 'USD');
    this.$('floor-today-interactions').textContent = String(today.interactions);
    this.$('floor-today-deflection').textContent = percent(today.deflection_rate);
    this.$('floor-today-cost').textContent = money(today.cost);
    this.$('floor-today-savings').textContent = money(today.savings);
    this.$('floor-today-baseline').textContent = money(today.baseline);
    this.$('floor-today-tiers').replaceChildren(
      ...TIERS.flatMap((tier) => [
        h('dt', { text: tier.name }),
        h('dd', { 'data-tier': tier.id, text: String(today.tiers?.[tier.id] ?? 0) }),
      ]),
    );
  }

  /** The clocks, once a second, from the server's time now. */
  tick() {
    const now = Date.now() / 1000 + this.skewS;
    for (const cell of this.$('panel-floor').querySelectorAll('td.since')) {
      cell.textContent = clock(now - Number(cell.dataset.since));
    }
  }

  _fill(tableId, rows) {
    const table = this.$(tableId);
    table.tBodies[0].replaceChildren(...rows);
    table.nextElementSibling.hidden = rows.length > 0; // the "none" line
  }

  _agentRow(agent) {
    const work = agent.call || (agent.callback ? `callback ${agent.callback}` : '');
    return h(
      'tr',
      { dataset: { agent: agent.id, status: agent.status } },
      h('th', { scope: 'row', text: agent.name || agent.id }),
      h(
        'td',
        {},
        h('span', {
          class: 'badge',
          dataset: { status: agent.status },
          text: AGENT_STATUS_WORDS[agent.status] ?? agent.status,
        }),
      ),
      h('td', {}, work ? h('code', { text: work }) : '—'),
      timer(agent.since),
    );
  }

  _waitingRow(call) {
    return h(
      'tr',
      { dataset: { call: call.call_id } },
      h('th', { scope: 'row' }, h('code', { text: call.call_id })),
      h('td', { text: call.channel === 'phone' ? 'Phone' : 'Web' }),
      h('td', { text: call.skill || 'any' }),
      timer(call.queued_at),
    );
  }

  _callRow(call, names) {
    const agent = call.agent ? names.get(call.agent) ?? call.agent : '';
    return h(
      'tr',
      { dataset: { call: call.call_id, state: call.state } },
      h('th', { scope: 'row' }, h('code', { text: call.call_id })),
      h('td', { text: STATE_WORDS[call.state] ?? call.state }),
      h('td', { text: agent || (call.state === 'ivr' ? '—' : 'toll-free line') }),
      h('td', { text: call.channel === 'phone' ? 'Phone' : 'Web' }),
      timer(call.answered_at ?? call.since),
    );
  }

  _workerRow(worker) {
    const use = worker.up ? `${worker.in_use} / ${worker.limit}` : 'not running';
    return h(
      'tr',
      { dataset: { worker: worker.id } },
      h('th', { scope: 'row', text: worker.id }),
      h('td', { text: use }),
      h(
        'td',
        {},
        worker.up
          ? h('meter', {
              min: '0',
              max: String(Math.max(worker.limit, 1)),
              value: String(worker.in_use),
              'aria-label': `${worker.id} in use`,
            })
          : null,
      ),
    );
  }
}

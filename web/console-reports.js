// The Reports tab: for a period, how many interactions there were, which
// tier of the ladder served them, what they cost against sending every one
// to the toll-free line, how the queue did, and where callers left the
// menus (GET /api/reports); the period's raw events as a file
// (GET /api/events); the cost of each tier (console-costs.js).
//
// The report is read when the tab is shown and whenever the period or the
// service-level threshold changes; live figures are the Floor tab's.

import { CostsForm } from './console-costs.js';
import { TIERS, costChart, table, tiersChart } from './console-report-charts.js';
import {
  busy,
  clearProblems,
  download,
  h,
  say,
  sayError,
  showProblems,
} from './console-dom.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const RANGES = { '24h': DAY_MS, '7d': 7 * DAY_MS, '30d': 30 * DAY_MS };
// A custom period up to this long is drawn hour by hour, longer ones by day.
const HOURLY_UP_TO_MS = 3 * DAY_MS;

// How many of the period's newest interactions are listed.
const RECENT = 20;

const CHANNELS = { web: 'Web', phone: 'Phone' };

const REASONS = {
  menu: 'Chosen in the menu',
  closed: 'Outside opening hours',
  overflow: 'Waited past the queue’s limit',
  agent: 'Transferred by an agent',
};

/** A rate (0 to 1, or null) as a percentage. */
export function percent(rate) {
  return rate === null || rate === undefined ? '—' : `${(rate * 100).toFixed(1)}%`;
}

/** A function that writes an amount in `currency` (a code like USD). */
export function moneyFormat(currency) {
  let format;
  try {
    format = new Intl.NumberFormat(undefined, { style: 'currency', currency });
  } catch {
    return (amount) => `${Number(amount ?? 0).toFixed(2)} ${currency}`;
  }
  return (amount) => format.format(amount ?? 0);
}

/** The value of a datetime-local input for `date`, in local time. */
function localInput(date) {
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return shifted.toISOString().slice(0, 16);
}

/** A table in a card, or `empty` said under its caption when no rows. */
function tableCard(caption, head, rows, id, empty = '') {
  if (!rows.length && empty) {
    return h(
      'section',
      { class: 'card', id },
      h('h2', { text: caption }),
      h('p', { class: 'muted', text: empty }),
    );
  }
  return h('section', { class: 'card', id }, table(caption, head, rows));
}

/** A compact time for file names: 20250105T1430. */
function stamp(date) {
  return localInput(date).replaceAll('-', '').replace(':', '');
}

export class ReportsTab {
  constructor(app) {
    this.app = app;
    this.$ = app.$;
    this.form = this.$('reports-period');
    this.costs = new CostsForm(app, () => this.refresh());
    this.charts = [];
    this.asked = 0;
    this._bind();
    this.reset();
  }

  get api() {
    return this.app.api;
  }

  get dirty() {
    return this.costs.dirty;
  }

  reset() {
    this.report = null;
    this.shown = null;
    this.costs.reset();
    this._dropCharts();
    this.$('reports-figures').replaceChildren();
    this.$('reports-body').replaceChildren();
    this.$('reports-summary').textContent = '';
  }

  async show() {
    // "Last 24 hours" moves with the clock: each visit reads it anew.
    const work = [this.refresh()];
    if (!this.costs.loaded) work.push(this.costs.load());
    await Promise.all(work);
  }

  /** The period chosen: {from, to, bucket} (Dates), or null when invalid. */
  period() {
    const range = this.$('reports-range').value;
    if (range !== 'custom') {
      const to = new Date();
      const from = new Date(to.getTime() - RANGES[range]);
      return { from, to, bucket: range === '24h' ? 'hour' : 'day' };
    }
    const from = new Date(this.$('reports-from').value);
    const to = new Date(this.$('reports-to').value);
    if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) return null;
    return { from, to, bucket: to - from <= HOURLY_UP_TO_MS ? 'hour' : 'day' };
  }

  _query(period, extra = {}) {
    const query = new URLSearchParams({
      from: period.from.toISOString(),
      to: period.to.toISOString(),
      ...extra,
    });
    return query.toString();
  }

  async refresh() {
    const status = this.$('reports-status');
    clearProblems(this.form);
    const period = this.period();
    if (!period) {
      say(status, 'Choose both ends of the period.');
      return;
    }
    const asked = ++this.asked;
    const sl = this.$('reports-sl').value.trim() || '20';
    const query = this._query(period, { sl, bucket: period.bucket, recent: RECENT });
    let report;
    try {
      report = await this.api.get(`/api/reports?${query}`);
    } catch (error) {
      if (asked !== this.asked) return;
      // A threshold the API refuses is shown at its field.
      const problems =
        error.code === 'invalid-sl' ? [{ path: 'sl', sentence: error.message }] : [];
      const left = showProblems(this.form, problems);
      const placed = problems.length && !left.length;
      say(status, placed ? 'See the field marked.' : error.message);
      return;
    }
    if (asked !== this.asked) return; // a newer period was asked for meanwhile
    say(status, '');
    this.shown = period;
    this.render(report, period.bucket);
  }

  render(report, bucket) {
    this.report = report;
    this.money = moneyFormat(report.currency ?? 'USD');
    const from = new Date(report.from);
    const to = new Date(report.to);
    const when = new Intl.DateTimeFormat(undefined, {
      dateStyle: 'medium',
      timeStyle: 'short',
    });
    this.$('reports-summary').textContent =
      `${report.interactions} interactions from ${when.format(from)} ` +
      `to ${when.format(to)}.`;
    this._figures(report);
    this._dropCharts();
    const labels = this._bucketLabels(report.series ?? [], bucket);
    const tiers = tiersChart(report.series ?? [], labels);
    const cost = costChart(report.series ?? [], labels, this.money);
    this.charts = [tiers.drawn, cost.drawn];
    this.$('reports-body').replaceChildren(
      tiers.figure,
      cost.figure,
      this._tiersTable(report),
      this._nodesTable(report.nodes ?? []),
      this._reasonsTable(report.tollfree ?? {}),
      this._recentTable(report.recent ?? []),
    );
  }

  _figures(report) {
    const money = this.money;
    const callbacks = report.callbacks ?? {};
    const figures = [
      ['interactions', 'Interactions', String(report.interactions), ''],
      [
        'deflection',
        'Deflection rate',
        percent(report.deflection_rate),
        'resolved by self-service or the IVR',
      ],
      ['savings', 'Money saved', money(report.savings), 'against the baseline'],
      [
        'cost',
        'Cost',
        money(report.cost),
        `baseline ${money(report.baseline)} (all on the toll-free line)`,
      ],
      [
        'asa',
        'Average speed of answer',
        report.asa_s === null ? '—' : `${report.asa_s.toFixed(1)} s`,
        `${report.answered} answered`,
      ],
      [
        'service-level',
        'Service level',
        percent(report.service_level),
        `answered within ${report.service_level_s} s`,
      ],
      [
        'abandonment',
        'Abandonment',
        percent(report.abandonment_rate),
        `${report.abandoned} of ${report.queued} queued`,
      ],
      [
        'callbacks',
        'Callback success',
        percent(callbacks.success_rate),
        `${callbacks.reached ?? 0} reached of ${callbacks.requested ?? 0} requested`,
      ],
    ];
    this.$('reports-figures').replaceChildren(
      ...figures.map(([id, name, value, note]) =>
        h(
          'div',
          { class: 'figure', dataset: { figure: id } },
          h('dt', { text: name }),
          h(
            'dd',
            {},
            h('span', { class: 'value', text: value }),
            note ? h('span', { class: 'note', text: note }) : null,
          ),
        ),
      ),
    );
  }

  _tiersTable(report) {
    const rows = TIERS.map((tier) => {
      const own = report.tiers?.[tier.id] ?? { count: 0, cost: 0 };
      return [tier.name, String(own.count), this.money(own.cost)];
    });
    rows.push(['All tiers', String(report.interactions), this.money(report.cost)]);
    const head = ['Tier', 'Interactions', 'Cost'];
    return tableCard('Interactions and cost by tier', head, rows, 'reports-tiers');
  }

  _nodesTable(nodes) {
    const rows = nodes.map((n) => [
      `${n.menu} · ${n.node}`,
      String(n.visits),
      String(n.exits),
      String(n.escalations),
    ]);
    return tableCard(
      'Menu nodes: visits, exits and escalations',
      ['Menu · node', 'Visits', 'Exits', 'Escalations'],
      rows,
      'reports-nodes',
      'No call walked a menu in this period.',
    );
  }

  _reasonsTable(tollfree) {
    const rows = Object.entries(tollfree.reasons ?? {}).map(([reason, count]) => [
      REASONS[reason] ?? reason,
      String(count),
    ]);
    return tableCard(
      'Why calls went to the toll-free line',
      ['Reason', 'Calls'],
      rows,
      'reports-reasons',
      'No call went to the toll-free line in this period.',
    );
  }

  _recentTable(recent) {
    const when = new Intl.DateTimeFormat(undefined, {
      dateStyle: 'short',
      timeStyle: 'short',
    });
    const tierName = Object.fromEntries(TIERS.map((tier) => [tier.id, tier.name]));
    const rows = recent.map((i) => [
      i.id,
      when.format(new Date(i.started)),
      CHANNELS[i.channel] ?? '—',
      tierName[i.tier] ?? i.tier,
      this.money(i.cost),
      i.abandoned ? 'Abandoned in the queue' : (REASONS[i.tollfree_reason] ?? ''),
    ]);
    return tableCard(
      `The newest ${RECENT} interactions`,
      ['Interaction', 'Started', 'Channel', 'Tier', 'Cost', 'Note'],
      rows,
      'reports-recent',
      'No interaction in this period.',
    );
  }

  _bucketLabels(series, bucket) {
    const format = new Intl.DateTimeFormat(
      undefined,
      bucket === 'hour'
        ? { month: 'short', day: 'numeric', hour: 'numeric' }
        : { month: 'short', day: 'numeric' },
    );
    return series.map((b) => format.format(new Date(b.start)));
  }

  _dropCharts() {
    for (const drawn of this.charts) drawn.then((chart) => chart?.destroy());
    this.charts = [];
  }

  /** Downloads the events of the period shown as `format` (csv or jsonl). */
  async export(format) {
    const status = this.$('reports-status');
    const period = this.shown ?? this.period();
    if (!period) {
      say(status, 'Choose both ends of the period.');
      return;
    }
    let file;
    try {
      file = await this.api.getBlob(`/api/events?${this._query(period, { format })}`);
    } catch (error) {
      sayError(status, error);
      return;
    }
    const name = `helpline-events-${stamp(period.from)}-${stamp(period.to)}.${format}`;
    download(name, file, file.type || 'text/plain');
    say(status, `Downloaded the period’s events as ${name}.`, 'info');
  }

  _bind() {
    const range = this.$('reports-range');
    range.addEventListener('change', () => {
      const custom = range.value === 'custom';
      if (custom && !this.$('reports-from').value) {
        const { from, to } = this.period() ?? {};
        const now = new Date();
        this.$('reports-from').value = localInput(from ?? new Date(now - DAY_MS));
        this.$('reports-to').value = localInput(to ?? now);
      }
      for (const id of ['reports-from', 'reports-to']) {
        this.$(id).closest('.field').hidden = !custom;
      }
      this.refresh();
    });
    for (const id of ['reports-from', 'reports-to', 'reports-sl']) {
      this.$(id).addEventListener('change', () => this.refresh());
    }
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.refresh();
    });
    for (const format of ['csv', 'jsonl']) {
      const button = this.$(`reports-${format}`);
      button.addEventListener('click', () => busy(button, () => this.export(format)));
    }
  }
}

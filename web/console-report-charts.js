// The Reports tab's charts: interactions per tier and cost against the
// toll-free baseline, bucket by bucket. Chart.js is vendored
// (web/vendor/chart) and loaded the first time a chart is drawn. Every
// chart has a caption and the same numbers in a table that screen readers
// read (the canvas itself is hidden from them); without Chart.js the
// tables still hold everything.

import { h, uid } from './console-dom.js';

const CHART_JS = '/static/vendor/chart/chart.umd.min.js';

/** The ladder's tiers, cheapest first, with the words and colours shown. */
export const TIERS = [
  { id: 'self-service', name: 'Self-service', color: '#1f8a4c' },
  { id: 'ivr', name: 'IVR self-help', color: '#0b5cd5' },
  { id: 'callback', name: 'Callback', color: '#6b2fb3' },
  { id: 'agent', name: 'Agent', color: '#b7791f' },
  { id: 'tollfree', name: 'Toll-free', color: '#c92a2a' },
];

let loading = null;

/** Chart.js, loaded once from Helpline itself; rejects when it cannot load. */
export function loadChartJs() {
  if (window.Chart) return Promise.resolve(window.Chart);
  loading ??= new Promise((resolve, reject) => {
    const script = h('script', { src: CHART_JS });
    script.addEventListener('load', () => resolve(window.Chart));
    script.addEventListener('error', () => {
      loading = null;
      script.remove();
      reject(new Error('The charts could not be loaded; the tables show the numbers.'));
    });
    document.head.append(script);
  });
  return loading;
}

/** A table: `head` is a list of column names, `rows` lists of cells. */
export function table(caption, head, rows, attrs = {}) {
  return h(
    'table',
    { class: 'numbers', ...attrs },
    h('caption', { text: caption }),
    h(
      'thead',
      {},
      h('tr', {}, head.map((name) => h('th', { scope: 'col', text: name }))),
    ),
    h(
      'tbody',
      {},
      rows.map(([first, ...rest]) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row', text: first }),
          rest.map((cell) => h('td', { text: cell })),
        ),
      ),
    ),
  );
}

/**
 * A chart in a figure: the caption, a canvas that only eyes use, and the
 * numbers as a table for screen readers. `draw(Chart, canvas)` makes the
 * chart; it runs once Chart.js is loaded.
 */
function chartFigure(caption, numbers, draw) {
  const captionId = uid('fig');
  const canvas = h('canvas', { 'aria-hidden': 'true' });
  const figure = h(
    'figure',
    { class: 'card chart', 'aria-labelledby': captionId },
    h('figcaption', { id: captionId, text: caption }),
    h('div', { class: 'chart-box' }, canvas),
    // The numbers for screen readers, in a box: a hidden table alone would
    // still lay out at its full width and widen the page.
    h('div', { class: 'visually-hidden' }, numbers),
  );
  const drawn = loadChartJs().then(
    (Chart) => draw(Chart, canvas),
    (error) => {
      canvas.parentElement.replaceWith(h('p', { class: 'muted', text: error.message }));
      return null;
    },
  );
  return { figure, drawn };
}

const COMMON = {
  animation: false,
  maintainAspectRatio: false,
  responsive: true,
  interaction: { mode: 'index', intersect: false },
  plugins: { legend: { position: 'bottom' } },
};

/** Interactions per tier over the period's buckets, as stacked bars. */
export function tiersChart(series, labels) {
  const rows = series.map((bucket, i) => [
    labels[i],
    ...TIERS.map((tier) => String(bucket.tiers?.[tier.id] ?? 0)),
  ]);
  const numbers = table(
    'Interactions per tier',
    ['Starting', ...TIERS.map((tier) => tier.name)],
    rows,
    { id: 'reports-tiers-series' },
  );
  return chartFigure('Interactions per tier', numbers, (Chart, canvas) => {
    const datasets = TIERS.map((tier) => ({
      label: tier.name,
      data: series.map((bucket) => bucket.tiers?.[tier.id] ?? 0),
      backgroundColor: tier.color,
      stack: 'tiers',
    }));
    return new Chart(canvas, {
      type: 'bar',
      data: { labels, datasets },
      options: {
        ...COMMON,
        scales: {
          x: { stacked: true, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
        },
      },
    });
  });
}

/** What the period's buckets cost against the all-toll-free baseline. */
export function costChart(series, labels, money) {
  const rows = series.map((bucket, i) => [
    labels[i],
    money(bucket.cost ?? 0),
    money(bucket.baseline ?? 0),
  ]);
  const numbers = table('Cost and baseline', ['Starting', 'Cost', 'Baseline'], rows, {
    id: 'reports-cost-series',
  });
  const caption = 'Cost against the baseline (every interaction on the toll-free line)';
  return chartFigure(caption, numbers, (Chart, canvas) => {
    const line = (label, key, color, dash) => ({
      label,
      data: series.map((bucket) => bucket[key] ?? 0),
      borderColor: color,
      backgroundColor: color,
      borderDash: dash,
      tension: 0.2,
    });
    return new Chart(canvas, {
      type: 'line',
      data: {
        labels,
        datasets: [
          line('Cost', 'cost', '#0b5cd5', []),
          line('Baseline', 'baseline', '#c92a2a', [6, 4]),
        ],
      },
      options: {
        ...COMMON,
        scales: {
          x: { ticks: { maxRotation: 0, autoSkipPadding: 12 } },
          y: { beginAtZero: true, ticks: { callback: (value) => money(value) } },
        },
        plugins: {
          ...COMMON.plugins,
          tooltip: {
            callbacks: { label: (item) => `${item.dataset.label}: ${money(item.raw)}` },
          },
        },
      },
    });
  });
}

// The hours tab: the calendar that hours nodes branch on. Opening hours
// for each day of the week (none: closed that day, several: a break),
// holidays, and the time zone they are in. A refused save keeps the form
// as it was, with each problem next to its day, range or holiday.

import { busy, clearProblems, h, say, sayError, showProblems, uid } from './console-dom.js';

const DAYS = [
  ['mon', 'Monday'],
  ['tue', 'Tuesday'],
  ['wed', 'Wednesday'],
  ['thu', 'Thursday'],
  ['fri', 'Friday'],
  ['sat', 'Saturday'],
  ['sun', 'Sunday'],
];

// A time field cannot hold 24:00: closing at 00:00 means at midnight.
const END_OF_DAY = '24:00';
const MIDNIGHT = '00:00';

const STATE_WORDS = { open: 'open', closed: 'closed', holiday: 'closed for a holiday' };

/** A range as written by the server: ["08:00", "20:00"] or {open, close}. */
function rangeOf(range) {
  if (Array.isArray(range)) return { open: range[0] ?? '', close: range[1] ?? '' };
  return {
    open: range?.open ?? range?.start ?? '',
    close: range?.close ?? range?.end ?? '',
  };
}

export class HoursTab {
  constructor(app) {
    this.app = app;
    this.$ = app.$;
    this.form = this.$('hours-form');
    this._fillZones();
    this._bind();
    this.reset();
  }

  get api() {
    return this.app.api;
  }

  reset() {
    this.loaded = false;
    this.rangesAsObjects = false;
    this.extra = {};
  }

  async show() {
    // An edit that was not saved stays; the calendar is read once.
    if (!this.loaded) await this.load();
  }

  async load() {
    const status = this.$('hours-status');
    clearProblems(this.form);
    try {
      const body = await this.api.get('/api/hours');
      this.fill(body.calendar ?? body);
      this.loaded = true;
      const state = body.state ?? body.now;
      say(
        status,
        state ? `Right now the calendar says: ${STATE_WORDS[state] ?? state}.` : '',
        'info',
      );
    } catch (error) {
      sayError(status, error);
    }
  }

  fill(calendar) {
    const { time_zone: zone, weekly = {}, holidays = [], ...extra } = calendar;
    this.extra = extra;
    this.$('hours-zone').value = zone ?? '';
    const first = Object.values(weekly).flat()[0];
    this.rangesAsObjects = Boolean(first) && !Array.isArray(first);
    this.$('hours-days').replaceChildren(
      ...DAYS.map(([key, name]) => this._day(key, name, weekly[key] ?? [])),
    );
    const list = this.$('hours-holidays');
    list.replaceChildren();
    holidays.forEach((holiday) => this._addHoliday(holiday));
    this._renumberHolidays();
    this.saved = JSON.stringify(this.read());
  }

  get dirty() {
    return this.loaded && JSON.stringify(this.read()) !== this.saved;
  }

  _day(key, name, ranges) {
    const nameId = uid('day');
    const list = h('ul', { class: 'plain ranges' });
    const closed = h('span', { class: 'muted closed-note', text: 'Closed all day' });
    const day = h(
      'div',
      {
        class: 'day',
        role: 'group',
        'aria-labelledby': nameId,
        dataset: { path: `weekly.${key}`, day: key },
      },
      h('span', { class: 'day-name', id: nameId, text: name }),
      h('div', {}, list, closed),
      h('button', {
        type: 'button',
        class: 'small add-range',
        text: 'Add hours',
        'aria-label': `Add hours on ${name}`,
        onclick: () => this._addRange(day, name),
      }),
    );
    ranges.forEach((range) => this._addRange(day, name, rangeOf(range), false));
    this._renumberRanges(day);
    return day;
  }

  _addRange(day, name, range = { open: '09:00', close: '17:00' }, focus = true) {
    const list = day.querySelector('.ranges');
    const opens = h('input', {
      type: 'time',
      value: range.open,
      'aria-label': `${name} opens at`,
    });
    const close = range.close === END_OF_DAY ? MIDNIGHT : range.close;
    const closes = h('input', {
      type: 'time',
      value: close,
      'aria-label': `${name} closes at`,
    });
    const item = h('li', { class: 'range' }, opens, h('span', { text: 'to' }), closes);
    item.append(
      h('button', {
        type: 'button',
        class: 'small',
        text: 'Remove',
        'aria-label': `Remove these hours on ${name}`,
        onclick: () => {
          item.remove();
          this._renumberRanges(day);
          day.querySelector('.add-range').focus();
        },
      }),
    );
    list.append(item);
    this._renumberRanges(day);
    if (focus) opens.focus();
  }

  // A range's problem shows under the range, or at the time it is about:
  // `weekly.mon.0.close` at Monday's first "closes at".
  _renumberRanges(day) {
    const items = [...day.querySelectorAll('.range')];
    items.forEach((item, index) => {
      item.dataset.path = `weekly.${day.dataset.day}.${index}`;
      const [opens, closes] = item.querySelectorAll('input');
      opens.dataset.path = `${item.dataset.path}.open`;
      closes.dataset.path = `${item.dataset.path}.close`;
    });
    day.querySelector('.closed-note').hidden = items.length > 0;
  }

  _addHoliday(holiday = { date: '', name: '' }, focus = false) {
    const date = h('input', {
      type: 'date',
      value: holiday.date ?? '',
      'aria-label': 'Date',
    });
    const name = h('input', {
      value: holiday.name ?? '',
      maxlength: 80,
      'aria-label': 'Name of the holiday',
      placeholder: 'Name',
    });
    const item = h('li', { class: 'holiday' }, date, name);
    item.append(
      h('button', {
        type: 'button',
        class: 'small',
        text: 'Remove',
        'aria-label': 'Remove this holiday',
        onclick: () => {
          item.remove();
          this._renumberHolidays();
          this.$('hours-add-holiday').focus();
        },
      }),
    );
    this.$('hours-holidays').append(item);
    this._renumberHolidays();
    if (focus) date.focus();
  }

  _renumberHolidays() {
    [...this.$('hours-holidays').children].forEach((item, index) => {
      item.dataset.path = `holidays.${index}`;
      const [date, name] = item.querySelectorAll('input');
      date.dataset.path = `${item.dataset.path}.date`;
      name.dataset.path = `${item.dataset.path}.name`;
      const label =
        item.querySelector('input:not([type=date])').value || `holiday ${index + 1}`;
      item.querySelector('[type=date]').setAttribute('aria-label', `Date of ${label}`);
    });
  }

  /** The calendar as the form has it. */
  read() {
    const weekly = {};
    for (const day of this.$('hours-days').children) {
      weekly[day.dataset.day] = [...day.querySelectorAll('.range')].map((item) => {
        const [open, shown] = [...item.querySelectorAll('input')].map(
          (input) => input.value,
        );
        const close = shown === MIDNIGHT ? END_OF_DAY : shown;
        return this.rangesAsObjects ? { open, close } : [open, close];
      });
    }
    const holidays = [...this.$('hours-holidays').children].map((item) => {
      const [date, name] = item.querySelectorAll('input');
      return { date: date.value, name: name.value.trim() };
    });
    return {
      ...this.extra,
      time_zone: this.$('hours-zone').value.trim(),
      weekly,
      holidays,
    };
  }

  async save() {
    const status = this.$('hours-status');
    clearProblems(this.form);
    say(status, '');
    try {
      const body = await this.api.put('/api/hours', this.read());
      const calendar = body.calendar ?? body;
      if (calendar.weekly) this.fill(calendar);
      say(status, 'Saved. Hours nodes follow the new hours from now on.', 'ok');
    } catch (error) {
      const left = showProblems(this.form, error.problems);
      sayError(status, error, left);
    }
  }

  _fillZones() {
    const zones = Intl.supportedValuesOf?.('timeZone') ?? [];
    this.$('hours-zones').replaceChildren(
      ...zones.map((zone) => h('option', { value: zone })),
    );
  }

  _bind() {
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      busy(this.$('hours-save'), () => this.save());
    });
    this.$('hours-reload').addEventListener('click', () => this.load());
    this.$('hours-add-holiday').addEventListener('click', () =>
      this._addHoliday(undefined, true),
    );
    this.$('hours-holidays').addEventListener('input', () => this._renumberHolidays());
  }
}

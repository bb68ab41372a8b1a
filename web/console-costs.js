// The "Costs per tier" form of the Reports tab: what one interaction costs
// at each tier of the ladder (GET/PUT /api/costs). The values go to the
// API as typed, and the API decides: a refused one is shown next to its
// field and nothing is saved.

import { TIERS } from './console-report-charts.js';
import {
  busy,
  clearProblems,
  field,
  h,
  say,
  sayError,
  showProblems,
} from './console-dom.js';

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A field's text as the API gets it: a number when it reads as one. */
function asValue(text) {
  const trimmed = text.trim();
  return NUMBER.test(trimmed) ? Number(trimmed) : trimmed;
}

export class CostsForm {
  /** `onSaved` runs after a save, with the costs the server kept. */
  constructor(app, onSaved) {
    this.app = app;
    this.$ = app.$;
    this.onSaved = onSaved;
    this.form = this.$('costs-form');
    this.inputs = {};
    this.$('costs-fields').replaceChildren(...TIERS.map((tier) => this._field(tier)));
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      busy(this.$('costs-save'), () => this.save());
    });
    this.$('costs-reload').addEventListener('click', () => this.load());
    this.reset();
  }

  get api() {
    return this.app.api;
  }

  reset() {
    this.loaded = false;
    this.currency = 'USD';
    this.saved = '';
  }

  get dirty() {
    return this.loaded && JSON.stringify(this.read()) !== this.saved;
  }

  async load() {
    const status = this.$('costs-status');
    clearProblems(this.form);
    try {
      this.fill(await this.api.get('/api/costs'));
      this.loaded = true;
      say(status, '');
    } catch (error) {
      sayError(status, error);
    }
  }

  fill(costs) {
    this.currency = costs.currency ?? 'USD';
    this.$('costs-currency').textContent = this.currency;
    for (const tier of TIERS) {
      this.inputs[tier.id].value = String(costs.tiers?.[tier.id] ?? '');
    }
    this.saved = JSON.stringify(this.read());
  }

  read() {
    const tiers = {};
    for (const tier of TIERS) tiers[tier.id] = asValue(this.inputs[tier.id].value);
    return { currency: this.currency, tiers };
  }

  async save() {
    const status = this.$('costs-status');
    clearProblems(this.form);
    say(status, '');
    let costs;
    try {
      costs = await this.api.put('/api/costs', this.read());
    } catch (error) {
      this._refused(status, error);
      return;
    }
    this.fill(costs?.tiers ? costs : this.read());
    say(status, 'Saved. The report counts with these costs.', 'info');
    await this.onSaved?.();
  }

  // The API names the field it refused (`tiers.agent`); `problems`, if
  // any, place several.
  _refused(status, error) {
    const problems = error.problems.length
      ? error.problems
      : [{ path: error.field, sentence: error.message }].filter((p) => p.path);
    const left = showProblems(this.form, problems);
    if (problems.length && !left.length) {
      say(status, 'Not saved: see the costs marked.');
    } else {
      sayError(status, error, left);
    }
  }

  _field(tier) {
    const input = h('input', {
      type: 'text',
      inputmode: 'decimal',
      autocomplete: 'off',
      spellcheck: 'false',
      size: 8,
    });
    this.inputs[tier.id] = input;
    return field(tier.name, input, { path: `tiers.${tier.id}` });
  }
}

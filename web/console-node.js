// The form of one menu node: the fields its kind has, each labelled, with
// the node's path in `data-path` so the server's problems
// (`nodes.welcome.options.3.target`) land next to the field they are about.
//
// `read()` turns the form back into the node's document; fields left
// empty are left out so the menu's defaults apply.

import { field, h, previewPrompt, say, select, uid } from './console-dom.js';
import { recordingField } from './console-recording.js';
import { optionTarget } from './console-tree.js';

const PROMPT_LIMIT = 1000;

const P = (name, label, hint) => ({ name, label, type: 'prompt', hint });
const T = (name, label) => ({ name, label, type: 'target' });
const N = (name, label, min, max, step, hint) => ({
  name,
  label,
  type: 'number',
  min,
  max,
  step,
  hint,
});

const TIMING = [
  N(
    'timeout_seconds',
    'Seconds to wait for a key',
    1,
    60,
    0.5,
    'After the prompt; default 5.',
  ),
  N(
    'interdigit_seconds',
    'Seconds between keys',
    0.5,
    30,
    0.5,
    'For entries of several keys; default 3.',
  ),
  N(
    'attempts',
    'Attempts',
    1,
    5,
    1,
    'Prompt played again on no key or a wrong key; default 3.',
  ),
];

/** The fields of each kind of node, in the order the form shows them. */
export const KIND_FIELDS = {
  menu: [
    P('prompt', 'Prompt', 'What the caller hears; in the page it shows above the buttons.'),
    { name: 'options', label: 'Options', type: 'options' },
    T('on_timeout', 'After the last attempt with no key, go to'),
    T('on_invalid', 'After the last wrong key, go to'),
    ...TIMING,
  ],
  faq: [
    P('prompt', 'Introduction (optional)', 'Said before the answers.'),
    { name: 'answers', label: 'FAQ answers, in order', type: 'answers' },
    T('next', 'Then go to'),
  ],
  callback: [
    P('prompt', 'Offer', 'Tells the caller which key accepts and which declines.'),
    { name: 'accept_digit', label: 'Key that accepts', type: 'digit' },
    { name: 'decline_digit', label: 'Key that declines', type: 'digit' },
    P('number_prompt', 'Asking for the number (optional)'),
    P(
      'readback_prompt',
      'Before a keyed number is read back (optional)',
      'Default: “You entered”. Then each digit is said on its own.',
    ),
    P(
      'confirm_prompt',
      'After the number is read back (optional)',
      'Default: “Press 1 to confirm, or 2 to enter it again.”, with the keys below.',
    ),
    { name: 'confirm_digit', label: 'Key that confirms the number', type: 'digit' },
    { name: 'reenter_digit', label: 'Key that asks for the number again', type: 'digit' },
    { name: 'windows', label: 'Time windows to choose from', type: 'windows' },
    P('window_prompt', 'Asking for the time window (optional)'),
    T('next', 'Once the callback is requested, go to'),
    T('declined', 'When declined, go to'),
    P(
      'refused_prompt',
      'When a daily callback limit refuses the request (optional)',
      'Default: “We cannot take another callback request today.” Then the declined path.',
    ),
    ...TIMING,
  ],
  queue: [
    P('prompt', 'While waiting (optional)'),
    {
      name: 'skill',
      label: 'Skill',
      type: 'text',
      hint: 'Agents with this skill take the call.',
    },
    N('max_wait_seconds', 'Longest wait, in seconds', 10, 3600, 1),
    T('overflow', 'When nobody answers in time, go to'),
  ],
  hours: [
    T('open', 'When open, go to'),
    T('closed', 'When closed, go to'),
    T('holiday', 'On a holiday, go to'),
  ],
  tollfree: [P('prompt', 'Before the transfer (optional)')],
  hangup: [P('prompt', 'Goodbye (optional)')],
};

const OPTIONAL_PROMPTS = new Set(['faq', 'queue', 'tollfree', 'hangup']);

/** A new node of `kind`, empty where the operator must choose. */
export function blankNode(kind) {
  const blanks = {
    menu: {
      prompt: '',
      options: { 1: { target: '', label: '' } },
      on_timeout: '',
      on_invalid: '',
    },
    faq: { answers: [], next: '' },
    callback: { prompt: '', next: '', declined: '' },
    queue: { skill: 'general', max_wait_seconds: 300, overflow: '' },
    hours: { open: '', closed: '', holiday: '' },
    tollfree: { prompt: '' },
    hangup: { prompt: '' },
  };
  return { kind, ...blanks[kind] };
}

export class NodeForm {
  /**
   * `context()` gives {api, doc, faq: [{id, question}], changed} when
   * drawing; `changed()` runs when the form changed `doc` itself (a
   * prompt's recording).
   */
  constructor(container, context) {
    this.container = container;
    this.context = context;
    this.id = null;
    this.kind = null;
  }

  render(id, node, editable) {
    const { doc } = this.context();
    this.id = id;
    this.kind = node.kind;
    this.editable = editable;
    this.targets = Object.keys(doc.nodes ?? {});
    const fieldset = h('fieldset', { class: 'plain', disabled: !editable });
    fieldset.append(...KIND_FIELDS[node.kind].map((spec) => this._field(spec, node)));
    this.container.replaceChildren(fieldset);
  }

  _field(spec, node) {
    const value = node[spec.name];
    const builders = {
      prompt: () => this._prompt(spec, value),
      target: () =>
        field(spec.label, select([['', '(choose a node)'], ...this.targets], value ?? ''), {
          path: spec.name,
          attrs: {},
        }),
      number: () => this._number(spec, value),
      text: () =>
        field(spec.label, h('input', { name: spec.name, value: value ?? '' }), spec),
      digit: () =>
        field(spec.label, select([...'0123456789*#'], value ?? defaultDigit(spec.name)), {
          path: spec.name,
        }),
      options: () => this._options(value ?? {}),
      answers: () =>
        this._list(spec, value ?? [], (v) => this._answerSelect(v), 'Add an answer'),
      windows: () =>
        this._list(
          spec,
          value ?? [],
          (v) => h('input', { value: v, placeholder: '09:00-12:00' }),
          'Add a window',
        ),
    };
    const built = builders[spec.type]();
    built.dataset.path = spec.name;
    built.dataset.name = spec.name;
    built.dataset.type = spec.type;
    return built;
  }

  _prompt(spec, value) {
    const area = h('textarea', { rows: 3, maxlength: PROMPT_LIMIT, value: value ?? '' });
    const audio = h('div', { class: 'status', 'aria-live': 'polite', hidden: true });
    const name = spec.label.replace(/ \(optional\)$/, '');
    const button = h('button', {
      type: 'button',
      class: 'small',
      text: 'Hear it',
      'aria-label': `Hear the ${name.toLowerCase()}`,
      onclick: () => this._preview(area, audio),
    });
    const wrap = field(spec.label, area, { path: spec.name, hint: spec.hint });
    wrap.append(h('div', { class: 'toolbar' }, button), audio);
    wrap.append(this._recording(`${this.id}.${spec.name}`, name, area));
    return wrap;
  }

  _recording(where, name, area) {
    const { api, changed } = this.context();
    const draft = () => this.context().doc;
    return recordingField({ api, where, name, area, editable: this.editable, draft, changed });
  }

  async _preview(area, box) {
    if (!area.value.trim()) {
      say(box, 'Write the prompt first.');
      return;
    }
    await previewPrompt(this.context().api, area.value, box);
  }

  _number(spec, value) {
    const input = h('input', {
      type: 'number',
      min: spec.min,
      max: spec.max,
      step: spec.step,
      value: value ?? '',
      inputmode: 'decimal',
    });
    return field(spec.label, input, { path: spec.name, hint: spec.hint });
  }

  // Options: digits, label and target per row.

  _options(options) {
    const rows = h('tbody');
    const add = () => rows.append(this._optionRow('', { target: '', label: '' }));
    for (const [digits, option] of Object.entries(options))
      rows.append(this._optionRow(digits, option));
    const captionId = uid('cap');
    const table = h(
      'table',
      { class: 'options', 'aria-labelledby': captionId },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Keys', 'Label in the page', 'Go to', ''].map((t) => h('th', { text: t })),
        ),
      ),
      rows,
    );
    return h(
      'div',
      { class: 'field' },
      h('span', { class: 'label-like', id: captionId, text: 'Options' }),
      table,
      h('button', { type: 'button', class: 'small', text: 'Add an option', onclick: add }),
    );
  }

  _optionRow(digits, option) {
    const keys = h('input', {
      value: digits,
      size: 4,
      maxlength: 4,
      'aria-label': 'Keys',
      class: 'digits',
    });
    const label = h('input', {
      value: option?.label ?? '',
      maxlength: 80,
      'aria-label': 'Label',
    });
    const target = select(
      [['', '(choose a node)'], ...this.targets],
      optionTarget(option),
      { 'aria-label': 'Go to' },
    );
    const row = h('tr', { class: 'option-row', dataset: { path: `options.${digits}` } });
    keys.addEventListener('input', () => {
      row.dataset.path = `options.${keys.value.trim()}`;
      keys.setAttribute('aria-label', `Keys ${keys.value.trim()}`);
    });
    const remove = h('button', {
      type: 'button',
      class: 'small',
      text: 'Remove',
      'aria-label': `Remove option ${digits}`,
      onclick: () => row.remove(),
    });
    row.append(...[keys, label, target, remove].map((cell) => h('td', {}, cell)));
    return row;
  }

  _answerSelect(value) {
    const { faq } = this.context();
    const choices = faq.map((entry) => [entry.id, `${entry.id}: ${entry.question}`]);
    return select([['', '(choose an entry)'], ...choices], value, {
      'aria-label': 'FAQ entry',
    });
  }

  // A list of values, one control per item, with add and remove.

  _list(spec, values, control, addText) {
    const list = h('ol', { class: 'value-list' });
    const add = (value) => {
      const li = h('li', {}, control(value));
      li.append(
        h('button', {
          type: 'button',
          class: 'small',
          text: 'Remove',
          onclick: () => (li.remove(), renumber()),
        }),
      );
      list.append(li);
      renumber();
    };
    const renumber = () =>
      [...list.children].forEach((li, index) => {
        li.dataset.path = `${spec.name}.${index}`;
        li.querySelector('select, input').setAttribute(
          'aria-label',
          `${spec.label}: ${index + 1}`,
        );
      });
    values.forEach((value) => add(value));
    const labelId = uid('lbl');
    return h(
      'div',
      { class: 'field', role: 'group', 'aria-labelledby': labelId },
      h('span', { class: 'label-like', id: labelId, text: spec.label }),
      list,
      h('button', {
        type: 'button',
        class: 'small',
        text: addText,
        onclick: () => add(''),
      }),
    );
  }

  // Back to a document.

  /** The node as a document, or {problems} found before sending it. */
  read() {
    const node = { kind: this.kind };
    const problems = [];
    for (const wrap of this.container.querySelectorAll(':scope > fieldset > [data-name]')) {
      const { name, type } = wrap.dataset;
      const value = this._read(wrap, type, problems);
      if (value === undefined) continue;
      if (type === 'prompt' && value === '' && this._optional(name)) continue;
      node[name] = value;
    }
    return { node, problems };
  }

  _optional(name) {
    return name !== 'prompt' || OPTIONAL_PROMPTS.has(this.kind);
  }

  _read(wrap, type, problems) {
    const control = wrap.querySelector('input, select, textarea');
    switch (type) {
      case 'number':
        return control.value === '' ? undefined : Number(control.value);
      case 'options':
        return readOptions(wrap, problems);
      case 'answers':
      case 'windows':
        return [...wrap.querySelectorAll('li select, li input')]
          .map((c) => c.value.trim())
          .filter(Boolean);
      default:
        return type === 'prompt' ? control.value.trim() : control.value;
    }
  }
}

function defaultDigit(name) {
  return ['accept_digit', 'confirm_digit'].includes(name) ? '1' : '2';
}

function readOptions(wrap, problems) {
  const options = {};
  for (const row of wrap.querySelectorAll('.option-row')) {
    const [keys, label, target] = row.querySelectorAll('input, select');
    const digits = keys.value.trim();
    if (digits in options) {
      const sentence = `keys ${digits} are taken by an option above`;
      problems.push({ path: `options.${digits}`, sentence, element: row });
      continue;
    }
    options[digits] = label.value.trim()
      ? { target: target.value, label: label.value.trim() }
      : target.value;
  }
  return options;
}

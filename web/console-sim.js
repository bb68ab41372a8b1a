// The simulator: runs a menu version as a call would, on the server's own
// interpreter (POST /api/simulate), without a phone. The operator plays
// the caller with a virtual keypad, the menu's buttons and the callback
// form, and plays the world with "Prompt finished", the timers and "Agent
// answers". Every step shows the actions it caused; the journey shows what
// the call has been offered so far.
//
// The server keeps no state: the whole list of events goes with each
// request, so undo is dropping the last event and asking again.

import { asSentence } from './console-api.js';
import { clearProblems, h, say, sayError, select, showProblems } from './console-dom.js';
import { choiceInWords, offersInWords } from './journey.js';

const KEYS = [
  ['1', '1'],
  ['2', '2'],
  ['3', '3'],
  ['4', '4'],
  ['5', '5'],
  ['6', '6'],
  ['7', '7'],
  ['8', '8'],
  ['9', '9'],
  ['*', 'Star'],
  ['0', '0'],
  ['#', 'Pound'],
];
const MAX_AUTO_STEPS = 40;

/** `PlayPrompt`, `play-prompt` and `play_prompt` are one action type. */
export function actionType(action) {
  return String(action.type ?? action.action ?? '')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .replace(/-/g, '_')
    .toLowerCase();
}

function optionPairs(options) {
  return (options ?? []).map((o) => (Array.isArray(o) ? { digits: o[0], label: o[1] } : o));
}

/** What the call is waiting for, read from every action so far. */
export function callState(steps, events) {
  const state = { playing: null, timers: new Map(), menu: null, form: null, prompt: null };
  const done = new Set(events.filter((e) => e.type === 'prompt_done').map((e) => e.play));
  steps.forEach((step, index) => {
    const event = events[index];
    if (event?.type === 'timer') state.timers.delete(event.name);
    for (const action of step.actions ?? []) apply(state, action, done);
  });
  return state;
}

function apply(state, action, done) {
  const type = actionType(action);
  if (type === 'play_prompt') {
    state.playing = done.has(action.play) ? null : action.play;
    state.prompt = action;
  } else if (type === 'stop_prompt' && state.playing === action.play) {
    state.playing = null;
  } else if (type === 'start_timer') {
    state.timers.set(action.name, action.seconds);
  } else if (type === 'cancel_timer') {
    state.timers.delete(action.name);
  } else if (type === 'show_menu') {
    [state.menu, state.form] = [
      { node: action.node, options: optionPairs(action.options) },
      null,
    ];
  } else if (type === 'show_callback_form') {
    [state.menu, state.form] = [null, action];
  } else if (
    [
      'route_to_queue',
      'hang_up',
      'transfer_to_toll_free',
      'transfer_to_tollfree',
      'hangup',
    ].includes(type)
  ) {
    [state.menu, state.form] = [null, null];
  }
}

export function describeEvent(event) {
  switch (event.type) {
    case 'start':
      return 'The call starts';
    case 'digit':
      return `The caller presses ${event.digit}`;
    case 'prompt_done':
      return `Prompt ${event.play} finishes`;
    case 'timer':
      return `The ${event.name} timer fires`;
    case 'agent_answered':
      return 'An agent answers';
    case 'hangup':
      return 'The caller hangs up';
    case 'form':
      return describeForm(event);
    default:
      return event.type;
  }
}

function describeForm(event) {
  const fields = event.fields ?? {};
  if (event.form === 'menu') return `The caller clicks option ${fields.choice} in the page`;
  if ('decline' in fields) return 'The caller declines the callback in the page';
  const window = fields.window ? `, ${fields.window}` : '';
  return `The caller asks for a callback in the page (${fields.number}${window})`;
}

const seconds = (value) => `${Number(value)} s`;

// One key (a menu's choice) needs no end key; a number does.
function waitsFor({ max_digits: most = 1, terminator }) {
  if (Number(most) <= 1) return 'Waits for a key';
  return `Waits for up to ${Number(most)} keys${terminator ? `, ended by ${terminator}` : ''}`;
}

const ACTION_WORDS = {
  play_prompt: (a) =>
    a.faq_id
      ? `Plays the FAQ answer ${a.faq_id}`
      : `Plays prompt ${a.play}${a.interruptible ? ' (a key interrupts it)' : ''}`,
  stop_prompt: (a) => `Stops prompt ${a.play}`,
  show_menu: (a) =>
    `Shows the menu of ${a.node}: ${optionPairs(a.options)
      .map((o) => `${o.digits} ${o.label || ''}`.trim())
      .join(', ')}`,
  show_callback_form: (a) =>
    `Offers a callback (${a.node})${a.windows?.length ? `, windows ${a.windows.join(', ')}` : ''}`,
  start_timer: (a) => `Starts the ${a.name} timer: ${seconds(a.seconds)}`,
  cancel_timer: (a) => `Cancels the ${a.name} timer`,
  collect_digits: waitsFor,
  route_to_queue: (a) =>
    `Puts the call in the queue for ${a.skill} (at most ${seconds(a.max_wait_seconds)})`,
  leave_queue: () => 'Takes the call out of the queue',
  request_callback: (a) =>
    `Requests a callback to ${a.number}${a.window ? `, ${a.window}` : ''}`,
  transfer_to_toll_free: () => 'Transfers the call to the toll-free line',
  transfer_to_tollfree: () => 'Transfers the call to the toll-free line',
  hang_up: (a) => `Hangs up (${a.reason})`,
  hangup: (a) => `Hangs up (${a.reason})`,
};

function actionItem(action) {
  const type = actionType(action);
  const words = ACTION_WORDS[type]?.(action) ?? `${type} ${JSON.stringify(action)}`;
  const item = h('li', { class: `action action-${type}` }, words);
  if (type === 'play_prompt') item.append(promptCard(action));
  return item;
}

function promptCard(action) {
  const faq = action.faq ?? {};
  const question = faq.question ?? action.question;
  const text = action.text ?? faq.answer ?? action.answer ?? '';
  return h(
    'blockquote',
    { class: action.faq_id ? 'faq-card' : 'prompt-text' },
    question ? h('strong', { text: question }) : null,
    h('span', { text }),
  );
}

/** The journey's menu choices ({node, digits, label}) in the softphone's
 * words, each with the node it was made at. */
function choicesText(choices) {
  const text = (choice) =>
    choice.label ? `${choiceInWords(choice)} at ${choice.node}` : choiceInWords(choice);
  return (choices ?? []).map(text).join(', ');
}

export class SimulatorTab {
  constructor(app) {
    this.app = app;
    this.$ = app.$;
    this._buildKeypad();
    this._bind();
    this.reset();
  }

  get dirty() {
    return false; // A simulated call is not worth keeping.
  }

  get api() {
    return this.app.api;
  }

  reset() {
    this.events = [];
    this.autoCount = [];
    this.result = null;
    this.wanted = null;
    this.working = null;
    this.$('sim-body').hidden = true;
    say(this.$('sim-status'), '');
  }

  /** Opens with `id` version `version` chosen; `doc` simulates unsaved edits. */
  choose(id, version, doc = null) {
    this.wanted = `${id}@${version}`;
    this.working = doc;
    this.autostart = true;
  }

  async show() {
    const menus = this.app.tabs.menus;
    await menus.loadList();
    const choices = menus.menus.flatMap((m) =>
      m.versions.map((v) => {
        const value = `${m.id}@${v.version}`;
        const edited = this.working && value === this.wanted ? ', unsaved changes' : '';
        return [value, `${m.id}, version ${v.version} (${v.status}${edited})`];
      }),
    );
    const current = this.wanted ?? this.$('sim-menu').value ?? '';
    const fresh = select(
      choices,
      choices.some(([v]) => v === current) ? current : choices[0]?.[0],
      { id: 'sim-menu' },
    );
    this.$('sim-menu').replaceWith(fresh);
    this.$('sim-start').disabled = !choices.length;
    if (!choices.length)
      say(
        this.$('sim-status'),
        'There is no menu yet: create one in the Menus tab.',
        'info',
      );
    if (this.autostart) {
      this.autostart = false;
      await this.start();
    }
  }

  get auto() {
    return this.$('sim-auto').checked;
  }

  async start() {
    this.events = [{ type: 'start' }];
    this.autoCount = [0];
    this.result = null;
    if (await this.run()) this.$('sim-keypad').querySelector('button')?.focus();
  }

  /** Adds the caller's or the world's `event` and runs the call again. */
  async send(event) {
    if (!this.result) return;
    this.events.push(event);
    this.autoCount.push(0);
    if (!(await this.run())) {
      this.events.pop();
      this.autoCount.pop();
    }
  }

  async undo() {
    if (this.events.length <= 1) return;
    const extra = this.autoCount.pop();
    this.events.splice(this.events.length - extra - 1);
    await this.run({ auto: false });
  }

  async run({ auto = true } = {}) {
    const [id, version] = this.$('sim-menu').value.split('@');
    const body = { events: this.events };
    if (this.working && this.wanted === `${id}@${version}`) body.menu = this.working;
    else Object.assign(body, { menu_id: id, version: Number(version) });
    const hours = this.$('sim-hours').value;
    if (hours) body.hours = hours;
    try {
      this.result = await this.api.post('/api/simulate', body);
      say(this.$('sim-status'), '');
    } catch (error) {
      sayError(this.$('sim-status'), error);
      return false;
    }
    if (!(auto && this.auto && (await this._finishPrompt()))) this.render();
    return true;
  }

  // "Finish each prompt at once": the prompt playing ends as soon as it starts.
  async _finishPrompt() {
    const { playing } = callState(this.result.steps, this.events);
    const count = this.autoCount.at(-1);
    if (playing === null || this.result.phase === 'ended' || count >= MAX_AUTO_STEPS)
      return false;
    this.events.push({ type: 'prompt_done', play: playing });
    this.autoCount[this.autoCount.length - 1] = count + 1;
    if (await this.run()) return true;
    this.events.pop();
    this.autoCount[this.autoCount.length - 1] = count;
    return false;
  }

  render() {
    const { steps = [], journey = {}, phase } = this.result;
    const state = callState(steps, this.events);
    this.$('sim-body').hidden = false;
    this.$('sim-phase').textContent = phase ?? '';
    this.$('sim-phase').dataset.status = phase;
    this._renderPrompt(state);
    this._renderOptions(state.menu, phase);
    this._renderForm(state.form, phase);
    this._renderControls(state, phase);
    this._renderSteps(steps);
    this._renderJourney(journey, phase);
    this._renderNumberError(steps.at(-1));
  }

  // A number the callback check refused: its reason under the field.
  _renderNumberError(last) {
    const form = this.$('sim-callback');
    clearProblems(form);
    const event = last?.event ?? {};
    if (!last?.error || event.type !== 'form' || event.form !== 'callback') return;
    showProblems(form, [{ path: 'number', sentence: last.error.message }]);
  }

  _renderPrompt(state) {
    const box = this.$('sim-prompt');
    const prompt = state.prompt;
    if (!prompt) {
      box.replaceChildren();
      return;
    }
    const label =
      state.playing !== null
        ? `Playing prompt ${prompt.play}`
        : `Last prompt (${prompt.play})`;
    box.replaceChildren(h('p', { class: 'label', text: label }), promptCard(prompt));
  }

  _renderOptions(menu, phase) {
    const box = this.$('sim-options');
    box.hidden = !menu || phase === 'ended';
    if (box.hidden) return;
    box.replaceChildren(
      ...menu.options.map((option) =>
        h('button', {
          type: 'button',
          text: `${option.digits} · ${option.label || 'option'}`,
          onclick: () =>
            this.send({ type: 'form', form: 'menu', fields: { choice: option.digits } }),
        }),
      ),
    );
  }

  _renderForm(form, phase) {
    const box = this.$('sim-callback');
    const shown = Boolean(form) && phase !== 'ended';
    if (box.hidden === !shown && box.dataset.node === form?.node) return;
    box.hidden = !shown;
    box.dataset.node = form?.node ?? '';
    if (!shown) return;
    const windows = form.windows ?? [];
    this.$('sim-window-field').hidden = !windows.length;
    this.$('sim-window').replaceChildren(
      ...windows.map((w) => h('option', { value: w, text: w })),
    );
  }

  _renderControls(state, phase) {
    const ended = phase === 'ended';
    this.$('sim-prompt-done').disabled = state.playing === null || ended;
    this.$('sim-answer').disabled = phase !== 'queued';
    this.$('sim-hangup').disabled = ended;
    this.$('sim-undo').disabled = this.events.length <= 1;
    for (const key of this.$('sim-keypad').querySelectorAll('button')) key.disabled = ended;
    const timers = [...state.timers].map(([name, after]) =>
      h('button', {
        type: 'button',
        text: `Fire the ${name} timer (${seconds(after)})`,
        disabled: ended,
        onclick: () => this.send({ type: 'timer', name }),
      }),
    );
    this.$('sim-timers').replaceChildren(...timers);
  }

  _renderSteps(steps) {
    const list = this.$('sim-steps');
    list.replaceChildren(
      ...steps.map((step, index) => {
        const event = step.event ?? this.events[index];
        const auto = event?.type === 'prompt_done' && index > 0;
        return h(
          'li',
          { class: auto ? 'step auto' : 'step' },
          h('p', { class: 'event', text: describeEvent(event ?? {}) }),
          step.note ? h('p', { class: 'muted', text: asSentence(step.note) }) : null,
          step.error
            ? h('p', { class: 'field-error', text: asSentence(step.error.message) })
            : null,
          step.actions?.length
            ? h('ul', { class: 'actions-list' }, step.actions.map(actionItem))
            : h('p', { class: 'muted', text: 'Nothing happens.' }),
        );
      }),
    );
    list.lastElementChild?.scrollIntoView({ block: 'nearest' });
  }

  _renderJourney(journey, phase) {
    const answers = journey.faq_answers ?? journey.faq?.map((f) => f.id ?? f) ?? [];
    const rows = [
      ['Phase', phase ?? ''],
      ['Nodes visited', (journey.nodes ?? []).map((n) => n.id ?? n).join(' → ') || 'none'],
      ['Menu choices', choicesText(journey.choices) || 'none'],
      ['FAQ answers', answers.join(', ') || 'none'],
      ['Offers made', journey.offers?.length ? offersInWords(journey.offers) : 'none'],
      ['Outcome', journey.outcome ?? 'still in the menu'],
    ];
    if (journey.tollfree_refused)
      rows.push(['Toll-free refused', String(journey.tollfree_refused)]);
    this.$('sim-journey').replaceChildren(
      ...rows.flatMap(([term, value]) => [
        h('dt', { text: term }),
        h('dd', { text: value }),
      ]),
    );
  }

  _buildKeypad() {
    const pad = this.$('sim-keypad');
    pad.append(
      ...KEYS.map(([digit, name]) =>
        h('button', {
          type: 'button',
          text: digit,
          'aria-label': name,
          onclick: () => this.send({ type: 'digit', digit }),
        }),
      ),
    );
  }

  _bind() {
    const $ = this.$;
    $('sim-setup').addEventListener('submit', (event) => {
      event.preventDefault();
      this.start();
    });
    $('sim-prompt-done').addEventListener('click', () => {
      const { playing } = callState(this.result.steps, this.events);
      if (playing !== null) this.send({ type: 'prompt_done', play: playing });
    });
    $('sim-answer').addEventListener('click', () => this.send({ type: 'agent_answered' }));
    $('sim-hangup').addEventListener('click', () => this.send({ type: 'hangup' }));
    $('sim-undo').addEventListener('click', () => this.undo());
    $('sim-callback').addEventListener('submit', (event) => {
      event.preventDefault();
      const fields = { number: $('sim-number').value.trim() };
      if (!$('sim-window-field').hidden) fields.window = $('sim-window').value;
      this.send({ type: 'form', form: 'callback', fields });
    });
    $('sim-decline').addEventListener('click', () =>
      this.send({ type: 'form', form: 'callback', fields: { decline: 'yes' } }),
    );
    // The keyboard's digit keys work as the keypad while the call has focus.
    $('sim-body').addEventListener('keydown', (event) => {
      if (
        event.target.matches('input, select, textarea') ||
        event.ctrlKey ||
        event.metaKey ||
        event.altKey
      )
        return;
      if (!/^[0-9*#]$/.test(event.key) || $('sim-keypad').querySelector('button')?.disabled)
        return;
      event.preventDefault();
      this.send({ type: 'digit', digit: event.key });
    });
  }
}

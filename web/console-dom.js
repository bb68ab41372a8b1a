// Small DOM helpers the console's tabs share: building elements, labelled
// fields, errors placed next to the field they are about, prompt previews.

import { asSentence } from './console-api.js';

let nextId = 0;

/** A unique id for tying labels and messages to their elements. */
export function uid(prefix = 'c') {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

const PROPERTIES = new Set([
  'value',
  'checked',
  'disabled',
  'hidden',
  'selected',
  'readOnly',
]);

/** An element: `attrs` sets attributes, `on*` listeners, `text`, `class`. */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'text') element.textContent = value;
    else if (name === 'class') element.className = value;
    else if (name === 'dataset') Object.assign(element.dataset, value);
    else if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (PROPERTIES.has(name)) element[name] = value;
    else element.setAttribute(name, value === true ? '' : value);
  }
  element.append(
    ...children.flat().filter((child) => child !== null && child !== undefined),
  );
  return element;
}

/**
 * A labelled field: `<div class="field" data-path>` holding the label, the
 * control and, when a save fails, the error about it. `control` is an
 * element or a tag name; `hint` is shown under the label.
 */
export function field(label, control, { path, hint, attrs = {} } = {}) {
  const input = typeof control === 'string' ? h(control, attrs) : control;
  input.id ||= uid('f');
  const parts = [h('label', { for: input.id, text: label })];
  if (hint) {
    const hintId = uid('hint');
    parts.push(h('p', { class: 'hint', id: hintId, text: hint }));
    input.setAttribute('aria-describedby', hintId);
  }
  parts.push(input);
  return h('div', { class: 'field', dataset: path ? { path } : {} }, ...parts);
}

/** A `<select>` of `choices` ([value, text] or plain values), `value` chosen. */
export function select(choices, value, attrs = {}) {
  const options = choices.map((choice) => {
    const [v, text] = Array.isArray(choice) ? choice : [choice, choice];
    return h('option', { value: v, text, selected: v === value });
  });
  const element = h('select', attrs, ...options);
  if (
    value !== undefined &&
    !choices.some((c) => (Array.isArray(c) ? c[0] : c) === value)
  ) {
    // A value not among the choices (a dangling target) stays visible.
    element.prepend(h('option', { value, text: `${value} (missing)`, selected: true }));
  }
  return element;
}

export function clearProblems(root) {
  for (const message of root.querySelectorAll('.field-error-row, .field-error'))
    message.remove();
  for (const control of root.querySelectorAll('[aria-invalid="true"]')) {
    control.removeAttribute('aria-invalid');
    const describedBy = (control.getAttribute('aria-describedby') ?? '')
      .split(' ')
      .filter((id) => id && !id.startsWith('err-'));
    if (describedBy.length) control.setAttribute('aria-describedby', describedBy.join(' '));
    else control.removeAttribute('aria-describedby');
  }
  for (const marked of root.querySelectorAll('.has-error'))
    marked.classList.remove('has-error');
}

/** The element in `root` whose `data-path` is the longest prefix of `path`. */
function placeFor(root, path) {
  let best = null;
  for (const candidate of root.querySelectorAll('[data-path]')) {
    const own = candidate.dataset.path;
    const fits = path === own || path.startsWith(`${own}.`);
    if (fits && (!best || own.length > best.dataset.path.length)) best = candidate;
  }
  return best;
}

/**
 * Shows each problem (`{path, sentence}`) next to the field it is about;
 * `strip` is removed from the front of paths first. Returns the problems
 * that have no field here, for the caller to list.
 */
export function showProblems(root, problems, strip = '') {
  clearProblems(root);
  const left = [];
  for (const problem of problems) {
    const path = String(problem.path ?? '');
    const own = strip && path.startsWith(strip) ? path.slice(strip.length) : path;
    const place = problem.element ?? placeFor(root, own);
    if (!place) {
      left.push(problem);
      continue;
    }
    markField(place, problemText(problem, place.dataset.path, own));
  }
  root.querySelector('[aria-invalid="true"]')?.focus();
  return left;
}

function problemText(problem, placePath, path) {
  const sentence = asSentence(problem.sentence ?? problem.message ?? '');
  const rest = path.slice(placePath.length + 1);
  return rest ? `${rest}: ${sentence}` : sentence;
}

function markField(place, text) {
  const message = h('p', { class: 'field-error', id: uid('err'), text });
  place.classList.add('has-error');
  if (place.tagName === 'TR') {
    // In a table the message takes a row of its own, under its row.
    const cell = h('td', { colspan: place.cells.length }, message);
    place.after(h('tr', { class: 'field-error-row' }, cell));
  } else if (place.matches('input, select, textarea')) {
    place.after(message); // A control that is its own place holds no children.
  } else {
    place.append(message);
  }
  const control = place.matches('input, select, textarea')
    ? place
    : place.querySelector('input, select, textarea');
  if (!control) return;
  control.setAttribute('aria-invalid', 'true');
  const describedBy = control.getAttribute('aria-describedby');
  control.setAttribute(
    'aria-describedby',
    [describedBy, message.id].filter(Boolean).join(' '),
  );
}

/** A list of problems with their places, for those no field shows. */
export function problemList(problems) {
  return h(
    'ul',
    { class: 'problems' },
    problems.map((p) =>
      h(
        'li',
        {},
        p.path ? h('code', { text: p.path }) : null,
        ` ${asSentence(p.sentence)}`,
      ),
    ),
  );
}

/** Puts `message` (text or nodes) in a status box; empty hides it. */
export function say(box, message, kind = 'error') {
  box.replaceChildren();
  box.dataset.kind = kind;
  if (!message) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  box.append(...(Array.isArray(message) ? message : [message]));
}

/**
 * What an error says in a sentence. A refusal that lists its problems is
 * summed up (the server's message repeats them), saying where they show:
 * at the fields marked, in a list below, or both.
 */
export function errorText(error, unplaced = error.problems ?? []) {
  const count = error.problems?.length ?? 0;
  if (!count) return error.message;
  const problems = `${count} ${count === 1 ? 'problem' : 'problems'}`;
  if (unplaced.length === count) return `Not saved: ${problems}.`;
  const where = unplaced.length ? 'at the fields marked and below' : 'at the fields marked';
  return `Not saved: ${problems}, shown ${where}.`;
}

/** Shows an error from the API in `box`: its message and any problems. */
export function sayError(box, error, unplaced = error.problems ?? []) {
  const parts = [h('p', { text: errorText(error, unplaced) })];
  if (unplaced.length) parts.push(problemList(unplaced));
  say(box, parts, 'error');
}

/**
 * Renders a prompt's text into audio with the server's TTS and puts a
 * player in `box`; a text that cannot be spoken says so, with the
 * fallback callers would hear.
 */
export async function previewPrompt(api, text, box) {
  say(box, 'Making the audio…', 'info');
  let prompt;
  try {
    prompt = await api.post('/api/prompts/preview', { text });
  } catch (error) {
    sayError(box, error);
    return null;
  }
  say(box, promptPlayer(prompt), prompt.fallback ? 'error' : 'info');
  return prompt;
}

export function promptAudioUrl(prompt) {
  return prompt.urls?.ogg ?? `/api/prompts/${prompt.key}.ogg`;
}

/** An audio player for a rendered prompt, with its length or its error. */
export function promptPlayer(prompt) {
  const audio = h('audio', {
    controls: true,
    preload: 'auto',
    src: promptAudioUrl(prompt),
  });
  const seconds = Number(prompt.duration_s ?? 0).toFixed(1);
  const why = asSentence(prompt.error ?? 'no reason given');
  const note = prompt.fallback
    ? `This text cannot be spoken: ${why} Callers hear the fallback prompt (${seconds} s).`
    : `${seconds} s of audio.`;
  return [audio, h('span', { class: 'prompt-note', text: note })];
}

const MAX_UPLOAD_BYTES = 5 * 1024 * 1024;

/**
 * Sends an operator's recording to be checked and stored as a prompt;
 * returns the prompt ({key, duration_s, urls}). A refusal is thrown: the
 * server's (not audio, too long, silent) or, for a file over the limit,
 * one made here without sending it.
 */
export async function uploadRecording(api, file) {
  if (file.size > MAX_UPLOAD_BYTES) {
    throw new Error('The recording is over 5 MB. Use a shorter or more compressed file.');
  }
  const type = file.type || 'application/octet-stream';
  return api.send('POST', '/api/prompts/upload', file, type);
}

/** Offers `text` as a file download named `name`. */
export function download(name, text, type = 'application/yaml') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = h('a', { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Runs `work` with `button` disabled, so a double click saves once. */
export async function busy(button, work) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

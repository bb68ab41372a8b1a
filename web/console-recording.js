// Operators' recordings of a menu's prompts. The menu document maps
// "<node>.<prompt field>" to the key of an uploaded prompt (POST
// /api/prompts/upload) under `recordings`; callers then hear the recording
// instead of the voice reading the prompt's text, which the page still
// shows.
//
// Under each prompt field that has text: upload a recording, play it,
// remove it. The recording goes into the working copy of the menu and is
// saved with it. A recording whose node is gone or whose prompt has no
// text is left out of what is saved, since the server refuses those.

import {
  h,
  promptAudioUrl,
  say,
  sayError,
  uploadRecording,
} from './console-dom.js';

/** `doc`'s recordings of prompts that still have text: {where: key}. */
function liveRecordings(doc) {
  return Object.fromEntries(
    Object.entries(doc.recordings ?? {}).filter(([where]) => {
      const [id, name] = where.split('.');
      return Boolean(doc.nodes?.[id]?.[name]);
    }),
  );
}

/** `doc` as it can be saved: without the recordings of gone prompts. */
export function withLiveRecordings(doc) {
  const { recordings, ...rest } = doc;
  const live = liveRecordings(doc);
  return Object.keys(live).length ? { ...rest, recordings: live } : rest;
}

/** The prompt fields of node `id` that callers hear as a recording. */
export function recordedFields(doc, id) {
  return Object.keys(liveRecordings(doc))
    .map((where) => where.split('.'))
    .filter(([node]) => node === id)
    .map(([, name]) => name);
}

/** Makes `key` (null: none) the recording at `where` in the working copy. */
export function setRecording(doc, where, key) {
  const recordings = { ...doc.recordings };
  if (key) recordings[where] = key;
  else delete recordings[where];
  if (Object.keys(recordings).length) doc.recordings = recordings;
  else delete doc.recordings;
}

/**
 * The server names a recording's place `recordings.NODE.FIELD`; in the
 * node form it is the recording under that prompt field.
 */
export function placeRecordingProblem(problem) {
  const match = /^recordings\.([^.]+)\.([^.]+)$/.exec(String(problem.path ?? ''));
  if (!match) return problem;
  return { ...problem, path: `nodes.${match[1]}.${match[2]}.recording` };
}

/**
 * The recording control of one prompt field: `where` is "NODE.FIELD",
 * `name` the field's label, `area` its text, `draft()` the working copy,
 * `changed()` runs once the recording in it changed.
 */
export function recordingField({ api, where, name, area, editable, draft, changed }) {
  const key = () => draft().recordings?.[where] ?? null;
  const state = h('p', { class: 'hint' });
  const player = h('div', { class: 'recording-player' });
  const status = h('div', { class: 'status', 'aria-live': 'polite', hidden: true });
  const file = h('input', {
    type: 'file',
    accept: 'audio/*',
    class: 'visually-hidden',
    'aria-label': `${name}: upload a recording`,
  });
  const remove = h('button', {
    type: 'button',
    class: 'small',
    text: 'Remove the recording',
    'aria-label': `${name}: remove the recording`,
  });
  // The file input sits in its label, so the label shows its focus.
  const label = h('label', { class: 'button' }, 'Upload a recording…', file);
  const tools = h('div', { class: 'toolbar', hidden: !editable }, label, remove);
  const box = h(
    'div',
    { class: 'recording', dataset: { path: `${where.split('.')[1]}.recording` } },
    state,
    player,
    tools,
    status,
  );

  // Typing in the prompt keeps the player, and what it is playing.
  let shown = null;
  const render = () => {
    const hasText = Boolean(area.value.trim());
    const recorded = key();
    state.textContent = stateText(hasText, recorded);
    label.hidden = !hasText;
    remove.hidden = !recorded;
    const wanted = hasText ? recorded : null;
    if (wanted === shown) return;
    shown = wanted;
    player.replaceChildren(wanted ? audioOf(wanted, name) : '');
  };
  const put = (value) => {
    setRecording(draft(), where, value);
    render();
    changed();
  };

  file.addEventListener('change', async () => {
    const [chosen] = file.files;
    file.value = '';
    if (!chosen) return;
    say(status, 'Uploading the recording…', 'info');
    try {
      const prompt = await uploadRecording(api, chosen);
      put(prompt.key);
      const seconds = Number(prompt.duration_s ?? 0).toFixed(1);
      say(status, `${seconds} s recorded. Save the node to keep it.`, 'ok');
    } catch (error) {
      sayError(status, error);
    }
  });
  remove.addEventListener('click', () => {
    put(null);
    say(status, 'The recording is removed. Save the node to keep this.', 'ok');
  });
  area.addEventListener('input', render);
  render();
  return box;
}

function stateText(hasText, recorded) {
  if (!hasText && recorded) {
    return 'With no text this prompt has no recording: saving drops it.';
  }
  if (!hasText) return 'Write the prompt, then a recording of it can be uploaded.';
  if (recorded) return 'Callers hear this recording instead of the voice.';
  return 'No recording: callers hear the text read by the voice.';
}

function audioOf(recorded, name) {
  return h('audio', {
    controls: true,
    preload: 'none',
    src: promptAudioUrl({ key: recorded }),
    'aria-label': `${name}: the recording`,
  });
}

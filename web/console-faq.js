// The FAQ tab: the list of entries (or search results ranked as customers
// see them), a form to add, edit and delete an entry, its recorded answer,
// a preview of the spoken answer, and YAML import and export.
//
// An edit that is not saved is kept per entry while the operator looks at
// others, and a refused save leaves the form as it was, with each problem
// next to its field.

import {
  busy,
  clearProblems,
  download,
  h,
  previewPrompt,
  promptPlayer,
  say,
  sayError,
  showProblems,
  uploadRecording,
} from './console-dom.js';

const NEW = '';
const SEARCH_DELAY_MS = 200;
const SPOKEN_WORDS_PER_SECOND = 2.5;

function entriesOf(body) {
  const list = Array.isArray(body)
    ? body
    : (body.entries ?? body.faq ?? body.results ?? []);
  return list;
}

function entryOf(body) {
  return body.entry ?? body;
}

function splitTags(text) {
  return text
    .split(',')
    .map((tag) => tag.trim())
    .filter(Boolean);
}

export class FaqTab {
  constructor(app) {
    this.app = app;
    const $ = app.$;
    this.ui = {
      list: $('faq-list'),
      count: $('faq-count'),
      search: $('faq-search'),
      listStatus: $('faq-list-status'),
      form: $('faq-form'),
      title: $('faq-form-title'),
      empty: $('faq-empty'),
      fields: $('faq-fields'),
      id: $('faq-id'),
      question: $('faq-question'),
      answer: $('faq-answer'),
      answerHint: $('faq-answer-hint'),
      tags: $('faq-tags'),
      recordingState: $('faq-recording-state'),
      recordingFile: $('faq-recording-file'),
      preview: $('faq-preview'),
      removeRecording: $('faq-recording-remove'),
      audio: $('faq-audio'),
      status: $('faq-status'),
      save: $('faq-save'),
      remove: $('faq-delete'),
      confirm: $('faq-confirm'),
      importForm: $('faq-import'),
      importOpen: $('faq-import-open'),
      importText: $('faq-import-text'),
      importFile: $('faq-import-file'),
      importReplace: $('faq-import-replace'),
      importStatus: $('faq-import-status'),
    };
    this.reset();
    this._bind();
  }

  reset() {
    this.entries = new Map();
    this.drafts = new Map();
    this.selected = null;
    this.results = null;
    this._searchTimer = null;
    this.ui.search.value = '';
    this._showForm(null);
  }

  get api() {
    return this.app.api;
  }

  async show() {
    await this.load();
  }

  async load() {
    try {
      const body = await this.api.get('/api/faq');
      this.entries = new Map(entriesOf(body).map((entry) => [entry.id, entry]));
      say(this.ui.listStatus, '');
    } catch (error) {
      sayError(this.ui.listStatus, error);
    }
    this.renderList();
  }

  // The list.

  renderList() {
    const items =
      this.results ?? [...this.entries.values()].sort((a, b) => a.id.localeCompare(b.id));
    const { ui } = this;
    ui.count.textContent = this.results
      ? `${items.length} found`
      : `${this.entries.size} ${this.entries.size === 1 ? 'entry' : 'entries'}`;
    ui.list.replaceChildren(...items.map((item) => this._listItem(item)));
    if (!items.length) {
      const text = this.results ? 'Nothing matches.' : 'No entries yet.';
      ui.list.append(h('li', { class: 'muted', text }));
    }
  }

  _listItem(item) {
    const entry = this.entries.get(item.id) ?? item;
    const unsaved = this.drafts.has(item.id);
    const button = h(
      'button',
      {
        type: 'button',
        class: 'item',
        'aria-current': this.selected === item.id ? 'true' : false,
        onclick: () => this.open(item.id),
      },
      h('span', { class: 'item-title', text: entry.question || item.id }),
      h(
        'span',
        { class: 'item-meta' },
        h('code', { text: item.id }),
        entry.recording ? h('span', { class: 'tag', text: 'recorded' }) : null,
        unsaved ? h('span', { class: 'tag warn', text: 'unsaved' }) : null,
        ...(entry.tags ?? []).map((tag) => h('span', { class: 'tag', text: tag })),
      ),
      item.snippet ? h('span', { class: 'snippet', text: item.snippet }) : null,
    );
    return h('li', {}, button);
  }

  _search() {
    clearTimeout(this._searchTimer);
    this._searchTimer = setTimeout(() => this._runSearch(), SEARCH_DELAY_MS);
  }

  async _runSearch() {
    const query = this.ui.search.value.trim();
    if (!query) {
      this.results = null;
      this.renderList();
      return;
    }
    try {
      const params = new URLSearchParams({ q: query.slice(0, 200), limit: '20' });
      const body = await this.api.get(`/api/faq/search?${params}`);
      if (this.ui.search.value.trim() !== query) return;
      this.results = entriesOf(body);
      say(this.ui.listStatus, '');
    } catch (error) {
      sayError(this.ui.listStatus, error);
    }
    this.renderList();
  }

  // The form.

  /** Opens entry `id` (NEW for a new one), keeping the edit being left. */
  open(id) {
    this._keepDraft();
    this._showForm(id);
    this.renderList();
    this.ui.title.focus();
  }

  _showForm(id) {
    const { ui } = this;
    this.selected = id;
    ui.empty.hidden = id !== null;
    ui.fields.hidden = id === null;
    clearProblems(ui.form);
    say(ui.status, '');
    say(ui.audio, '');
    ui.confirm.hidden = true;
    if (id === null) {
      ui.title.textContent = 'FAQ entry';
      return;
    }
    const entry = this.entries.get(id);
    const draft = this.drafts.get(id);
    this._fill(draft ?? entry ?? { id: '', question: '', answer: '', tags: [] });
    ui.title.textContent = id === NEW ? 'New FAQ entry' : `Edit “${id}”`;
    ui.id.readOnly = id !== NEW;
    ui.remove.hidden = id === NEW;
    if (draft) say(ui.status, 'These changes are not saved yet.', 'info');
    this._renderRecording(entry);
  }

  _fill(values) {
    const { ui } = this;
    ui.id.value = values.id ?? '';
    ui.question.value = values.question ?? '';
    ui.answer.value = values.answer ?? '';
    ui.tags.value = Array.isArray(values.tags)
      ? values.tags.join(', ')
      : (values.tags ?? '');
    this._renderAnswerHint();
  }

  _values() {
    const { ui } = this;
    return {
      id: ui.id.value.trim(),
      question: ui.question.value,
      answer: ui.answer.value,
      tags: splitTags(ui.tags.value),
    };
  }

  _dirty() {
    if (this.selected === null) return false;
    const now = this._values();
    const saved = this.entries.get(this.selected) ?? {
      id: '',
      question: '',
      answer: '',
      tags: [],
    };
    return (
      now.id !== (saved.id ?? '') ||
      now.question !== saved.question ||
      now.answer !== saved.answer ||
      now.tags.join(',') !== (saved.tags ?? []).join(',')
    );
  }

  get dirty() {
    return this.drafts.size > 0 || this._dirty();
  }

  _keepDraft() {
    if (this.selected === null) return;
    if (this._dirty()) this.drafts.set(this.selected, this._values());
    else this.drafts.delete(this.selected);
  }

  _renderAnswerHint() {
    const words = this.ui.answer.value.split(/\s+/).filter(Boolean).length;
    const seconds = Math.round(words / SPOKEN_WORDS_PER_SECOND);
    const advice = words > 60 ? ' Callers follow answers of up to 60 words best.' : '';
    this.ui.answerHint.textContent = `${words} words, about ${seconds} s spoken.${advice}`;
  }

  _renderRecording(entry) {
    const { ui } = this;
    const saved = Boolean(entry);
    ui.recordingFile.disabled = !saved;
    ui.recordingFile.labels[0].classList.toggle('disabled', !saved);
    ui.removeRecording.hidden = !entry?.recording;
    if (!saved) {
      ui.recordingState.textContent = 'Save the entry first, then upload a recording.';
    } else if (entry.recording) {
      ui.recordingState.textContent = 'Callers hear the uploaded recording.';
    } else {
      ui.recordingState.textContent = 'None: callers hear the answer read by the voice.';
    }
  }

  // A new action's message replaces the last one's, wherever that showed.
  _clearMessages() {
    const { ui } = this;
    for (const box of [ui.listStatus, ui.status, ui.importStatus, ui.audio]) say(box, '');
  }

  async save() {
    const { ui } = this;
    const values = this._values();
    const isNew = this.selected === NEW;
    clearProblems(ui.form);
    this._clearMessages();
    let saved;
    try {
      saved = entryOf(
        isNew
          ? await this.api.post('/api/faq', values)
          : await this.api.put(`/api/faq/${encodeURIComponent(this.selected)}`, values),
      );
    } catch (error) {
      this._refused(error);
      return false;
    }
    this.drafts.delete(this.selected);
    this.entries.set(saved.id, { ...values, ...saved });
    this.selected = saved.id;
    this._showForm(saved.id);
    say(ui.status, isNew ? 'Entry added.' : 'Saved.', 'ok');
    this.renderList();
    return true;
  }

  _refused(error) {
    const { ui } = this;
    const problems = error.problems.length ? error.problems : this._guessField(error);
    const left = showProblems(ui.form, problems);
    sayError(
      ui.status,
      error,
      left.filter((p) => p.path),
    );
  }

  // A refusal without a list of problems still names its field when the
  // code says which one it is (an id that exists already).
  _guessField(error) {
    if (error.status === 409 && this.selected === NEW) {
      return [{ path: 'id', sentence: error.message }];
    }
    return [];
  }

  async remove() {
    const { ui } = this;
    const id = this.selected;
    ui.confirm.hidden = true;
    this._clearMessages();
    try {
      await this.api.delete(`/api/faq/${encodeURIComponent(id)}`);
    } catch (error) {
      sayError(ui.status, error);
      ui.remove.focus();
      return;
    }
    this.entries.delete(id);
    this.drafts.delete(id);
    this._showForm(null);
    this.renderList();
    say(this.ui.listStatus, `Deleted “${id}”.`, 'ok');
  }

  // Audio.

  async uploadRecording(file) {
    const { ui } = this;
    this._clearMessages();
    say(ui.audio, 'Uploading the recording…', 'info');
    try {
      const prompt = await uploadRecording(this.api, file);
      await this._attach(prompt.key);
      say(ui.audio, promptPlayer(prompt), 'info');
    } catch (error) {
      sayError(ui.audio, error);
    }
  }

  /** Stops playing the uploaded recording: callers hear the voice again. */
  async removeRecording() {
    this._clearMessages();
    try {
      await this._attach(null);
      say(
        this.ui.audio,
        'The recording is removed; callers hear the answer read by the voice.',
        'ok',
      );
    } catch (error) {
      sayError(this.ui.audio, error);
    }
  }

  /** Makes the prompt `key` (null: none) the open entry's recording. */
  async _attach(key) {
    const id = this.selected;
    const path = `/api/faq/${encodeURIComponent(id)}/recording`;
    const entry = entryOf(await this.api.post(path, { key }));
    this.entries.set(id, { ...this.entries.get(id), recording: key, ...entry });
    this._renderRecording(this.entries.get(id));
    this.renderList();
  }

  // A saved entry plays what callers hear (its recording, or the voice);
  // an edited answer is read by the voice as it now stands.
  async preview() {
    this._clearMessages();
    const entry = this.entries.get(this.selected);
    if (entry?.audio && !this._dirty()) {
      const audio = h('audio', { controls: true, preload: 'auto', src: entry.audio });
      const what = entry.recording
        ? 'The recorded answer.'
        : 'The answer, read by the voice.';
      say(this.ui.audio, [audio, h('span', { class: 'prompt-note', text: what })], 'info');
      audio.play().catch(() => {});
      return;
    }
    const text = this.ui.answer.value.trim();
    if (!text) {
      say(this.ui.audio, 'Write the answer first.');
      return;
    }
    await previewPrompt(this.api, text, this.ui.audio);
  }

  // Import and export.

  _toggleImport(open) {
    const { ui } = this;
    ui.importForm.hidden = !open;
    ui.importOpen.setAttribute('aria-expanded', String(open));
    if (open) ui.importFile.focus();
    else ui.importOpen.focus();
  }

  async import() {
    const { ui } = this;
    const replace = ui.importReplace.checked;
    clearProblems(ui.importForm);
    this._clearMessages();
    try {
      const path = `/api/faq/import?replace=${replace}`;
      const body = await this.api.send(
        'POST',
        path,
        ui.importText.value,
        'application/yaml',
      );
      const count = body.imported ?? body.count ?? entriesOf(body).length;
      say(ui.importStatus, `Imported ${count} ${count === 1 ? 'entry' : 'entries'}.`, 'ok');
      ui.importText.value = '';
      ui.importFile.value = '';
    } catch (error) {
      sayError(ui.importStatus, error);
      return;
    }
    await this.load();
  }

  async export() {
    this._clearMessages();
    try {
      download('faq.yaml', await this.api.getText('/api/faq/export'));
    } catch (error) {
      sayError(this.ui.listStatus, error);
    }
  }

  _bind() {
    const { ui } = this;
    ui.search.addEventListener('input', () => this._search());
    ui.answer.addEventListener('input', () => this._renderAnswerHint());
    ui.form.addEventListener('submit', (event) => {
      event.preventDefault();
      busy(ui.save, () => this.save());
    });
    $click(this.app.$('faq-add'), () => this.open(NEW));
    $click(ui.remove, () => {
      ui.confirm.hidden = false;
      this.app.$('faq-confirm-no').focus();
    });
    $click(this.app.$('faq-confirm-no'), () => {
      ui.confirm.hidden = true;
      ui.remove.focus();
    });
    $click(this.app.$('faq-confirm-yes'), () => this.remove());
    $click(ui.preview, () => busy(ui.preview, () => this.preview()));
    $click(ui.removeRecording, () =>
      busy(ui.removeRecording, () => this.removeRecording()),
    );
    ui.recordingFile.addEventListener('change', () => {
      const [file] = ui.recordingFile.files;
      ui.recordingFile.value = '';
      if (file) this.uploadRecording(file);
    });
    this._bindImport();
  }

  _bindImport() {
    const { ui } = this;
    $click(ui.importOpen, () => this._toggleImport(ui.importForm.hidden));
    $click(this.app.$('faq-import-cancel'), () => this._toggleImport(false));
    $click(this.app.$('faq-export'), () => this.export());
    ui.importFile.addEventListener('change', async () => {
      const [file] = ui.importFile.files;
      if (file) ui.importText.value = await file.text();
    });
    ui.importForm.addEventListener('submit', (event) => {
      event.preventDefault();
      this.import();
    });
  }
}

function $click(element, handler) {
  element.addEventListener('click', handler);
}

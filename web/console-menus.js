// The menus tab: every menu with its versions and their status (draft,
// published, archived) and which one callers enter; a new menu or one
// imported from YAML; and for the version open: validate, publish, a new
// draft from it, roll back to it, make it the entry menu, export it, try it
// in the simulator. The validator's failures show step by step, and the
// nodes they are about are flagged in the tree.

import {
  busy,
  clearProblems,
  download,
  h,
  say,
  sayError,
  showProblems,
} from './console-dom.js';
import { MenuEditor, menuOf, versionPath } from './console-editor.js';
import { withLiveRecordings } from './console-recording.js';
import { stepKey } from './console-tree.js';

const STATUS_WORDS = { draft: 'Draft', published: 'Published', archived: 'Archived' };

/** A starting point for a new menu: a welcome menu and a goodbye. */
function starterMenu(id) {
  return {
    id,
    start: 'welcome',
    nodes: {
      welcome: {
        kind: 'menu',
        prompt: 'Thank you for calling. To hear this again, press 1.',
        options: { 1: { target: 'welcome', label: 'Hear this again' } },
        on_timeout: 'goodbye',
        on_invalid: 'goodbye',
      },
      goodbye: { kind: 'hangup', prompt: 'Thank you for calling. Goodbye.' },
    },
  };
}

function menusOf(body) {
  return Array.isArray(body) ? body : (body.menus ?? []);
}

function versionsOf(body) {
  const list = Array.isArray(body) ? body : (body.versions ?? []);
  return list
    .map((v) => (typeof v === 'number' ? { version: v, status: 'draft' } : v))
    .sort((a, b) => b.version - a.version);
}

export class MenusTab {
  constructor(app) {
    this.app = app;
    this.$ = app.$;
    this.editor = new MenuEditor(this);
    this.reset();
    this._bind();
  }

  reset() {
    this.menus = [];
    this.entry = null;
    this.faq = [];
    this.current = null;
    this.editor?.reset();
    this.$('version-body').hidden = true;
    this.$('version-empty').hidden = false;
  }

  get dirty() {
    return this.editor.dirty;
  }

  get api() {
    return this.app.api;
  }

  async show() {
    await Promise.all([this.loadList(), this.loadFaq()]);
    if (this.current) return;
    const first = this.menus.find((m) => m.id === this.entry) ?? this.menus[0];
    const version =
      first && (first.versions.find((v) => v.status === 'published') ?? first.versions[0]);
    if (version) await this.openVersion(first.id, version.version, { focus: false });
  }

  /** Messages about the version open, above its tree. */
  say(message, kind = 'error') {
    say(this.$('version-message'), message, kind);
  }

  /** A new action's message replaces the last one's, wherever that showed. */
  clearMessages() {
    for (const id of ['version-message', 'node-status', 'yaml-status', 'menu-list-status'])
      say(this.$(id), '');
  }

  async loadFaq() {
    try {
      const body = await this.api.get('/api/faq');
      this.faq = (Array.isArray(body) ? body : (body.entries ?? [])).map(
        ({ id, question }) => ({ id, question }),
      );
    } catch {
      this.faq = []; // The FAQ tab shows why; answers then keep their ids.
    }
  }

  // The list of menus and versions.

  async loadList() {
    const status = this.$('menu-list-status');
    try {
      const body = await this.api.get('/api/menus');
      const menus = menusOf(body);
      this.menus = await Promise.all(menus.map((menu) => this._withVersions(menu)));
      this.entry =
        body.entry?.menu_id ??
        body.entry ??
        menus.find((m) => m.entry === true)?.id ??
        null;
      if (typeof this.entry !== 'string') this.entry = await this._entry();
      say(status, '');
    } catch (error) {
      sayError(status, error);
    }
    this.renderList();
  }

  async _withVersions(menu) {
    const id = menu.id ?? menu.menu_id;
    if (Array.isArray(menu.versions) && typeof menu.versions[0] !== 'number') {
      return { id, versions: versionsOf(menu.versions) };
    }
    const body = await this.api.get(`/api/menus/${encodeURIComponent(id)}/versions`);
    return { id, versions: versionsOf(body) };
  }

  async _entry() {
    const body = await this.api.get('/api/menus/entry').catch(() => ({}));
    return body.menu_id ?? null;
  }

  renderList() {
    const list = this.$('menu-list');
    list.replaceChildren(...this.menus.map((menu) => this._menuItem(menu)));
    if (!this.menus.length) list.append(h('p', { class: 'muted', text: 'No menus yet.' }));
  }

  _menuItem(menu) {
    const headingId = `menu-${menu.id}`;
    return h(
      'section',
      { class: 'menu-item', 'aria-labelledby': headingId },
      h(
        'h3',
        { id: headingId },
        menu.id,
        menu.id === this.entry ? h('span', { class: 'badge entry', text: 'Entry' }) : null,
      ),
      h(
        'ul',
        { class: 'item-list versions' },
        menu.versions.map((v) => this._versionItem(menu, v)),
      ),
    );
  }

  _versionItem(menu, version) {
    const open = this.current?.id === menu.id && this.current?.version === version.version;
    return h(
      'li',
      {},
      h(
        'button',
        {
          type: 'button',
          class: 'item version',
          'aria-current': open ? 'true' : false,
          onclick: () => this.openVersion(menu.id, version.version),
        },
        `Version ${version.version}`,
        h('span', {
          class: 'badge',
          dataset: { status: version.status },
          text: STATUS_WORDS[version.status] ?? version.status,
        }),
      ),
    );
  }

  // The version open.

  async openVersion(id, version, { focus = true } = {}) {
    if (this.editor.dirty && !(await this.editor.save())) {
      this.say(
        'This version has changes that could not be saved: fix or discard them first.',
      );
      return;
    }
    let doc;
    try {
      doc = menuOf(await this.api.get(versionPath(id, version)));
    } catch (error) {
      sayError(this.$('menu-list-status'), error);
      return;
    }
    this.current = { id, version };
    this.$('version-empty').hidden = true;
    this.$('version-body').hidden = false;
    this.say('');
    this._hideReport();
    this.editor.node = null;
    this.editor.marks = { failing: new Set(), onPath: new Set() };
    this.editor.load(doc);
    this.renderHeader();
    this.renderList();
    if (focus) this.$('version-title').focus();
  }

  renderHeader() {
    const doc = this.editor.doc;
    const status = this.$('version-status');
    this.$('version-title').textContent = `${doc.id}, version ${doc.version}`;
    status.textContent = STATUS_WORDS[doc.status] ?? doc.status;
    status.dataset.status = doc.status;
    const isEntry = doc.id === this.entry && doc.status === 'published';
    this.$('version-entry').hidden = !isEntry;
    const show = {
      publish: doc.status === 'draft',
      rollback: doc.status === 'archived',
      entry: doc.status === 'published' && !isEntry,
    };
    this.$('v-publish').hidden = !show.publish;
    this.$('v-rollback').hidden = !show.rollback;
    this.$('v-entry').hidden = !show.entry;
    const hints = {
      draft: 'A draft: edit it freely; callers hear it only once it is published.',
      published:
        'Published: callers hear this version. It cannot change; make a new draft from it to edit.',
      archived: 'Archived: an earlier version. Roll back to publish a copy of it again.',
    };
    this.$('version-hint').textContent = hints[doc.status] ?? '';
  }

  /** After the editor saved: the list may show a new status. */
  saved() {
    this.renderHeader();
  }

  // Validate and publish.

  async validate() {
    if (!(await this._saveFirst())) return;
    const { id, version } = this.editor.doc;
    try {
      const report = await this.api.post(`${versionPath(id, version)}/validate`, {});
      this.showReport(report.failures ?? [], 'validate');
    } catch (error) {
      this._actionFailed(error);
    }
  }

  async publish() {
    const { id, version } = this.editor.doc;
    if (!confirm(this._publishQuestion(id, version))) return;
    if (!(await this._saveFirst())) return;
    try {
      await this.api.post(`${versionPath(id, version)}/publish`, {});
    } catch (error) {
      this._actionFailed(error, 'publish');
      return;
    }
    this._hideReport();
    await this._reopen(id, version);
    this.say(`Version ${version} is published.`, 'ok');
  }

  // Publishing changes what callers hear at once: the operator says yes
  // first, to words that say which version callers get.
  _publishQuestion(id, version) {
    const what = `Version ${version}`;
    return `Publish version ${version} of ${id}?\n\n${this._consequence(id, what)}`;
  }

  _rollbackQuestion(id, version) {
    const next = Math.max(0, ...this._versions(id).map((v) => v.version)) + 1;
    const what = `Version ${next}, a copy of version ${version},`;
    return `Roll back ${id} to version ${version}?\n\n${this._consequence(id, what)}`;
  }

  // What callers get, and the version it takes over from. Publishing the
  // first menu makes it the entry menu too.
  _consequence(id, what) {
    const heard = this.entry === null || this.entry === id;
    const now = heard
      ? `${what} becomes what callers hear now.`
      : `${what} becomes the published version of ${id}; callers hear it once ${id} ` +
        'is the entry menu.';
    const published = this._versions(id).find((v) => v.status === 'published');
    return published ? `${now} Version ${published.version} is archived.` : now;
  }

  _versions(id) {
    return this.menus.find((m) => m.id === id)?.versions ?? [];
  }

  async _saveFirst() {
    if (!this.editor.dirty) return true;
    if (await this.editor.save()) return true;
    this.say('The changes could not be saved, so nothing else was done.');
    return false;
  }

  _actionFailed(error, action) {
    if (error.failures.length) {
      this.showReport(error.failures, action);
      this.say('');
      return;
    }
    sayError(this.$('version-message'), error);
  }

  /** The validator's failures, each with its path step by step. */
  showReport(failures, action) {
    const report = this.$('report');
    const title = this.$('report-title');
    report.hidden = false;
    report.dataset.ok = String(!failures.length);
    const count = `${failures.length} ${failures.length === 1 ? 'problem' : 'problems'}`;
    title.textContent = failures.length
      ? `${action === 'publish' ? 'Publishing refused' : 'Not ready to publish'}: ${count}`
      : 'No problems: every path offers an FAQ answer and a callback before the toll-free line.';
    this.$('report-failures').replaceChildren(...failures.map((f) => this._failure(f)));
    this.editor.highlight(new Set(failures.map((f) => f.node)));
    title.focus();
  }

  _failure(failure) {
    const steps = failure.path ?? [];
    const show = h('button', {
      type: 'button',
      class: 'link',
      text: steps.length ? `Show the path in the tree` : `Open ${failure.node}`,
      onclick: () => this._showFailure(failure),
    });
    return h(
      'li',
      { class: 'failure', dataset: { node: failure.node, kind: failure.kind } },
      h('p', {}, h('strong', { text: `${failure.node}: ` }), failure.sentence, ' ', show),
      steps.length
        ? h(
            'ol',
            { class: 'path', 'aria-label': 'The path, step by step' },
            steps.map((s) => this._step(s)),
          )
        : null,
    );
  }

  _step(step) {
    const node = (id) =>
      h('button', {
        type: 'button',
        class: 'link node-ref',
        text: id,
        onclick: () => this.editor.openNode(id),
      });
    return h(
      'li',
      {},
      node(step.node),
      h('span', { class: 'via', text: ` — ${step.via} → ` }),
      node(step.to),
    );
  }

  // The path's branches are flagged where the tree draws them; the tree
  // scrolls to the last one, which reaches the failing node.
  _showFailure(failure) {
    const steps = failure.path ?? [];
    const keys = steps.map((s) => stepKey(s.node, s.via));
    this.editor.marks.onPath = new Set([steps[0]?.node ?? failure.node, ...keys]);
    this.editor.openNode(failure.node, { focus: false });
    const last = keys.at(-1) ?? failure.node;
    const item = this.$('tree-view').querySelector(`[data-step="${CSS.escape(last)}"]`);
    item?.scrollIntoView({ block: 'center' });
    (item ?? this.$('node-title')).focus();
  }

  _hideReport() {
    this.$('report').hidden = true;
    this.editor.highlight(new Set());
  }

  // The other actions.

  async newDraft() {
    const { status, version, ...doc } = structuredClone(this.editor.doc);
    try {
      const created = menuOf(await this.api.post('/api/menus', doc));
      await this._reopen(created.id, created.version);
      this.say(
        `Version ${created.version} is a new draft, copied from version ${version}.`,
        'ok',
      );
    } catch (error) {
      sayError(this.$('version-message'), error);
    }
  }

  async rollback() {
    const { id, version } = this.editor.doc;
    if (!confirm(this._rollbackQuestion(id, version))) return;
    try {
      const published = menuOf(
        await this.api.post(`/api/menus/${encodeURIComponent(id)}/rollback`, { version }),
      );
      await this._reopen(published.id ?? id, published.version);
      this.say(
        `Version ${published.version}, a copy of version ${version}, is published.`,
        'ok',
      );
    } catch (error) {
      this._actionFailed(error, 'publish');
    }
  }

  async makeEntry() {
    const { id } = this.editor.doc;
    try {
      await this.api.put('/api/menus/entry', { menu_id: id });
      this.entry = id;
      this.renderList();
      this.renderHeader();
      this.say(`Callers now enter ${id}.`, 'ok');
    } catch (error) {
      sayError(this.$('version-message'), error);
    }
  }

  async exportYaml() {
    const { id, version } = this.editor.doc;
    try {
      download(
        `${id}-v${version}.yaml`,
        await this.api.getText(`${versionPath(id, version)}?format=yaml`),
      );
    } catch (error) {
      sayError(this.$('version-message'), error);
    }
  }

  // Edits not saved yet are simulated as they stand in the editor.
  simulate() {
    const { doc, dirty } = this.editor;
    this.app.tabs.simulator.choose(
      doc.id,
      doc.version,
      dirty ? structuredClone(withLiveRecordings(doc)) : null,
    );
    this.app.select('simulator', { focus: true });
  }

  async _reopen(id, version) {
    await this.loadList();
    this.current = null;
    await this.openVersion(id, version, { focus: false });
  }

  // New menus.

  async create(form, input, body, type) {
    const status = form.querySelector('.status');
    clearProblems(form);
    say(status, '');
    try {
      const created = menuOf(
        type
          ? await this.api.send('POST', '/api/menus', body, type)
          : await this.api.post('/api/menus', body),
      );
      this._toggle(form, false);
      input.value = '';
      await this._reopen(created.id, created.version);
      this.say(`Version ${created.version} of ${created.id} is a new draft.`, 'ok');
    } catch (error) {
      const left = showProblems(
        form,
        error.problems.filter((p) => p.path === 'id'),
      );
      const rest = [...left, ...error.problems.filter((p) => p.path !== 'id')];
      sayError(status, error, rest);
    }
  }

  _toggle(form, open) {
    const opener = this.$(`${form.id}-open`);
    form.hidden = !open;
    opener.setAttribute('aria-expanded', String(open));
    if (open) form.querySelector('input, textarea').focus();
  }

  _bind() {
    const $ = this.$;
    const on = (id, handler) =>
      $(id).addEventListener('click', (e) => {
        this.clearMessages();
        return busy(e.currentTarget, handler);
      });
    on('v-validate', () => this.validate());
    on('v-publish', () => this.publish());
    on('v-draft', () => this.newDraft());
    on('v-rollback', () => this.rollback());
    on('v-entry', () => this.makeEntry());
    on('v-export', () => this.exportYaml());
    $('v-simulate').addEventListener('click', () => this.simulate());
    for (const name of ['menu-new', 'menu-import']) {
      const form = $(name);
      $(`${name}-open`).addEventListener('click', () => this._toggle(form, form.hidden));
      $(`${name}-cancel`).addEventListener('click', () => this._toggle(form, false));
    }
    $('menu-new').addEventListener('submit', (event) => {
      event.preventDefault();
      const input = $('menu-new-id');
      this.create($('menu-new'), input, starterMenu(input.value.trim()));
    });
    $('menu-import').addEventListener('submit', (event) => {
      event.preventDefault();
      const input = $('menu-import-text');
      this.create($('menu-import'), input, input.value, 'application/yaml');
    });
    $('menu-import-file').addEventListener('change', async () => {
      const [file] = $('menu-import-file').files;
      if (file) $('menu-import-text').value = await file.text();
    });
  }
}

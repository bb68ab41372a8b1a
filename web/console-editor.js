// The editor of one menu version: the tree, the form of the open node,
// adding and removing nodes, and the YAML of the whole version.
//
// Edits go into a working copy of the document and are saved whole (PUT
// of the version), less the recordings of prompts that are gone. A
// refused save keeps the working copy and the form as they were: each
// problem shows next to its field (a recording's, `recordings.NODE.FIELD`,
// under that prompt), or, when it is about another node, in a list with a
// button that opens that node.

import {
  busy,
  clearProblems,
  errorText,
  h,
  problemList,
  say,
  sayError,
  showProblems,
} from './console-dom.js';
import { NodeForm, blankNode } from './console-node.js';
import { placeRecordingProblem, withLiveRecordings } from './console-recording.js';
import { bindTree, drawTree, kindWord, sources } from './console-tree.js';

const NODE_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

const clone = (value) => structuredClone(value);

export function versionPath(id, version) {
  return `/api/menus/${encodeURIComponent(id)}/versions/${version}`;
}

/** The menu document in an answer that may wrap it. */
export function menuOf(body) {
  return body.menu ?? body;
}

export class MenuEditor {
  /** `tab` is the menus tab: its api, FAQ entries and messages. */
  constructor(tab) {
    this.tab = tab;
    const $ = tab.app.$;
    this.$ = $;
    this.form = $('node-form');
    this.fields = new NodeForm($('node-fields'), () => ({
      api: tab.api,
      doc: this.doc,
      faq: tab.faq,
      changed: () => this.render(),
    }));
    this.reset();
    this._bind();
  }

  reset() {
    this.doc = null;
    this.saved = '';
    this.node = null;
    this.step = null;
    this.problems = [];
    this.marks = { failing: new Set(), onPath: new Set() };
    this.yamlLoaded = null;
  }

  get dirty() {
    return this.doc !== null && JSON.stringify(this.doc) !== this.saved;
  }

  get editable() {
    return this.doc?.status === 'draft';
  }

  /** Shows `doc`, the version as saved; the open node stays open if it can. */
  load(doc) {
    this.doc = clone(doc);
    this.saved = JSON.stringify(this.doc);
    this.problems = [];
    this.yamlLoaded = null;
    this.$('add-node').hidden = !this.editable;
    this.$('yaml-save').disabled = !this.editable;
    this.render();
    if (this.node && this.doc.nodes[this.node]) this.openNode(this.node, { focus: false });
    else this._closeNode();
    if (!this.$('yaml-view').hidden) this.loadYaml();
  }

  highlight(failing, onPath = new Set()) {
    this.marks = { failing, onPath };
    this.render();
  }

  render() {
    if (!this.doc) return;
    const orphans = drawTree(this.doc, this.$('tree'), this.$('orphan-list'), {
      selected: this.node,
      step: this.step,
      ...this.marks,
    });
    this.$('orphans').hidden = orphans.length === 0;
    this.$('unsaved').hidden = !this.dirty;
  }

  // The open node.

  /** Opens node `id`; `step` is the tree item it was chosen by, if any
   * (opened again, the node keeps the item it had). */
  openNode(id, { focus = true, step = null } = {}) {
    const node = this.doc?.nodes[id];
    if (!node) return;
    this.step = step ?? (id === this.node ? this.step : null);
    this.node = id;
    this.form.hidden = false;
    this.$('node-empty').hidden = true;
    this.$('node-title').textContent = `${id}: ${kindWord(node.kind)}`;
    this.fields.render(id, node, this.editable);
    this.$('node-actions').hidden = !this.editable;
    this.$('node-start').disabled = this.doc.start === id;
    say(this.$('node-status'), '');
    this._showNodeProblems();
    this.render();
    if (focus) this.$('node-title').focus();
  }

  _closeNode() {
    this.node = null;
    this.step = null;
    this.form.hidden = true;
    this.$('node-empty').hidden = false;
  }

  _showNodeProblems() {
    const prefix = `nodes.${this.node}.`;
    const own = this.problems
      .map(placeRecordingProblem)
      .filter((p) => String(p.path).startsWith(prefix));
    if (!own.length) return;
    const left = showProblems(this.form, own, prefix);
    if (left.length) say(this.$('node-status'), problemList(left));
  }

  /** Puts the form into the working copy and saves the version. */
  async saveNode() {
    const { node, problems } = this.fields.read();
    clearProblems(this.form);
    if (problems.length) {
      showProblems(this.form, problems);
      say(this.$('node-status'), 'Fix the fields marked, then save again.');
      return false;
    }
    this.doc.nodes[this.node] = node;
    this._keepFaqIds();
    return this.save();
  }

  // A menu lists the FAQ entries it plays; answers added in the form join it.
  _keepFaqIds() {
    const used = Object.values(this.doc.nodes)
      .filter((node) => node.kind === 'faq')
      .flatMap((node) => node.answers ?? []);
    const listed = (this.doc.faq_ids ?? []).filter((id) => used.includes(id));
    this.doc.faq_ids = [...new Set([...listed, ...used])];
  }

  /** Saves the working copy; true when the server took it. */
  async save() {
    const doc = withLiveRecordings(this.doc);
    const path = versionPath(doc.id, doc.version);
    say(this.$('node-status'), '');
    try {
      const body = await this.tab.api.put(path, doc);
      this.problems = [];
      const saved = menuOf(body);
      this.load(saved?.nodes ? saved : doc);
      say(this.$('node-status'), 'Saved.', 'ok');
      this.tab.saved();
      return true;
    } catch (error) {
      this._refused(error);
      return false;
    }
  }

  _refused(error) {
    this.problems = error.problems;
    this.render();
    const prefix = this.node ? `nodes.${this.node}.` : '\0';
    const problems = error.problems.map(placeRecordingProblem);
    const own = problems.filter((p) => String(p.path).startsWith(prefix));
    const others = problems.filter((p) => !String(p.path).startsWith(prefix));
    const left = this.node ? showProblems(this.form, own, prefix) : [];
    const unplaced = [...left, ...others];
    const parts = [h('p', { text: errorText(error, unplaced) })];
    if (unplaced.length) parts.push(this._problemLinks(unplaced));
    say(this.$('node-status'), parts);
    if (this.form.hidden) this.tab.say(parts);
  }

  /** Problems with a button to open the node each is about. */
  _problemLinks(problems) {
    const list = problemList(problems);
    problems.forEach((problem, index) => {
      const match = /^nodes\.([^.]+)/.exec(problem.path ?? '');
      if (!match || !this.doc.nodes[match[1]] || match[1] === this.node) return;
      const open = h('button', {
        type: 'button',
        class: 'link',
        text: `Open ${match[1]}`,
        onclick: () => this.openNode(match[1]),
      });
      list.children[index].append(' ', open);
    });
    return list;
  }

  discard() {
    this.load(JSON.parse(this.saved));
    say(this.$('node-status'), '');
  }

  // Adding, removing, the start.

  addNode(id, kind) {
    const form = this.$('add-node');
    clearProblems(form);
    let sentence = null;
    if (!NODE_ID.test(id))
      sentence = 'an id is 1 to 64 of a-z, 0-9, - and _, starting with a letter or digit';
    else if (this.doc.nodes[id]) sentence = `a node “${id}” exists already`;
    if (sentence) {
      showProblems(form, [{ path: 'id', sentence }]);
      return;
    }
    this.doc.nodes[id] = blankNode(kind);
    this.$('add-node-id').value = '';
    this.openNode(id);
    say(
      this.$('node-status'),
      'Fill in the node, then save it. Link it from another node so calls reach it.',
      'info',
    );
  }

  async removeNode() {
    const id = this.node;
    const status = this.$('node-status');
    if (this.doc.start === id) {
      say(status, 'This is the start node. Make another node the start first.');
      return;
    }
    const from = sources(this.doc, id).filter((source) => source !== id);
    if (from.length) {
      const names = from.join(', ');
      say(status, `Calls reach this node from ${names}. Point those elsewhere first.`);
      return;
    }
    const removed = this.doc.nodes[id];
    delete this.doc.nodes[id];
    this._keepFaqIds();
    this._closeNode();
    if (!(await this.save())) {
      this.doc.nodes[id] = removed;
      this.openNode(id);
    } else {
      this.tab.say(`Removed the node “${id}”.`, 'ok');
    }
  }

  async makeStart() {
    const previous = this.doc.start;
    this.doc.start = this.node;
    if (!(await this.save())) this.doc.start = previous;
    this.openNode(this.node, { focus: false });
  }

  // YAML.

  showView(view) {
    const yaml = view === 'yaml';
    for (const [name, on] of [
      ['tree', !yaml],
      ['yaml', yaml],
    ]) {
      const tab = this.$(`view-${name}`);
      tab.setAttribute('aria-selected', String(on));
      tab.tabIndex = on ? 0 : -1;
      this.$(`${name}-view`).hidden = !on;
    }
    if (yaml) this.loadYaml();
  }

  async loadYaml({ force = false } = {}) {
    const text = this.$('yaml-text');
    const key = `${this.doc.id}@${this.doc.version}:${this.saved}`;
    if (this.yamlLoaded === key && !force) return;
    const status = this.$('yaml-status');
    clearProblems(this.$('yaml-form'));
    if (this.dirty) {
      say(
        status,
        'The tree has unsaved changes: save or discard them before editing the YAML.',
      );
      this.$('yaml-save').disabled = true;
      return;
    }
    say(status, '');
    this.$('yaml-save').disabled = !this.editable;
    text.readOnly = !this.editable;
    try {
      text.value = await this.tab.api.getText(
        `${versionPath(this.doc.id, this.doc.version)}?format=yaml`,
      );
      this.yamlLoaded = key;
    } catch (error) {
      sayError(status, error);
    }
  }

  async saveYaml() {
    const status = this.$('yaml-status');
    const path = versionPath(this.doc.id, this.doc.version);
    try {
      const body = await this.tab.api.send(
        'PUT',
        path,
        this.$('yaml-text').value,
        'application/yaml',
      );
      const saved = menuOf(body);
      this.load(saved?.nodes ? saved : await this._fetch());
      this.yamlLoaded = `${this.doc.id}@${this.doc.version}:${this.saved}`;
      say(status, 'Saved.', 'ok');
      this.tab.saved();
    } catch (error) {
      sayError(status, error);
    }
  }

  async _fetch() {
    return menuOf(await this.tab.api.get(versionPath(this.doc.id, this.doc.version)));
  }

  _bind() {
    const $ = this.$;
    // Each action starts by clearing the messages of the one before.
    const act = (work) => {
      this.tab.clearMessages();
      return work();
    };
    bindTree([$('tree'), $('orphan-list')], (id, step) => this.openNode(id, { step }));
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      act(() => busy($('node-save'), () => this.saveNode()));
    });
    $('node-remove').addEventListener('click', () => act(() => this.removeNode()));
    $('node-start').addEventListener('click', () => act(() => this.makeStart()));
    $('discard').addEventListener('click', () => act(() => this.discard()));
    $('add-node').addEventListener('submit', (event) => {
      event.preventDefault();
      act(() => this.addNode($('add-node-id').value.trim(), $('add-node-kind').value));
    });
    for (const view of ['tree', 'yaml']) {
      $(`view-${view}`).addEventListener('click', () => this.showView(view));
      $(`view-${view}`).addEventListener('keydown', (event) => {
        if (event.key !== 'ArrowLeft' && event.key !== 'ArrowRight') return;
        const other = view === 'tree' ? 'yaml' : 'tree';
        this.showView(other);
        $(`view-${other}`).focus();
      });
    }
    $('yaml-form').addEventListener('submit', (event) => {
      event.preventDefault();
      act(() => busy($('yaml-save'), () => this.saveYaml()));
    });
    $('yaml-reload').addEventListener('click', () =>
      act(() => this.loadYaml({ force: true })),
    );
  }
}

// A menu drawn as a tree from its start node: each node with its kind and
// prompt (flagged "recorded" when callers hear an operator's recording of
// it), each branch labelled with what takes a call along it (a digit,
// "timeout x3", "closed"...). A node met again is a reference to where it
// is drawn first, so loops stay finite. Nodes the start cannot reach are
// listed apart.
//
// The tree follows the WAI-ARIA tree pattern: one item is in the tab
// order; Up and Down move between items, Left goes to the parent, Right to
// the first child, Home and End to the ends, Enter or Space opens a node.

import { h } from './console-dom.js';
import { recordedFields } from './console-recording.js';

const KIND_WORDS = {
  menu: 'menu',
  faq: 'FAQ answers',
  callback: 'callback offer',
  queue: 'agents’ queue',
  hours: 'opening hours',
  tollfree: 'toll-free line',
  hangup: 'hang up',
};

export function kindWord(kind) {
  return KIND_WORDS[kind] ?? kind;
}

/** The target of a menu option, written either as text or {target, label}. */
export function optionTarget(option) {
  return typeof option === 'string' ? option : (option?.target ?? '');
}

/** Where a call can go from `node`: [{via, label, to}], as the validator says. */
export function edges(node) {
  const attempts = node.attempts ?? 3;
  switch (node.kind) {
    case 'menu':
      return [
        ...Object.entries(node.options ?? {}).map(([digits, option]) => ({
          via: digits,
          label: typeof option === 'string' ? '' : (option?.label ?? ''),
          to: optionTarget(option),
        })),
        { via: `timeout x${attempts}`, to: node.on_timeout },
        { via: `invalid x${attempts}`, to: node.on_invalid },
      ];
    case 'faq':
      return [{ via: 'next', to: node.next }];
    case 'callback':
      return [
        { via: 'accepted', to: node.next },
        { via: 'declined', to: node.declined },
      ];
    case 'queue':
      return [{ via: 'overflow', to: node.overflow }];
    case 'hours':
      return ['open', 'closed', 'holiday'].map((via) => ({ via, to: node[via] }));
    default:
      return [];
  }
}

/** Every node id that leads straight to `target`. */
export function sources(doc, target) {
  return Object.entries(doc.nodes ?? {})
    .filter(([, node]) => edges(node).some((edge) => edge.to === target))
    .map(([id]) => id);
}

function excerpt(text, length = 90) {
  if (!text) return '';
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

/**
 * Draws `doc` into the lists `tree` and `orphans`. `marks.selected` is the
 * open node and `marks.step` the item it was opened by (a node met on
 * several branches is drawn several times: only that item is selected, or
 * the one where the node is drawn in full); `marks.failing` a set of node
 * ids to flag, `marks.onPath` the branches of a path to show (`stepKey`,
 * and the id of the node it starts at).
 * Returns the ids drawn in neither (none: every node is in one of them).
 */
export function drawTree(doc, tree, orphans, marks) {
  const drawn = new Set();
  const nodes = doc.nodes ?? {};
  tree.replaceChildren();
  if (nodes[doc.start]) tree.append(item(doc, doc.start, null, drawn, marks, ''));
  else
    tree.append(
      h('li', { class: 'muted', text: `The start node “${doc.start}” is missing.` }),
    );
  const rest = Object.keys(nodes).filter((id) => !drawn.has(id));
  orphans.replaceChildren(...rest.map((id) => item(doc, id, null, drawn, marks, '')));
  makeNavigable(tree, orphans, marks);
  return rest;
}

/** The key of the branch from `from` by `via`, as `marks.onPath` holds it. */
export function stepKey(from, via) {
  return `${from} ${via}`;
}

function item(doc, id, edge, drawn, marks, from) {
  const node = doc.nodes[id];
  const step = edge ? stepKey(from, edge.via) : id;
  if (!node) return missingItem(id, edge, marks.onPath?.has(step));
  const repeat = drawn.has(id);
  drawn.add(id);
  const children = repeat ? [] : edges(node).filter((e) => e.to);
  const classes = ['treeitem'];
  if (marks.failing?.has(id)) classes.push('failing');
  if (marks.onPath?.has(step)) classes.push('on-path');
  if (repeat) classes.push('ref');
  const li = h(
    'li',
    {
      role: 'treeitem',
      class: classes.join(' '),
      tabindex: '-1',
      dataset: { node: id, step },
      'aria-selected': 'false',
      'aria-expanded': children.length ? 'true' : false,
    },
    row(doc, id, node, edge, repeat, marks),
  );
  if (children.length) {
    const group = h('ul', { role: 'group' });
    group.append(...children.map((e) => item(doc, e.to, e, drawn, marks, id)));
    li.append(group);
  }
  return li;
}

function row(doc, id, node, edge, repeat, marks) {
  const parts = [];
  if (edge) parts.push(viaBadge(edge));
  parts.push(h('span', { class: 'node-id', text: id }));
  parts.push(h('span', { class: `kind kind-${node.kind}`, text: kindWord(node.kind) }));
  if (id === doc.start) parts.push(h('span', { class: 'tag', text: 'start' }));
  if (marks.failing?.has(id))
    parts.push(h('span', { class: 'tag danger', text: 'problem' }));
  const recorded = recordedFields(doc, id);
  if (recorded.length) parts.push(recordedTag(recorded));
  if (repeat) parts.push(h('span', { class: 'muted', text: 'shown above' }));
  else if (node.prompt)
    parts.push(h('span', { class: 'excerpt', text: excerpt(node.prompt) }));
  return h('div', { class: 'node-row' }, parts);
}

function recordedTag(fields) {
  const which = fields.join(', ');
  return h('span', {
    class: 'tag recorded',
    text: 'recorded',
    title: `Callers hear a recording instead of the voice: ${which}`,
  });
}

function viaBadge(edge) {
  const text = edge.label ? `${edge.via} · ${edge.label}` : edge.via;
  return h('span', { class: 'via', text: `${text} →` });
}

function missingItem(id, edge, onPath) {
  const classes = `treeitem missing${onPath ? ' on-path' : ''}`;
  return h(
    'li',
    { role: 'treeitem', class: classes, tabindex: '-1', 'aria-selected': 'false' },
    h(
      'div',
      { class: 'node-row' },
      edge ? viaBadge(edge) : null,
      h('span', { class: 'node-id', text: id || '(no target)' }),
      h('span', { class: 'tag danger', text: 'does not exist' }),
    ),
  );
}

// Keyboard: one roving tab stop over every item of both lists.

function makeNavigable(tree, orphans, { selected, step }) {
  const items = [
    ...tree.querySelectorAll('[role=treeitem]'),
    ...orphans.querySelectorAll('[role=treeitem]'),
  ];
  const ofNode = items.filter((i) => i.dataset.node === selected);
  const current =
    ofNode.find((i) => i.dataset.step === step) ??
    ofNode.find((i) => !i.classList.contains('ref'));
  current?.setAttribute('aria-selected', 'true');
  (current ?? items[0])?.setAttribute('tabindex', '0');
}

/** Wires keyboard and pointer to a tree; `open(id, step)` opens a node
 * from the item drawn for `step`. */
export function bindTree(lists, open) {
  const all = () => lists.flatMap((list) => [...list.querySelectorAll('[role=treeitem]')]);
  const focus = (target) => {
    if (!target) return;
    for (const other of all()) other.setAttribute('tabindex', '-1');
    target.setAttribute('tabindex', '0');
    target.focus();
  };
  for (const list of lists) {
    list.addEventListener('click', (event) => {
      const target = event.target.closest('[role=treeitem]');
      if (!target?.dataset.node) return;
      event.stopPropagation();
      focus(target);
      open(target.dataset.node, target.dataset.step);
    });
    list.addEventListener('keydown', (event) => onKey(event, all(), focus, open));
  }
}

function onKey(event, items, focus, open) {
  const here = event.target.closest('[role=treeitem]');
  if (!here) return;
  const index = items.indexOf(here);
  const moves = {
    ArrowDown: () => items[index + 1],
    ArrowUp: () => items[index - 1],
    Home: () => items[0],
    End: () => items.at(-1),
    ArrowLeft: () => here.parentElement.closest('[role=treeitem]'),
    ArrowRight: () => here.querySelector(':scope > [role=group] > [role=treeitem]'),
  };
  if (event.key in moves) {
    event.preventDefault();
    focus(moves[event.key]());
  } else if ((event.key === 'Enter' || event.key === ' ') && here.dataset.node) {
    event.preventDefault();
    open(here.dataset.node, here.dataset.step);
  }
}

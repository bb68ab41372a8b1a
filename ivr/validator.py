"""The validator: walks every path through a menu before it is published.

Every way a call can move is an edge: each option of a menu node, its
timeout and invalid-input branches after the last attempt, a callback's
accepted and declined branches, a queue's overflow, the open, closed and
holiday branches of an hours node. The walk goes over (node, offers made)
pairs, where the offers are the two a call must have had before the
toll-free line: at least one FAQ answer (entering an ``faq`` node) and the
callback offer (entering a ``callback`` node). The interpreter records
offers at the same moments, so what the validator accepts it can run.

A menu is refused when a path reaches a ``tollfree`` node without both
offers, when a node cannot be reached, when a path can never end (no way
out to a queue, the toll-free line or a hang-up), when hours nodes lead
round in a circle for one state of the hours (the call would spin without
waiting for anything), or when a node that plays a prompt has none. Each
failure carries the path that shows it, step by step, as data and as text
(``main --9--> tollfree``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from ivr.menu import (
    TERMINAL_KINDS,
    CallbackNode,
    FaqNode,
    HoursNode,
    HoursState,
    Menu,
    MenuNode,
    MenuStatus,
)
from signaling.errors import IvrError

TOLLFREE_WITHOUT_OFFERS: Final = "tollfree-without-offers"
UNREACHABLE: Final = "unreachable"
NEVER_ENDS: Final = "never-ends"
MISSING_PROMPT: Final = "missing-prompt"
INSTANT_LOOP: Final = "instant-loop"


@dataclass(frozen=True, slots=True)
class Step:
    """One move of a call: from `node`, by `via` (a digit, ``timeout x3``,
    ``overflow``...), to `to`."""

    node: str
    via: str
    to: str


@dataclass(frozen=True, slots=True)
class Failure:
    kind: str
    node: str
    sentence: str
    path: tuple[Step, ...] = ()

    def path_text(self) -> str:
        if not self.path:
            return self.node
        moves = "".join(f" --{s.via}--> {s.to}" for s in self.path)
        return self.path[0].node + moves

    def __str__(self) -> str:
        return f"{self.sentence}: {self.path_text()}" if self.path else self.sentence

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "node": self.node,
            "sentence": self.sentence,
            "path": [{"node": s.node, "via": s.via, "to": s.to} for s in self.path],
            "text": self.path_text(),
        }


@dataclass(frozen=True, slots=True)
class Report:
    failures: tuple[Failure, ...]

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "failures": [f.to_dict() for f in self.failures]}

    def text(self) -> str:
        return "\n".join(str(f) for f in self.failures)


class MenuRefused(IvrError):
    """A menu the validator will not publish; `report` says why."""

    code = "menu-refused"
    recoverable = True

    def __init__(self, report: Report) -> None:
        super().__init__(f"the menu cannot be published:\n{report.text()}")
        self.report = report


def publish(menu: Menu) -> Menu:
    """`menu` as published, or :class:`MenuRefused` with every failing path."""
    report = validate(menu)
    if not report.ok:
        raise MenuRefused(report)
    return menu.with_status(MenuStatus.PUBLISHED)


def validate(menu: Menu) -> Report:
    walk = _Walk(menu)
    failures = [
        *_missing_prompts(menu, walk),
        *_unreachable(menu, walk),
        *_never_ending(menu, walk),
        *_instant_loops(menu, walk),
        *walk.tollfree_failures(),
    ]
    return Report(tuple(failures))


def _edges(menu: Menu, node_id: str) -> list[tuple[str, str]]:
    return menu.node(node_id).edges()


_State: TypeAlias = tuple[str, bool, bool]  # node, FAQ offered, callback offered


class _Walk:
    """Shortest paths from the start over (node, faq offered, callback
    offered), breadth first."""

    def __init__(self, menu: Menu) -> None:
        self.menu = menu
        self.start: _State = (menu.start, *self._offers(menu.start, False, False))
        self.parent: dict[_State, tuple[_State, str] | None] = {self.start: None}
        queue = deque([self.start])
        while queue:
            state = queue.popleft()
            node, faq, callback = state
            for via, to in _edges(menu, node):
                nxt: _State = (to, *self._offers(to, faq, callback))
                if nxt not in self.parent:
                    self.parent[nxt] = (state, via)
                    queue.append(nxt)
        self.reached = {node for node, _, _ in self.parent}

    def _offers(self, node_id: str, faq: bool, callback: bool) -> tuple[bool, bool]:
        node = self.menu.node(node_id)
        faq = faq or isinstance(node, FaqNode)
        return faq, callback or isinstance(node, CallbackNode)

    def path_to(self, node_id: str) -> tuple[Step, ...]:
        """The shortest path to `node_id`, whatever the offers on the way."""
        state = next(s for s in self.parent if s[0] == node_id)
        return self._path(state)

    def _path(self, state: _State) -> tuple[Step, ...]:
        steps: list[Step] = []
        link = self.parent[state]
        while link is not None:
            before, via = link
            steps.append(Step(before[0], via, state[0]))
            state, link = before, self.parent[before]
        return tuple(reversed(steps))

    def tollfree_failures(self) -> list[Failure]:
        out = []
        for state in self.parent:
            node, faq, callback = state
            if self.menu.node(node).kind != "tollfree" or (faq and callback):
                continue
            offers = (("an FAQ answer", faq), ("the callback offer", callback))
            missing = [name for name, made in offers if not made]
            sentence = f"reaches the toll-free line without {' or '.join(missing)}"
            out.append(
                Failure(TOLLFREE_WITHOUT_OFFERS, node, sentence, self._path(state))
            )
        return out


def _missing_prompts(menu: Menu, walk: _Walk) -> list[Failure]:
    out = []
    for node in menu.nodes.values():
        if isinstance(node, MenuNode | CallbackNode) and not node.prompt:
            path = walk.path_to(node.id) if node.id in walk.reached else ()
            sentence = f"the {node.kind} node '{node.id}' plays no prompt"
            out.append(Failure(MISSING_PROMPT, node.id, sentence, path))
    return out


def _unreachable(menu: Menu, walk: _Walk) -> list[Failure]:
    return [
        Failure(UNREACHABLE, n, f"no path from '{menu.start}' reaches '{n}'")
        for n in menu.nodes
        if n not in walk.reached
    ]


def _can_end(menu: Menu) -> set[str]:
    """Nodes from which some path reaches a queue, toll-free or hang-up."""
    into: dict[str, set[str]] = {n: set() for n in menu.nodes}
    for node in menu.nodes.values():
        for _, to in node.edges():
            into[to].add(node.id)
    done = {n.id for n in menu.nodes.values() if n.kind in TERMINAL_KINDS}
    queue = deque(done)
    while queue:
        for before in into[queue.popleft()]:
            if before not in done:
                done.add(before)
                queue.append(before)
    return done


def _never_ending(menu: Menu, walk: _Walk) -> list[Failure]:
    """One failure per way into a trap: the path to it, then round it."""
    trapped = walk.reached - _can_end(menu)
    out = []
    for node_id in sorted(trapped, key=list(menu.nodes).index):
        path = walk.path_to(node_id)
        if path and path[-1].node in trapped:
            continue  # reported at the node the path entered the trap by
        round_it = _round(menu, node_id, trapped)
        sentence = f"a path through '{node_id}' never ends"
        out.append(Failure(NEVER_ENDS, node_id, sentence, path + round_it))
    return out


def _round(menu: Menu, node_id: str, trapped: set[str]) -> tuple[Step, ...]:
    """Steps inside the trap from `node_id` until a node comes back."""
    steps: list[Step] = []
    seen = {node_id}
    current = node_id
    while True:
        via, to = next((v, t) for v, t in _edges(menu, current) if t in trapped)
        steps.append(Step(current, via, to))
        if to in seen:
            return tuple(steps)
        seen.add(to)
        current = to


def _instant_loops(menu: Menu, walk: _Walk) -> list[Failure]:
    """Circles of hours nodes taken in one state: a call would spin in them."""
    hours = {n.id: n for n in menu.nodes.values() if isinstance(n, HoursNode)}
    out, found = [], set()
    for state in HoursState:
        # Every hours node, reached or not: the interpreter's toll-free guard
        # may send a call to nodes that the menu's own edges do not reach.
        for first in hours:
            cycle = _hours_cycle(hours, first, state)
            if cycle and (state, frozenset(cycle)) not in found:
                found.add((state, frozenset(cycle)))
                steps = [Step(n, str(state), _branch(hours[n], state)) for n in cycle]
                sentence = f"when {state}, hours nodes lead round to '{cycle[0]}'"
                start = walk.path_to(cycle[0]) if cycle[0] in walk.reached else ()
                path = start + tuple(steps)
                out.append(Failure(INSTANT_LOOP, cycle[0], sentence, path))
    return out


def _hours_cycle(hours: dict[str, HoursNode], first: str, state: str) -> list[str]:
    order = [first]
    while (after := _branch(hours[order[-1]], state)) in hours:
        if after in order:
            return order[order.index(after) :]
        order.append(after)
    return []


def _branch(node: HoursNode, state: str) -> str:
    return {"open": node.open, "closed": node.closed}.get(state, node.holiday)

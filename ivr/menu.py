"""The menu model: versioned menu documents of typed nodes (sans-I/O).

A menu is a document of nodes, each of one kind: ``menu`` (a prompt and
options by digit), ``faq`` (FAQ answers, then on), ``callback`` (offer and
capture a callback request), ``queue`` (to the agents), ``hours`` (branch
on open, closed or holiday), ``tollfree`` (transfer to the toll-free line)
and ``hangup``. A document moves from draft to published to archived; only
the validator (`ivr.validator.publish`) publishes one.

Documents come in as dicts (from JSON) or YAML and are refused whole, with
every problem found and the exact place of each, e.g.
``nodes.main.options.3: target 'billing2' does not exist``. The YAML loader
keeps mapping keys as written (``010`` stays ``"010"``), refuses duplicate
keys and aliases, so what an author wrote is what the menu means.
"""

from __future__ import annotations

import enum
import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, Final, TypeAlias

import yaml

from signaling.errors import IvrError

MAX_NODES: Final = 200
MAX_PROMPT_CHARS: Final = 1_000
MAX_OPTIONS: Final = 12
MAX_OPTION_DIGITS: Final = 4
MAX_FAQ_ANSWERS: Final = 10
MAX_WINDOWS: Final = 9
MAX_DOCUMENT_CHARS: Final = 256 * 1024
DIGITS: Final = frozenset("0123456789*#")

DEFAULT_READBACK_PROMPT: Final = "You entered"
DEFAULT_CONFIRM_PROMPT: Final = (
    "Press {confirm} to confirm, or {reenter} to enter it again."
)
DEFAULT_REFUSED_PROMPT: Final = "We cannot take another callback request today."

_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_DIGITS = re.compile(rf"[0-9*#]{{1,{MAX_OPTION_DIGITS}}}")
_PROMPT_KEY = re.compile(r"[0-9a-f]{16,64}")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a menu: where (a dotted path) and what."""

    path: str
    sentence: str

    def __str__(self) -> str:
        return f"{self.path}: {self.sentence}"


class MenuError(IvrError):
    """A menu document that cannot be read; `problems` lists each fault."""

    code = "invalid-menu"
    recoverable = True

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


class MenuStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


#: The life of a document: the statuses each status may move to.
STATUS_MOVES: Final[Mapping[MenuStatus, frozenset[MenuStatus]]] = {
    MenuStatus.DRAFT: frozenset({MenuStatus.PUBLISHED, MenuStatus.ARCHIVED}),
    MenuStatus.PUBLISHED: frozenset({MenuStatus.ARCHIVED}),
    MenuStatus.ARCHIVED: frozenset(),
}


class HoursState(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    HOLIDAY = "holiday"


@dataclass(frozen=True, slots=True)
class Option:
    digits: str
    target: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class MenuNode:
    """A prompt, then options by digit; retries on no input and bad input.

    After `attempts` timeouts the call goes to `on_timeout`, after
    `attempts` invalid entries to `on_invalid`; before that the prompt is
    played again. Options may be several digits long (``89``): an entry
    that is also the start of a longer option waits `interdigit_seconds`.
    """

    kind: ClassVar[str] = "menu"
    id: str
    prompt: str | None
    options: tuple[Option, ...]
    on_timeout: str
    on_invalid: str
    timeout_seconds: float = 5.0
    interdigit_seconds: float = 3.0
    attempts: int = 3

    def edges(self) -> list[tuple[str, str]]:
        out = [(o.digits, o.target) for o in self.options]
        out.append((f"timeout x{self.attempts}", self.on_timeout))
        out.append((f"invalid x{self.attempts}", self.on_invalid))
        return out


@dataclass(frozen=True, slots=True)
class FaqNode:
    """Plays (or shows, in the page) FAQ answers by entry id, then `next`."""

    kind: ClassVar[str] = "faq"
    id: str
    answers: tuple[str, ...]
    next: str
    prompt: str | None = None

    def edges(self) -> list[tuple[str, str]]:
        return [("next", self.next)]


@dataclass(frozen=True, slots=True)
class CallbackNode:
    """Offers a callback; captures a number and a preferred time window.

    The number comes by keypad (ended by ``#`` or a pause) or from the
    page's form; checking it against the number policy happens elsewhere.
    A keyed number is read back, one digit a prompt, between
    `readback_prompt` and `confirm_prompt`; `confirm_digit` takes it,
    `reenter_digit` asks for it again. `refused_prompt` is said when the
    callback policy refuses the request (a limit), before `declined`.
    Prompts left unset are said with the defaults below.
    """

    kind: ClassVar[str] = "callback"
    id: str
    prompt: str | None
    next: str
    declined: str
    accept_digit: str = "1"
    decline_digit: str = "2"
    windows: tuple[str, ...] = ()
    number_prompt: str | None = None
    window_prompt: str | None = None
    timeout_seconds: float = 5.0
    interdigit_seconds: float = 3.0
    attempts: int = 3
    readback_prompt: str | None = None
    confirm_prompt: str | None = None
    confirm_digit: str = "1"
    reenter_digit: str = "2"
    refused_prompt: str | None = None

    def edges(self) -> list[tuple[str, str]]:
        return [("accepted", self.next), ("declined", self.declined)]

    def readback(self, digits: str) -> list[str]:
        """The prompts that read `digits` back: each digit on its own, so
        that no prompt (nor its cached audio) holds the whole number."""
        confirm = self.confirm_prompt or DEFAULT_CONFIRM_PROMPT.format(
            confirm=self.confirm_digit, reenter=self.reenter_digit
        )
        return [self.readback_prompt or DEFAULT_READBACK_PROMPT, *digits, confirm]

    def refusal(self) -> str:
        return self.refused_prompt or DEFAULT_REFUSED_PROMPT


@dataclass(frozen=True, slots=True)
class QueueNode:
    """Waits for an agent with `skill`; after `max_wait_seconds`, `overflow`."""

    kind: ClassVar[str] = "queue"
    id: str
    skill: str
    max_wait_seconds: float
    overflow: str
    prompt: str | None = None

    def edges(self) -> list[tuple[str, str]]:
        return [("overflow", self.overflow)]


@dataclass(frozen=True, slots=True)
class HoursNode:
    kind: ClassVar[str] = "hours"
    id: str
    open: str
    closed: str
    holiday: str

    def edges(self) -> list[tuple[str, str]]:
        return [("open", self.open), ("closed", self.closed), ("holiday", self.holiday)]


@dataclass(frozen=True, slots=True)
class TollFreeNode:
    kind: ClassVar[str] = "tollfree"
    id: str
    prompt: str | None = None

    def edges(self) -> list[tuple[str, str]]:
        return []


@dataclass(frozen=True, slots=True)
class HangupNode:
    kind: ClassVar[str] = "hangup"
    id: str
    prompt: str | None = None

    def edges(self) -> list[tuple[str, str]]:
        return []


Node: TypeAlias = (
    MenuNode
    | FaqNode
    | CallbackNode
    | QueueNode
    | HoursNode
    | TollFreeNode
    | HangupNode
)
#: Kinds that end the IVR: an agent, the toll-free line or a hang-up.
TERMINAL_KINDS: Final = frozenset({"queue", "tollfree", "hangup"})


@dataclass(frozen=True)
class Menu:
    id: str
    version: int
    start: str
    nodes: Mapping[str, Node]
    status: MenuStatus = MenuStatus.DRAFT
    faq_ids: tuple[str, ...] = field(default=())
    #: Operators' recordings that replace a prompt's speech:
    #: "<node>.<prompt field>" -> prompt key (see gateway.prompts).
    recordings: Mapping[str, str] = field(default_factory=dict)

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def with_status(self, status: MenuStatus) -> Menu:
        if status not in STATUS_MOVES[self.status]:
            problem = Problem("status", f"a {self.status} menu cannot become {status}")
            raise MenuError([problem])
        return replace(self, status=status)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "status": str(self.status),
            "start": self.start,
            "faq_ids": list(self.faq_ids),
            "nodes": {n.id: _node_to_dict(n) for n in self.nodes.values()},
            **({"recordings": dict(self.recordings)} if self.recordings else {}),
        }

    def option_label(self, node_id: str, digits: str) -> str:
        """The label of the option `digits` of a menu node ("" if none)."""
        node = self.nodes.get(node_id)
        options = node.options if isinstance(node, MenuNode) else ()
        return next((o.label for o in options if o.digits == digits), "")

    def recording(self, node_id: str, text: str) -> str | None:
        """The recording that replaces the prompt `text` of a node, if any."""
        node = self.nodes.get(node_id)
        for name in prompt_fields(node) if node else ():
            if getattr(node, name) == text:
                return self.recordings.get(f"{node_id}.{name}")
        return None

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_dict(cls, data: object) -> Menu:
        return _Reader().menu(data)

    @classmethod
    def from_yaml(cls, text: str) -> Menu:
        return cls.from_dict(load_yaml(text))

    @classmethod
    def from_json(cls, text: str) -> Menu:
        return cls.from_dict(load_json(text))


def prompt_fields(node: Node) -> tuple[str, ...]:
    """The names of a node's fields that hold prompts (``prompt``,
    ``number_prompt``...)."""
    return tuple(f.name for f in fields(node) if f.name.endswith("prompt"))


def _node_to_dict(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": node.kind}
    for f in fields(node):
        name, value = f.name, getattr(node, f.name)
        if name == "id" or value is None:
            continue
        if name == "options":
            value = {o.digits: _option_to_dict(o) for o in value}
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = value
    return out


def _option_to_dict(option: Option) -> str | dict[str, str]:
    if not option.label:
        return option.target
    return {"target": option.target, "label": option.label}


# The readers of text: keys as written, no duplicates, no aliases.


def load_json(text: str) -> object:
    """Plain data from a JSON document; a key given twice is refused."""
    if len(text) > MAX_DOCUMENT_CHARS:
        raise MenuError([Problem("", f"over {MAX_DOCUMENT_CHARS} characters")])
    try:
        raw = json.loads(text, object_pairs_hook=_Pairs)
    except ValueError as exc:
        raise MenuError([Problem("", f"not valid JSON ({exc})")]) from None
    problems: list[Problem] = []
    data = _unpair(raw, "", problems)
    if problems:
        raise MenuError(problems)
    return data


class _Pairs(list[tuple[str, object]]):
    """A JSON object as read, before duplicate keys are looked for."""


def _unpair(raw: object, path: str, problems: list[Problem]) -> object:
    if isinstance(raw, list) and not isinstance(raw, _Pairs):
        return [_unpair(v, _join(path, i), problems) for i, v in enumerate(raw)]
    if not isinstance(raw, _Pairs):
        return raw
    out: dict[str, object] = {}
    for key, value in raw:
        if key in out:
            problems.append(Problem(path or "(top)", f"key '{key}' appears twice"))
            continue
        out[key] = _unpair(value, _join(path, key), problems)
    return out


def load_yaml(text: str) -> object:
    """Plain data from a YAML document, refused with the place of a fault."""
    if len(text) > MAX_DOCUMENT_CHARS:
        raise MenuError([Problem("", f"over {MAX_DOCUMENT_CHARS} characters")])
    try:
        # The reader checks the characters as soon as it is made.
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        raise MenuError([Problem("", f"not valid YAML ({_mark(exc)})")]) from None
    try:
        root = loader.get_single_node()
        problems: list[Problem] = []
        data = _plain(loader, root, "", problems, set())
    except yaml.YAMLError as exc:
        raise MenuError([Problem("", f"not valid YAML ({_mark(exc)})")]) from None
    finally:
        loader.dispose()
    if problems:
        raise MenuError(problems)
    return data


def _mark(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "syntax error"
    return f"{problem} at line {mark.line + 1}" if mark else str(problem)


def _plain(
    loader: yaml.SafeLoader,
    node: yaml.Node | None,
    path: str,
    problems: list[Problem],
    seen: set[int],
) -> object:
    if node is None:
        return None
    if id(node) in seen:
        problems.append(Problem(path, "aliases are not allowed"))
        return None
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        return _plain_mapping(loader, node, path, problems, seen)
    if isinstance(node, yaml.SequenceNode):
        items = enumerate(node.value)
        return [_plain(loader, v, _join(path, i), problems, seen) for i, v in items]
    return loader.construct_object(node, deep=True)


def _plain_mapping(
    loader: yaml.SafeLoader,
    node: yaml.MappingNode,
    path: str,
    problems: list[Problem],
    seen: set[int],
) -> dict[str, object]:
    out: dict[str, object] = {}
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            problems.append(Problem(path, "a key must be plain text"))
            continue
        key = str(key_node.value)
        line = key_node.start_mark.line + 1
        if key in out:
            sentence = f"key '{key}' appears twice (lines {lines[key]} and {line})"
            problems.append(Problem(path or "(top)", sentence))
            continue
        lines[key] = line
        out[key] = _plain(loader, value_node, _join(path, key), problems, seen)
    return out


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


# The reader of plain data: collects every problem, then refuses or builds.


class _Reader:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, path: str, sentence: str) -> None:
        self.problems.append(Problem(path, sentence))

    def menu(self, data: object) -> Menu:
        doc = self.mapping(data, "")
        nodes_data = self.mapping(doc.get("nodes"), "nodes")
        if len(nodes_data) > MAX_NODES:
            self.fail("nodes", f"{len(nodes_data)} nodes, at most {MAX_NODES}")
            raise MenuError(self.problems)
        nodes: dict[str, Node] = {}
        for node_id, node_data in nodes_data.items():
            node = self.node(node_id, node_data, f"nodes.{node_id}")
            if node is not None:
                nodes[node_id] = node
        menu = Menu(
            id=self.ident(doc.get("id"), "id"),
            version=self.integer(doc.get("version", 1), "version", 1, 1_000_000),
            start=self.text(doc.get("start"), "start", 64),
            nodes=nodes,
            status=self.status(doc.get("status", "draft")),
            faq_ids=self.ids(doc.get("faq_ids", []), "faq_ids", 500),
            recordings=self.recordings(doc.get("recordings", {}), nodes),
        )
        names = {"id", "version", "start", "nodes", "status", "faq_ids", "recordings"}
        self.known(doc, "", names)
        self.targets(menu, nodes_data)
        if self.problems:
            raise MenuError(self.problems)
        return menu

    def recordings(self, value: object, nodes: Mapping[str, Node]) -> dict[str, str]:
        found: dict[str, str] = {}
        for where, key in self.mapping(value, "recordings").items():
            path = f"recordings.{where}"
            node_id, _, name = where.partition(".")
            node = nodes.get(node_id)
            if node is None or name not in prompt_fields(node):
                self.fail(path, "is not the prompt of a node (NODE.prompt)")
            elif not getattr(node, name):
                self.fail(path, f"node '{node_id}' has no {name} to replace")
            elif not isinstance(key, str) or not _PROMPT_KEY.fullmatch(key):
                self.fail(path, "is not a prompt key (from POST /api/prompts/upload)")
            else:
                found[where] = key
        return found

    def targets(self, menu: Menu, nodes_data: Mapping[str, object]) -> None:
        if menu.start and menu.start not in nodes_data:
            self.fail("start", f"start node '{menu.start}' does not exist")
        for node in menu.nodes.values():
            for where, target in _target_fields(node):
                if target and target not in nodes_data:
                    path = f"nodes.{node.id}.{where}"
                    self.fail(path, f"target '{target}' does not exist")
            if isinstance(node, FaqNode) and menu.faq_ids:
                for i, answer in enumerate(node.answers):
                    if answer not in menu.faq_ids:
                        path = f"nodes.{node.id}.answers.{i}"
                        self.fail(path, f"FAQ entry '{answer}' is not in faq_ids")

    def node(self, node_id: str, data: object, path: str) -> Node | None:
        if not _ID.fullmatch(node_id):
            self.fail(path, "a node id is 1-64 of a-z, 0-9, '-' and '_'")
        doc = self.mapping(data, path)
        kind = doc.get("kind")
        build = _BUILDERS.get(kind) if isinstance(kind, str) else None
        if build is None:
            self.fail(f"{path}.kind", f"unknown node kind {kind!r}")
            return None
        node = build(self, node_id, doc, path)
        self.known(doc, path, set(_FIELDS[node.kind]) | {"kind"})
        return node

    # Field readers: each records a problem and returns a harmless value.

    def mapping(self, data: object, path: str) -> dict[str, object]:
        if isinstance(data, dict) and all(isinstance(k, str) for k in data):
            return data
        self.fail(path or "(top)", "must be a mapping with text keys")
        return {}

    def known(self, doc: Mapping[str, object], path: str, names: set[str]) -> None:
        for name in doc:
            if name not in names:
                self.fail(_join(path, name), "unknown field")

    def text(self, value: object, path: str, limit: int) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(path, "must be non-empty text")
            return ""
        if len(value) > limit:
            self.fail(path, f"{len(value)} characters, at most {limit}")
        elif any(_unsafe(c) for c in value):
            self.fail(path, "holds a control character or a line separator")
        return value

    def prompt(self, value: object, path: str) -> str | None:
        return None if value is None else self.text(value, path, MAX_PROMPT_CHARS)

    def ident(self, value: object, path: str) -> str:
        if isinstance(value, str) and _ID.fullmatch(value):
            return value
        self.fail(path, "must be an id: 1-64 of a-z, 0-9, '-' and '_'")
        return ""

    def ids(self, value: object, path: str, limit: int) -> tuple[str, ...]:
        if not isinstance(value, list) or len(value) > limit:
            self.fail(path, f"must be a list of at most {limit} ids")
            return ()
        return tuple(self.ident(v, _join(path, i)) for i, v in enumerate(value))

    def integer(self, value: object, path: str, low: int, high: int) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            if low <= value <= high:
                return value
        self.fail(path, f"must be a whole number from {low} to {high}")
        return low

    def seconds(self, value: object, path: str, low: float, high: float) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if low <= value <= high:
                return float(value)
        self.fail(path, f"must be a number of seconds from {low:g} to {high:g}")
        return low

    def digit(self, value: object, path: str) -> str:
        if isinstance(value, str) and len(value) == 1 and value in DIGITS:
            return value
        self.fail(path, "must be one of 0-9, * and #")
        return "0"

    def status(self, value: object) -> MenuStatus:
        try:
            return MenuStatus(str(value))
        except ValueError:
            self.fail("status", "must be draft, published or archived")
            return MenuStatus.DRAFT

    def options(self, value: object, path: str) -> tuple[Option, ...]:
        doc = self.mapping(value, path)
        if not doc or len(doc) > MAX_OPTIONS:
            self.fail(path, f"a menu has 1 to {MAX_OPTIONS} options")
        return tuple(self.option(k, v, _join(path, k)) for k, v in doc.items())

    def option(self, digits: str, value: object, path: str) -> Option:
        if not _DIGITS.fullmatch(digits):
            self.fail(path, f"digits must be 1-{MAX_OPTION_DIGITS} of 0-9, * and #")
        if isinstance(value, str):
            return Option(digits, value)
        doc = self.mapping(value, path)
        self.known(doc, path, {"target", "label"})
        label = doc.get("label", "")
        if not isinstance(label, str) or len(label) > 80:
            self.fail(f"{path}.label", "must be text of at most 80 characters")
            label = ""
        return Option(digits, self.text(doc.get("target"), f"{path}.target", 64), label)

    def windows(self, value: object, path: str) -> tuple[str, ...]:
        if not isinstance(value, list) or len(value) > MAX_WINDOWS:
            self.fail(path, f"must be a list of at most {MAX_WINDOWS} time windows")
            return ()
        return tuple(self.text(v, _join(path, i), 40) for i, v in enumerate(value))


def _unsafe(char: str) -> bool:
    """Characters that have no place in a prompt or a label, and that YAML
    would not carry unchanged (NEL, LS and PS read back as line breaks)."""
    if char in "\n\t":
        return False
    return unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp")


def _target_fields(node: Node) -> list[tuple[str, str]]:
    if isinstance(node, MenuNode):
        out = [(f"options.{o.digits}", o.target) for o in node.options]
        return [*out, ("on_timeout", node.on_timeout), ("on_invalid", node.on_invalid)]
    names = {
        "faq": ["next"],
        "callback": ["next", "declined"],
        "queue": ["overflow"],
        "hours": ["open", "closed", "holiday"],
    }.get(node.kind, [])
    return [(name, getattr(node, name)) for name in names]


def _menu_node(r: _Reader, node_id: str, d: Mapping[str, Any], p: str) -> Node:
    node = MenuNode(
        id=node_id,
        prompt=r.prompt(d.get("prompt"), f"{p}.prompt"),
        options=r.options(d.get("options"), f"{p}.options"),
        on_timeout=r.text(d.get("on_timeout"), f"{p}.on_timeout", 64),
        on_invalid=r.text(d.get("on_invalid"), f"{p}.on_invalid", 64),
        timeout_seconds=r.seconds(
            d.get("timeout_seconds", 5), f"{p}.timeout_seconds", 1, 60
        ),
        interdigit_seconds=r.seconds(
            d.get("interdigit_seconds", 3), f"{p}.interdigit_seconds", 0.5, 30
        ),
        attempts=r.integer(d.get("attempts", 3), f"{p}.attempts", 1, 5),
    )
    return node


def _faq_node(r: _Reader, node_id: str, d: Mapping[str, Any], p: str) -> Node:
    answers = r.ids(d.get("answers"), f"{p}.answers", MAX_FAQ_ANSWERS)
    if not answers:
        r.fail(f"{p}.answers", "an faq node gives at least one answer")
    return FaqNode(
        id=node_id,
        answers=answers,
        next=r.text(d.get("next"), f"{p}.next", 64),
        prompt=r.prompt(d.get("prompt"), f"{p}.prompt"),
    )


def _callback_node(r: _Reader, node_id: str, d: Mapping[str, Any], p: str) -> Node:
    node = CallbackNode(
        id=node_id,
        prompt=r.prompt(d.get("prompt"), f"{p}.prompt"),
        next=r.text(d.get("next"), f"{p}.next", 64),
        declined=r.text(d.get("declined"), f"{p}.declined", 64),
        accept_digit=r.digit(d.get("accept_digit", "1"), f"{p}.accept_digit"),
        decline_digit=r.digit(d.get("decline_digit", "2"), f"{p}.decline_digit"),
        windows=r.windows(d.get("windows", []), f"{p}.windows"),
        number_prompt=r.prompt(d.get("number_prompt"), f"{p}.number_prompt"),
        window_prompt=r.prompt(d.get("window_prompt"), f"{p}.window_prompt"),
        timeout_seconds=r.seconds(
            d.get("timeout_seconds", 5), f"{p}.timeout_seconds", 1, 60
        ),
        interdigit_seconds=r.seconds(
            d.get("interdigit_seconds", 3), f"{p}.interdigit_seconds", 0.5, 30
        ),
        attempts=r.integer(d.get("attempts", 3), f"{p}.attempts", 1, 5),
        readback_prompt=r.prompt(d.get("readback_prompt"), f"{p}.readback_prompt"),
        confirm_prompt=r.prompt(d.get("confirm_prompt"), f"{p}.confirm_prompt"),
        confirm_digit=r.digit(d.get("confirm_digit", "1"), f"{p}.confirm_digit"),
        reenter_digit=r.digit(d.get("reenter_digit", "2"), f"{p}.reenter_digit"),
        refused_prompt=r.prompt(d.get("refused_prompt"), f"{p}.refused_prompt"),
    )
    if node.accept_digit == node.decline_digit:
        r.fail(f"{p}.decline_digit", "must differ from accept_digit")
    if node.confirm_digit == node.reenter_digit:
        r.fail(f"{p}.reenter_digit", "must differ from confirm_digit")
    return node


def _queue_node(r: _Reader, node_id: str, d: Mapping[str, Any], p: str) -> Node:
    return QueueNode(
        id=node_id,
        skill=r.ident(d.get("skill"), f"{p}.skill"),
        max_wait_seconds=r.seconds(
            d.get("max_wait_seconds"), f"{p}.max_wait_seconds", 10, 3600
        ),
        overflow=r.text(d.get("overflow"), f"{p}.overflow", 64),
        prompt=r.prompt(d.get("prompt"), f"{p}.prompt"),
    )


def _hours_node(r: _Reader, node_id: str, d: Mapping[str, Any], p: str) -> Node:
    return HoursNode(
        id=node_id,
        open=r.text(d.get("open"), f"{p}.open", 64),
        closed=r.text(d.get("closed"), f"{p}.closed", 64),
        holiday=r.text(d.get("holiday"), f"{p}.holiday", 64),
    )


def _tollfree_node(r: _Reader, node_id: str, d: Mapping[str, Any], p: str) -> Node:
    return TollFreeNode(id=node_id, prompt=r.prompt(d.get("prompt"), f"{p}.prompt"))


def _hangup_node(r: _Reader, node_id: str, d: Mapping[str, Any], p: str) -> Node:
    return HangupNode(id=node_id, prompt=r.prompt(d.get("prompt"), f"{p}.prompt"))


_Builder: TypeAlias = Callable[[_Reader, str, Mapping[str, Any], str], Node]
_BUILDERS: Final[dict[str, _Builder]] = {
    "menu": _menu_node,
    "faq": _faq_node,
    "callback": _callback_node,
    "queue": _queue_node,
    "hours": _hours_node,
    "tollfree": _tollfree_node,
    "hangup": _hangup_node,
}
_CLASSES: Final = (
    MenuNode,
    FaqNode,
    CallbackNode,
    QueueNode,
    HoursNode,
    TollFreeNode,
    HangupNode,
)
_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    c.kind: tuple(f.name for f in fields(c) if f.name != "id") for c in _CLASSES
}

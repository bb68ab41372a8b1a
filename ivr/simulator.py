"""The simulator: a list of events (as JSON) replayed through a fresh
interpreter on a fixed clock, with each step's actions as JSON (sans-I/O).

It keeps no state between runs: the operator's console sends the whole
list of events each time, so any web node can answer. A ``prompt_done``
without ``play`` finishes the prompt playing now, and a ``timer`` without
``name`` fires the timer started last, which is what the console's
"prompt finished" and "timer fires" buttons mean. Callback numbers go
through the same check a real call uses; a refused one shows its reason.
A callback request is kept at once, in the same step: the simulator has
no callback policy limits, it writes no request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Final

from ivr.interpreter import (
    Action,
    AgentAnswered,
    CallbackKept,
    CallEnded,
    CallStarted,
    CancelTimer,
    Digit,
    Event,
    FormSubmitted,
    HoursFunction,
    Interpreter,
    NumberCheck,
    PlayPrompt,
    PromptFinished,
    RequestCallback,
    ShowMenu,
    StartTimer,
    StopPrompt,
    TimerFired,
)
from ivr.menu import DIGITS, Menu, Problem
from signaling.errors import IvrError

MAX_EVENTS: Final = 500
MAX_FORM_FIELDS: Final = 8
MAX_FIELD_CHARS: Final = 64
TIMERS: Final = ("input", "interdigit", "queue")
FORMS: Final = ("menu", "callback")
_FIELDS: Final[Mapping[str, frozenset[str]]] = {
    "start": frozenset(),
    "digit": frozenset({"digit"}),
    "prompt_done": frozenset({"play"}),
    "timer": frozenset({"name"}),
    "form": frozenset({"form", "fields"}),
    "agent_answered": frozenset(),
    "hangup": frozenset(),
}
_CAMEL: Final = re.compile(r"(?<!^)(?=[A-Z])")


class SimulationError(IvrError):
    """Events that cannot be replayed; `problems` says where each fault is."""

    code = "invalid-events"
    recoverable = True

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class FaqText:
    question: str
    answer: str


def read_events(data: object) -> list[dict[str, Any]]:
    """The events, checked: a list of mappings of the shapes above."""
    if not isinstance(data, list) or len(data) > MAX_EVENTS:
        raise SimulationError(
            [Problem("events", f"must be a list of at most {MAX_EVENTS} events")]
        )
    problems: list[Problem] = []
    for i, event in enumerate(data):
        _check_event(event, f"events.{i}", problems)
    if problems:
        raise SimulationError(problems)
    return data


def _check_event(event: object, path: str, problems: list[Problem]) -> None:
    if not isinstance(event, dict) or event.get("type") not in _FIELDS:
        kinds = ", ".join(_FIELDS)
        problems.append(Problem(path, f"must be a mapping with a type: {kinds}"))
        return
    for name in event:
        if name != "type" and name not in _FIELDS[event["type"]]:
            problems.append(Problem(f"{path}.{name}", "unknown field"))
    kind = event["type"]
    if kind == "digit" and not _is_digit(event.get("digit")):
        problems.append(Problem(f"{path}.digit", "must be one of 0-9, * and #"))
    play = event.get("play", 0)
    if kind == "prompt_done" and (not isinstance(play, int) or isinstance(play, bool)):
        problems.append(Problem(f"{path}.play", "must be a prompt number"))
    if kind == "timer" and event.get("name", "input") not in TIMERS:
        problems.append(Problem(f"{path}.name", f"must be one of {', '.join(TIMERS)}"))
    if kind == "form":
        _check_form(event, path, problems)


def _is_digit(value: object) -> bool:
    return isinstance(value, str) and len(value) == 1 and value in DIGITS


def _check_form(event: dict[str, Any], path: str, problems: list[Problem]) -> None:
    if event.get("form") not in FORMS:
        problems.append(Problem(f"{path}.form", f"must be one of {', '.join(FORMS)}"))
    fields = event.get("fields", {})
    if not isinstance(fields, dict) or len(fields) > MAX_FORM_FIELDS:
        sentence = f"must be a mapping of at most {MAX_FORM_FIELDS} fields"
        problems.append(Problem(f"{path}.fields", sentence))
        return
    for name, value in fields.items():
        if not isinstance(value, str | bool) or len(str(value)) > MAX_FIELD_CHARS:
            sentence = f"must be text of at most {MAX_FIELD_CHARS} characters"
            problems.append(Problem(f"{path}.fields.{name}", sentence))


@dataclass
class _Replay:
    """One run: the interpreter and what the console cannot see inside it."""

    interpreter: Interpreter
    check_number: NumberCheck
    faq: Mapping[str, FaqText]
    playing: int | None = None
    timers: list[str] = field(default_factory=list)

    def step(self, raw: dict[str, Any]) -> dict[str, Any]:
        event, note = self._event(raw)
        out: dict[str, Any] = {"event": raw}
        if note:
            out["note"] = note
        error = self._number_error(raw)
        if error is not None:
            out["error"] = {"code": error.code, "message": str(error)}
        actions = self.interpreter.handle(event)
        if any(isinstance(a, RequestCallback) for a in actions):
            actions += self.interpreter.handle(CallbackKept())
        for action in actions:
            self._follow(action)
        out["actions"] = [self._action(a) for a in actions]
        out["phase"] = str(self.interpreter.phase)
        return out

    def _event(self, raw: dict[str, Any]) -> tuple[Event, str | None]:
        kind = raw["type"]
        if kind == "digit":
            return Digit(raw["digit"]), None
        if kind == "prompt_done":
            return self._prompt_done(raw.get("play"))
        if kind == "timer":
            return self._timer(raw.get("name"))
        if kind == "form":
            fields = {
                k: _field_text(v)
                for k, v in raw.get("fields", {}).items()
                if v is not False
            }
            return FormSubmitted(raw["form"], fields), None
        simple: dict[str, Event] = {
            "start": CallStarted(),
            "agent_answered": AgentAnswered(),
            "hangup": CallEnded(),
        }
        return simple[kind], None

    def _prompt_done(self, play: int | None) -> tuple[Event, str | None]:
        play = self.playing if play is None else play
        if play is None:
            return PromptFinished(0), "no prompt is playing"
        if play == self.playing:
            self.playing = None
        return PromptFinished(play), None

    def _timer(self, name: str | None) -> tuple[Event, str | None]:
        name = name or (self.timers[-1] if self.timers else None)
        if name is None:
            return TimerFired(""), "no timer is running"
        if name in self.timers:
            self.timers.remove(name)
        return TimerFired(name), None

    def _number_error(self, raw: dict[str, Any]) -> IvrError | None:
        fields = raw.get("fields", {})
        if raw["type"] != "form" or raw.get("form") != "callback":
            return None
        if fields.get("decline") or "number" not in fields:
            return None
        try:
            self.check_number(str(fields["number"]))
        except IvrError as exc:
            return exc
        return None

    def _follow(self, action: Action) -> None:
        if isinstance(action, PlayPrompt):
            self.playing = action.play
        elif isinstance(action, StopPrompt) and action.play == self.playing:
            self.playing = None
        elif isinstance(action, StartTimer):
            self.timers = [t for t in self.timers if t != action.name] + [action.name]
        elif isinstance(action, CancelTimer) and action.name in self.timers:
            self.timers.remove(action.name)

    def _action(self, action: Action) -> dict[str, Any]:
        out = {"type": _CAMEL.sub("_", type(action).__name__).lower(), **asdict(action)}
        if isinstance(action, ShowMenu):
            out["options"] = [
                {"digits": d, "label": label} for d, label in action.options
            ]
        if isinstance(action, PlayPrompt) and action.faq_id is not None:
            entry = self.faq.get(action.faq_id)
            out["faq"] = None if entry is None else {
                "id": action.faq_id, "question": entry.question, "answer": entry.answer
            }  # fmt: skip
        return out


def _field_text(value: str | bool) -> str:
    return "true" if value is True else str(value)


def simulate(
    menu: Menu,
    events: list[dict[str, Any]],
    *,
    hours: HoursFunction,
    at: datetime,
    check_number: NumberCheck,
    faq: Mapping[str, FaqText],
) -> dict[str, Any]:
    """Replay checked `events` (see :func:`read_events`) through `menu`."""

    def clock() -> datetime:
        return at

    interpreter = Interpreter(
        menu,
        call_id="simulation",
        hours_state=hours,
        clock=clock,
        check_number=check_number,
    )
    replay = _Replay(interpreter, check_number, faq)
    steps = [replay.step(raw) for raw in events]
    journey = interpreter.journey
    return {
        "steps": steps,
        "journey": {
            "nodes": list(journey.nodes),
            "faq_answers": list(journey.faq_answers),
            "offers": list(journey.offers),
            "outcome": journey.outcome,
            "tollfree_refused": journey.tollfree_refused,
            "choices": [
                {
                    "node": node,
                    "digits": digits,
                    "label": menu.option_label(node, digits),
                }
                for node, digits in journey.choices
            ],
        },
        "phase": str(interpreter.phase),
        "at": at.isoformat(),
    }

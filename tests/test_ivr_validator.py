"""The validator on hand-made menus that must pass and must fail, with the
failing path of each; then, on generated menus, that what it accepts the
interpreter runs without ever reaching the toll-free line too early."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from ivr.interpreter import (
    Action,
    AgentAnswered,
    CallbackKept,
    CallbackRefused,
    CallStarted,
    CancelTimer,
    Digit,
    Event,
    FormSubmitted,
    Interpreter,
    PlayPrompt,
    PromptFinished,
    RequestCallback,
    StartTimer,
    StopPrompt,
    TimerFired,
    TransferToTollFree,
)
from ivr.menu import Menu, MenuStatus
from ivr.validator import (
    INSTANT_LOOP,
    MISSING_PROMPT,
    NEVER_ENDS,
    TOLLFREE_WITHOUT_OFFERS,
    UNREACHABLE,
    MenuRefused,
    Report,
    publish,
    validate,
)
from tests.test_ivr_menu import menu_dicts

NOON = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)

# A menu that passes: the toll-free line only after an FAQ answer and the
# callback offer, whichever way the call goes.
GOOD = """\
id: good
start: hours
nodes:
  hours: {kind: hours, open: main, closed: closed-faq, holiday: closed-faq}
  main:
    kind: menu
    prompt: 1 for answers, 2 for an agent, 3 for a callback.
    options: {"1": faq, "2": agents, "3": offer}
    on_timeout: faq
    on_invalid: faq
  faq: {kind: faq, answers: [faq-a], next: offer}
  closed-faq: {kind: faq, answers: [faq-a], next: offer}
  offer:
    kind: callback
    prompt: 1 and we call you back; 2 for more.
    next: bye
    declined: agents
  agents: {kind: queue, skill: general, max_wait_seconds: 60, overflow: last}
  last: {kind: faq, answers: [faq-b], next: check}
  check: {kind: hours, open: offer2, closed: bye, holiday: bye}
  offer2:
    kind: callback
    prompt: Still waiting? 1 and we call you back.
    next: bye
    declined: free
  free: {kind: tollfree}
  bye: {kind: hangup}
"""


def good() -> dict[str, Any]:
    return Menu.from_yaml(GOOD).to_dict()


def report(data: dict[str, Any]) -> Report:
    return validate(Menu.from_dict(data))


def texts(result: Report, kind: str) -> list[str]:
    return [str(f) for f in result.failures if f.kind == kind]


def test_a_good_menu_passes_and_publishes() -> None:
    menu = Menu.from_yaml(GOOD)

    assert validate(menu).ok
    assert validate(menu).to_dict() == {"ok": True, "failures": []}
    assert publish(menu).status is MenuStatus.PUBLISHED


def test_a_digit_straight_to_the_toll_free_line() -> None:
    data = good()
    data["nodes"]["main"]["options"]["9"] = "free"

    result = report(data)

    assert texts(result, TOLLFREE_WITHOUT_OFFERS) == [
        "reaches the toll-free line without an FAQ answer or the callback offer: "
        "hours --open--> main --9--> free"
    ]
    (failure,) = result.failures
    assert failure.to_dict()["path"] == [
        {"node": "hours", "via": "open", "to": "main"},
        {"node": "main", "via": "9", "to": "free"},
    ]


def test_timeouts_after_an_faq_answer_but_no_callback_offer() -> None:
    data = good()
    data["nodes"]["faq"]["next"] = "again"
    data["nodes"]["again"] = {
        "kind": "menu",
        "prompt": "Anything else?",
        "options": {"1": "offer"},
        "on_timeout": "free",
        "on_invalid": "offer",
        "attempts": 3,
    }

    assert texts(report(data), TOLLFREE_WITHOUT_OFFERS) == [
        "reaches the toll-free line without the callback offer: "
        "hours --open--> main --1--> faq --next--> again --timeout x3--> free"
    ]


def test_holiday_and_queue_overflow_paths() -> None:
    data = good()
    data["nodes"]["hours"]["holiday"] = "free"
    data["nodes"]["agents"]["overflow"] = "free"

    result = report(data)

    assert texts(result, TOLLFREE_WITHOUT_OFFERS) == [
        "reaches the toll-free line without an FAQ answer or the callback offer: "
        "hours --holiday--> free",
        "reaches the toll-free line without an FAQ answer: hours --open--> main "
        "--3--> offer --declined--> agents --overflow--> free",
    ]
    assert texts(result, UNREACHABLE) == [
        "no path from 'hours' reaches 'last'",
        "no path from 'hours' reaches 'check'",
        "no path from 'hours' reaches 'offer2'",
    ]


def test_an_unreachable_node() -> None:
    data = good()
    data["nodes"]["orphan"] = {"kind": "hangup"}

    result = report(data)

    assert texts(result, UNREACHABLE) == ["no path from 'hours' reaches 'orphan'"]
    assert not result.ok


def test_a_cycle_with_no_way_out() -> None:
    data = good()
    data["nodes"]["main"]["options"]["4"] = "loop-a"
    data["nodes"]["loop-a"] = {"kind": "faq", "answers": ["faq-a"], "next": "loop-b"}
    data["nodes"]["loop-b"] = {"kind": "faq", "answers": ["faq-b"], "next": "loop-a"}

    assert texts(report(data), NEVER_ENDS) == [
        "a path through 'loop-a' never ends: hours --open--> main --4--> loop-a "
        "--next--> loop-b --next--> loop-a"
    ]


def test_a_menu_whose_every_branch_loops() -> None:
    data = {
        "id": "spin",
        "start": "main",
        "nodes": {
            "main": {
                "kind": "menu",
                "prompt": "Press 1.",
                "options": {"1": "main"},
                "on_timeout": "main",
                "on_invalid": "main",
            },
        },
    }
    assert texts(report(data), NEVER_ENDS) == [
        "a path through 'main' never ends: main --1--> main"
    ]


def test_hours_nodes_in_a_circle() -> None:
    data = good()
    data["nodes"]["check"]["open"] = "check2"
    data["nodes"]["check2"] = {
        "kind": "hours",
        "open": "check",
        "closed": "check",
        "holiday": "bye",
    }

    assert texts(report(data), INSTANT_LOOP) == [
        "when open, hours nodes lead round to 'check': hours --open--> main --2--> "
        "agents --overflow--> last --next--> check --open--> check2 --open--> check"
    ]


def test_an_hours_circle_behind_the_toll_free_guard() -> None:
    """Found by the property test: the start is the toll-free line, so the
    menu's own edges reach nothing else, but the interpreter's guard sends
    the call to the FAQ node and on to an hours node that loops on itself."""
    data: dict[str, Any] = {
        "id": "generated",
        "version": 1,
        "start": "n0",
        "nodes": {
            "n0": {"kind": "tollfree"},
            "n1": {"kind": "hours", "open": "n0", "closed": "n0", "holiday": "n1"},
            "n2": {"kind": "faq", "answers": ["faq-a"], "next": "n1"},
        },
    }
    assert texts(report(data), INSTANT_LOOP) == [
        "when holiday, hours nodes lead round to 'n1': n1 --holiday--> n1"
    ]


def test_a_missing_prompt() -> None:
    data = good()
    del data["nodes"]["offer"]["prompt"]

    assert texts(report(data), MISSING_PROMPT) == [
        "the callback node 'offer' plays no prompt: hours --open--> main --3--> offer"
    ]


def test_publish_refuses_with_the_report() -> None:
    data = good()
    data["nodes"]["main"]["options"]["9"] = "free"

    with pytest.raises(MenuRefused) as caught:
        publish(Menu.from_dict(data))

    assert caught.value.code == "menu-refused"
    assert caught.value.recoverable
    assert "hours --open--> main --9--> free" in str(caught.value)
    assert caught.value.report.to_dict()["failures"][0]["text"] == (
        "hours --open--> main --9--> free"
    )


# Property: what the validator lets through, the interpreter runs without
# ever reaching the toll-free line before both offers, whatever the caller
# does and whatever the hours say.

STEP = st.one_of(
    st.tuples(st.just("digit"), st.sampled_from(list("0123456789*#"))),
    st.tuples(st.just("wait"), st.sampled_from(["0", "1"])),
    st.tuples(st.just("wait"), st.sampled_from(["0", "1"])),
    st.tuples(st.just("choose"), st.sampled_from(["0", "1", "89", "#1"])),
    st.tuples(st.just("callback"), st.sampled_from(["decline", "+15550100"])),
    st.tuples(st.just("answered"), st.just("")),
)
TARGET_FIELDS = ("on_timeout", "on_invalid", "next", "overflow", "open", "closed")


def guarded(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with an FAQ answer and a callback offer put in front of each
    toll-free node, except on edges from callback nodes: generated calls then
    reach the toll-free line both properly and (through those edges) early."""
    nodes = data["nodes"]
    for free in [n for n, node in nodes.items() if node["kind"] == "tollfree"]:
        guard = {free: f"gf-{free}"}
        for node in nodes.values():
            if node["kind"] == "callback":
                continue
            for name in (*TARGET_FIELDS, "holiday"):
                if name in node:
                    node[name] = guard.get(node[name], node[name])
            for digits, target in node.get("options", {}).items():
                node["options"][digits] = guard.get(target, target)
        nodes[f"gf-{free}"] = {
            "kind": "faq",
            "answers": ["faq-a"],
            "next": f"gc-{free}",
        }
        nodes[f"gc-{free}"] = {
            "kind": "callback",
            "prompt": "1 and we call you back.",
            "next": free,
            "declined": free,
        }
    return data


MENUS = st.one_of(menu_dicts(), menu_dicts().map(guarded))
HOURS = st.lists(st.sampled_from(["open", "closed", "holiday"]), min_size=1)


class Driver:
    """Plays the caller and the media side: finishes the prompt that plays,
    fires only timers that run; keeps every other callback request and
    refuses the rest, as a callback policy over its limit would."""

    def __init__(self, ivr: Interpreter) -> None:
        self.ivr = ivr
        self.playing: int | None = None
        self.timers: set[str] = set()
        self.transfers = 0
        self.requests = 0

    def send(self, event: Event) -> None:
        for action in self.ivr.handle(event):
            self.track(action)

    def track(self, action: Action) -> None:
        if isinstance(action, PlayPrompt):
            self.playing = action.play
        elif isinstance(action, StopPrompt):
            self.playing = None
        elif isinstance(action, StartTimer):
            self.timers.add(action.name)
        elif isinstance(action, CancelTimer):
            self.timers.discard(action.name)
        elif isinstance(action, TransferToTollFree):
            self.transfers += 1
            assert set(self.ivr.journey.offers) == {"faq", "callback"}
        elif isinstance(action, RequestCallback):
            self.requests += 1
            kept = self.requests % 2 == 1
            self.send(CallbackKept() if kept else CallbackRefused("day-limit"))

    def wait(self, pick: str) -> None:
        """The prompt that plays ends, or else a running timer fires."""
        if self.playing is not None:
            play, self.playing = self.playing, None
            self.send(PromptFinished(play))
        elif self.timers:
            running = sorted(self.timers)
            name = running[int(pick) % len(running)]
            self.timers.discard(name)
            self.send(TimerFired(name))

    def step(self, kind: str, value: str) -> None:
        if kind == "digit":
            self.send(Digit(value))
        elif kind == "wait":
            self.wait(value)
        elif kind == "choose":
            self.send(FormSubmitted("menu", {"choice": value}))
        elif kind == "callback":
            key = "decline" if value == "decline" else "number"
            self.send(FormSubmitted("callback", {key: value}))
        elif kind == "answered":
            self.send(AgentAnswered())


@settings(max_examples=200, deadline=None)
@given(MENUS, HOURS, st.lists(STEP, min_size=10, max_size=60))
def test_accepted_menus_never_reach_toll_free_early(
    data: dict[str, Any], hours: list[str], steps: list[tuple[str, str]]
) -> None:
    menu = Menu.from_dict(data)
    result = validate(menu)
    early = any(f.kind == TOLLFREE_WITHOUT_OFFERS for f in result.failures)
    event("validator: " + ("early toll-free" if early else "no early toll-free"))
    states = itertools.cycle(hours)
    ivr = Interpreter(
        menu, call_id="p", hours_state=lambda now: next(states), clock=lambda: NOON
    )
    driver = Driver(ivr)

    driver.send(CallStarted())
    for kind, value in steps:
        driver.step(kind, value)

    if not early:
        assert ivr.journey.tollfree_refused == 0
    if not any(f.kind == INSTANT_LOOP for f in result.failures):
        assert ivr.journey.outcome != "menu-loop"
    refused = min(ivr.journey.tollfree_refused, 1)
    event(f"transfers: {min(driver.transfers, 1)}; refused: {refused}")
    event(f"nodes visited: {min(len(ivr.journey.nodes), 5)}")


# The demo menu shipped with the package.


def demo_menu() -> Menu:
    return Menu.from_yaml(resources.files("ivr").joinpath("demo_menu.yaml").read_text())


def test_the_demo_menu_publishes_and_uses_every_kind() -> None:
    menu = demo_menu()

    assert validate(menu).ok, validate(menu).text()
    assert publish(menu).status is MenuStatus.PUBLISHED
    kinds = {node.kind for node in menu.nodes.values()}
    assert kinds == {"menu", "faq", "callback", "queue", "hours", "tollfree", "hangup"}


def test_a_demo_call_climbs_the_whole_ladder() -> None:
    """Shipping: answers, wait for an agent, overflow, decline the last
    callback offer, and only then the toll-free line."""
    ivr = Interpreter(
        demo_menu(), call_id="demo", hours_state=lambda now: "open", clock=lambda: NOON
    )
    driver = Driver(ivr)
    driver.send(CallStarted())

    for digit in ["2", "", "", "", "", "3", "", "", "2", ""]:
        if digit:
            driver.step("digit", digit)
        else:
            driver.wait("0")

    assert driver.transfers == 1
    assert ivr.journey.nodes == (
        "office-hours",
        "welcome",
        "shipping-answers",
        "shipping-next",
        "shipping-queue",
        "last-resort",
        "tollfree",
    )
    assert ivr.journey.faq_answers == ("faq-shipping-times", "faq-shipping-tracking")
    assert ivr.journey.offers == ("faq", "callback")
    assert ivr.journey.outcome == "tollfree"

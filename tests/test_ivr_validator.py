"""The validator on hand-made menus that must pass and must fail, with the
failing path of each; then, on generated menus, that what it accepts the
interpreter runs without ever reaching the toll-free line too early."""

from __future__ import annotations

from typing import Any

import pytest

from ivr.menu import Menu, MenuStatus
from ivr.validator import (
    MISSING_PROMPT,
    NEVER_ENDS,
    TOLLFREE_WITHOUT_OFFERS,
    UNREACHABLE,
    MenuRefused,
    Report,
    publish,
    validate,
)

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

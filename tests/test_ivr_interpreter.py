"""The IVR interpreter driven by event scripts on a fake clock.

Each script is a table: an event, then the actions it must produce, step by
step. The menu below is small but has every kind of node. Case 21 (two
digits typed during the announcement) is replayed from its captured input.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from gateway.ivr_calls import encode_event, replay
from ivr.interpreter import (
    TABLE,
    Action,
    AgentAnswered,
    CallbackKept,
    CallbackRefused,
    CallEnded,
    CallStarted,
    CancelTimer,
    CollectDigits,
    Digit,
    Event,
    FormSubmitted,
    HangUp,
    Interpreter,
    LeaveQueue,
    Phase,
    PlayPrompt,
    PromptFinished,
    RequestCallback,
    RouteToQueue,
    SentToLine,
    ShowCallbackForm,
    ShowMenu,
    StartTimer,
    StopPrompt,
    TimerFired,
    TransferFailed,
    TransferToTollFree,
)
from ivr.menu import Menu
from ivr.numbers import NumberError
from ivr.states import TRANSFER_FAILED_PROMPT
from tests.cases import case_json_lines

MENU = Menu.from_yaml("""\
id: test
start: open-check
faq_ids: [faq-a, faq-b]
nodes:
  open-check: {kind: hours, open: main, closed: closed-faq, holiday: bye}
  main:
    kind: menu
    prompt: Main menu.
    options: {"1": faq, "8": eight, "89": ext-89, "0": free, "5": offer}
    on_timeout: offer
    on_invalid: offer
    attempts: 2
  faq: {kind: faq, answers: [faq-a, faq-b], next: main}
  closed-faq: {kind: faq, answers: [faq-a], next: offer}
  offer:
    kind: callback
    prompt: Press 1 for a callback, 2 for an agent.
    number_prompt: Your number, then hash.
    window_prompt: 1 for the morning, 2 for the afternoon.
    windows: [morning, afternoon]
    next: bye
    declined: agents
    attempts: 2
  agents:
    kind: queue
    skill: general
    max_wait_seconds: 60
    overflow: free
    prompt: Please hold.
  eight: {kind: queue, skill: ext-8, max_wait_seconds: 60, overflow: bye}
  ext-89: {kind: queue, skill: ext-89, max_wait_seconds: 60, overflow: bye}
  free: {kind: tollfree, prompt: Transferring you.}
  bye: {kind: hangup, prompt: Goodbye.}
""")
NOON = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SEEN: set[tuple[Phase, type]] = set()


def interpreter(menu: Menu = MENU, hours: str = "open") -> Interpreter:
    return Interpreter(
        menu, call_id="call-1", hours_state=lambda now: hours, clock=lambda: NOON
    )


def feed(ivr: Interpreter, event: Event) -> list[Action]:
    SEEN.add((ivr.phase, type(event)))
    return ivr.handle(event)


MAIN: list[Action] = [
    ShowMenu("main", (("1", ""), ("8", ""), ("89", ""), ("0", ""), ("5", ""))),
    CollectDigits("main", 2),
]
OFFER: list[Action] = [
    ShowCallbackForm("offer", ("morning", "afternoon")),
    CollectDigits("offer", 1),
]


def main_prompt(play: int) -> PlayPrompt:
    return PlayPrompt(play, "main", "Main menu.", interruptible=True)


def offer_prompt(play: int) -> PlayPrompt:
    text = "Press 1 for a callback, 2 for an agent."
    return PlayPrompt(play, "offer", text, interruptible=True)


def offer_says(play: int, text: str) -> PlayPrompt:
    return PlayPrompt(play, "offer", text, interruptible=True)


NUMBER_PROMPT = "Your number, then hash."
WINDOW_PROMPT = "1 for the morning, 2 for the afternoon."
CONFIRM = "Press 1 to confirm, or 2 to enter it again."


def read_back(play: int, digits: str) -> list[tuple[Event, list[Action]]]:
    """The read-back of `digits` from prompt `play` on (played when the
    number was taken): each prompt ends, the next plays; after the
    question, the no-input timer."""
    texts = ["You entered", *digits, CONFIRM]
    steps: list[tuple[Event, list[Action]]] = [
        (PromptFinished(play + i), [offer_says(play + i + 1, text)])
        for i, text in enumerate(texts[1:])
    ]
    last = play + len(texts) - 1
    return [*steps, (PromptFinished(last), [StartTimer("input", 5.0)])]


def keyed(digits: str, *, then: list[Action]) -> list[tuple[Event, list[Action]]]:
    """`digits` keyed after the number prompt has been stopped or ended,
    then '#' (whose actions are `then`)."""
    steps: list[tuple[Event, list[Action]]] = [
        (Digit(digits[0]), [CancelTimer("input"), StartTimer("interdigit", 3.0)])
    ]
    steps += [
        (Digit(d), [CancelTimer("interdigit"), StartTimer("interdigit", 3.0)])
        for d in digits[1:]
    ]
    return [*steps, (Digit("#"), [CancelTimer("interdigit"), *then])]


#: What the '#' after a number brings before the read-back's prompts.
READ_BACK = [CollectDigits("offer", 1)]


START: tuple[Event, list[Action]] = (CallStarted(), [*MAIN, main_prompt(1)])
#: From the start to the callback offer (5), accepted (1): the number prompt.
TO_THE_NUMBER: list[tuple[Event, list[Action]]] = [
    START,
    (Digit("5"), [StopPrompt(1), *OFFER, offer_prompt(2)]),
    (
        Digit("1"),
        [StopPrompt(2), CollectDigits("offer", 15), offer_says(3, NUMBER_PROMPT)],
    ),
]


def _queue_general(play: int) -> list[Action]:
    return [
        RouteToQueue("agents", "general", 60.0),
        StartTimer("queue", 60.0),
        PlayPrompt(play, "agents", "Please hold."),
    ]


#: Two timeouts, the callback declined, the queue, an agent answers.
TO_AN_AGENT: list[tuple[Event, list[Action]]] = [
    START,
    (PromptFinished(1), [StartTimer("input", 5.0)]),
    (TimerFired("input"), [CollectDigits("main", 2), main_prompt(2)]),
    (PromptFinished(2), [StartTimer("input", 5.0)]),
    (TimerFired("input"), [*OFFER, offer_prompt(3)]),
    (PromptFinished(3), [StartTimer("input", 5.0)]),
    (Digit("2"), [CancelTimer("input"), *_queue_general(4)]),
    (PromptFinished(4), []),
    (AgentAnswered(), [CancelTimer("queue")]),
]


@dataclass
class Script:
    name: str
    steps: list[tuple[Event, list[Action]]]
    nodes: tuple[str, ...]
    offers: tuple[str, ...] = ()
    outcome: str | None = None
    hours: str = "open"


SCRIPTS = [
    Script(
        "one digit after the prompt",
        [
            START,
            (PromptFinished(1), [StartTimer("input", 5.0)]),
            (
                Digit("1"),
                [
                    CancelTimer("input"),
                    PlayPrompt(2, "faq", faq_id="faq-a"),
                ],
            ),
            (Digit("3"), []),  # an FAQ answer cannot be interrupted: dropped
            (PromptFinished(2), [PlayPrompt(3, "faq", faq_id="faq-b")]),
            (PromptFinished(3), [*MAIN, main_prompt(4)]),
            (PromptFinished(4), [StartTimer("input", 5.0)]),
        ],
        ("open-check", "main", "faq", "main"),
        ("faq",),
    ),
    Script(
        "two timeouts, then the callback offer",
        [
            *TO_AN_AGENT,
            (Digit("1"), []),  # after the IVR is done: ignored
        ],
        ("open-check", "main", "offer", "agents"),
        ("callback",),
        "agent",
    ),
    Script(
        "an agent sends the caller on to the line, which fails: the offer again",
        [
            *TO_AN_AGENT,
            (SentToLine(), []),
            (
                TransferFailed("sip-503"),
                [PlayPrompt(5, "agents", TRANSFER_FAILED_PROMPT)],
            ),
            (PromptFinished(5), [*OFFER, offer_prompt(6)]),
        ],
        ("open-check", "main", "offer", "agents", "offer"),
        ("callback",),
    ),
    Script(
        "a transfer failure without the agent's transfer is not the IVR's",
        [
            *TO_AN_AGENT,
            (TransferFailed("sip-503"), []),
        ],
        ("open-check", "main", "offer", "agents"),
        ("callback",),
        "agent",
    ),
    Script(
        "an invalid digit replays the prompt; the second goes to the offer",
        [
            START,
            (Digit("7"), [StopPrompt(1), CollectDigits("main", 2), main_prompt(2)]),
            (Digit("7"), [StopPrompt(2), *OFFER, offer_prompt(3)]),
            (CallEnded(), [StopPrompt(3)]),
        ],
        ("open-check", "main", "offer"),
        ("callback",),
        "caller-hung-up",
    ),
    Script(
        "'8' alone waits for more, then the inter-digit timeout settles it",
        [
            START,
            (Digit("8"), [StopPrompt(1), StartTimer("interdigit", 3.0)]),
            (PromptFinished(1), []),  # the stopped prompt: stale
            (
                TimerFired("interdigit"),
                [RouteToQueue("eight", "ext-8", 60.0), StartTimer("queue", 60.0)],
            ),
            (TimerFired("interdigit"), []),  # not running any more
            (
                TimerFired("queue"),
                [
                    LeaveQueue("eight"),
                    PlayPrompt(2, "bye", "Goodbye."),
                ],
            ),
            (PromptFinished(2), [HangUp("menu")]),
        ],
        ("open-check", "main", "eight", "bye"),
        (),
        "hangup",
    ),
    Script(
        "'8' then '#' ends the entry at once",
        [
            START,
            (Digit("8"), [StopPrompt(1), StartTimer("interdigit", 3.0)]),
            (
                Digit("#"),
                [
                    CancelTimer("interdigit"),
                    RouteToQueue("eight", "ext-8", 60.0),
                    StartTimer("queue", 60.0),
                ],
            ),
        ],
        ("open-check", "main", "eight"),
    ),
    Script(
        "a callback by keypad: accept, number, hash, read-back, window",
        [
            *TO_THE_NUMBER,
            (Digit("5"), [StopPrompt(3), StartTimer("interdigit", 3.0)]),
            (Digit("*"), [CancelTimer("interdigit")]),  # not part of a number
            (Digit("5"), [StartTimer("interdigit", 3.0)]),
            (Digit("5"), [CancelTimer("interdigit"), StartTimer("interdigit", 3.0)]),
            (
                Digit("#"),
                [CancelTimer("interdigit"), *READ_BACK, offer_says(4, "You entered")],
            ),
            *read_back(4, "555"),
            (
                Digit("1"),
                [
                    CancelTimer("input"),
                    CollectDigits("offer", 1),
                    offer_says(9, WINDOW_PROMPT),
                ],
            ),
            (PromptFinished(9), [StartTimer("input", 5.0)]),
            (
                Digit("2"),
                [CancelTimer("input"), RequestCallback("offer", "555", "afternoon")],
            ),
            (Digit("3"), []),  # while the request is kept: dropped
            (CallbackKept(), [PlayPrompt(10, "bye", "Goodbye.")]),
            (PromptFinished(10), [HangUp("menu")]),
        ],
        ("open-check", "main", "offer", "bye"),
        ("callback",),
        "hangup",
    ),
    Script(
        "the read-back: 2 asks again; a key during the digits confirms",
        [
            *TO_THE_NUMBER,
            (PromptFinished(3), [StartTimer("input", 5.0)]),
            *keyed("12", then=[*READ_BACK, offer_says(4, "You entered")]),
            *read_back(4, "12")[:-1],  # the question plays
            (
                Digit("2"),
                [
                    StopPrompt(7),
                    CollectDigits("offer", 15),
                    offer_says(8, NUMBER_PROMPT),
                ],
            ),
            (PromptFinished(8), [StartTimer("input", 5.0)]),
            *keyed("34", then=[*READ_BACK, offer_says(9, "You entered")]),
            (PromptFinished(9), [offer_says(10, "3")]),
            (
                Digit("1"),  # barge-in: "4" and the question are not played
                [
                    StopPrompt(10),
                    CollectDigits("offer", 1),
                    offer_says(11, WINDOW_PROMPT),
                ],
            ),
            (PromptFinished(10), []),  # the stopped digit: stale
            (
                Digit("1"),
                [StopPrompt(11), RequestCallback("offer", "34", "morning")],
            ),
            (CallEnded(), []),
        ],
        ("open-check", "main", "offer"),
        ("callback",),
        "caller-hung-up",
    ),
    Script(
        "the read-back: no key, then a wrong key, then the declined path",
        [
            *TO_THE_NUMBER,
            (PromptFinished(3), [StartTimer("input", 5.0)]),
            *keyed("7", then=[*READ_BACK, offer_says(4, "You entered")]),
            *read_back(4, "7"),
            (TimerFired("input"), [*READ_BACK, offer_says(7, "You entered")]),
            *read_back(7, "7"),
            (
                Digit("9"),
                [CancelTimer("input"), *READ_BACK, offer_says(10, "You entered")],
            ),
            (Digit("#"), [StopPrompt(10), *_queue_general(11)]),  # 2 attempts
        ],
        ("open-check", "main", "offer", "agents"),
        ("callback",),
    ),
    Script(
        "a callback from the page's form",
        [
            START,
            (
                FormSubmitted("menu", {"choice": "5"}),
                [StopPrompt(1), *OFFER, offer_prompt(2)],
            ),
            (FormSubmitted("callback", {"number": "12", "window": "morning"}), []),
            (FormSubmitted("callback", {"number": "+15550100", "window": "noon"}), []),
            (
                FormSubmitted("callback", {"number": "+15550100", "window": "morning"}),
                [StopPrompt(2), RequestCallback("offer", "+15550100", "morning")],
            ),
            (FormSubmitted("callback", {"number": "+15550100"}), []),  # once
            (CallbackKept(), [PlayPrompt(3, "bye", "Goodbye.")]),
        ],
        ("open-check", "main", "offer", "bye"),
        ("callback",),
    ),
    Script(
        "a callback the policy refuses: said so, then the declined path",
        [
            START,
            (
                FormSubmitted("menu", {"choice": "5"}),
                [StopPrompt(1), *OFFER, offer_prompt(2)],
            ),
            (PromptFinished(2), [StartTimer("input", 5.0)]),
            (
                FormSubmitted("callback", {"number": "+15550100"}),
                [CancelTimer("input"), RequestCallback("offer", "+15550100", None)],
            ),
            (
                CallbackRefused("number-limit"),
                [
                    PlayPrompt(
                        3, "offer", "We cannot take another callback request today."
                    )
                ],
            ),
            (Digit("1"), []),  # the refusal cannot be interrupted
            (PromptFinished(3), _queue_general(4)),
        ],
        ("open-check", "main", "offer", "agents"),
        ("callback",),
    ),
    Script(
        "closed: an FAQ answer, then the offer; declined, the queue overflows "
        "to the toll-free line",
        [
            (CallStarted(), [PlayPrompt(1, "closed-faq", faq_id="faq-a")]),
            (PromptFinished(1), [*OFFER, offer_prompt(2)]),
            (
                FormSubmitted("callback", {"decline": "yes"}),
                [StopPrompt(2), *_queue_general(3)],
            ),
            (
                TimerFired("queue"),
                [
                    LeaveQueue("agents"),
                    StopPrompt(3),
                    PlayPrompt(4, "free", "Transferring you."),
                ],
            ),
            (PromptFinished(4), [TransferToTollFree("free")]),
        ],
        ("open-check", "closed-faq", "offer", "agents", "free"),
        ("faq", "callback"),
        "tollfree",
        hours="closed",
    ),
    Script(
        "the toll-free line fails: the caller hears so and gets the offer again",
        [
            (CallStarted(), [PlayPrompt(1, "closed-faq", faq_id="faq-a")]),
            (PromptFinished(1), [*OFFER, offer_prompt(2)]),
            (
                FormSubmitted("callback", {"decline": "yes"}),
                [StopPrompt(2), *_queue_general(3)],
            ),
            (
                TimerFired("queue"),
                [
                    LeaveQueue("agents"),
                    StopPrompt(3),
                    PlayPrompt(4, "free", "Transferring you."),
                ],
            ),
            (PromptFinished(4), [TransferToTollFree("free")]),
            (
                TransferFailed("sip-486"),
                [PlayPrompt(5, "free", TRANSFER_FAILED_PROMPT)],
            ),
            (PromptFinished(5), [*OFFER, offer_prompt(6)]),
        ],
        ("open-check", "closed-faq", "offer", "agents", "free", "offer"),
        ("faq", "callback"),
        hours="closed",
    ),
    Script(
        "holiday: goodbye",
        [
            (CallStarted(), [PlayPrompt(1, "bye", "Goodbye.")]),
            (Digit("1"), []),
            (CallEnded(), [StopPrompt(1)]),
        ],
        ("open-check", "bye"),
        (),
        "caller-hung-up",
        hours="holiday",
    ),
    Script(
        "the caller hangs up while the menu waits",
        [
            START,
            (PromptFinished(1), [StartTimer("input", 5.0)]),
            (CallEnded(), [CancelTimer("input")]),
            (TimerFired("input"), []),
        ],
        ("open-check", "main"),
        (),
        "caller-hung-up",
    ),
    Script(
        "a click in the page picks 89; the caller hangs up in the queue",
        [
            START,
            (PromptFinished(1), [StartTimer("input", 5.0)]),
            (
                FormSubmitted("menu", {"choice": "89"}),
                [
                    CancelTimer("input"),
                    RouteToQueue("ext-89", "ext-89", 60.0),
                    StartTimer("queue", 60.0),
                ],
            ),
            (CallEnded(), [CancelTimer("queue")]),
        ],
        ("open-check", "main", "ext-89"),
        (),
        "caller-hung-up",
    ),
    Script(
        "a click that fits no option is ignored mid-entry",
        [
            START,
            (Digit("8"), [StopPrompt(1), StartTimer("interdigit", 3.0)]),
            (FormSubmitted("menu", {"choice": "3"}), []),
            (FormSubmitted("callback", {"number": "+15550100"}), []),
            (CallEnded(), [CancelTimer("interdigit")]),
        ],
        ("open-check", "main"),
        (),
        "caller-hung-up",
    ),
    Script(
        "toll-free pressed first is refused: FAQ, then the offer, first",
        [
            START,
            (
                Digit("0"),
                [StopPrompt(1), PlayPrompt(2, "faq", faq_id="faq-a")],
            ),
        ],
        ("open-check", "main", "free", "faq"),
        ("faq",),
    ),
]


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_scripts(script: Script) -> None:
    ivr = interpreter(hours=script.hours)

    for number, (event, expected) in enumerate(script.steps):
        assert feed(ivr, event) == expected, f"step {number}: {event}"

    journey = ivr.journey
    assert journey.nodes == script.nodes
    assert journey.offers == script.offers
    if script.outcome is not None:
        assert journey.outcome == script.outcome


def test_every_row_of_the_table_is_walked() -> None:
    for script in SCRIPTS:
        test_scripts(script)
    assert set(TABLE) <= SEEN, set(TABLE) - SEEN


# The read-back of a keyed callback number.


def at_the_number(ivr: Interpreter) -> None:
    """Walk `ivr` to the callback node's number prompt, playing."""
    for event in (CallStarted(), Digit("5"), Digit("1")):
        feed(ivr, event)
    assert ivr.phase is Phase.PROMPTING


def played(ivr: Interpreter, actions: list[Action]) -> list[str]:
    """The texts of the prompts that play, each finished in turn, until
    the IVR waits for a key."""
    texts: list[str] = []
    while True:
        prompts = [a for a in actions if isinstance(a, PlayPrompt)]
        if not prompts:
            return texts
        texts.append(str(prompts[-1].text))
        actions = feed(ivr, PromptFinished(prompts[-1].play))


def test_the_read_back_says_each_digit_as_a_prompt_of_its_own() -> None:
    checked: list[str] = []

    def check(raw: str) -> str:
        checked.append(raw)
        if len(raw) != 10:
            raise NumberError("the number is too short for a number in US")
        return "+1" + raw

    ivr = Interpreter(
        MENU,
        call_id="call-1",
        hours_state=lambda now: "open",
        clock=lambda: NOON,
        check_number=check,
    )
    at_the_number(ivr)
    for digit in "555#2125550142":  # refused, asked again, then kept
        feed(ivr, Digit(digit))

    texts = played(ivr, feed(ivr, Digit("#")))

    assert checked == ["555", "2125550142"]
    assert texts == ["You entered", *"2125550142", CONFIRM]
    # No prompt holds two digits of the number in a row.
    assert not [t for t in texts if re.search(r"[0-9]{2}", t)]
    assert ivr.phase is Phase.WAITING
    feed(ivr, Digit("1"))
    actions = feed(ivr, Digit("2"))
    assert RequestCallback("offer", "+12125550142", "afternoon") in actions


def test_asking_for_the_number_again_has_the_nodes_attempts() -> None:
    ivr = interpreter()
    at_the_number(ivr)
    for _ in range(2):  # the node has 2 attempts
        feed(ivr, Digit("4"))
        assert played(ivr, feed(ivr, Digit("#")))[1] == "4"
        actions = feed(ivr, Digit("2"))

    play = next(a.play for a in actions if isinstance(a, PlayPrompt))
    assert actions[-3:] == _queue_general(play)
    assert ivr.journey.nodes[-2:] == ("offer", "agents")


def test_the_read_back_texts_and_keys_come_from_the_node() -> None:
    data = MENU.to_dict()
    data["nodes"]["offer"].update(
        readback_prompt="Vous avez tapé",
        confirm_digit="#",
        reenter_digit="*",
        windows=[],
    )
    ivr = interpreter(Menu.from_dict(data))
    at_the_number(ivr)
    feed(ivr, Digit("0"))
    feed(ivr, Digit("8"))

    texts = played(ivr, feed(ivr, Digit("#")))
    actions = feed(ivr, Digit("#"))

    assert texts[0] == "Vous avez tapé"
    assert texts[-1] == "Press # to confirm, or * to enter it again."
    assert actions == [CancelTimer("input"), RequestCallback("offer", "08", None)]


@pytest.mark.parametrize(
    "script",
    [s for s in SCRIPTS if "read-back" in s.name or "refuses" in s.name],
    ids=lambda s: s.name,
)
def test_a_replayed_log_reaches_the_same_state(script: Script) -> None:
    """What gateway.ivr_calls does for a call that moves between nodes: the
    log (as Redis keeps it) replayed answers the next event as the live
    interpreter does, at every point of the call."""
    live = interpreter(hours=script.hours)
    log: list[str] = []
    for event, _ in script.steps:
        replayed, _ = replay(MENU, "call-1", script.hours, log, lambda raw: raw)
        assert (replayed.phase, replayed.node_id) == (live.phase, live.node_id)
        assert replayed.handle(event) == live.handle(event), event
        assert replayed.journey == live.journey
        log.append(json.dumps(encode_event(event)))


# Case 21: 8 then 9 typed while the announcement plays.

CASE_21 = case_json_lines("21-ivr-two-digits-during-announcement")


def case_21_menu(extra_option: str | None = None) -> Menu:
    """The case's menu: "89" dials extension 89; t and i are its timeout
    and invalid-input branches."""
    start = next(m for m in CASE_21 if m["event"] == "prompt_start")
    options = {d: "ext-89" for d in start["menu"] if d not in ("t", "i")}
    if extra_option:
        options[extra_option] = "reception"
    data: dict[str, Any] = {
        "id": "case-21",
        "start": "main",
        "nodes": {
            "main": {
                "kind": "menu",
                "prompt": "Welcome. Dial an extension at any time.",
                "options": options,
                "on_timeout": "reception",
                "on_invalid": "reception",
                "interdigit_seconds": start["interdigit_timeout_ms"] / 1000,
            },
            "ext-89": {
                "kind": "queue",
                "skill": "ext-89",
                "max_wait_seconds": 60,
                "overflow": "reception",
            },
            "reception": {
                "kind": "queue",
                "skill": "reception",
                "max_wait_seconds": 60,
                "overflow": "bye",
            },
            "bye": {"kind": "hangup"},
        },
    }
    return Menu.from_dict(data)


def replay_case_21(menu: Menu) -> list[tuple[int, list[Action]]]:
    ivr = interpreter(menu)
    out = []
    for message in CASE_21:
        if message["event"] == "call_answered":
            out.append((message["t_ms"], feed(ivr, CallStarted())))
        elif message["event"] == "dtmf":
            out.append((message["t_ms"], feed(ivr, Digit(message["digit"]))))
    assert ivr.journey.nodes == ("main", "ext-89")
    return out


@pytest.mark.parametrize("extra", [None, "8"], ids=["89 only", "8 and 89"])
def test_21_both_digits_reach_the_menu_and_89_is_dialled(extra: str | None) -> None:
    (_, started), (_, first), (_, second) = replay_case_21(case_21_menu(extra))

    assert isinstance(started[-1], PlayPrompt) and started[-1].interruptible
    # Barge-in: the first digit stops the prompt at once (0 ms on this clock)
    # and is kept; the entry waits for the next digit.
    assert first == [StopPrompt(started[-1].play), StartTimer("interdigit", 3.0)]
    assert second == [
        CancelTimer("interdigit"),
        RouteToQueue("ext-89", "ext-89", 60.0),
        StartTimer("queue", 60.0),
    ]


def test_21_digits_during_a_prompt_that_cannot_be_interrupted_are_dropped() -> None:
    """The one rule: such digits never reach the next menu."""
    ivr = interpreter()
    feed(ivr, CallStarted())
    feed(ivr, Digit("1"))  # to the FAQ answers

    assert feed(ivr, Digit("8")) == []
    assert feed(ivr, Digit("9")) == []
    feed(ivr, PromptFinished(2))
    menu_again = feed(ivr, PromptFinished(3))

    assert menu_again == [*MAIN, main_prompt(4)]  # no barge-in, nothing typed
    assert feed(ivr, PromptFinished(4)) == [StartTimer("input", 5.0)]
    assert ivr.phase is Phase.WAITING


@pytest.mark.parametrize("key", ["A", "", "12", "\x00", "٣"])
def test_keys_that_are_not_digits_are_ignored_and_logged(
    key: str, caplog: pytest.LogCaptureFixture
) -> None:
    ivr = interpreter()
    feed(ivr, CallStarted())

    with caplog.at_level(logging.INFO, logger="ivr.interpreter"):
        assert feed(ivr, Digit(key)) == []

    assert ivr.phase is Phase.PROMPTING
    record = next(r for r in caplog.records if "not a DTMF digit" in r.message)
    assert record.__dict__["call_id"] == "call-1"
    assert record.__dict__["digit"] == key


def test_digits_after_the_call_ended_are_logged_without_the_digit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ivr = interpreter()
    feed(ivr, CallStarted())
    feed(ivr, CallEnded())

    with caplog.at_level(logging.INFO, logger="ivr.interpreter"):
        assert feed(ivr, Digit("4")) == []

    (record,) = [r for r in caplog.records if r.name == "ivr.interpreter"]
    assert "4" not in record.getMessage()
    assert record.__dict__["digit"] == "4"


def test_an_unknown_hours_state_counts_as_closed() -> None:
    ivr = interpreter(hours="maybe")
    assert feed(ivr, CallStarted()) == [PlayPrompt(1, "closed-faq", faq_id="faq-a")]


def test_a_menu_of_instant_hops_hangs_up() -> None:
    data = MENU.to_dict()
    data["nodes"]["open-check"]["open"] = "open-check"
    ivr = interpreter(Menu.from_dict(data))
    assert feed(ivr, CallStarted()) == [HangUp("menu-loop")]


def test_toll_free_with_no_offer_node_falls_back_to_the_queue_once() -> None:
    menu = Menu.from_dict(
        {
            "id": "bare",
            "start": "main",
            "nodes": {
                "main": {
                    "kind": "menu",
                    "prompt": "Zero for the toll-free line.",
                    "options": {"0": "free"},
                    "on_timeout": "free",
                    "on_invalid": "free",
                },
                "agents": {
                    "kind": "queue",
                    "skill": "general",
                    "max_wait_seconds": 30,
                    "overflow": "free",
                },
                "free": {"kind": "tollfree"},
            },
        }
    )
    ivr = interpreter(menu)
    feed(ivr, CallStarted())

    assert feed(ivr, Digit("0")) == [
        StopPrompt(1),
        RouteToQueue("agents", "general", 30.0),
        StartTimer("queue", 30.0),
    ]
    assert feed(ivr, TimerFired("queue")) == [
        LeaveQueue("agents"),
        HangUp("tollfree-refused"),
    ]
    assert ivr.journey.outcome == "tollfree-refused"
    assert ivr.journey.tollfree_refused == 2


@pytest.mark.parametrize(
    "event",
    [
        FormSubmitted("menu", cast(Any, {"choice": ["1"]})),
        FormSubmitted("menu", cast(Any, {"choice": None})),
        FormSubmitted("menu", {"choice": "1" * 100}),
        FormSubmitted("unknown", {"choice": "1"}),
        Digit(cast(Any, 1)),
        Digit(cast(Any, None)),
    ],
)
def test_malformed_input_from_the_page_changes_nothing(event: Event) -> None:
    ivr = interpreter()
    feed(ivr, CallStarted())

    assert ivr.handle(event) == []
    assert ivr.phase is Phase.PROMPTING
    assert ivr.journey.nodes == ("open-check", "main")


def test_the_ivr_package_imports_nothing_that_does_io() -> None:
    code = (
        "import sys, ivr.menu, ivr.validator, ivr.interpreter\n"
        "import ivr.hours, ivr.numbers, ivr.simulator\n"
        "io = {'asyncio', 'aiohttp', 'redis', 'aiortc', 'pjsua2', 'socket'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & io))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"

"""Menu documents: what parses, what is refused, and the place of each fault."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.menu import (
    MAX_NODES,
    CallbackNode,
    FaqNode,
    HangupNode,
    Menu,
    MenuError,
    MenuNode,
    MenuStatus,
    Option,
    QueueNode,
)

SMALL = """\
id: small
version: 2
start: main
faq_ids: [faq-hours]
nodes:
  main:
    kind: menu
    prompt: Press 1 for our hours, 89 for extension 89, star for a callback.
    options:
      1: hours-faq
      89: {target: ext-89, label: Extension 89}
      "*": callback
      "#": bye
    on_timeout: callback
    on_invalid: callback
    attempts: 2
  hours-faq:
    kind: faq
    answers: [faq-hours]
    next: main
  callback:
    kind: callback
    prompt: Press 1 and we call you back, 2 to speak to an agent.
    windows: [morning, afternoon]
    next: bye
    declined: ext-89
  ext-89:
    kind: queue
    skill: ext-89
    max_wait_seconds: 120
    overflow: free
  free:
    kind: tollfree
  bye:
    kind: hangup
    prompt: Goodbye.
"""


def small() -> dict[str, Any]:
    data = Menu.from_yaml(SMALL).to_dict()
    assert isinstance(data, dict)
    return data


def problems(data: object) -> list[str]:
    with pytest.raises(MenuError) as caught:
        Menu.from_dict(data)
    assert caught.value.code == "invalid-menu"
    assert caught.value.recoverable
    return [str(p) for p in caught.value.problems]


def yaml_problems(text: str) -> list[str]:
    with pytest.raises(MenuError) as caught:
        Menu.from_yaml(text)
    return [str(p) for p in caught.value.problems]


def test_a_yaml_menu_reads_into_typed_nodes() -> None:
    menu = Menu.from_yaml(SMALL)

    assert (menu.id, menu.version, menu.start) == ("small", 2, "main")
    assert menu.status is MenuStatus.DRAFT
    main = menu.node("main")
    assert isinstance(main, MenuNode)
    assert main.options == (
        Option("1", "hours-faq"),
        Option("89", "ext-89", "Extension 89"),
        Option("*", "callback"),
        Option("#", "bye"),
    )
    assert main.attempts == 2 and main.timeout_seconds == 5.0
    assert menu.node("hours-faq") == FaqNode("hours-faq", ("faq-hours",), "main")
    callback = menu.node("callback")
    assert isinstance(callback, CallbackNode)
    assert callback.windows == ("morning", "afternoon")
    assert (callback.accept_digit, callback.decline_digit) == ("1", "2")
    assert menu.node("ext-89") == QueueNode("ext-89", "ext-89", 120.0, "free")


def test_round_trips_through_yaml_dict_and_json() -> None:
    menu = Menu.from_yaml(SMALL)

    assert Menu.from_yaml(menu.to_yaml()) == menu
    assert Menu.from_dict(menu.to_dict()) == menu
    assert Menu.from_json(json.dumps(menu.to_dict())) == menu


def test_the_read_back_fields_default_and_round_trip() -> None:
    callback = Menu.from_yaml(SMALL).node("callback")
    assert isinstance(callback, CallbackNode)
    assert (callback.confirm_digit, callback.reenter_digit) == ("1", "2")
    assert callback.readback("42") == [
        "You entered",
        "4",
        "2",
        "Press 1 to confirm, or 2 to enter it again.",
    ]
    assert callback.refusal() == "We cannot take another callback request today."

    text = SMALL.replace(
        "    declined: ext-89\n",
        "    declined: ext-89\n"
        "    readback_prompt: I heard\n"
        "    confirm_prompt: Star if right, hash to type it again.\n"
        '    confirm_digit: "*"\n'
        '    reenter_digit: "#"\n'
        "    refused_prompt: No more callbacks today.\n",
    )
    menu = Menu.from_yaml(text + f"recordings:\n  callback.readback_prompt: {KEY}\n")
    callback = menu.node("callback")
    assert isinstance(callback, CallbackNode)
    assert callback.readback("7") == [
        "I heard",
        "7",
        "Star if right, hash to type it again.",
    ]
    assert callback.refusal() == "No more callbacks today."
    assert menu.recording("callback", "I heard") == KEY
    assert Menu.from_yaml(menu.to_yaml()) == menu
    assert Menu.from_json(json.dumps(menu.to_dict())) == menu


def test_digit_keys_keep_what_the_author_wrote() -> None:
    text = SMALL.replace("      1: hours-faq", "      010: hours-faq")
    main = Menu.from_yaml(text).node("main")
    assert isinstance(main, MenuNode)
    assert main.options[0].digits == "010"  # not the octal 8 of YAML 1.1


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            lambda d: d["nodes"]["main"]["options"].update({"3": "billing2"}),
            "nodes.main.options.3: target 'billing2' does not exist",
            id="dangling option",
        ),
        pytest.param(
            lambda d: d["nodes"]["callback"].update(declined="nowhere"),
            "nodes.callback.declined: target 'nowhere' does not exist",
            id="dangling declined",
        ),
        pytest.param(
            lambda d: d["nodes"]["main"]["options"].update({"1a": "bye"}),
            "nodes.main.options.1a: digits must be 1-4 of 0-9, * and #",
            id="digit not in 0-9*#",
        ),
        pytest.param(
            lambda d: d["nodes"]["free"].update(kind="voicemail"),
            "nodes.free.kind: unknown node kind 'voicemail'",
            id="unknown kind",
        ),
        pytest.param(
            lambda d: d["nodes"]["main"].update(prompt="x" * 1001),
            "nodes.main.prompt: 1001 characters, at most 1000",
            id="oversized prompt",
        ),
        pytest.param(
            lambda d: d.update(start="welcome"),
            "start: start node 'welcome' does not exist",
            id="start missing",
        ),
        pytest.param(
            lambda d: d.pop("start"),
            "start: must be non-empty text",
            id="no start",
        ),
        pytest.param(
            lambda d: d["nodes"]["ext-89"].update(max_wait_seconds=0),
            "nodes.ext-89.max_wait_seconds: must be a number of seconds "
            "from 10 to 3600",
            id="queue wait",
        ),
        pytest.param(
            lambda d: d["nodes"]["hours-faq"].update(answers=[]),
            "nodes.hours-faq.answers: an faq node gives at least one answer",
            id="faq without answers",
        ),
        pytest.param(
            lambda d: d["nodes"]["hours-faq"].update(answers=["faq-prices"]),
            "nodes.hours-faq.answers.0: FAQ entry 'faq-prices' is not in faq_ids",
            id="unknown faq entry",
        ),
        pytest.param(
            lambda d: d["nodes"]["callback"].update(accept_digit="12"),
            "nodes.callback.accept_digit: must be one of 0-9, * and #",
            id="accept digit",
        ),
        pytest.param(
            lambda d: d["nodes"]["callback"].update(confirm_digit="11"),
            "nodes.callback.confirm_digit: must be one of 0-9, * and #",
            id="confirm digit",
        ),
        pytest.param(
            lambda d: d["nodes"]["callback"].update(reenter_digit="1"),
            "nodes.callback.reenter_digit: must differ from confirm_digit",
            id="re-enter digit as confirm digit",
        ),
        pytest.param(
            lambda d: d["nodes"]["callback"].update(readback_prompt=""),
            "nodes.callback.readback_prompt: must be non-empty text",
            id="empty read-back prompt",
        ),
        pytest.param(
            lambda d: d["nodes"]["bye"].update(prompt="Good\x85bye."),
            "nodes.bye.prompt: holds a control character or a line separator",
            id="NEL in a prompt",
        ),
        pytest.param(
            lambda d: d["nodes"]["bye"].update(colour="red"),
            "nodes.bye.colour: unknown field",
            id="unknown field",
        ),
        pytest.param(
            lambda d: d.update(status="live"),
            "status: must be draft, published or archived",
            id="status",
        ),
    ],
)
def test_each_invalid_menu_names_the_place(change: Any, expected: str) -> None:
    data = small()
    change(data)
    assert problems(data) == [expected]


def test_every_problem_is_listed_at_once() -> None:
    data = small()
    data["nodes"]["main"]["options"]["5"] = "gone"
    data["nodes"]["bye"]["kind"] = "mystery"
    data["nodes"]["main"]["attempts"] = 9

    assert problems(data) == [  # targets at the broken node 'bye' are no fault
        "nodes.main.attempts: must be a whole number from 1 to 5",
        "nodes.bye.kind: unknown node kind 'mystery'",
        "nodes.main.options.5: target 'gone' does not exist",
    ]


def test_too_many_nodes() -> None:
    data = small()
    for i in range(MAX_NODES):
        data["nodes"][f"extra-{i}"] = {"kind": "hangup"}
    assert problems(data) == [f"nodes: {MAX_NODES + 6} nodes, at most {MAX_NODES}"]


def test_duplicate_digit_in_yaml_is_refused_with_both_lines() -> None:
    text = SMALL.replace('      "#": bye', '      "#": bye\n      1: bye')
    assert yaml_problems(text) == [
        "nodes.main.options: key '1' appears twice (lines 10 and 14)"
    ]


@pytest.mark.parametrize("text", ["\x08", "id: a\x00", "\ufeff\x07: 1"])
def test_characters_yaml_cannot_hold_are_refused_as_a_menu_error(text: str) -> None:
    assert yaml_problems(text)[0].startswith(": not valid YAML")


def test_duplicate_node_in_yaml_is_refused() -> None:
    text = SMALL + "  main:\n    kind: hangup\n"
    assert yaml_problems(text) == ["nodes: key 'main' appears twice (lines 6 and 37)"]


def test_duplicate_key_in_json_is_refused() -> None:
    text = json.dumps(small()).replace('"1": "hours-faq"', '"1": "x", "1": "y"')
    with pytest.raises(MenuError) as caught:
        Menu.from_json(text)
    assert [str(p) for p in caught.value.problems] == [
        "nodes.main.options: key '1' appears twice"
    ]


def test_yaml_aliases_are_refused() -> None:
    text = SMALL.replace("    answers: [faq-hours]", "    answers: &a [faq-hours]")
    text = text.replace("    windows: [morning, afternoon]", "    windows: *a")
    assert yaml_problems(text) == ["nodes.callback.windows: aliases are not allowed"]


@pytest.mark.parametrize(
    "text", ["nodes: [", "- just\n- a list\n", "", "nodes: {main: 3}\n"]
)
def test_not_a_menu_at_all(text: str) -> None:
    assert yaml_problems(text)


@pytest.mark.parametrize(
    ("start", "to", "allowed"),
    [
        (MenuStatus.DRAFT, MenuStatus.PUBLISHED, True),
        (MenuStatus.DRAFT, MenuStatus.ARCHIVED, True),
        (MenuStatus.PUBLISHED, MenuStatus.ARCHIVED, True),
        (MenuStatus.PUBLISHED, MenuStatus.DRAFT, False),
        (MenuStatus.ARCHIVED, MenuStatus.PUBLISHED, False),
        (MenuStatus.ARCHIVED, MenuStatus.DRAFT, False),
    ],
)
def test_status_moves(start: MenuStatus, to: MenuStatus, allowed: bool) -> None:
    data = small()
    data["status"] = str(start)
    menu = Menu.from_dict(data)
    if allowed:
        assert menu.with_status(to).status is to
    else:
        with pytest.raises(MenuError, match=f"a {start} menu cannot become {to}"):
            menu.with_status(to)


# Generated menus, for the property tests here and in test_ivr_validator.py.

# Kinds weighted so that generated calls often reach the toll-free line.
KINDS = ["menu", "faq", "callback", "queue", "hours", "tollfree", "hangup"]
WEIGHTED_KINDS = [*KINDS, "menu", "faq", "callback", "tollfree"]
PROMPT_TEXT = st.text(
    alphabet=st.characters(
        exclude_categories=("Cs", "Cc", "Zl", "Zp"), include_characters="\n\t"
    ),
    min_size=1,
    max_size=60,
).filter(lambda t: bool(t.strip()))


READ_BACKS = st.sampled_from(
    [
        {},
        {"confirm_digit": "#", "reenter_digit": "*", "readback_prompt": "Heard:"},
        {"confirm_prompt": "Right?", "refused_prompt": "No more today."},
    ]
)


@st.composite
def menu_dicts(draw: st.DrawFn, max_nodes: int = 8) -> dict[str, Any]:
    """A menu that parses: any shape of graph, any kind of node."""
    ids = [f"n{i}" for i in range(draw(st.integers(2, max_nodes)))]
    target = st.sampled_from(ids)
    prompt = st.one_of(st.none(), PROMPT_TEXT) if draw(st.booleans()) else PROMPT_TEXT
    nodes: dict[str, Any] = {}
    for node_id in ids:
        kind = draw(st.sampled_from(WEIGHTED_KINDS))
        node: dict[str, Any] = {"kind": kind}
        if kind == "menu":
            keys = draw(
                st.lists(
                    st.sampled_from(["0", "1", "2", "8", "89", "*", "#", "#1"]),
                    min_size=1,
                    max_size=4,
                    unique=True,
                )
            )
            node["options"] = {k: draw(target) for k in keys}
            node["on_timeout"] = draw(target)
            node["on_invalid"] = draw(target)
            node["attempts"] = draw(st.integers(1, 3))
        elif kind == "faq":
            node["answers"] = draw(
                st.lists(st.sampled_from(["faq-a", "faq-b"]), min_size=1, max_size=2)
            )
            node["next"] = draw(target)
        elif kind == "callback":
            node["next"] = draw(target)
            node["declined"] = draw(target)
            node["windows"] = draw(st.sampled_from([[], ["am", "pm"]]))
            node.update(draw(READ_BACKS))
        elif kind == "queue":
            node["skill"] = "general"
            node["max_wait_seconds"] = 30
            node["overflow"] = draw(target)
        elif kind == "hours":
            node.update(open=draw(target), closed=draw(target), holiday=draw(target))
        if kind != "hours":
            text = draw(prompt)
            if text is not None:
                node["prompt"] = text
        nodes[node_id] = node
    return {"id": "generated", "version": 1, "start": ids[0], "nodes": nodes}


@settings(max_examples=200, deadline=None)
@given(menu_dicts())
def test_menus_round_trip_through_yaml_and_json(data: dict[str, Any]) -> None:
    menu = Menu.from_dict(data)

    assert Menu.from_yaml(menu.to_yaml()) == menu
    assert Menu.from_json(json.dumps(menu.to_dict())) == menu


KEY = "0123456789abcdef0123456789abcdef"


def test_recordings_replace_prompts_and_round_trip() -> None:
    menu = Menu.from_yaml(SMALL + f"recordings:\n  bye.prompt: {KEY}\n")
    bye = menu.node("bye")
    assert isinstance(bye, HangupNode) and bye.prompt
    assert menu.recording("bye", bye.prompt) == KEY
    assert menu.recording("bye", "some other text") is None
    assert Menu.from_dict(menu.to_dict()) == menu
    assert "recordings" not in Menu.from_yaml(SMALL).to_dict()


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        (f"nowhere.prompt: {KEY}", "recordings.nowhere.prompt: is not the prompt"),
        (f"bye.target: {KEY}", "recordings.bye.target: is not the prompt"),
        ("bye.prompt: ../../etc/passwd", "recordings.bye.prompt: is not a prompt key"),
        ("bye.prompt: 12", "recordings.bye.prompt: is not a prompt key"),
    ],
)
def test_bad_recordings_are_refused_with_the_place(entry: str, says: str) -> None:
    problems = yaml_problems(SMALL + f"recordings:\n  {entry}\n")
    assert any(p.startswith(says) for p in problems), problems

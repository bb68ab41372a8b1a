"""FAQ entries: what reads, what is refused with the place of each fault,
YAML round trips, and the demo FAQ the demo menu needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from ivr.faq import (
    MAX_ENTRIES,
    FaqEntry,
    FaqError,
    entries_from_data,
    entries_from_yaml,
    entries_to_yaml,
)
from ivr.menu import Menu

IVR = Path(__file__).resolve().parent.parent / "ivr"


def entry(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "faq-hours",
        "question": "When are you open?",
        "answer": "Monday to Friday, 8 to 8.",
        "tags": ["hours"],
    }
    return base | changes


def problems(data: object) -> list[str]:
    with pytest.raises(FaqError) as caught:
        FaqEntry.from_dict(data)
    assert caught.value.code == "invalid-faq"
    assert caught.value.recoverable
    return [str(p) for p in caught.value.problems]


def list_problems(data: object) -> list[str]:
    with pytest.raises(FaqError) as caught:
        entries_from_data(data)
    return [str(p) for p in caught.value.problems]


def yaml_problems(text: str) -> list[str]:
    with pytest.raises(FaqError) as caught:
        entries_from_yaml(text)
    return [str(p) for p in caught.value.problems]


def test_an_entry_reads_and_writes_back() -> None:
    read = FaqEntry.from_dict(entry(recording="0" * 32, updated=1700000000.5))
    assert read == FaqEntry(
        "faq-hours",
        "When are you open?",
        "Monday to Friday, 8 to 8.",
        ("hours",),
        "0" * 32,
        1700000000.5,
    )
    assert FaqEntry.from_dict(read.to_dict()) == read


def test_tags_recording_and_updated_are_optional() -> None:
    data = entry()
    del data["tags"]
    read = FaqEntry.from_dict(data)
    assert (read.tags, read.recording, read.updated) == ((), None, 0.0)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"id": "Hours"}, "id: must be an id: 1-64 of a-z, 0-9, '-' and '_'"),
        ({"id": "a" * 65}, "id: must be an id: 1-64 of a-z, 0-9, '-' and '_'"),
        ({"id": "search"}, "id: 'search' is reserved; choose another id"),
        ({"question": ""}, "question: must be non-empty text"),
        ({"question": "q" * 301}, "question: 301 characters, at most 300"),
        ({"answer": "a" * 2001}, "answer: 2001 characters, at most 2000"),
        ({"answer": 42}, "answer: must be non-empty text"),
        ({"answer": "bell \x07"},
         "answer: holds a control character or a line separator"),
        ({"tags": "hours"}, "tags: must be a list of at most 10 tags"),
        ({"tags": [str(i) for i in range(11)]},
         "tags: must be a list of at most 10 tags"),
        ({"tags": ["t" * 33]}, "tags.0: 33 characters, at most 32"),
        ({"tags": ["a", "b", "a"]}, "tags.2: tag 'a' appears twice"),
        ({"tags": [""]}, "tags.0: must be non-empty text"),
        ({"recording": "../../etc/passwd"}, "recording: must be the key of an "
         "uploaded prompt (32 of 0-9, a-f)"),
        ({"updated": True}, "updated: must be a time in seconds since 1970"),
        ({"updated": -1}, "updated: must be a time in seconds since 1970"),
        ({"colour": "red"}, "colour: unknown field"),
    ],
)  # fmt: skip
def test_a_bad_field_is_refused_with_its_place(
    changes: dict[str, Any], expected: str
) -> None:
    assert problems(entry(**changes)) == [expected]


def test_every_problem_of_an_entry_is_listed() -> None:
    found = problems({"id": "", "question": "", "answer": None, "tags": [1]})
    assert found == [
        "id: must be an id: 1-64 of a-z, 0-9, '-' and '_'",
        "question: must be non-empty text",
        "answer: must be non-empty text",
        "tags.0: must be non-empty text",
    ]


@pytest.mark.parametrize("data", [None, [], "text", 3, {1: "x"}])
def test_an_entry_that_is_not_a_mapping_is_refused(data: object) -> None:
    assert "(top): must be a mapping with text keys" in problems(data)


def test_a_list_names_the_entry_of_each_problem() -> None:
    data = [entry(id="one"), entry(id="two", answer=""), entry(id="one")]
    assert list_problems(data) == [
        "1.answer: must be non-empty text",
        "2.id: id 'one' is also entry 0",
    ]


def test_a_list_over_the_limit_is_refused() -> None:
    data = [entry(id=f"e{i}") for i in range(MAX_ENTRIES + 1)]
    assert list_problems(data) == ["(top): 501 entries, at most 500"]
    assert len(entries_from_data(data[:MAX_ENTRIES])) == MAX_ENTRIES


def test_yaml_round_trip_keeps_every_field() -> None:
    entries = [
        FaqEntry("b", "Où êtes-vous ?", "À Paris.\nEt à Lyon.", ("lieu",), None, 1.5),
        FaqEntry("a", "Q: with a colon?", "- not a list", (), "f" * 32, 0.0),
    ]
    text = entries_to_yaml(entries)
    assert entries_from_yaml(text) == entries
    assert "recording" not in yaml.safe_load(text)[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- id: a\n  id: b\n", "0: key 'id' appears twice (lines 1 and 2)"),
        ("- &x {id: a}\n- *x\n", "1: aliases are not allowed"),
        ("id: a\n", "(top): must be a list of FAQ entries"),
        ("- [unclosed\n", "(top): not valid YAML"),
        ("", "(top): must be a list of FAQ entries"),
        ("- \x08\n", "(top): not valid YAML (unacceptable character #x0008"),
    ],
)
def test_bad_yaml_is_refused_with_its_place(text: str, expected: str) -> None:
    found = yaml_problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_a_bad_entry_in_the_middle_refuses_the_whole_yaml() -> None:
    good = entries_to_yaml([FaqEntry("a", "Q?", "A.")])
    text = (
        good + "- {id: b, question: 'Q'}\n" + entries_to_yaml([FaqEntry("c", "Q", "A")])
    )
    assert yaml_problems(text) == ["1.answer: must be non-empty text"]


def test_oversized_yaml_is_refused_before_it_is_parsed() -> None:
    text = "- " + "x" * (2 * 1024 * 1024)
    assert yaml_problems(text) == ["(top): over 2097152 characters"]


@given(st.text(max_size=200))
def test_any_text_as_yaml_gives_entries_or_faq_error(text: str) -> None:
    try:
        entries = entries_from_yaml(text)
    except FaqError as err:
        assert err.problems
    else:
        assert isinstance(entries, list)


def demo_entries() -> list[FaqEntry]:
    return entries_from_yaml((IVR / "demo_faq.yaml").read_text(encoding="utf-8"))


def test_the_demo_faq_has_every_entry_the_demo_menu_plays() -> None:
    menu = Menu.from_yaml((IVR / "demo_menu.yaml").read_text(encoding="utf-8"))
    ids = {e.id for e in demo_entries()}
    assert set(menu.faq_ids) <= ids
    assert len(ids) >= len(menu.faq_ids) + 8


def test_demo_answers_are_short_enough_to_speak() -> None:
    for item in demo_entries():
        assert len(item.answer.split()) <= 60, item.id
        assert item.tags, item.id

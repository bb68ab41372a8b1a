"""FAQ entries: the model, and YAML import and export (sans-I/O).

An entry is a question, its answer (short enough to speak), a few tags and
optionally the key of a recorded answer (`ivr.prompts`). Entries come in as
plain data (JSON) or as a YAML list and are refused whole, with every
problem found and the exact place of each, e.g. ``3.answer: 2400
characters, at most 2000``, so an import saves all of its entries or none.
The YAML reader is the menu's: keys as written, no duplicates, no aliases.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import yaml

from ivr.menu import Problem, _join, _mark, _plain, _Reader
from ivr.prompts import KEY_PATTERN
from signaling.errors import IvrError

MAX_QUESTION_CHARS: Final = 300
MAX_ANSWER_CHARS: Final = 2_000
MAX_TAGS: Final = 10
MAX_TAG_CHARS: Final = 32
MAX_ENTRIES: Final = 500
#: An export of MAX_ENTRIES full entries fits, with room for YAML quoting.
MAX_YAML_CHARS: Final = 2 * 1024 * 1024
#: Ids that would shadow a path of the REST API (/api/faq/search...).
RESERVED_IDS: Final = frozenset({"search", "export", "import"})
FIELDS: Final = ("id", "question", "answer", "tags", "recording", "updated")

_ID: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_KEY: Final = re.compile(KEY_PATTERN)


class FaqError(IvrError):
    """FAQ entries that cannot be read; `problems` lists each fault."""

    code = "invalid-faq"
    recoverable = True

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class FaqEntry:
    """One answer to a question customers ask; `updated` is a Unix time."""

    id: str
    question: str
    answer: str
    tags: tuple[str, ...] = ()
    recording: str | None = None
    updated: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "tags": list(self.tags),
            "recording": self.recording,
            "updated": self.updated,
        }

    @classmethod
    def from_dict(cls, data: object) -> FaqEntry:
        reader = _EntryReader()
        entry = reader.entry(data, "")
        if reader.problems:
            raise FaqError(reader.problems)
        return entry


def entries_from_data(data: object) -> list[FaqEntry]:
    """Entries from a list of plain dicts; refused whole with every problem."""
    reader = _EntryReader()
    if not isinstance(data, list):
        raise FaqError([Problem("(top)", "must be a list of FAQ entries")])
    if len(data) > MAX_ENTRIES:
        sentence = f"{len(data)} entries, at most {MAX_ENTRIES}"
        raise FaqError([Problem("(top)", sentence)])
    entries = [reader.entry(item, str(i)) for i, item in enumerate(data)]
    reader.unique(entries)
    if reader.problems:
        raise FaqError(reader.problems)
    return entries


def entries_from_yaml(text: str) -> list[FaqEntry]:
    return entries_from_data(load_yaml(text))


def entries_to_yaml(entries: Iterable[FaqEntry]) -> str:
    """A YAML list that `entries_from_yaml` reads back to the same entries."""
    data = [_exported(e) for e in entries]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=88)


def _exported(entry: FaqEntry) -> dict[str, Any]:
    data = entry.to_dict()
    if entry.recording is None:
        del data["recording"]
    return data


def load_yaml(text: str) -> object:
    """Plain data from YAML, read like a menu document but allowed to be
    larger: a full FAQ is bigger than the largest menu."""
    if len(text) > MAX_YAML_CHARS:
        raise FaqError([Problem("(top)", f"over {MAX_YAML_CHARS} characters")])
    problems: list[Problem] = []
    try:
        # The reader refuses some characters as soon as it is built.
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        raise FaqError([Problem("(top)", f"not valid YAML ({exc})")]) from None
    try:
        data = _plain(loader, loader.get_single_node(), "", problems, set())
    except yaml.YAMLError as exc:
        problem = Problem("(top)", f"not valid YAML ({_mark(exc)})")
        raise FaqError([problem]) from None
    finally:
        loader.dispose()
    if problems:
        raise FaqError(problems)
    return data


class _EntryReader(_Reader):
    """The menu's field readers, plus what only an FAQ entry has."""

    def entry(self, data: object, path: str) -> FaqEntry:
        doc = self.mapping(data, path)
        self.known(doc, path, set(FIELDS))
        entry = FaqEntry(
            id=self.faq_id(doc.get("id"), _join(path, "id")),
            question=self.text(
                doc.get("question"), _join(path, "question"), MAX_QUESTION_CHARS
            ),
            answer=self.text(
                doc.get("answer"), _join(path, "answer"), MAX_ANSWER_CHARS
            ),
            tags=self.tags(doc.get("tags", []), _join(path, "tags")),
            recording=self.recording(doc.get("recording"), _join(path, "recording")),
            updated=self.updated(doc.get("updated", 0), _join(path, "updated")),
        )
        return entry

    def faq_id(self, value: object, path: str) -> str:
        ident = self.ident(value, path)
        if ident in RESERVED_IDS:
            self.fail(path, f"'{ident}' is reserved; choose another id")
        return ident

    def tags(self, value: object, path: str) -> tuple[str, ...]:
        if not isinstance(value, list) or len(value) > MAX_TAGS:
            self.fail(path, f"must be a list of at most {MAX_TAGS} tags")
            return ()
        tags = [
            self.text(v, _join(path, i), MAX_TAG_CHARS) for i, v in enumerate(value)
        ]
        for i, tag in enumerate(tags):
            if tag and tag in tags[:i]:
                self.fail(_join(path, i), f"tag '{tag}' appears twice")
        return tuple(tags)

    def recording(self, value: object, path: str) -> str | None:
        if value is None or (isinstance(value, str) and _KEY.fullmatch(value)):
            return value
        self.fail(path, "must be the key of an uploaded prompt (32 of 0-9, a-f)")
        return None

    def updated(self, value: object, path: str) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if 0 <= value < 1e11:
                return float(value)
        self.fail(path, "must be a time in seconds since 1970")
        return 0.0

    def unique(self, entries: list[FaqEntry]) -> None:
        first: dict[str, int] = {}
        for i, entry in enumerate(entries):
            if entry.id and entry.id in first:
                sentence = f"id '{entry.id}' is also entry {first[entry.id]}"
                self.fail(f"{i}.id", sentence)
            first.setdefault(entry.id, i)

"""Ranked full-text search over FAQ entries (sans-I/O).

The ranking is BM25F: each entry has three fields, the question, the tags
and the answer; a query term found in the question counts three times as
much as in the answer, in a tag twice as much, and each field's length is
normalized against that field's average, so a long answer does not win by
repeating words. Words are folded (case, accents: "Réparation" finds
"reparation"), stop words dropped and stemmed by a light English stemmer
("shipped", "shipping" and "shipment" are one term).

The widget searches as the customer types, so the last word of a query
that does not end in a space is also taken as the start of a word:
"ret" finds "returns" and "retailer". Entries that score the same are
ordered by id, so the same query on the same entries always gives the
same list.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from ivr.faq import FaqEntry

MAX_QUERY_CHARS: Final = 200
MAX_LIMIT: Final = 50
#: A word being typed expands to at most this many words of the index.
MAX_EXPANSIONS: Final = 64
MIN_PREFIX: Final = 2
SNIPPET_WORDS: Final = 24
SNIPPET_LEAD: Final = 6
K1: Final = 1.2
B: Final = 0.75
WEIGHTS: Final = {"question": 3.0, "tags": 2.0, "answer": 1.0}

STOP_WORDS: Final = frozenset(
    """
    a about above after again against all am an and any are as at be
    because been before being below between both but by can could did do
    does doing down during each few for from further get got had has have
    having here how i if in into is it its itself just me more most my
    myself no nor not of off on once only or other our ours out over own
    please same should so some such than that the their them then there
    these they this those through to too under until up us very was we
    were what when where which while who whom why will with would you your
    yours
    """.split()
)
#: Forms the suffix rules cannot reach.
IRREGULAR: Final = {
    "paid": "pay",
    "bought": "buy",
    "sent": "send",
    "broken": "break",
    "broke": "break",
    "children": "child",
}
# (suffix, replacement) tried in order; the first that leaves a stem of at
# least three letters with a vowel wins.
_SUFFIXES: Final = (
    ("ies", "y"),
    ("ied", "y"),
    ("sses", "ss"),
    ("ations", ""),
    ("ation", ""),
    ("ments", ""),
    ("ment", ""),
    ("ings", ""),
    ("ing", ""),
    ("ed", ""),
)
_UNDOUBLE_AFTER: Final = frozenset({"ations", "ation", "ings", "ing", "ed"})
_WORD: Final = re.compile(r"[^\W_]+")
_VOWEL: Final = re.compile(r"[aeiouy]")


@dataclass(frozen=True, slots=True)
class Hit:
    """An entry that matched, its score, and a piece of its answer."""

    entry: FaqEntry
    score: float
    snippet: str


def fold(text: str) -> str:
    """Lower case without accents: "Réparation" -> "reparation"."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare.casefold()


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


@functools.lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """A light English stemmer: plurals, -ing, -ed, -ment, -ation, final e/y.

    It only has to map the forms of one word to the same term; the term
    need not be a word ("charge" -> "charg").
    """
    if word in IRREGULAR:
        return IRREGULAR[word]
    if len(word) <= 3 or not word.isalpha():
        return word
    word, stripped = _strip_suffix(word)
    if stripped in _UNDOUBLE_AFTER and _doubled(word):
        word = word[:-1]
    if len(word) >= 4 and word[-1] in "ey":
        word = word[:-1]
    if len(word) > 4 and word.endswith("ll"):
        word = word[:-1]
    return word


def _strip_suffix(word: str) -> tuple[str, str]:
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix):
            base = word[: -len(suffix)]
            if len(base) >= 3 and _VOWEL.search(base):
                return base + replacement, suffix
    if word.endswith("es") and word[:-2].endswith(("sh", "ch", "x", "z", "ss")):
        return word[:-2], "es"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1], "s"
    return word, ""


def _doubled(word: str) -> bool:
    return len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouylsz"


def terms(text: str) -> list[str]:
    """The index terms of `text`: folded, without stop words, stemmed."""
    return [stem(w) for w in words(text) if _indexed(w)]


def _indexed(word: str) -> bool:
    return word not in STOP_WORDS and (len(word) > 1 or word.isdigit())


@dataclass(frozen=True, slots=True)
class _Token:
    start: int
    end: int
    term: str


class FaqIndex:
    """An immutable index of entries; build a new one when they change."""

    def __init__(self, entries: Iterable[FaqEntry]) -> None:
        self.entries: tuple[FaqEntry, ...] = tuple(sorted(entries, key=_by_id))
        # term -> {entry number: weighted, length-normalized frequency}
        self._postings: dict[str, dict[int, float]] = defaultdict(dict)
        # the folded words as written, sorted, for prefixes; word -> term
        self._surface: dict[str, str] = {}
        self._ids = [e.id for e in self.entries]
        # The answers' words with their places, made when first shown.
        self._answer_tokens: dict[int, list[_Token]] = {}
        self._build()
        self._sorted_surface = sorted(self._surface)

    def __len__(self) -> int:
        return len(self.entries)

    def _build(self) -> None:
        fields = {
            "question": [self._field(e.question) for e in self.entries],
            "tags": [self._field(" ".join(e.tags)) for e in self.entries],
            "answer": [self._field(e.answer) for e in self.entries],
        }
        for name, counts in fields.items():
            lengths = [sum(c.values()) for c in counts]
            average = (sum(lengths) / len(lengths)) if lengths else 0.0
            for number, count in enumerate(counts):
                norm = 1 - B + B * lengths[number] / average if average else 1.0
                for term, tf in count.items():
                    posting = self._postings[term]
                    posting[number] = (
                        posting.get(number, 0.0) + WEIGHTS[name] * tf / norm
                    )

    def _field(self, text: str) -> Counter[str]:
        count: Counter[str] = Counter()
        for word in words(text):
            if _indexed(word):
                term = stem(word)
                self._surface[word] = term
                count[term] += 1
        return count

    def search(self, query: str, limit: int = 5) -> list[Hit]:
        """The best `limit` entries for `query`, best first."""
        limit = max(0, min(limit, MAX_LIMIT))
        groups = self._query_groups(query[:MAX_QUERY_CHARS])
        scores: dict[int, float] = defaultdict(float)
        for group in groups:
            self._score_group(group, scores)
        ids = self._ids
        best = heapq.nsmallest(limit, scores, key=lambda n: (-scores[n], ids[n]))
        return [self._hit(n, scores[n], groups) for n in best]

    def _query_groups(self, query: str) -> list[tuple[str, ...]]:
        """The terms of each query word, sorted; a group scores as one term."""
        typed = words(query)
        typing = bool(typed) and bool(query) and query[-1].isalnum()
        whole = typed[:-1] if typing else typed
        groups = {frozenset({stem(w)}) for w in whole if _indexed(w)}
        if typing:
            groups.add(self._expand(typed[-1]))
        return sorted(tuple(sorted(g)) for g in groups if g)

    def _expand(self, prefix: str) -> frozenset[str]:
        """The terms of the words that start with `prefix`, and its own."""
        found = {stem(prefix)} if _indexed(prefix) else set()
        if len(prefix) < MIN_PREFIX:
            return frozenset(found)
        at = bisect.bisect_left(self._sorted_surface, prefix)
        for word in self._sorted_surface[at : at + MAX_EXPANSIONS]:
            if not word.startswith(prefix):
                break
            found.add(self._surface[word])
        return frozenset(found)

    def _score_group(self, group: Sequence[str], scores: dict[int, float]) -> None:
        """Add one query word's BM25 part to each entry that has it.

        The terms are summed in a fixed order, so equal entries get equal
        scores to the last bit and ties fall to the id.
        """
        frequencies: dict[int, float] = defaultdict(float)
        for term in group:
            for number, tf in self._postings.get(term, {}).items():
                frequencies[number] += tf
        if not frequencies:
            return
        count = len(self.entries)
        df = len(frequencies)
        idf = math.log(1 + (count - df + 0.5) / (df + 0.5))
        for number, tf in frequencies.items():
            scores[number] += idf * tf * (K1 + 1) / (tf + K1)

    def _hit(self, number: int, score: float, groups: list[tuple[str, ...]]) -> Hit:
        entry = self.entries[number]
        matched = {
            term
            for group in groups
            for term in group
            if number in self._postings.get(term, {})
        }
        tokens = self._answer_tokens.get(number)
        if tokens is None:
            tokens = self._answer_tokens[number] = _tokens(entry.answer)
        snippet = _snippet(entry.answer, tokens, matched)
        return Hit(entry, round(score, 6), snippet)


def _by_id(entry: FaqEntry) -> str:
    return entry.id


def _tokens(text: str) -> list[_Token]:
    return [_Token(m.start(), m.end(), _term(m.group())) for m in _WORD.finditer(text)]


@functools.lru_cache(maxsize=65_536)
def _term(raw: str) -> str:
    """The index term of one word as written; "" for a stop word."""
    word = fold(raw)
    return stem(word) if _indexed(word) else ""


def _snippet(text: str, tokens: Sequence[_Token], matched: set[str]) -> str:
    """About SNIPPET_WORDS words of `text` around its first matched term."""
    if not tokens:
        return text[:200]
    first = next((i for i, t in enumerate(tokens) if t.term in matched), 0)
    start = max(0, min(first - SNIPPET_LEAD, len(tokens) - SNIPPET_WORDS))
    end = min(len(tokens), start + SNIPPET_WORDS)
    begin = 0 if start == 0 else tokens[start].start
    finish = len(text) if end == len(tokens) else tokens[end - 1].end
    piece = text[begin:finish].strip()
    prefix = "… " if begin > 0 else ""
    suffix = " …" if finish < len(text) else ""
    return f"{prefix}{piece}{suffix}"

"""FAQ search benchmark: the BM25F index against a naive substring scan.

Both run in this one process over the same entries and the same queries:
the demo FAQ of Northwind Appliances padded with generated entries up to
``--entries`` (500, the most an FAQ may hold), and queries as the widget
sends them while a customer types ("t", "tr", "tra", ... "track my
order"). The naive scan folds case and accents, then counts, for every
entry, how many query words appear as substrings of its text, and keeps
the best five; it is what a first version without an index would do.

For each of the two, searches run back to back for ``--duration`` seconds
and the figures are searches a second, the latency of one search (p50,
p99) and the CPU time per search; then the ratio of the index to the scan.
Building the index is timed too, since a node rebuilds it after every
edit. Nothing here opens a socket or starts a process.

    .venv/bin/python -m benchmarks.faq_search
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from benchmarks.harness import percentile
from ivr.faq import MAX_ENTRIES, FaqEntry, entries_from_yaml
from ivr.search import FaqIndex, fold

DEMO: Final = Path(__file__).resolve().parent.parent / "ivr" / "demo_faq.yaml"
LIMIT: Final = 5
#: What customers type, each sent once per keystroke as they type it.
QUERIES: Final = (
    "when are you open",
    "refund",
    "track my order",
    "I was charged twice",
    "how much is shipping",
    "my washer arrived damaged",
    "return label",
    "is it under warranty",
    "cancel my order",
    "can you install my new dishwasher",
    "invoice copy",
    "do you ship to canada",
)
Search = Callable[[str], list[str]]


def say(text: str) -> None:
    print(text, flush=True)


def as_typed(queries: Sequence[str]) -> list[str]:
    """Every prefix of every query, as the widget sends them."""
    return [q[:n] for q in queries for n in range(1, len(q) + 1)]


def entries(count: int, seed: int = 3) -> list[FaqEntry]:
    """The demo FAQ and generated entries made of its words, `count` in all."""
    demo = entries_from_yaml(DEMO.read_text(encoding="utf-8"))
    words = sorted({w for e in demo for w in (e.question + " " + e.answer).split()})
    tags = sorted({t for e in demo for t in e.tags})
    rng = random.Random(seed)
    made = list(demo)
    while len(made) < count:
        number = len(made)
        made.append(
            FaqEntry(
                id=f"generated-{number:03d}",
                question=" ".join(rng.choices(words, k=rng.randint(4, 10))) + "?",
                answer=" ".join(rng.choices(words, k=rng.randint(25, 60))) + ".",
                tags=tuple(rng.sample(tags, k=rng.randint(1, 3))),
            )
        )
    return made[:count]


def index_search(items: list[FaqEntry]) -> Search:
    index = FaqIndex(items)
    return lambda q: [h.entry.id for h in index.search(q, LIMIT)]


def naive_search(items: list[FaqEntry]) -> Search:
    """Substring counts over folded text; ties by id, as the index does."""
    texts = [(e.id, fold(" ".join((e.question, e.answer, *e.tags)))) for e in items]

    def search(query: str) -> list[str]:
        words = fold(query).split()
        scored = []
        for faq_id, text in texts:
            score = sum(1 for w in words if w in text)
            if score:
                scored.append((-score, faq_id))
        return [faq_id for _, faq_id in sorted(scored)[:LIMIT]]

    return search


def measure(
    search: Search, queries: Sequence[str], duration_s: float
) -> dict[str, Any]:
    """Search the queries round and round for `duration_s` seconds."""
    latencies: list[float] = []
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    deadline = wall_start + duration_s
    while time.perf_counter() < deadline:
        for query in queries:
            started = time.perf_counter()
            search(query)
            latencies.append(time.perf_counter() - started)
    wall = time.perf_counter() - wall_start
    cpu = time.process_time() - cpu_start
    return {
        "searches": len(latencies),
        "per_second": round(len(latencies) / wall, 1),
        "p50_us": round(percentile(latencies, 0.50) * 1e6, 1),
        "p99_us": round(percentile(latencies, 0.99) * 1e6, 1),
        "cpu_us_per_search": round(cpu / len(latencies) * 1e6, 1),
    }


def build_time(items: list[FaqEntry], rounds: int) -> float:
    """Milliseconds to build the index, the best of `rounds`."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        FaqIndex(items)
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 2)


def run(count: int, duration_s: float) -> dict[str, Any]:
    items = entries(count)
    queries = as_typed(QUERIES)
    result: dict[str, Any] = {
        "entries": len(items),
        "queries": len(queries),
        "build_ms": build_time(items, 5),
    }
    for name, make in (("index", index_search), ("naive", naive_search)):
        search = make(items)
        search(queries[0])  # warm up
        result[name] = measure(search, queries, duration_s)
    result["ratio"] = round(
        result["index"]["per_second"] / result["naive"]["per_second"], 2
    )
    return result


def table(result: dict[str, Any]) -> str:
    lines = [
        "| search | searches/s | p50 / p99 | CPU per search |",
        "|---|---|---|---|",
    ]
    for name in ("index", "naive"):
        r = result[name]
        lines.append(
            f"| {name} | {r['per_second']} | {r['p50_us']} / {r['p99_us']} µs "
            f"| {r['cpu_us_per_search']} µs |"
        )
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.faq_search",
        description="FAQ search: the index against a naive substring scan.",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 0.3 s each")
    parser.add_argument(
        "--entries",
        metavar="N",
        type=int,
        choices=range(1, MAX_ENTRIES + 1),
        default=MAX_ENTRIES,
        help=f"entries in the FAQ, 1 to {MAX_ENTRIES} (default {MAX_ENTRIES})",
    )
    parser.add_argument(
        "--duration",
        metavar="S",
        type=float,
        help="seconds of searching for each of the two, up to 60 (default 3)",
    )
    parser.add_argument(
        "--json", metavar="FILE", type=Path, help="also write results here"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    duration = min(60.0, max(0.1, args.duration or (0.3 if args.quick else 3.0)))
    say(f"{args.entries} entries; queries sent per keystroke; {duration:g} s each")
    result = run(args.entries, duration)
    say(f"index built in {result['build_ms']} ms ({result['entries']} entries)")
    say(table(result))
    say(f"index / naive: x{result['ratio']} searches a second")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

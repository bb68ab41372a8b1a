"""The event log and the reports: what writing every journey's steps costs,
and how long a period's report takes.

1. **In process**: a day of generated journeys folded by
   :class:`ivr.ladder.Books`, against a baseline loop that only counts the
   events' kinds (the least any fold must do): events a second each, and
   the ratio.
2. **Through Redis** (Debian's redis-server on a loopback port, AOF on,
   fsync every second, started and stopped here): appending with
   :meth:`gateway.events.EventLog.record` (retention trimming included)
   against a bare ``XADD`` from the same client; then the day's report
   (``Reports.report``: read and fold) against reading the same entries
   with ``XRANGE`` alone.

Run inside a namespace that has only loopback::

    unshare -n sh -c 'ip link set lo up; .venv/bin/python -m benchmarks.reports'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Final

from redis.asyncio import Redis

from benchmarks.harness import RedisServer
from gateway.api_reports import Period, Reports
from gateway.events import EventLog
from gateway.store import connect
from ivr.ladder import Books, Costs

Event = tuple[float, dict[str, str]]

DAY_S: Final = 86_400
#: Share of each journey in the generated day (a web-heavy mix).
MIX: Final = {"self": 0.45, "ivr": 0.25, "agent": 0.18, "gone": 0.05, "cb": 0.04}


def say(text: str) -> None:
    print(text, flush=True)


def journey(kind: str, at: float, key: str, rng: random.Random) -> list[Event]:
    """The events of one generated interaction, starting at `at`."""
    if kind == "self":
        return [(at, {"kind": "faq.viewed", "visit": key, "detail": "faq-a"})]
    steps: list[Event] = [
        (at, {"kind": "ivr.node", "call": key, "node": "root", "menu": "main@1"}),
        (at + 1, {"kind": "ivr.offer", "call": key, "detail": "faq", "node": "root"}),
    ]
    wait = str(rng.randint(1000, 90_000))
    if kind == "agent":
        steps += [
            (at + 2, {"kind": "queued", "call": key}),
            (at + 9, {"kind": "answered", "call": key, "agent": "u1", "wait_ms": wait}),
        ]
    elif kind == "gone":
        steps += [
            (at + 2, {"kind": "queued", "call": key}),
            (at + 9, {"kind": "abandoned", "call": key, "wait_ms": wait}),
        ]
    elif kind == "cb":
        steps.append((at + 2, {"kind": "callback.requested", "call": key}))
    elif kind == "line":
        steps.append((at + 2, {"kind": "tollfree", "call": key, "reason": "menu"}))
    steps.append((at + 60, {"kind": "ended", "call": key, "detail": "customer"}))
    return steps


def day(events_wanted: int, start: float, seed: int = 7) -> list[Event]:
    rng = random.Random(seed)
    kinds = [*MIX, "line"]
    weights = [*MIX.values(), 1 - sum(MIX.values())]
    events: list[Event] = []
    n = 0
    while len(events) < events_wanted:
        kind = rng.choices(kinds, weights)[0]
        at = start + rng.uniform(0, DAY_S - 120)
        events += journey(kind, at, f"j{n}", rng)
        n += 1
    events.sort(key=lambda e: e[0])
    return events


def timed(work: Any) -> float:
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


def in_process(events: list[Event], start: float) -> dict[str, Any]:
    def fold() -> None:
        books = Books(start, start + DAY_S)
        for at, event in events:
            books.add(at, event)
        books.report(Costs())

    def count() -> None:
        kinds: Counter[str] = Counter()
        for _at, event in events:
            kinds[event["kind"]] += 1

    fold_s, count_s = timed(fold), timed(count)
    return {
        "events": len(events),
        "fold_per_s": round(len(events) / fold_s),
        "count_per_s": round(len(events) / count_s),
        "ratio": round(count_s / fold_s, 3),
    }


async def through_redis(url: str, events: list[Event], start: float) -> dict[str, Any]:
    redis = await connect(url)
    try:
        return await _measure(redis, events, start)
    finally:
        await redis.aclose()


async def _measure(redis: Redis, events: list[Event], start: float) -> dict[str, Any]:
    writes = min(len(events), 5000)
    log = EventLog(redis, lambda *p: "bench:" + ":".join(p))
    began = time.perf_counter()
    for _at, event in events[:writes]:
        fields = {k: v for k, v in event.items() if k not in ("kind", "call")}
        await log.record(event["kind"], event.get("call", ""), **fields)
    record_s = time.perf_counter() - began
    began = time.perf_counter()
    for _at, event in events[:writes]:
        await redis.xadd("bench:bare", event)  # type: ignore[arg-type]
    bare_s = time.perf_counter() - began

    # The day at its own times, written in pipelines (not measured).
    def day_key(*parts: str) -> str:
        return "bench:day:" + ":".join(parts)

    stream = day_key("events")
    async with redis.pipeline(transaction=False) as pipe:
        for i, (at, event) in enumerate(events):
            # The index as sequence number keeps ids rising within a ms.
            pipe.xadd(stream, event, id=f"{int(at * 1000)}-{i}")  # type: ignore[arg-type]
            if i % 5000 == 4999:
                await pipe.execute()
        await pipe.execute()
    day_log = EventLog(redis, day_key)

    async def zone() -> str:
        return "UTC"

    reports = Reports(redis, day_key, day_log, zone)
    began = time.perf_counter()
    report = await reports.report(Period(start, start + DAY_S), bucket="hour")
    report_s = time.perf_counter() - began
    began = time.perf_counter()
    read = 0
    async for _entry in day_log.read(start - 7200, start + DAY_S + 7200):
        read += 1
    read_s = time.perf_counter() - began
    return {
        "writes": writes,
        "record_per_s": round(writes / record_s),
        "bare_xadd_per_s": round(writes / bare_s),
        "write_ratio": round(bare_s / record_s, 3),
        "events": len(events),
        "read": read,
        "report_s": round(report_s, 3),
        "xrange_s": round(read_s, 3),
        "report_ratio": round(read_s / report_s, 3),
        "interactions": report["interactions"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reports")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="2000 events")
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    wanted = 2000 if args.quick else max(100, args.events)
    start = float(int(time.time() // DAY_S) * DAY_S - 3 * DAY_S)
    events = day(wanted, start)
    result: dict[str, Any] = {"in_process": in_process(events, start)}
    p = result["in_process"]
    say(f"{p['events']} events, one day of generated journeys")
    say("| phase | events/s | baseline events/s | ratio |")
    say("|---|---|---|---|")
    say(
        f"| fold (Books) | {p['fold_per_s']} | {p['count_per_s']} (count kinds) "
        f"| x{p['ratio']} |"
    )
    if not args.no_redis:
        folder = Path(tempfile.mkdtemp(prefix="helpline-bench-reports-"))
        try:
            server = RedisServer(folder)
            try:
                r = asyncio.run(through_redis(server.url, events, start))
            finally:
                server.stop()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        result["redis"] = r
        say(
            f"| EventLog.record | {r['record_per_s']} | {r['bare_xadd_per_s']} "
            f"(bare XADD) | x{r['write_ratio']} |"
        )
        say(
            f"| report of the day (read + fold) | {round(r['read'] / r['report_s'])} "
            f"| {round(r['read'] / r['xrange_s'])} (XRANGE only) | "
            f"x{r['report_ratio']} |"
        )
        say(
            f"report: {r['interactions']} interactions from {r['read']} events "
            f"in {r['report_s']} s (XRANGE alone {r['xrange_s']} s)"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

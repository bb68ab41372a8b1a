"""IVR benchmark, end to end: customers walk the demo menu over ``/ws``.

Helpline runs as a real process (``helpline run``, see ``harness``) on a
fresh data folder with the demo content seeded (``HELPLINE_DEMO=1``: the
FAQ, the Northwind menu published as the entry, the demo calendar). The
demo calendar may say closed when the benchmark runs, so an operator,
created in Redis through ``gateway.accounts``, sets an always-open
calendar with ``PUT /api/hours`` and every call takes the open path.

Each customer is a page: a new session (``hello``), ``call.place``, every
``ivr.prompt`` reported finished at once (``ivr.prompt_done``), then the
page's answer once the prompt of the menu or form on screen is done: 1 at
the welcome menu (billing), 2 at billing-next (a callback), and the
callback form sent with a US number and the first window, until
``call.state`` ``ended`` with reason ``callback-requested``. One walk is
fourteen IVR events in the call's log: the start, eight prompts finished
(the last tells the caller when to expect the call), two digits, the
form, the request kept and the end. The walks cycle
through a hundred numbers, so Helpline runs with the callback limits at
their most (``harness.Helpline``).

A node keeps the interpreter of each call whose last event it took
(``IvrCalls._state``), so an event costs one ``LLEN``; it replays the log
(``LRANGE``) only for a call it does not hold. A page's requests all reach
the worker that holds its socket; timers come due on whichever node's
sweep claims them. ``LRANGE`` calls beyond the one each call's start makes
(of an empty log) are the replays.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import signal
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
from argon2 import PasswordHasher

from benchmarks import signaling
from benchmarks.harness import (
    TIMEOUT_S,
    Event,
    Helpline,
    Peer,
    ServerError,
    Usage,
    call_state,
    cpu_ms_per,
    describe_error,
    ms,
    per,
    serving,
)
from benchmarks.signaling import PASSWORD, login, within
from gateway.accounts import Accounts
from gateway.ivr_calls import encode_event
from gateway.routing import Routing
from ivr.hours import always_open
from ivr.interpreter import CallEnded

#: What the page keys at each menu of the walk.
KEYS: Final = {"welcome": "1", "billing-next": "2"}
CALLBACK_NODE: Final = "billing-callback"
ENTRY_MENU: Final = "northwind-main"
EVENTS_PER_WALK: Final = 14
#: The last entry of a call's IVR log once the call has ended.
ENDED: Final = json.dumps(encode_event(CallEnded()))
SETTLE_POLL_S: Final = 0.02
TOP_COMMANDS: Final = 8
OPERATOR: Final = "bench-operator"
#: Logged by ``IvrCalls._feed`` for an event of a call no longer in the IVR.
IGNORED: Final = "IVR event for a call not in the IVR ignored"
WARM_UP_WALKS: Final = 8
IDLE_S: Final = 2.0
#: Longest wait for the first late timer to come due.
LATE_WAIT_S: Final = 10.0
COLUMNS: Final = (
    "workers",
    "walks/s",
    "requests/s (events/s)",
    "request -> next IVR event p50 / p99",
    "place -> first IVR event p50 / p99",
    "CPU-ms per walk (helpline + redis)",
    "CPU-ms per event",
    "Redis commands per event",
    "LRANGE / LLEN per walk (replays)",
)


@dataclass(frozen=True)
class WalkOptions:
    workers: tuple[int, ...]
    walkers: int
    duration_s: float
    late_s: float
    redis: str
    keep: bool


def say(text: str) -> None:
    print(text, flush=True)


# One walk, as the page does it


def callback_number(index: int) -> str:
    """A valid US number for each walk, in the range kept for fiction."""
    return f"+1 212 555 01{index % 100:02}"


@dataclass
class Page:
    """What the customer's page sends for each IVR event of one call."""

    call_id: str
    number: str
    shown: str = ""  # the node whose menu or callback form is on screen
    windows: Sequence[str] = ()

    def react(self, event: Event) -> list[Event]:
        kind = event["type"]
        if kind in ("ivr.menu", "ivr.callback_form"):
            self.shown = event["node"]
            self.windows = event.get("windows", ())
            return []
        if kind != "ivr.prompt":
            return []
        done = {"type": "ivr.prompt_done", "call_id": self.call_id}
        requests: list[Event] = [{**done, "play": event["play"]}]
        if event["node"] == self.shown:
            requests.append(self.answer())
        return requests

    def answer(self) -> Event:
        """The key at a menu, or the callback form, after its prompt."""
        node, self.shown = self.shown, ""
        if node in KEYS:
            return {"type": "ivr.digit", "call_id": self.call_id, "digit": KEYS[node]}
        if node == CALLBACK_NODE and self.windows:
            return {
                "type": "ivr.callback",
                "call_id": self.call_id,
                "node": node,
                "number": self.number,
                "window": self.windows[0],
            }
        raise ServerError(f"the walk got lost at {node}")


def ivr_event(event: Event) -> bool:
    kind = str(event["type"])
    return kind.startswith("ivr.") or kind == "call.state"


@dataclass
class Tally:
    """What the walks of one run did, as the pages saw it."""

    walks: int = 0
    placed: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    #: Per request type: from its send to the next IVR event received.
    latencies: defaultdict[str, list[float]] = field(
        default_factory=lambda: defaultdict(list)
    )
    call_ids: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)


async def walk(http: aiohttp.ClientSession, server: Helpline, tally: Tally) -> None:
    """One customer: a new session, one call walked to its callback."""
    hello = {"role": "customer", "name": "Walker"}
    peer, _ = await Peer.open(http, server.ws_url, hello)
    try:
        placed = await peer.send({"type": "call.place"})
        tally.placed += 1
        _, state = await peer.expect(call_state("ivr"))
        tally.call_ids.append(state["call_id"])
        page = Page(state["call_id"], callback_number(tally.placed))
        end = await follow(peer, page, tally, ("call.place", placed))
        if end.get("state") != "ended" or end.get("reason") != "callback-requested":
            raise ServerError(f"the walk ended in {end.get('state')}")
        tally.walks += 1
        tally.ended.append(state["call_id"])
    finally:
        await peer.close()


async def follow(
    peer: Peer, page: Page, tally: Tally, last: tuple[str, float] | None
) -> Event:
    """The page's requests until the call leaves the IVR; each request that
    the page then waits on is timed to the next IVR event."""
    while True:
        stamp, event = await peer.expect(ivr_event)
        if last is not None:
            tally.latencies[last[0]].append(stamp - last[1])
            last = None
        if event["type"] == "call.state":
            return event
        for request in page.react(event):
            last = request["type"], await peer.send(request)
            tally.requests[request["type"]] += 1


async def walker(
    http: aiohttp.ClientSession, server: Helpline, tally: Tally, until: float
) -> None:
    """One walk after another on one line, until ``until``."""
    while time.perf_counter() < until:
        try:
            await walk(http, server, tally)
        except (ServerError, TimeoutError, aiohttp.ClientError) as exc:
            tally.failures[describe_error(exc)] += 1


# Measuring


@dataclass
class Snapshot:
    """The server's counters at a moment."""

    usage: Usage
    commands: Counter[str]
    log_bytes: int


async def snapshot(server: Helpline) -> Snapshot:
    stats = await server.shared_store.redis.info("commandstats")
    commands = Counter(
        {name.removeprefix("cmdstat_"): int(s["calls"]) for name, s in stats.items()}
    )
    size = server.log.stat().st_size
    return Snapshot(await server.usage(), commands, size)


def commands_between(before: Snapshot, after: Snapshot) -> Counter[str]:
    commands = after.commands - before.commands
    for own in ("info", "lindex"):  # the benchmark's own, never Helpline's
        commands.pop(own, None)
    return commands


def timers_key(server: Helpline) -> str:
    return Routing(server.shared_store.redis).key("timers")


async def armed(server: Helpline) -> Counter[str]:
    """The timers waiting in Redis, by kind (``ivr``, ``grace``, ...)."""
    members = await server.shared_store.redis.zrange(timers_key(server), 0, -1)
    return Counter(str(member).partition(":")[0] for member in members)


def ignored_between(server: Helpline, before: Snapshot, after: Snapshot) -> int:
    """Events the IVR ignored (timers of calls that ended), from the log."""
    with server.log.open("rb") as log:
        log.seek(before.log_bytes)
        return log.read(after.log_bytes - before.log_bytes).count(IGNORED.encode())


async def settle(server: Helpline, call_ids: list[str]) -> None:
    """Wait until the log of every call that ended ends with its end: the
    node appends it just after it tells the page the call ended."""
    redis = server.shared_store.redis
    routing = Routing(redis)
    waiting = list(call_ids)
    deadline = time.monotonic() + TIMEOUT_S
    while waiting and time.monotonic() < deadline:
        async with redis.pipeline(transaction=False) as pipe:
            for call_id in waiting:
                pipe.lindex(routing.key("call", call_id, "ivr"), -1)
            last = await pipe.execute()
        waiting = [c for c, e in zip(waiting, last, strict=True) if e != ENDED]
        if waiting:
            await asyncio.sleep(SETTLE_POLL_S)


async def logged_events(server: Helpline, call_ids: list[str]) -> int:
    """Events in the logs of these calls: what the IVR took for them."""
    redis = server.shared_store.redis
    routing = Routing(redis)
    async with redis.pipeline(transaction=False) as pipe:
        for call_id in call_ids:
            pipe.llen(routing.key("call", call_id, "ivr"))
        return sum(int(n) for n in await pipe.execute())


async def timed_walk(
    http: aiohttp.ClientSession, server: Helpline, tally: Tally
) -> float:
    started = time.perf_counter()
    await walk(http, server, tally)
    return time.perf_counter() - started


async def one_at_a_time(http: aiohttp.ClientSession, server: Helpline) -> Event:
    """Walks one after another once the prompts are rendered: the warm-up,
    and the latencies of a server with nothing else to do."""
    tally = Tally()
    walks = [await timed_walk(http, server, tally) for _ in range(WARM_UP_WALKS)]
    timed = [t for k, v in tally.latencies.items() if k != "call.place" for t in v]
    return {"walk": ms(walks), "request_to_event": ms(timed)}


async def measure(
    http: aiohttp.ClientSession, server: Helpline, opts: WalkOptions
) -> Event:
    """``walkers`` pages in a closed loop for ``duration_s``, then drained:
    every figure counts the same walks, from first request to last event."""
    tally = Tally()
    timers = await armed(server)
    before = await snapshot(server)
    until = before.usage.wall + opts.duration_s
    await asyncio.gather(
        *(walker(http, server, tally, until) for _ in range(opts.walkers))
    )
    await settle(server, tally.ended)
    after = await snapshot(server)
    timers = await armed(server) - timers
    events = await logged_events(server, tally.call_ids)
    result = figures(tally, after.usage.minus(before.usage), events)
    result.update(commands_figures(commands_between(before, after), tally, events))
    result["ignored_events"] = ignored_between(server, before, after)
    result["timers_left_per_walk"] = {
        kind: per(count, tally.walks) for kind, count in sorted(timers.items())
    }
    return result


def figures(tally: Tally, used: Usage, events: int) -> Event:
    walks = tally.walks
    sent = sum(tally.requests.values())
    timed = {k: v for k, v in tally.latencies.items() if k != "call.place"}
    return {
        "walks": walks,
        "seconds": round(used.wall, 2),
        "walks_per_s": round(walks / used.wall, 1),
        "requests": dict(tally.requests),
        "requests_per_s": round(sent / used.wall, 1),
        "events": events,
        "events_per_walk": per(events, tally.placed),
        "events_per_s": round(events / used.wall, 1),
        "request_to_event": ms([t for v in timed.values() for t in v]),
        "by_request": {kind: ms(v) for kind, v in sorted(timed.items())},
        "place_to_first_event": ms(tally.latencies["call.place"]),
        "helpline_cpu_ms_per_walk": cpu_ms_per(used.helpline_cpu, walks),
        "redis_cpu_ms_per_walk": cpu_ms_per(used.redis_cpu, walks),
        "helpline_cpu_ms_per_event": cpu_ms_per(used.helpline_cpu, events),
        "redis_cpu_ms_per_event": cpu_ms_per(used.redis_cpu, events),
        "client_core_pct": used.client_pct,
        "others_core_pct": used.others_pct,
        "failures": dict(tally.failures),
    }


def commands_figures(commands: Counter[str], tally: Tally, events: int) -> Event:
    """Redis commands per event and per walk; the replays, from LRANGE: one
    per call is its start's (of an empty log), the others are replays."""
    walks = tally.walks
    return {
        "redis_commands_per_event": per(sum(commands.values()), events),
        "redis_commands_per_walk": {
            name: per(n, walks) for name, n in commands.most_common()
        },
        "lrange_per_walk": per(commands["lrange"], walks),
        "llen_per_walk": per(commands["llen"], walks),
        "replays": commands["lrange"] - tally.placed,
    }


async def idle(server: Helpline, seconds: float) -> float:
    """Server CPU-ms a second with no calls (sweeps, heartbeats)."""
    before = await server.usage()
    await asyncio.sleep(seconds)
    used = (await server.usage()).minus(before)
    return cpu_ms_per(used.helpline_cpu + used.redis_cpu, 1, 1 / used.wall)


async def late_timers(server: Helpline, seconds: float, idle_rate: float) -> Event:
    """The timers that ended walks left armed (prompt guards, menu input),
    as they come due: from when the first is due, for ``seconds``."""
    redis = server.shared_store.redis
    first = await redis.zrange(timers_key(server), 0, 0, withscores=True)
    if first and str(first[0][0]).startswith("ivr:"):
        wait = min(LATE_WAIT_S, float(first[0][1]) - time.time())
        await asyncio.sleep(max(0.0, wait) + 0.3)
    before = await snapshot(server)
    await asyncio.sleep(seconds)
    after = await snapshot(server)
    used = after.usage.minus(before.usage)
    fired = ignored_between(server, before, after)
    busy = (used.helpline_cpu + used.redis_cpu) * 1000 - idle_rate * used.wall
    commands = commands_between(before, after)
    overdue, lag_s = await backlog(server)
    return {
        "seconds": round(used.wall, 2),
        "fired": fired,
        "fired_per_s": round(fired / used.wall, 1),
        "cpu_ms_per_timer": round(busy / fired, 3) if fired else math.nan,
        "redis_commands_per_timer": per(sum(commands.values()), fired),
        "overdue_at_end": overdue,
        "oldest_overdue_s": lag_s,
    }


async def backlog(server: Helpline) -> tuple[int, float]:
    """Timers past due and not yet claimed, and how late the oldest is."""
    redis, now = server.shared_store.redis, time.time()
    overdue = int(await redis.zcount(timers_key(server), "-inf", now))
    first = await redis.zrange(timers_key(server), 0, 0, withscores=True)
    late = now - float(first[0][1]) if overdue and first else 0.0
    return overdue, round(late, 2)


# One server


async def open_line(http: aiohttp.ClientSession, server: Helpline) -> None:
    """An operator sets an always-open calendar through the API."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    accounts = Accounts(server.shared_store, hasher=cheap)
    await accounts.add_user(OPERATOR, PASSWORD, "operator")
    token = await login(http, server, OPERATOR)
    headers = {"Authorization": f"Bearer {token}"}
    body = always_open().to_dict()
    async with http.put(server.url + "/api/hours", json=body, headers=headers) as r:
        r.raise_for_status()


async def entry_menu(http: aiohttp.ClientSession, server: Helpline) -> str | None:
    async with http.get(server.url + "/healthz") as response:
        health = await response.json()
    entry: str | None = health["components"]["ivr"]["entry_menu"]
    return entry


async def bench_workers(workers: int, opts: WalkOptions, folder: Path) -> Event:
    server = Helpline(workers, folder, opts.redis, "INFO", demo=True)
    connector = aiohttp.TCPConnector(limit=0)
    async with serving(server), aiohttp.ClientSession(connector=connector) as http:
        return await on_server(http, server, opts)


async def on_server(
    http: aiohttp.ClientSession, server: Helpline, opts: WalkOptions
) -> Event:
    nodes = await server.wait_ready(http)
    entry = await entry_menu(http, server)
    if entry != ENTRY_MENU:
        raise RuntimeError(f"the demo menu is not the entry menu ({entry})")
    await open_line(http, server)
    idle_rate = await idle(server, IDLE_S)
    result: Event = {"workers": server.workers, "nodes": len(nodes)}
    result["redis"] = server.redis_kind
    result["first_walk_s"] = round(await timed_walk(http, server, Tally()), 3)
    result["alone"] = await one_at_a_time(http, server)
    result["walks"] = await measure(http, server, opts)
    if opts.late_s:
        result["late_timers"] = await late_timers(server, opts.late_s, idle_rate)
    result["idle_cpu_ms_per_s"] = idle_rate
    report(result)
    return result


def report(r: Event) -> None:
    w = r["walks"]
    say(
        f"   {r['workers']} worker(s), {r['nodes']} node(s); Redis {r['redis']}; "
        f"idle {r['idle_cpu_ms_per_s']} CPU-ms/s"
    )
    alone = r["alone"]
    say(
        f"   first walk {r['first_walk_s']:.2f} s (prompts rendered); then "
        f"{alone['walk']['count']} walks one at a time: p50 "
        f"{alone['walk']['p50_ms']} ms a walk, request -> next IVR event p50 / "
        f"p99 {alone['request_to_event']['p50_ms']} / "
        f"{alone['request_to_event']['p99_ms']} ms"
    )
    say(
        f"   {w['walks']} walks in {w['seconds']} s, {w['events']} IVR events "
        f"({w['events_per_walk']} a walk), {w['replays']} replays; load "
        f"generator {w['client_core_pct']}% of a core, others {w['others_core_pct']}%"
    )
    most = dict(list(w["redis_commands_per_walk"].items())[:TOP_COMMANDS])
    say(f"   Redis commands a walk, the most called: {listed(most)}")
    say(
        "   request -> next IVR event p50 / p99: "
        + ", ".join(
            f"{kind} {t['p50_ms']} / {t['p99_ms']} ms"
            for kind, t in w["by_request"].items()
        )
    )
    say(
        f"   timers a walk leaves armed: {listed(w['timers_left_per_walk'])}; "
        f"IVR timers of ended calls fired during the walks: {w['ignored_events']}"
    )
    if "late_timers" in r:
        late = r["late_timers"]
        say(
            f"   late timers: {late['fired']} fired in {late['seconds']} s "
            f"({late['fired_per_s']}/s), {late['cpu_ms_per_timer']} CPU-ms and "
            f"{late['redis_commands_per_timer']} Redis commands each beyond idle; "
            f"then {late['overdue_at_end']} overdue, the oldest by "
            f"{late['oldest_overdue_s']} s"
        )
    for what, count in w["failures"].items():
        say(f"   failed: {count} x {what}")


def listed(counts: dict[str, float]) -> str:
    return ", ".join(f"{name} {n:g}" for name, n in counts.items())


def table(results: list[Event]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in results:
        w = r["walks"]
        cells = [
            r["workers"],
            w["walks_per_s"],
            f"{w['requests_per_s']} ({w['events_per_s']})",
            f"{w['request_to_event']['p50_ms']} / {w['request_to_event']['p99_ms']} ms",
            f"{w['place_to_first_event']['p50_ms']} / "
            f"{w['place_to_first_event']['p99_ms']} ms",
            f"{w['helpline_cpu_ms_per_walk']} + {w['redis_cpu_ms_per_walk']}",
            f"{w['helpline_cpu_ms_per_event']} + {w['redis_cpu_ms_per_event']}",
            w["redis_commands_per_event"],
            f"{w['lrange_per_walk']} / {w['llen_per_walk']} ({w['replays']})",
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


# Running


async def bench(opts: WalkOptions, folder: Path) -> list[Event]:
    """Each worker count in turn; SIGTERM, like Ctrl-C, cancels the run so
    that each server is stopped on the way out."""
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    say(
        f"phase 3 end to end: {opts.walkers} customers at once for "
        f"{opts.duration_s:g} s, workers {list(opts.workers)}"
    )
    results = [await bench_workers(n, opts, folder) for n in opts.workers]
    say(table(results))
    return results


def run_walks(opts: WalkOptions) -> list[Event]:
    """Phase 3; every server it started is stopped however it ends."""
    folder = Path(tempfile.mkdtemp(prefix="helpline-bench-walks-"))
    try:
        return asyncio.run(bench(opts, folder))
    finally:
        if opts.keep:
            say(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


# Options, for ``benchmarks.ivr``


#: Phase 3's options; those it shares with the signaling benchmark as there.
SHARED: Final = dict(signaling.OPTIONS)
OPTIONS: Final[list[tuple[str, dict[str, Any]]]] = [
    ("--workers", SHARED["--workers"]),
    ("--walkers", dict(metavar="N", type=within(int, 1, 200),
                       help="phase 3: customers walking at once (20; quick 5)")),
    ("--walk-duration", dict(metavar="S", type=within(float, 0.5, 20),
                             help="phase 3: seconds of walks (5; quick 1.5)")),
    ("--late", dict(metavar="S", type=within(float, 0, 20),
                    help="phase 3: seconds watching late timers (4; quick 0)")),
    ("--redis", SHARED["--redis"]),
    ("--no-walks", dict(action="store_true", help="skip phase 3")),
    ("--walks-only", dict(action="store_true", help="phase 3 only")),
    ("--keep", SHARED["--keep"]),
]  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for flag, settings in OPTIONS:
        parser.add_argument(flag, **settings)


def walk_options(args: argparse.Namespace) -> WalkOptions:
    return WalkOptions(
        workers=args.workers,
        walkers=args.walkers or (5 if args.quick else 20),
        duration_s=args.walk_duration or (1.5 if args.quick else 5.0),
        late_s=(0.0 if args.quick else 4.0) if args.late is None else args.late,
        redis=args.redis,
        keep=args.keep,
    )

"""IVR benchmark: what the replay design of ``gateway.ivr_calls`` costs.

A web call's IVR state is the list of events it took, kept in Redis; for
every new event a node reads the list, replays it into a fresh
``ivr.interpreter.Interpreter``, feeds the new event and appends it with a
compare-and-set (a Lua script). Any node serves any call and a node that
dies loses nothing, at the price of a replay per event that grows with the
log (``MAX_EVENTS``, 1000, caps it). This prices that design.

The log is made by a scripted caller walking the demo menu of Northwind
Appliances (``ivr/demo_menu.yaml``, hours "open", callback numbers of US
and CA): it listens, keys during prompts, clicks menu buttons, lets a
prompt time out once, types a key during an FAQ answer (dropped), and asks
to hear menus and answers again, for as long as the longest log needs.
Each event is kept as Redis keeps it: ``json.dumps(encode_event(event))``.

1. **In process**, no server: for each log length, the replay path
   (``replay()``, handling the next event of the walk, encoding it) against
   the baseline of an interpreter kept in memory, which only handles that
   event. Both run on the same interpreter state in the same loop.
2. **Through Redis**: Debian's redis-server on a loopback port, reached
   with the client Helpline uses (``gateway.store.connect``). One event is
   what ``IvrCalls._feed`` does short of carrying the actions out: the
   call's record (``HGETALL``), the log (``LRANGE``), the replay, the next
   event, the Lua append. Every call is seeded with a log of the length
   measured and takes one event, so every event replays that many.
3. **End to end** (``benchmarks.ivr_walks``): Helpline run as a real
   process with the demo content, customers walking the demo menu over
   ``/ws`` as pages do, with one worker and then two.

Run it inside a network namespace that has only loopback::

    unshare --net --pid --fork --mount-proc --kill-child sh -c \\
      'ip link set lo up && .venv/bin/python -m benchmarks.ivr'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import shutil
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Final

from redis.asyncio import Redis

from benchmarks import ivr_walks
from benchmarks.harness import (
    REPO,
    RedisServer,
    client_cpu,
    cpu_seconds,
    machine_busy,
    percentile,
)
from gateway import ivr_calls
from gateway.ivr_calls import (
    LOG_TTL_S,
    MAX_EVENTS,
    call_field,
    encode_event,
    replay,
)
from gateway.routing import Routing
from gateway.store import connect
from ivr.interpreter import (
    INPUT,
    Action,
    CallStarted,
    Digit,
    Event,
    FormSubmitted,
    Interpreter,
    Phase,
    PlayPrompt,
    PromptFinished,
    TimerFired,
)
from ivr.menu import Menu
from ivr.numbers import check_callback_number
from signaling.calls import CallState

MENU_FILE: Final = REPO / "ivr" / "demo_menu.yaml"
COUNTRIES: Final = ("US", "CA")
CALL_ID: Final = "c-benchmark"
LENGTHS: Final = (10, 50, 200, 1000)
REDIS_LENGTHS: Final = (10, 200)
CONCURRENCY: Final = (1, 50)
MIN_RUNS: Final = 20
MAX_RUNS: Final = 200_000
#: Log entries seeded in Redis for one measurement, at the most.
MAX_SEEDED: Final = 1_000_000
SEED_BATCH: Final = 100
#: What the append script runs inside Redis; the rest are round trips.
IN_SCRIPT: Final = frozenset(
    name.lower() for name in re.findall(r"redis\.call\('(\w+)'", ivr_calls._APPEND)
)
#: What the caller keys at each menu, visit after visit: every branch of
#: the main menu, and "hear again"; never an offer that ends the IVR.
CHOICES: Final = {
    "welcome": "123*",
    "billing-next": "1*",
    "shipping-next": "1*",
    "returns-next": "1*",
}
#: How the caller answers a menu, one way per visit in turn: listen, then
#: key; key during the prompt; click the button; let it time out once.
MANNERS: Final = (
    ("done", "key"),
    ("key",),
    ("click",),
    ("done", "timeout", "done", "key"),
)
WHOLE_STRIDE: Final = 10  # prefixes timed for a whole call: every tenth
STRAY_EVERY: Final = 5  # a key typed during every fifth FAQ announcement
REPLAY_COLUMNS: Final = (
    "log length",
    "log bytes",
    "next event",
    "replay + event p50 / p99",
    "CPU",
    "in memory p50 / p99",
    "CPU",
    "ratio p50 (CPU)",
)
REDIS_COLUMNS: Final = (
    "log length",
    "calls at once",
    "events/s",
    "p50 / p99",
    "client CPU (of it replay)",
    "Redis CPU",
    "others",
    "Redis commands per event",
)


def say(text: str) -> None:
    print(text, flush=True)


def policy(raw: str) -> str:
    return check_callback_number(raw, COUNTRIES)


def load_menu() -> Menu:
    return Menu.from_yaml(MENU_FILE.read_text(encoding="utf-8"))


# The scripted caller


@dataclass
class Caller:
    """Walks the menu as a caller in the page would, reacting to actions."""

    menu: Menu
    interp: Interpreter = field(init=False)
    playing: int = 0
    announcements: int = 0
    manners: int = 0
    visits: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.interp, _ = replay(self.menu, CALL_ID, "open", [], policy)

    def walk(self, count: int) -> list[Event]:
        events: list[Event] = []
        steps = ["start"]
        while len(events) < count:
            if not steps:
                steps = self.plan()
            event = self.event(steps.pop(0))
            self.heard(self.interp.handle(event))
            events.append(event)
        return events

    def plan(self) -> list[str]:
        """The next few steps, from where the call is now."""
        phase, node = self.interp.phase, self.interp.node_id
        if phase is Phase.ANNOUNCING:
            self.announcements += 1
            stray = self.announcements % STRAY_EVERY == 0
            return ["stray", "done"] if stray else ["done"]
        if phase is not Phase.PROMPTING or node not in CHOICES:
            raise RuntimeError(f"the scripted caller got lost at {node} ({phase})")
        keys = CHOICES[node]
        choice = keys[self.visits[node] % len(keys)]
        self.visits[node] += 1
        manner = MANNERS[self.manners % len(MANNERS)]
        self.manners += 1
        return [f"{s}:{choice}" if s in ("key", "click") else s for s in manner]

    def event(self, step: str) -> Event:
        what, _, digit = step.partition(":")
        steps: dict[str, Callable[[], Event]] = {
            "start": CallStarted,
            "done": lambda: PromptFinished(self.playing),
            "timeout": lambda: TimerFired(INPUT),
            "stray": lambda: Digit("5"),
            "click": lambda: FormSubmitted("menu", {"choice": digit}),
            "key": lambda: Digit(digit),
        }
        return steps[what]()

    def heard(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, PlayPrompt):
                self.playing = action.play


def encoded(events: Sequence[Event]) -> list[str]:
    """The events as the node appends them to ``call:<id>:ivr``."""
    return [json.dumps(encode_event(event)) for event in events]


def check_log(menu: Menu, caller: Caller, log: list[str]) -> None:
    """The log replays to where the caller is: it is a real call's log."""
    interp, _ = replay(menu, CALL_ID, "open", log, policy)
    if interp.journey != caller.interp.journey or interp.phase != caller.interp.phase:
        raise RuntimeError("the scripted call's log does not replay to its state")


def kinds(events: Sequence[Event]) -> dict[str, int]:
    return dict(Counter(encode_event(e)["k"] for e in events).most_common())


# Phase 1: the replay against an interpreter in memory, in this process


@dataclass
class Timings:
    """Wall times of each run, and the CPU time of all of them."""

    wall: list[float] = field(default_factory=list)
    cpu: float = 0.0

    def add(self, wall: float, cpu: float) -> None:
        self.wall.append(wall)
        self.cpu += cpu

    def figures(self) -> dict[str, float]:
        return {
            "p50_us": round(percentile(self.wall, 0.50) * 1e6, 1),
            "p99_us": round(percentile(self.wall, 0.99) * 1e6, 1),
            "cpu_us": round(self.cpu / len(self.wall) * 1e6, 1),
        }


def run_once(
    menu: Menu, log: list[str], event: Event, into: tuple[Timings, ...]
) -> None:
    """One replay, then the event handled, then encoded for the append;
    the clocks are read between the three, not around the loop."""
    replaying, in_memory, encoding = into
    cpu_0, wall_0 = time.process_time(), time.perf_counter()
    interp, _ = replay(menu, CALL_ID, "open", log, policy)
    wall_1, cpu_1 = time.perf_counter(), time.process_time()
    wall_2 = time.perf_counter()
    interp.handle(event)
    wall_3, cpu_2 = time.perf_counter(), time.process_time()
    wall_4 = time.perf_counter()
    json.dumps(encode_event(event))
    wall_5, cpu_3 = time.perf_counter(), time.process_time()
    replaying.add(wall_1 - wall_0, cpu_1 - cpu_0)
    in_memory.add(wall_3 - wall_2, cpu_2 - cpu_1)
    encoding.add(wall_5 - wall_4, cpu_3 - cpu_2)


def time_replay(
    menu: Menu, log: list[str], event: Event, duration_s: float
) -> dict[str, Any]:
    """Replay + one event, against that event alone on the same state."""
    timings = replaying, in_memory, encoding = Timings(), Timings(), Timings()
    deadline = time.perf_counter() + duration_s
    runs = 0
    while runs < MAX_RUNS and (runs < MIN_RUNS or time.perf_counter() < deadline):
        run_once(menu, log, event, timings)
        runs += 1
    path = Timings(
        [r + h + e for r, h, e in zip(*(t.wall for t in timings), strict=True)],
        replaying.cpu + in_memory.cpu + encoding.cpu,
    )
    result: dict[str, Any] = {
        "length": len(log),
        "log_bytes": sum(len(entry) for entry in log),
        "event": encode_event(event),
        "actions": len(replay(menu, CALL_ID, "open", log, policy)[0].handle(event)),
        "runs": runs,
        "replay_path": path.figures(),
        "in_memory": in_memory.figures(),
    }
    replayed, kept = result["replay_path"], result["in_memory"]
    result["ratio_p50"] = round(replayed["p50_us"] / kept["p50_us"], 1)
    result["ratio_cpu"] = round(replayed["cpu_us"] / kept["cpu_us"], 1)
    result["us_per_logged_event"] = round(replayed["p50_us"] / max(1, len(log)), 2)
    return result


def in_process(
    menu: Menu, events: list[Event], log: list[str], duration_s: float
) -> list[dict[str, Any]]:
    """Phase 1 at every length; says how busy the rest of the machine was."""
    machine, ours, wall = machine_busy(), client_cpu(), time.perf_counter()
    results = [time_replay(menu, log[:n], events[n], duration_s) for n in LENGTHS]
    ours = client_cpu() - ours
    others = machine_busy() - machine - ours
    share = round(100 * max(0.0, others) / (time.perf_counter() - wall))
    say(f"phase 1 in this process; other processes used {share}% of a core")
    return results


def whole_call(
    menu: Menu, events: list[Event], log: list[str], stride: int
) -> dict[str, Any]:
    """CPU of one call's ``MAX_EVENTS`` events: each after a replay (every
    ``stride``-th prefix timed, times ``stride``), or all on one interpreter."""
    cpu = time.process_time()
    for n in range(0, MAX_EVENTS, stride):
        interp, _ = replay(menu, CALL_ID, "open", log[:n], policy)
        interp.handle(events[n])
    replayed = (time.process_time() - cpu) * stride
    cpu = time.process_time()
    interp, _ = replay(menu, CALL_ID, "open", [], policy)
    for event in events[:MAX_EVENTS]:
        interp.handle(event)
    kept = time.process_time() - cpu
    return {
        "events": MAX_EVENTS,
        "replayed_cpu_s": round(replayed, 2),
        "in_memory_cpu_ms": round(kept * 1000, 2),
        "ratio": round(replayed / kept),
    }


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def replay_table(results: list[dict[str, Any]]) -> str:
    return markdown(REPLAY_COLUMNS, [replay_row(r) for r in results])


def replay_row(r: dict[str, Any]) -> list[object]:
    path, kept = r["replay_path"], r["in_memory"]
    return [
        r["length"],
        r["log_bytes"],
        f"{r['event']['k']}: {plural(r['actions'], 'action')}",
        f"{path['p50_us']} / {path['p99_us']} µs",
        f"{path['cpu_us']} µs",
        f"{kept['p50_us']} / {kept['p99_us']} µs",
        f"{kept['cpu_us']} µs",
        f"x{r['ratio_p50']} (x{r['ratio_cpu']})",
    ]


def markdown(header: Sequence[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# Phase 2: one event through a real Redis, as IvrCalls handles it


@dataclass
class Snapshot:
    commands: Counter[str]
    replay_cpu: float
    redis_cpu: float
    client_cpu: float
    machine_cpu: float
    wall: float


class ThroughRedis:
    """The node's path for one event, on calls seeded with a given log."""

    def __init__(self, redis: Redis, pid: int, menu: Menu, events: list[Event]) -> None:
        self.redis = redis
        self.pid = pid
        self.menu = menu
        self.events = events
        self.log = encoded(events)
        self.routing = Routing(redis)
        # The very script IvrCalls registers for its compare-and-set.
        self.append = redis.register_script(ivr_calls._APPEND)
        self.replay_cpu = 0.0  # of the client's CPU, what replays took

    async def one_event(self, call_id: str) -> None:
        """``IvrCalls._feed`` for one event, short of carrying it out."""
        call = await self.routing.get_call(call_id)
        if call is None:
            raise RuntimeError(f"call {call_id} is missing")
        key = self.routing.key("call", call_id, "ivr")
        log = [str(item) for item in await self.redis.lrange(key, 0, -1)]
        hours = call_field(call, "hours") or "open"
        cpu = time.process_time()
        interp, _ = replay(self.menu, call.id, hours, log, policy)
        event = self.events[len(log)]
        interp.handle(event)
        entry = json.dumps(encode_event(event))
        self.replay_cpu += time.process_time() - cpu
        if not await self.append(keys=[key], args=[len(log), entry, LOG_TTL_S]):
            raise RuntimeError(f"the append to {key} lost with no other writer")

    async def seed(self, length: int, count: int) -> list[str]:
        """``count`` calls in the IVR, each with the first ``length`` events."""
        calls: list[str] = []
        while len(calls) < count:
            batch = min(SEED_BATCH, count - len(calls))
            calls += await asyncio.gather(*(self.new_call() for _ in range(batch)))
        async with self.redis.pipeline(transaction=False) as pipe:
            for call_id in calls:
                key = self.routing.key("call", call_id, "ivr")
                pipe.rpush(key, *self.log[:length])
                pipe.expire(key, LOG_TTL_S)
            await pipe.execute()
        return calls

    async def new_call(self) -> str:
        fields = {"menu": f"{self.menu.id}@{self.menu.version}", "hours": "open"}
        call_id, _ = await self.routing.create_call(
            "s-benchmark", {"topic": "web"}, CallState.IVR, **fields
        )
        return call_id

    async def drive(
        self, calls: list[str], concurrency: int, deadline: float
    ) -> list[float]:
        """One event for each call, ``concurrency`` calls at a time."""
        latencies: list[float] = []
        waiting = iter(calls)

        async def worker() -> None:
            for call_id in waiting:
                started = time.perf_counter()
                if started > deadline:
                    return
                await self.one_event(call_id)
                latencies.append(time.perf_counter() - started)

        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(worker())
        return latencies

    async def snapshot(self) -> Snapshot:
        stats = await self.redis.info("commandstats")
        commands = Counter(
            {
                name.removeprefix("cmdstat_"): int(s["calls"])
                for name, s in stats.items()
            }
        )
        redis_cpu, cpu = cpu_seconds(self.pid), time.process_time()
        return Snapshot(
            commands,
            self.replay_cpu,
            redis_cpu,
            cpu,
            machine_busy(),
            time.perf_counter(),
        )

    async def measure(
        self, length: int, concurrency: int, duration_s: float
    ) -> dict[str, Any]:
        """Events a second at one log length; the pool is sized from a
        short first run, which also loads the script and warms the pool."""
        warm_up = await self.seed(length, 4 * concurrency + 16)
        started = time.perf_counter()
        await self.drive(warm_up, concurrency, math.inf)
        rate = len(warm_up) / (time.perf_counter() - started)
        count = min(int(rate * duration_s * 1.5) + concurrency, MAX_SEEDED // length)
        calls = await self.seed(length, count)

        before = await self.snapshot()
        latencies = await self.drive(calls, concurrency, before.wall + duration_s)
        after = await self.snapshot()
        await self.redis.flushdb()
        return cell(length, concurrency, latencies, before, after)


def cell(
    length: int,
    concurrency: int,
    latencies: list[float],
    before: Snapshot,
    after: Snapshot,
) -> dict[str, Any]:
    events, wall = len(latencies), after.wall - before.wall
    commands = after.commands - before.commands
    commands.pop("info", None)  # the snapshot's own
    redis_cpu = after.redis_cpu - before.redis_cpu
    ours = redis_cpu + after.client_cpu - before.client_cpu
    others = after.machine_cpu - before.machine_cpu - ours
    return {
        "length": length,
        "concurrency": concurrency,
        "events": events,
        "seconds": round(wall, 2),
        "per_second": round(events / wall, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
        "client_cpu_us": round((after.client_cpu - before.client_cpu) / events * 1e6),
        "replay_cpu_us": round((after.replay_cpu - before.replay_cpu) / events * 1e6),
        "redis_cpu_us": round(redis_cpu / events * 1e6),
        "others_pct": round(100 * max(0.0, others) / wall),
        "round_trips": per_event(commands, events, lambda name: name not in IN_SCRIPT),
        "in_script": per_event(commands, events, lambda name: name in IN_SCRIPT),
    }


def per_event(
    commands: Counter[str], events: int, keep: Callable[[str], bool]
) -> dict[str, float]:
    return {
        name: round(calls / events, 2)
        for name, calls in sorted(commands.items())
        if keep(name)
    }


async def through_redis(
    server: RedisServer, menu: Menu, events: list[Event], duration_s: float
) -> list[dict[str, Any]]:
    redis = connect(server.url)
    try:
        bench = ThroughRedis(redis, server.process.pid, menu, events)
        results = []
        for length in REDIS_LENGTHS:
            for concurrency in CONCURRENCY:
                results.append(await bench.measure(length, concurrency, duration_s))
        return results
    finally:
        await redis.aclose()


def run_redis(
    menu: Menu, events: list[Event], duration_s: float
) -> list[dict[str, Any]]:
    """Phase 2 on a redis-server of its own, stopped however the run ends."""
    folder = Path(tempfile.mkdtemp(prefix="helpline-bench-ivr-"))
    try:
        server = RedisServer(folder)
        try:
            say(f"Debian redis-server on 127.0.0.1:{server.port} (AOF, fsync 1 s)")
            return asyncio.run(through_redis(server, menu, events, duration_s))
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def redis_table(results: list[dict[str, Any]]) -> str:
    return markdown(REDIS_COLUMNS, [redis_row(r) for r in results])


def redis_row(r: dict[str, Any]) -> list[object]:
    return [
        r["length"],
        r["concurrency"],
        r["per_second"],
        f"{r['p50_ms']} / {r['p99_ms']} ms",
        f"{r['client_cpu_us']} µs ({r['replay_cpu_us']} µs)",
        f"{r['redis_cpu_us']} µs",
        f"{r['others_pct']}%",
        f"{listed(r['round_trips'])} sent; {listed(r['in_script'])} in the script",
    ]


def listed(counts: dict[str, float]) -> str:
    names = ", ".join(f"{name} {n:g}" for name, n in counts.items())
    return f"{sum(counts.values()):g} ({names})"


def redis_ratios(results: list[dict[str, Any]]) -> Iterator[str]:
    rate = {(r["length"], r["concurrency"]): r["per_second"] for r in results}
    short, long = REDIS_LENGTHS
    for concurrency in CONCURRENCY:
        ratio = rate[(long, concurrency)] / rate[(short, concurrency)]
        yield (
            f"log of {long} / log of {short}, {concurrency} at once: "
            f"x{ratio:.2f} events a second"
        )


# Running it


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ivr",
        description="The IVR's replay per event, in process and through Redis; "
        "then customers walking the demo menu on a real Helpline.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 0.3 s a measurement"
    )
    parser.add_argument(
        "--duration",
        metavar="S",
        type=float,
        help="seconds of each of the 8 measurements, up to 6 (default 2.5)",
    )
    parser.add_argument(
        "--no-redis", action="store_true", help="phase 1 only: start no server"
    )
    parser.add_argument(
        "--json", metavar="FILE", type=Path, help="also write results here"
    )
    ivr_walks.add_arguments(parser)
    return parser.parse_args(argv)


def interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    duration = min(6.0, max(0.1, args.duration or (0.3 if args.quick else 2.5)))
    signal.signal(signal.SIGTERM, interrupted)
    result: dict[str, Any] = {"duration_s": duration}
    try:
        if not args.walks_only:
            replays(args, duration, result)
        if not (args.no_redis or args.no_walks):
            result["end_to_end"] = ivr_walks.run_walks(ivr_walks.walk_options(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted; every process it started is stopped")
        return 130
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def replays(args: argparse.Namespace, duration: float, result: dict[str, Any]) -> None:
    """Phases 1 and 2: the replay in this process, then through Redis."""
    menu = load_menu()
    caller = Caller(menu)
    events = caller.walk(max(LENGTHS) + 1)
    log = encoded(events)
    check_log(menu, caller, log)
    result["walk"] = kinds(events)
    say(f"the scripted call: {result['walk']}; {duration:g} s a measurement")
    result["in_process"] = in_process(menu, events, log, duration)
    say(replay_table(result["in_process"]))
    whole = result["whole_call"] = whole_call(menu, events, log, WHOLE_STRIDE)
    say(
        f"a whole call of {whole['events']} events: {whole['replayed_cpu_s']} s "
        f"of CPU replaying, {whole['in_memory_cpu_ms']} ms in memory "
        f"(x{whole['ratio']})"
    )
    if not args.no_redis:
        result["through_redis"] = run_redis(menu, events, duration)
        say(redis_table(result["through_redis"]))
        for line in redis_ratios(result["through_redis"]):
            say(line)


if __name__ == "__main__":
    raise SystemExit(main())

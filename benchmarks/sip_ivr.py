"""SIP IVR benchmark: phone callers walk a menu on media workers.

``helpline run`` starts with N media workers (``--sip-workers``, worker
`i` answering SIP on the first port plus ``2i``) on a fresh data folder
and Redis; the benchmark publishes a short menu of its own through the
gateway's stores (`FaqStore`, `MenuStore`, always-open hours). SIPp is
every phone caller (`benchmarks.sip_calls`): calls spread round robin
over the workers, each walks the menu by keys after pauses (the menu
digit, the FAQ answer, the callback offer accepted, a number and ``#``,
the number confirmed as the IVR reads it back) and the IVR hangs up once
the callback is kept.

For each worker count, one level after the other, SIPp places calls at
the rate that keeps a share of all the workers' slots (4 calls each)
busy, for ``--hold`` seconds, then lets them end. A level counts SIPp's
successful and failed calls, compares the digits SIPp sent with those
in the calls' IVR logs in Redis (``helpline:call:<id>:ivr``, entries
``{"k": "digit", "d": ...}``) and the callbacks kept, and reads the CPU
time and memory of the workers, of the rest of Helpline and of Redis
from ``/proc``. A level with failures is the last for that worker count;
then callers that key by RFC 4733 run at the highest level without. The
baseline is the same SIPp load against a SIPp UAS that answers the
INFOs and hangs up: what SIP costs without the worker.

    unshare --net --pid --fork --mount-proc --kill-child \\
      sh -c 'ip link set lo up && .venv/bin/python -m benchmarks.sip_ivr'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp

from benchmarks import signaling, sip_calls
from benchmarks.harness import Helpline, in_temp_folder, is_redis, serving
from benchmarks.signaling import numbers, within
from benchmarks.sip_calls import CALLS_PER_WORKER, Load
from benchmarks.sip_figures import (
    Processes,
    call_ids,
    clean,
    figures,
    heard,
    per,
    ratios,
    reaped_cpu,
    report,
    say,
    settle,
    sip_stats,
    spent,
    stream_end,
    table,
)
from gateway.faq import FaqStore
from gateway.menus import HoursStore, MenuStore
from gateway.routing import Routing
from ivr.faq import FaqEntry
from ivr.hours import always_open
from ivr.menu import Menu

MENU: Final = """
id: bench-phone
version: 1
start: main
faq_ids: [bench-hours]
nodes:
  main:
    kind: menu
    prompt: For our hours, press 1.
    options:
      "1": {target: hours, label: Hours}
    timeout_seconds: 10
    on_timeout: hours
    on_invalid: hours
  hours:
    kind: faq
    prompt: Our hours.
    answers: [bench-hours]
    next: offer
  offer:
    kind: callback
    prompt: For a call back, press 1.
    number_prompt: Your number, then hash.
    next: bye
    declined: bye
    timeout_seconds: 10
  bye:
    kind: hangup
    prompt: Goodbye.
"""
FAQ: Final = FaqEntry("bench-hours", "When are you open?", "Every day, eight to eight.")
SIP_PORT: Final = 21000  # worker i: 21000 + 2i
RTP_PORT: Final = 30000  # worker i: 30000 + 100i
CALLER_PORT: Final = 20000
CALLEE_PORT: Final = 20010
CALLER_MEDIA: Final = 6000
CALLEE_MEDIA: Final = 6100
READY_S: Final = 240.0
IDLE_S: Final = 2.0
#: Beyond the calls' own length, how long a SIPp run may take.
SIPP_SLACK_S: Final = 60.0


@dataclass(frozen=True)
class Options:
    workers: tuple[int, ...]
    fills: tuple[float, ...]
    hold_s: float
    dtmf: tuple[str, ...]
    baseline: bool
    redis: str
    keep: bool
    json_path: Path | None


async def media_workers(server: Helpline, count: int) -> dict[int, int]:
    """Wait for every worker's heartbeat; their pids by index."""
    redis = server.shared_store.redis
    routing = Routing(redis)
    deadline = time.monotonic() + READY_S
    while True:
        pids = {}
        for index in range(count):
            pid = await redis.hget(routing.key("worker", f"w{index}"), "pid")
            if pid is not None:
                pids[index] = int(pid)
        if len(pids) == count:
            return pids
        if time.monotonic() > deadline or server.process.poll() is not None:
            raise RuntimeError(f"{len(pids)} of {count} media workers started")
        await asyncio.sleep(0.2)


async def publish_menu(
    server: Helpline, menu: str = MENU, entry: FaqEntry = FAQ
) -> None:
    """`menu` as the entry menu (its FAQ `entry` first), hours always open."""
    store = server.shared_store
    faq = FaqStore(store)
    await faq.put(entry)
    menus = MenuStore(store)
    created = await menus.create(Menu.from_yaml(menu))
    await menus.publish(created.id, created.version, await faq.ids())
    await menus.set_entry(created.id)
    await HoursStore(store).set_calendar(always_open())


# One level


async def place(
    folder: Path,
    name: str,
    scenario: Path,
    load: Load,
    ports: Sequence[int],
    call_s: float,
    processes: Processes,
    line: int = 0,
) -> tuple[sip_calls.Sipp, list[str], dict[str, float], list[float]]:
    """SIPp's calls at `load`, to the workers' `ports`; returns SIPp, the
    numbers keyed, the CPU used meanwhile, and the highest worker RSS.
    Runs at once take each its own `line` (SIP and media ports)."""
    inf = folder / f"{name}.csv"
    keyed = sip_calls.injection(inf, ports, load.calls)
    bound = load.seconds + call_s + SIPP_SLACK_S
    sipp = await sip_calls.start_sipp(
        folder, name, scenario, CALLER_PORT + 2 * line, CALLER_MEDIA + 10 * line,
        "-inf", str(inf), *load.argv(),
        "-timeout", f"{bound:.0f}s", "-timeout_error",
        "-recv_timeout", str(sip_calls.BYE_WAIT_MS * 2),
        "127.0.0.1",
    )  # fmt: skip
    before = processes.cpu()
    reaped = reaped_cpu()
    peak_rss = processes.worker_rss()
    waiting = asyncio.create_task(sipp.wait(bound + 10))
    while not waiting.done():
        await asyncio.wait({waiting}, timeout=1.0)
        now = processes.worker_rss()
        if sum(now) > sum(peak_rss):
            peak_rss = now
    used = spent(before, processes.cpu())
    used["caller"] = reaped_cpu() - reaped
    return sipp, keyed, used, peak_rss


async def level(
    server: Helpline,
    processes: Processes,
    folder: Path,
    dtmf: str,
    fill: float,
    call_s: float,
    opts: Options,
) -> dict[str, Any]:
    workers = len(processes.workers)
    load = Load.filling(workers, fill, opts.hold_s, call_s)
    name = f"{dtmf}-{workers}w-{round(fill * 100)}"
    known = await call_ids(server)
    since = await stream_end(server)
    counted = await sip_stats(server)
    log_at = server.log.stat().st_size
    ports = [SIP_PORT + 2 * i for i in range(workers)]
    scenario = scenarios(folder)[dtmf]
    sipp, keyed, used, peak_rss = await place(
        folder, name, scenario, load, ports, call_s, processes
    )
    calls = await call_ids(server) - known
    before_settle = processes.cpu()
    await settle(server, calls)
    drained = spent(before_settle, processes.cpu())
    used = {k: v + drained.get(k, 0.0) for k, v in used.items()}
    got = await heard(server, calls, since)
    caller = sipp.figures()
    sent_numbers = Counter(keyed[: caller.created])
    result = figures(load, caller, got, used, processes, peak_rss)
    result |= {"dtmf": dtmf, "fill": fill, "name": name}
    result["worker_counts"] = counts = dict(await sip_stats(server) - counted)
    result["digits_at_workers"] = sum(
        n for k, n in counts.items() if k.startswith("dtmf:")
    )
    result["numbers_match"] = +got.numbers == +sent_numbers
    result["errors"] = sipp.errors() if caller.failed else ""
    result["trouble"] = trouble(server.log, log_at)
    if "worker died" in result["trouble"]:  # measure the new ones from now on
        processes.workers = await media_workers(server, workers)
    return result


#: Lines of the server's log that tell of trouble, by kind.
TROUBLE: Final = {
    "worker died": ("exited (", "Assertion"),
    "node taken for dead": ("sessions wait for their clients",),
    "call step failed": ("phone call step failed",),
}


def trouble(log: Path, since: int) -> dict[str, list[str]]:
    """The lines of the server's log since byte `since` that tell of a
    worker that died (the pool restarts it), of a node a peer took for
    dead (its sessions lose their socket) or of a call's step that raised."""
    with log.open("rb") as f:
        f.seek(since)
        lines = f.read().decode(errors="replace").splitlines()
    found: dict[str, list[str]] = {}
    for kind, marks in TROUBLE.items():
        hits = [line[:200] for line in lines if any(m in line for m in marks)]
        if hits:
            found[kind] = hits
    return found


def scenarios(folder: Path) -> dict[str, Path]:
    """The callers' scenarios, written once into `folder`."""
    info = folder / "info-caller.xml"
    if not info.exists():
        sip_calls.info_caller(info)
        sip_calls.event_caller(folder / "event-caller.xml", folder / "presses")
        sip_calls.baseline_callee(folder / "uas.xml")
    return {
        "info": info,
        "rfc4733": folder / "event-caller.xml",
        "uas": folder / "uas.xml",
    }


# The baseline


async def baseline(
    folder: Path, load: Load, call_s: float, processes: Processes
) -> dict[str, Any]:
    """The same calls and INFOs against a SIPp UAS."""
    paths = scenarios(folder)
    callee = await sip_calls.start_sipp(
        folder, f"uas-{load.calls}", paths["uas"], CALLEE_PORT, CALLEE_MEDIA,
        "-timeout", f"{load.seconds + call_s + SIPP_SLACK_S:.0f}s",
    )  # fmt: skip
    processes.sipp["callee"] = callee.pid
    alone = Processes({}, [], [], processes.sipp)
    try:
        sipp, _, used, _ = await place(
            folder, f"base-{load.calls}", paths["info"], load, [CALLEE_PORT],
            call_s, alone,
        )  # fmt: skip
    finally:
        callee.kill()
        processes.sipp.pop("callee")
    caller = sipp.figures()
    ok = caller.successful
    return {
        "calls": load.calls,
        "successful": ok,
        "failed": caller.failed,
        "call_s": round(caller.call_length_s, 2),
        "callee_cpu_ms_per_call": per(used["callee"] * 1000, ok),
        "caller_cpu_ms_per_call": per(used["caller"] * 1000, ok),
    }


# One worker count


async def warm_up(
    processes: Processes, folder: Path, dtmf: Sequence[str]
) -> dict[str, float]:
    """One call to worker 0 for each way of keying, at once (the first
    renders the prompts); the length of each."""
    paths = scenarios(folder)

    async def one(line: int, how: str) -> float:
        load = Load(1, 1.0, 1)
        sipp, _, _, _ = await place(
            folder, f"warm-up-{how}", paths[how], load, [SIP_PORT], 30.0,
            processes, line,
        )  # fmt: skip
        caller = sipp.figures()
        if caller.successful != 1:
            raise RuntimeError(f"the {how} warm-up call failed:\n{sipp.errors()}")
        return caller.call_length_s

    lengths = await asyncio.gather(*(one(n, how) for n, how in enumerate(dtmf)))
    return dict(zip(dtmf, lengths, strict=True))


async def bench_workers(count: int, opts: Options, root: Path) -> dict[str, Any]:
    folder = root / f"w{count}"
    folder.mkdir()
    env = {
        "HELPLINE_SIP": f"127.0.0.1:{SIP_PORT}",
        "HELPLINE_RTP_PORT": str(RTP_PORT),
    }
    check_ports(count)
    started = time.monotonic()
    server = Helpline(1, folder, opts.redis, "INFO", sip_workers=count, env_changes=env)
    async with serving(server), aiohttp.ClientSession() as http:
        await server.wait_ready(http)
        pids = await media_workers(server, count)
        ready_s = time.monotonic() - started
        redis = [p for p in server.pids if p not in pids.values() and is_redis(p)]
        rest = [p for p in server.pids if p not in pids.values() and p not in redis]
        processes = Processes(pids, rest, redis)
        result = await on_server(server, processes, folder, opts)
        result["ready_s"] = round(ready_s, 1)
        return result


async def on_server(
    server: Helpline, processes: Processes, folder: Path, opts: Options
) -> dict[str, Any]:
    """Idle figures, the warm-up calls, then the levels and the baseline."""
    count = len(processes.workers)
    await publish_menu(server)
    processes.idle_rss = processes.worker_rss()
    before = processes.cpu()
    await asyncio.sleep(IDLE_S)
    idle = spent(before, processes.cpu())
    processes.idle_rate = (idle["workers"] + idle["redis"]) / idle["wall"]
    result: dict[str, Any] = {
        "workers": count,
        "idle_rss_mb_per_worker": round(sum(processes.idle_rss) / count, 1),
        "idle_cpu_pct": {
            k: round(100 * idle[k] / idle["wall"], 1)
            for k in ("workers", "helpline", "redis")
        },
    }
    call_s = await warm_up(processes, folder, opts.dtmf)
    result["call_s"] = {k: round(v, 2) for k, v in call_s.items()}
    say(
        f"   ready; {result['idle_rss_mb_per_worker']} MB a worker; idle CPU "
        f"(% of a core) {result['idle_cpu_pct']}; one call {result['call_s']} s"
    )
    levels = result["levels"] = []
    top = None
    for fill in opts.fills if "info" in opts.dtmf else ():
        r = await level(server, processes, folder, "info", fill, call_s["info"], opts)
        levels.append(report(r))
        if not clean(r):
            say(f"   failures at {round(fill * 100)}% of the slots: no higher level")
            break
        top = fill
    if "rfc4733" in opts.dtmf:
        fill, length = top or opts.fills[0], call_s["rfc4733"]
        r = await level(server, processes, folder, "rfc4733", fill, length, opts)
        levels.append(report(r))
    died = any("worker died" in r["trouble"] for r in levels)
    result["restarted"] = died or (
        await media_workers(server, count) != processes.workers
    )
    if opts.baseline and "info" in opts.dtmf:
        load = Load.filling(count, top or opts.fills[0], opts.hold_s, call_s["info"])
        result["baseline"] = await baseline(folder, load, call_s["info"], processes)
        say(f"   baseline (SIPp UAS): {result['baseline']}")
    return result


def check_ports(count: int) -> None:
    """Every port the run binds is free (the namespace's loopback)."""
    wanted = [SIP_PORT + 2 * i for i in range(count)]
    wanted += [CALLER_PORT, CALLEE_PORT, CALLER_MEDIA, CALLEE_MEDIA]
    for port in wanted:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                raise SystemExit(
                    f"benchmark: UDP port {port} is taken; run it in a fresh "
                    "network namespace (see the module's docstring)"
                ) from None


# Running


async def bench(opts: Options, folder: Path) -> list[dict[str, Any]]:
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    results = []
    for count in opts.workers:
        say(f"{count} media worker(s), {count * CALLS_PER_WORKER} slots")
        results.append(await bench_workers(count, opts, folder))
    return results


def shares(text: str) -> tuple[float, ...]:
    """An argparse type: comma-separated shares from 0.05 to 1, sorted."""
    share = within(float, 0.05, 1.0)
    return tuple(sorted(share(part) for part in text.split(",")))


#: The options it shares with the signaling benchmark, as there.
SHARED: Final = dict(signaling.OPTIONS)
OPTIONS: Final[list[tuple[str, dict[str, Any]]]] = [
    ("--quick", dict(action="store_true", help="a smoke run: 1 and 2 workers")),
    ("--workers", dict(metavar="N,N", type=numbers(1, 64),
                       help="media worker counts, in turn (1,10,50)")),
    ("--fills", dict(metavar="F,F", type=shares,
                     help="shares of the workers' slots to keep busy, in turn "
                          "(0.25,0.5,0.75,0.9)")),
    ("--hold", dict(metavar="S", type=within(float, 1, 120),
                    help="seconds of new calls at each level (20; quick 3)")),
    ("--dtmf", dict(choices=["info", "rfc4733", "both"], default="both",
                    help="how callers key (both: INFO, then RFC 4733)")),
    ("--no-baseline", dict(action="store_true", help="skip the SIPp UAS run")),
    ("--redis", dict(choices=["embedded", "server"], default="server",
                     help="Debian's redis-server (default) or the embedded one")),
    ("--json", SHARED["--json"]),
    ("--keep", SHARED["--keep"]),
]  # fmt: skip


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sip_ivr",
        description="Phone callers (SIPp) walk an IVR menu on media workers.",
    )
    for flag, settings in OPTIONS:
        parser.add_argument(flag, **settings)
    args = parser.parse_args(argv)
    quick = args.quick
    dtmf = ("info", "rfc4733") if args.dtmf == "both" else (args.dtmf,)
    return Options(
        workers=args.workers or ((1, 2) if quick else (1, 10, 50)),
        fills=args.fills or ((0.9,) if quick else (0.25, 0.5, 0.75, 0.9)),
        hold_s=args.hold or (3.0 if quick else 20.0),
        dtmf=dtmf,
        baseline=not args.no_baseline,
        redis=args.redis,
        keep=args.keep,
        json_path=args.json,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse(argv)
    results = in_temp_folder("helpline-bench-sip-", opts.keep, lambda f: bench(opts, f))
    if results is None:
        return 130
    say("\n" + table(results))
    for line in ratios(results):
        say(line)
    if opts.json_path is not None:
        opts.json_path.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

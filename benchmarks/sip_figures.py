"""What the SIP IVR benchmark reads and prints: the processes' CPU time
and memory from ``/proc``, what reached the IVR (the digits in the calls'
logs in Redis, the callbacks kept), and a level's figures, its line and
the table."""

from __future__ import annotations

import asyncio
import json
import math
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

from benchmarks import sip_calls
from benchmarks.harness import Helpline, cpu_seconds, machine_busy, rss_mb
from gateway.routing import Routing

SETTLE_S: Final = 15.0


def say(text: str) -> None:
    print(text, flush=True)


# The processes and what they use


@dataclass
class Processes:
    """The pids to read: the media workers, the rest of Helpline (the
    supervisor and its web node), Redis, and SIPp while it runs."""

    workers: dict[int, int]
    helpline: list[int]
    redis: list[int]
    sipp: dict[str, int] = field(default_factory=dict)
    #: The workers' RSS before their first call.
    idle_rss: list[float] = field(default_factory=list)
    #: CPU seconds a second the workers and Redis use with no call.
    idle_rate: float = 0.0

    def groups(self) -> dict[str, list[int]]:
        return {
            "workers": list(self.workers.values()),
            "helpline": self.helpline,
            "redis": self.redis,
            **{name: [pid] for name, pid in self.sipp.items()},
        }

    def cpu(self) -> dict[str, float]:
        """CPU seconds each group has used, and the machine's busy time."""
        used = {
            name: sum(cpu_seconds(pid) for pid in pids)
            for name, pids in self.groups().items()
        }
        return used | {"machine": machine_busy(), "wall": time.monotonic()}

    def worker_rss(self) -> list[float]:
        return [rss_mb(pid) for pid in self.workers.values()]


def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before.get(k, after[k]) for k in after}


# What reached the IVR


@dataclass
class Heard:
    """What the calls' IVR logs and the callback stream hold."""

    calls: int = 0
    digits: int = 0
    whole: int = 0  # calls whose digits are exactly one walk's
    callbacks: int = 0  # whole walks whose callback holds the number keyed
    numbers: Counter[str] = field(default_factory=Counter)
    strays: list[str] = field(default_factory=list)


async def call_ids(server: Helpline) -> set[str]:
    redis = server.shared_store.redis
    found = set()
    async for key in redis.scan_iter("helpline:call:*", count=1000):
        rest = str(key).removeprefix("helpline:call:")
        if ":" not in rest:
            found.add(rest)
    return found


async def settle(server: Helpline, calls: set[str]) -> None:
    """Wait (bounded) until every call's IVR log ends with its end."""
    redis = server.shared_store.redis
    waiting = set(calls)
    deadline = time.monotonic() + SETTLE_S
    while waiting and time.monotonic() < deadline:
        async with redis.pipeline(transaction=False) as pipe:
            for call_id in waiting:
                pipe.lindex(f"helpline:call:{call_id}:ivr", -1)
            last = await pipe.execute()
        waiting = {
            c for c, e in zip(waiting, last, strict=True) if '"ended"' not in str(e)
        }
        if waiting:
            await asyncio.sleep(0.2)


async def heard(server: Helpline, calls: set[str], since: str) -> Heard:
    """The digits in the IVR logs of `calls`, each call's checked to be
    one whole walk (`sip_calls.keyed`), and the callbacks kept for them."""
    redis = server.shared_store.redis
    ordered = sorted(calls)
    async with redis.pipeline(transaction=False) as pipe:
        for call_id in ordered:
            pipe.lrange(f"helpline:call:{call_id}:ivr", 0, -1)
        logs = await pipe.execute()
    stream = Routing(redis).key("callbacks")
    entries: Any = await redis.xrange(stream, f"({since}", "+")
    kept = {e["call_id"]: e["number"] for _, e in entries}
    out = Heard(calls=len(calls))
    for call_id, log in zip(ordered, logs, strict=True):
        events = [json.loads(e) for e in log]
        digits = "".join(str(e["d"]) for e in events if e.get("k") == "digit")
        out.digits += len(digits)
        number = digits[2:12]
        if digits == sip_calls.keyed(number) and len(number) == 10:
            out.whole += 1
            out.numbers[number] += 1
            # A request for a number already waiting joins that callback
            # (one stream entry); the IVR logs "kept" either way.
            joined = any(e.get("k") == "kept" for e in events)
            out.callbacks += (
                kept.get(call_id, f"+1{number}") == f"+1{number}" and joined
            )
        elif len(out.strays) < 5:
            out.strays.append(f"{call_id}: {len(digits)} digits")
    return out


async def sip_stats(server: Helpline) -> Counter[str]:
    """The workers' SIP counters (answered, ended:<code>, dtmf:<how>...)."""
    redis = server.shared_store.redis
    stats = await redis.hgetall(Routing(redis).key("sip", "stats"))
    return Counter({str(k): int(v) for k, v in stats.items()})


async def stream_end(server: Helpline) -> str:
    redis = server.shared_store.redis
    last = await redis.xrevrange(Routing(redis).key("callbacks"), count=1)
    return str(last[0][0]) if last else "0-0"


def reaped_cpu() -> float:
    """CPU seconds of this process's children that have ended: SIPp's,
    once it exits (its /proc entry is gone by the time it is read)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def figures(
    load: sip_calls.Load,
    caller: sip_calls.SippFigures,
    got: Heard,
    used: dict[str, float],
    processes: Processes,
    peak_rss: list[float],
) -> dict[str, Any]:
    idle_rss = processes.idle_rss
    workers = len(idle_rss)
    ok = caller.successful
    call_seconds = ok * caller.call_length_s
    server_cpu = used["workers"] + used["redis"]
    beyond_idle = server_cpu - processes.idle_rate * used["wall"]
    return {
        "workers": workers,
        "target_concurrency": round(load.rate * caller.call_length_s, 1)
        if caller.call_length_s
        else math.nan,
        "rate": round(load.rate, 2),
        "calls": load.calls,
        "created": caller.created,
        "successful": ok,
        "failed": caller.failed,
        "failures": caller.failures,
        "unexpected": caller.unexpected,
        "retransmissions": caller.retransmissions,
        "peak_calls": caller.peak,
        "call_s": round(caller.call_length_s, 2),
        "calls_per_s": round(ok / used["wall"], 2),
        "seconds": round(used["wall"], 1),
        "digits_sent": caller.infos_sent
        or sip_calls.DIGITS_PER_CALL * caller.reached_end,
        "digits_logged": got.digits,
        "ivr_calls": got.calls,
        "whole_walks": got.whole,
        "callbacks": got.callbacks,
        "strays": got.strays,
        "cpu_s": {k: round(v, 2) for k, v in used.items() if k != "wall"},
        "cpu_ms_per_call": per(server_cpu * 1000, ok),
        "beyond_idle_cpu_ms_per_call": per(beyond_idle * 1000, ok),
        "worker_cpu_ms_per_call": per(used["workers"] * 1000, ok),
        "redis_cpu_ms_per_call": per(used["redis"] * 1000, ok),
        "helpline_cpu_ms_per_call": per(used["helpline"] * 1000, ok),
        "cpu_ms_per_call_s": per(server_cpu * 1000, call_seconds),
        "caller_cpu_ms_per_call": per(used.get("caller", 0.0) * 1000, ok),
        "machine_pct": round(100 * used["machine"] / used["wall"]),
        "others_pct": others_pct(used),
        "rss_mb_per_worker": round(sum(peak_rss) / workers, 1),
        "rss_mb_per_call": per(sum(peak_rss) - sum(idle_rss), caller.peak),
    }


def others_pct(used: dict[str, float]) -> int:
    """What processes outside the run used, in shares of one core."""
    ours = sum(v for k, v in used.items() if k not in ("machine", "wall"))
    return round(100 * max(0.0, used["machine"] - ours) / used["wall"])


def per(total: float, count: float) -> float:
    return round(total / count, 3) if count else math.nan


def clean(result: dict[str, Any]) -> bool:
    """No failed call, every digit sent is in a log, every walk whole."""
    return bool(
        result["created"] == result["calls"] == result["successful"]
        and not result["failed"]
        and result["digits_logged"] == result["digits_sent"]
        and result["digits_at_workers"] == result["digits_sent"]
        and result["whole_walks"] == result["successful"]
        and result["numbers_match"]
        and not {"worker died", "node taken for dead"} & set(result["trouble"])
        and result["callbacks"] == result["successful"]
    )


# Reporting


def report(r: dict[str, Any]) -> dict[str, Any]:
    say(
        f"   {r['name']}: {r['successful']}/{r['created']} calls ok "
        f"({r['failed']} failed), peak {r['peak_calls']} at once, "
        f"{r['calls_per_s']} calls/s, {r['call_s']} s a call; digits sent "
        f"{r['digits_sent']}, at the workers {r['digits_at_workers']}, in the "
        f"IVR logs {r['digits_logged']}; whole walks "
        f"{r['whole_walks']}, callbacks {r['callbacks']}; CPU-ms a call "
        f"{r['worker_cpu_ms_per_call']} workers + {r['redis_cpu_ms_per_call']} "
        f"Redis (+ {r['helpline_cpu_ms_per_call']} web node), "
        f"{r['beyond_idle_cpu_ms_per_call']} beyond idle; machine "
        f"{r['machine_pct']}% of a core (others {r['others_pct']}%); RSS "
        f"{r['rss_mb_per_worker']} MB a worker, {r['rss_mb_per_call']} MB a call"
    )
    if r["failures"] or r["unexpected"] or r["strays"]:
        say(f"     failures {r['failures']}, unexpected {r['unexpected']}")
        say(f"     calls not whole: {r['strays']}")
    if r["errors"]:
        say("     SIPp errors, last lines:\n" + r["errors"])
    for kind, lines in r["trouble"].items():
        say(f"     {kind}: {len(lines)} in the server's log, e.g. {lines[0]}")
    return r


COLUMNS: Final = (
    "workers",
    "keys",
    "calls at once (peak)",
    "calls/s",
    "ok / failed",
    "digits sent / at workers / in IVR logs",
    "CPU-ms a call (workers + Redis)",
    "of which beyond idle",
    "CPU-ms a call-second",
    "machine CPU",
    "RSS MB a worker / a call",
)


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for result in results:
        for r in result["levels"]:
            cells = [
                r["workers"],
                r["dtmf"],
                f"{r['target_concurrency']} ({r['peak_calls']})",
                r["calls_per_s"],
                f"{r['successful']} / {r['failed']}",
                f"{r['digits_sent']} / {r['digits_at_workers']} / {r['digits_logged']}",
                f"{r['worker_cpu_ms_per_call']} + {r['redis_cpu_ms_per_call']}",
                r["beyond_idle_cpu_ms_per_call"],
                r["cpu_ms_per_call_s"],
                f"{r['machine_pct']}%",
                f"{r['rss_mb_per_worker']} / {r['rss_mb_per_call']}",
            ]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def ratios(results: list[dict[str, Any]]) -> list[str]:
    lines = []
    for result in results:
        base = result.get("baseline")
        info = [r for r in result["levels"] if r["dtmf"] == "info" and clean(r)]
        if not base or not info:
            continue
        top = info[-1]
        callee = base["callee_cpu_ms_per_call"]
        ratio = top["worker_cpu_ms_per_call"] / callee if callee else math.nan
        lines.append(
            f"{result['workers']} worker(s), {top['peak_calls']} calls at once: "
            f"a call costs the workers {top['worker_cpu_ms_per_call']} CPU-ms "
            f"(with Redis and beyond idle {top['beyond_idle_cpu_ms_per_call']}), "
            f"a SIPp UAS {callee} CPU-ms for the same SIP messages: x{ratio:.0f}"
        )
    return lines

"""Signaling benchmark: Helpline run as a real process, driven over /ws.

For each worker count (``helpline run --workers N``) on a fresh data
folder and Redis, in this order:

1. **Sessions held**: customer sessions opened (``hello``/``welcome``) and
   kept open, in steps up to the largest level; at each step every session
   is pinged once (the pong round trip), and the RSS of the Helpline and
   Redis processes is read.
2. **Call set-ups**: agents signed in with ``POST /api/login`` and
   available; customers in a closed loop, each call on a fresh session (a
   new visitor): place, ring, accept, answered at both ends, ``sdp.offer``
   (a captured Chrome offer) relayed to the agent, ``sdp.answer`` relayed
   back, hang-up, ended at both ends.
3. **Relay**: one answered call per agent; each customer sends
   ``ice.candidate`` (and every fifth message ``sdp.offer``) at a paced
   rate and the time until the agent receives it is measured. Both ends
   live in this process, so one clock serves both.

The load generator is this one asyncio process. On a small machine it
competes with the server for the cores, so it pins itself to one core and
the figure that does not depend on it is also printed: the CPU time the
server's processes spent, per call set-up and per thousand relayed
messages, read from ``/proc/<pid>/stat``.

Run it inside a network namespace with only loopback::

    unshare -n sh -c 'ip link set lo up; .venv/bin/python -m benchmarks.signaling'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final

import aiohttp
from argon2 import PasswordHasher

from benchmarks.harness import (
    GRACE_S,
    SESSION_RATE,
    TIMEOUT_S,
    Event,
    Helpline,
    Peer,
    ServerError,
    Usage,
    bounded,
    call_state,
    cpu_ms_per,
    describe_error,
    ms,
    of_type,
    per,
    serving,
)
from gateway.accounts import Accounts
from tests.cases import case_sdp

OFFER: Final = case_sdp("06-chrome-extmap-allow-mixed")
ANSWER: Final = OFFER.replace("a=setup:actpass", "a=setup:active")
CANDIDATE: Final = {
    "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
    "sdpMid": "0",
    "sdpMLineIndex": 0,
}
PASSWORD: Final = "benchmark horse battery"
MAX_SOCKET_RATE: Final = 40.0  # messages a second per socket; the limit is 50


@dataclass(frozen=True)
class Options:
    workers: tuple[int, ...]
    levels: tuple[int, ...]
    agents: int
    customers: int
    duration_s: float
    relay_s: float
    relay_rate: float
    redis: str
    client_core: int | None
    log_level: str
    json_path: Path | None
    keep: bool
    deflate: bool


# Phase 0: idle


async def idle(server: Helpline, seconds: float) -> Event:
    """What the server burns doing nothing (timers, polls), per second."""
    before = await server.usage()
    await asyncio.sleep(seconds)
    used = (await server.usage()).minus(before)
    result = {
        "helpline_cpu_ms_per_s": cpu_ms_per(used.helpline_cpu, 1, 1 / seconds),
        "redis_cpu_ms_per_s": cpu_ms_per(used.redis_cpu, 1, 1 / seconds),
        "helpline_rss_mb": round(used.helpline_rss, 1),
        "redis_rss_mb": round(used.redis_rss, 1),
    }
    say(
        f"   idle: CPU-ms/s helpline {result['helpline_cpu_ms_per_s']}, redis "
        f"{result['redis_cpu_ms_per_s']}; RSS helpline {result['helpline_rss_mb']} "
        f"MB, redis {result['redis_rss_mb']} MB"
    )
    return result


# Phase 1: sessions held


async def ping(peer: Peer) -> float:
    started = await peer.send({"type": "ping"})
    stamp, _ = await peer.expect(of_type("pong"))
    return stamp - started


async def hold_sessions(
    http: aiohttp.ClientSession, server: Helpline, levels: Sequence[int]
) -> list[Event]:
    """Open customer sessions up to each level in turn, keeping them open."""
    peers: list[Peer] = []
    results: list[Event] = []
    base = await server.usage()
    try:
        for level in levels:
            results.append(await add_sessions(http, server, peers, level))
            held = results[-1]
            held["rss_kb_per_session"] = round(
                (held["helpline_rss_mb"] - base.helpline_rss) * 1024 / len(peers), 1
            )
            report_sessions(held)
    finally:
        await bounded([p.close for p in peers], 100)
    return results


async def add_sessions(
    http: aiohttp.ClientSession, server: Helpline, peers: list[Peer], level: int
) -> Event:
    """Open sessions until ``level`` are open, then ping every one."""
    hello = {"role": "customer", "name": "Held"}
    count = level - len(peers)
    before = await server.usage()
    opened = await bounded(
        [partial(Peer.open, http, server.ws_url, hello) for _ in range(count)], 50
    )
    used = (await server.usage()).minus(before)
    peers += [pair[0] for pair in opened if isinstance(pair, tuple)]

    rtts = await bounded([partial(ping, p) for p in peers], 20)
    pongs = [r for r in rtts if isinstance(r, float)]
    return {
        "target": level,
        "held": len(pongs),
        "failed_opens": sum(isinstance(p, BaseException) for p in opened),
        "open_s": round(used.wall, 2),
        "opens_per_s": round(count / used.wall, 1),
        "cpu_ms_per_open": cpu_ms_per(used.helpline_cpu, count),
        "redis_commands_per_open": per(used.redis_commands, count),
        "ping": ms(pongs),
        "helpline_rss_mb": round(used.helpline_rss, 1),
        "redis_rss_mb": round(used.redis_rss, 1),
    }


# Agents


async def sign_in_agents(
    http: aiohttp.ClientSession, server: Helpline, count: int
) -> list[Peer]:
    """Create agent accounts in the server's Redis, sign each in through
    ``POST /api/login`` and make it available."""
    # A cheap hash here; the server's first sign-in replaces it with one of
    # its own strength, so each sign-in still costs the server one full hash.
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    accounts = Accounts(server.shared_store, hasher=cheap)
    names = [f"agent{index:03}" for index in range(count)]
    saved = await bounded(
        [partial(accounts.add_user, n, PASSWORD, "agent") for n in names], 2
    )
    succeeded(saved, "agent accounts could not be saved")
    tokens = succeeded(
        await bounded([partial(login, http, server, n) for n in names], 4),
        "agents could not sign in",
    )
    return succeeded(
        await bounded([partial(agent_online, http, server, t) for t in tokens], 10),
        "agents could not open a session",
    )


def succeeded(outcomes: list[Any], problem: str) -> list[Any]:
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    if failed:
        raise RuntimeError(f"{len(failed)} {problem}: {failed[0]!r}")
    return outcomes


async def login(http: aiohttp.ClientSession, server: Helpline, name: str) -> str:
    body = {"username": name, "password": PASSWORD}
    async with http.post(server.url + "/api/login", json=body) as response:
        response.raise_for_status()
        token: str = (await response.json())["token"]
        return token


async def agent_online(
    http: aiohttp.ClientSession, server: Helpline, token: str
) -> Peer:
    peer, _ = await Peer.open(http, server.ws_url, {"role": "agent", "token": token})
    await peer.send({"type": "agent.status", "status": "available"})
    await peer.expect(
        lambda e: e.get("type") == "agent.state" and e.get("status") == "available"
    )
    return peer


# Phase 2: call set-ups


async def first_call_state(customer: Peer) -> tuple[str, str]:
    """The call's id and state from the first ``call.state``: usually
    ``queued``, but when the sweep rings an agent before ``call.place`` has
    told the customer the queue position, ``ringing`` comes first and
    ``queued`` never does."""
    _, event = await customer.expect(of_type("call.state"))
    return event["call_id"], event["state"]


@dataclass
class Setups:
    offer_sent: dict[str, float] = field(default_factory=dict)
    answer_sent: dict[str, float] = field(default_factory=dict)
    to_answered: list[float] = field(default_factory=list)
    offer_relay: list[float] = field(default_factory=list)
    answer_relay: list[float] = field(default_factory=list)
    customer_ended: set[str] = field(default_factory=set)
    agent_ended: set[str] = field(default_factory=set)
    last_done: float = 0.0
    failures: Counter[str] = field(default_factory=Counter)
    first_states: Counter[str] = field(default_factory=Counter)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def done(self, call_id: str) -> None:
        if call_id in self.customer_ended and call_id in self.agent_ended:
            self.last_done = time.perf_counter()
        self.changed.set()

    async def settle(self) -> None:
        """Wait until every call a customer saw end has ended at its agent."""
        while self.completed < len(self.customer_ended):
            self.changed.clear()
            await self.changed.wait()

    @property
    def completed(self) -> int:
        return len(self.customer_ended & self.agent_ended)


async def agent_takes_calls(agent: Peer, run: Setups) -> None:
    while True:
        try:
            await agent_takes_one(agent, run)
        except (ServerError, TimeoutError) as exc:
            run.failures[f"agent: {describe_error(exc)}"] += 1


async def agent_takes_one(agent: Peer, run: Setups) -> None:
    _, ring = await agent.next(call_state("ringing"))
    call_id = ring["call_id"]
    await agent.send({"type": "call.accept", "call_id": call_id})
    stamp, _ = await agent.expect(of_type("sdp.offer", call_id))
    run.offer_relay.append(stamp - run.offer_sent.pop(call_id, stamp))
    run.answer_sent[call_id] = time.perf_counter()
    await agent.send({"type": "sdp.answer", "call_id": call_id, "sdp": ANSWER})
    await agent.expect(call_state("ended", call_id))
    run.agent_ended.add(call_id)
    run.done(call_id)


async def customer_calls(
    http: aiohttp.ClientSession,
    server: Helpline,
    run: Setups,
    start: float,
    until: float,
) -> None:
    """One customer after another on one line, from ``start`` on."""
    await asyncio.sleep(max(0.0, start - time.perf_counter()))
    while time.perf_counter() < until:
        try:
            await customer_one_call(http, server, run)
        except (ServerError, TimeoutError, aiohttp.ClientError) as exc:
            run.failures[f"customer: {describe_error(exc)}"] += 1


async def customer_one_call(
    http: aiohttp.ClientSession, server: Helpline, run: Setups
) -> None:
    hello = {"role": "customer", "name": "Caller"}
    peer, _ = await Peer.open(http, server.ws_url, hello)
    try:
        placed = await peer.send({"type": "call.place", "caller": {"topic": "bench"}})
        call_id, state = await first_call_state(peer)
        run.first_states[state] += 1
        stamp, _ = await peer.expect(call_state("answered", call_id))
        run.to_answered.append(stamp - placed)

        offer = {"type": "sdp.offer", "call_id": call_id, "sdp": OFFER}
        run.offer_sent[call_id] = time.perf_counter()
        await peer.send(offer)
        stamp, _ = await peer.expect(of_type("sdp.answer", call_id))
        run.answer_relay.append(stamp - run.answer_sent.pop(call_id, stamp))
        await peer.send({"type": "call.hangup", "call_id": call_id})
        await peer.expect(call_state("ended", call_id))
        run.customer_ended.add(call_id)
        run.done(call_id)
    finally:
        await peer.close()


async def call_setups(
    http: aiohttp.ClientSession,
    server: Helpline,
    agents: list[Peer],
    opts: Options,
) -> Event:
    """Customers call in a closed loop for ``duration_s``; agents answer."""
    run = Setups()
    takers = [asyncio.create_task(agent_takes_calls(a, run)) for a in agents]
    before = await server.usage()
    until = before.wall + opts.duration_s
    try:
        # The first calls spread over a second, not all in one burst.
        step = 1.0 / opts.customers
        await asyncio.gather(
            *(
                customer_calls(http, server, run, before.wall + i * step, until)
                for i in range(opts.customers)
            )
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.settle(), TIMEOUT_S)
    finally:
        for task in takers:
            task.cancel()
        await asyncio.gather(*takers, return_exceptions=True)
    return setup_figures(run, (await server.usage()).minus(before), before.wall)


def setup_figures(run: Setups, used: Usage, started: float) -> Event:
    elapsed = max(run.last_done, started + 1e-9) - started
    return {
        "completed": run.completed,
        "elapsed_s": round(elapsed, 2),
        "per_s": round(run.completed / elapsed, 1),
        "place_to_answered": ms(run.to_answered),
        "offer_relay": ms(run.offer_relay),
        "answer_relay": ms(run.answer_relay),
        "helpline_cpu_ms_per_setup": cpu_ms_per(used.helpline_cpu, run.completed),
        "redis_cpu_ms_per_setup": cpu_ms_per(used.redis_cpu, run.completed),
        "redis_commands_per_setup": per(used.redis_commands, run.completed),
        "client_core_pct": used.client_pct,
        "others_core_pct": used.others_pct,
        "first_call_state": dict(run.first_states),
        "failures": dict(run.failures),
    }


# Phase 3: relay


async def relay(
    http: aiohttp.ClientSession, server: Helpline, agents: list[Peer], opts: Options
) -> Event:
    """One answered call per agent; customers trickle messages to agents."""
    latencies: dict[str, list[float]] = {"ice.candidate": [], "sdp.offer": []}
    lost: Counter[str] = Counter()
    interval = max(len(agents) / opts.relay_rate, 1 / MAX_SOCKET_RATE)
    pairs = await start_calls(http, server, agents)
    try:
        before = await server.usage()
        until = before.wall + opts.relay_s
        # Staggered starts: the messages of all pairs spread evenly in time.
        step = interval / len(pairs)
        await asyncio.gather(
            *(
                trickle(p, before.wall + i * step, interval, until, latencies, lost)
                for i, p in enumerate(pairs)
            )
        )
        used = (await server.usage()).minus(before)
        await bounded([partial(hang_up, *p) for p in pairs], 50)
    finally:
        await bounded([p[0].close for p in pairs], 50)

    relayed = sum(len(v) for v in latencies.values())
    return {
        "relayed": relayed,
        "per_s": round(relayed / used.wall, 1),
        "target_per_s": round(len(pairs) / interval, 1),
        "ice.candidate": ms(latencies["ice.candidate"]),
        "sdp.offer": ms(latencies["sdp.offer"]),
        "all": ms(latencies["ice.candidate"] + latencies["sdp.offer"]),
        "helpline_cpu_ms_per_1000": cpu_ms_per(used.helpline_cpu, relayed, 1000),
        "redis_cpu_ms_per_1000": cpu_ms_per(used.redis_cpu, relayed, 1000),
        "redis_commands_per_message": per(used.redis_commands, relayed),
        "client_core_pct": used.client_pct,
        "others_core_pct": used.others_pct,
        "failures": dict(lost),
    }


async def start_calls(
    http: aiohttp.ClientSession, server: Helpline, agents: list[Peer]
) -> list[tuple[Peer, Peer, str]]:
    """As many answered calls as there are agents: (customer, agent, call)."""
    ringing: dict[str, asyncio.Future[Peer]] = {}
    answering = [asyncio.create_task(answer_one(a, ringing)) for a in agents]
    try:
        outcomes = await bounded(
            [partial(pair_up, http, server, ringing) for _ in agents], 50
        )
    finally:
        for task in answering:
            task.cancel()
    pairs = [o for o in outcomes if isinstance(o, tuple)]
    if len(pairs) < len(outcomes):
        await bounded([p[0].close for p in pairs], 50)
        failed = next(o for o in outcomes if not isinstance(o, tuple))
        raise RuntimeError(f"a call for the relay did not start: {failed!r}")
    return pairs


async def answer_one(agent: Peer, ringing: dict[str, asyncio.Future[Peer]]) -> None:
    _, ring = await agent.next(call_state("ringing"))
    await agent.send({"type": "call.accept", "call_id": ring["call_id"]})
    ringing.setdefault(ring["call_id"], asyncio.Future()).set_result(agent)


async def pair_up(
    http: aiohttp.ClientSession,
    server: Helpline,
    ringing: dict[str, asyncio.Future[Peer]],
) -> tuple[Peer, Peer, str]:
    customer, _ = await Peer.open(http, server.ws_url, {"role": "customer"})
    await customer.send({"type": "call.place"})
    call_id, _ = await first_call_state(customer)
    await customer.expect(call_state("answered", call_id))
    async with asyncio.timeout(TIMEOUT_S):
        agent = await ringing.setdefault(call_id, asyncio.Future())
    await agent.expect(call_state("answered", call_id))
    return customer, agent, call_id


async def trickle(
    pair: tuple[Peer, Peer, str],
    due: float,
    interval: float,
    until: float,
    latencies: dict[str, list[float]],
    lost: Counter[str],
) -> None:
    """Customer to agent, one message at a time, paced; late ones skip."""
    customer, agent, call_id = pair
    for count in range(1_000_000):
        if due >= until:
            return
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        kind = "sdp.offer" if count % 5 == 4 else "ice.candidate"
        payload = {"sdp": OFFER} if kind == "sdp.offer" else {"candidate": CANDIDATE}
        sent = await customer.send({"type": kind, "call_id": call_id, **payload})
        try:
            stamp, _ = await agent.expect(of_type(kind, call_id))
        except (ServerError, TimeoutError) as exc:
            lost[f"{kind}: {describe_error(exc)}"] += 1
            return
        latencies[kind].append(stamp - sent)
        due = max(due + interval, time.perf_counter())


async def hang_up(customer: Peer, agent: Peer, call_id: str) -> None:
    await customer.send({"type": "call.hangup", "call_id": call_id})
    await agent.expect(call_state("ended", call_id))


# One server, all phases


async def bench_workers(workers: int, opts: Options, folder: Path) -> Event:
    server = Helpline(workers, folder, opts.redis, opts.log_level)
    connector = aiohttp.TCPConnector(limit=0)
    async with serving(server), aiohttp.ClientSession(connector=connector) as http:
        nodes = await server.wait_ready(http)
        say(f"\n== {workers} worker(s): {' '.join(server.argv)}")
        say(f"   Redis: {server.redis_kind}; {len(nodes)} node(s) answered")
        result: Event = {"workers": workers, "nodes": len(nodes)}
        result["redis"] = server.redis_kind
        result["idle"] = await idle(server, 2.0)
        result["sessions"] = await hold_sessions(http, server, opts.levels)
        started = time.perf_counter()
        agents = await sign_in_agents(http, server, opts.agents)
        signed_in_s = time.perf_counter() - started
        say(f"   {len(agents)} agents signed in in {signed_in_s:.1f} s")
        try:
            result["setups"] = await call_setups(http, server, agents, opts)
            report_setups(result["setups"])
            result["relay"] = await relay(http, server, agents, opts)
            report_relay(result["relay"])
        finally:
            await bounded([a.close for a in agents], 50)
        return result


# Reporting


def say(text: str) -> None:
    print(text, flush=True)


def report_sessions(level: Event) -> None:
    say(
        f"   sessions: {level['held']}/{level['target']} held "
        f"(opened in {level['open_s']} s, {level['opens_per_s']}/s, "
        f"{level['cpu_ms_per_open']} CPU-ms and "
        f"{level['redis_commands_per_open']} Redis commands each); ping p50 "
        f"{level['ping']['p50_ms']} ms p99 {level['ping']['p99_ms']} ms; RSS "
        f"helpline {level['helpline_rss_mb']} MB, redis {level['redis_rss_mb']} MB"
    )


def bystanders(phase: Event) -> str:
    return (
        f"load generator {phase['client_core_pct']}% of a core, "
        f"other processes on the machine {phase['others_core_pct']}%"
    )


def report_setups(setups: Event) -> None:
    say(
        f"   set-ups: {setups['completed']} in {setups['elapsed_s']} s = "
        f"{setups['per_s']}/s; place->answered p50 "
        f"{setups['place_to_answered']['p50_ms']} ms p99 "
        f"{setups['place_to_answered']['p99_ms']} ms; CPU-ms per set-up: helpline "
        f"{setups['helpline_cpu_ms_per_setup']}, redis "
        f"{setups['redis_cpu_ms_per_setup']}; Redis commands per set-up "
        f"{setups['redis_commands_per_setup']}; {bystanders(setups)}"
    )
    firsts = setups["first_call_state"]
    if set(firsts) - {"queued"}:
        say(f"   first call.state the customer saw: {firsts}")
    for what, count in setups["failures"].items():
        say(f"   failed: {count} x {what}")


def report_relay(relay: Event) -> None:
    say(
        f"   relay: {relay['relayed']} messages, {relay['per_s']}/s "
        f"(paced at {relay['target_per_s']}/s); candidate p50 "
        f"{relay['ice.candidate']['p50_ms']} ms p99 "
        f"{relay['ice.candidate']['p99_ms']} ms; offer p50 "
        f"{relay['sdp.offer']['p50_ms']} ms p99 {relay['sdp.offer']['p99_ms']} ms; "
        f"CPU-ms per 1000: helpline {relay['helpline_cpu_ms_per_1000']}, redis "
        f"{relay['redis_cpu_ms_per_1000']}; Redis commands per message "
        f"{relay['redis_commands_per_message']}; {bystanders(relay)}"
    )
    for what, count in relay["failures"].items():
        say(f"   failed: {count} x {what}")


def table(results: list[Event]) -> str:
    head = (
        "| workers | sessions held | set-ups/s | place->answered p50/p99 ms "
        "| relay p50/p99 ms | CPU-ms per set-up (helpline+redis) "
        "| CPU-ms per 1000 relayed (helpline+redis) |"
    )
    rows = [head, "|" + "---|" * 7]
    for r in results:
        held = r["sessions"][-1]
        s, rel = r["setups"], r["relay"]
        rows.append(
            f"| {r['workers']} | {held['held']}/{held['target']} | {s['per_s']} "
            f"| {s['place_to_answered']['p50_ms']} / "
            f"{s['place_to_answered']['p99_ms']} "
            f"| {rel['all']['p50_ms']} / {rel['all']['p99_ms']} "
            f"| {s['helpline_cpu_ms_per_setup']} + {s['redis_cpu_ms_per_setup']} "
            f"| {rel['helpline_cpu_ms_per_1000']} + {rel['redis_cpu_ms_per_1000']} |"
        )
    return "\n".join(rows)


def ratios(results: list[Event]) -> list[str]:
    base = results[0]
    lines = []
    for other in results[1:]:
        name = f"{other['workers']} over {base['workers']} worker(s)"
        setups = other["setups"]["per_s"] / max(base["setups"]["per_s"], 1e-9)
        cpu = other["setups"]["helpline_cpu_ms_per_setup"] / max(
            base["setups"]["helpline_cpu_ms_per_setup"], 1e-9
        )
        lines.append(
            f"{name}: set-ups/s x{setups:.2f}; helpline CPU-ms per set-up x{cpu:.2f}"
        )
    return lines


# Running


def pin_client(core: int | None) -> str:
    cores = sorted(os.sched_getaffinity(0))
    if core is None or len(cores) < 2:
        return f"load generator not pinned ({len(cores)} core(s) usable)"
    chosen = cores[core % len(cores)]
    os.sched_setaffinity(0, {chosen})
    return f"load generator pinned to core {chosen} of {len(cores)}"


async def bench(opts: Options) -> list[Event]:
    folder = Path(tempfile.mkdtemp(prefix="helpline-bench-"))
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return [await bench_workers(n, opts, folder) for n in opts.workers]
    finally:
        if opts.keep:
            say(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def describe(opts: Options) -> None:
    say(f"machine: {os.cpu_count()} cores; {pin_client(opts.client_core)}")
    say(
        "the load generator is one asyncio process on this machine: it competes "
        "with Helpline and Redis for the cores, so the CPU-ms figures (read "
        "from /proc) are the fairer ones"
    )
    say(
        f"server env: HELPLINE_DEMO=0, HELPLINE_CUSTOMER_SESSIONS_PER_MINUTE="
        f"{SESSION_RATE} (default 20: every client here is 127.0.0.1), "
        f"HELPLINE_GRACE={GRACE_S} (no session expires mid-run), "
        f"HELPLINE_LOG_LEVEL={opts.log_level}"
    )
    say(
        f"levels {list(opts.levels)}; {opts.agents} agents, {opts.customers} "
        f"customers for {opts.duration_s} s; relay {opts.relay_s} s at "
        f"{opts.relay_rate}/s; clients "
        f"{'offer' if opts.deflate else 'do not offer'} permessage-deflate"
    )


def within(kind: type[int] | type[float], low: float, high: float) -> Any:
    """An argparse type: a number from ``low`` to ``high``."""

    def convert(text: str) -> float:
        value = kind(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not in {low}..{high}")
        return value

    return convert


def numbers(low: int, high: int) -> Any:
    """An argparse type: comma-separated whole numbers, sorted."""

    def convert(text: str) -> tuple[int, ...]:
        values = tuple(sorted(within(int, low, high)(n) for n in text.split(",")))
        return values

    return convert


OPTIONS: Final[list[tuple[str, dict[str, Any]]]] = [
    ("--quick", dict(action="store_true", help="a smoke run: small and 3 s long")),
    ("--workers", dict(metavar="N,N", type=numbers(1, 8), default=(1, 2),
                       help="worker counts to run, in turn (default 1,2)")),
    ("--levels", dict(metavar="N,N", type=numbers(1, 10_000),
                      help="customer sessions to hold, in steps (500,2000)")),
    ("--agents", dict(metavar="N", type=within(int, 1, 500),
                      help="agents signed in and available (default 50)")),
    ("--customers", dict(metavar="N", type=within(int, 1, 2000),
                         help="customers calling at once (default: = agents)")),
    ("--duration", dict(metavar="S", type=within(float, 0.5, 300),
                        help="seconds of call set-ups (default 10)")),
    ("--relay-duration", dict(metavar="S", type=within(float, 0.5, 300),
                              help="seconds of relaying (default 10)")),
    ("--relay-rate", dict(metavar="N", type=within(float, 1, 10_000), default=250.0,
                          help="relayed messages a second in all (default 250)")),
    ("--redis", dict(choices=["embedded", "server"], default="embedded",
                     help="Helpline's embedded Redis, or a redis-server")),
    ("--client-core", dict(metavar="N", type=int, default=-1,
                           help="core to pin the load generator to (the last)")),
    ("--no-pin", dict(action="store_true", help="do not pin the load generator")),
    ("--no-deflate", dict(action="store_true",
                          help="offer no permessage-deflate (browsers do)")),
    ("--log-level", dict(default="INFO", help="Helpline's log level (INFO)")),
    ("--json", dict(metavar="FILE", type=Path, help="also write results here")),
    ("--keep", dict(action="store_true", help="keep data folders and logs")),
]  # fmt: skip


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.signaling",
        description="Benchmark Helpline's signaling end to end, on loopback.",
    )
    for flag, settings in OPTIONS:
        parser.add_argument(flag, **settings)
    args = parser.parse_args(argv)

    quick = args.quick
    agents = args.agents or (5 if quick else 50)
    return Options(
        workers=args.workers,
        levels=args.levels or ((50,) if quick else (500, 2000)),
        agents=agents,
        customers=args.customers or agents,
        duration_s=args.duration or (3.0 if quick else 10.0),
        relay_s=args.relay_duration or (3.0 if quick else 10.0),
        relay_rate=args.relay_rate,
        redis=args.redis,
        client_core=None if args.no_pin else args.client_core,
        log_level=args.log_level,
        json_path=args.json,
        keep=args.keep,
        deflate=not args.no_deflate,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse(argv)
    Peer.deflate = 15 if opts.deflate else 0
    describe(opts)
    try:
        results = asyncio.run(bench(opts))
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted; servers stopped")
        return 130
    say("\n" + table(results))
    for line in ratios(results):
        say(line)
    if opts.json_path is not None:
        opts.json_path.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

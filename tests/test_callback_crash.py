"""No callback request is lost when Redis or a node dies.

Redis here runs as in production (``docker-compose.yml`` and the embedded
store): ``appendonly yes`` with ``appendfsync everysec``. That survives a
SIGKILL of the Redis process: Redis write()s the commands of an event-loop
pass to the append-only file before it sends their replies, so whatever a
client was told is in the kernel's page cache when the process dies; only
the fsync to the disk waits for the next second, so a machine crash or a
power cut could still lose the last second. (One gap: while the previous
second's fsync is still running, Redis puts the write() off, for up to
two seconds, and answers meanwhile; on a slow disk a kill in that moment
loses what was answered. ``appendfsync always`` has no such moment.)

Each test kills something in the middle of real work and then reads Redis
back: every request a customer was told is kept is there exactly once,
never half-written, never twice; every claim an agent was told of has
exactly one call and counted its attempt once. Each prints its figures
(run with ``-s`` to see them).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio
from redis.exceptions import RedisError

from gateway.callback_service import UNAVAILABLE
from gateway.callback_streams import DESK_GROUP
from gateway.callbacks import (
    CallbackDesk,
    ClaimError,
    Kept,
    Verdict,
    number_digest,
)
from gateway.config import Settings
from gateway.store import connect, open_store
from signaling.bus import NODE_TTL_S, Bus, text, text_fields
from tests.fixtures.app import ClientFactory, NodeFactory, RunningHelpline, WsClient
from tests.fixtures.redis import RedisServer
from tests.test_callbacks import NUMBER, OTHER, Clock, agents, desk, key, request
from tests.test_signaling import customer

#: Numbers asked once, and numbers asked three times (two requests merge).
SINGLE = [f"+1212555{i:04}" for i in range(200)]
REPEATED = [f"+1212556{i:04}" for i in range(40)]
NODES = 4  # desks of their own, each with its own connections
IN_FLIGHT = 16  # requests each desk has under way at once
CLAIMERS = 40  # agents, each claiming one callback
CONTENDED = 8  # callbacks two agents claim at the same moment
CLAIM_EVERY = 6  # one kept callback in so many is claimed
READER = "n-a"  # the node whose desk reads the stream during the burst


@dataclass
class Crash:
    """How a test kills its Redis (at once, between two answers) and
    starts it again (while the burst's commands retry)."""

    kill: Callable[[], None]
    restart: Callable[[], Awaitable[None]]


@dataclass
class Burst:
    """What every request and claim of a burst was answered."""

    keeps: list[tuple[str, Kept | RedisError]] = field(default_factory=list)
    claims: list[tuple[str, str, tuple[str, int] | ClaimError | RedisError]] = field(
        default_factory=list
    )
    kept_before_kill: int = 0
    killed: bool = False
    across: int = 0  # requests and claims sent before the kill, answered after


def workload(seed: int) -> list[str]:
    numbers = SINGLE + REPEATED * 3
    random.Random(seed).shuffle(numbers)
    return numbers


async def run_burst(
    url: str, kill_after: int, crash: Crash, clock: Clock
) -> tuple[Burst, list[str]]:
    """Requests and claims from several nodes at once; `crash` runs once
    `kill_after` requests have been answered. Returns what each was told,
    and the agents."""
    clients = [connect(url) for _ in range(NODES)]
    try:
        desks = [desk(c, clock, per_day=10_000) for c in clients]
        claimers = await agents(
            clients[0], clock, *(f"agent{i:02}" for i in range(CLAIMERS))
        )
        burst = await BurstRun(desks, kill_after, crash).run(claimers)
    finally:
        for client in clients:
            await client.aclose()
    return burst, claimers


class BurstRun:
    """Keepers (IN_FLIGHT a desk) take numbers off one queue; some kept
    callbacks go to the claimers' queue; a reader takes requests on as
    a node's sweep does; the killer crashes Redis half-way."""

    def __init__(self, desks: list[CallbackDesk], kill_after: int, crash: Crash):
        self.desks = desks
        self.kill_after = kill_after
        self.crash = crash
        self.burst = Burst()
        self.numbers = asyncio.Queue[str]()
        for number in workload(kill_after):
            self.numbers.put_nowait(number)
        self.to_claim = asyncio.Queue[str | None]()
        self.half_way = asyncio.Event()
        self.done = asyncio.Event()
        self.kept = self.queued = 0

    async def run(self, claimers: list[str]) -> Burst:
        async with asyncio.TaskGroup() as group:
            group.create_task(self.restarter())
            group.create_task(self.reader())
            async with asyncio.TaskGroup() as claims:
                for i, agent in enumerate(claimers):
                    claims.create_task(self.claimer(self.desks[i % NODES], agent))
                async with asyncio.TaskGroup() as keeps:
                    for callbacks in self.desks * IN_FLIGHT:
                        keeps.create_task(self.keeper(callbacks))
                assert self.half_way.is_set(), "the burst ended before the kill"
                for _ in claimers:
                    self.to_claim.put_nowait(None)
            self.done.set()
        return self.burst

    async def keeper(self, callbacks: CallbackDesk) -> None:
        burst = self.burst
        while not self.numbers.empty():
            number = self.numbers.get_nowait()
            before = burst.killed
            try:
                kept = await callbacks.keep(request(number))
            except RedisError as exc:
                burst.keeps.append((number, exc))
                continue
            finally:
                burst.across += burst.killed and not before
            burst.keeps.append((number, kept))
            if len(burst.keeps) == self.kill_after:
                self.kill()
            if kept.verdict is Verdict.KEPT:
                self.to_claimers(kept.callback)

    def to_claimers(self, callback: str) -> None:
        """Claims spread over the burst; the first few by two agents."""
        self.kept += 1
        if self.kept % CLAIM_EVERY or self.queued >= CLAIMERS:
            return
        copies = 2 if self.queued < 2 * CONTENDED else 1
        for _ in range(copies):
            self.to_claim.put_nowait(callback)
        self.queued += copies

    async def claimer(self, callbacks: CallbackDesk, agent: str) -> None:
        callback = await self.to_claim.get()
        if callback is None:
            return
        before = self.burst.killed
        result: tuple[str, int] | ClaimError | RedisError
        try:
            result = await callbacks.claim(callback, agent)
        except (ClaimError, RedisError) as exc:
            result = exc
        self.burst.across += self.burst.killed and not before
        self.burst.claims.append((agent, callback, result))

    def kill(self) -> None:
        told = [k for _, k in self.burst.keeps if isinstance(k, Kept)]
        self.burst.kept_before_kill = sum(k.verdict.kept for k in told)
        self.burst.killed = True
        self.crash.kill()
        self.half_way.set()

    async def restarter(self) -> None:
        await self.half_way.wait()
        await self.crash.restart()

    async def reader(self) -> None:
        """A node's sweep: takes new requests on, every few milliseconds."""
        while not self.done.is_set():
            try:
                await self.desks[0].streams.read_new(READER)
            except RedisError:
                pass
            await asyncio.sleep(0.01)


# What Redis holds afterwards


@dataclass
class Found:
    """Everything the desk keeps, read back after the crash."""

    records: dict[str, dict[str, str]]
    entries: dict[str, dict[str, str]]  # entry id -> fields
    waiting: set[str]
    open: dict[str, str]
    calls: dict[str, dict[str, str]]
    dials: list[dict[str, str]]
    agents: dict[str, dict[str, str]]


async def read_back(client: redis.asyncio.Redis, claimers: list[str]) -> Found:
    async def hashes(pattern: str) -> dict[str, dict[str, str]]:
        found = {}
        async for name in client.scan_iter(pattern):
            prefix, _, record = text(name).rpartition(":")
            if prefix == pattern[:-2]:  # not a key of the record's own
                found[record] = text_fields(await client.hgetall(name))
        return found

    raw: Any = await client.xrange(key("callbacks"))
    dials: Any = await client.xrange(key("callbacks", "dials"))
    waiting = await client.zrange(key("callbacks", "waiting"), 0, -1)
    return Found(
        records=await hashes(key("callback", "*")),
        entries=dict(raw),
        waiting={text(member) for member in waiting},
        open=text_fields(await client.hgetall(key("callbacks", "open"))),
        calls=await hashes(key("call", "*")),
        dials=[fields for _, fields in dials],
        agents={
            a: text_fields(await client.hgetall(key("agent", a))) for a in claimers
        },
    )


def check_requests(burst: Burst, found: Found) -> None:
    """Every request told kept is there once; nothing is half-written."""
    # One stream entry a callback, and a record for each, pointing back.
    by_callback = {f["callback"]: entry for entry, f in found.entries.items()}
    assert len(by_callback) == len(found.entries), "a callback entered twice"
    assert set(by_callback) == set(found.records), "half-written requests"
    for callback, record in found.records.items():
        assert record["entry"] == by_callback[callback]
        assert record["state"] in ("waiting", "dialling")
        assert (callback in found.waiting) == (record["state"] == "waiting")

    told: dict[str, Counter[Verdict]] = {}
    failed: Counter[str] = Counter()
    returned: Counter[str] = Counter()
    for number, answer in burst.keeps:
        if isinstance(answer, RedisError):
            failed[number] += 1
            continue
        told.setdefault(number, Counter())[answer.verdict] += 1
        if answer.verdict.kept:
            assert answer.callback in found.records, "a request told kept is gone"
            assert found.records[answer.callback]["number"] == number
            returned[answer.callback] += 1

    # One open callback a number, the one the open index names.
    open_ids = Counter(r["number"] for r in found.records.values())
    assert max(open_ids.values()) == 1, "a number has two open callbacks"
    for callback, record in found.records.items():
        assert found.open[number_digest(record["number"])] == callback
    # Each request counted once: merges and the number's limit.
    for callback, count in returned.items():
        number = found.records[callback]["number"]
        requests = int(found.records[callback]["requests"])
        assert count <= requests <= count + failed[number]
    for number, verdicts in told.items():
        if not failed[number]:
            assert Verdict.NUMBER_LIMIT not in verdicts, "a request counted twice"


def check_claims(burst: Burst, found: Found) -> None:
    """Every claim an agent was told of has one call; no other call exists
    but for claims whose answer was lost."""
    lost = {(a, c) for a, c, r in burst.claims if isinstance(r, RedisError)}
    claimed = {}
    for agent, callback, result in burst.claims:
        status = found.agents[agent]
        if isinstance(result, ClaimError):
            assert result.code == "callback-taken"
            assert (status["status"], status.get("call", "")) == ("available", "")
            continue
        if isinstance(result, RedisError):
            continue
        call_id, attempt = result
        claimed[call_id] = (agent, callback)
        call = found.calls[call_id]
        assert (call["state"], call["callback"], call["agent"]) == (
            "dialling",
            callback,
            agent,
        )
        record = found.records[callback]
        assert (record["state"], record["call"], record["agent"]) == (
            "dialling",
            call_id,
            agent,
        )
        assert attempt == 1 and record["attempts"] == call["attempt"] == "1"
        assert (status["status"], status["call"]) == ("busy", call_id)

    for call_id, call in found.calls.items():
        if call_id not in claimed:
            assert (call["agent"], call["callback"]) in lost, "a call nobody was told"
    per_callback = Counter(call["callback"] for call in found.calls.values())
    assert not per_callback or max(per_callback.values()) == 1
    assert sorted(d["call_id"] for d in found.dials) == sorted(found.calls)
    dialling = {c for c, r in found.records.items() if r["state"] == "dialling"}
    assert dialling == set(per_callback)


async def check_group(client: redis.asyncio.Redis, callbacks: CallbackDesk) -> None:
    """Every request's entry is pending in the desk group, once."""
    while await callbacks.streams.read_new(READER):
        pass
    pending: Any = await client.xpending_range(
        callbacks.streams.stream, DESK_GROUP, min="-", max="+", count=10_000
    )
    ids = [row["message_id"] for row in pending]
    assert len(ids) == len(set(ids)) == await client.xlen(callbacks.streams.stream)


async def verify(url: str, burst: Burst, claimers: list[str], label: str) -> None:
    client = connect(url)
    try:
        found = await read_back(client, claimers)
        check_requests(burst, found)
        check_claims(burst, found)
        await check_group(client, desk(client, Clock()))
    finally:
        await client.aclose()
    told = [k for _, k in burst.keeps if isinstance(k, Kept) and k.verdict.kept]
    raised = [k for _, k in burst.keeps if isinstance(k, RedisError)]
    calls = [r for *_, r in burst.claims if isinstance(r, tuple)]
    taken = [r for *_, r in burst.claims if isinstance(r, ClaimError)]
    print(
        f"\n{label}: {len(burst.keeps)} requests, {len(told)} told kept "
        f"({burst.kept_before_kill} before the kill), {len(raised)} failed, "
        f"{burst.across} answers waited out the restart; "
        f"found {len(found.records)} callbacks holding "
        f"{sum(int(r['requests']) for r in found.records.values())} requests; "
        f"{len(burst.claims)} claims: {len(calls)} told dialling, "
        f"{len(taken)} taken, {len(found.calls)} calls found"
    )


# 1. Debian's redis-server, killed in the middle of the burst


@pytest.mark.parametrize("kill_after", [30, 150, 290])
@pytest.mark.parametrize("fsync", ["everysec", "always"])
async def test_a_redis_killed_mid_burst_loses_no_kept_request(
    tmp_path: Path, fsync: str, kill_after: int
) -> None:
    """`everysec` as deployed; `always` (fsync before answering) widens the
    moment where a script is written but not yet answered, when the
    client's retry runs it a second time."""
    server = RedisServer(tmp_path / "redis", appendfsync=fsync)
    server.start()
    try:

        async def restart() -> None:
            await asyncio.to_thread(server.start)

        crash = Crash(server.kill, restart)
        burst, claimers = await run_burst(server.url, kill_after, crash, Clock())
        label = f"redis-server ({fsync}), killed after {kill_after} answers"
        await verify(server.url, burst, claimers, label)
    finally:
        server.stop()


# 2. The embedded Redis, as gateway.store runs it


@pytest.mark.parametrize("kill_after", [30, 150, 290])
async def test_the_embedded_redis_killed_mid_burst_loses_no_kept_request(
    tmp_path: Path, kill_after: int
) -> None:
    settings = Settings(data_dir=tmp_path / "data", demo=False)
    stores = [await open_store(settings)]
    embedded = stores[0].embedded
    assert embedded is not None and embedded.process is not None
    url, process = embedded.url, embedded.process

    async def restart() -> None:
        """The owner of the killed server gives up, and the store is opened
        again on the same data, as Helpline does when it starts again."""
        await asyncio.to_thread(process.wait)
        await stores[0].close()
        stores.append(await open_store(settings))

    crash = Crash(process.kill, restart)
    try:
        burst, claimers = await run_burst(url, kill_after, crash, Clock())
        reopened = stores[-1].embedded
        assert reopened is not None and reopened.url == url
        assert reopened.owner and reopened.pid != process.pid
        label = f"embedded Redis, killed after {kill_after} answers"
        await verify(url, burst, claimers, label)
    finally:
        await stores[-1].close()


# 3. A running node, its pages asking while Redis dies


@pytest.fixture
def crash_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, configured as deployed."""
    server = RedisServer(tmp_path / "redis", appendfsync="everysec")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(crash_redis: RedisServer) -> str:
    """The nodes of this module run on the test's own server."""
    return crash_redis.url


CONSENT = "We may call you back on this number."
PAGES = 8  # pages asking in each phase
SHORT_OUTAGE_S = 1.0  # well inside the node's retries (about fifteen seconds)

Asked = tuple[WsClient, str, str]  # the page, the number, the request's id
Told = tuple[str, str, dict[str, Any]]  # the number, the id, the answer


async def open_pages(node: RunningHelpline, clients: ClientFactory) -> list[WsClient]:
    return [await customer(node, clients, f"Page{i}") for i in range(PAGES)]


async def send_requests(pages: list[WsClient], phase: int) -> list[Asked]:
    """Each page asks for a callback; every fourth for the number of the
    page before it (merged)."""
    sent = []
    for i, page in enumerate(pages):
        number = f"+121255{phase}{i - (i % 4 == 3):04}"
        ref = f"r{phase}-{i}"
        request = {"type": "callback.request", "number": number, "consent": CONSENT}
        await page.send({**request, "id": ref})
        sent.append((page, number, ref))
    return sent


async def answers(sent: list[Asked]) -> list[Told]:
    """What each page was told: its status, or an error (one without a
    `ref` too, so that a wrong answer shows as such, not as a timeout)."""

    def answer(ref: str) -> Callable[[dict[str, Any]], bool]:
        return lambda e: (
            e.get("type") == "callback.status"
            or (e.get("type") == "error" and e.get("ref", ref) == ref)
        )

    # A node gives up on Redis after about fifteen seconds of retries.
    told = await asyncio.gather(
        *(page.expect(answer(ref), within=30) for page, _, ref in sent)
    )
    return [(n, ref, e) for (_, n, ref), e in zip(sent, told, strict=True)]


async def check_told(url: str, told: list[Told]) -> int:
    """Every request told kept is in the desk once, one callback a number;
    returns how many callbacks the desk holds."""
    client = connect(url)
    try:
        found = await read_back(client, [])
    finally:
        await client.aclose()
    entries = Counter(f["callback"] for f in found.entries.values())
    assert set(entries) == set(found.records) and max(entries.values()) == 1
    numbers = Counter(r["number"] for r in found.records.values())
    assert max(numbers.values()) == 1
    for number, _, event in told:
        if event["type"] == "callback.status":
            record = found.records[event["callback"]]
            assert (record["number"], record["state"]) == (number, "waiting")
            assert record["token"] == event["token"]
    return len(found.records)


async def test_pages_asking_while_redis_dies_are_kept_or_told_to_retry(
    crash_redis: RedisServer,
    helpline_factory: NodeFactory,
    ws_clients: ClientFactory,
) -> None:
    node = await helpline_factory(
        callbacks_per_address=1000, customer_sessions_per_minute=1000
    )
    before = await answers(await send_requests(await open_pages(node, ws_clients), 1))

    # A short outage: the requests wait the restart out.
    pages = await open_pages(node, ws_clients)
    crash_redis.kill()
    sent = await send_requests(pages, 2)
    await asyncio.sleep(SHORT_OUTAGE_S)
    await asyncio.to_thread(crash_redis.start)
    short = await answers(sent)

    # A long one: the node gives up on Redis and says so to each page.
    pages = await open_pages(node, ws_clients)
    crash_redis.kill()
    long = await answers(await send_requests(pages, 3))
    await asyncio.to_thread(crash_redis.start)

    # The node is still up and takes requests again.
    after = await answers(await send_requests(await open_pages(node, ws_clients), 4))
    async with aiohttp.ClientSession() as http:
        async with http.get(node.url + "/healthz") as health:
            assert health.status == 200

    for _, _, event in before + short + after:
        assert event["type"] == "callback.status" and event["token"]
    assert sum("merged" in e for _, _, e in before + short + after) == 6
    for _, ref, event in long:
        assert (event["type"], event["code"], event["ref"]) == (
            "error",
            "unavailable",
            ref,
        )
        assert event["message"] == UNAVAILABLE
    told = before + short + long + after
    held = await check_told(crash_redis.url, told)
    print(
        f"\nnode: {len(told)} requests from pages, "
        f"{len(before + short + after)} told kept ({len(short)} across a "
        f"{SHORT_OUTAGE_S:.0f} s outage), {len(long)} told 'unavailable' "
        f"during a long one; {held} callbacks found for "
        f"{len({n for n, _, e in told if e['type'] != 'error'})} numbers"
    )


# 4. A node killed while holding requests


HELD = 1_200  # more than one page of XPENDING (a thousand entries)
LATER = 20  # requests kept after the node died, before anyone reads them


async def test_a_dead_nodes_requests_are_taken_over_once(
    crash_redis: RedisServer,
) -> None:
    client = connect(crash_redis.url)
    callbacks = desk(client, Clock(), per_day=10_000)
    node_b = Bus(client)
    node_b.node_id = "n-b"
    node_a = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.desk_node",
        crash_redis.url,
        "n-a",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        kept = await keep_many(callbacks, "+1212558", HELD)
        # n-a takes every request on: all pending under it.
        assert node_a.stdout is not None
        async with asyncio.timeout(30):
            while int(await node_a.stdout.readline() or 0) < HELD:
                pass
        await node_b.beat()
        assert await callbacks.streams.reclaim("n-b") == 0  # n-a lives

        node_a.kill()
        await node_a.wait()
        kept += await keep_many(callbacks, "+1212559", LATER)
        await lapse(client, "n-a")
        await node_b.beat()
        moved = await callbacks.streams.reclaim("n-b")
        while await callbacks.streams.read_new("n-b"):
            pass

        consumers: Any = await client.xinfo_consumers(
            callbacks.streams.stream, DESK_GROUP
        )
        assert [(c["name"], c["pending"]) for c in consumers] == [("n-b", HELD + LATER)]
        await check_pending(client, callbacks, kept)
        # Nothing twice: no entry is taken over nor read again.
        assert await callbacks.streams.reclaim("n-b") == 0
        assert await callbacks.streams.read_new("n-b") == 0
        # n-b's own heartbeat lapsing does not make it drop its entries.
        await client.delete(key("node", "n-b", "alive"))
        assert await callbacks.streams.reclaim("n-b") == 0
        await check_pending(client, callbacks, kept)
        print(
            f"\ndead node: {HELD} requests pending under n-a when it was "
            f"killed, {LATER} kept after; n-b took over {moved} and read "
            f"{LATER}; {HELD + LATER} pending under n-b"
        )
        assert moved == HELD
    finally:
        if node_a.returncode is None:
            node_a.kill()
            await node_a.wait()
        await client.aclose()


async def keep_many(callbacks: CallbackDesk, prefix: str, count: int) -> list[Kept]:
    kept = await asyncio.gather(
        *(callbacks.keep(request(f"{prefix}{i:04}")) for i in range(count))
    )
    assert {k.verdict for k in kept} == {Verdict.KEPT}
    return list(kept)


async def lapse(client: redis.asyncio.Redis, node: str) -> None:
    """Wait out a killed node's heartbeat (`Bus.beat`: five seconds)."""
    alive = key("node", node, "alive")
    left_ms = await client.pttl(alive)
    assert left_ms <= NODE_TTL_S * 1000
    await asyncio.sleep(max(left_ms, 0) / 1000 + 0.05)
    assert not await client.exists(alive)


async def check_pending(
    client: redis.asyncio.Redis, callbacks: CallbackDesk, kept: list[Kept]
) -> None:
    """Each kept request's entry is pending once, under n-b."""
    rows: Any = await client.xpending_range(
        callbacks.streams.stream, DESK_GROUP, min="-", max="+", count=10 * HELD
    )
    pending = {row["message_id"]: row["consumer"] for row in rows}
    assert len(pending) == len(rows) == len(kept)
    for one in kept:
        record = await callbacks.get(one.callback)
        assert pending[record["entry"]] == "n-b"


# 5. A Redis that stalls: the first try runs late, after its retry


STALL_S = 1.0  # longer than the client's socket timeout below
THIRD = "+12125550144"
SHORT_TIMEOUT_S = 0.3


async def test_a_request_and_a_claim_retried_after_they_ran_count_once(
    crash_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client gives up on an answer and sends the command again on a
    new connection; Redis, when it wakes, runs both: keep and claim must
    know their own retry."""
    assert crash_redis.process is not None
    pid = crash_redis.process.pid
    client = connect(crash_redis.url)
    impatient = connect(crash_redis.url, socket_timeout_s=SHORT_TIMEOUT_S)
    clock = Clock()
    callbacks, stalled = desk(client, clock), desk(impatient, clock)
    read = stalled.get

    async def read_then_stop(callback: str) -> dict[str, str]:
        """A claim reads the record first: stall Redis after that read,
        before the claim's script."""
        record = await read(callback)
        os.kill(pid, signal.SIGSTOP)
        return record

    async def after_stall(work: Awaitable[Any]) -> Any:
        task = asyncio.ensure_future(work)
        await asyncio.sleep(STALL_S)
        os.kill(pid, signal.SIGCONT)
        return await task

    try:
        (ada,) = await agents(client, clock, "ada")
        first = await callbacks.keep(request(NUMBER))
        # Redis knows both scripts before it stalls (NOSCRIPT runs nothing).
        later = await stalled.keep(request(OTHER, due_at=clock() + 3600))
        with pytest.raises(ClaimError):
            await stalled.claim(later.callback, ada)

        os.kill(pid, signal.SIGSTOP)
        merged = await after_stall(stalled.keep(request(NUMBER)))
        os.kill(pid, signal.SIGSTOP)
        fresh = await after_stall(stalled.keep(request(THIRD)))
        monkeypatch.setattr(stalled, "get", read_then_stop)
        call_id, attempt = await after_stall(stalled.claim(first.callback, ada))

        for kept, number, requests in ((merged, NUMBER, "2"), (fresh, THIRD, "1")):
            record = await callbacks.get(kept.callback)
            assert (record["number"], record["requests"]) == (number, requests)
            counted = await client.get(callbacks.counter_keys(number)[0])
            assert counted == requests
        assert (merged.verdict, merged.callback) == (Verdict.MERGED, first.callback)
        assert fresh.verdict is Verdict.KEPT
        assert await client.xlen(callbacks.streams.stream) == 3
        record = await callbacks.get(first.callback)
        assert (record["state"], record["call"], record["attempts"]) == (
            "dialling",
            call_id,
            "1",
        )
        assert attempt == 1
        assert await client.hget(key("agent", ada), "call") == call_id
        assert await client.xlen(callbacks.streams.dials_stream) == 1
    finally:
        os.kill(pid, signal.SIGCONT)
        await impatient.aclose()
        await client.aclose()


async def test_a_restart_between_loading_a_script_and_running_it_is_no_error(
    crash_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-py loads a script Redis does not know, once; a restart right
    after that load leaves the retried call facing NOSCRIPT again."""
    client = connect(crash_redis.url)
    callbacks = desk(client, Clock())
    load = client.script_load

    async def load_then_restart(script: str) -> str:
        monkeypatch.setattr(client, "script_load", load)
        sha = await load(script)
        await asyncio.to_thread(crash_redis.restart)
        return str(sha)

    monkeypatch.setattr(client, "script_load", load_then_restart)
    try:
        kept = await callbacks.keep(request(NUMBER))
        assert kept.verdict is Verdict.KEPT
        assert (await callbacks.get(kept.callback))["number"] == NUMBER
        assert client.script_load == load  # the restart did happen
    finally:
        await client.aclose()

"""The event log on real Redis: entries as written, reading by time,
retention, and nothing lost while Redis is down (up to the buffer)."""

from __future__ import annotations

import time

import pytest
import redis.asyncio

from gateway.events import EventLog
from tests.fixtures.redis import RedisServer


def key(*parts: str) -> str:
    return "t:" + ":".join(parts)


async def read_all(log: EventLog) -> list[dict[str, str]]:
    return [event async for _at, event in log.read(0, time.time() + 60)]


async def test_entries_keep_their_fields_and_leave_out_empty_ones(
    redis_client: redis.asyncio.Redis,
) -> None:
    log = EventLog(redis_client, key)
    await log.record("answered", "c1", agent="u1", wait_ms=1234, visit="", node=None)
    await log.record("faq.viewed", visit="v1", detail="faq-a")
    assert await read_all(log) == [
        {"kind": "answered", "call": "c1", "agent": "u1", "wait_ms": "1234"},
        {"kind": "faq.viewed", "visit": "v1", "detail": "faq-a"},
    ]
    with pytest.raises(ValueError, match="unknown event kind"):
        await log.record("coffee", "c1")
    with pytest.raises(ValueError, match="unknown event field"):
        await log.record("ended", "c1", mood="happy")


async def test_reading_a_period_takes_its_first_and_excludes_its_end(
    redis_client: redis.asyncio.Redis,
) -> None:
    log = EventLog(redis_client, key)
    stamps = ((1000, 0), (1999, 0), (2000, 0), (2000, 1), (2999, 0), (3000, 0))
    for ms, seq in stamps:
        entry = {"kind": "ended", "call": str(ms)}
        await redis_client.xadd(log.stream, entry, id=f"{ms}-{seq}")  # type: ignore[arg-type]
    inside = [(at, e["call"]) async for at, e in log.read(2.0, 3.0)]
    assert inside == [(2.0, "2000"), (2.0, "2000"), (2.999, "2999")]
    limited = [e["call"] async for _at, e in log.read(0, 10, limit=2)]
    assert limited == ["1000", "1999"]


async def test_old_entries_are_trimmed_past_the_retention(
    redis_client: redis.asyncio.Redis,
) -> None:
    now = time.time()
    log = EventLog(redis_client, key, retention_days=1, clock=lambda: now)
    old = int((now - 3 * 86_400) * 1000)
    async with redis_client.pipeline(transaction=False) as pipe:
        for i in range(300):
            pipe.xadd(
                log.stream, {"kind": "ended", "call": f"old{i}"}, id=f"{old + i}-0"
            )
        await pipe.execute()
    for i in range(300):
        await log.record("ended", f"new{i}")
    # Trimming is approximate (whole stream nodes), so some old ones may stay
    # in the node being filled; most must be gone and every new one kept.
    left = await read_all(log)
    assert [e["call"] for e in left if e["call"].startswith("new")] == [
        f"new{i}" for i in range(300)
    ]
    assert sum(e["call"].startswith("old") for e in left) < 150


async def test_events_written_while_redis_is_down_arrive_in_order(
    private_redis_server: RedisServer,
) -> None:
    client = redis.asyncio.Redis.from_url(
        private_redis_server.url, protocol=2, decode_responses=True,
        socket_timeout=1, socket_connect_timeout=1,
    )  # fmt: skip
    try:
        log = EventLog(client, key, buffer=5)
        await log.record("queued", "c1")
        private_redis_server.kill()
        for i in range(7):
            await log.record("ivr.node", "c2", node=f"n{i}")  # never raises
        assert log.dropped == 2
        private_redis_server.restart()
        assert await log.flush() == 0
        calls = [(e["call"], e.get("node", "")) for e in await read_all(log)]
        # Redis kept the first entry (AOF); of the 7 written while it was
        # down the buffer held the last 5.
        assert calls == [("c1", ""), *[("c2", f"n{i}") for i in range(2, 7)]]
    finally:
        await client.aclose()

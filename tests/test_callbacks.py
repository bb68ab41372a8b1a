"""The callback policy's daily limits, kept in a real Redis (once the real
redis-server, once the embedded one): what is refused leaves nothing in
the stream, and requests at the same moment never go over a limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio

from gateway.callbacks import CallbackBook, CallbackLimits, Verdict

NUMBER = "+12125550142"
OTHER = "+12125550143"
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PREFIX = "helpline:"


class Clock:
    def __init__(self) -> None:
        self.now = NOON

    def __call__(self) -> float:
        return self.now.timestamp()


def key(*parts: str) -> str:
    return PREFIX + ":".join(parts)


def book(
    client: redis.asyncio.Redis, clock: Clock, per_number: int = 3, per_day: int = 500
) -> CallbackBook:
    return CallbackBook(client, key, CallbackLimits(per_number, per_day), clock)


def fields(number: str, call_id: str = "c-1") -> dict[str, str]:
    return {"call_id": call_id, "number": number, "window": ""}


async def kept_numbers(client: redis.asyncio.Redis) -> list[str]:
    entries: Any = await client.xrange(key("callbacks"))
    return [entry["number"] for _, entry in entries]


@pytest.fixture
async def clients(redis_url: str) -> AsyncIterator[list[redis.asyncio.Redis]]:
    """Two connections of their own, as two nodes would have."""
    made = [
        redis.asyncio.Redis.from_url(redis_url, protocol=2, decode_responses=True)
        for _ in range(2)
    ]
    yield made
    for client in made:
        await client.aclose()


async def test_the_fourth_request_for_a_number_in_a_day_is_refused(
    redis_client: redis.asyncio.Redis,
) -> None:
    clock = Clock()
    callbacks = book(redis_client, clock)

    verdicts = [await callbacks.keep(NUMBER, fields(NUMBER)) for _ in range(4)]
    other = await callbacks.keep(OTHER, fields(OTHER))

    assert verdicts == [Verdict.KEPT] * 3 + [Verdict.NUMBER_LIMIT]
    assert other is Verdict.KEPT
    assert await kept_numbers(redis_client) == [NUMBER] * 3 + [OTHER]
    # The next day (UTC) counts afresh.
    clock.now += timedelta(hours=12)
    assert await callbacks.keep(NUMBER, fields(NUMBER)) is Verdict.KEPT


async def test_the_day_limit_counts_every_number(
    redis_client: redis.asyncio.Redis,
) -> None:
    callbacks = book(redis_client, Clock(), per_day=3)
    numbers = [f"+1212555010{i}" for i in range(5)]

    verdicts = [await callbacks.keep(n, fields(n)) for n in numbers]

    assert verdicts == [Verdict.KEPT] * 3 + [Verdict.DAY_LIMIT] * 2
    assert await kept_numbers(redis_client) == numbers[:3]
    # What the caller is told names no number.
    assert not any(c.isdigit() for v in Verdict for c in v.sentence)


async def test_two_requests_at_the_limit_at_once_keep_exactly_one(
    clients: list[redis.asyncio.Redis],
) -> None:
    clock = Clock()
    first, second = (book(client, clock) for client in clients)
    for _ in range(2):
        assert await first.keep(NUMBER, fields(NUMBER)) is Verdict.KEPT

    verdicts = await asyncio.gather(
        first.keep(NUMBER, fields(NUMBER, "c-a")),
        second.keep(NUMBER, fields(NUMBER, "c-b")),
    )

    assert sorted(verdicts) == [Verdict.KEPT, Verdict.NUMBER_LIMIT]
    assert len(await kept_numbers(clients[0])) == 3


async def test_many_requests_at_once_never_go_over_the_day_limit(
    clients: list[redis.asyncio.Redis],
) -> None:
    clock = Clock()
    books = [book(client, clock, per_day=7) for client in clients]
    numbers = [f"+1212555{i:04}" for i in range(40)]

    verdicts = await asyncio.gather(
        *(books[i % 2].keep(n, fields(n)) for i, n in enumerate(numbers))
    )

    assert verdicts.count(Verdict.KEPT) == 7
    assert len(await kept_numbers(clients[0])) == 7


async def test_counter_keys_hide_the_number_and_expire(
    redis_client: redis.asyncio.Redis,
) -> None:
    callbacks = book(redis_client, Clock())
    await callbacks.keep(NUMBER, fields(NUMBER))

    names = [str(name) for name in await redis_client.keys(PREFIX + "*")]
    counters = sorted(n for n in names if n != key("callbacks"))
    assert counters == sorted(callbacks.counter_keys(NUMBER))
    assert counters[0] == key("callbacks", "2026-03-02")
    assert not [n for n in names if "2125550142" in n]
    for name in counters:
        assert await redis_client.get(name) == "1"
        assert 86_400 < await redis_client.ttl(name) <= 2 * 86_400

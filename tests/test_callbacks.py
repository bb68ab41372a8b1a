"""The callback desk in a real Redis (once the real redis-server, once the
embedded one): limits, merging, claims, offers, attempts and the stream's
consumer groups. What is refused leaves nothing; requests and claims at
the same moment never go over a limit nor take one callback twice; a final
outcome acknowledges the request's entry; a dead node's entries and a dead
worker's dials are taken over."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio

from gateway.callback_streams import DESK_GROUP, DIALS_GROUP
from gateway.callbacks import (
    CallbackDesk,
    CallbackLimits,
    CallbackPolicy,
    ClaimError,
    Request,
    Verdict,
)
from gateway.routing import Routing
from signaling.callbacks import CallbackState

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


def desk(
    client: redis.asyncio.Redis,
    clock: Clock,
    per_number: int = 3,
    per_day: int = 500,
    per_address: int = 10,
    **policy: Any,
) -> CallbackDesk:
    return CallbackDesk(
        client,
        key,
        CallbackLimits(per_number, per_day, per_address),
        CallbackPolicy(**policy),
        clock,
    )


def request(number: str, **fields: Any) -> Request:
    return Request(number=number, consent="yes", **fields)


async def entries(client: redis.asyncio.Redis) -> list[dict[str, str]]:
    found: Any = await client.xrange(key("callbacks"))
    return [fields for _, fields in found]


async def pending(client: redis.asyncio.Redis, stream: str, group: str) -> int:
    summary: Any = await client.xpending(stream, group)
    return int(summary["pending"])


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


async def agents(client: redis.asyncio.Redis, clock: Clock, *names: str) -> list[str]:
    """Agents online and available, the first idle longest."""
    routing = Routing(client, clock=clock)
    made = []
    for name in names:
        agent = "u-" + name.encode().hex().ljust(8, "0")
        await routing.agent_online(agent, name, "s-" + agent[2:])
        await routing.set_status(agent, "available")
        clock.now += timedelta(seconds=1)
        made.append(agent)
    return made


# Keeping requests


async def test_requests_for_one_number_merge_until_the_day_limit(
    redis_client: redis.asyncio.Redis,
) -> None:
    clock = Clock()
    callbacks = desk(redis_client, clock)

    kept = [await callbacks.keep(request(NUMBER)) for _ in range(4)]
    other = await callbacks.keep(request(OTHER))

    assert [k.verdict for k in kept] == [Verdict.KEPT] + [Verdict.MERGED] * 2 + [
        Verdict.NUMBER_LIMIT
    ]
    assert kept[1].callback == kept[2].callback == kept[0].callback
    assert kept[1].token == kept[0].token
    assert other.verdict is Verdict.KEPT
    # One entry a callback, never one a request.
    assert [e["number"] for e in await entries(redis_client)] == [NUMBER, OTHER]
    record = await callbacks.get(kept[0].callback)
    assert record["requests"] == "3"
    assert record["state"] == "waiting"
    # The next day (UTC) counts afresh, and merges into the open one.
    clock.now += timedelta(hours=12)
    again = await callbacks.keep(request(NUMBER))
    assert (again.verdict, again.callback) == (Verdict.MERGED, kept[0].callback)


async def test_a_later_request_moves_a_waiting_callback_to_its_window(
    redis_client: redis.asyncio.Redis,
) -> None:
    clock = Clock()
    callbacks = desk(redis_client, clock)
    first = await callbacks.keep(request(NUMBER))
    later = clock() + 3600

    await callbacks.keep(request(NUMBER, window="13:00-14:00", due_at=later))

    record = await callbacks.get(first.callback)
    assert (record["window"], float(record["due_at"])) == ("13:00-14:00", later)
    assert await redis_client.zscore(callbacks.waiting, first.callback) == later


async def test_the_day_limit_counts_every_number(
    redis_client: redis.asyncio.Redis,
) -> None:
    callbacks = desk(redis_client, Clock(), per_day=3)
    numbers = [f"+1212555010{i}" for i in range(5)]

    verdicts = [(await callbacks.keep(request(n))).verdict for n in numbers]

    assert verdicts == [Verdict.KEPT] * 3 + [Verdict.DAY_LIMIT] * 2
    assert [e["number"] for e in await entries(redis_client)] == numbers[:3]
    # What the caller is told names no number.
    assert not any(c.isdigit() for v in Verdict for c in v.sentence)


async def test_one_address_may_ask_only_so_often(
    redis_client: redis.asyncio.Redis,
) -> None:
    clock = Clock()
    callbacks = desk(redis_client, clock, per_address=2)
    numbers = [f"+1212555020{i}" for i in range(3)]

    verdicts = [
        (await callbacks.keep(request(n), address="127.0.0.9")).verdict for n in numbers
    ]
    elsewhere = await callbacks.keep(request(numbers[2]), address="127.0.0.10")

    assert verdicts == [Verdict.KEPT, Verdict.KEPT, Verdict.ADDRESS_LIMIT]
    assert elsewhere.verdict is Verdict.KEPT
    # The refused request counted nothing against its number.
    assert await redis_client.get(callbacks.counter_keys(numbers[2])[0]) == "1"
    clock.now += timedelta(hours=1)
    late = await callbacks.keep(request("+12125550299"), address="127.0.0.9")
    assert late.verdict is Verdict.KEPT


async def test_two_requests_at_the_limit_at_once_keep_exactly_one(
    clients: list[redis.asyncio.Redis],
) -> None:
    clock = Clock()
    first, second = (desk(client, clock) for client in clients)
    for _ in range(2):
        assert (await first.keep(request(NUMBER))).verdict.kept

    kept = await asyncio.gather(
        first.keep(request(NUMBER, call_id="c-a")),
        second.keep(request(NUMBER, call_id="c-b")),
    )

    assert sorted(k.verdict for k in kept) == [Verdict.MERGED, Verdict.NUMBER_LIMIT]
    assert len(await entries(clients[0])) == 1


async def test_many_requests_at_once_never_go_over_the_day_limit(
    clients: list[redis.asyncio.Redis],
) -> None:
    clock = Clock()
    desks = [desk(client, clock, per_day=7) for client in clients]
    numbers = [f"+1212555{i:04}" for i in range(40)]

    kept = await asyncio.gather(
        *(desks[i % 2].keep(request(n)) for i, n in enumerate(numbers))
    )

    assert [k.verdict for k in kept].count(Verdict.KEPT) == 7
    assert len(await entries(clients[0])) == 7
    assert await clients[0].zcard(desks[0].waiting) == 7


async def test_key_names_hide_the_number_and_counters_expire(
    redis_client: redis.asyncio.Redis,
) -> None:
    callbacks = desk(redis_client, Clock())
    await callbacks.keep(request(NUMBER), address="127.0.0.9")

    names = [str(name) for name in await redis_client.keys(PREFIX + "*")]
    assert not [n for n in names if "2125550142" in n]
    day, all_numbers = callbacks.counter_keys(NUMBER)
    assert all_numbers == key("callbacks", "2026-03-02")
    for name in (day, all_numbers):
        assert await redis_client.get(name) == "1"
        assert 86_400 < await redis_client.ttl(name) <= 2 * 86_400
    assert 0 < await redis_client.ttl(callbacks.address_key("127.0.0.9")) <= 7200


# Claims and offers


async def test_two_agents_claiming_one_callback_at_once_get_it_once(
    clients: list[redis.asyncio.Redis],
) -> None:
    clock = Clock()
    desks = [desk(client, clock) for client in clients]
    ada, bob = await agents(clients[0], clock, "ada", "bob")
    kept = await desks[0].keep(request(NUMBER))

    results = await asyncio.gather(
        desks[0].claim(kept.callback, ada),
        desks[1].claim(kept.callback, bob),
        return_exceptions=True,
    )

    won = [r for r in results if isinstance(r, tuple)]
    lost = [r for r in results if isinstance(r, ClaimError)]
    assert len(won) == 1 and [e.code for e in lost] == ["callback-taken"]
    call_id, attempt = won[0]
    record = await desks[0].get(kept.callback)
    assert (record["state"], record["attempts"], record["call"]) == (
        "dialling",
        "1",
        call_id,
    )
    call = await clients[0].hgetall(key("call", call_id))
    assert call["state"] == "dialling" and call["callback"] == kept.callback
    assert call["agent"] == record["agent"]
    assert await clients[0].hget(key("agent", call["agent"]), "status") == "busy"
    assert not await clients[0].zscore(desks[0].waiting, kept.callback)
    # Over the trunk: one dial entry for the media workers.
    dials: Any = await clients[0].xrange(desks[0].streams.dials_stream)
    assert [d["call_id"] for _, d in dials] == [call_id]


async def test_a_callback_not_yet_due_cannot_be_claimed(
    redis_client: redis.asyncio.Redis,
) -> None:
    clock = Clock()
    callbacks = desk(redis_client, clock)
    (ada,) = await agents(redis_client, clock, "ada")
    kept = await callbacks.keep(request(NUMBER, due_at=clock() + 600))

    with pytest.raises(ClaimError) as caught:
        await callbacks.claim(kept.callback, ada)

    assert caught.value.code == "not-due"
    with pytest.raises(ClaimError) as unknown:
        await callbacks.claim("cb-0000000000000000", ada)
    assert unknown.value.code == "unknown-callback"


async def test_due_callbacks_go_to_free_agents_only_when_no_caller_waits(
    redis_client: redis.asyncio.Redis,
) -> None:
    clock = Clock()
    callbacks = desk(redis_client, clock, offer_s=20)
    ada, bob = await agents(redis_client, clock, "ada", "bob")
    first = await callbacks.keep(request(NUMBER))
    await callbacks.keep(request(OTHER, due_at=clock() + 600))
    await redis_client.zadd(key("queue"), {"c-waiting0": clock()})

    assert await callbacks.offer_due() == []  # a live caller waits

    await redis_client.delete(key("queue"))
    offered = await callbacks.offer_due()

    assert offered == [(first.callback, ada)]  # the longest idle, the due one
    assert await redis_client.hget(key("agent", ada), "status") == "ringing"
    assert await callbacks.offer_due() == []
    # Skipped: back, and to the other agent next.
    assert await callbacks.give_back(first.callback, ada, lapsed=False)
    assert await redis_client.hget(key("agent", ada), "status") == "available"
    assert await callbacks.offer_due() == [(first.callback, bob)]
    # Lapsed: the agent is away, as after a ring timeout.
    assert await callbacks.give_back(first.callback, bob, lapsed=True)
    assert await redis_client.hget(key("agent", bob), "status") == "away"
    # Only the last agent who gave it back is held off for a while.
    await redis_client.hset(key("agent", bob), "status", "available")
    await redis_client.zadd(key("agents", "available"), {bob: 0})
    assert await callbacks.offer_due() == [(first.callback, ada)]
    call_id, _ = await callbacks.claim(first.callback, ada, "s-page0000")
    assert await redis_client.hget(key("call", call_id), "customer") == "s-page0000"
    assert await redis_client.xlen(callbacks.streams.dials_stream) == 0


async def test_callbacks_go_first_when_live_first_is_off(
    redis_client: redis.asyncio.Redis,
) -> None:
    clock = Clock()
    callbacks = desk(redis_client, clock, live_first=False)
    (ada,) = await agents(redis_client, clock, "ada")
    kept = await callbacks.keep(request(NUMBER))
    await redis_client.zadd(key("queue"), {"c-waiting0": clock()})

    assert await callbacks.offer_due() == [(kept.callback, ada)]


# Attempts and outcomes


async def test_unanswered_attempts_wait_again_then_fail_and_acknowledge(
    redis_client: redis.asyncio.Redis,
) -> None:
    clock = Clock()
    callbacks = desk(redis_client, clock, max_attempts=2)
    (ada,) = await agents(redis_client, clock, "ada")
    kept = await callbacks.keep(request(NUMBER))
    await callbacks.streams.read_new("n-desk")
    assert await pending(redis_client, callbacks.streams.stream, DESK_GROUP) == 1

    call_id, _ = await callbacks.claim(kept.callback, ada)
    retry = clock() + 120
    assert await callbacks.call_ended(kept.callback, call_id, "busy", retry) == (
        CallbackState.WAITING
    )
    record = await callbacks.get(kept.callback)
    assert (record["attempts"], record["last_result"]) == ("1", "busy")
    assert float(record["due_at"]) == retry
    assert "outcome" not in record
    # The same attempt's end, told twice, counts once.
    assert await callbacks.call_ended(kept.callback, call_id, "busy", retry) is None

    clock.now += timedelta(seconds=121)
    await redis_client.hset(
        key("agent", ada), mapping={"status": "available", "call": ""}
    )
    second, attempt = await callbacks.claim(kept.callback, ada)
    assert attempt == 2
    assert await callbacks.call_ended(kept.callback, second, "no-answer", 0) == (
        CallbackState.FAILED
    )
    record = await callbacks.get(kept.callback)
    assert (record["state"], record["outcome"]) == ("failed", "unreachable")
    assert await pending(redis_client, callbacks.streams.stream, DESK_GROUP) == 0
    assert 0 < await redis_client.ttl(callbacks.record_key(kept.callback))
    # The number is free for a new callback.
    fresh = await callbacks.keep(request(NUMBER))
    assert fresh.verdict is Verdict.KEPT and fresh.callback != kept.callback


async def test_attempts_count_against_the_limit_the_record_was_kept_with(
    redis_client: redis.asyncio.Redis,
) -> None:
    """The record's own limit decides whether an unanswered attempt waits
    again or fails; the desk's policy only for a record that names none."""
    clock = Clock()
    one = desk(redis_client, clock, max_attempts=1)
    five = desk(redis_client, clock, max_attempts=5)
    (ada,) = await agents(redis_client, clock, "ada")

    async def unanswered(by: CallbackDesk, callback: str) -> CallbackState | None:
        await redis_client.hset(
            key("agent", ada), mapping={"status": "available", "call": ""}
        )
        call_id, _ = await by.claim(callback, ada)
        return await by.call_ended(callback, call_id, "busy", clock())

    kept_for_one = await one.keep(request(NUMBER))
    assert await unanswered(five, kept_for_one.callback) == CallbackState.FAILED

    nameless = await five.keep(request(OTHER))
    await redis_client.hdel(five.record_key(nameless.callback), "max_attempts")
    assert await unanswered(five, nameless.callback) == CallbackState.WAITING
    assert await unanswered(one, nameless.callback) == CallbackState.FAILED
    record = await five.get(nameless.callback)
    assert (record["state"], record["attempts"]) == ("failed", "2")


async def test_a_reached_customer_waits_for_the_agents_outcome(
    redis_client: redis.asyncio.Redis,
) -> None:
    clock = Clock()
    callbacks = desk(redis_client, clock)
    ada, bob = await agents(redis_client, clock, "ada", "bob")
    kept = await callbacks.keep(request(NUMBER))
    await callbacks.streams.read_new("n-desk")
    call_id, _ = await callbacks.claim(kept.callback, ada, "s-page0000")

    assert await callbacks.attempt_answered(kept.callback, call_id)
    assert await callbacks.call_ended(kept.callback, call_id, "customer-hangup", 0) == (
        CallbackState.WRAP_UP
    )
    assert await redis_client.zscore(key("timers"), f"cbwrap:{kept.callback}")
    assert await pending(redis_client, callbacks.streams.stream, DESK_GROUP) == 1
    # Only the agent who called may say how it went.
    assert await callbacks.record_outcome(kept.callback, bob, "resolved", "", 0) is None
    done = await callbacks.record_outcome(kept.callback, ada, "resolved", "paid", 0)

    assert done == CallbackState.DONE
    record = await callbacks.get(kept.callback)
    assert (record["outcome"], record["note"]) == ("resolved", "paid")
    assert await pending(redis_client, callbacks.streams.stream, DESK_GROUP) == 0
    assert not await redis_client.zscore(key("timers"), f"cbwrap:{kept.callback}")


async def test_a_declined_ring_and_a_customer_cancel_end_the_callback(
    redis_client: redis.asyncio.Redis,
) -> None:
    clock = Clock()
    callbacks = desk(redis_client, clock)
    (ada,) = await agents(redis_client, clock, "ada")
    rung = await callbacks.keep(request(NUMBER))
    waiting = await callbacks.keep(request(OTHER))
    call_id, _ = await callbacks.claim(rung.callback, ada, "s-page0000")

    declined = await callbacks.call_ended(
        rung.callback, call_id, "callback-declined", 0
    )
    cancelled = await callbacks.cancel(waiting.callback)

    assert declined == cancelled == CallbackState.CANCELLED
    assert (await callbacks.get(rung.callback))["outcome"] == "declined"
    assert await callbacks.cancel(waiting.callback) is None
    assert await redis_client.zcard(callbacks.waiting) == 0
    assert await callbacks.check_token(waiting.callback, waiting.token)
    assert not await callbacks.check_token(waiting.callback, "x" * 24)


# Consumer groups


async def test_a_dead_nodes_pending_requests_are_taken_over(
    redis_client: redis.asyncio.Redis,
) -> None:
    clock = Clock()
    callbacks = desk(redis_client, clock)
    await redis_client.set(key("node", "n-live", "alive"), 1)
    for number in (NUMBER, OTHER):
        await callbacks.keep(request(number))
    assert await callbacks.streams.read_new("n-dead") == 2

    assert await callbacks.streams.reclaim("n-live") == 2

    consumers: Any = await redis_client.xinfo_consumers(
        callbacks.streams.stream, DESK_GROUP
    )
    assert [(c["name"], c["pending"]) for c in consumers] == [("n-live", 2)]
    # A record lost with Redis's last second is written again from its entry.
    first = (await entries(redis_client))[0]["callback"]
    await redis_client.delete(callbacks.record_key(first))
    await redis_client.delete(key("node", "n-live", "alive"))
    await redis_client.set(key("node", "n-next", "alive"), 1)
    assert await callbacks.streams.reclaim("n-next") == 2
    record = await callbacks.get(first)
    assert (record["state"], record["number"]) == ("waiting", NUMBER)


async def test_a_dead_workers_dials_are_handed_back(
    redis_client: redis.asyncio.Redis,
) -> None:
    clock = Clock()
    callbacks = desk(redis_client, clock)
    (ada,) = await agents(redis_client, clock, "ada")
    kept = await callbacks.keep(request(NUMBER))
    call_id, _ = await callbacks.claim(kept.callback, ada)
    dial = await callbacks.streams.take_dial("n-worker", block_ms=100)
    assert dial is not None and (dial.call_id, dial.number) == (call_id, NUMBER)
    assert await callbacks.streams.attach_dialler(call_id, "s-worker00")
    assert not await callbacks.streams.attach_dialler(call_id, "s-other000")

    lost = await callbacks.streams.lost_dials()

    assert [(d.call_id, d.callback, d.attempt) for d in lost] == [
        (call_id, kept.callback, 1)
    ]
    assert await pending(redis_client, callbacks.streams.dials_stream, DIALS_GROUP) == 0
    assert await callbacks.streams.lost_dials() == []

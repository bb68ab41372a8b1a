"""Routing scripts on a real Redis: skills, and calls moving between the
IVR and the queue. Each test runs on redis-server and on the embedded one."""

from __future__ import annotations

import redis.asyncio

from gateway.routing import Routing
from signaling.calls import CallEvent, CallState


async def online(routing: Routing, agent_id: str, skills: tuple[str, ...]) -> None:
    await routing.agent_online(agent_id, agent_id, "s-" + agent_id)
    await routing.set_skills(agent_id, skills)
    await routing.set_status(agent_id, "available")


async def ivr_call(routing: Routing, skill: str) -> str:
    call_id, _ = await routing.create_call("s-cust", {}, CallState.IVR, menu="m@1")
    await routing.set_call_fields(call_id, skill=skill)
    applied = await routing.apply(call_id, CallEvent.QUEUE)
    assert applied is not None and applied.transition.next_state == CallState.QUEUED
    return call_id


async def test_a_call_rings_only_an_agent_with_its_skill(
    redis_client: redis.asyncio.Redis,
) -> None:
    routing = Routing(redis_client)
    await online(routing, "a-shipping", ("shipping",))
    call_id = await ivr_call(routing, "billing")

    assert await routing.dispatch() == []

    await online(routing, "a-billing", ("billing", "returns"))
    assert await routing.dispatch() == [(call_id, "a-billing")]


async def test_agents_without_skills_and_general_calls_match_everything(
    redis_client: redis.asyncio.Redis,
) -> None:
    routing = Routing(redis_client)
    await online(routing, "a-returns", ("returns",))
    general = await ivr_call(routing, "general")
    assert await routing.dispatch() == [(general, "a-returns")]

    await online(routing, "a-any", ())
    billing = await ivr_call(routing, "billing")
    assert await routing.dispatch() == [(billing, "a-any")]


async def test_queue_from_the_ivr_joins_the_tail_and_overflow_leaves_it(
    redis_client: redis.asyncio.Redis,
) -> None:
    routing = Routing(redis_client)
    first = await ivr_call(routing, "general")
    second = await ivr_call(routing, "general")
    queue = routing.key("queue")
    assert await redis_client.zrange(queue, 0, -1) == [first, second]

    await routing.apply(first, CallEvent.OVERFLOW)
    call = await routing.get_call(first)
    assert call is not None and call.state == CallState.IVR
    assert await redis_client.zrange(queue, 0, -1) == [second]

    await routing.apply(first, CallEvent.QUEUE)
    assert await redis_client.zrange(queue, 0, -1) == [second, first]


async def test_an_ivr_call_is_not_in_the_queue_and_ends_with_its_reason(
    redis_client: redis.asyncio.Redis,
) -> None:
    routing = Routing(redis_client)
    call_id, _ = await routing.create_call("s-cust", {}, CallState.IVR, menu="m@1")
    assert await redis_client.zcard(routing.key("queue")) == 0
    await online(routing, "a-any", ())
    assert await routing.dispatch() == []

    await routing.apply(call_id, CallEvent.CALLBACK)
    call = await routing.get_call(call_id)
    assert call is not None
    assert (call.state, call.reason) == (CallState.ENDED, "callback-requested")
    assert call.menu == "m@1"

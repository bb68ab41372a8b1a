"""Transfer scripts on a real Redis: what changes, what a refusal leaves
alone, and races between two nodes, each of which must have exactly one
winner. Each test runs on redis-server and on the embedded one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio

from gateway.routing import Routing
from gateway.transfer_store import TargetRefused, TransferStore
from signaling.calls import BadTransition, CallEvent, CallState
from signaling.consult import BadConsult, ConsultEvent

RACES = 12


@dataclass
class Node:
    routing: Routing
    store: TransferStore


@pytest.fixture
async def nodes(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> AsyncIterator[tuple[Node, Node]]:
    """Two nodes on one Redis, each with its own connection."""
    other = redis.asyncio.Redis.from_url(redis_url, protocol=2, decode_responses=True)
    made = []
    for client in (redis_client, other):
        routing = Routing(client)
        made.append(Node(routing, TransferStore(routing)))
    yield made[0], made[1]
    await other.aclose()


async def online(routing: Routing, *agent_ids: str) -> None:
    for agent_id in agent_ids:
        await routing.agent_online(agent_id, agent_id.title(), "s-" + agent_id)
        await routing.set_status(agent_id, "available")


async def answered_call(routing: Routing, agent_id: str) -> str:
    """A call answered by ``agent_id``, the only available agent."""
    call_id, _ = await routing.create_call("s-cust-" + agent_id, {})
    await routing.enqueue(call_id)
    assert await routing.dispatch() == [(call_id, agent_id)]
    await routing.apply(call_id, CallEvent.ACCEPT, agent_id=agent_id)
    return call_id


async def snapshot(routing: Routing, call_id: str, *agents: str) -> dict[str, Any]:
    """Everything a transfer may touch, to compare before and after."""
    redis_client = routing.redis
    state: dict[str, Any] = {
        "call": await redis_client.hgetall(routing.key("call", call_id)),
        "available": await redis_client.zrange(
            routing.key("agents", "available"), 0, -1, withscores=True
        ),
        "timers": await redis_client.zrange(routing.key("timers"), 0, -1),
        "queue": await redis_client.zrange(routing.key("queue"), 0, -1),
    }
    for agent_id in agents:
        state[agent_id] = await redis_client.hgetall(routing.key("agent", agent_id))
    return state


async def agent_state(routing: Routing, agent_id: str) -> tuple[str, str]:
    agent = await routing.get_agent(agent_id)
    assert agent is not None
    return agent.status, agent.call


async def test_blind_transfer_rings_the_target_and_frees_the_agent(
    nodes: tuple[Node, Node],
) -> None:
    node, _ = nodes
    routing = node.routing
    await online(routing, "ann")
    call_id = await answered_call(routing, "ann")
    await online(routing, "bob")

    applied = await node.store.transfer(call_id, "ann", "bob")

    assert applied.before.state == CallState.ANSWERED
    call = await routing.get_call(call_id)
    assert call is not None
    assert (call.state, call.agent) == (CallState.RINGING, "bob")
    assert call.fields["transfer_from"] == "ann"
    assert await agent_state(routing, "bob") == ("ringing", call_id)
    assert await agent_state(routing, "ann") == ("available", "")
    assert f"ring:{call_id}" in await routing.redis.zrange(routing.key("timers"), 0, -1)

    # Declined by the target: the head of the queue, as any declined call.
    await routing.apply(call_id, CallEvent.DECLINE, agent_id="bob")
    assert await routing.redis.zrange(routing.key("queue"), 0, -1) == [call_id]


@pytest.mark.parametrize(
    ("target", "prepare", "code"),
    [
        ("ann", None, "invalid-target"),
        ("nobody", None, "invalid-target"),
        ("bob", "away", "agent-unavailable"),
        ("bob", "offline", "agent-unavailable"),
        ("bob", "busy", "agent-unavailable"),
    ],
)
async def test_a_refused_transfer_changes_nothing(
    nodes: tuple[Node, Node], target: str, prepare: str | None, code: str
) -> None:
    node, _ = nodes
    routing = node.routing
    await online(routing, "ann")
    call_id = await answered_call(routing, "ann")
    await online(routing, "bob")
    if prepare == "busy":
        await answered_call(routing, "bob")
    elif prepare == "offline":
        await routing.agent_offline("bob")
    elif prepare == "away":
        await routing.set_status("bob", "away")
    before = await snapshot(routing, call_id, "ann", "bob")

    for transfer in (node.store.transfer, node.store.consult):
        with pytest.raises(TargetRefused) as caught:
            await transfer(call_id, "ann", target)
        assert caught.value.code == code

    assert await snapshot(routing, call_id, "ann", "bob") == before


async def test_no_transfer_or_consult_while_ringing(nodes: tuple[Node, Node]) -> None:
    node, _ = nodes
    routing = node.routing
    await online(routing, "ann")
    call_id, _ = await routing.create_call("s-cust", {})
    await routing.enqueue(call_id)
    await routing.dispatch()
    await online(routing, "bob")
    before = await snapshot(routing, call_id, "ann", "bob")

    with pytest.raises(BadTransition):
        await node.store.transfer(call_id, "ann", "bob")
    with pytest.raises(BadTransition):
        await node.store.consult(call_id, "ann", "bob")
    assert await snapshot(routing, call_id, "ann", "bob") == before


async def consulting(node: Node) -> tuple[str, str]:
    """Ann's call, with Bob rung on a consult."""
    await online(node.routing, "ann")
    call_id = await answered_call(node.routing, "ann")
    await online(node.routing, "bob")
    _, consult_id = await node.store.consult(call_id, "ann", "bob")
    return call_id, consult_id


async def test_consult_then_complete_hands_the_call_over(
    nodes: tuple[Node, Node],
) -> None:
    node, _ = nodes
    routing = node.routing
    call_id, consult_id = await consulting(node)
    call = await routing.get_call(call_id)
    assert call is not None and call.state == CallState.CONSULTING
    assert await agent_state(routing, "bob") == ("ringing", consult_id)
    assert await agent_state(routing, "ann") == ("busy", call_id)

    with pytest.raises(BadConsult):  # not answered yet
        await node.store.apply_consult(consult_id, ConsultEvent.COMPLETE)
    await node.store.apply_consult(consult_id, ConsultEvent.ACCEPT)
    assert await agent_state(routing, "bob") == ("busy", consult_id)
    applied = await node.store.apply_consult(consult_id, ConsultEvent.COMPLETE)

    assert applied is not None and applied.parent is not None
    call = await routing.get_call(call_id)
    assert call is not None
    assert (call.state, call.agent) == (CallState.ANSWERED, "bob")
    assert "consult" not in call.fields
    assert await agent_state(routing, "bob") == ("busy", call_id)
    assert await agent_state(routing, "ann") == ("available", "")
    consult = await node.store.get_consult(consult_id)
    assert consult is not None
    assert (consult.state, consult.reason) == (CallState.ENDED, "completed")
    assert await routing.redis.zrange(routing.key("timers"), 0, -1) == []


async def test_customer_hangup_while_consulting_ends_the_consult(
    nodes: tuple[Node, Node],
) -> None:
    node, _ = nodes
    routing = node.routing
    call_id, consult_id = await consulting(node)
    await node.store.apply_consult(consult_id, ConsultEvent.ACCEPT)

    await routing.apply(call_id, CallEvent.CUSTOMER_HANGUP)

    consult = await node.store.get_consult(consult_id)
    assert consult is not None
    assert (consult.state, consult.reason) == (CallState.ENDED, "call-left")
    assert await agent_state(routing, "bob") == ("available", "")
    assert await agent_state(routing, "ann") == ("available", "")


async def answered_consult(node: Node) -> tuple[str, str]:
    """On an empty Redis: Ann's call, and Bob on a consult he answered."""
    await node.routing.redis.flushall()
    call_id, consult_id = await consulting(node)
    await node.store.apply_consult(consult_id, ConsultEvent.ACCEPT)
    return call_id, consult_id


async def race(first: Any, second: Any) -> list[Any]:
    return list(await asyncio.gather(first, second, return_exceptions=True))


async def test_accept_racing_cancel_has_one_winner(nodes: tuple[Node, Node]) -> None:
    one, two = nodes
    winners: set[str] = set()
    for _ in range(RACES):
        await one.routing.redis.flushall()
        call_id, consult_id = await consulting(one)
        accept, cancel = await race(
            one.store.apply_consult(consult_id, ConsultEvent.ACCEPT),
            two.store.apply_consult(consult_id, ConsultEvent.CANCEL),
        )
        assert not isinstance(cancel, Exception), cancel  # cancel always fits
        winners.add("cancel" if isinstance(accept, BadConsult) else "accept")

        # Either way: the consult is over, Ann has her customer back.
        consult = await one.store.get_consult(consult_id)
        assert consult is not None
        assert (consult.state, consult.reason) == (CallState.ENDED, "cancelled")
        call = await one.routing.get_call(call_id)
        assert call is not None
        assert (call.state, call.agent) == (CallState.ANSWERED, "ann")
        assert await agent_state(one.routing, "bob") == ("available", "")
        assert await agent_state(one.routing, "ann") == ("busy", call_id)
    assert winners  # which one wins is the scheduler's choice


async def test_complete_racing_hangup_has_one_winner(
    nodes: tuple[Node, Node],
) -> None:
    one, two = nodes
    for _ in range(RACES):
        call_id, consult_id = await answered_consult(one)
        complete, hangup = await race(
            one.store.apply_consult(consult_id, ConsultEvent.COMPLETE),
            two.store.apply_consult(consult_id, ConsultEvent.HANGUP),
        )
        assert isinstance(complete, BadConsult) != isinstance(hangup, BadConsult)

        call = await one.routing.get_call(call_id)
        assert call is not None and call.state == CallState.ANSWERED
        holder, free = ("ann", "bob") if call.agent == "ann" else ("bob", "ann")
        assert holder == ("ann" if isinstance(complete, BadConsult) else "bob")
        assert await agent_state(one.routing, holder) == ("busy", call_id)
        assert await agent_state(one.routing, free) == ("available", "")


async def test_customer_hangup_racing_complete_leaves_nobody_busy(
    nodes: tuple[Node, Node],
) -> None:
    one, two = nodes
    for _ in range(RACES):
        call_id, consult_id = await answered_consult(one)
        complete, hangup = await race(
            one.store.apply_consult(consult_id, ConsultEvent.COMPLETE),
            two.routing.apply(call_id, CallEvent.CUSTOMER_HANGUP),
        )
        assert not isinstance(hangup, Exception), hangup

        call = await one.routing.get_call(call_id)
        assert call is not None and call.state == CallState.ENDED
        for agent_id in ("ann", "bob"):
            assert await agent_state(one.routing, agent_id) == ("available", "")


async def test_two_transfers_to_one_agent_ring_it_once(
    nodes: tuple[Node, Node],
) -> None:
    one, two = nodes
    for _ in range(RACES):
        await one.routing.redis.flushall()
        await online(one.routing, "ann")
        first = await answered_call(one.routing, "ann")
        await online(one.routing, "cy")
        second = await answered_call(one.routing, "cy")
        await online(one.routing, "bob")
        results = await race(
            one.store.transfer(first, "ann", "bob"),
            two.store.transfer(second, "cy", "bob"),
        )
        refused = [r for r in results if isinstance(r, TargetRefused)]
        assert len(refused) == 1 and refused[0].code == "agent-unavailable"
        status, ringing_for = await agent_state(one.routing, "bob")
        assert status == "ringing" and ringing_for in (first, second)

"""Calls through running Helpline nodes and a real Redis, over real sockets.

Each test runs twice: on Debian's redis-server and on the embedded one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.cases import case_sdp
from tests.fixtures.app import ClientFactory, NodeFactory, RunningHelpline, WsClient

OFFER = case_sdp("06-chrome-extmap-allow-mixed")
CANDIDATE: dict[str, Any] = {
    "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
    "sdpMid": "0",
    "sdpMLineIndex": 0,
}


async def agent(
    node: RunningHelpline, clients: ClientFactory, name: str, available: bool = True
) -> WsClient:
    token = await node.create_agent(name.lower(), "correct horse", name)
    client = await clients(node.ws_url, {"role": "agent", "token": token})
    assert client.welcome["agent"]["status"] == "away"
    if available:
        await client.send({"type": "agent.status", "status": "available"})
        await client.expect(
            lambda e: e.get("type") == "agent.state" and e["status"] == "available"
        )
    return client


async def customer(
    node: RunningHelpline, clients: ClientFactory, name: str = "Ada"
) -> WsClient:
    return await clients(node.ws_url, {"role": "customer", "name": name})


async def place(client: WsClient, topic: str = "billing") -> str:
    await client.send({"type": "call.place", "caller": {"topic": topic}})
    queued = await client.call_state("queued")
    call_id: str = queued["call_id"]
    return call_id


async def connect_call(agent_client: WsClient, customer_client: WsClient) -> str:
    """Place a call from the customer, answered by the agent; both know."""
    call_id = await place(customer_client)
    await agent_client.call_state("ringing")
    await agent_client.send({"type": "call.accept", "call_id": call_id})
    await agent_client.call_state("answered")
    await customer_client.call_state("answered")
    return call_id


async def test_call_rings_agent_is_answered_relays_and_ends(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    grace = await agent(helpline, ws_clients, "Grace")
    ada = await customer(helpline, ws_clients)
    call_id = await place(ada)

    ringing = await grace.call_state("ringing")
    assert ringing["call_id"] == call_id
    assert ringing["caller"] == {"name": "Ada", "topic": "billing"}
    await ada.call_state("ringing")

    await grace.send({"type": "call.accept", "call_id": call_id})
    answered = await ada.call_state("answered")
    assert answered["agent"] == {"name": "Grace"}
    await grace.call_state("answered")

    await ada.send({"type": "sdp.offer", "call_id": call_id, "sdp": OFFER})
    relayed = await grace.expect("sdp.offer")
    assert relayed["sdp"] == OFFER and relayed["call_id"] == call_id
    await grace.send(
        {"type": "ice.candidate", "call_id": call_id, "candidate": CANDIDATE}
    )
    assert (await ada.expect("ice.candidate"))["candidate"] == CANDIDATE
    await ada.send({"type": "call.dtmf", "call_id": call_id, "digits": "42#"})
    assert (await grace.expect("call.dtmf"))["digits"] == "42#"

    await ada.send({"type": "call.hangup", "call_id": call_id})
    assert (await grace.call_state("ended"))["reason"] == "customer-hangup"
    assert (await ada.call_state("ended"))["reason"] == "customer-hangup"
    state = await grace.expect(
        lambda e: e.get("type") == "agent.state" and e["status"] == "available"
    )
    assert "call_id" not in state


async def test_agent_hangup_and_hold(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    grace = await agent(helpline, ws_clients, "Grace")
    ada = await customer(helpline, ws_clients)
    call_id = await connect_call(grace, ada)

    await grace.send({"type": "call.hold", "call_id": call_id, "on": True})
    await ada.call_state("held")
    await grace.send({"type": "call.hold", "call_id": call_id, "on": False})
    await ada.call_state("answered")

    await grace.send({"type": "call.hangup", "call_id": call_id})
    assert (await ada.call_state("ended"))["reason"] == "agent-hangup"


async def test_queue_positions_and_first_come_first_served(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    first = await customer(helpline, ws_clients, "First")
    second = await customer(helpline, ws_clients, "Second")
    first_call = await place(first)
    await second.send({"type": "call.place"})
    queued = await second.call_state("queued")
    assert queued["position"] == 2
    assert queued["estimated_wait_s"] > 0

    grace = await agent(helpline, ws_clients, "Grace")
    assert (await grace.call_state("ringing"))["call_id"] == first_call
    moved = await second.expect(
        lambda e: e.get("type") == "call.state" and e.get("position") == 1
    )
    assert moved["state"] == "queued"


async def test_longest_idle_agent_rings_first(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    early = await agent(helpline, ws_clients, "Early")
    await asyncio.sleep(0.05)  # a later idle-since stamp for the second agent
    late = await agent(helpline, ws_clients, "Late")
    ada = await customer(helpline, ws_clients)
    call_id = await place(ada)
    assert (await early.call_state("ringing"))["call_id"] == call_id
    assert not any(e.get("state") == "ringing" for e in late.received)


async def test_decline_goes_back_to_the_head_and_rings_another_agent(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    first = await agent(helpline, ws_clients, "First")
    ada = await customer(helpline, ws_clients, "Ada")
    bob = await customer(helpline, ws_clients, "Bob")
    ada_call = await place(ada)
    await first.call_state("ringing")
    await bob.send({"type": "call.place"})
    await bob.call_state("queued")

    await first.send({"type": "call.decline", "call_id": ada_call})
    assert (await first.call_state("ended"))["reason"] == "requeued"
    # The declining agent is free again and gets Bob; Ada waits at the head.
    bob_ringing = await first.call_state("ringing")
    assert bob_ringing["caller"]["name"] == "Bob"
    assert (await ada.call_state("queued"))["position"] == 1

    second = await agent(helpline, ws_clients, "Second")
    assert (await second.call_state("ringing"))["call_id"] == ada_call


async def test_ring_timeout_sets_agent_away_and_rings_the_next(
    helpline_factory: NodeFactory, ws_clients: ClientFactory
) -> None:
    node = await helpline_factory(ring_timeout_s=1)
    sleepy = await agent(node, ws_clients, "Sleepy")
    ada = await customer(node, ws_clients)
    call_id = await place(ada)
    await sleepy.call_state("ringing")
    away = await sleepy.expect(
        lambda e: e.get("type") == "agent.state" and e["status"] == "away", within=5
    )
    assert "call_id" not in away
    assert (await ada.call_state("queued"))["position"] == 1

    awake = await agent(node, ws_clients, "Awake")
    assert (await awake.call_state("ringing"))["call_id"] == call_id


async def test_customer_resumes_within_grace_and_misses_nothing(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    grace = await agent(helpline, ws_clients, "Grace")
    ada = await customer(helpline, ws_clients)
    call_id = await place(ada)
    await grace.call_state("ringing")
    await ada.call_state("ringing")
    welcome, last_seq = ada.welcome, ada.last_seq
    await ada.ws.close()

    # Answered while the customer is away: the event waits in the outbox.
    await grace.send({"type": "call.accept", "call_id": call_id})
    await grace.call_state("answered")
    back = await ws_clients(helpline.ws_url)
    await back.send(
        {
            "type": "hello",
            "v": 1,
            "role": "customer",
            "resume": {
                "session_id": welcome["session_id"],
                "resume_token": welcome["resume_token"],
                "last_seq": last_seq,
            },
        }
    )
    answered = await back.call_state("answered")
    assert answered["call_id"] == call_id and answered["seq"] == last_seq + 1
    resumed = await back.expect("welcome")
    assert resumed["resumed"] is True and resumed["session_id"] == welcome["session_id"]
    await back.send({"type": "sdp.offer", "call_id": call_id, "sdp": OFFER})
    assert (await grace.expect("sdp.offer"))["sdp"] == OFFER


async def test_customer_lost_after_grace_ends_the_call(
    helpline_factory: NodeFactory, ws_clients: ClientFactory
) -> None:
    node = await helpline_factory(grace_s=1)
    grace = await agent(node, ws_clients, "Grace")
    ada = await customer(node, ws_clients)
    await connect_call(grace, ada)
    welcome = ada.welcome
    await ada.ws.close()

    ended = await grace.call_state("ended", within=5)
    assert ended["reason"] == "customer-lost"
    late = await ws_clients(node.ws_url)
    resume = {
        "session_id": welcome["session_id"],
        "resume_token": welcome["resume_token"],
        "last_seq": 0,
    }
    await late.send({"type": "hello", "v": 1, "role": "customer", "resume": resume})
    assert (await late.expect("error"))["code"] == "unauthorized"


async def test_agent_lost_mid_call_sends_the_call_back_to_the_queue_head(
    helpline_factory: NodeFactory, ws_clients: ClientFactory
) -> None:
    node = await helpline_factory(grace_s=1)
    grace = await agent(node, ws_clients, "Grace")
    ada = await customer(node, ws_clients)
    call_id = await connect_call(grace, ada)
    await grace.ws.close()

    requeued = await ada.call_state("queued", within=5)
    assert requeued["position"] == 1
    other = await agent(node, ws_clients, "Other")
    assert (await other.call_state("ringing"))["call_id"] == call_id


async def test_early_candidates_wait_for_the_agent(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    ada = await customer(helpline, ws_clients)
    call_id = await place(ada)
    first = {**CANDIDATE, "candidate": CANDIDATE["candidate"].replace("50000", "50001")}
    for candidate in (first, CANDIDATE, None):
        await ada.send(
            {"type": "ice.candidate", "call_id": call_id, "candidate": candidate}
        )

    grace = await agent(helpline, ws_clients, "Grace")
    await grace.call_state("ringing")
    await grace.send({"type": "call.accept", "call_id": call_id})
    got = [await grace.expect("ice.candidate") for _ in range(3)]
    assert [g["candidate"] for g in got] == [first, CANDIDATE, None]


async def test_two_nodes_share_calls(
    helpline_factory: NodeFactory, ws_clients: ClientFactory
) -> None:
    one, two = await helpline_factory(), await helpline_factory()
    grace = await agent(one, ws_clients, "Grace")
    ada = await customer(two, ws_clients)
    call_id = await connect_call(grace, ada)
    await ada.send({"type": "sdp.offer", "call_id": call_id, "sdp": OFFER})
    assert (await grace.expect("sdp.offer"))["sdp"] == OFFER


async def test_no_agent_gets_two_calls_under_concurrent_load(
    helpline_factory: NodeFactory, ws_clients: ClientFactory
) -> None:
    nodes = [await helpline_factory(), await helpline_factory()]
    agents = [await agent(nodes[i % 2], ws_clients, f"Agent{i}") for i in range(6)]
    customers = await asyncio.gather(
        *(customer(nodes[i % 2], ws_clients, f"C{i}") for i in range(20))
    )
    await asyncio.gather(*(c.send({"type": "call.place"}) for c in customers))

    rung: dict[str, str] = {}
    for a in agents:
        event = await a.call_state("ringing")
        rung[event["call_id"]] = a.welcome["agent"]["id"]
    assert len(rung) == len(agents)  # six distinct calls, one per agent

    redis = nodes[0].store.redis
    assert await redis.zcard("helpline:queue") == len(customers) - len(agents)
    # No agent is rung a second time while its first call rings.
    again = await asyncio.gather(
        *(a.call_state("ringing", within=0.5) for a in agents),
        return_exceptions=True,
    )
    assert all(isinstance(result, TimeoutError) for result in again)


async def test_hundreds_of_sockets_closing_at_once_all_get_their_grace(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    node = helpline.node
    node.endpoint.limits.sessions_per_minute = 1000
    clients = await asyncio.gather(
        *(customer(helpline, ws_clients, f"C{i}") for i in range(400))
    )
    await asyncio.gather(*(c.ws.close() for c in clients))

    redis = helpline.store.redis
    for _ in range(400):  # the server detaches them as the closes arrive
        if await redis.zcard("helpline:timers") >= len(clients):
            break
        await asyncio.sleep(0.05)
    graces = await redis.zrange("helpline:timers", 0, -1)
    assert {str(g).removeprefix("grace:") for g in graces} == {
        c.welcome["session_id"] for c in clients
    }


async def test_agent_signing_in_again_mid_call_requeues_the_call(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    token = await helpline.create_agent("grace", "correct horse", "Grace")
    grace = await ws_clients(helpline.ws_url, {"role": "agent", "token": token})
    await grace.send({"type": "agent.status", "status": "available"})
    ada = await customer(helpline, ws_clients)
    call_id = await connect_call(grace, ada)

    # The softphone page is reloaded: a new session with the same token.
    again = await ws_clients(helpline.ws_url, {"role": "agent", "token": token})
    assert again.welcome["agent"]["status"] == "away"
    assert "call_id" not in again.welcome["agent"]
    requeued = await ada.call_state("queued")
    assert requeued["call_id"] == call_id and requeued["position"] == 1
    replaced = await grace.expect(
        lambda e: e.get("type") == "agent.state" and e.get("reason") == "replaced"
    )
    assert replaced["status"] == "offline"

    await again.send({"type": "agent.status", "status": "available"})
    other = await agent(helpline, ws_clients, "Other")
    assert (await other.call_state("ringing"))["call_id"] == call_id

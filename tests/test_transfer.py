"""Transfers through a running Helpline node, a real Redis and real aiortc
peers: who is told what, and that audio reaches the agent who has the
customer in the end. Each test runs on redis-server and on the embedded one.
"""

from __future__ import annotations

from typing import Any

from gateway.transfer_store import TransferStore
from gateway.webrtc import Peer
from tests.fixtures.app import ClientFactory, NodeFactory, RunningHelpline, WsClient
from tests.fixtures.webrtc import PeerFactory, connect_and_hear
from tests.test_event_log import kinds, logged
from tests.test_signaling import agent, connect_call, customer, place


def agent_id(client: WsClient) -> str:
    value: str = client.welcome["agent"]["id"]
    return value


def is_status(status: str) -> Any:
    return lambda e: e.get("type") == "agent.state" and e["status"] == status


def state_of(call_id: str, state: str) -> Any:
    return lambda e: (
        e.get("type") == "call.state"
        and e["call_id"] == call_id
        and e["state"] == state
    )


async def talk(
    peers: PeerFactory,
    offerer: WsClient,
    answerer: WsClient,
    call_id: str,
    names: tuple[str, str],
) -> tuple[Peer, Peer]:
    """Two fresh aiortc peers negotiate through the node's relay on
    ``call_id`` (the offerer as the widget does) until both hear audio."""
    caller, callee = peers(names[0]), peers(names[1])
    caller.add_audio()
    callee.add_audio()
    offer = await caller.create_offer()
    await offerer.send({"type": "sdp.offer", "call_id": call_id, "sdp": offer})
    relayed = await answerer.expect("sdp.offer")
    assert relayed["call_id"] == call_id
    answer = await callee.accept_offer(relayed["sdp"])
    await answerer.send({"type": "sdp.answer", "call_id": call_id, "sdp": answer})
    await caller.accept_answer((await offerer.expect("sdp.answer"))["sdp"])
    await connect_and_hear(caller, callee)
    return caller, callee


async def heard_more(peer: Peer, frames: int = 10) -> None:
    before = peer.audio_received()
    await connect_and_hear(peer, frames=frames + peer.frames_received)
    assert peer.audio_received() > before


async def three(
    node: RunningHelpline, clients: ClientFactory
) -> tuple[WsClient, WsClient, WsClient, str]:
    """Grace answers Ada's call; then Bob comes online, available."""
    grace = await agent(node, clients, "Grace")
    ada = await customer(node, clients)
    call_id = await connect_call(grace, ada)
    bob = await agent(node, clients, "Bob")
    return grace, ada, bob, call_id


async def test_agent_list_names_colleagues_with_their_status(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    grace, ada, bob, _ = await three(helpline, ws_clients)
    await grace.send({"type": "agent.list"})
    listed = (await grace.expect("agent.list"))["agents"]
    assert listed == [{"id": agent_id(bob), "name": "Bob", "status": "available"}]

    await ada.send({"type": "agent.list", "id": "q1"})
    refused = await ada.expect("error")
    assert (refused["code"], refused["ref"]) == ("not-allowed", "q1")


async def test_blind_transfer_moves_the_audio_to_the_new_agent(
    helpline: RunningHelpline, ws_clients: ClientFactory, peers: PeerFactory
) -> None:
    grace, ada, bob, call_id = await three(helpline, ws_clients)
    await talk(peers, ada, grace, call_id, ("ada-1", "grace"))

    await grace.send(
        {"type": "call.transfer", "call_id": call_id, "agent": agent_id(bob)}
    )
    transferring = await ada.call_state("ringing")
    assert transferring["transfer"] == "blind"
    assert (await grace.call_state("ended"))["reason"] == "transferred"
    await grace.expect(is_status("available"))
    ringing = await bob.call_state("ringing")
    assert ringing["call_id"] == call_id
    assert ringing["caller"] == {"name": "Ada", "topic": "billing"}
    assert ringing["transfer"] == "blind"

    await bob.send({"type": "call.accept", "call_id": call_id})
    assert (await ada.call_state("answered"))["agent"] == {"name": "Bob"}
    ada_again, bob_peer = await talk(peers, ada, bob, call_id, ("ada-2", "bob"))
    assert ada_again.audio_received() > 0 and bob_peer.audio_received() > 0

    # Grace no longer has the call; her requests about it are refused.
    await grace.send({"type": "call.hangup", "call_id": call_id, "id": "h1"})
    assert (await grace.expect("error"))["code"] == "unknown-call"


async def test_a_transfer_nobody_answers_goes_to_the_head_of_the_queue(
    helpline_factory: NodeFactory, ws_clients: ClientFactory
) -> None:
    node = await helpline_factory(ring_timeout_s=1)
    grace, ada, bob, call_id = await three(node, ws_clients)
    await grace.send(
        {"type": "call.transfer", "call_id": call_id, "agent": agent_id(bob)}
    )
    await bob.call_state("ringing")

    queued = await ada.call_state("queued", within=5)
    assert queued["position"] == 1
    await bob.expect(is_status("away"))
    # Grace, available again, is rung for it.
    assert (await grace.call_state("ringing"))["call_id"] == call_id


async def consult(grace: WsClient, ada: WsClient, bob: WsClient, call_id: str) -> str:
    """Grace consults Bob, who answers; returns the consult call's id."""
    await grace.send(
        {"type": "call.consult", "call_id": call_id, "agent": agent_id(bob)}
    )
    await ada.call_state("held")
    await grace.expect(state_of(call_id, "consulting"))
    ringing_at_grace = await grace.call_state("ringing")
    consult_id: str = ringing_at_grace["call_id"]
    assert ringing_at_grace["consult"]["agent"]["name"] == "Bob"
    ringing = await bob.call_state("ringing")
    assert ringing["call_id"] == consult_id
    assert ringing["consult"] == {
        "call_id": call_id,
        "from": {"id": agent_id(grace), "name": "Grace"},
    }
    assert ringing["caller"]["name"] == "Ada"

    await bob.send({"type": "call.accept", "call_id": consult_id})
    await grace.expect(state_of(consult_id, "answered"))
    await bob.expect(state_of(consult_id, "answered"))
    await bob.expect(is_status("busy"))
    return consult_id


async def test_consult_then_complete_gives_the_customer_to_the_colleague(
    helpline: RunningHelpline, ws_clients: ClientFactory, peers: PeerFactory
) -> None:
    grace, ada, bob, call_id = await three(helpline, ws_clients)
    await talk(peers, ada, grace, call_id, ("ada-1", "grace"))
    consult_id = await consult(grace, ada, bob, call_id)
    # The two agents talk, browser to browser, on the consult call.
    await talk(peers, grace, bob, consult_id, ("grace-consult", "bob-consult"))

    await grace.send({"type": "call.consult_complete", "call_id": call_id})
    handed = await ada.call_state("answered")
    assert handed["agent"] == {"name": "Bob"} and handed["transfer"] == "attended"
    for end in (grace, bob):
        ended = await end.expect(state_of(consult_id, "ended"))
        assert ended["reason"] == "completed"
    to_bob = await bob.expect(state_of(call_id, "answered"))
    assert to_bob["caller"]["name"] == "Ada"
    assert (await grace.expect(state_of(call_id, "ended")))["reason"] == "transferred"
    await grace.expect(is_status("available"))

    await talk(peers, ada, bob, call_id, ("ada-2", "bob"))
    await bob.send({"type": "call.hangup", "call_id": call_id})
    assert (await ada.call_state("ended"))["reason"] == "agent-hangup"

    # One interaction: Grace answered it, then handed it on after a consult
    # (the consult call itself is no event of the customer's call).
    events = await logged(helpline, call_id)
    assert kinds(events) == ["queued", "answered", "transferred", "ended"]
    assert events[1]["agent"] == agent_id(grace)
    assert (events[2]["detail"], events[2]["agent"]) == ("consult", agent_id(grace))
    assert not any(e.get("call") == consult_id for e in await logged(helpline))


async def test_consult_cancel_gives_the_customer_back(
    helpline: RunningHelpline, ws_clients: ClientFactory, peers: PeerFactory
) -> None:
    grace, ada, bob, call_id = await three(helpline, ws_clients)
    ada_peer, grace_peer = await talk(peers, ada, grace, call_id, ("ada", "grace"))
    consult_id = await consult(grace, ada, bob, call_id)

    await grace.send({"type": "call.consult_cancel", "call_id": call_id})
    for end in (grace, bob):
        ended = await end.expect(state_of(consult_id, "ended"))
        assert ended["reason"] == "cancelled"
    await ada.call_state("answered")
    await grace.expect(state_of(call_id, "answered"))
    await bob.expect(is_status("available"))

    # Grace takes Ada off hold by a re-offer through the relay; the
    # customer's side answers and the audio between them goes on.
    offer = await grace_peer.create_offer()
    await grace.send({"type": "sdp.offer", "call_id": call_id, "sdp": offer})
    relayed = await ada.expect("sdp.offer")
    answer = await ada_peer.accept_offer(relayed["sdp"])
    await ada.send({"type": "sdp.answer", "call_id": call_id, "sdp": answer})
    await grace_peer.accept_answer((await grace.expect("sdp.answer"))["sdp"])
    await heard_more(ada_peer)
    await heard_more(grace_peer)
    for end in (grace, bob):
        # A reply through the same outbox: everything told before it is in.
        await end.send({"type": "agent.list"})
        await end.expect("agent.list")
        told = [e for e in end.received if state_of(consult_id, "ended")(e)]
        assert len(told) == 1, told
    # Cancelled: the call was not handed on.
    assert kinds(await logged(helpline, call_id)) == ["queued", "answered"]


async def test_a_declined_consult_gives_the_customer_back(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    grace, ada, bob, call_id = await three(helpline, ws_clients)
    await grace.send(
        {"type": "call.consult", "call_id": call_id, "agent": agent_id(bob)}
    )
    consult_id = (await bob.call_state("ringing"))["call_id"]
    await bob.send({"type": "call.decline", "call_id": consult_id})

    ended = await grace.expect(state_of(consult_id, "ended"))
    assert ended["reason"] == "declined"
    await ada.expect(state_of(call_id, "answered"))
    await bob.expect(is_status("available"))


async def test_customer_hangup_while_consulting_ends_the_consult(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    grace, ada, bob, call_id = await three(helpline, ws_clients)
    consult_id = await consult(grace, ada, bob, call_id)
    await ada.send({"type": "call.hangup", "call_id": call_id})

    assert (await grace.expect(state_of(call_id, "ended")))["reason"] == (
        "customer-hangup"
    )
    for end in (grace, bob):
        ended = await end.expect(state_of(consult_id, "ended"))
        assert ended["reason"] == "call-left"
    await bob.expect(is_status("available"))
    assert any(is_status("available")(e) for e in grace.received)


async def refused(client: WsClient, request: dict[str, Any], code: str) -> str:
    await client.send({**request, "id": "r1"})
    error = await client.expect("error")
    assert (error["code"], error["ref"]) == (code, "r1"), error
    message: str = error["message"]
    return message


async def test_bad_transfers_are_refused_and_change_nothing(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    busy = await agent(helpline, ws_clients, "Busy")
    await connect_call(busy, await customer(helpline, ws_clients, "Eve"))
    grace, ada, bob, call_id = await three(helpline, ws_clients)
    away = await agent(helpline, ws_clients, "Away", available=False)
    routing = helpline.node.routing
    before = await routing.get_call(call_id)

    transfer = {"type": "call.transfer", "call_id": call_id}
    assert "own agent" in await refused(
        grace, {**transfer, "agent": agent_id(grace)}, "invalid-target"
    )
    assert "on another call" in await refused(
        grace, {**transfer, "agent": agent_id(busy)}, "agent-unavailable"
    )
    assert "away" in await refused(
        grace, {**transfer, "agent": agent_id(away)}, "agent-unavailable"
    )
    assert "no such agent" in await refused(
        grace, {**transfer, "agent": "u-00000000deadbeef"}, "invalid-target"
    )
    assert "toll-free" in await refused(
        grace, {**transfer, "tollfree": True}, "not-allowed"
    )
    assert "no consult" in await refused(
        grace, {"type": "call.consult_complete", "call_id": call_id}, "bad-state"
    )
    await refused(ada, {**transfer, "agent": agent_id(bob)}, "not-allowed")
    await refused(bob, {**transfer, "agent": agent_id(grace)}, "unknown-call")

    assert await routing.get_call(call_id) == before
    for client, status in ((bob, "available"), (grace, "busy"), (busy, "busy")):
        found = await routing.get_agent(agent_id(client))
        assert found is not None and found.status == status


async def test_no_consult_while_ringing_and_no_complete_before_an_answer(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    grace = await agent(helpline, ws_clients, "Grace")
    ada = await customer(helpline, ws_clients)
    call_id = await place(ada)
    await grace.call_state("ringing")
    bob = await agent(helpline, ws_clients, "Bob")
    consult_request = {"type": "call.consult", "call_id": call_id}
    await refused(grace, {**consult_request, "agent": agent_id(bob)}, "bad-state")

    await grace.send({"type": "call.accept", "call_id": call_id})
    await ada.call_state("answered")
    await grace.send({**consult_request, "agent": agent_id(bob)})
    consult_id = (await bob.call_state("ringing"))["call_id"]
    assert "consult" in await refused(
        grace, {"type": "call.consult_complete", "call_id": call_id}, "bad-state"
    )
    await refused(
        grace, {"type": "call.hold", "call_id": call_id, "on": False}, "bad-state"
    )
    await refused(
        grace,
        {"type": "sdp.offer", "call_id": consult_id, "sdp": "v=0\r\n"},
        "invalid-sdp",
    )
    consult_state = await TransferStore(helpline.node.routing).get_consult(consult_id)
    assert consult_state is not None and consult_state.state == "ringing"


async def test_a_consult_nobody_answers_gives_the_customer_back(
    helpline_factory: NodeFactory, ws_clients: ClientFactory
) -> None:
    node = await helpline_factory(ring_timeout_s=1)
    grace, ada, bob, call_id = await three(node, ws_clients)
    await grace.send(
        {"type": "call.consult", "call_id": call_id, "agent": agent_id(bob)}
    )
    consult_id = (await bob.call_state("ringing"))["call_id"]

    ended = await grace.expect(state_of(consult_id, "ended"), within=5)
    assert ended["reason"] == "no-answer"
    await ada.expect(state_of(call_id, "answered"))
    await bob.expect(is_status("away"))


async def test_a_consulted_agent_signing_in_again_gives_the_customer_back(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    grace = await agent(helpline, ws_clients, "Grace")
    ada = await customer(helpline, ws_clients)
    call_id = await connect_call(grace, ada)
    token = await helpline.create_agent("bob", "correct horse", "Bob")
    bob = await ws_clients(helpline.ws_url, {"role": "agent", "token": token})
    await bob.send({"type": "agent.status", "status": "available"})
    await bob.expect(is_status("available"))
    consult_id = await consult(grace, ada, bob, call_id)

    # Bob's softphone is reloaded: the consult's audio went with the page.
    again = await ws_clients(helpline.ws_url, {"role": "agent", "token": token})
    assert again.welcome["agent"]["status"] == "away"
    ended = await grace.expect(state_of(consult_id, "ended"))
    assert ended["reason"] == "agent-lost"
    await ada.expect(state_of(call_id, "answered"))
    await grace.expect(state_of(call_id, "answered"))

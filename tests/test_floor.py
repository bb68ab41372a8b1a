"""The live floor over real sockets and a real Redis: operators' sessions,
``floor.watch``, snapshots pushed across nodes, debounced, and watchers
forgotten when their session ends (docs/reports.md, "Live floor")."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from gateway.accounts import Accounts
from gateway.callbacks import Request
from gateway.floor import MIN_INTERVAL_S, OUTBOX_KEEP, FloorData, snapshot
from tests.fixtures.app import ClientFactory, NodeFactory, RunningHelpline, WsClient
from tests.test_signaling import agent, customer, place

Event = dict[str, Any]


async def operator_token(node: RunningHelpline, username: str = "olive") -> str:
    accounts = Accounts(node.store)
    user = await accounts.add_user(username, "correct horse", "operator", "Olive")
    return await accounts.issue_token(user)


async def operator(node: RunningHelpline, clients: ClientFactory) -> WsClient:
    """An operator's session that watches the floor; its first snapshot
    has been read."""
    token = await operator_token(node)
    client = await clients(node.ws_url, {"role": "operator", "token": token})
    assert client.welcome["role"] == "operator"
    await client.send({"type": "floor.watch", "id": "w1"})
    await client.expect("floor")
    return client


async def floor_where(
    client: WsClient, check: Any, within: float = 5.0
) -> dict[str, Any]:
    """The next ``floor`` event for which `check(event)` holds."""
    return await client.expect(
        lambda e: e.get("type") == "floor" and bool(check(e)), within
    )


def waiting_ids(event: Event) -> list[str]:
    return [row["call_id"] for row in event["waiting"]]


def agent_row(event: Event, name: str) -> Event:
    rows = [row for row in event["agents"] if row["name"] == name]
    assert len(rows) == 1, event["agents"]
    row: Event = rows[0]
    return row


# Opening an operator's session


async def test_an_operator_session_needs_an_operators_token(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    agent_token = await helpline.create_agent("grace", "correct horse", "Grace")
    for hello, code, words in (
        ({"role": "operator"}, "unauthorized", "token is not valid"),
        ({"role": "operator", "token": "x" * 40}, "unauthorized", "not valid"),
        ({"role": "operator", "token": agent_token}, "forbidden", "agent's"),
    ):
        client = await ws_clients(helpline.ws_url)
        await client.send({"type": "hello", "v": 1, "id": "h", **hello})
        error = await client.expect("error")
        assert error["code"] == code and words in error["message"], error
        assert error["ref"] == "h"

    ok = await ws_clients(
        helpline.ws_url, {"role": "operator", "token": await operator_token(helpline)}
    )
    assert ok.welcome["role"] == "operator" and "agent" not in ok.welcome


async def test_operators_place_no_calls_and_others_cannot_watch(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    olive = await operator(helpline, ws_clients)
    for request in (
        {"type": "call.place"},
        {"type": "agent.status", "status": "available"},
        {"type": "callback.list"},
        {"type": "call.hangup", "call_id": "c-0123456789abcdef"},
        {"type": "sdp.offer", "call_id": "c-0123456789abcdef", "sdp": "v=0"},
    ):
        await olive.send({**request, "id": "r"})
        error = await olive.expect("error")
        assert error["code"] == "not-allowed", error
        assert "only watches the floor" in error["message"]

    grace = await agent(helpline, ws_clients, "Grace")
    ada = await customer(helpline, ws_clients)
    for client in (grace, ada):
        await client.send({"type": "floor.watch", "id": "w"})
        error = await client.expect("error")
        assert error["code"] == "not-allowed"
        assert error["message"] == "only an operator may send floor.watch"
    watchers = await helpline.store.redis.smembers("helpline:floor:watchers")
    assert watchers == {olive.welcome["session_id"]}


# What a snapshot holds


async def test_the_snapshot_shows_agents_calls_callbacks_and_workers(
    helpline_factory: NodeFactory, ws_clients: ClientFactory
) -> None:
    node = await helpline_factory(sip_workers=2)
    redis = node.store.redis
    await redis.hset("helpline:worker:w0", mapping={"in_use": 3, "limit": 8})
    now = time.time()
    grace = await agent(node, ws_clients, "Grace")
    await agent(node, ws_clients, "Alan", available=False)
    ada, bob = await customer(node, ws_clients, "Ada"), await customer(node, ws_clients)
    ringing_id = await place(ada)
    await grace.call_state("ringing")
    waiting_id = await place(bob)
    # Kept once no agent is free: a due callback is offered to a free agent.
    desk = node.node.callbacks
    await desk.keep(Request(number="+15550100001", consent="yes", due_at=now - 60))
    await desk.keep(Request(number="+15550100002", consent="yes", due_at=now + 600))
    await desk.keep(Request(number="+15550100003", consent="yes", due_at=now + 900))

    olive = await operator(node, ws_clients)
    floor = olive.received[-1]
    assert [row["name"] for row in floor["agents"]] == ["Alan", "Grace"]
    alan, grace_row = agent_row(floor, "Alan"), agent_row(floor, "Grace")
    assert (alan["status"], alan["call"]) == ("away", "")
    assert (grace_row["status"], grace_row["call"]) == ("ringing", ringing_id)
    assert now - 5 < grace_row["since"] <= floor["at"]

    [waiting] = floor["waiting"]
    assert waiting["call_id"] == waiting_id and waiting["channel"] == "web"
    assert now - 5 < waiting["queued_at"] <= floor["at"]
    [ringing] = floor["in_progress"]
    assert ringing["call_id"] == ringing_id and ringing["state"] == "ringing"
    assert ringing["agent"] == grace_row["id"] and ringing["answered_at"] is None
    assert floor["callbacks"] == {"due": 1, "upcoming": 2}
    assert floor["workers"] == [
        {"id": "w0", "up": True, "in_use": 3, "limit": 8},
        {"id": "w1", "up": False, "in_use": 0, "limit": 0},
    ]


async def test_the_snapshot_has_todays_tiers_deflection_and_savings(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    events = helpline.node.events
    await events.record("faq.viewed", visit="v-today", detail="faq-a")
    await events.record("ivr.node", "c-ivr", node="root", menu="main@1")
    await events.record("ended", "c-ivr", detail="customer")
    await events.record("ivr.node", "c-agent", node="root", menu="main@1")
    await events.record("queued", "c-agent")
    await events.record("answered", "c-agent", agent="u1", wait_ms=8000)

    today = (await operator(helpline, ws_clients)).received[-1]["today"]
    assert today["tiers"] == {
        "self-service": 1,
        "ivr": 1,
        "callback": 0,
        "agent": 1,
        "tollfree": 0,
    }
    assert today["interactions"] == 3
    # 0.25 + 0.75 + 6 against 3 x 25.
    assert (today["cost"], today["baseline"], today["savings"]) == (7.0, 75.0, 68.0)
    assert today["deflection_rate"] == round(2 / 3, 4)
    assert (today["asa_s"], today["service_level"]) == (8.0, 1.0)
    assert today["currency"] == "USD"


# Pushes


async def test_a_call_on_another_node_reaches_the_operator(
    helpline_factory: NodeFactory, ws_clients: ClientFactory
) -> None:
    one, two = await helpline_factory(), await helpline_factory()
    olive = await operator(one, ws_clients)
    grace = await agent(two, ws_clients, "Grace", available=False)
    seen = await floor_where(olive, lambda e: e["agents"])
    assert agent_row(seen, "Grace")["status"] == "away"

    ada = await customer(two, ws_clients)
    call_id = await place(ada)
    await floor_where(olive, lambda e: waiting_ids(e) == [call_id])

    await grace.send({"type": "agent.status", "status": "available"})
    await grace.call_state("ringing")
    await grace.send({"type": "call.accept", "call_id": call_id})
    answered = await floor_where(
        olive, lambda e: [r["state"] for r in e["in_progress"]] == ["answered"]
    )
    assert answered["waiting"] == []
    assert agent_row(answered, "Grace")["status"] == "busy"
    assert answered["in_progress"][0]["answered_at"] <= answered["at"]

    await ada.send({"type": "call.hangup", "call_id": call_id})
    cleared = await floor_where(olive, lambda e: not e["in_progress"])
    assert agent_row(cleared, "Grace")["status"] == "available"
    assert await one.store.redis.smembers("helpline:calls:live") == set()


async def test_a_burst_of_changes_gives_few_snapshots_and_the_last_is_right(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    olive = await operator(helpline, ws_clients)
    grace = await agent(helpline, ws_clients, "Grace", available=False)
    await floor_where(olive, lambda e: e["agents"])
    olive.received.clear()

    started = time.monotonic()
    for index in range(50):
        status = "available" if index % 2 == 0 else "away"
        await grace.send({"type": "agent.status", "status": status})
    for _ in range(50):
        await grace.expect("agent.state")
    burst_s = time.monotonic() - started

    # The last change (away) must arrive; wait past the debounce for more.
    await floor_where(olive, lambda e: agent_row(e, "Grace")["status"] == "away")
    try:
        await olive.expect(lambda e: False, within=1.0)
    except TimeoutError:
        pass
    floors = [e for e in olive.received if e.get("type") == "floor"]
    assert agent_row(floors[-1], "Grace")["status"] == "away"
    assert 1 <= len(floors) <= burst_s / MIN_INTERVAL_S + 3, (len(floors), burst_s)
    assert len(floors) < 15
    gaps = [b["at"] - a["at"] for a, b in zip(floors, floors[1:], strict=False)]
    assert all(gap >= MIN_INTERVAL_S * 0.9 for gap in gaps), gaps


async def test_watchers_are_forgotten_when_the_session_ends(
    helpline_factory: NodeFactory, ws_clients: ClientFactory
) -> None:
    node = await helpline_factory(grace_s=1)
    olive = await operator(node, ws_clients)
    redis = node.store.redis
    session_id = olive.welcome["session_id"]
    assert await redis.smembers("helpline:floor:watchers") == {session_id}

    await olive.ws.close()
    # The grace period (1 s) runs out on the sweep, a Redis timer: look.
    for _ in range(60):
        if not await redis.sismember("helpline:floor:watchers", session_id):
            break
        await asyncio.sleep(0.1)
    assert not await redis.sismember("helpline:floor:watchers", session_id)
    assert not await redis.exists(f"helpline:session:{session_id}")


async def test_a_resumed_operator_gets_the_latest_floors_only(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    olive = await operator(helpline, ws_clients)
    welcome, last_seq = olive.welcome, olive.last_seq
    await olive.ws.close()
    outbox = f"helpline:session:{welcome['session_id']}:outbox"
    calls = [await place(await customer(helpline, ws_clients)) for _ in range(3)]
    # Pushed while away: the outbox holds the floor with every call.
    for _ in range(50):
        latest = await helpline.store.redis.lindex(outbox, -1)
        if latest and all(call_id in latest for call_id in calls):
            break
        await asyncio.sleep(0.1)

    back = await ws_clients(helpline.ws_url)
    resume = {
        "session_id": welcome["session_id"],
        "resume_token": welcome["resume_token"],
        "last_seq": last_seq,
    }
    await back.send({"type": "hello", "v": 1, "role": "operator", "resume": resume})
    assert (await back.expect("welcome"))["resumed"] is True
    replayed = [e for e in back.received if e["type"] == "floor"]
    assert 1 <= len(replayed) <= OUTBOX_KEEP
    assert waiting_ids(replayed[-1]) == calls


# The snapshot alone (no I/O)


def test_snapshot_orders_and_shapes_rows() -> None:
    data = FloorData(
        at=100.0,
        agents={
            "u-2": {"name": "zoe", "status": "ringing", "call": "cb:cb-1"},
            "u-1": {"name": "Ada", "status": "busy", "call": "c-1", "since": "90.5"},
        },
        queue=["c-3", "c-gone", "c-2"],
        calls={
            "c-1": {
                "state": "held",
                "agent": "u-1",
                "answered_at": "91",
                "updated": "95",
            },
            "c-2": {"state": "queued", "queued_at": "97", "skill": "billing"},
            "c-3": {"state": "queued", "queued_at": "99", "channel": "phone"},
            "c-4": {"state": "ivr", "updated": "80", "channel": "phone"},
            "c-5": {"state": "ended"},
        },
        callbacks_due=2,
        callbacks_upcoming=0,
        workers=[("w0", {"in_use": "1", "limit": "4"})],
    )
    event = snapshot(data)
    assert [row["id"] for row in event["agents"]] == ["u-1", "u-2"]
    assert event["agents"][1] == {
        "id": "u-2",
        "name": "zoe",
        "status": "ringing",
        "call": "",
        "since": None,
        "callback": "cb-1",
    }
    assert waiting_ids(event) == ["c-3", "c-2"]
    assert event["waiting"][0]["channel"] == "phone"
    assert event["waiting"][1]["skill"] == "billing"
    assert [row["call_id"] for row in event["in_progress"]] == ["c-4", "c-1"]
    assert event["in_progress"][1]["answered_at"] == 91.0
    assert event["workers"] == [{"id": "w0", "up": True, "in_use": 1, "limit": 4}]

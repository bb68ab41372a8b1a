"""Callbacks over real sockets, on running nodes and a real Redis (each test
once on Debian's redis-server, once on the embedded one): a page asks, an
agent is offered it and claims it, the open page rings, the agent records
how it went; and what a page may get wrong is refused with a reason."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import aiohttp

from gateway.callbacks import CallbackDesk
from tests.cases import case_sdp
from tests.fixtures.app import ClientFactory, NodeFactory, RunningHelpline, WsClient
from tests.test_signaling import agent, customer

NUMBER = "+12125550142"
CONSENT = "We may call you back on this number."
OFFER = case_sdp("06-chrome-extmap-allow-mixed")


def desk_of(node: RunningHelpline) -> CallbackDesk:
    return node.node.callbacks


async def ask(client: WsClient, number: str = NUMBER, **fields: Any) -> dict[str, Any]:
    """A callback request from the widget's own form, as kept."""
    await client.send(
        {"type": "callback.request", "number": number, "consent": CONSENT, **fields}
    )
    return await client.expect("callback.status")


async def refused(client: WsClient, message: dict[str, Any]) -> dict[str, Any]:
    await client.send({**message, "id": "r1"})
    return await client.expect(
        lambda e: e.get("type") == "error" and e.get("ref") == "r1"
    )


def status(state: str) -> Any:
    return lambda e: e.get("type") == "callback.status" and e["state"] == state


async def test_a_callback_from_the_page_is_offered_claimed_rung_and_recorded(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    page = await customer(helpline, ws_clients)
    assert page.welcome["callbacks"]["consent"]
    assert page.welcome["callbacks"]["windows"] == [
        "09:00-12:00",
        "12:00-17:00",
        "17:00-20:00",
    ]
    kept = await ask(page, topic="billing")
    assert kept["state"] == "waiting" and kept["when"] == "as soon as possible"
    assert len(kept["token"]) >= 16

    ada = await agent(helpline, ws_clients, "Ada")
    offer = await ada.expect("callback.offer")
    assert offer["callback"] == kept["callback"]
    assert offer["number_hint"].endswith("42") and "2125550142" not in str(offer)
    state = await ada.expect("agent.state")
    assert (state["status"], state["callback"]) == ("ringing", kept["callback"])

    await ada.send({"type": "callback.claim", "callback": kept["callback"]})
    dialling = await ada.call_state("dialling")
    assert dialling["via"] == "tab" and dialling["caller"]["number"] == NUMBER
    assert dialling["caller"]["topic"] == "billing"  # the call card's topic
    rung = await page.call_state("dialling")
    assert rung["agent"] == {"name": "Ada"} and rung["callback"] == kept["callback"]
    call_id = rung["call_id"]

    await page.send({"type": "call.accept", "call_id": call_id})
    await page.call_state("answered")
    await ada.call_state("answered")
    # Media as in any call: the page offers, the agent hears of it.
    await page.send({"type": "sdp.offer", "call_id": call_id, "sdp": OFFER})
    relayed = await ada.expect("sdp.offer")
    assert relayed["sdp"] == OFFER

    await page.send({"type": "call.hangup", "call_id": call_id})
    await ada.call_state("ended")
    await page.expect(status("wrap-up"))
    await ada.send(
        {
            "type": "callback.outcome",
            "callback": kept["callback"],
            "outcome": "resolved",
            "note": "card updated",
        }
    )
    done = await page.expect(status("done"))
    assert done["outcome"] == "resolved" and done["attempts"] == 1
    record = await desk_of(helpline).get(kept["callback"])
    assert (record["note"], record["agent"]) == (
        "card updated",
        ada.welcome["agent"]["id"],
    )


async def test_a_closed_page_is_called_back_over_the_trunk(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    page = await customer(helpline, ws_clients)
    kept = await ask(page)
    await page.close()
    ada = await agent(helpline, ws_clients, "Ada")
    await ada.expect("callback.offer")

    await ada.send({"type": "callback.claim", "callback": kept["callback"]})

    dialling = await ada.call_state("dialling")
    assert dialling["via"] == "trunk"
    dial = await desk_of(helpline).streams.take_dial("w-test", block_ms=1000)
    assert dial is not None
    assert (dial.call_id, dial.number, dial.attempt) == (dialling["call_id"], NUMBER, 1)


async def test_an_unanswered_ring_waits_again_and_a_declined_one_cancels(
    helpline_factory: NodeFactory, ws_clients: ClientFactory
) -> None:
    node = await helpline_factory(callbacks_ring_s=5, callbacks_retry_s=0)
    page = await customer(node, ws_clients)
    kept = await ask(page)
    ada = await agent(node, ws_clients, "Ada")
    await ada.expect("callback.offer")
    await ada.send({"type": "callback.claim", "callback": kept["callback"]})
    await page.call_state("dialling")

    ended = await ada.call_state("ended", within=10)

    assert ended["reason"] == "no-answer"
    again = await page.expect(status("waiting"))
    assert again["attempts"] == 1
    # Offered again (the agent is free), and this time the page says no.
    await ada.expect("callback.offer", within=5)
    await ada.send({"type": "callback.claim", "callback": kept["callback"]})
    rung = await page.call_state("dialling")
    await page.send({"type": "call.hangup", "call_id": rung["call_id"]})
    assert (await ada.call_state("ended"))["reason"] == "callback-declined"
    cancelled = await page.expect(status("cancelled"))
    assert cancelled["attempts"] == 2


async def test_a_page_cancels_and_a_reloaded_page_follows_its_callback(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    ada = await agent(helpline, ws_clients, "Ada", available=False)
    first = await customer(helpline, ws_clients)
    kept = await ask(first)
    listed = await ada.expect(lambda e: e.get("type") == "callback.list" and e["due"])
    assert [c["id"] for c in listed["due"]] == [kept["callback"]]

    await first.close()
    reloaded = await customer(helpline, ws_clients)
    wrong = await refused(
        reloaded,
        {"type": "callback.attach", "callback": kept["callback"], "token": "x" * 24},
    )
    assert wrong["code"] == "unknown-callback"
    attach = {"callback": kept["callback"], "token": kept["token"]}
    await reloaded.send({"type": "callback.attach", **attach})
    followed = await reloaded.expect(status("waiting"))
    assert "token" not in followed
    record = await desk_of(helpline).get(kept["callback"])
    assert record["session"] == reloaded.welcome["session_id"]

    await reloaded.send({"type": "callback.cancel", **attach})
    await reloaded.expect(status("cancelled"))
    emptied = await ada.expect(
        lambda e: e.get("type") == "callback.list" and not e["due"]
    )
    assert emptied["upcoming"] == []
    again = await refused(reloaded, {"type": "callback.cancel", **attach})
    assert again["code"] == "bad-state"


async def test_what_a_page_gets_wrong_is_refused_with_a_reason(
    helpline_factory: NodeFactory, ws_clients: ClientFactory
) -> None:
    node = await helpline_factory(callbacks_per_address=3)
    page = await customer(node, ws_clients)
    base = {"type": "callback.request", "consent": CONSENT}

    bad_number = await refused(page, {**base, "number": "+1900555012"})
    past = await refused(
        page, {**base, "number": NUMBER, "window": "09:00-12:00", "date": "2020-01-06"}
    )
    nonsense = await refused(page, {**base, "number": NUMBER, "window": "late"})
    ahead = dt.date.today() + dt.timedelta(days=90)
    far = await refused(
        page, {**base, "number": NUMBER, "window": "09:00-12:00", "date": str(ahead)}
    )

    assert bad_number["code"] == "invalid-number"
    assert [e["code"] for e in (past, nonsense, far)] == ["invalid-window"] * 3
    assert "passed" in past["message"]
    assert "2125550142" not in str(page.received)
    # Nothing refused was kept.
    assert await desk_of(node).listing() == {"due": [], "upcoming": []}

    first = await ask(page)
    merged = await ask(page, number="(212) 555-0142")
    assert merged["callback"] == first["callback"] and merged["merged"] is True
    await ask(page, number="+12125550143")
    flood = await refused(page, {**base, "number": "+12125550144"})
    assert flood["code"] == "rate-limited"
    assert len((await desk_of(node).listing())["due"]) == 2
    async with aiohttp.ClientSession() as http:
        async with http.get(node.url + "/metrics") as response:
            scraped = await response.text()
    assert 'helpline_callbacks_waiting{when="due"} 2.0' in scraped


async def test_two_agents_claiming_at_once_take_it_once(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    page = await customer(helpline, ws_clients)
    kept = await ask(page, window="")
    await page.close()
    agents = [
        await agent(helpline, ws_clients, name, available=True)
        for name in ("Ada", "Bob")
    ]
    # One is offered it; both press Claim at the same moment.
    for a in agents:
        await a.send(
            {"type": "callback.claim", "callback": kept["callback"], "id": "k"}
        )

    outcomes = await asyncio.gather(
        *(
            a.expect(
                lambda e: (
                    (e.get("type") == "call.state" and e["state"] == "dialling")
                    or (e.get("type") == "error" and e.get("ref") == "k")
                )
            )
            for a in agents
        )
    )

    kinds = sorted(o["type"] for o in outcomes)
    assert kinds == ["call.state", "error"]
    error = next(o for o in outcomes if o["type"] == "error")
    assert error["code"] in ("callback-taken", "agent-busy")
    assert (await desk_of(helpline).get(kept["callback"]))["attempts"] == "1"

"""Every step of a journey in the event log: web callers walking the menu
to an agent, leaving the queue or the menu, asking for a callback, going to
the toll-free line, and the page's own FAQ views, over real sockets on a
running node and a real Redis. The stream is read back with
``EventLog.read``."""

from __future__ import annotations

import time
from typing import Any

from gateway.call_events import tollfree_reason
from ivr.hours import Calendar
from ivr.menu import Menu
from tests.fixtures.app import ClientFactory, RunningHelpline, WsClient
from tests.test_ivr_calls import (
    menu_at,
    of_type,
    publish,
    publish_demo,
    state_is,
    walk,
)
from tests.test_signaling import agent, customer

VISIT = "visit-ABCdef0123456789"

Entry = dict[str, str]
Event = dict[str, Any]

# The ladder in small: answers, the callback offer, then a menu that goes
# to the line or to a queue that overflows there. Outside hours the caller
# takes the closed branch.
LADDER = """
id: ladder
version: 1
start: hours
faq_ids: [faq-opening-hours]
nodes:
  hours:
    kind: hours
    open: answers
    closed: closed-answers
    holiday: closed-answers
  answers:
    kind: faq
    answers: [faq-opening-hours]
    next: offer
  closed-answers:
    kind: faq
    answers: [faq-opening-hours]
    next: offer
  offer:
    kind: callback
    prompt: To ask for a callback, press 1; otherwise press 2.
    next: bye
    declined: choice
  choice:
    kind: menu
    prompt: For our toll-free line press 0; to wait for an agent press 1.
    options:
      "0": {target: line, label: Our toll-free line}
      "1": {target: wait, label: Wait for an agent}
    on_timeout: bye
    on_invalid: bye
  wait:
    kind: queue
    skill: general
    max_wait_seconds: 10
    overflow: line
  line:
    kind: tollfree
    prompt: Here is our toll-free number.
  bye:
    kind: hangup
    prompt: Goodbye.
"""


async def logged(node: RunningHelpline, call_id: str = "") -> list[Entry]:
    """The stream's events (of one call, when given), oldest first."""
    found = [fields async for _, fields in node.node.events.read(0, time.time() + 60)]
    return [e for e in found if not call_id or e.get("call") == call_id]


def kinds(entries: list[Entry]) -> list[str]:
    return [e["kind"] for e in entries]


async def place(client: WsClient, state: str = "ivr", visit: str = VISIT) -> str:
    await client.send(
        {"type": "call.place", "caller": {"topic": "web"}, "visit": visit}
    )
    event = await client.call_state(state)
    call_id: str = event["call_id"]
    return call_id


async def ringing(
    node: RunningHelpline, clients: ClientFactory, name: str
) -> tuple[WsClient, WsClient, str]:
    """An agent `name` rung for a customer's call (no menu): agent,
    customer, call."""
    rung = await agent(node, clients, name)
    ada = await customer(node, clients)
    call_id = await place(ada, "queued")
    await rung.call_state("ringing")
    return rung, ada, call_id


async def walk_to_the_line(
    node: RunningHelpline,
    clients: ClientFactory,
    digits: str,
    calendar: Calendar | None = None,
) -> tuple[WsClient, str, Event]:
    """A web caller (visit VISIT) on the LADDER menu who takes the answers,
    declines the callback and presses `digits` at the choice, until the IVR
    sends it to the toll-free line: the caller, its call and the page's
    ``ivr.tollfree``."""
    await publish(node, LADDER)
    if calendar is not None:
        await node.node.hours.set_calendar(calendar)
    ada = await customer(node, clients)
    call_id = await place(ada)
    form = await walk(ada, of_type("ivr.callback_form"))
    decline = {"type": "ivr.callback", "node": form["node"], "decline": True}
    await ada.send({**decline, "call_id": call_id})
    await walk(ada, menu_at("choice"))
    choose = {"type": "ivr.choose", "node": "choice", "digits": digits}
    await ada.send({**choose, "call_id": call_id})
    tollfree = await walk(ada, of_type("ivr.tollfree"), within=20)
    return ada, call_id, tollfree


async def to_the_line(
    node: RunningHelpline,
    clients: ClientFactory,
    digits: str,
    calendar: Calendar | None = None,
) -> tuple[Event, list[Entry]]:
    """As :func:`walk_to_the_line` (no line configured: the page is shown
    its number), until the call is over: the page's ``ivr.tollfree``, and
    the call's events."""
    ada, call_id, tollfree = await walk_to_the_line(node, clients, digits, calendar)
    ended = await ada.call_state("ended")
    assert ended["reason"] == "tollfree"
    return tollfree, await logged(node, call_id)


async def test_a_web_caller_walks_the_menu_to_an_agent_who_answers(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    await publish_demo(helpline)
    billing = await agent(helpline, ws_clients, "Bill")
    agent_id = billing.welcome["agent"]["id"]
    await helpline.node.routing.set_skills(agent_id, ("billing",))
    ada = await customer(helpline, ws_clients)
    call_id = await place(ada)
    await ada.expect(menu_at("welcome"))
    await ada.send({"type": "ivr.digit", "call_id": call_id, "digit": "1"})
    await walk(ada, menu_at("billing-next"))
    await ada.send({"type": "ivr.digit", "call_id": call_id, "digit": "3"})
    await walk(ada, state_is("queued"))
    await billing.call_state("ringing")
    await billing.send({"type": "call.accept", "call_id": call_id})
    await ada.call_state("answered")
    await ada.send({"type": "call.hangup", "call_id": call_id})
    await ada.call_state("ended")

    events = await logged(helpline, call_id)
    assert kinds(events) == [
        "ivr.node",
        "ivr.node",
        "ivr.node",
        "ivr.offer",
        "faq.viewed",
        "faq.viewed",
        "ivr.node",
        "ivr.node",
        "queued",
        "answered",
        "ended",
    ]
    nodes = [e["node"] for e in events if e["kind"] == "ivr.node"]
    assert nodes == [
        "office-hours",
        "welcome",
        "billing-answers",
        "billing-next",
        "billing-queue",
    ]
    offer, *answers = [e for e in events if e["kind"] in ("ivr.offer", "faq.viewed")]
    assert (offer["detail"], offer["node"]) == ("faq", "billing-answers")
    assert [(a["detail"], a["node"]) for a in answers] == [
        ("faq-billing-payment-methods", "billing-answers"),
        ("faq-billing-invoice-copy", "billing-answers"),
    ]
    menu = (await helpline.node.routing.get_call(call_id)).menu  # type: ignore[union-attr]
    assert menu.startswith("northwind-main@")
    for event in events:
        assert (event["visit"], event["channel"], event["menu"]) == (VISIT, "web", menu)
    answered, ended = events[-2:]
    assert answered["agent"] == agent_id
    assert 0 <= int(answered["wait_ms"]) < 10_000
    assert ended["detail"] == "customer-hangup"
    # The call lasted from its start in the menu: longer than its wait.
    assert int(ended["duration_ms"]) > int(answered["wait_ms"])
    assert "wait_ms" not in ended and "agent" not in ended


async def test_a_caller_who_hangs_up_in_the_queue_abandoned_it(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    ada = await customer(helpline, ws_clients)
    call_id = await place(ada, "queued")  # no menu: straight to the queue
    await ada.send({"type": "call.hangup", "call_id": call_id})
    await ada.call_state("ended")

    events = await logged(helpline, call_id)
    assert kinds(events) == ["queued", "abandoned", "ended"]
    queued, abandoned, ended = events
    assert (queued["visit"], queued["channel"]) == (VISIT, "web")
    assert "menu" not in queued
    assert 0 <= int(abandoned["wait_ms"]) < 5_000 and "node" not in abandoned
    assert ended["detail"] == "customer-hangup"


async def test_a_caller_who_hangs_up_while_ringing_abandoned_the_queue(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    bill, ada, call_id = await ringing(helpline, ws_clients, "Bill")
    await ada.send({"type": "call.hangup", "call_id": call_id})
    await bill.call_state("ended")
    assert kinds(await logged(helpline, call_id)) == ["queued", "abandoned", "ended"]


async def test_a_caller_who_hangs_up_in_the_menu_left_it_at_the_node(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    await publish_demo(helpline)
    ada = await customer(helpline, ws_clients)
    call_id = await place(ada)
    await ada.expect(menu_at("welcome"))
    await ada.send({"type": "call.hangup", "call_id": call_id})
    await ada.call_state("ended")

    events = await logged(helpline, call_id)
    assert kinds(events) == ["ivr.node", "ivr.node", "abandoned", "ended"]
    abandoned = events[2]
    assert abandoned["node"] == "welcome" and "wait_ms" not in abandoned
    assert abandoned["visit"] == VISIT
    assert events[3]["detail"] == "customer-hangup"


async def test_a_callback_request_and_its_outcome_carry_the_requesting_call(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    await publish(helpline, LADDER)
    ada = await customer(helpline, ws_clients)
    call_id = await place(ada)
    form = await walk(ada, of_type("ivr.callback_form"))
    number = "(212) 555-0134"
    await ada.send(
        {
            "type": "ivr.callback",
            "call_id": call_id,
            "node": form["node"],
            "number": number,
        }
    )
    status = await ada.expect(of_type("callback.status"))
    await walk(ada, state_is("ended"))

    # The same number from another page's form joins the open callback.
    other_visit = "other-visit-0123456789"
    bea = await customer(helpline, ws_clients, "Bea")
    consent = bea.welcome["callbacks"]["consent"]
    await bea.send(
        {
            "type": "callback.request",
            "number": number,
            "consent": consent,
            "visit": other_visit,
        }
    )
    merged = await bea.expect(of_type("callback.status"))
    assert merged["callback"] == status["callback"] and merged.get("merged")

    await ada.send(
        {
            "type": "callback.cancel",
            "callback": status["callback"],
            "token": status["token"],
        }
    )
    await ada.expect(
        lambda e: e.get("type") == "callback.status" and e["state"] == "cancelled"
    )

    events = [e for e in await logged(helpline) if e["kind"].startswith("callback.")]
    assert [(e["kind"], e["detail"]) for e in events] == [
        ("callback.requested", "new"),
        ("callback.requested", "merged"),
        ("callback.done", "cancelled"),
    ]
    new, from_form, done = events
    assert (new["call"], new["visit"], new["channel"]) == (call_id, VISIT, "web")
    assert (from_form.get("call"), from_form["visit"]) == (None, other_visit)
    assert (done["call"], done["visit"], done["channel"]) == (call_id, VISIT, "web")
    of_call = kinds(await logged(helpline, call_id))
    assert of_call[-4:] == ["callback.requested", "ivr.node", "ended", "callback.done"]


async def test_the_menu_sends_a_web_caller_to_the_toll_free_line(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    tollfree, events = await to_the_line(helpline, ws_clients, "0")
    assert not tollfree.get("bridged")  # no line configured: shown the number
    assert kinds(events)[-2:] == ["tollfree", "ended"]
    assert events[-2]["reason"] == "menu" and events[-2]["visit"] == VISIT
    assert events[-1]["detail"] == "tollfree"
    offers = [e["detail"] for e in events if e["kind"] == "ivr.offer"]
    assert offers == ["faq", "callback"]


async def test_a_queue_that_waits_too_long_overflows_to_the_line(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    _, events = await to_the_line(helpline, ws_clients, "1")  # 10 s in the queue
    assert kinds(events)[-5:] == ["ivr.node", "queued", "ivr.node", "tollfree", "ended"]
    assert (events[-5]["node"], events[-3]["node"]) == ("wait", "line")
    assert events[-2]["reason"] == "overflow"
    # Taken back by the menu, not left by the caller: nothing abandoned.
    assert "abandoned" not in kinds(events)


async def test_outside_hours_the_menu_sends_the_caller_to_the_line(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    never_open = Calendar("UTC", {})
    _, events = await to_the_line(helpline, ws_clients, "0", never_open)
    assert [e["node"] for e in events[:2]] == ["hours", "closed-answers"]
    assert [e["reason"] for e in events if e["kind"] == "tollfree"] == ["closed"]


def test_the_reason_is_the_latest_cause_on_the_path() -> None:
    menu = Menu.from_yaml(LADDER)
    path = ["hours", "closed-answers", "offer", "choice", "wait"]
    assert tollfree_reason(menu, [*path, "line"], "closed", "") == "overflow"
    assert tollfree_reason(menu, [*path[:4], "line"], "closed", "") == "closed"
    assert tollfree_reason(menu, [*path[:4], "line"], "holiday", "") == "closed"
    open_path = ["hours", "answers", "offer", "choice", "line"]
    assert tollfree_reason(menu, open_path, "open", "") == "menu"
    assert tollfree_reason(menu, open_path, "open", "agent") == "agent"


async def test_a_blind_transfer_is_recorded_once_with_the_first_answer(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    ann, ada, call_id = await ringing(helpline, ws_clients, "Ann")
    await ann.send({"type": "call.accept", "call_id": call_id})
    await ada.call_state("answered")
    bob = await agent(helpline, ws_clients, "Bob")
    bob_id = bob.welcome["agent"]["id"]
    await ann.send({"type": "call.transfer", "call_id": call_id, "agent": bob_id})
    await bob.call_state("ringing")
    await bob.send({"type": "call.accept", "call_id": call_id})
    await bob.call_state("answered")
    await bob.send({"type": "call.hangup", "call_id": call_id})
    await ada.call_state("ended")

    events = await logged(helpline, call_id)
    assert kinds(events) == ["queued", "answered", "transferred", "ended"]
    ann_id = ann.welcome["agent"]["id"]
    assert events[1]["agent"] == ann_id
    assert (events[2]["detail"], events[2]["agent"]) == ("blind", ann_id)
    assert events[3]["detail"] == "agent-hangup"


async def test_a_bad_visit_id_places_no_call(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    ada = await customer(helpline, ws_clients)
    for visit in ("short", "x" * 65, "has spaces in it here", 12345678901234567):
        await ada.send({"type": "call.place", "id": "p", "visit": visit})
        error: dict[str, Any] = await ada.expect("error")
        assert (error["code"], error["ref"]) == ("invalid-message", "p")
        assert "visit" in error["message"]
    assert await logged(helpline) == []
    assert not [e for e in ada.received if e.get("type") == "call.state"]

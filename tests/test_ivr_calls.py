"""Web callers walk the IVR over real sockets, on running nodes and a real
Redis, with the demo menu and FAQ published and prompts rendered by
espeak-ng. Each test runs on redis-server and on the embedded Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gateway import ivr_calls
from gateway.menus import MenuStore
from ivr.hours import always_open
from ivr.menu import Menu
from tests.fixtures.app import ClientFactory, NodeFactory, RunningHelpline, WsClient
from tests.fixtures.redis import RedisServer
from tests.test_api_faq import sine_wav
from tests.test_signaling import agent, customer

Event = dict[str, Any]


async def publish_demo(node: RunningHelpline) -> None:
    """The demo FAQ and menu, published, and hours that are always open."""
    await node.node.faq.seed_demo()
    assert await node.node.menus.seed_demo(await node.node.faq.ids())
    await node.node.hours.set_calendar(always_open())


async def publish(node: RunningHelpline, yaml_text: str) -> None:
    """A menu of a test's own, published as the entry, with the demo FAQ."""
    await node.node.faq.seed_demo()
    store: MenuStore = node.node.menus
    created = await store.create(Menu.from_yaml(yaml_text))
    await store.publish(created.id, created.version, await node.node.faq.ids())
    await store.set_entry(created.id)
    await node.node.hours.set_calendar(always_open())


SHORT_MENU = """
id: short
version: 1
start: answers
faq_ids: [faq-opening-hours]
nodes:
  answers:
    kind: faq
    answers: [faq-opening-hours]
    next: bye
  bye:
    kind: hangup
    prompt: Goodbye.
"""


async def armed_timers(node: RunningHelpline, call_id: str) -> list[str]:
    """The call's IVR timers waiting in the shared timer set."""
    routing = node.node.routing
    members = await routing.redis.zrange(routing.key("timers"), 0, -1)
    return [str(m) for m in members if str(m).startswith(f"ivr:{call_id}:")]


async def enter_ivr(client: WsClient) -> str:
    await client.send({"type": "call.place", "caller": {"topic": "web"}})
    state = await client.call_state("ivr")
    call_id: str = state["call_id"]
    return call_id


async def walk(
    client: WsClient, until: Callable[[Event], bool], within: float = 10.0
) -> Event:
    """Play the page: report each prompt finished, until `until` matches."""

    def step(event: Event) -> bool:
        return until(event) or event.get("type") == "ivr.prompt"

    while True:
        event = await client.expect(step, within)
        if until(event):
            return event
        await client.send(
            {
                "type": "ivr.prompt_done",
                "call_id": event["call_id"],
                "play": event["play"],
            }
        )


async def at_the_welcome_menu(
    node: RunningHelpline, ws_clients: ClientFactory
) -> tuple[WsClient, str]:
    """A customer whose call shows the demo menu's first menu."""
    await publish_demo(node)
    client = await customer(node, ws_clients)
    call_id = await enter_ivr(client)
    await client.expect(menu_at("welcome"))
    return client, call_id


def menu_at(node: str) -> Callable[[Event], bool]:
    return lambda e: e.get("type") == "ivr.menu" and e["node"] == node


def prompt_at(node: str) -> Callable[[Event], bool]:
    return lambda e: e.get("type") == "ivr.prompt" and e["node"] == node


def of_type(kind: str) -> Callable[[Event], bool]:
    return lambda e: e.get("type") == kind


def state_is(state: str) -> Callable[[Event], bool]:
    return lambda e: e.get("type") == "call.state" and e.get("state") == state


async def test_keypad_through_faq_answers_to_an_agent_who_sees_the_journey(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    await publish_demo(helpline)
    billing = await agent(helpline, ws_clients, "Bill")
    await helpline.node.routing.set_skills(billing.welcome["agent"]["id"], ("billing",))
    ada = await customer(helpline, ws_clients)
    call_id = await enter_ivr(ada)

    menu = await ada.expect(menu_at("welcome"))
    assert {"digits": "1", "label": "Billing and payments"} in menu["options"]
    welcome = await ada.expect("ivr.prompt")
    assert welcome["node"] == "welcome" and welcome["interruptible"]
    assert welcome["audio"].startswith("/api/prompts/")
    assert welcome["duration_s"] > 3
    async with ada.http.get(helpline.url + welcome["audio"]) as audio:
        assert audio.status == 200
        assert (await audio.read()).startswith(b"OggS")

    await ada.send({"type": "ivr.digit", "call_id": call_id, "digit": "1"})
    stopped = await ada.expect("ivr.stop_prompt")
    assert stopped["play"] == welcome["play"]

    await walk(ada, menu_at("billing-next"))
    answers = [e for e in ada.received if e.get("type") == "ivr.prompt" and "faq" in e]
    assert [a["faq"]["id"] for a in answers] == [
        "faq-billing-payment-methods",
        "faq-billing-invoice-copy",
    ]
    assert all(a["text"] and a["audio"] for a in answers)

    await ada.send({"type": "ivr.digit", "call_id": call_id, "digit": "3"})
    queued = await walk(ada, state_is("queued"))
    assert queued["position"] == 1

    ringing = await billing.call_state("ringing")
    journey = ringing["journey"]
    assert journey["skill"] == "billing"
    assert journey["choices"] == [
        {"node": "welcome", "digits": "1", "label": "Billing and payments"},
        {"node": "billing-next", "digits": "3", "label": "Wait for an agent"},
    ]
    assert [f["id"] for f in journey["faq"]] == [a["faq"]["id"] for a in answers]
    assert journey["faq"][0]["question"] == answers[0]["faq"]["question"]
    assert journey["offers"] == ["faq"]

    queued_timers = [t.split(":")[2] for t in await armed_timers(helpline, call_id)]
    assert "queue" in queued_timers
    assert "prompt-1" not in queued_timers  # the welcome prompt was stopped
    await billing.send({"type": "call.accept", "call_id": call_id})
    await ada.call_state("answered")
    await billing.call_state("answered")
    assert await armed_timers(helpline, call_id) == []


async def test_a_callback_from_the_form_refuses_a_bad_number_then_is_kept(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    ada, call_id = await at_the_welcome_menu(helpline, ws_clients)
    await ada.send(
        {"type": "ivr.choose", "call_id": call_id, "node": "welcome", "digits": "2"}
    )
    await walk(ada, menu_at("shipping-next"))
    await ada.send({"type": "ivr.digit", "call_id": call_id, "digit": "2"})
    form = await walk(ada, of_type("ivr.callback_form"))
    assert form["node"] == "shipping-callback"
    assert form["countries"] == ["US", "CA"]
    assert form["time_zone"] == "UTC"  # the calendar's: windows are its times
    request = {"type": "ivr.callback", "call_id": call_id, "node": form["node"]}

    await ada.send({**request, "id": "r1", "number": "+1 900 555 0100"})
    refused = await ada.expect("error")
    assert (refused["code"], refused["ref"]) == ("invalid-number", "r1")
    assert "900" in refused["message"] or "premium" in refused["message"]

    await ada.send(
        {**request, "number": "(212) 555-0134", "window": form["windows"][1]}
    )
    done = await ada.expect("ivr.callback_requested")
    assert done["window"] == form["windows"][1]
    ended = await walk(ada, state_is("ended"))
    assert ended["reason"] == "callback-requested"

    redis = helpline.node.routing.redis
    entries: Any = await redis.xrange(helpline.node.routing.key("callbacks"))
    assert [(e["call_id"], e["number"], e["time_zone"]) for _, e in entries] == [
        (call_id, "+12125550134", "UTC")
    ]
    assert await armed_timers(helpline, call_id) == []  # none fires for nothing


async def test_type_ahead_during_a_menu_prompt_and_digits_after_the_end(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    ada, call_id = await at_the_welcome_menu(helpline, ws_clients)
    # Two keys while the welcome prompt plays: 3 interrupts it and is kept;
    # 2 lands in the FAQ announcement that follows and is dropped there.
    await ada.send({"type": "ivr.digit", "call_id": call_id, "digit": "3"})
    await ada.send({"type": "ivr.digit", "call_id": call_id, "digit": "2"})
    first = await walk(ada, lambda e: e.get("type") == "ivr.prompt" and "faq" in e)
    assert first["node"] == "returns-answers"
    assert not [e for e in ada.received if menu_at("shipping-next")(e)]

    await ada.send({"type": "call.hangup", "call_id": call_id})
    await ada.call_state("ended")
    await ada.send({"type": "ivr.digit", "call_id": call_id, "digit": "1"})
    await ada.send({"type": "ping"})
    await ada.expect("pong")
    assert not [e for e in ada.received if e.get("type") == "error"]


async def test_a_choice_for_a_menu_the_call_has_left_is_refused(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    ada, call_id = await at_the_welcome_menu(helpline, ws_clients)
    await ada.send({"type": "ivr.digit", "call_id": call_id, "digit": "1"})
    await ada.expect("ivr.stop_prompt")
    await ada.send(
        {
            "type": "ivr.choose",
            "id": "late",
            "call_id": call_id,
            "node": "welcome",
            "digits": "2",
        }
    )
    error = await ada.expect("error")
    assert (error["code"], error["ref"]) == ("bad-state", "late")


async def test_a_page_that_never_reports_prompts_still_moves_on(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    await publish(helpline, SHORT_MENU)
    ada = await customer(helpline, ws_clients)
    await enter_ivr(ada)
    # No ivr.prompt_done is ever sent: each prompt's guard timer ends it.
    ended = await ada.call_state("ended", within=30)
    assert ended["reason"] == "ivr-hangup"
    played = [e["node"] for e in ada.received if e.get("type") == "ivr.prompt"]
    assert played == ["answers", "bye"]


async def test_the_ivr_goes_on_on_another_node_after_a_resume(
    helpline_factory: NodeFactory, ws_clients: ClientFactory
) -> None:
    first = await helpline_factory()
    second = await helpline_factory()
    await publish_demo(first)
    ada = await customer(first, ws_clients)
    call_id = await enter_ivr(ada)
    await ada.expect(menu_at("welcome"))
    resume = {
        "session_id": ada.welcome["session_id"],
        "resume_token": ada.welcome["resume_token"],
        "last_seq": ada.last_seq,
    }
    await ada.close()

    again = await ws_clients(second.ws_url, {"role": "customer", "resume": resume})
    assert again.welcome["resumed"]
    await again.send({"type": "ivr.digit", "call_id": call_id, "digit": "3"})
    await walk(again, menu_at("returns-next"))

    # Back on the first node, whose own copy of the IVR is now behind.
    resume["last_seq"] = again.last_seq
    await again.close()
    back = await ws_clients(first.ws_url, {"role": "customer", "resume": resume})
    await back.send({"type": "ivr.digit", "call_id": call_id, "digit": "2"})
    form = await walk(back, of_type("ivr.callback_form"))
    assert form["node"] == "returns-callback"


async def test_an_overflowing_queue_goes_back_to_the_ivr(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    await publish(
        helpline,
        """
id: tiny
version: 1
start: answers
faq_ids: [faq-opening-hours]
nodes:
  answers:
    kind: faq
    answers: [faq-opening-hours]
    next: wait
  wait:
    kind: queue
    skill: general
    max_wait_seconds: 10
    overflow: offer
  offer:
    kind: callback
    prompt: Press 1 for a callback, 2 to hang up.
    number_prompt: Your number, then hash.
    next: bye
    declined: bye
  bye:
    kind: hangup
    prompt: Goodbye.
""",
    )

    ada = await customer(helpline, ws_clients)
    call_id = await enter_ivr(ada)
    await walk(ada, state_is("queued"))
    await ada.call_state("ivr", within=20)
    form = await walk(ada, of_type("ivr.callback_form"))
    assert form["node"] == "offer"
    call = await helpline.node.routing.get_call(call_id)
    assert call is not None and call.state == "ivr"


@pytest.mark.parametrize("digit", ["A", "12", "", " "])
async def test_keys_that_are_not_dtmf_get_a_clear_error(
    helpline: RunningHelpline, ws_clients: ClientFactory, digit: str
) -> None:
    ada, call_id = await at_the_welcome_menu(helpline, ws_clients)
    await ada.send({"type": "ivr.digit", "call_id": call_id, "digit": digit})
    error = await ada.expect("error")
    assert error["code"] == "invalid-message" and "digit" in error["message"]
    await ada.send({"type": "ivr.digit", "call_id": call_id, "digit": "1"})
    await ada.expect("ivr.stop_prompt")


async def test_a_page_that_floods_the_ivr_has_its_call_ended(
    helpline: RunningHelpline,
    ws_clients: ClientFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ivr_calls, "MAX_EVENTS", 20)
    ada, call_id = await at_the_welcome_menu(helpline, ws_clients)
    for _ in range(25):  # stale prompt numbers: each is logged, none acts
        await ada.send({"type": "ivr.prompt_done", "call_id": call_id, "play": 99})
    ended = await ada.call_state("ended")
    assert ended["reason"] == "ivr-hangup"
    key = helpline.node.routing.key("call", call_id, "ivr")
    assert await helpline.node.routing.redis.llen(key) == 20


async def test_an_operators_recording_replaces_the_prompts_speech(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    recorded = await helpline.node.prompts.save_upload(sine_wav(1.5))
    menu = SHORT_MENU + f"recordings:\n  bye.prompt: {recorded.key}\n"
    await publish(helpline, menu)
    ada = await customer(helpline, ws_clients)
    await enter_ivr(ada)
    bye = await walk(
        ada, lambda e: e.get("type") == "ivr.prompt" and e["node"] == "bye"
    )
    assert bye["audio"] == f"/api/prompts/{recorded.key}.ogg"
    assert bye["duration_s"] == pytest.approx(1.5, abs=0.1)
    assert bye["text"] == "Goodbye."  # still shown in the page


async def test_the_ivr_goes_on_after_redis_restarts(
    private_redis_server: RedisServer,
    helpline_factory: NodeFactory,
    ws_clients: ClientFactory,
) -> None:
    node = await helpline_factory(redis_url=private_redis_server.url)
    ada, call_id = await at_the_welcome_menu(node, ws_clients)
    await ada.send({"type": "ivr.digit", "call_id": call_id, "digit": "3"})
    await walk(ada, menu_at("returns-next"))

    private_redis_server.restart()  # SIGKILL, then the same port and AOF

    await ada.send({"type": "ivr.digit", "call_id": call_id, "digit": "2"})
    form = await walk(ada, of_type("ivr.callback_form"), within=20)
    assert form["node"] == "returns-callback"


async def at_the_callback_offer(client: WsClient, call_id: str) -> Event:
    """From the welcome menu to the shipping callback offer, by keypad."""
    await client.send({"type": "ivr.digit", "call_id": call_id, "digit": "2"})
    await walk(client, menu_at("shipping-next"))
    await client.send({"type": "ivr.digit", "call_id": call_id, "digit": "2"})
    return await walk(client, of_type("ivr.callback_form"))


async def test_a_keyed_number_is_read_back_digit_by_digit_then_confirmed(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    ada, call_id = await at_the_welcome_menu(helpline, ws_clients)
    form = await at_the_callback_offer(ada, call_id)
    node = form["node"]
    await ada.send({"type": "ivr.digit", "call_id": call_id, "digit": "1"})
    await ada.expect(prompt_at(node))  # asks for the number
    for digit in "2125550134#":  # typed over the prompt: the first stops it
        await ada.send({"type": "ivr.digit", "call_id": call_id, "digit": digit})

    question = await walk(
        ada, lambda e: prompt_at(node)(e) and e["text"].startswith("Press 1")
    )
    read_back = [
        e
        for e in ada.received
        if prompt_at(node)(e) and e["play"] > question["play"] - 12
    ]
    assert [e["text"] for e in read_back] == [
        "You entered",
        *"2125550134",
        "Press 1 to confirm, or 2 to enter it again.",
    ]
    assert all(e["audio"] and e["interruptible"] for e in read_back)
    # One cached rendering per digit: "5" said twice is one audio file.
    audio = {e["text"]: e["audio"] for e in read_back}
    assert len(set(audio.values())) == len(audio) == 8

    await ada.send({"type": "ivr.digit", "call_id": call_id, "digit": "1"})
    await walk(ada, lambda e: prompt_at(node)(e) and "afternoon" in e["text"])
    await ada.send({"type": "ivr.digit", "call_id": call_id, "digit": "2"})
    done = await ada.expect("ivr.callback_requested")
    assert done["window"] == "12:00-17:00"
    ended = await walk(ada, state_is("ended"))
    assert ended["reason"] == "callback-requested"
    routing = helpline.node.routing
    entries: Any = await routing.redis.xrange(routing.key("callbacks"))
    assert [e["number"] for _, e in entries] == ["+12125550134"]


async def test_a_callback_over_the_numbers_daily_limit_is_refused(
    helpline_factory: NodeFactory, ws_clients: ClientFactory
) -> None:
    node = await helpline_factory(callbacks_per_number=1)
    await publish_demo(node)
    number = "(212) 555-0177"
    outcomes = []
    for _ in range(2):
        client = await customer(node, ws_clients)
        call_id = await enter_ivr(client)
        form = await at_the_callback_offer(client, call_id)
        request = {"type": "ivr.callback", "call_id": call_id, "node": form["node"]}
        await client.send({**request, "number": number})
        outcomes.append(
            await client.expect(
                lambda e: (
                    e.get("type") in ("ivr.callback_requested", "ivr.callback_refused")
                )
            )
        )

    assert outcomes[0]["type"] == "ivr.callback_requested"
    refused = outcomes[1]
    assert (refused["code"], refused["limit"]) == ("callback-limit", "number-limit")
    assert refused["node"] == "shipping-callback"
    assert refused["message"] and not any(c.isdigit() for c in refused["message"])
    # The caller hears why, then takes the node's declined path: the queue.
    said = await client.expect(prompt_at("shipping-callback"))
    assert said["text"] == "We cannot take another callback request today."
    assert not said["interruptible"]
    queued = await walk(client, state_is("queued"))
    assert queued["call_id"] == call_id
    routing = node.node.routing
    entries: Any = await routing.redis.xrange(routing.key("callbacks"))
    assert [e["number"] for _, e in entries] == ["+12125550177"]

"""Callbacks in Chromium, end to end (docs/callbacks.md): a customer asks
for a callback in the widget, an agent claims it in the softphone, the
customer's tab rings and answers, audio flows both ways, and the agent
records the outcome, which the customer's card shows.

Helpline runs in-process on loopback with a real redis-server and hours
that are always open. The customer's signaling frames are watched (not
changed) through Playwright. Every page's console errors fail the test.
Screenshots are saved in ``test-artifacts/``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import BrowserContext, ConsoleMessage, Page, expect

from ivr.hours import always_open
from tests.fixtures.app import NodeFactory, RunningHelpline
from tests.test_browser_call import (
    AGENT,
    ARTIFACTS,
    WAIT_MS,
    expect_connected,
    open_softphone,
    press,
    wait_for,
)
from tests.test_browser_ivr import (
    GOOD_NUMBER,
    WIDGET,
    Frames,
    as_sentence,
    call_into_ivr,
    of_type,
    voice_off,
)
from tests.test_ivr_calls import publish_demo

pytestmark = pytest.mark.browser

PHONE = "window.softphone"
BAD_NUMBER = "12345"
RING_S = 3
PENDING = "We will call you back"


async def screenshot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"browser-callbacks-{name}.png"))


class ConsoleErrors:
    """Console errors and uncaught exceptions of every page watched."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def watch(self, page: Page) -> Page:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.seen.append(f"{page.url}: {error}"))
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.seen.append(f"{message.location.get('url')}: {message.text}")


@pytest.fixture
async def console_errors() -> AsyncIterator[ConsoleErrors]:
    errors = ConsoleErrors()
    yield errors
    assert errors.seen == []


async def open_customer(
    chromium: BrowserContext, helpline: RunningHelpline, errors: ConsoleErrors
) -> tuple[Page, Frames]:
    """The demo page with its widget, which holds no socket until it has a
    use for one."""
    frames = Frames()
    page = errors.watch(await chromium.new_page())
    page.on("websocket", frames.watch)
    await page.goto(f"{helpline.url}/demo")
    await wait_for(page, f"{WIDGET}?.ui !== undefined")
    assert frames.received == []
    return page, frames


async def open_agent(
    chromium: BrowserContext, helpline: RunningHelpline, errors: ConsoleErrors
) -> Page:
    agent = errors.watch(await open_softphone(chromium, helpline))
    await wait_for(agent, f"{PHONE}.client.connection === 'open'")
    return agent


async def both_ends(
    helpline: RunningHelpline,
    chromium: BrowserContext,
    errors: ConsoleErrors,
    *,
    away: bool,
) -> tuple[Page, Page, Frames]:
    """A line that is always open, an agent's softphone (`away`: signed in
    but taking nothing, so no offer rings it) and the demo page."""
    await helpline.node.hours.set_calendar(always_open())
    agent = await open_agent(chromium, helpline, errors)
    if away:
        await go_away(agent)
    customer, frames = await open_customer(chromium, helpline, errors)
    return agent, customer, frames


async def offered(agent: Page, customer: Page, frames: Frames) -> tuple[str, Any]:
    """The customer asks to be called as soon as possible and, the agent
    being free, routing offers it at once, like a ring: the callback's id
    and the offer's card."""
    await ask_for_callback(customer, GOOD_NUMBER)
    callback = await kept_callback(frames)
    offer = agent.get_by_role("region", name="Callback due")
    await expect(offer).to_be_visible(timeout=WAIT_MS)
    await wait_for(agent, f"{PHONE}.agentStatus === 'ringing'")
    return callback, offer


async def go_away(agent: Page) -> None:
    """The agent stays signed in but takes nothing: no offer rings it."""
    availability = agent.get_by_role("switch", name="Available for calls")
    await agent.bring_to_front()
    await availability.click()
    await wait_for(agent, f"{PHONE}.agentStatus === 'away'")


async def ask_for_callback(customer: Page, number: str) -> None:
    """The widget's own form, as soon as possible."""
    await press(customer, "Call me back")
    await customer.get_by_label("Phone number", exact=True).fill(number)
    await customer.get_by_label("As soon as possible").check()
    await press(customer, "Request callback")


async def ask_for_tomorrow(customer: Page) -> str:
    """The widget's own form, a window on a day: tomorrow afternoon in the
    line's time zone (UTC here). Returns tomorrow's date."""
    await press(customer, "Call me back")
    await customer.get_by_label("Phone number", exact=True).fill(GOOD_NUMBER)
    await customer.get_by_label("Between 12:00 and 17:00").check()
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date().isoformat()
    await customer.get_by_label("Day", exact=True).select_option(tomorrow)
    await press(customer, "Request callback")
    return tomorrow


def callback_card(customer: Page) -> Any:
    return customer.get_by_role("region", name="Your callback")


def due_item(agent: Page, callback: str) -> Any:
    return agent.locator(f'#callbacks-due li[data-callback="{callback}"]')


async def kept_callback(frames: Frames) -> str:
    """The id of the callback the server kept for this page."""
    status = await frames.wait(
        frames.received, lambda f: of_type("callback.status")(f) and "token" in f
    )
    return str(status["callback"])


async def callback_record(helpline: RunningHelpline, callback: str) -> dict[str, str]:
    """The callback's hash in Redis, as the design names it."""
    routing = helpline.node.routing
    fields = await routing.redis.hgetall(routing.key("callback", callback))
    return {_text(name): _text(value) for name, value in fields.items()}


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def test_a_callback_from_the_widget_form_is_claimed_answered_and_recorded(
    helpline: RunningHelpline, chromium: BrowserContext, console_errors: ConsoleErrors
) -> None:
    agent, customer, frames = await both_ends(
        helpline, chromium, console_errors, away=True
    )

    # A number the policy refuses: the sentence shows at the form, and what
    # was typed stays.
    await press(customer, "Call me back")
    number = customer.get_by_label("Phone number", exact=True)
    await number.fill(BAD_NUMBER)
    await press(customer, "Request callback")
    refusal = await frames.wait(
        frames.received, of_type("error", code="invalid-number")
    )
    await expect(customer.get_by_role("alert")).to_have_text(
        as_sentence(refusal["message"])
    )
    await expect(number).to_have_value(BAD_NUMBER)
    await expect(number).to_have_attribute("aria-invalid", "true")
    await screenshot(customer, "form-refused")

    await number.fill(GOOD_NUMBER)
    await customer.get_by_label("As soon as possible").check()
    await press(customer, "Request callback")
    callback = await kept_callback(frames)
    request = frames.sent_of("callback.request")[-1]
    assert request["number"] == GOOD_NUMBER and "window" not in request
    assert request["consent"] == customer_consent(frames)
    card = callback_card(customer)
    await expect(card).to_contain_text(PENDING, timeout=WAIT_MS)
    await expect(card.get_by_role("button", name="Cancel callback")).to_be_visible()
    await screenshot(customer, "pending")

    # The agent sees it due, with the number's last two digits only.
    item = due_item(agent, callback)
    await expect(item).to_be_visible(timeout=WAIT_MS)
    await expect(item).to_contain_text("Number ••••42")
    await expect(agent.locator("#callbacks")).not_to_contain_text("555-0142")
    await screenshot(agent, "due")

    # After a reload the page follows the same callback again.
    frames = Frames()
    customer.on("websocket", frames.watch)
    await customer.reload()
    await wait_for(customer, f"{WIDGET}?.client?.connection === 'open'")
    await expect(callback_card(customer)).to_contain_text(PENDING, timeout=WAIT_MS)
    attach = await frames.wait(frames.sent, of_type("callback.attach"))
    assert attach["callback"] == callback

    # Claimed from the list (once available, routing may offer it to this
    # agent too: either way the claim is this agent's): the reloaded tab rings.
    await agent.bring_to_front()
    await agent.get_by_role("switch", name="Available for calls").click()
    await wait_for(agent, f"['available', 'ringing'].includes({PHONE}.agentStatus)")
    await item.get_by_role("button", name="Claim the callback", exact=False).click()
    await expect(agent.locator("#call-title")).to_contain_text(
        "Calling back", timeout=WAIT_MS
    )
    await expect(agent.locator("#call-status")).to_have_text(
        "Calling back… via the customer’s browser tab"
    )
    await expect(agent.locator("#caller-number")).to_have_text("+12125550142")
    await wait_for(customer, f"{WIDGET}.state === 'dialling'")
    await expect(customer.get_by_role("status")).to_have_text(
        f"{AGENT['name']} is calling you back.", timeout=WAIT_MS
    )
    await screenshot(customer, "ringing")
    await screenshot(agent, "dialling")

    # Answered as any call is: the page offers, audio flows both ways.
    await press(customer, "Answer")
    await expect_connected(agent, customer)

    # The agent hangs up and records how it went.
    await press(agent, "Hang up")
    await wait_for(customer, f"{WIDGET}.state === 'ended'")
    outcome = agent.get_by_role("form", name="How did the callback go?")
    await expect(outcome).to_be_visible(timeout=WAIT_MS)
    await outcome.get_by_label("Resolved", exact=True).check()
    await outcome.get_by_label("Note (optional)").fill("Invoice copy sent.")
    await screenshot(agent, "outcome")
    await press(agent, "Save outcome")
    await expect(outcome).to_be_hidden(timeout=WAIT_MS)

    await expect(callback_card(customer)).to_contain_text(
        "We called you back.", timeout=WAIT_MS
    )
    await screenshot(customer, "done")
    # The card says what the server recorded before it told the page.
    record = await callback_record(helpline, callback)
    assert (record["state"], record["outcome"]) == ("done", "resolved")
    assert (
        await customer.evaluate("sessionStorage.getItem('helpline.callback')") is None
    )


def customer_consent(frames: Frames) -> str:
    """The consent sentence the welcome told the page to show."""
    welcome = next(f for f in frames.received if f.get("type") == "welcome")
    return str(welcome["callbacks"]["consent"])


async def test_a_callback_for_tomorrow_cancelled_in_the_widget_leaves_the_list(
    helpline: RunningHelpline, chromium: BrowserContext, console_errors: ConsoleErrors
) -> None:
    agent, customer, frames = await both_ends(
        helpline, chromium, console_errors, away=True
    )

    tomorrow = await ask_for_tomorrow(customer)
    callback = await kept_callback(frames)
    request = frames.sent_of("callback.request")[-1]
    assert (request["window"], request["date"]) == ("12:00-17:00", tomorrow)
    await expect(callback_card(customer)).to_contain_text(
        f"{PENDING} tomorrow between 12:00 and 17:00.", timeout=WAIT_MS
    )
    item = agent.locator(f'#callbacks-upcoming li[data-callback="{callback}"]')
    await expect(item).to_contain_text(f"asked for 12:00–17:00 on {tomorrow}")

    await press(customer, "Cancel callback")
    await expect(callback_card(customer)).to_contain_text(
        "Your callback is cancelled.", timeout=WAIT_MS
    )
    await expect(item).to_have_count(0, timeout=WAIT_MS)
    await expect(agent.locator("#callbacks-upcoming")).to_have_text(
        "No callback is waiting."
    )
    await screenshot(customer, "cancelled")
    assert (await callback_record(helpline, callback))["state"] == "cancelled"

    # The card of a callback that is over can be closed.
    await press(customer, "Close the callback card")
    await expect(callback_card(customer)).to_be_hidden()
    await expect(customer.get_by_role("button", name="Call me back")).to_be_visible()


async def test_the_ivr_callback_form_shows_the_pending_card(
    helpline: RunningHelpline, chromium: BrowserContext, console_errors: ConsoleErrors
) -> None:
    await publish_demo(helpline)
    customer, frames = await open_customer(chromium, helpline, console_errors)
    await call_into_ivr(customer)
    await voice_off(customer)
    await customer.get_by_role("button", name="Billing and payments").click()
    await customer.get_by_role("button", name="Ask for a callback").click()
    await customer.get_by_label("Your phone number").fill(GOOD_NUMBER)
    await customer.get_by_label("12:00 – 17:00").check()
    await customer.get_by_role("button", name="Call me back").click()

    callback = await kept_callback(frames)
    await wait_for(customer, f"{WIDGET}.endReason === 'callback-requested'")
    card = callback_card(customer)
    await expect(card).to_contain_text(PENDING, timeout=WAIT_MS)
    await expect(card).to_contain_text("12:00")
    stored = json.loads(
        await customer.evaluate("sessionStorage.getItem('helpline.callback')")
    )
    assert stored["callback"] == callback and stored["token"]
    await screenshot(customer, "ivr-pending")

    record = await callback_record(helpline, callback)
    assert record["state"] == "waiting" and record["window"] == "12:00-17:00"


async def test_an_offered_callback_skipped_then_claimed_and_declined_in_the_tab(
    helpline: RunningHelpline, chromium: BrowserContext, console_errors: ConsoleErrors
) -> None:
    agent, customer, frames = await both_ends(
        helpline, chromium, console_errors, away=False
    )

    callback, offer = await offered(agent, customer, frames)
    await expect(offer.locator("#offer-number")).to_have_text("••••42")
    await expect(offer.get_by_role("timer")).to_have_text(re.compile(r"^\d+ s$"))
    await screenshot(agent, "offer")

    # Skipped: the agent is free again, and the callback still due.
    await agent.bring_to_front()
    await offer.get_by_role("button", name="Skip").click()
    await expect(offer).to_be_hidden()
    await wait_for(agent, f"{PHONE}.agentStatus === 'available'")
    item = due_item(agent, callback)
    await expect(item).to_have_attribute("data-state", "waiting", timeout=WAIT_MS)

    await item.get_by_role("button", name="Claim the callback", exact=False).click()
    await wait_for(customer, f"{WIDGET}.state === 'dialling'")
    await expect(agent.locator("#call-title")).to_contain_text("Calling back")

    # Declining the ring cancels the callback: the customer said no.
    await press(customer, "Decline")
    await expect(callback_card(customer)).to_contain_text(
        "Your callback is cancelled.", timeout=WAIT_MS
    )
    await wait_for(agent, f"{PHONE}.callState === 'ended'")
    await expect(agent.locator("#call-status")).to_have_text(
        "The customer declined the call; the callback is cancelled."
    )
    # Never answered: there is no outcome to record.
    await expect(agent.locator("#callback-outcome")).to_be_hidden()
    await wait_for(agent, f"{PHONE}.agentStatus === 'available'")
    assert (await callback_record(helpline, callback))["state"] == "cancelled"


async def test_a_ring_nobody_answers_counts_an_attempt_and_waits_again(
    helpline_factory: NodeFactory,
    chromium: BrowserContext,
    console_errors: ConsoleErrors,
) -> None:
    helpline = await helpline_factory(callbacks_ring_s=RING_S)
    agent, customer, frames = await both_ends(
        helpline, chromium, console_errors, away=False
    )
    callback, offer = await offered(agent, customer, frames)
    await agent.bring_to_front()
    await offer.get_by_role("button", name="Claim").click()
    await wait_for(customer, f"{WIDGET}.state === 'dialling'")

    # Nobody answers in the tab: the ring ends, the callback waits again.
    await customer.wait_for_function(
        f"{WIDGET}.state === 'ended'", polling=100, timeout=RING_S * 1000 + WAIT_MS
    )
    assert await customer.evaluate(f"{WIDGET}.endReason") == "no-answer"
    card = callback_card(customer)
    await expect(card).to_contain_text(PENDING, timeout=WAIT_MS)
    await expect(card).to_contain_text("Calls so far: 1 of 3.")
    await expect(card.get_by_role("button", name="Cancel callback")).to_be_visible()
    await expect(agent.locator("#call-status")).to_have_text(
        "The customer did not answer; the callback will be tried again."
    )
    await expect(agent.locator("#callback-outcome")).to_be_hidden()
    upcoming = agent.locator(f'#callbacks-upcoming li[data-callback="{callback}"]')
    await expect(upcoming).to_contain_text("Tried once", timeout=WAIT_MS)
    await screenshot(customer, "missed")
    record = await callback_record(helpline, callback)
    assert (record["state"], record["attempts"]) == ("waiting", "1")


async def test_a_callback_cancelled_while_offered_withdraws_the_offer(
    helpline: RunningHelpline, chromium: BrowserContext, console_errors: ConsoleErrors
) -> None:
    agent, customer, frames = await both_ends(
        helpline, chromium, console_errors, away=False
    )
    callback, offer = await offered(agent, customer, frames)

    # Well within the offer's time: the softphone is told, not timed out.
    await press(customer, "Cancel callback")
    await expect(callback_card(customer)).to_contain_text(
        "Your callback is cancelled.", timeout=WAIT_MS
    )
    await expect(offer).to_be_hidden(timeout=5_000)
    await wait_for(agent, f"{PHONE}.agentStatus === 'available'")
    await expect(agent.locator("#agent-status")).to_have_text("Available")
    await expect(due_item(agent, callback)).to_have_count(0)

"""The widget's self-help in Chromium: the FAQ search before any call, and a
call that walks the IVR in the page (prompts spoken and shown, the menu as
buttons, the keypad and the keyboard, FAQ answer cards, the callback form)
until it books a callback or reaches an agent, whose softphone shows the
journey when the call rings.

Helpline runs in-process on loopback with the demo FAQ and menu published
and hours that are always open; prompts are rendered by espeak-ng. The
page's signaling frames are watched (not changed) through Playwright, to
check what the widget sends. Screenshots are saved in ``test-artifacts/``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page, WebSocket, expect

from gateway.callbacks import Request
from tests.fixtures.app import RunningHelpline
from tests.test_browser_call import (
    ARTIFACTS,
    WAIT_MS,
    expect_connected,
    expect_ended,
    expect_ringing,
    open_softphone,
    press,
    wait_for,
)
from tests.test_ivr_calls import publish_demo

pytestmark = pytest.mark.browser

Frame = dict[str, Any]
WIDGET = "window.helplineWidget"
# A valid number that the callback policy accepts (NANP fictional range).
GOOD_NUMBER = "(212) 555-0142"
BAD_NUMBER = "12345"
BOOKED = "We will call you back between 12:00 and 17:00."


async def screenshot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"browser-ivr-{name}.png"))


class Frames:
    """The JSON frames a page sends and receives on its signaling socket."""

    def __init__(self) -> None:
        self.sent: list[Frame] = []
        self.received: list[Frame] = []
        self.order: list[Frame] = []  # both ways, as they went
        self.times: dict[int, float] = {}  # by id(frame), on the loop's clock
        self._changed = asyncio.Event()

    def watch(self, socket: WebSocket) -> None:
        if not socket.url.endswith("/ws"):
            return
        socket.on("framesent", lambda payload: self._add(self.sent, payload))
        socket.on("framereceived", lambda payload: self._add(self.received, payload))

    def _add(self, into: list[Frame], payload: str | bytes) -> None:
        frame = json.loads(payload)
        into.append(frame)
        self.order.append(frame)
        self.times[id(frame)] = asyncio.get_running_loop().time()
        self._changed.set()

    async def wait(
        self, into: list[Frame], match: Callable[[Frame], bool], within_s: float = 15
    ) -> Frame:
        """The first frame in `into` that matches, waiting for it if needed."""
        async with asyncio.timeout(within_s):
            while True:
                found = next((frame for frame in into if match(frame)), None)
                if found is not None:
                    return found
                self._changed.clear()
                await self._changed.wait()

    def sent_of(self, kind: str) -> list[Frame]:
        return [frame for frame in self.sent if frame.get("type") == kind]

    def seconds_between(self, first: Frame, then: Frame) -> float:
        return self.times[id(then)] - self.times[id(first)]

    def before(self, first: Frame, then: Frame) -> bool:
        order = [id(frame) for frame in self.order]
        return order.index(id(first)) < order.index(id(then))


def as_sentence(message: str) -> str:
    """The server's message as the page shows it (see asSentence in client.js)."""
    text = message.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."


def of_type(kind: str, **fields: Any) -> Callable[[Frame], bool]:
    def match(frame: Frame) -> bool:
        return frame.get("type") == kind and all(
            frame.get(name) == value for name, value in fields.items()
        )

    return match


async def open_customer(
    chromium: BrowserContext, helpline: RunningHelpline
) -> tuple[Page, Frames]:
    # The widget opens its session as the page loads: watch from the start.
    frames = Frames()
    page = await chromium.new_page()
    page.on("websocket", frames.watch)
    await page.goto(f"{helpline.url}/demo")
    await page.wait_for_function(f"{WIDGET} !== undefined", polling=100)
    return page, frames


async def call_into_ivr(customer: Page) -> None:
    await press(customer, "Call us")
    await wait_for(customer, f"{WIDGET}.state === 'ivr'")
    await expect(
        customer.get_by_role("button", name="Billing and payments")
    ).to_be_visible(timeout=WAIT_MS)


async def voice_off(customer: Page) -> None:
    """Read instead of listen: each prompt is over as soon as it shows."""
    switch = customer.get_by_role("switch", name="Voice")
    await switch.click()
    await expect(switch).to_have_attribute("aria-checked", "false")


async def faq_entries(helpline: RunningHelpline, *ids: str) -> list[Any]:
    entries = await helpline.node.faq.get_many(ids)
    return [entries[faq_id] for faq_id in ids]


async def expect_cards(customer: Page, entries: list[Any]) -> None:
    """Each FAQ answer given shows as a card: its question and its answer."""
    cards = customer.locator(".cards li")
    await expect(cards).to_have_count(len(entries), timeout=WAIT_MS)
    for card, entry in zip(await cards.all(), entries, strict=True):
        await expect(card.get_by_role("heading")).to_have_text(entry.question)
        await expect(card.locator(".answer-text")).to_have_text(entry.answer)


async def test_faq_search_opens_an_answer_above_call_us(
    helpline: RunningHelpline, chromium: BrowserContext
) -> None:
    await publish_demo(helpline)
    [entry] = await faq_entries(helpline, "faq-billing-invoice-copy")
    customer, _ = await open_customer(chromium, helpline)

    search = customer.get_by_role("searchbox", name="Questions? Search our answers")
    await search.press_sequentially("copy of my invoic", delay=20)
    result = customer.locator(".results summary", has_text=entry.question)
    await expect(result).to_be_visible(timeout=WAIT_MS)
    answer = customer.locator(".results .answer-text", has_text=entry.answer)
    await expect(answer).to_be_hidden()
    await result.click()
    await expect(answer).to_be_visible()
    await screenshot(customer, "search")

    # "Call us" sits under the answers found.
    results_box = await customer.locator(".results").bounding_box()
    call_box = await customer.get_by_role("button", name="Call us").bounding_box()
    assert results_box and call_box
    assert call_box["y"] >= results_box["y"] + results_box["height"]

    # The answer plays in the page: its audio loads and time passes.
    await customer.get_by_role(
        "button", name=f"Listen to the answer: {entry.question}"
    ).click()
    await wait_for(customer, f"{WIDGET}.ivr.voice.audio.currentTime > 0.3")
    source = await customer.evaluate(f"{WIDGET}.ivr.voice.audio.currentSrc")
    assert source.startswith(helpline.url) and source.endswith(".ogg")

    await search.fill("xylophone quartz")
    await expect(customer.locator(".found")).to_have_text(
        "Nothing found for “xylophone quartz”. Try other words, or call us.",
        timeout=WAIT_MS,
    )
    await expect(customer.locator(".results li")).to_have_count(0)


async def test_ivr_by_click_and_keypad_to_a_callback(
    helpline: RunningHelpline, chromium: BrowserContext
) -> None:
    await publish_demo(helpline)
    entries = await faq_entries(
        helpline, "faq-billing-payment-methods", "faq-billing-invoice-copy"
    )
    customer, frames = await open_customer(chromium, helpline)
    await call_into_ivr(customer)

    # The welcome prompt is shown and spoken; clicking an option barges in.
    await expect(customer.locator(".prompt")).to_contain_text(
        "Thank you for calling Northwind Appliances"
    )
    welcome = await frames.wait(frames.received, of_type("ivr.prompt", node="welcome"))
    await wait_for(customer, f"{WIDGET}.ivr.voice.audio.currentTime > 0.3")
    await screenshot(customer, "welcome")
    await customer.get_by_role("button", name="Billing and payments").click()
    await frames.wait(frames.sent, of_type("ivr.choose", node="welcome", digits="1"))
    await frames.wait(frames.received, of_type("ivr.stop_prompt", play=welcome["play"]))

    # The next prompt plays to its end (it takes as long as the audio), and
    # the page says so before the IVR goes on to the first answer.
    intro = await frames.wait(
        frames.received, of_type("ivr.prompt", node="billing-answers")
    )
    done = await frames.wait(
        frames.sent, of_type("ivr.prompt_done", play=intro["play"])
    )
    first = await frames.wait(
        frames.received, lambda f: of_type("ivr.prompt")(f) and "faq" in f
    )
    assert frames.before(done, first)
    assert frames.seconds_between(intro, done) > intro["duration_s"] * 0.8

    await voice_off(customer)
    await expect_cards(customer, entries)
    await expect(
        customer.get_by_role("button", name="Ask for a callback")
    ).to_be_visible(timeout=WAIT_MS)
    await screenshot(customer, "answers")

    # The on-screen keypad: 2 asks for a callback.
    keypad = customer.get_by_role("group", name="Keypad")
    await keypad.get_by_role("button", name="2", exact=True).click()
    await frames.wait(frames.sent, of_type("ivr.digit", digit="2"))
    number = customer.get_by_label("Your phone number")
    await expect(number).to_be_visible(timeout=WAIT_MS)
    # (The widget's own callback form, hidden in the dock, says the same.)
    form = customer.get_by_role("form", name="Callback")
    await expect(
        form.get_by_text("Countries we call: United States and Canada.")
    ).to_be_visible()
    # The windows are in the line's time zone (no calendar set: UTC).
    await expect(form.get_by_text("When should we call? (UTC time)")).to_be_visible()

    # Digits typed in the form are the number, not keypad presses.
    digits_before = len(frames.sent_of("ivr.digit"))
    await number.press_sequentially(BAD_NUMBER)
    await customer.get_by_role("button", name="Call me back").click()
    refusal = await frames.wait(
        frames.received, of_type("error", code="invalid-number")
    )
    await expect(customer.get_by_role("alert")).to_have_text(
        as_sentence(refusal["message"])
    )
    await expect(number).to_have_attribute("aria-invalid", "true")
    assert len(frames.sent_of("ivr.digit")) == digits_before
    await screenshot(customer, "callback-refused")

    # The voice back on: the goodbye plays, and the booking is said once
    # while it does and once the call has ended.
    await customer.get_by_role("switch", name="Voice").click()
    await number.fill(GOOD_NUMBER)
    await customer.get_by_label("12:00 – 17:00").check()
    await customer.get_by_role("button", name="Call me back").click()
    await expect(customer.get_by_role("status")).to_have_text(
        "Callback booked.", timeout=WAIT_MS
    )
    await wait_for(customer, f"{WIDGET}.ivr.voice.audio.currentTime > 0.3")
    shown = await customer.get_by_text(BOOKED).count()
    detail = await customer.locator(".detail").text_content()
    assert await customer.evaluate(f"{WIDGET}.state") == "ivr"  # still
    assert (shown, detail) == (1, BOOKED)
    await screenshot(customer, "callback-goodbye")

    await expect(customer.get_by_role("status")).to_have_text(
        "Call ended.", timeout=WAIT_MS
    )
    assert await customer.evaluate(f"{WIDGET}.endReason") == "callback-requested"
    await expect(customer.get_by_text(BOOKED)).to_have_count(1)
    await expect(customer.locator(".detail")).to_have_text(f"Callback booked. {BOOKED}")
    await expect(customer.locator(".outcome")).to_be_empty()
    booked = frames.sent_of("ivr.callback")[-1]
    assert booked["window"] == "12:00-17:00" and booked["node"] == "billing-callback"
    await screenshot(customer, "callback-booked")


async def test_ivr_by_keyboard_to_an_agent_who_sees_the_journey(
    helpline: RunningHelpline, chromium: BrowserContext
) -> None:
    await publish_demo(helpline)
    entries = await faq_entries(helpline, "faq-shipping-times", "faq-shipping-tracking")
    agent = await open_softphone(chromium, helpline)
    customer, frames = await open_customer(chromium, helpline)
    await call_into_ivr(customer)
    await voice_off(customer)

    # The keyboard's digit keys work as the keypad.
    await customer.bring_to_front()
    await customer.keyboard.press("2")
    await frames.wait(frames.sent, of_type("ivr.digit", digit="2"))
    await expect_cards(customer, entries)
    await expect(
        customer.get_by_role("button", name="Wait for an agent")
    ).to_be_visible(timeout=WAIT_MS)
    await customer.keyboard.press("3")

    await expect_ringing(agent)
    await expect(agent.locator("#journey")).to_be_visible()
    await expect(agent.locator("#journey-choices li")).to_have_text(
        ["Shipping and delivery (2)", "Wait for an agent (3)"]
    )
    await expect(agent.locator("#journey-faq li")).to_have_text(
        [entry.question for entry in entries]
    )
    await expect(agent.locator("#journey-offers")).to_have_text("FAQ answers")
    await expect(agent.locator("#journey-skill")).to_have_text("shipping")
    await expect(agent.locator("#journey-time")).to_have_text(re.compile(r"^\d+ s$"))
    await screenshot(agent, "agent-journey")

    await press(agent, "Answer")
    await expect_connected(agent, customer)
    await expect(customer.locator(".ivr")).to_be_hidden()
    await press(customer, "Hang up")
    await expect_ended(agent, customer, "customer-hangup")


async def test_a_callback_over_the_daily_limit_is_refused_at_the_form(
    helpline: RunningHelpline, chromium: BrowserContext
) -> None:
    await publish_demo(helpline)
    callbacks = helpline.node.ivr.callbacks
    for _ in range(callbacks.limits.per_number):  # booked earlier today
        kept = await callbacks.keep(Request("+12125550142", call_id="c-earlier"))
        assert kept.verdict.kept
    customer, frames = await open_customer(chromium, helpline)
    await call_into_ivr(customer)
    await voice_off(customer)
    await customer.get_by_role("button", name="Billing and payments").click()
    await customer.get_by_role("button", name="Ask for a callback").click()

    await customer.get_by_label("Your phone number").fill(GOOD_NUMBER)
    await customer.get_by_role("button", name="Call me back").click()

    refused = await frames.wait(frames.received, of_type("ivr.callback_refused"))
    sentence = as_sentence(refused["message"])
    assert sentence == "We cannot take another callback request for this number today."
    # Said under the form, and still there once the call waits for an agent.
    await expect(customer.locator(".outcome")).to_have_text(sentence, timeout=WAIT_MS)
    await wait_for(customer, f"{WIDGET}.state === 'queued'")
    await expect(customer.locator(".outcome")).to_have_text(sentence)
    await expect(customer.locator(".outcome")).to_have_class(re.compile("refused"))
    await expect(customer.get_by_label("Your phone number")).to_be_hidden()
    await screenshot(customer, "callback-over-the-limit")
    # The earlier requests merged into one callback; the refused one left
    # nothing.
    redis, stream = helpline.node.routing.redis, callbacks.streams.stream
    assert await redis.xlen(stream) == 1
    (only,) = (await callbacks.listing())["due"]
    assert only["requests"] == callbacks.limits.per_number

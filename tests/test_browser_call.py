"""A real call between two Chromium pages: the widget on the demo site calls,
the agent softphone answers, and audio flows peer to peer between them.

Both pages run in one headless Chromium with a fake microphone; Helpline
runs in-process on loopback with a real redis-server. Screenshots of both
pages at each step are saved in ``test-artifacts/``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import BrowserContext, Page, expect

from tests.fixtures.app import NodeFactory, RunningHelpline

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
WAIT_MS = 15_000
LOAD_MS = 5_000
AGENT = {
    "username": "grace",
    "password": "a long enough secret",
    "name": "Grace Hopper",
}
CALLER_TOPIC = "Appliance support"
RING_TIMEOUT_S = 4
RANG_OUT = (
    "The call rang out and went back to the queue. You are now Away: "
    "switch on Available for calls to get calls again."
)

Stats = dict[str, int]

# Polls a page object's stats() inside the page until more audio packets
# than `after` have flowed both ways or the time is up; returns the counters.
AUDIO_FLOWED = """
async ([name, after, timeoutMs]) => {
  const deadline = performance.now() + timeoutMs;
  const flowed = (stats) => stats.packetsReceived > after.packetsReceived
    && stats.packetsSent > after.packetsSent;
  let stats = await window[name].stats();
  while (performance.now() < deadline) {
    if (flowed(stats)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
    stats = await window[name].stats();
  }
  return stats;
}
"""


async def screenshot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"browser-call-{name}.png"))


async def press(page: Page, name: str) -> None:
    """Click a button by its accessible name, with its page in front.

    Playwright waits for animation frames before a click, and Chromium runs
    none for a page in the background.
    """
    await page.bring_to_front()
    await page.get_by_role("button", name=name, exact=True).click()


async def wait_for(page: Page, expression: str) -> None:
    # Poll on a timer: animation frames pause in pages not in front.
    await page.wait_for_function(expression, polling=100, timeout=WAIT_MS)


async def open_softphone(
    chromium: BrowserContext, helpline: RunningHelpline, agent: dict[str, str] = AGENT
) -> Page:
    """Sign the agent in at /agent and make it available."""
    await helpline.create_agent(agent["username"], agent["password"], agent["name"])
    return await sign_in_softphone(
        chromium, helpline.url, agent["username"], agent["password"]
    )


async def sign_in_softphone(
    chromium: BrowserContext, base: str, username: str, password: str
) -> Page:
    """An agent's account signed in at `base`/agent, made available."""
    page = await chromium.new_page()
    await page.goto(f"{base}/agent")
    await page.get_by_label("User name").fill(username)
    await page.get_by_label("Password").fill(password)
    await press(page, "Sign in")

    availability = page.get_by_role("switch", name="Available for calls")
    await expect(availability).to_be_enabled(timeout=WAIT_MS)
    await availability.click()
    await expect(availability).to_have_attribute(
        "aria-checked", "true", timeout=WAIT_MS
    )
    await wait_for(page, "window.softphone.agentStatus === 'available'")
    return page


async def open_demo(chromium: BrowserContext, helpline: RunningHelpline) -> Page:
    page = await chromium.new_page()
    await page.goto(f"{helpline.url}/demo")
    return page


def widget_status(customer: Page) -> Any:
    return customer.get_by_role("status")


async def expect_ringing(agent: Page) -> None:
    """The agent sees the call ring, with the caller's details."""
    await expect(agent.locator("#call-title")).to_have_text(
        "Incoming call", timeout=WAIT_MS
    )
    await expect(agent.locator("#caller-topic")).to_have_text(CALLER_TOPIC)
    await expect(agent.locator("#caller-page")).to_contain_text("/demo")
    await wait_for(agent, "window.softphone.callState === 'ringing'")


async def expect_audio(page: Page, name: str, after: Stats | None = None) -> Stats:
    """Wait until ``window[name].stats()`` counts audio both ways (beyond
    ``after``, if given) and return the counters."""
    after = after or {"packetsReceived": 0, "packetsSent": 0}
    stats: Stats = await page.evaluate(AUDIO_FLOWED, [name, after, WAIT_MS])
    for counter in ("packetsReceived", "packetsSent"):
        assert stats[counter] > after[counter], f"{name}: no new {counter}: {stats}"
    return stats


async def expect_connected(agent: Page, customer: Page) -> None:
    """Both ends report the call answered and audio packets both ways."""
    await wait_for(agent, "window.softphone.callState === 'answered'")
    await wait_for(customer, "window.helplineWidget.state === 'answered'")
    await expect(widget_status(customer)).to_have_text(
        f"Connected with {AGENT['name']}.", timeout=WAIT_MS
    )
    await expect_audio(agent, "softphone")
    await expect_audio(customer, "helplineWidget")


async def answered_call(
    chromium: BrowserContext, helpline: RunningHelpline
) -> tuple[Page, Page]:
    """The agent's softphone and the demo page, in a call the agent answered
    and that carries audio both ways."""
    agent = await open_softphone(chromium, helpline)
    customer = await open_demo(chromium, helpline)
    await press(customer, "Call us")
    await expect_ringing(agent)
    await press(agent, "Answer")
    await expect_connected(agent, customer)
    return agent, customer


async def expect_ended(agent: Page, customer: Page, reason: str) -> None:
    await wait_for(agent, "window.softphone.callState === 'ended'")
    await wait_for(customer, "window.helplineWidget.state === 'ended'")
    assert await customer.evaluate("window.helplineWidget.endReason") == reason
    await expect(agent.locator("#call-title")).to_have_text("Call ended")
    await expect(widget_status(customer)).to_have_text("Call ended.")


async def press_digits(agent: Page, customer: Page) -> None:
    """Keypad digits pressed in the widget show up at the agent."""
    await press(customer, "Keypad")
    keypad = customer.get_by_role("group", name="Keypad")
    for key in ("4", "2", "Pound"):
        await keypad.get_by_role("button", name=key, exact=True).click()
    await expect(agent.locator("#digits")).to_have_text("42#", timeout=WAIT_MS)


async def hold_and_resume(agent: Page, customer: Page) -> None:
    """Hold re-offers with sendonly; taking it off hold re-offers sendrecv."""
    await press(agent, "Hold")
    await expect(widget_status(customer)).to_have_text("On hold.", timeout=WAIT_MS)
    await wait_for(
        agent,
        "window.softphone.media.pc.signalingState === 'stable'"
        " && window.softphone.media.pc.getTransceivers()[0].currentDirection"
        " === 'sendonly'",
    )
    await press(agent, "Resume")
    await wait_for(customer, "window.helplineWidget.state === 'answered'")
    await wait_for(
        agent,
        "window.softphone.media.pc.getTransceivers()[0].currentDirection"
        " === 'sendrecv'",
    )


async def mute_and_unmute(agent: Page, customer: Page) -> None:
    """Mute silences the local track and tells the other end."""
    await press(customer, "Mute")
    await expect(agent.locator("#call-status")).to_have_text(
        "The customer has muted their microphone.", timeout=WAIT_MS
    )
    track = "window.helplineWidget.media.localStream.getAudioTracks()[0]"
    assert await customer.evaluate(f"{track}.enabled") is False
    await press(customer, "Unmute")
    await expect(agent.locator("#call-status")).to_have_text("", timeout=WAIT_MS)
    assert await customer.evaluate(f"{track}.enabled") is True


async def test_call_answered_then_hung_up_by_each_end(
    helpline: RunningHelpline, chromium: BrowserContext
) -> None:
    agent = await open_softphone(chromium, helpline)
    customer = await open_demo(chromium, helpline)

    await press(customer, "Call us")
    await expect_ringing(agent)
    await screenshot(agent, "agent-ringing")
    await press(agent, "Answer")
    await expect_connected(agent, customer)
    await press_digits(agent, customer)
    await mute_and_unmute(agent, customer)
    await hold_and_resume(agent, customer)
    await screenshot(agent, "agent-connected")
    await screenshot(customer, "customer-connected")

    await press(customer, "Hang up")
    await expect_ended(agent, customer, "customer-hangup")
    await screenshot(customer, "customer-ended")

    await wait_for(agent, "window.softphone.agentStatus === 'available'")
    await press(customer, "Call again")
    await expect_ringing(agent)
    await press(agent, "Answer")
    await expect_connected(agent, customer)

    await press(agent, "Hang up")
    await expect_ended(agent, customer, "agent-hangup")
    await expect(customer.get_by_text("The agent ended the call.")).to_be_visible()
    await screenshot(agent, "agent-ended")


async def test_declined_call_goes_back_to_the_queue(
    helpline: RunningHelpline, chromium: BrowserContext
) -> None:
    agent = await open_softphone(chromium, helpline)
    customer = await open_demo(chromium, helpline)

    await press(customer, "Call us")
    await expect_ringing(agent)
    await press(agent, "Decline")

    await wait_for(customer, "window.helplineWidget.state === 'queued'")
    await expect(widget_status(customer)).to_have_text(
        "You are number 1 in the queue.", timeout=WAIT_MS
    )
    assert await customer.evaluate("window.helplineWidget.position") == 1
    await wait_for(agent, "window.softphone.callState === null")
    await expect(agent.locator("#call-title")).to_have_text("No call")
    # Declining leaves the agent available, and the softphone says so.
    await wait_for(agent, "window.softphone.agentStatus === 'available'")
    await expect(agent.locator("#call-status")).to_have_text(
        "You declined the call; it went back to the queue."
    )
    await expect(agent.locator("#agent-status")).to_have_text("Available")
    await screenshot(agent, "agent-declined")
    await screenshot(customer, "customer-queued")

    await press(customer, "Hang up")
    await wait_for(customer, "window.helplineWidget.state === 'ended'")


async def test_unanswered_call_goes_back_to_the_queue(
    helpline_factory: NodeFactory, chromium: BrowserContext
) -> None:
    """A ring that times out requeues the call and sets the agent away; the
    softphone says both, and what to do to get calls again."""
    helpline = await helpline_factory(ring_timeout_s=RING_TIMEOUT_S)
    agent = await open_softphone(chromium, helpline)
    customer = await open_demo(chromium, helpline)

    await press(customer, "Call us")
    await expect_ringing(agent)
    await agent.wait_for_function(
        "window.softphone.callState === null"
        " && window.softphone.agentStatus === 'away'",
        polling=100,
        timeout=RING_TIMEOUT_S * 1000 + WAIT_MS,
    )
    await expect(agent.locator("#call-status")).to_have_text(RANG_OUT)
    await expect(agent.locator("#agent-status")).to_have_text("Away")
    availability = agent.get_by_role("switch", name="Available for calls")
    await expect(availability).to_have_attribute("aria-checked", "false")
    await screenshot(agent, "agent-rang-out")
    await wait_for(customer, "window.helplineWidget.state === 'queued'")
    await expect(widget_status(customer)).to_have_text("You are number 1 in the queue.")

    # Available again (the call is offered to this agent again only after
    # twice the ring timeout): the advice is done with.
    await agent.bring_to_front()
    await availability.click()
    await expect(agent.locator("#call-status")).to_have_text("Waiting for a call.")
    await expect(agent.locator("#agent-status")).to_have_text("Available")

    await press(customer, "Hang up")
    await wait_for(customer, "window.helplineWidget.state === 'ended'")


async def drop_socket(page: Page, name: str) -> None:
    """Close the page's signaling socket as a network fault would, and wait
    until its client has resumed the same session."""
    session_id = await page.evaluate(f"window.{name}.client.sessionId")
    await page.evaluate(f"window.{name}.client._socket.close(4000)")
    await wait_for(page, f"window.{name}.client.connection === 'reconnecting'")
    await wait_for(
        page,
        f"window.{name}.client.connection === 'open'"
        f" && window.{name}.client.welcome.resumed === true",
    )
    assert await page.evaluate(f"window.{name}.client.sessionId") == session_id


async def test_call_survives_dropped_sockets(
    helpline: RunningHelpline, chromium: BrowserContext
) -> None:
    agent, customer = await answered_call(chromium, helpline)

    before = await expect_audio(customer, "helplineWidget")
    await drop_socket(customer, "helplineWidget")
    await expect_audio(customer, "helplineWidget", after=before)
    assert await customer.evaluate("window.helplineWidget.state") == "answered"

    # Digits pressed while the agent's socket is down reach it on resume.
    await agent.evaluate("window.softphone.client._socket.close(4000)")
    await press(customer, "Keypad")
    await press(customer, "7")
    await wait_for(agent, "window.softphone.client.connection === 'open'")
    await expect(agent.locator("#digits")).to_have_text("7", timeout=WAIT_MS)
    assert await agent.evaluate("window.softphone.callState") == "answered"

    await press(customer, "Hang up")
    await expect_ended(agent, customer, "customer-hangup")


async def test_softphone_reload_keeps_the_agent_signed_in(
    helpline: RunningHelpline, chromium: BrowserContext
) -> None:
    agent = await open_softphone(chromium, helpline)
    await agent.reload()
    await expect(agent.locator("#agent-name")).to_have_text(AGENT["name"])
    await wait_for(
        agent, "['available', 'away'].includes(window.softphone.agentStatus)"
    )
    await expect(agent.get_by_role("button", name="Sign out")).to_be_enabled()

    await press(agent, "Sign out")
    await expect(agent.get_by_role("heading", name="Sign in")).to_be_visible()
    await agent.reload()
    await expect(agent.get_by_role("heading", name="Sign in")).to_be_visible()
    assert await agent.evaluate("window.softphone.agentStatus") == "signed-out"

    await agent.get_by_label("User name").fill(AGENT["username"])
    await agent.get_by_label("Password").fill("not the password")
    await press(agent, "Sign in")
    await expect(agent.get_by_role("alert")).not_to_be_empty(timeout=WAIT_MS)
    assert await agent.evaluate("window.softphone.agentStatus") == "signed-out"
    await screenshot(agent, "agent-sign-in-refused")


async def test_softphone_reloaded_mid_call_requeues_and_reconnects(
    helpline: RunningHelpline, chromium: BrowserContext
) -> None:
    """The reload takes the agent's audio with it: the customer goes back to
    the head of the queue, and when the agent answers again both ends
    connect afresh and audio flows."""
    agent, customer = await answered_call(chromium, helpline)

    await agent.reload()
    await wait_for(customer, "window.helplineWidget.state === 'queued'")
    await expect(widget_status(customer)).to_contain_text("number 1 in the queue")
    await wait_for(agent, "window.softphone.agentStatus === 'away'")

    await agent.bring_to_front()
    await agent.get_by_role("switch", name="Available for calls").click()
    # The agent that lost the call is offered it again after a short hold-off.
    await agent.wait_for_function(
        "window.softphone.callState === 'ringing'", polling=100, timeout=30_000
    )
    await press(agent, "Answer")
    await expect_connected(agent, customer)
    await press(customer, "Hang up")
    await expect_ended(agent, customer, "customer-hangup")


EMBEDDING_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Another shop</title></head>
<body><h1>Another shop</h1>
<script type="module" src="{helpline}/widget.js" data-name="Ada Lovelace"
        data-topic="Billing"></script>
</body></html>
"""


@pytest.fixture
async def other_site(helpline: RunningHelpline) -> AsyncIterator[str]:
    """A page on another origin that embeds the widget with one script tag."""
    html = EMBEDDING_PAGE.format(helpline=helpline.url)

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}/"
    await runner.cleanup()


async def test_widget_embedded_in_another_site(
    helpline: RunningHelpline, other_site: str, chromium: BrowserContext
) -> None:
    agent = await open_softphone(chromium, helpline)
    customer = await chromium.new_page()
    await customer.goto(other_site)
    await customer.wait_for_function(
        "window.helplineWidget !== undefined", polling=100, timeout=LOAD_MS
    )

    await press(customer, "Call us")
    await expect(agent.locator("#caller-name")).to_have_text(
        "Ada Lovelace", timeout=WAIT_MS
    )
    await expect(agent.locator("#caller-topic")).to_have_text("Billing")
    await expect(agent.locator("#caller-page")).to_have_text(other_site)
    await press(agent, "Answer")
    await expect_connected(agent, customer)
    await screenshot(customer, "customer-embedded")

    await press(customer, "Hang up")
    await expect_ended(agent, customer, "customer-hangup")

"""Transfers between two softphones in Chromium: agent Grace hands a widget
customer to agent Bob, and Bob hears the customer.

Three pages (the demo site with the widget, two softphones) run in one
headless Chromium with a fake microphone; Helpline runs in-process on
loopback with a real redis-server. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import pytest
from playwright.async_api import BrowserContext, Page, expect

from tests.fixtures.app import RunningHelpline
from tests.test_browser_call import (
    AGENT,
    ARTIFACTS,
    WAIT_MS,
    expect_audio,
    expect_connected,
    expect_ringing,
    open_demo,
    open_softphone,
    press,
    wait_for,
    widget_status,
)

pytestmark = pytest.mark.browser

BOB = {"username": "bob", "password": "another long secret", "name": "Bob Kahn"}

# Polls the audio bytes the page's call has received (inbound-rtp) until
# they pass `after` or the time is up; returns the last figure.
BYTES_RECEIVED = """
async ([name, after, timeoutMs]) => {
  const received = async () => {
    const media = window[name].media;
    if (!media || media.closed) return 0;
    let bytes = 0;
    (await media.pc.getStats()).forEach((entry) => {
      if (entry.type === 'inbound-rtp' && entry.kind === 'audio') {
        bytes += entry.bytesReceived ?? 0;
      }
    });
    return bytes;
  };
  const deadline = performance.now() + timeoutMs;
  let bytes = await received();
  while (bytes <= after && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    bytes = await received();
  }
  return bytes;
}
"""


async def screenshot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"browser-transfer-{name}.png"))


async def bytes_grow(page: Page, name: str) -> None:
    """The page's call receives more and more audio bytes."""
    first: int = await page.evaluate(BYTES_RECEIVED, [name, 0, WAIT_MS])
    later: int = await page.evaluate(BYTES_RECEIVED, [name, first, WAIT_MS])
    assert later > first > 0, (first, later)


async def pick_colleague(agent: Page, name: str) -> None:
    """Choose the colleague in the transfer panel (the list is asked for
    again when the list gets focus)."""
    await agent.bring_to_front()
    colleague = agent.get_by_label("Colleague")
    await colleague.focus()
    await expect(colleague.locator("option", has_text=name)).to_have_count(
        1, timeout=WAIT_MS
    )
    await colleague.select_option(label=name)


async def on_a_call(
    chromium: BrowserContext, helpline: RunningHelpline
) -> tuple[Page, Page, Page]:
    """Grace talks with a widget customer; then Bob signs in, available."""
    grace = await open_softphone(chromium, helpline)
    customer = await open_demo(chromium, helpline)
    await press(customer, "Call us")
    await expect_ringing(grace)
    await press(grace, "Answer")
    await expect_connected(grace, customer)
    await bytes_grow(grace, "softphone")
    bob = await open_softphone(chromium, helpline, BOB)
    return grace, customer, bob


async def test_agent_transfers_a_widget_customer_to_another_agent(
    helpline: RunningHelpline, chromium: BrowserContext
) -> None:
    grace, customer, bob = await on_a_call(chromium, helpline)

    await pick_colleague(grace, BOB["name"])
    await press(grace, "Transfer")
    await expect(widget_status(customer)).to_have_text(
        "Transferring you…", timeout=WAIT_MS
    )
    await wait_for(grace, "window.softphone.callState === 'ended'")
    await expect(grace.locator("#call-status")).to_have_text(
        "You transferred the call."
    )
    await wait_for(grace, "window.softphone.agentStatus === 'available'")
    await screenshot(customer, "customer-transferring")

    await wait_for(bob, "window.softphone.callState === 'ringing'")
    await expect(bob.locator("#caller-topic")).to_have_text("Appliance support")
    await press(bob, "Answer")
    await wait_for(bob, "window.softphone.callState === 'answered'")
    await expect(widget_status(customer)).to_have_text(
        f"Connected with {BOB['name']}.", timeout=WAIT_MS
    )
    await expect_audio(bob, "softphone")
    await expect_audio(customer, "helplineWidget")
    await bytes_grow(bob, "softphone")
    await screenshot(bob, "bob-connected")

    await press(customer, "Hang up")
    await wait_for(bob, "window.softphone.callState === 'ended'")
    assert AGENT["name"] != BOB["name"]


async def test_agent_consults_a_colleague_then_completes_the_transfer(
    helpline: RunningHelpline, chromium: BrowserContext
) -> None:
    grace, customer, bob = await on_a_call(chromium, helpline)

    await pick_colleague(grace, BOB["name"])
    await press(grace, "Consult")
    await expect(widget_status(customer)).to_have_text("On hold.", timeout=WAIT_MS)
    # The customer hears nothing from Grace: her connection is sendonly.
    await wait_for(
        grace,
        "window.softphone.media.pc.signalingState === 'stable'"
        " && window.softphone.media.pc.getTransceivers()[0].currentDirection"
        " === 'sendonly'",
    )
    await expect(bob.locator("#call-title")).to_have_text(
        "Incoming consult", timeout=WAIT_MS
    )
    await press(bob, "Answer")
    # Grace and Bob talk on the consult call, browser to browser.
    await grace.evaluate("window.consultCall = window.softphone.transfers")
    await expect_audio(grace, "consultCall")
    await expect(grace.locator("#call-title")).to_have_text(f"Consulting {BOB['name']}")
    await screenshot(grace, "grace-consulting")

    await press(grace, "Complete transfer")
    await expect(widget_status(customer)).to_have_text(
        f"Connected with {BOB['name']}.", timeout=WAIT_MS
    )
    await wait_for(grace, "window.softphone.callState === 'ended'")
    await wait_for(bob, "window.softphone.callState === 'answered'")
    await expect_audio(bob, "softphone")
    await bytes_grow(bob, "softphone")
    await screenshot(bob, "bob-after-consult")

    await press(bob, "Hang up")
    await wait_for(customer, "window.helplineWidget.state === 'ended'")

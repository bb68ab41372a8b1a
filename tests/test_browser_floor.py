"""The console's Floor tab in a real Chromium, against a real Helpline node:
an agent's softphone, a customer's demo page and an operator's console in
one browser. The floor follows the call from the queue to the agent and to
its end without a reload and without one HTTP request from the console.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, Request, expect

from gateway.accounts import Accounts
from tests.fixtures.app import RunningHelpline
from tests.test_browser_call import (
    AGENT,
    WAIT_MS,
    open_demo,
    open_softphone,
    press,
    wait_for,
)

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
OPERATOR = {"username": "olga", "password": "a long operator secret", "name": "Olga"}
FLOOR = "window.operatorConsole.tabs.floor"
WAIT_CLOCK = "#floor-waiting tbody td.since"


async def screenshot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"floor-{name}.png"), full_page=True)


async def open_floor(chromium: BrowserContext, helpline: RunningHelpline) -> Page:
    """/console signed in as an operator, on the Floor tab, connected."""
    accounts = Accounts(helpline.store)
    await accounts.add_user(
        OPERATOR["username"], OPERATOR["password"], "operator", OPERATOR["name"]
    )
    page = await chromium.new_page()
    await page.goto(f"{helpline.url}/console")
    await page.get_by_label("User name").fill(OPERATOR["username"])
    await page.get_by_label("Password").fill(OPERATOR["password"])
    await press(page, "Sign in")
    await expect(page.locator("#operator-name")).to_have_text(
        OPERATOR["name"], timeout=WAIT_MS
    )
    tab = page.get_by_role("tab", name="Floor")
    await tab.click()
    await expect(tab).to_have_attribute("aria-selected", "true")
    await expect(page.get_by_role("tabpanel", name="Floor")).to_be_visible()
    await expect(page.locator("#floor-connection")).to_have_text(
        "Connected", timeout=WAIT_MS
    )
    return page


#: The status the floor shows for the agent (false until it shows one).
AGENT_STATUS = (
    "document.querySelector('#floor-agents tbody tr th')?.textContent === "
    f"{AGENT['name']!r} && document.querySelector('#floor-agents tbody tr')"
    ".dataset.status"
)


async def test_the_floor_follows_a_call_from_queue_to_agent_to_end(
    helpline: RunningHelpline, chromium: BrowserContext
) -> None:
    console = await open_floor(chromium, helpline)
    requests: list[Request] = []
    console.on("request", lambda request: requests.append(request))
    sockets: list[object] = []
    console.on("websocket", lambda socket: sockets.append(socket))

    agent = await open_softphone(chromium, helpline)
    await wait_for(console, f"{AGENT_STATUS} === 'available'")
    # Away, so the call waits in the queue.
    await agent.get_by_role("switch", name="Available for calls").click()
    await wait_for(agent, "window.softphone.agentStatus === 'away'")
    await wait_for(console, f"{AGENT_STATUS} === 'away'")

    customer = await open_demo(chromium, helpline)
    await press(customer, "Call us")
    await wait_for(customer, "window.helplineWidget.state === 'queued'")
    call_id = await customer.evaluate("window.helplineWidget.callId")
    waiting = console.locator(f'#floor-waiting tbody tr[data-call="{call_id}"]')
    await expect(waiting).to_be_visible(timeout=WAIT_MS)
    await expect(console.locator("#floor-waiting-count")).to_have_text("1")
    await expect(waiting.locator("td").nth(0)).to_have_text("Web")

    # The wait clock runs in the page, between snapshots.
    snapshot_at = await console.evaluate(f"{FLOOR}.floor.at")
    await wait_for(
        console,
        f"document.querySelector({WAIT_CLOCK!r})?.textContent >= '0:02'",
    )
    assert await console.evaluate(f"{FLOOR}.floor.at") == snapshot_at
    await screenshot(console, "waiting")

    await agent.get_by_role("switch", name="Available for calls").click()
    await wait_for(agent, "window.softphone.callState === 'ringing'")
    await press(agent, "Answer")
    await wait_for(agent, "window.softphone.callState === 'answered'")
    talking = console.locator(f'#floor-calls tbody tr[data-call="{call_id}"]')
    await expect(talking).to_have_attribute("data-state", "answered", timeout=WAIT_MS)
    await expect(talking.locator("td").nth(1)).to_have_text(AGENT["name"])
    await expect(console.locator("#floor-waiting tbody tr")).to_have_count(0)
    await expect(console.locator("#floor-waiting-count")).to_have_text("0")
    await wait_for(console, f"{AGENT_STATUS} === 'busy'")
    await screenshot(console, "in-progress")

    await press(customer, "Hang up")
    await wait_for(customer, "window.helplineWidget.state === 'ended'")
    await expect(console.locator("#floor-calls tbody tr")).to_have_count(
        0, timeout=WAIT_MS
    )
    await wait_for(console, f"{AGENT_STATUS} === 'available'")
    await expect(console.get_by_text("No call is in progress.")).to_be_visible()
    # Today's figures are folded at most every 5 s and a node refreshes its
    # operators every 5 s: the answered call shows within about 10 s.
    today = console.locator("#floor-today")
    await expect(today.locator('[data-tier="agent"]')).to_have_text("1", timeout=15_000)
    await expect(console.locator("#floor-today-interactions")).to_have_text("1")
    await expect(console.locator("#floor-today-deflection")).to_have_text("0.0%")
    await expect(console.locator("#floor-today-savings")).to_have_text("$19.00")

    # Pushed, never fetched: no HTTP request, no second socket.
    assert [r.url for r in requests] == []
    assert sockets == []
    assert await console.evaluate("location.pathname") == "/console"


async def test_the_floor_resumes_after_a_dropped_socket(
    helpline: RunningHelpline, chromium: BrowserContext
) -> None:
    console = await open_floor(chromium, helpline)
    client = f"{FLOOR}.client"
    session_id = await console.evaluate(f"{client}.sessionId")

    # What the badge says, every change of it (a resume takes a moment).
    await console.evaluate(
        """() => {
          const badge = document.getElementById('floor-connection');
          window.badgeSaid = [];
          new MutationObserver(() => window.badgeSaid.push(badge.textContent))
            .observe(badge, { childList: true, characterData: true, subtree: true });
        }"""
    )
    await console.evaluate(f"{client}._socket.close(4000)")
    await wait_for(console, "window.badgeSaid.includes('Reconnecting…')")
    await expect(console.locator("#floor-connection")).to_have_text(
        "Connected", timeout=WAIT_MS
    )
    assert await console.evaluate(f"{client}.welcome.resumed") is True
    assert await console.evaluate(f"{client}.sessionId") == session_id

    # Still watching: an agent signing in shows up.
    await open_softphone(chromium, helpline)
    await wait_for(console, f"{AGENT_STATUS} === 'available'")

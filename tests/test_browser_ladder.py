"""The ladder end to end: a few demo interactions in Chromium, then the
same figures from the event log, the reports API, the console's Reports
and Floor tabs and ``/metrics``.

On one Helpline with the demo menu published, and an agent signed in to
the softphone, four customers each open the demo page in a tab of their
own (so each is a visit of its own, with its own id in sessionStorage):

- A searches the FAQ, opens an answer and closes the page: self-service;
- B opens an FAQ answer, then calls, walks the menu to the agents, and
  the agent answers (audio both ways) until B hangs up: one interaction,
  the page's FAQ view and the call together, at the agent tier;
- C calls, reads the FAQ answers the IVR gives and hangs up in the menu
  that follows: IVR self-help, left in the menu (not abandoned in a queue);
- D asks for a callback tomorrow in the widget's form: callback.

With the default costs (docs/reports.md: self-service 0.25, IVR 0.75,
callback 4, agent 6, toll-free 25) that is a cost of 11.00 against a
baseline of 4 x 25 = 100.00, savings of 89.00, and 2 of 4 deflected.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

import aiohttp
import pytest
from playwright.async_api import BrowserContext, Page, expect

from gateway.accounts import Accounts
from tests.fixtures.app import RunningHelpline
from tests.test_api_reports import metric_figures
from tests.test_browser_call import (
    AGENT,
    WAIT_MS,
    expect_connected,
    expect_ended,
    expect_ringing,
    open_softphone,
    press,
    wait_for,
)
from tests.test_browser_callbacks import ask_for_tomorrow, kept_callback
from tests.test_browser_console import OPERATOR, OperatorApi, open_console
from tests.test_browser_ivr import (
    WIDGET,
    call_into_ivr,
    expect_cards,
    faq_entries,
    open_customer,
    voice_off,
)
from tests.test_browser_reports import figure, row
from tests.test_ivr_calls import publish_demo

pytestmark = pytest.mark.browser

Entry = dict[str, str]

#: The widget's visit id, as widget-visit.js keeps it.
VISIT_ID = "sessionStorage.getItem('helpline.visit')"
INVOICE = "faq-billing-invoice-copy"
TRACKING = "faq-shipping-tracking"
BILLING = ("faq-billing-payment-methods", INVOICE)
#: Each customer's tier, and its name in the console.
TIERS = {
    "A": ("self-service", "Self-service"),
    "B": ("agent", "Agent"),
    "C": ("ivr", "IVR self-help"),
    "D": ("callback", "Callback"),
}
COSTS = {"self-service": 0.25, "ivr": 0.75, "callback": 4.0, "agent": 6.0}
#: How long /metrics may lag the API: its figures are folded at most once
#: every 5 s per process (Reports.window), so a scrape may answer with a
#: fold made before the last event was written; the next fold has it.
METRICS_WITHIN_S = 15.0


async def visit_of(page: Page) -> str:
    visit = await page.evaluate(VISIT_ID)
    assert isinstance(visit, str) and len(visit) >= 16, visit
    return visit


async def open_answer(page: Page, words: str, question: str) -> None:
    """Search the FAQ for `words` and open the answer to `question`; returns
    once Helpline has recorded the view (202)."""
    search = page.get_by_role("searchbox", name="Questions? Search our answers")
    await search.press_sequentially(words, delay=20)
    result = page.locator(".results summary", has_text=question)
    await expect(result).to_be_visible(timeout=WAIT_MS)
    async with page.expect_response(
        lambda r: r.url.endswith("/api/visits/events")
    ) as posted:
        await result.click()
    assert (await posted.value).status == 202


async def self_service(chromium: BrowserContext, helpline: RunningHelpline) -> str:
    """Customer A: an FAQ answer, then the page closed. Its visit id."""
    [entry] = await faq_entries(helpline, INVOICE)
    page, _ = await open_customer(chromium, helpline)
    await open_answer(page, "copy of my invoic", entry.question)
    visit = await visit_of(page)
    await page.close()
    return visit


async def to_the_agent(
    chromium: BrowserContext, helpline: RunningHelpline, agent: Page
) -> tuple[str, str]:
    """Customer B: an FAQ answer, then a call through the menu to the agent,
    who answers; audio flows both ways until B hangs up. Its visit and
    call ids."""
    [entry] = await faq_entries(helpline, TRACKING)
    customer, frames = await open_customer(chromium, helpline)
    await open_answer(customer, "track my order", entry.question)
    await call_into_ivr(customer)
    await voice_off(customer)
    await customer.get_by_role("button", name="Shipping and delivery").click()
    await customer.get_by_role("button", name="Wait for an agent").click(
        timeout=WAIT_MS
    )

    await expect_ringing(agent)
    await press(agent, "Answer")
    await expect_connected(agent, customer)  # packets both ways, each end
    call_id = await customer.evaluate(f"{WIDGET}.callId")
    await press(customer, "Hang up")
    await expect_ended(agent, customer, "customer-hangup")

    visit = await visit_of(customer)
    [placed] = frames.sent_of("call.place")
    assert placed["visit"] == visit
    return visit, call_id


async def left_in_the_menu(
    chromium: BrowserContext, helpline: RunningHelpline
) -> tuple[str, str]:
    """Customer C: the billing answers read in the IVR, then a hang-up at
    the menu after them. Its visit and call ids."""
    entries = await faq_entries(helpline, *BILLING)
    customer, _ = await open_customer(chromium, helpline)
    await call_into_ivr(customer)
    await voice_off(customer)
    await customer.get_by_role("button", name="Billing and payments").click()
    await expect_cards(customer, entries)
    await expect(
        customer.get_by_role("button", name="Ask for a callback")
    ).to_be_visible(timeout=WAIT_MS)
    call_id = await customer.evaluate(f"{WIDGET}.callId")
    await press(customer, "Hang up")
    await wait_for(customer, f"{WIDGET}.state === 'ended'")
    assert await customer.evaluate(f"{WIDGET}.endReason") == "customer-hangup"
    return await visit_of(customer), call_id


async def callback_tomorrow(chromium: BrowserContext, helpline: RunningHelpline) -> str:
    """Customer D: a callback tomorrow afternoon from the widget's form (so
    no agent is offered it now). Its visit id."""
    customer, frames = await open_customer(chromium, helpline)
    await ask_for_tomorrow(customer)
    await kept_callback(frames)
    visit = await visit_of(customer)
    assert frames.sent_of("callback.request")[-1]["visit"] == visit
    return visit


async def by_visit(helpline: RunningHelpline) -> dict[str, list[Entry]]:
    """The stream's events, oldest first, by their visit."""
    grouped: defaultdict[str, list[Entry]] = defaultdict(list)
    async for _, event in helpline.node.events.read(0, time.time() + 60):
        grouped[event.get("visit", "")].append(event)
    return dict(grouped)


def kinds(events: list[Entry]) -> list[str]:
    return [event["kind"] for event in events]


def check_events(
    events: dict[str, list[Entry]],
    visits: dict[str, str],
    calls: dict[str, str],
    agent_id: str,
) -> None:
    """Each step of each journey, under the visit id its page made."""
    assert set(events) == set(visits.values())
    a, b, c, d = (events[visits[name]] for name in "ABCD")

    assert [(e["kind"], e["detail"], e["channel"]) for e in a] == [
        ("faq.viewed", INVOICE, "web")
    ]
    assert "call" not in a[0]

    # B: the page's FAQ view (no call yet), then the call, all one visit.
    page_view, *call = b
    assert (page_view["kind"], page_view["detail"]) == ("faq.viewed", TRACKING)
    assert "call" not in page_view
    assert {e["call"] for e in call} == {calls["B"]}
    assert [e["node"] for e in call if e["kind"] == "ivr.node"] == [
        "office-hours",
        "welcome",
        "shipping-answers",
        "shipping-next",
        "shipping-queue",
    ]
    assert kinds(call)[-3:] == ["queued", "answered", "ended"]
    answered, ended = call[-2:]
    assert answered["agent"] == agent_id
    assert ended["detail"] == "customer-hangup"
    assert all(e["channel"] == "web" for e in b)

    # C: the answers the IVR gave, then the menu left at its node.
    assert {e["call"] for e in c} == {calls["C"]}
    viewed = [(e["detail"], e["node"]) for e in c if e["kind"] == "faq.viewed"]
    assert viewed == [(faq_id, "billing-answers") for faq_id in BILLING]
    assert kinds(c)[-2:] == ["abandoned", "ended"]
    assert c[-2]["node"] == "billing-next" and "wait_ms" not in c[-2]
    assert "queued" not in kinds(c)

    assert [(e["kind"], e["detail"]) for e in d] == [("callback.requested", "new")]


def check_report(
    report: dict[str, Any], visits: dict[str, str], calls: dict[str, str]
) -> None:
    """The API's report against the figures worked out by hand."""
    assert report["interactions"] == 4
    for tier, cost in COSTS.items():
        assert report["tiers"][tier] == {"count": 1, "cost": cost}
    assert report["tiers"]["tollfree"] == {"count": 0, "cost": 0.0}
    assert (report["cost"], report["baseline"], report["savings"]) == (
        11.0,
        100.0,
        89.0,
    )
    assert report["deflection_rate"] == 0.5
    assert (report["queued"], report["answered"], report["abandoned"]) == (1, 1, 0)

    recent = {i["id"]: i for i in report["recent"]}
    assert set(recent) == set(visits.values())
    for name, (tier, _) in TIERS.items():
        interaction = recent[visits[name]]
        assert (interaction["tier"], interaction["cost"]) == (tier, COSTS[tier])
        assert (interaction["channel"], interaction["abandoned"]) == ("web", False)
        assert interaction["calls"] == ([calls[name]] if name in calls else [])
    newest_first = [i["id"] for i in report["recent"]]
    assert newest_first == [visits[name] for name in "DCBA"]


async def check_console(
    chromium: BrowserContext, helpline: RunningHelpline, visits: dict[str, str]
) -> None:
    """The Reports tab (last 24 hours) says the same, and so does the Floor
    tab for today."""
    page = await open_console(chromium, helpline, "Reports")
    await expect(figure(page, "interactions")).to_have_text("4", timeout=WAIT_MS)
    await expect(figure(page, "deflection")).to_have_text("50.0%")
    await expect(figure(page, "cost")).to_have_text("$11.00")
    await expect(figure(page, "savings")).to_have_text("$89.00")
    await expect(page.locator("#reports-recent tbody tr")).to_have_count(4)
    for name, (tier, shown) in TIERS.items():
        cells = row(page, "reports-recent", visits[name]).locator("td")
        await expect(cells.nth(2)).to_have_text(shown)
        await expect(cells.nth(3)).to_have_text(f"${COSTS[tier]:.2f}")

    # Live: the Floor tab's "today so far" (pushed; the node folds today at
    # most every 5 s). The journeys took a minute, so today holds them all
    # unless the test ran across midnight in the calendar's zone.
    await page.get_by_role("tab", name="Floor").click()
    today = page.locator("#floor-today")
    await expect(today.locator('[data-tier="agent"]')).to_have_text(
        "1", timeout=WAIT_MS
    )
    for tier in COSTS:
        await expect(today.locator(f'[data-tier="{tier}"]')).to_have_text("1")
    await expect(page.locator("#floor-today-interactions")).to_have_text("4")
    await expect(page.locator("#floor-today-deflection")).to_have_text("50.0%")
    await expect(page.locator("#floor-today-savings")).to_have_text("$89.00")


def last_hour(figures: dict[str, float]) -> dict[str, float]:
    """The ladder's figures of the last hour, from a /metrics scrape."""
    hour = 'window="1h"'
    wanted = {
        "deflection": f"helpline_deflection_ratio{{{hour}}}",
        "savings": f"helpline_savings_dollars{{{hour}}}",
        **{
            tier: f'helpline_interactions{{tier="{tier}",{hour}}}'
            for tier in (*COSTS, "tollfree")
        },
    }
    return {name: figures.get(metric, -1.0) for name, metric in wanted.items()}


async def check_metrics(
    http: aiohttp.ClientSession, helpline: RunningHelpline, report: dict[str, Any]
) -> None:
    """/metrics, window 1h, equals the API's report (see METRICS_WITHIN_S)."""
    expected = {
        "deflection": report["deflection_rate"],
        "savings": report["savings"],
        **{tier: report["tiers"][tier]["count"] for tier in (*COSTS, "tollfree")},
    }
    deadline = time.monotonic() + METRICS_WITHIN_S
    while True:
        async with http.get(helpline.url + "/metrics") as response:
            seen = last_hour(metric_figures(await response.text()))
        if seen == expected or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert seen == expected


async def test_four_customers_are_counted_alike_in_api_console_and_metrics(
    helpline: RunningHelpline, chromium: BrowserContext
) -> None:
    await publish_demo(helpline)
    accounts = Accounts(helpline.store)
    operator = await accounts.add_user(
        OPERATOR["username"], OPERATOR["password"], "operator", OPERATOR["name"]
    )
    agent = await open_softphone(chromium, helpline)
    agent_user = await accounts.get_user(AGENT["username"])
    assert agent_user is not None

    visits, calls = {"A": await self_service(chromium, helpline)}, {}
    visits["B"], calls["B"] = await to_the_agent(chromium, helpline, agent)
    visits["C"], calls["C"] = await left_in_the_menu(chromium, helpline)
    visits["D"] = await callback_tomorrow(chromium, helpline)
    assert len(set(visits.values())) == 4  # a tab of its own, a visit of its own

    check_events(await by_visit(helpline), visits, calls, agent_user.id)

    async with aiohttp.ClientSession() as http:
        api = OperatorApi(helpline.url, await accounts.issue_token(operator), http)
        report = await api.call("GET", "/api/reports?recent=10")
        check_report(report, visits, calls)
        await check_console(chromium, helpline, visits)
        await check_metrics(http, helpline, report)

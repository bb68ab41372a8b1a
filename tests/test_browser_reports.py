"""The console's Reports tab in a real Chromium, on an event log of known
journeys.

The journeys are written straight into the node's event stream with ids
in the past (the builders of tests/test_ladder.py), so every figure the
tab shows was worked out by hand from docs/reports.md: the tiers, the
cost and baseline, the queue's figures, the menu nodes. The costs form and
the export are worked as an operator would, and checked against what the
API kept and what the stream holds.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from playwright.async_api import BrowserContext, Locator, Page, expect

from gateway.accounts import Accounts
from tests.fixtures.app import RunningHelpline
from tests.test_browser_console import (
    OPERATOR,
    WAIT_MS,
    OperatorApi,
    button,
    open_console,
    screenshot,
)
from tests.test_ladder import (
    Event,
    abandoned,
    agent_call,
    ivr_only,
    self_service,
    tollfree,
)

pytestmark = pytest.mark.browser

HOUR = 3600.0
DAY = 24 * HOUR


def local_input(at: float) -> str:
    """`at` as a datetime-local field takes it (the browser runs in this
    machine's time zone)."""
    return datetime.fromtimestamp(at).strftime("%Y-%m-%dT%H:%M")


def known_journeys(now: float) -> tuple[list[Event], list[Event]]:
    """The last 24 hours: 3 self-service visits, 2 IVR-only calls, 2 agent
    calls (waits 5 and 30 s), 1 call abandoned in the queue after 40 s, 1
    toll-free call; and a self-service visit 3 days ago. Returns the day's
    events and the older ones."""
    at = now - 6 * HOUR
    day: list[Event] = []
    for i in range(3):
        day += self_service(at + i * 60, f"visit-{i}")
    day += ivr_only(at + 600, "ivr-0") + ivr_only(at + 700, "ivr-1")
    day += agent_call(at + 1200, "agent-0", 5) + agent_call(at + 1500, "agent-1", 30)
    day += abandoned(at + 1800, "gone-0", 40)
    day += tollfree(at + 2400, "line-0")
    older = self_service(now - 3 * DAY, "visit-old")
    return sorted(day, key=lambda e: e[0]), older


async def write_events(helpline: RunningHelpline, events: Iterable[Event]) -> list[str]:
    """XADDs `events` (oldest first) with their times as entry ids."""
    ids: list[str] = []
    last_ms, sequence = -1, 0
    for at, fields in sorted(events, key=lambda e: e[0]):
        ms = int(at * 1000)
        sequence = sequence + 1 if ms == last_ms else 0
        last_ms = ms
        entry_id = f"{ms}-{sequence}"
        stream = helpline.node.events.stream
        await helpline.store.redis.xadd(stream, dict(fields), id=entry_id)  # type: ignore[arg-type]
        ids.append(entry_id)
    return ids


@pytest.fixture
async def operator(helpline: RunningHelpline) -> AsyncIterator[OperatorApi]:
    accounts = Accounts(helpline.store)
    user = await accounts.add_user(
        OPERATOR["username"], OPERATOR["password"], "operator", OPERATOR["name"]
    )
    async with aiohttp.ClientSession() as http:
        yield OperatorApi(helpline.url, await accounts.issue_token(user), http)


def figure(page: Page, name: str) -> Locator:
    return page.locator(f'#reports-figures [data-figure="{name}"] .value')


def row(page: Page, table_id: str, header: str) -> Locator:
    return page.locator(f"#{table_id} tbody tr").filter(
        has=page.get_by_role("rowheader", name=header, exact=True)
    )


async def expect_row(page: Page, table_id: str, header: str, *cells: str) -> None:
    await expect(row(page, table_id, header).locator("td")).to_have_text(list(cells))


async def test_reports_tab_shows_the_known_figures(
    helpline: RunningHelpline, operator: OperatorApi, chromium: BrowserContext
) -> None:
    day, older = known_journeys(time.time())
    await write_events(helpline, day + older)

    page = await open_console(chromium, helpline, "Reports")
    await expect(figure(page, "interactions")).to_have_text("9", timeout=WAIT_MS)
    await expect_row(page, "reports-tiers", "Self-service", "3", "$0.75")
    await expect_row(page, "reports-tiers", "IVR self-help", "3", "$2.25")
    await expect_row(page, "reports-tiers", "Callback", "0", "$0.00")
    await expect_row(page, "reports-tiers", "Agent", "2", "$12.00")
    await expect_row(page, "reports-tiers", "Toll-free", "1", "$25.00")
    await expect_row(page, "reports-tiers", "All tiers", "9", "$40.00")
    await expect(figure(page, "deflection")).to_have_text("55.6%")
    await expect(figure(page, "cost")).to_have_text("$40.00")
    await expect(page.locator('[data-figure="cost"] .note')).to_contain_text("$225.00")
    await expect(figure(page, "savings")).to_have_text("$185.00")
    await expect(figure(page, "asa")).to_have_text("17.5 s")
    await expect(figure(page, "service-level")).to_have_text("33.3%")
    await expect(figure(page, "abandonment")).to_have_text("33.3%")
    await expect(figure(page, "callbacks")).to_have_text("—")
    await expect_row(page, "reports-nodes", "main · agent", "3", "0", "3")
    await expect_row(page, "reports-nodes", "main · billing", "2", "2", "0")
    await expect_row(page, "reports-reasons", "Chosen in the menu", "1")
    newest = page.locator("#reports-recent tbody tr")
    await expect(newest).to_have_count(9)
    await expect(newest.first.locator("th")).to_have_text("line-0")
    for call, tier, cost, note in (
        ("line-0", "Toll-free", "$25.00", "Chosen in the menu"),
        ("gone-0", "IVR self-help", "$0.75", "Abandoned in the queue"),
        ("visit-2", "Self-service", "$0.25", ""),
    ):
        cells = row(page, "reports-recent", call).locator("td")
        await expect(cells.nth(2)).to_have_text(tier)
        await expect(cells.nth(3)).to_have_text(cost)
        await expect(cells.nth(4)).to_have_text(note)

    # Each chart's numbers are in a table too; the hour buckets add up.
    # 24 hours from a time within an hour: 25 hour buckets, or 24 on the hour.
    series = page.locator("#reports-tiers-series tbody tr")
    assert await series.count() in (24, 25)
    agent_cells = await series.locator("td:nth-child(5)").all_text_contents()
    assert sum(int(cell) for cell in agent_cells) == 2
    charts = page.locator("figure.chart canvas")
    await expect(charts).to_have_count(2)
    assert await page.evaluate("Object.keys(Chart.instances).length") == 2
    await screenshot(page, "reports")

    # A wider threshold counts the 30 s answer in time: 2 of 3.
    threshold = page.get_by_label("Service level: answered within (seconds)")
    await threshold.fill("30")
    await threshold.press("Enter")
    await expect(figure(page, "service-level")).to_have_text("66.7%", timeout=WAIT_MS)
    await threshold.fill("0")
    await threshold.press("Enter")
    await expect(page.locator('[data-path="sl"] .field-error')).to_have_text(
        "The service level threshold (sl) in seconds is a whole number from 1 to 3600.",
        timeout=WAIT_MS,
    )
    await threshold.fill("30")
    await threshold.press("Enter")
    await expect(page.locator('[data-path="sl"] .field-error')).to_have_count(0)

    # Seven days take in the visit of 3 days ago, by day.
    await page.get_by_label("Period", exact=True).select_option("7d")
    await expect(figure(page, "interactions")).to_have_text("10", timeout=WAIT_MS)
    await expect_row(page, "reports-tiers", "Self-service", "4", "$1.00")
    assert await series.count() in (7, 8)

    # Dates of the operator's choosing: only the visit of 3 days ago.
    await page.get_by_label("Period", exact=True).select_option("custom")
    now = time.time()
    await page.get_by_label("From", exact=True).fill(local_input(now - 4 * DAY))
    await page.get_by_label("To", exact=True).fill(local_input(now - 2 * DAY))
    await expect(figure(page, "interactions")).to_have_text("1", timeout=WAIT_MS)
    await expect(page.locator("#reports-nodes")).to_contain_text("No call walked")

    # A period that ends before it starts: the API's refusal, nothing drawn anew.
    await page.get_by_label("From", exact=True).fill(local_input(now - DAY))
    await expect(page.locator("#reports-status")).to_have_text(
        "From must be before to.", timeout=WAIT_MS
    )
    await expect(figure(page, "interactions")).to_have_text("1")


def cost_field(page: Page, tier: str) -> Locator:
    return page.locator("#costs-form").get_by_label(tier, exact=True)


async def test_costs_change_the_report_and_bad_ones_are_refused(
    helpline: RunningHelpline, operator: OperatorApi, chromium: BrowserContext
) -> None:
    day, _ = known_journeys(time.time())
    await write_events(helpline, day)
    page = await open_console(chromium, helpline, "Reports")
    agent = cost_field(page, "Agent")
    await expect(agent).to_have_value("6", timeout=WAIT_MS)
    await expect(figure(page, "cost")).to_have_text("$40.00")

    await agent.fill("10")
    await button(page, "Save costs").click()
    await expect(page.locator("#costs-status")).to_have_text(
        "Saved. The report counts with these costs.", timeout=WAIT_MS
    )
    await expect(figure(page, "cost")).to_have_text("$48.00", timeout=WAIT_MS)
    await expect(figure(page, "savings")).to_have_text("$177.00")
    await expect_row(page, "reports-tiers", "Agent", "2", "$20.00")
    assert (await operator.call("GET", "/api/costs"))["tiers"]["agent"] == 10

    refusals = {
        "-1": "The cost of agent must be from 0 to 100,000.",
        "ten dollars": "The cost of agent must be a number.",
    }
    message = page.locator('#costs-form [data-path="tiers.agent"] .field-error')
    for bad, refusal in refusals.items():
        await agent.fill(bad)
        await button(page, "Save costs").click()
        await expect(message).to_have_text(refusal, timeout=WAIT_MS)
        await expect(agent).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#costs-status")).to_contain_text("Not saved")
        costs = await operator.call("GET", "/api/costs")
        assert costs["tiers"]["agent"] == 10
    await screenshot(page, "reports-costs-refused")
    await expect(figure(page, "cost")).to_have_text("$48.00")


async def export(page: Page, name: str, suffix: str) -> str:
    """Clicks the export button `name`; the text of the file downloaded."""
    async with page.expect_download() as download_info:
        await button(page, name).click()
    download = await download_info.value
    assert download.suggested_filename.endswith(suffix)
    path = await download.path()
    return await asyncio.to_thread(Path(path).read_text)


async def test_exports_hold_the_period_events(
    helpline: RunningHelpline, operator: OperatorApi, chromium: BrowserContext
) -> None:
    day, older = known_journeys(time.time())
    ids = await write_events(helpline, day + older)
    page = await open_console(chromium, helpline, "Reports")
    await expect(figure(page, "interactions")).to_have_text("9", timeout=WAIT_MS)

    rows = list(csv.DictReader(io.StringIO(await export(page, "Export CSV", ".csv"))))

    # The day's events, in order, field for field; the visit of 3 days ago
    # is not in it. An event's id in the export is its stream id.
    assert [r["id"] for r in rows] == ids[len(older) :]
    for got, (_, written) in zip(rows, day, strict=True):
        assert {k: v for k, v in got.items() if k in written} == written
        assert all(
            not got[k] for k in got if k not in written and k not in ("id", "time")
        )

    lines = (await export(page, "Export JSON lines", ".jsonl")).splitlines()
    assert [json.loads(line)["kind"] for line in lines] == [e["kind"] for _, e in day]


async def test_times_are_the_calendars_and_the_page_fits_its_window(
    helpline: RunningHelpline, operator: OperatorApi, chromium: BrowserContext
) -> None:
    # UTC+14 all year: an event 12 hours ago is on another calendar day
    # there than in the browser's UTC whenever the UTC hour is 10 to 23.
    kiritimati = {
        "time_zone": "Pacific/Kiritimati",
        "weekly": {"mon": [["09:00", "17:00"]]},
        "holidays": [],
    }
    await operator.call("PUT", "/api/hours", kiritimati)
    at = time.time() - 12 * HOUR
    await write_events(helpline, self_service(at, "visit-far"))
    there = datetime.fromtimestamp(at, ZoneInfo("Pacific/Kiritimati"))

    page = await open_console(chromium, helpline, "Reports")
    await expect(figure(page, "interactions")).to_have_text("1", timeout=WAIT_MS)
    await expect(page.locator("#reports-summary")).to_contain_text(
        "(Pacific/Kiritimati time)"
    )
    started = row(page, "reports-recent", "visit-far").locator("td").nth(0)
    # en-US short date, as the calendar reads it: month/day/2-digit year.
    await expect(started).to_contain_text(
        f"{there.month}/{there.day}/{there.year % 100}"
    )
    wide = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert wide <= 0, f"the Reports tab scrolls sideways by {wide} px"

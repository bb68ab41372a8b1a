"""Reports, the event export and the costs per tier on a real Helpline node
and Redis: a period's report equals the hand-computed figures of a known
day, costs change what it says, exports hold exactly the period's events,
and every bad request is answered with what was wrong."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from tests.fixtures.app import RunningHelpline
from tests.test_api_menus import Api, signed_in
from tests.test_ladder import START, Event, known_day

#: The known day, moved to end two days before now (on an hour boundary).
SHIFT = (int(time.time() // 3600) * 3600 - 2 * 86_400 - 8 * 3600) - START
DAY_START = START + SHIFT
DAY_END = DAY_START + 8 * 3600


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


async def write(helpline: RunningHelpline, events: list[Event]) -> list[str]:
    """The events at their own times (XADD with explicit ids); their ids."""
    redis = helpline.store.redis
    stream = helpline.node.events.stream
    ids, last = [], ""
    for at, fields in events:
        ms = int(at * 1000)
        seq = int(last.partition("-")[2]) + 1 if last.startswith(f"{ms}-") else 0
        last = f"{ms}-{seq}"
        await redis.xadd(stream, fields, id=last)  # type: ignore[arg-type]
        ids.append(last)
    return ids


@pytest.fixture
async def api(helpline: RunningHelpline) -> AsyncIterator[Api]:
    token = await signed_in(helpline, "operator")
    async with aiohttp.ClientSession() as http:
        yield Api(http, helpline.url, token)


def period() -> str:
    return f"from={iso(DAY_START)}&to={iso(DAY_END)}"


async def test_a_known_day_reports_the_hand_computed_figures(
    helpline: RunningHelpline, api: Api
) -> None:
    await write(helpline, [(at + SHIFT, e) for at, e in known_day()])
    status, report = await api.call("GET", f"/api/reports?{period()}")
    assert status == 200, report

    assert report["interactions"] == 18
    assert {t: f["count"] for t, f in report["tiers"].items()} == {
        "self-service": 5,
        "ivr": 5,
        "callback": 2,
        "agent": 5,
        "tollfree": 1,
    }
    assert (report["cost"], report["baseline"], report["savings"]) == (
        68.0,
        450.0,
        382.0,
    )
    assert report["deflection_rate"] == round(8 / 18, 4)
    assert report["asa_s"] == 24.0
    assert report["service_level"] == 0.5
    assert report["abandonment_rate"] == round(2 / 7, 4)
    assert report["callbacks"]["success_rate"] == 0.5
    assert report["tollfree"] == {"count": 1, "reasons": {"menu": 1}}
    assert report["currency"] == "USD"
    assert report["bucket"] == "hour"
    assert len(report["series"]) == 8
    assert sum(sum(b["tiers"].values()) for b in report["series"]) == 18

    status, listed = await api.call("GET", f"/api/reports?{period()}&recent=3")
    newest = listed["recent"]
    assert [r["id"] for r in newest] == ["visit-both", "cb-1", "cb-0"]
    assert (newest[0]["tier"], newest[0]["cost"]) == ("agent", 6.0)
    assert newest[0]["calls"] == ["web-call"] and newest[0]["channel"] == ""
    assert (newest[1]["tier"], newest[1]["abandoned"]) == ("callback", False)
    assert "recent" not in report

    # A 60 s threshold: everything answered in time.
    status, report = await api.call("GET", f"/api/reports?{period()}&sl=60")
    assert report["service_level"] == 1.0 and report["service_level_s"] == 60
    # The day before holds nothing.
    before = f"from={iso(DAY_START - 86_400)}&to={iso(DAY_START)}&bucket=day"
    status, report = await api.call("GET", f"/api/reports?{before}")
    assert status == 200
    assert report["interactions"] == 0 and report["deflection_rate"] is None
    assert len(report["series"]) in (1, 2)  # UTC days the period touches


async def test_costs_change_the_report_and_bad_costs_save_nothing(
    helpline: RunningHelpline, api: Api
) -> None:
    await write(helpline, [(at + SHIFT, e) for at, e in known_day()])
    status, costs = await api.call("GET", "/api/costs")
    assert status == 200
    assert costs == {
        "currency": "USD",
        "tiers": {
            "self-service": 0.25,
            "ivr": 0.75,
            "callback": 4.0,
            "agent": 6.0,
            "tollfree": 25.0,
        },
    }
    tiers: dict[str, float] = costs["tiers"]
    new: dict[str, Any] = {
        "currency": "EUR",
        "tiers": {**tiers, "tollfree": 40, "agent": 8},
    }
    status, saved = await api.call("PUT", "/api/costs", json=new)
    assert status == 200 and saved["tiers"]["tollfree"] == 40.0
    status, report = await api.call("GET", f"/api/reports?{period()}")
    # 1.25 + 3.75 + 8 + 5 x 8 + 40 = 93; 18 x 40 = 720.
    assert (report["cost"], report["baseline"], report["savings"]) == (
        93.0,
        720.0,
        627.0,
    )
    assert report["currency"] == "EUR"

    bad: list[tuple[Any, str]] = [
        ({**new, "tiers": {**new["tiers"], "ivr": -1}}, "tiers.ivr"),
        ({**new, "tiers": {**new["tiers"], "ivr": "cheap"}}, "tiers.ivr"),
        ({"tiers": {"ivr": 1}}, "tiers.self-service"),
        ({"currency": "€", "tiers": new["tiers"]}, "currency"),
        ([1, 2], ""),
    ]
    for body, where in bad:
        status, answer = await api.call("PUT", "/api/costs", json=body)
        assert status == 400, body
        assert answer["error"]["code"] == "invalid-costs"
        assert answer["error"]["field"] == where
        assert answer["error"]["message"]
    status, answer = await api.call("PUT", "/api/costs", data=b"{not json")
    assert status == 400 and answer["error"]["code"] == "invalid-json"
    status, answer = await api.call("PUT", "/api/costs", data=b"x" * 10_000)
    assert status == 413
    status, costs = await api.call("GET", "/api/costs")
    assert costs == saved


async def test_exports_hold_exactly_the_periods_events(
    helpline: RunningHelpline, api: Api
) -> None:
    day = [(at + SHIFT, e) for at, e in known_day()]
    outside = [
        (DAY_START - 1, {"kind": "faq.viewed", "visit": "before"}),
        (DAY_END, {"kind": "faq.viewed", "visit": "at-the-end"}),
    ]
    formula = [(DAY_START + 5, {"kind": "faq.viewed", "visit": "x", "detail": "=1+2"})]
    ids = await write(helpline, sorted([*day, *outside, *formula], key=lambda e: e[0]))
    inside_ids = ids[1:-1]

    status, text = await api.call("GET", f"/api/events?{period()}&format=csv")
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["id"] for r in rows] == inside_ids
    assert len(rows) == len(day) + 1
    assert list(rows[0]) == [
        "id", "time", "kind", "call", "visit", "channel", "node", "menu",
        "detail", "reason", "agent", "wait_ms", "duration_ms",
    ]  # fmt: skip
    kinds = [r["kind"] for r in rows]
    assert kinds.count("answered") == 5 and kinds.count("callback.done") == 2
    assert any(r["detail"] == "'=1+2" for r in rows)  # not run as a formula
    answered = next(r for r in rows if r["kind"] == "answered")
    assert answered["agent"] == "u1" and answered["wait_ms"]

    status, text = await api.call("GET", f"/api/events?{period()}&format=jsonl")
    assert status == 200
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["kind"] for line in lines] == kinds
    assert lines[0]["time"].startswith(iso(DAY_START)[:13])
    status, text = await api.call("GET", f"/api/events?{period()}&format=jsonl&limit=3")
    assert len(text.splitlines()) == 3

    # A page boundary inside one millisecond loses nothing (2000 per page).
    many = [
        (DAY_END + 3600, {"kind": "faq.viewed", "visit": f"v{i}"}) for i in range(2500)
    ]
    await write(helpline, many)
    late = f"from={iso(DAY_END + 3600)}&to={iso(DAY_END + 3601)}"
    status, text = await api.call("GET", f"/api/events?{late}&format=jsonl")
    assert [json.loads(line)["visit"] for line in text.splitlines()] == [
        f"v{i}" for i in range(2500)
    ]


async def test_bad_requests_say_what_is_wrong(
    helpline: RunningHelpline, api: Api
) -> None:
    cases = [
        ("/api/reports?from=yesterday", "invalid-period"),
        (f"/api/reports?from={iso(DAY_END)}&to={iso(DAY_START)}", "invalid-period"),
        (f"/api/reports?from={iso(DAY_START - 500 * 86_400)}", "invalid-period"),
        ("/api/reports?sl=0", "invalid-sl"),
        ("/api/reports?sl=twenty", "invalid-sl"),
        ("/api/reports?bucket=week", "invalid-bucket"),
        (
            f"/api/reports?from={iso(DAY_START - 60 * 86_400)}&bucket=hour",
            "invalid-bucket",
        ),
        ("/api/events?format=xml", "invalid-format"),
        ("/api/events?limit=0", "invalid-limit"),
        ("/api/events?limit=99999999", "invalid-limit"),
    ]
    for path, code in cases:
        status, body = await api.call("GET", path)
        assert (status, body["error"]["code"]) == (400, code), path
        assert body["error"]["message"]
    anonymous = Api(api.http, api.base)
    for method, path in (
        ("GET", "/api/reports"),
        ("GET", "/api/events"),
        ("GET", "/api/costs"),
        ("PUT", "/api/costs"),
    ):
        status, body = await anonymous.call(method, path)
        assert status == 401, path
    agent_token = await helpline.create_agent("ada", "correct horse battery", "Ada")
    status, body = await Api(api.http, api.base, agent_token).call(
        "GET", "/api/reports"
    )
    assert status == 403


def metric_figures(text: str) -> dict[str, float]:
    """Helpline's samples of a /metrics scrape: name{labels} -> value."""
    return {
        line.rpartition(" ")[0]: float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith("helpline_")
    }


async def test_metrics_show_the_last_hours_figures(
    helpline: RunningHelpline, api: Api
) -> None:
    events = helpline.node.events
    await events.record("faq.viewed", visit="v-metrics", detail="faq-a")
    for call, wait in (("m1", 4000), ("m2", 30_000)):
        await events.record("ivr.node", call, node="root", menu="main@1")
        await events.record("queued", call)
        await events.record("answered", call, agent="u1", wait_ms=wait)
    await events.record("ivr.node", "m3", node="root", menu="main@1")
    await events.record("tollfree", "m3", reason="menu")
    async with api.http.get(helpline.url + "/metrics") as response:
        figures = metric_figures(await response.text())
    one_hour = 'window="1h"'
    assert figures[f'helpline_interactions{{tier="agent",{one_hour}}}'] == 2
    assert figures[f'helpline_interactions{{tier="tollfree",{one_hour}}}'] == 1
    assert figures[f"helpline_asa_seconds{{{one_hour}}}"] == 17.0
    assert figures[f"helpline_service_level_ratio{{{one_hour}}}"] == 0.5
    # 0.25 + 2 x 6 + 25 = 37.25 against 4 x 25.
    assert figures[f"helpline_cost_dollars{{{one_hour}}}"] == 37.25
    assert figures[f"helpline_savings_dollars{{{one_hour}}}"] == 62.75
    assert figures[f"helpline_deflection_ratio{{{one_hour}}}"] == 0.25
    assert figures['helpline_cost_dollars{window="today"}'] >= 0
    assert figures["helpline_events_dropped"] == 0

"""The ladder's books on generated journeys whose figures were worked out
by hand (docs/reports.md gives the rules)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.ladder import LEAD_IN_S, Books, CostError, Costs, Tier

START = datetime(2026, 11, 3, 9, tzinfo=UTC).timestamp()
END = START + 8 * 3600
MENU = "main@3"

Event = tuple[float, dict[str, str]]


def ev(at: float, kind: str, call: str = "", **fields: Any) -> Event:
    event = {"kind": kind, "call": call, **{k: str(v) for k, v in fields.items()}}
    return at, {k: v for k, v in event.items() if v}


def walk(at: float, call: str, *nodes: str, visit: str = "") -> list[Event]:
    """A call entering menu nodes one a second."""
    return [
        ev(at + i, "ivr.node", call, node=node, menu=MENU, visit=visit)
        for i, node in enumerate(nodes)
    ]


def self_service(at: float, visit: str) -> list[Event]:
    return [ev(at, "faq.viewed", visit=visit, detail="opening-hours")]


def ivr_only(at: float, call: str) -> list[Event]:
    return [
        *walk(at, call, "root", "billing"),
        ev(at + 2, "ivr.offer", call, detail="faq", node="billing"),
        ev(at + 3, "faq.viewed", call, detail="invoices", node="billing"),
        ev(at + 30, "ended", call, detail="customer", duration_ms=30_000),
    ]


def agent_call(at: float, call: str, wait_s: int, visit: str = "") -> list[Event]:
    return [
        *walk(at, call, "root", "agent", visit=visit),
        ev(at + 2, "queued", call, visit=visit),
        ev(
            at + 2 + wait_s,
            "answered",
            call,
            agent="u1",
            wait_ms=wait_s * 1000,
            visit=visit,
        ),
        ev(at + 200, "ended", call, detail="agent", visit=visit),
    ]


def abandoned(at: float, call: str, wait_s: int) -> list[Event]:
    return [
        *walk(at, call, "root", "agent"),
        ev(at + 2, "queued", call),
        ev(at + 2 + wait_s, "abandoned", call, wait_ms=wait_s * 1000),
        ev(at + 2 + wait_s, "ended", call, detail="customer"),
    ]


def tollfree(at: float, call: str) -> list[Event]:
    return [
        *walk(at, call, "root", "line"),
        ev(at + 2, "ivr.offer", call, detail="callback", node="line"),
        ev(at + 3, "tollfree", call, reason="menu", node="line"),
        ev(at + 400, "ended", call, detail="customer"),
    ]


def callback(at: float, call: str) -> list[Event]:
    return [
        *walk(at, call, "root", "cb"),
        ev(at + 2, "callback.requested", call, detail="new"),
        ev(at + 3, "ended", call, detail="ivr"),
    ]


def known_day() -> list[Event]:
    """5 self-service visits, 3 IVR-only calls, 4 agent calls (waits 5, 10,
    30 and 60 s), 2 calls abandoned in the queue (10 and 40 s), 1 toll-free,
    2 callbacks (one reached, one failed), and a visit that read an answer
    and then called an agent (15 s)."""
    at = START + 60
    events: list[Event] = []
    for i in range(5):
        events += self_service(at + i * 600, f"visit-self-{i}")
    for i in range(3):
        events += ivr_only(at + 3600 + i * 60, f"ivr-{i}")
    for i, wait in enumerate((5, 10, 30, 60)):
        events += agent_call(at + 7200 + i * 300, f"agent-{i}", wait)
    events += abandoned(at + 10800, "gone-0", 10)
    events += abandoned(at + 10900, "gone-1", 40)
    events += tollfree(at + 14400, "line-0")
    events += callback(at + 18000, "cb-0")
    events += callback(at + 18100, "cb-1")
    events.append(ev(at + 21000, "callback.done", "cb-0", detail="reached"))
    events.append(ev(at + 21100, "callback.done", "cb-1", detail="failed"))
    events += self_service(at + 24000, "visit-both")
    events += agent_call(at + 24100, "web-call", 15, visit="visit-both")
    return sorted(events, key=lambda e: e[0])


def fold(events: list[Event], **options: Any) -> dict[str, Any]:
    books = Books(START, END, **options)
    for at, event in events:
        books.add(at, event)
    return books.report(Costs())


def test_a_known_day_gives_the_hand_computed_figures() -> None:
    report = fold(known_day())

    assert report["interactions"] == 18
    counts = {tier: figures["count"] for tier, figures in report["tiers"].items()}
    assert counts == {
        "self-service": 5,
        "ivr": 5,  # 3 in the menu, 2 abandoned in the queue
        "callback": 2,
        "agent": 5,
        "tollfree": 1,
    }
    # 5 x 0.25 + 5 x 0.75 + 2 x 4 + 5 x 6 + 25
    assert report["cost"] == 68.0
    assert report["baseline"] == 450.0
    assert report["savings"] == 382.0
    assert report["tiers"]["agent"]["cost"] == 30.0
    assert report["deflection_rate"] == round(8 / 18, 4)
    assert (report["queued"], report["answered"], report["abandoned"]) == (7, 5, 2)
    assert report["abandonment_rate"] == round(2 / 7, 4)
    assert report["asa_s"] == 24.0  # (5 + 10 + 30 + 60 + 15) / 5
    # In time: 5, 10, 15; abandoned after 20 s: the 40 s one.
    assert report["service_level"] == 0.5
    assert report["callbacks"] == {
        "requested": 2,
        "reached": 1,
        "failed": 1,
        "cancelled": 0,
        "success_rate": 0.5,
    }
    assert report["tollfree"] == {"count": 1, "reasons": {"menu": 1}}
    nodes = {n["node"]: n for n in report["nodes"]}
    assert {n["menu"] for n in report["nodes"]} == {"main"}
    assert nodes["root"]["visits"] == 13
    assert (nodes["billing"]["visits"], nodes["billing"]["exits"]) == (3, 3)
    assert (nodes["agent"]["visits"], nodes["agent"]["escalations"]) == (7, 7)
    assert (nodes["line"]["escalations"], nodes["line"]["exits"]) == (1, 0)
    assert (nodes["cb"]["visits"], nodes["cb"]["exits"]) == (2, 2)
    assert nodes["root"]["exits"] == nodes["root"]["escalations"] == 0


def test_the_service_level_threshold_moves_the_service_level() -> None:
    # Within 60 s: all five answered; no abandon after 60 s.
    assert fold(known_day(), service_level_s=60)["service_level"] == 1.0
    # Within 5 s: one of five answered, both abandons came later.
    assert fold(known_day(), service_level_s=5)["service_level"] == round(1 / 7, 4)


def test_hourly_series_add_up_to_the_period() -> None:
    report = fold(known_day())
    series = report["series"]
    assert len(series) == 8
    assert series[0]["start"] == "2026-11-03T09:00:00+00:00"
    assert [sum(b["tiers"].values()) for b in series] == [5, 3, 4, 2, 1, 2, 1, 0]
    assert sum(b["cost"] for b in series) == pytest.approx(68.0)
    assert sum(b["baseline"] for b in series) == pytest.approx(450.0)
    # The first hour holds the five self-service visits and nothing else.
    assert series[0]["tiers"]["self-service"] == 5
    assert series[0]["cost"] == 1.25


def test_only_interactions_that_start_in_the_period_count() -> None:
    before = agent_call(START - 600, "early", 5)  # answered inside the period
    after = agent_call(END + 60, "late", 5)
    tail = ev(START - 30, "faq.viewed", visit="v-old")
    inside_tail = ev(START + 30, "faq.viewed", visit="v-old")
    report = fold(sorted([*before, *after, tail, inside_tail], key=lambda e: e[0]))
    assert report["interactions"] == 0
    assert report["answered"] == 0
    assert report["queued"] == 0


def test_a_call_answered_by_the_line_alone_is_not_an_agent_call() -> None:
    events = [
        *walk(START + 5, "bridged", "root", "line"),
        ev(START + 7, "tollfree", "bridged", reason="closed"),
        ev(START + 8, "answered", "bridged"),  # a media worker, no agent
    ]
    report = fold(events)
    assert report["tiers"]["tollfree"]["count"] == 1
    assert report["answered"] == 0
    assert report["tollfree"]["reasons"] == {"closed": 1}


def test_events_without_an_interaction_or_with_odd_fields_are_harmless() -> None:
    events = [
        ev(START + 1, "faq.viewed"),  # neither call nor visit
        ev(START + 2, "answered", "odd", agent="u1", wait_ms="soon"),
        ev(START + 3, "no-such-kind", "odd"),
    ]
    report = fold(events)
    assert report["interactions"] == 1
    assert report["asa_s"] == 0.0


def test_a_call_no_tier_served_counts_at_the_cheapest_tier() -> None:
    # A line without a menu: the caller queued and left.
    events = [
        ev(START + 5, "queued", "lost"),
        ev(START + 50, "abandoned", "lost", wait_ms=45_000),
        ev(START + 50, "ended", "lost", detail="customer-hangup"),
    ]
    report = fold(events)
    assert report["interactions"] == 1
    assert report["tiers"]["self-service"] == {"count": 1, "cost": 0.25}
    assert report["deflection_rate"] == 0.0  # abandoned: not deflected
    assert report["abandonment_rate"] == 1.0


def test_rates_with_nothing_to_divide_are_null() -> None:
    report = fold([])
    assert report["interactions"] == 0
    for name in ("deflection_rate", "abandonment_rate", "asa_s", "service_level"):
        assert report[name] is None
    assert report["callbacks"]["success_rate"] is None


def test_day_buckets_follow_local_midnight_across_a_dst_change() -> None:
    zone = ZoneInfo("America/New_York")
    start = datetime(2026, 10, 31, tzinfo=zone).timestamp()
    end = datetime(2026, 11, 3, tzinfo=zone).timestamp()
    books = Books(start, end, bucket="day", zone=zone)
    # 23:30 local on Nov 1 (the 25-hour day) is still Nov 1.
    late = datetime(2026, 11, 1, 23, 30, tzinfo=zone).timestamp()
    books.add(late, {"kind": "faq.viewed", "visit": "v1"})
    series = books.report(Costs())["series"]
    assert [b["start"] for b in series] == [
        "2026-10-31T00:00:00-04:00",
        "2026-11-01T00:00:00-04:00",
        "2026-11-02T00:00:00-05:00",
    ]
    assert [b["tiers"]["self-service"] for b in series] == [0, 1, 0]


def test_costs_parse_and_explain() -> None:
    costs = Costs.parse(
        {
            "currency": "EUR",
            "tiers": {
                "self-service": 0.1,
                "ivr": 1,
                "callback": 3.5,
                "agent": 7,
                "tollfree": 30,
            },
        }
    )
    assert costs.tiers[Tier.IVR] == 1.0
    assert Costs.parse(costs.as_json()) == costs
    good = costs.as_json()["tiers"]
    bad: list[tuple[Any, str]] = [
        ([], ""),
        ({"tiers": {**good, "ivr": -1}}, "tiers.ivr"),
        ({"tiers": {**good, "agent": "6"}}, "tiers.agent"),
        ({"tiers": {**good, "agent": True}}, "tiers.agent"),
        ({"tiers": {**good, "agent": float("nan")}}, "tiers.agent"),
        ({"tiers": {**good, "agent": 1e9}}, "tiers.agent"),
        ({"tiers": {**good, "robot": 1}}, "tiers.robot"),
        (
            {"tiers": {k: v for k, v in good.items() if k != "callback"}},
            "tiers.callback",
        ),
        ({"currency": "dollars", "tiers": good}, "currency"),
        ({"tiers": good, "extra": 1}, "extra"),
        ({"currency": "USD"}, "tiers"),
    ]
    for raw, where in bad:
        with pytest.raises(CostError) as caught:
            Costs.parse(raw)
        assert caught.value.field == where, raw
        assert str(caught.value)


_PLAIN = {"self": self_service, "ivr": ivr_only, "line": tollfree, "cb": callback}
_WAITED = {"agent": agent_call, "gone": abandoned}
_JOURNEYS = st.lists(
    st.tuples(
        st.sampled_from(["self", "ivr", "agent", "gone", "line", "cb"]),
        st.integers(min_value=-LEAD_IN_S, max_value=int(END - START) + 3600),
        st.integers(min_value=0, max_value=300),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(_JOURNEYS)
def test_generated_journeys_add_up(journeys: list[tuple[str, int, int]]) -> None:
    events: list[Event] = []
    inside = 0
    for i, (what, offset, wait) in enumerate(journeys):
        at = START + offset
        inside += START <= at < END
        key = f"j{i}"
        if what in ("agent", "gone"):
            events += _WAITED[what](at, key, wait)
        else:
            events += _PLAIN[what](at, key)
    report = fold(sorted(events, key=lambda e: e[0]))
    assert report["interactions"] == inside
    assert sum(t["count"] for t in report["tiers"].values()) == inside
    assert report["savings"] == pytest.approx(report["baseline"] - report["cost"])
    assert report["answered"] + report["abandoned"] <= report["queued"]
    if report["deflection_rate"] is not None:
        assert 0 <= report["deflection_rate"] <= 1

"""Opening hours as tables of instants (in UTC) and the state each must give,
across the daylight-saving changes of New York and London; then holidays,
midnight, and calendars refused with the place of every fault."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.hours import Calendar, Holiday, HoursError, always_open, demo_calendar
from ivr.menu import HoursState

OPEN, CLOSED, HOLIDAY = HoursState.OPEN, HoursState.CLOSED, HoursState.HOLIDAY
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def every_day(zone: str, start: str, end: str) -> Calendar:
    return Calendar(zone, {day: ((start, end),) for day in DAYS})


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


NEW_YORK = every_day("America/New_York", "08:00", "20:00")
LONDON = every_day("Europe/London", "09:00", "17:00")


@pytest.mark.parametrize(
    ("instant", "state"),
    [
        # Saturday 7 March 2026, EST (UTC-5).
        ("2026-03-07 12:59", CLOSED),  # 07:59
        ("2026-03-07 13:00", OPEN),  # 08:00
        ("2026-03-08 00:59", OPEN),  # 19:59
        ("2026-03-08 01:00", CLOSED),  # 20:00
        # Sunday 8 March 2026: clocks go forward at 02:00, EDT (UTC-4).
        ("2026-03-08 11:59", CLOSED),  # 07:59 EDT
        ("2026-03-08 12:30", OPEN),  # 08:30 EDT, which UTC-5 would call closed
        ("2026-03-08 23:59", OPEN),  # 19:59 EDT
        ("2026-03-09 00:00", CLOSED),  # 20:00 EDT, which UTC-5 would call open
        # Sunday 1 November 2026: clocks go back at 02:00, EST again.
        ("2026-11-01 12:00", CLOSED),  # 07:00 EST, which UTC-4 would call open
        ("2026-11-01 12:59", CLOSED),  # 07:59 EST
        ("2026-11-01 13:00", OPEN),  # 08:00 EST
        ("2026-11-02 00:59", OPEN),  # 19:59 EST
        ("2026-11-02 01:00", CLOSED),  # 20:00 EST
    ],
)
def test_new_york_across_daylight_saving(instant: str, state: HoursState) -> None:
    assert NEW_YORK.state_at(utc(instant)) == state


@pytest.mark.parametrize(
    ("instant", "state"),
    [
        ("2026-03-28 08:59", CLOSED),  # Saturday 08:59 GMT
        ("2026-03-28 09:00", OPEN),
        # Sunday 29 March 2026: BST (UTC+1) from 01:00 UTC.
        ("2026-03-29 07:59", CLOSED),  # 08:59 BST
        ("2026-03-29 08:00", OPEN),  # 09:00 BST, which GMT would call closed
        ("2026-03-29 15:59", OPEN),  # 16:59 BST
        ("2026-03-29 16:00", CLOSED),  # 17:00 BST, which GMT would call open
        # Sunday 25 October 2026: GMT again from 01:00 UTC.
        ("2026-10-25 08:00", CLOSED),  # 08:00 GMT
        ("2026-10-25 09:00", OPEN),
        ("2026-10-25 16:59", OPEN),
        ("2026-10-25 17:00", CLOSED),
    ],
)
def test_london_across_daylight_saving(instant: str, state: HoursState) -> None:
    assert LONDON.state_at(utc(instant)) == state


@pytest.mark.parametrize(
    ("hours", "instant", "state"),
    [
        # 8 March 2026: 02:00 EST becomes 03:00 EDT; 02:00-03:00 never comes.
        (("02:00", "03:00"), "2026-03-08 06:59", CLOSED),  # 01:59 EST
        (("02:00", "03:00"), "2026-03-08 07:00", CLOSED),  # 03:00 EDT
        (("02:00", "03:00"), "2026-03-08 07:30", CLOSED),  # 03:30 EDT
        # 1 November 2026: 02:00 EDT becomes 01:00 EST; 01:00-02:00 comes twice.
        (("01:00", "02:00"), "2026-11-01 04:59", CLOSED),  # 00:59 EDT
        (("01:00", "02:00"), "2026-11-01 05:00", OPEN),  # 01:00 EDT
        (("01:00", "02:00"), "2026-11-01 06:30", OPEN),  # 01:30 EST, again
        (("01:00", "02:00"), "2026-11-01 07:00", CLOSED),  # 02:00 EST
    ],
)
def test_the_hour_skipped_and_the_hour_repeated(
    hours: tuple[str, str], instant: str, state: HoursState
) -> None:
    night = Calendar("America/New_York", {"sun": (hours,)})
    assert night.state_at(utc(instant)) == state


@pytest.mark.parametrize(
    ("instant", "state"),
    [
        ("2026-12-24 15:00", OPEN),  # Thursday 10:00 EST
        ("2026-12-25 15:00", HOLIDAY),  # Christmas, a Friday
        ("2026-12-25 05:00", HOLIDAY),  # 00:00 EST, closed hours count too
        ("2026-12-26 03:00", HOLIDAY),  # 22:00 EST on the 25th, UTC says 26th
        ("2026-12-26 15:00", OPEN),  # Saturday 10:00
        ("2026-12-26 23:00", CLOSED),  # Saturday 18:00
        ("2026-12-27 15:00", CLOSED),  # Sunday
        ("2026-11-26 15:00", HOLIDAY),  # Thanksgiving
    ],
)
def test_demo_calendar_with_holidays(instant: str, state: HoursState) -> None:
    assert demo_calendar().state_at(utc(instant)) == state


def test_an_instant_in_another_zone_is_converted() -> None:
    tokyo = dt.timezone(dt.timedelta(hours=9))
    # Tuesday 8 December 2026 23:30 in Tokyo is 09:30 EST the same day.
    assert (
        demo_calendar().state_at(dt.datetime(2026, 12, 8, 23, 30, tzinfo=tokyo)) == OPEN
    )
    assert (
        demo_calendar().state_at(dt.datetime(2026, 12, 8, 21, 59, tzinfo=tokyo))
        == CLOSED
    )


def test_hours_to_midnight_and_from_midnight() -> None:
    late = Calendar(
        "Europe/London", {"fri": (("22:00", "24:00"),), "sat": (("00:00", "02:00"),)}
    )
    assert late.state_at(utc("2026-12-04 21:59")) == CLOSED
    assert late.state_at(utc("2026-12-04 22:00")) == OPEN
    assert late.state_at(utc("2026-12-04 23:59")) == OPEN
    assert late.state_at(utc("2026-12-05 00:00")) == OPEN
    assert late.state_at(utc("2026-12-05 01:59")) == OPEN
    assert late.state_at(utc("2026-12-05 02:00")) == CLOSED


def test_always_open_never_closes() -> None:
    calendar = always_open()
    for hour in range(0, 24 * 7, 5):
        instant = utc("2026-12-07 00:00") + dt.timedelta(hours=hour, minutes=59)
        assert calendar.state_at(instant) == OPEN


def test_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(HoursError) as caught:
        demo_calendar().state_at(dt.datetime(2026, 12, 8, 12, 0))
    assert caught.value.problems[0].path == "when"


def test_round_trip_and_order_of_ranges_and_holidays() -> None:
    calendar = Calendar(
        "Europe/London",
        {"mon": (("13:00", "17:00"), ("08:00", "12:00"))},
        (
            Holiday(dt.date(2026, 12, 28), "Boxing Day (substitute)"),
            Holiday(dt.date(2026, 12, 25), "Christmas Day"),
        ),
    )
    data = calendar.to_dict()
    assert data["weekly"]["mon"] == [["08:00", "12:00"], ["13:00", "17:00"]]
    assert data["weekly"]["sun"] == []
    assert [h["date"] for h in data["holidays"]] == ["2026-12-25", "2026-12-28"]
    assert Calendar.from_dict(data) == calendar
    assert Calendar.from_dict(demo_calendar().to_dict()) == demo_calendar()


def test_the_demo_calendar_is_what_the_demo_says() -> None:
    data = demo_calendar().to_dict()
    assert data["time_zone"] == "America/New_York"
    assert all(data["weekly"][d] == [["08:00", "20:00"]] for d in DAYS[:5])
    assert data["weekly"]["sat"] == [["09:00", "17:00"]]
    assert data["weekly"]["sun"] == [] and len(data["holidays"]) >= 3


def good() -> dict[str, Any]:
    return {
        "time_zone": "America/New_York",
        "weekly": {"mon": [["08:00", "20:00"]]},
        "holidays": [{"date": "2026-12-25", "name": "Christmas Day"}],
    }


def changed(path: str, value: object) -> dict[str, Any]:
    """good() with the value at a dotted path replaced (or removed: ...)."""
    data = good()
    *parents, last = path.split(".")
    target: Any = data
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is ...:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return data


@pytest.mark.parametrize(
    ("data", "path", "words"),
    [
        ("nope", "(top)", "mapping"),
        (changed("time_zone", "Mars/Olympus_Mons"), "time_zone", "unknown"),
        (changed("time_zone", "../../etc/passwd"), "time_zone", "time zone"),
        (changed("time_zone", "/etc/localtime"), "time_zone", "time zone"),
        (changed("time_zone", 5), "time_zone", "time zone"),
        (changed("time_zone", "America"), "time_zone", "unknown"),
        (changed("time_zone", ...), "time_zone", "time zone"),
        (changed("weekly", ...), "weekly", "mapping"),
        (changed("weekly", []), "weekly", "mapping"),
        (changed("weekly.funday", []), "weekly.funday", "unknown day"),
        (changed("weekly.mon", "08:00-20:00"), "weekly.mon", "list"),
        (changed("weekly.mon.0", ["08:00"]), "weekly.mon.0", "pair"),
        (changed("weekly.mon.0", "08:00"), "weekly.mon.0", "pair"),
        (changed("weekly.mon.0", [8, 20]), "weekly.mon.0", "pair"),
        (changed("weekly.mon.0", ["8:00", "20:00"]), "weekly.mon.0.open", "HH:MM"),
        (changed("weekly.mon.0", ["08:00", "25:00"]), "weekly.mon.0.close", "HH:MM"),
        (changed("weekly.mon.0", ["08:60", "20:00"]), "weekly.mon.0.open", "HH:MM"),
        (changed("weekly.mon.0", ["24:00", "24:00"]), "weekly.mon.0.open", "24:00"),
        (changed("weekly.mon.0", ["20:00", "20:00"]), "weekly.mon.0.close", "after"),
        (
            changed("weekly.mon.0", ["22:00", "02:00"]),
            "weekly.mon.0.close",
            "two ranges",
        ),
        (
            changed("weekly.mon", [["08:00", "12:30"], ["12:00", "17:00"]]),
            "weekly.mon.1",
            "overlaps 08:00-12:30",
        ),
        (changed("weekly.mon", [["08:00", "09:00"]] * 9), "weekly.mon", "at most"),
        (changed("holidays", {}), "holidays", "list"),
        (changed("holidays.0.date", "2026-02-30"), "holidays.0.date", "exists"),
        (changed("holidays.0.date", "25/12/2026"), "holidays.0.date", "YYYY-MM-DD"),
        (changed("holidays.0.date", 20261225), "holidays.0.date", "YYYY-MM-DD"),
        (changed("holidays.0.name", ""), "holidays.0.name", "printable"),
        (changed("holidays.0.name", "x" * 81), "holidays.0.name", "printable"),
        (changed("holidays.0.name", "a\nb"), "holidays.0.name", "printable"),
        (changed("holidays.0.name", None), "holidays.0.name", "text"),
        (changed("holidays.0.when", "today"), "holidays.0.when", "unknown field"),
        (changed("holidays.0", "2026-12-25"), "holidays.0", "mapping"),
        (changed("colour", "blue"), "colour", "unknown field"),
    ],
)
def test_bad_calendars_are_refused_with_the_place(
    data: object, path: str, words: str
) -> None:
    with pytest.raises(HoursError) as caught:
        Calendar.from_dict(data)
    assert caught.value.code == "invalid-hours"
    matching = [p for p in caught.value.problems if p.path == path]
    assert matching, caught.value.problems
    assert words in matching[0].sentence


def test_every_problem_is_listed_at_once() -> None:
    data = {
        "time_zone": "Nowhere/Nothing",
        "weekly": {"mon": [["20:00", "08:00"]], "noday": []},
        "holidays": [
            {"date": "2026-12-25", "name": "Christmas Day"},
            {"date": "2026-12-25", "name": "Christmas again"},
        ],
    }
    with pytest.raises(HoursError) as caught:
        Calendar.from_dict(data)
    paths = {p.path for p in caught.value.problems}
    assert paths == {
        "time_zone",
        "weekly.mon.0.close",
        "weekly.noday",
        "holidays.1.date",
    }
    assert "holidays.1.date: the same date as holidays.0" in str(caught.value)


def test_the_constructor_refuses_too() -> None:
    with pytest.raises(HoursError):
        Calendar("UTC", {"mon": (("09:00", "08:00"),)})
    with pytest.raises(HoursError):
        Calendar("No/Where", {})


@given(
    when=st.datetimes(
        min_value=dt.datetime(1970, 1, 2),
        max_value=dt.datetime(2200, 1, 1),
        timezones=st.timezones(),
    )
)
def test_any_aware_instant_gets_a_state(when: dt.datetime) -> None:
    assert demo_calendar().state_at(when) in (OPEN, CLOSED, HOLIDAY)

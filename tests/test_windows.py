"""When callbacks are due: tables of requests (an instant in UTC, a window, a
date) against the demo's New York calendar and calendars built here, each
with the instant that must come out or the refusal; then daylight-saving
changes, and properties checked against a minute-by-minute search."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.hours import Calendar, Holiday, HoursError, always_open, demo_calendar
from ivr.menu import HoursState
from ivr.windows import (
    LOOKAHEAD_DAYS,
    MAX_DAYS_AHEAD,
    WindowError,
    describe,
    due_at,
    next_open,
    parse_window,
    retry_at,
)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEMO = demo_calendar()
NEW_YORK = ZoneInfo("America/New_York")


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


# parse_window


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("", None),
        ("09:00-12:00", (540, 720)),
        ("12:00-17:00", (720, 1020)),
        ("00:00-24:00", (0, 1440)),
        ("23:59-24:00", (1439, 1440)),
        ("07:05-07:06", (425, 426)),
    ],
)
def test_windows_read_as_minutes_of_the_day(
    text: str, minutes: tuple[int, int] | None
) -> None:
    assert parse_window(text) == minutes


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("9:00-12:00", "e.g. 12:00-17:00"),
        ("09:00-12", "e.g. 12:00-17:00"),
        ("09:00 - 12:00", "e.g. 12:00-17:00"),
        (" 09:00-12:00", "e.g. 12:00-17:00"),
        ("09:00-12:00-13:00", "e.g. 12:00-17:00"),
        ("09h00-12h00", "e.g. 12:00-17:00"),
        ("12:60-13:00", "e.g. 12:00-17:00"),
        ("24:00-24:00", "e.g. 12:00-17:00"),
        ("09:00-24:01", "e.g. 12:00-17:00"),
        ("morning", "e.g. 12:00-17:00"),
        ("\uff10\uff19:00-12:00", "e.g. 12:00-17:00"),  # full-width digits
        ("+15551234567", "e.g. 12:00-17:00"),
        ("1" * 10_000, "e.g. 12:00-17:00"),
        ("12:00-09:00", "ends after it starts"),
        ("12:00-12:00", "ends after it starts"),
        ("22:00-02:00", "ends after it starts"),
    ],
)
def test_bad_windows_are_refused_without_repeating_them(text: str, words: str) -> None:
    with pytest.raises(WindowError) as caught:
        parse_window(text)
    assert caught.value.code == "invalid-window"
    assert caught.value.recoverable
    message = str(caught.value)
    assert words in message
    assert text not in message and "555" not in message


def test_a_window_that_is_not_text_is_refused() -> None:
    with pytest.raises(WindowError):
        parse_window(1200)  # type: ignore[arg-type]


# As soon as possible


@pytest.mark.parametrize(
    ("now", "due"),
    [
        # Tuesday 8 December 2026, 10:00 EST: open now.
        ("2026-12-08 15:00", "2026-12-08 15:00"),
        ("2026-12-08 15:00:42.5", "2026-12-08 15:00:42.5"),
        # 07:59:59 EST: opens at 08:00.
        ("2026-12-08 12:59:59", "2026-12-08 13:00"),
        # 19:59:59 EST is open; 20:00 is closed until 08:00 tomorrow.
        ("2026-12-09 00:59:59", "2026-12-09 00:59:59"),
        ("2026-12-09 01:00", "2026-12-09 13:00"),
        # Saturday 12 December 17:00 EST: Sunday is closed, Monday 08:00.
        ("2026-12-12 22:00", "2026-12-14 13:00"),
        # Thursday 24 December 21:00 EST: Christmas Day, then Saturday 09:00.
        ("2026-12-25 02:00", "2026-12-26 14:00"),
        # Thursday 31 December 21:00 EST: New Year's Day, Saturday 09:00.
        ("2027-01-01 02:00", "2027-01-02 14:00"),
        # Saturday 7 March 18:00 EST: Monday 08:00 EDT, after the clocks
        # went forward on Sunday.
        ("2026-03-07 23:00", "2026-03-09 12:00"),
        # Saturday 31 October 18:00 EDT: Monday 08:00 EST, after they went back.
        ("2026-10-31 22:00", "2026-11-02 13:00"),
    ],
)
def test_as_soon_as_possible_is_now_or_the_next_opening(now: str, due: str) -> None:
    assert due_at(DEMO, utc(now)) == utc(due)
    assert next_open(DEMO, utc(now)) == utc(due)


def test_times_come_out_in_utc_whatever_zone_goes_in() -> None:
    tokyo = dt.timezone(dt.timedelta(hours=9))
    # Wednesday 9 December 2026 06:00 in Tokyo is Tuesday 16:00 in New York.
    now = dt.datetime(2026, 12, 9, 6, 0, tzinfo=tokyo)
    due = due_at(DEMO, now)
    assert due == now and due.tzinfo is dt.UTC
    # 21:00 in Tokyo is 07:00 in New York: 06:00-09:00 is due at the opening.
    later = dt.datetime(2026, 12, 9, 21, 0, tzinfo=tokyo)
    due = due_at(DEMO, later, "06:00-09:00", day("2026-12-09"))
    assert due == utc("2026-12-09 13:00") and due.tzinfo is dt.UTC


@pytest.mark.parametrize(
    ("now", "date", "due"),
    [
        # Tuesday 8 December 2026 10:00 EST, open now.
        ("2026-12-08 15:00", "2026-12-08", "2026-12-08 15:00"),
        # 06:00 EST the same day: the opening.
        ("2026-12-08 11:00", "2026-12-08", "2026-12-08 13:00"),
        ("2026-12-08 15:00", "2026-12-09", "2026-12-09 13:00"),
        # 00:30 UTC on the 2nd is 19:30 on the 1st in New York, still open.
        ("2026-12-02 00:30", "2026-12-01", "2026-12-02 00:30"),
        ("2026-12-08 15:00", "2026-12-12", "2026-12-12 14:00"),  # a Saturday
        # Thirty days ahead is the furthest, across a year's end.
        ("2026-12-08 15:00", "2027-01-07", "2027-01-07 13:00"),
        # A date in summer time from a day in winter time.
        ("2026-03-02 15:00", "2026-03-09", "2026-03-09 12:00"),
    ],
)
def test_as_soon_as_possible_on_a_date(now: str, date: str, due: str) -> None:
    assert due_at(DEMO, utc(now), "", day(date)) == utc(due)


# A window without a date


@pytest.mark.parametrize(
    ("now", "window", "due"),
    [
        # Tuesday 8 December 2026 10:00 EST: today, at the window's start.
        ("2026-12-08 15:00", "12:00-17:00", "2026-12-08 17:00"),
        # 13:00 EST, inside the window: now.
        ("2026-12-08 18:00", "12:00-17:00", "2026-12-08 18:00"),
        # 17:00 EST, the window has just ended: tomorrow.
        ("2026-12-08 22:00", "12:00-17:00", "2026-12-09 17:00"),
        # 05:00 EST, a window from 06:00: the first open minute inside, 08:00.
        ("2026-12-08 10:00", "06:00-09:00", "2026-12-08 13:00"),
        # 21:00 EST: the window 19:00-22:00 has not ended, but the line has
        # closed at 20:00; tomorrow at 19:00.
        ("2026-12-09 02:00", "19:00-22:00", "2026-12-10 00:00"),
        # Saturday 10:00: Saturday closes at 17:00, Sunday is closed: Monday.
        ("2026-12-12 15:00", "17:00-20:00", "2026-12-14 22:00"),
        # Saturday 07:00, 06:00-09:00 opens at 09:00, after the window: Monday.
        ("2026-12-12 12:00", "06:00-09:00", "2026-12-14 13:00"),
        # Saturday 07:00, 06:00-10:00: 09:00, the opening inside the window.
        ("2026-12-12 12:00", "06:00-10:00", "2026-12-12 14:00"),
        # Thursday 24 December 21:00 EST: not Christmas Day; Saturday.
        ("2026-12-25 02:00", "09:00-12:00", "2026-12-26 14:00"),
        # Saturday 7 March 18:00 EST: Monday 09:00 EDT.
        ("2026-03-07 23:00", "09:00-12:00", "2026-03-09 13:00"),
        # Saturday 31 October 18:00 EDT: Monday 09:00 EST.
        ("2026-10-31 22:00", "09:00-12:00", "2026-11-02 14:00"),
    ],
)
def test_a_window_is_due_at_its_next_open_occurrence(
    now: str, window: str, due: str
) -> None:
    assert due_at(DEMO, utc(now), window) == utc(due)


def test_a_window_never_open_in_the_next_days_is_refused() -> None:
    with pytest.raises(WindowError) as caught:
        due_at(DEMO, utc("2026-12-08 15:00"), "21:00-23:00")
    assert "closed between 21:00 and 23:00" in str(caught.value)
    assert f"next {LOOKAHEAD_DAYS} days" in str(caught.value)


def test_a_window_just_past_the_lookahead_is_refused() -> None:
    # Open on one date only, fifteen days after the request.
    once = Calendar(
        "UTC",
        {name: (("09:00", "17:00"),) for name in DAYS},
        tuple(
            Holiday(day("2026-12-01") + dt.timedelta(days=n), "Closed")
            for n in range(40)
            if n != 15
        ),
    )
    with pytest.raises(WindowError):
        due_at(once, utc("2026-12-01 10:00"), "09:00-12:00")
    assert due_at(once, utc("2026-12-02 10:00"), "09:00-12:00") == utc(
        "2026-12-16 09:00"
    )
    # A date may be further ahead than the lookahead.
    assert due_at(once, utc("2026-12-01 10:00"), "09:00-12:00", day("2026-12-16"))


# A window on a date


@pytest.mark.parametrize(
    ("now", "window", "date", "due"),
    [
        # Tuesday 1 December 2026 10:00 EST, for Monday 7 December.
        ("2026-12-01 15:00", "09:00-12:00", "2026-12-07", "2026-12-07 14:00"),
        # Today, inside the window: now.
        ("2026-12-01 15:00", "09:00-12:00", "2026-12-01", "2026-12-01 15:00"),
        # Today, before the window.
        ("2026-12-01 15:00", "17:00-20:00", "2026-12-01", "2026-12-01 22:00"),
        # The window starts before the opening: the opening.
        ("2026-12-01 15:00", "06:00-10:00", "2026-12-05", "2026-12-05 14:00"),
        # The window ends at midnight, the line at 20:00.
        ("2026-12-01 15:00", "19:30-24:00", "2026-12-02", "2026-12-03 00:30"),
    ],
)
def test_a_window_on_a_date(now: str, window: str, date: str, due: str) -> None:
    assert due_at(DEMO, utc(now), window, day(date)) == utc(due)


#: Tuesday 1 December 2026, 10:00 EST.
TUESDAY = "2026-12-01 15:00"


@pytest.mark.parametrize(
    ("now", "window", "date", "message"),
    [
        (TUESDAY, "09:00-12:00", "2026-11-30", "That day has passed"),
        (TUESDAY, "", "2026-11-30", "That day has passed"),
        # 00:30 UTC on the 2nd is still the 1st in New York; the 30th passed.
        ("2026-12-02 00:30", "", "2026-11-30", "That day has passed"),
        (TUESDAY, "09:00-12:00", "2027-01-01", f"at most {MAX_DAYS_AHEAD} days"),
        (TUESDAY, "", "2027-03-01", f"at most {MAX_DAYS_AHEAD} days"),
        (TUESDAY, "09:00-10:00", "2026-12-01", "That window ended at 10:00 today"),
        (TUESDAY, "08:00-09:30", "2026-12-01", "That window ended at 09:30 today"),
        (
            TUESDAY,
            "09:00-12:00",
            "2026-12-25",
            "We are closed then: Friday 25 December is a holiday (Christmas Day).",
        ),
        (
            TUESDAY,
            "",
            "2026-11-26",  # Thanksgiving, passed: the date is checked first
            "That day has passed",
        ),
        (
            TUESDAY,
            "09:00-12:00",
            "2026-12-06",
            "We are closed then: we do not open on Sundays.",
        ),
        (
            TUESDAY,
            "",
            "2026-12-06",
            "We are closed then: we do not open on Sundays.",
        ),
        (
            TUESDAY,
            "17:00-20:00",
            "2026-12-05",
            "We are closed then: on Saturday 5 December we are open 09:00-17:00.",
        ),
        (
            TUESDAY,
            "06:00-08:00",
            "2026-12-03",
            "We are closed then: on Thursday 3 December we are open 08:00-20:00.",
        ),
        (
            # Wednesday 23 December 20:30 EST: the rest of the window
            # 19:00-22:00 is after closing.
            "2026-12-24 01:30",
            "19:00-22:00",
            "2026-12-23",
            "We are closed for the rest of that window today; we are open 08:00-20:00.",
        ),
        (
            "2026-12-24 01:30",
            "",
            "2026-12-23",
            "We are closed for the rest of the day today; we are open 08:00-20:00.",
        ),
    ],
)
def test_a_date_that_cannot_be_kept_is_refused_with_the_reason(
    now: str, window: str, date: str, message: str
) -> None:
    with pytest.raises(WindowError) as caught:
        due_at(DEMO, utc(now), window, day(date))
    assert caught.value.code == "invalid-window"
    assert caught.value.recoverable
    assert message in str(caught.value)


def test_the_refusals_say_different_things() -> None:
    evening = "2026-12-02 01:30"  # Tuesday 1 December, 20:30 EST
    asks = [
        (TUESDAY, "09:00-12:00", "2026-11-30"),  # passed
        (TUESDAY, "09:00-12:00", "2027-01-07"),  # too far ahead
        (TUESDAY, "09:00-10:00", "2026-12-01"),  # ended
        (TUESDAY, "09:00-12:00", "2026-12-25"),  # a holiday
        (TUESDAY, "09:00-12:00", "2026-12-06"),  # a closed day
        (TUESDAY, "17:00-20:00", "2026-12-05"),  # outside the hours
        (evening, "19:00-22:00", "2026-12-01"),  # no open time left
    ]
    messages = set()
    for now, window, date in asks:
        with pytest.raises(WindowError) as caught:
            due_at(DEMO, utc(now), window, day(date))
        messages.add(str(caught.value))
    assert len(messages) == len(asks), messages


def test_thirty_days_ahead_is_the_last_day_that_can_be_booked() -> None:
    now = utc("2026-12-08 15:00")  # Tuesday
    assert due_at(always_open(), now, "", day("2027-01-07")) == utc("2027-01-07 00:00")
    with pytest.raises(WindowError):
        due_at(always_open(), now, "", day("2027-01-08"))


def test_a_calendar_never_open_refuses_every_request() -> None:
    shut = Calendar("Europe/London", {})
    now = utc("2026-12-08 15:00")
    assert next_open(shut, now) is None
    with pytest.raises(WindowError, match="closed for the next 14 days"):
        due_at(shut, now)
    with pytest.raises(WindowError, match="closed between 09:00 and 12:00"):
        due_at(shut, now, "09:00-12:00")
    with pytest.raises(WindowError, match="we do not open on Wednesdays"):
        due_at(shut, now, "", day("2026-12-09"))


def test_next_open_looks_fourteen_days_ahead() -> None:
    mondays = Calendar("UTC", {"mon": (("09:00", "10:00"),)})
    # Monday 7 December 2026, 10:00 UTC: the next Monday.
    assert next_open(mondays, utc("2026-12-07 10:00")) == utc("2026-12-14 09:00")
    # Closed on the 7th and the 14th: the 21st is fourteen days ahead.
    closed = (Holiday(day("2026-12-07"), "Closed"), Holiday(day("2026-12-14"), "Shut"))
    fortnight = Calendar("UTC", {"mon": (("09:00", "10:00"),)}, closed)
    assert next_open(fortnight, utc("2026-12-07 09:00:01")) == utc("2026-12-21 09:00")
    assert next_open(fortnight, utc("2026-12-07 08:59:59")) is None


# Hours that end at midnight and start again after it


LATE = Calendar(
    "Europe/London", {"fri": (("22:00", "24:00"),), "sat": (("00:00", "02:00"),)}
)


@pytest.mark.parametrize(
    ("now", "window", "due"),
    [
        ("2026-12-04 21:00", "", "2026-12-04 22:00"),  # Friday
        ("2026-12-04 23:59:59", "", "2026-12-04 23:59:59"),
        ("2026-12-05 00:00", "", "2026-12-05 00:00"),  # Saturday, still open
        ("2026-12-05 02:00", "", "2026-12-11 22:00"),
        ("2026-12-04 12:00", "23:00-24:00", "2026-12-04 23:00"),
        ("2026-12-04 23:30", "00:00-01:00", "2026-12-05 00:00"),
        ("2026-12-05 00:30", "22:00-24:00", "2026-12-11 22:00"),
    ],
)
def test_hours_either_side_of_midnight(now: str, window: str, due: str) -> None:
    assert due_at(LATE, utc(now), window) == utc(due)


def test_a_calendar_refuses_overnight_ranges_so_windows_never_meet_one() -> None:
    with pytest.raises(HoursError, match="two ranges"):
        Calendar("UTC", {"fri": (("22:00", "02:00"),)})


# Daylight saving in New York


def test_the_hour_skipped_opens_when_the_clocks_have_gone_forward() -> None:
    # Sunday 8 March 2026: 02:00 EST is 03:00 EDT, at 07:00 UTC.
    night = Calendar("America/New_York", {"sun": (("02:30", "04:00"),)})
    due = next_open(night, utc("2026-03-07 12:00"))
    assert due == utc("2026-03-08 07:00")
    assert night.state_at(due) == HoursState.OPEN
    assert night.state_at(due - dt.timedelta(microseconds=1)) == HoursState.CLOSED
    assert due_at(night, utc("2026-03-07 12:00"), "02:00-03:30") == due


def test_hours_inside_the_skipped_hour_are_never_open_that_day() -> None:
    night = Calendar("America/New_York", {"sun": (("02:00", "03:00"),)})
    # The next Sunday's 02:00 EDT.
    assert next_open(night, utc("2026-03-07 12:00")) == utc("2026-03-15 06:00")
    with pytest.raises(WindowError, match="the clocks go forward"):
        due_at(night, utc("2026-03-07 12:00"), "", day("2026-03-08"))
    with pytest.raises(WindowError, match="the clocks go forward"):
        due_at(night, utc("2026-03-07 12:00"), "02:15-02:45", day("2026-03-08"))


@pytest.mark.parametrize(
    ("now", "due"),
    [
        # Sunday 1 November 2026: 01:00-01:30 comes first in EDT ...
        ("2026-11-01 04:00", "2026-11-01 05:00"),
        ("2026-11-01 05:10", "2026-11-01 05:10"),
        # ... and again in EST, after the clocks went back at 06:00 UTC.
        ("2026-11-01 05:40", "2026-11-01 06:00"),
        ("2026-11-01 06:29", "2026-11-01 06:29"),
        ("2026-11-01 06:30", "2026-11-08 06:00"),
    ],
)
def test_the_hour_repeated_is_open_twice(now: str, due: str) -> None:
    night = Calendar("America/New_York", {"sun": (("01:00", "01:30"),)})
    assert next_open(night, utc(now)) == utc(due)
    if utc(due).astimezone(NEW_YORK).date() == day("2026-11-01"):
        assert due_at(night, utc(now), "01:00-02:00", day("2026-11-01")) == utc(due)


def test_always_open_in_new_york_stays_open_across_the_changes() -> None:
    calendar = always_open("America/New_York")
    for instant in ("2026-03-08 06:59:59", "2026-03-08 07:00", "2026-11-01 05:30"):
        assert next_open(calendar, utc(instant)) == utc(instant)
        assert due_at(calendar, utc(instant)) == utc(instant)


def test_a_date_whose_midnight_is_skipped_starts_at_one() -> None:
    # Havana puts its clocks forward at midnight: 8 March 2026 starts at 01:00.
    calendar = always_open("America/Havana")
    now = utc("2026-03-07 12:00")
    assert due_at(calendar, now, "", day("2026-03-08")) == utc("2026-03-08 05:00")
    assert due_at(calendar, now, "00:00-02:00", day("2026-03-08")) == utc(
        "2026-03-08 05:00"
    )


# Retries


@pytest.mark.parametrize(
    ("now", "delay_s", "due"),
    [
        ("2026-12-08 15:00", 120, "2026-12-08 15:02"),
        ("2026-12-08 15:00", 0, "2026-12-08 15:00"),
        ("2026-12-08 15:00", 0.5, "2026-12-08 15:00:00.5"),
        # 19:30 EST plus an hour is after closing: 08:00 tomorrow.
        ("2026-12-09 00:30", 3600, "2026-12-09 13:00"),
        # Thursday 24 December 19:59 EST plus two minutes: Saturday 09:00.
        ("2026-12-25 00:59", 120, "2026-12-26 14:00"),
    ],
)
def test_a_retry_waits_its_delay_inside_opening_hours(
    now: str, delay_s: float, due: str
) -> None:
    assert retry_at(DEMO, utc(now), delay_s) == utc(due)


def test_a_retry_on_a_line_that_stays_shut_keeps_its_delay() -> None:
    shut = Calendar("UTC", {})
    assert retry_at(shut, utc("2026-12-08 15:00"), 60) == utc("2026-12-08 15:01")


@pytest.mark.parametrize("delay_s", [-1.0, float("nan"), float("inf")])
def test_a_retry_delay_must_be_a_real_wait(delay_s: float) -> None:
    with pytest.raises(ValueError, match="retry delay"):
        retry_at(DEMO, utc("2026-12-08 15:00"), delay_s)


def test_a_time_without_a_zone_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        due_at(DEMO, dt.datetime(2026, 12, 8, 15, 0))
    with pytest.raises(ValueError, match="no time zone"):
        next_open(DEMO, dt.datetime(2026, 12, 8, 15, 0))


# What the customer is told


@pytest.mark.parametrize(
    ("now", "window", "date", "words"),
    [
        # Tuesday 8 December 2026, 10:00 EST.
        ("2026-12-08 15:00", "", None, "as soon as possible"),
        ("2026-12-08 15:00", "12:00-17:00", None, "today between 12:00 and 17:00"),
        ("2026-12-08 15:00", "09:00-12:00", None, "today between 09:00 and 12:00"),
        ("2026-12-08 18:00", "09:00-12:00", None, "tomorrow between 09:00 and 12:00"),
        ("2026-12-08 15:00", "", "2026-12-08", "as soon as possible"),
        ("2026-12-08 15:00", "", "2026-12-09", "tomorrow from 08:00"),
        ("2026-12-08 15:00", "19:30-24:00", None, "today between 19:30 and 24:00"),
        # Tuesday 06:00 EST: opens at 08:00.
        ("2026-12-08 11:00", "", None, "today from 08:00"),
        # 21:00 EST.
        ("2026-12-09 02:00", "", None, "tomorrow from 08:00"),
        # Tuesday 1 December, for Monday 7 December.
        (
            "2026-12-01 15:00",
            "09:00-12:00",
            "2026-12-07",
            "on Monday 7 December between 09:00 and 12:00",
        ),
        # Saturday 12 December 18:00 EST.
        ("2026-12-12 23:00", "", None, "on Monday 14 December from 08:00"),
        # Thursday 31 December 2026, 21:00 EST.
        ("2027-01-01 02:00", "", None, "on Saturday 2 January 2027 from 09:00"),
        # Saturday 7 March 18:00 EST: the opening is told in EDT.
        ("2026-03-07 23:00", "", None, "on Monday 9 March from 08:00"),
    ],
)
def test_the_time_is_told_in_the_lines_zone(
    now: str, window: str, date: str | None, words: str
) -> None:
    on = None if date is None else day(date)
    due = due_at(DEMO, utc(now), window, on)
    assert describe(DEMO, due, window, utc(now)) == words


def test_a_due_time_already_past_is_as_soon_as_possible() -> None:
    due = due_at(DEMO, utc("2026-12-08 11:00"))  # 08:00 EST
    assert describe(DEMO, due, "", utc("2026-12-08 13:05")) == "as soon as possible"


# Properties, against a search that tries every minute


#: Zones with instants at which their offset changes in 2026.
CHANGES = {
    "America/New_York": ("2026-03-08 07:00", "2026-11-01 06:00"),
    "Europe/London": ("2026-03-29 01:00", "2026-10-25 01:00"),
    "America/St_Johns": ("2026-03-08 05:30", "2026-11-01 04:30"),  # UTC-3:30
    "Australia/Lord_Howe": ("2026-04-04 15:00", "2026-10-03 15:30"),  # by 30 min
    "America/Havana": ("2026-03-08 05:00", "2026-11-01 05:00"),  # at midnight
    "Asia/Kolkata": (),  # UTC+5:30 all year
}
MINUTE = dt.timedelta(minutes=1)
LOOKAHEAD = dt.timedelta(days=LOOKAHEAD_DAYS)


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# Minutes near the hours the clocks change at are drawn often.
_points = st.one_of(st.integers(0, 1440), st.integers(0, 200))


@st.composite
def calendars(draw: st.DrawFn, zone: str, near: dt.date) -> Calendar:
    """Up to two ranges a day, and holidays in the weeks after `near`."""
    weekly = {}
    for name in DAYS:
        points = sorted(draw(st.sets(_points, max_size=4)))
        pairs = zip(points[::2], points[1::2], strict=False)
        ranges = tuple((clock(a), clock(b)) for a, b in pairs)
        if ranges:
            weekly[name] = ranges
    days = draw(st.sets(st.integers(-1, 20), max_size=5))
    dates = (near + dt.timedelta(days=n) for n in days)
    return Calendar(zone, weekly, tuple(Holiday(d, "Holiday") for d in dates))


@st.composite
def requests(draw: st.DrawFn) -> tuple[Calendar, dt.datetime]:
    """A calendar and an instant, which is often shortly before or after a
    change of the calendar's offset."""
    zone = draw(st.sampled_from(sorted(CHANGES)))
    any_time = st.datetimes(dt.datetime(2026, 1, 1), dt.datetime(2026, 12, 31))
    now = draw(any_time).replace(tzinfo=dt.UTC)
    near_a_change: bool = draw(st.booleans())
    if CHANGES[zone] and near_a_change:
        change = utc(draw(st.sampled_from(CHANGES[zone])))
        hours = st.integers(-3 * 3600, 3 * 3600)
        seconds = draw(st.one_of(hours, st.integers(-3 * 86400, 86400)))
        now = change + dt.timedelta(seconds=seconds)
    return draw(calendars(zone, now.date())), now


@st.composite
def windows(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return ""
    start, end = sorted(draw(st.sets(_points, min_size=2, max_size=2)))
    return f"{clock(start)}-{clock(end)}"


def searched(
    calendar: Calendar, now: dt.datetime, window: str, on: dt.date | None
) -> dt.datetime | None:
    """The first instant that keeps the request, trying `now` and then every
    whole minute (the offsets in CHANGES are whole minutes, so whether a time
    keeps it changes only on whole minutes)."""
    zone = ZoneInfo(calendar.time_zone)
    today = now.astimezone(zone).date()
    first, last = (today, today + dt.timedelta(days=LOOKAHEAD_DAYS))
    if on is not None:
        if not today <= on <= today + dt.timedelta(days=MAX_DAYS_AHEAD):
            return None
        first = last = on
    minutes = parse_window(window) or (0, 1440)
    start = max(now, utc(f"{first} 00:00") - dt.timedelta(days=1))
    if on is None and not window:
        last = (now + LOOKAHEAD).astimezone(zone).date()
    candidate = start
    while candidate.astimezone(zone).date() <= last:
        local = candidate.astimezone(zone)
        in_window = minutes[0] <= local.hour * 60 + local.minute < minutes[1]
        if (
            first <= local.date()
            and in_window
            and calendar.state_at(candidate) == HoursState.OPEN
        ):
            return candidate
        nxt = candidate.replace(second=0, microsecond=0) + MINUTE
        if on is None and not window and nxt >= now + LOOKAHEAD:
            return None
        candidate = nxt
    return None


@settings(max_examples=150, deadline=None)
@given(
    request=requests(),
    window=windows(),
    ahead=st.one_of(st.none(), st.integers(-2, MAX_DAYS_AHEAD + 2)),
)
def test_the_due_time_is_the_first_that_keeps_the_request(
    request: tuple[Calendar, dt.datetime], window: str, ahead: int | None
) -> None:
    calendar, now = request
    zone = ZoneInfo(calendar.time_zone)
    today = now.astimezone(zone).date()
    on = None if ahead is None else today + dt.timedelta(days=ahead)
    expected = searched(calendar, now, window, on)
    try:
        due = due_at(calendar, now, window, on)
    except WindowError:
        assert expected is None
        return
    assert due == expected
    assert due >= now and due.tzinfo is dt.UTC
    assert calendar.state_at(due) == HoursState.OPEN
    local = due.astimezone(zone)
    if window:
        start, end = parse_window(window) or (0, 0)
        assert start <= local.hour * 60 + local.minute < end
    if on is not None:
        assert local.date() == on


@settings(max_examples=100, deadline=None)
@given(request=requests())
def test_next_open_is_open_and_nothing_before_it_is(
    request: tuple[Calendar, dt.datetime],
) -> None:
    calendar, now = request
    found = next_open(calendar, now)
    assert found == searched(calendar, now, "", None)
    if found is not None:
        assert found >= now and calendar.state_at(found) == HoursState.OPEN
        assert next_open(calendar, found) == found


_TOLD = re.compile(
    r"as soon as possible"
    r"|(today|tomorrow|on [A-Z][a-z]+day [0-9]{1,2} [A-Z][a-z]+( [0-9]{4})?)"
    r" (from [0-9]{2}:[0-9]{2}|between [0-9]{2}:[0-9]{2} and [0-9]{2}:[0-9]{2})"
)


@settings(max_examples=150, deadline=None)
@given(request=requests(), window=windows(), delay=st.integers(0, 7200))
def test_every_due_time_can_be_told(
    request: tuple[Calendar, dt.datetime], window: str, delay: int
) -> None:
    calendar, now = request
    try:
        due = due_at(calendar, now, window)
    except WindowError:
        return
    told = describe(calendar, due, window, now)
    assert _TOLD.fullmatch(told), told
    assert (told == "as soon as possible") == (not window and due == now)
    if window:
        assert told.endswith(window.replace("-", " and "))
    then = due + dt.timedelta(seconds=delay)
    assert retry_at(calendar, due, delay) == (next_open(calendar, then) or then)

"""Opening hours: a weekly timetable and holidays in one time zone (sans-I/O).

An ``hours`` node of a menu branches on what the calendar says at the
moment a call enters it: open, closed or holiday. Times are wall-clock
times of the calendar's zone, so ``08:00-20:00`` keeps meaning eight in the
morning to eight at night across daylight-saving changes: on the day the
clocks go forward the hour that does not exist is simply never seen, and on
the day they go back the hour seen twice counts twice.

A range ends the day it starts: ``close`` is after ``open``, and ``24:00``
closes at midnight. Overnight opening is written as two ranges, one each
side of midnight (``fri: 22:00-24:00`` and ``sat: 00:00-02:00``), which
keeps each day, and a holiday on it, on its own date.

Calendars come in as dicts (from JSON) and are refused whole, with every
problem and its place (``weekly.mon.1: 12:00-13:00 overlaps 08:00-12:30``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr.menu import HoursState, Problem
from signaling.errors import IvrError

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_RANGES_PER_DAY: Final = 8
MAX_HOLIDAYS: Final = 200
MAX_HOLIDAY_NAME: Final = 80
END_OF_DAY: Final = "24:00"

_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]|24:00")
_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

Range = tuple[str, str]


class HoursError(IvrError):
    """A calendar that cannot be used; `problems` lists each fault."""

    code = "invalid-hours"
    recoverable = True

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Holiday:
    date: dt.date
    name: str


@dataclass(frozen=True)
class Calendar:
    """When the lines are open; a day missing from `weekly` is closed.

    Built only from valid parts: the constructor refuses a bad calendar
    with :class:`HoursError`, so every Calendar can answer `state_at`.
    """

    time_zone: str
    weekly: Mapping[str, tuple[Range, ...]]
    holidays: tuple[Holiday, ...] = ()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        zone = _check(self.time_zone, self.weekly, self.holidays, problems)
        if problems or zone is None:
            raise HoursError(problems)
        weekly = {
            d: tuple(sorted(self.weekly[d])) for d in WEEKDAYS if self.weekly.get(d)
        }
        object.__setattr__(self, "weekly", weekly)
        object.__setattr__(self, "holidays", tuple(sorted(self.holidays, key=_day)))
        object.__setattr__(self, "_zone", zone)

    def state_at(self, when: dt.datetime) -> HoursState:
        """Open, closed or holiday at the instant `when` (which is aware)."""
        if when.tzinfo is None or when.utcoffset() is None:
            raise HoursError([Problem("when", "the time carries no time zone")])
        local = when.astimezone(self._zone)
        if any(h.date == local.date() for h in self.holidays):
            return HoursState.HOLIDAY
        minute = local.hour * 60 + local.minute
        for start, end in self.weekly.get(WEEKDAYS[local.weekday()], ()):
            if _minutes(start) <= minute < _minutes(end):
                return HoursState.OPEN
        return HoursState.CLOSED

    def to_dict(self) -> dict[str, Any]:
        return {
            "time_zone": self.time_zone,
            "weekly": {
                day: [list(r) for r in self.weekly.get(day, ())] for day in WEEKDAYS
            },
            "holidays": [
                {"date": h.date.isoformat(), "name": h.name} for h in self.holidays
            ],
        }

    @classmethod
    def from_dict(cls, data: object) -> Calendar:
        return _Reader().calendar(data)


def always_open(time_zone: str = "UTC") -> Calendar:
    """The calendar of a line that never closes: what holds until one is set."""
    return Calendar(time_zone, {day: (("00:00", END_OF_DAY),) for day in WEEKDAYS})


#: The demo's holidays: US federal holidays the demo company closes on.
_DEMO_HOLIDAYS: Final = """
2026-01-01 New Year's Day
2026-05-25 Memorial Day
2026-07-03 Independence Day (observed)
2026-09-07 Labor Day
2026-11-26 Thanksgiving Day
2026-12-25 Christmas Day
2027-01-01 New Year's Day
2027-05-31 Memorial Day
2027-07-05 Independence Day (observed)
2027-09-06 Labor Day
2027-11-25 Thanksgiving Day
2027-12-24 Christmas Day (observed)
"""


def demo_calendar() -> Calendar:
    """Northwind Appliances: weekdays 08-20, Saturday 09-17, US holidays."""
    weekly = {day: (("08:00", "20:00"),) for day in WEEKDAYS[:5]}
    weekly["sat"] = (("09:00", "17:00"),)
    holidays = tuple(
        Holiday(dt.date.fromisoformat(day), name)
        for day, name in (
            line.split(" ", 1) for line in _DEMO_HOLIDAYS.split("\n") if line
        )
    )
    return Calendar("America/New_York", weekly, holidays)


# Checks shared by the constructor and the reader of plain data.

#: What the reader puts where a range is not even a pair; reported already.
_NOT_A_RANGE: Final = ("", "")


def _check(
    time_zone: object,
    weekly: Mapping[str, tuple[Range, ...]],
    holidays: tuple[Holiday, ...],
    problems: list[Problem],
) -> ZoneInfo | None:
    zone = _zone(time_zone, problems)
    for day, ranges in weekly.items():
        _check_day(day, ranges, problems)
    _check_holidays(holidays, problems)
    return zone


def _day(holiday: Holiday) -> dt.date:
    return holiday.date


def _zone(name: object, problems: list[Problem]) -> ZoneInfo | None:
    if not isinstance(name, str) or len(name) > 64 or not _ZONE.fullmatch(name):
        problems.append(Problem("time_zone", "must be a time zone name"))
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        sentence = f"unknown time zone '{name}' (e.g. America/New_York)"
        problems.append(Problem("time_zone", sentence))
        return None


def _minutes(time: str) -> int:
    hours, minutes = time.split(":")
    return int(hours) * 60 + int(minutes)


def _check_day(day: str, ranges: tuple[Range, ...], problems: list[Problem]) -> None:
    path = f"weekly.{day}"
    if day not in WEEKDAYS:
        problems.append(Problem(path, f"unknown day; days are {', '.join(WEEKDAYS)}"))
    if len(ranges) > MAX_RANGES_PER_DAY:
        sentence = f"{len(ranges)} ranges, at most {MAX_RANGES_PER_DAY}"
        problems.append(Problem(path, sentence))
    good = [(r, i) for i, r in enumerate(ranges) if _check_range(r, path, i, problems)]
    good.sort(key=lambda item: _minutes(item[0][0]))
    for (before, _), (after, i) in zip(good, good[1:], strict=False):
        if _minutes(after[0]) < _minutes(before[1]):
            sentence = f"{'-'.join(after)} overlaps {'-'.join(before)}"
            problems.append(Problem(f"{path}.{i}", sentence))


def _check_range(value: Range, path: str, index: int, problems: list[Problem]) -> bool:
    place = f"{path}.{index}"
    if value == _NOT_A_RANGE:
        return False
    start, end = value
    for name, time in (("open", start), ("close", end)):
        if not _TIME.fullmatch(time):
            sentence = "must be a time HH:MM from 00:00 to 24:00"
            problems.append(Problem(f"{place}.{name}", sentence))
            return False
    if start == END_OF_DAY:
        problems.append(Problem(f"{place}.open", "a day's hours cannot open at 24:00"))
        return False
    if _minutes(end) <= _minutes(start):
        sentence = (
            f"closes at {end}, not after it opens at {start}; write hours past "
            "midnight as two ranges, one ending 24:00, the next day's from 00:00"
        )
        problems.append(Problem(f"{place}.close", sentence))
        return False
    return True


def _check_holidays(holidays: tuple[Holiday, ...], problems: list[Problem]) -> None:
    if len(holidays) > MAX_HOLIDAYS:
        sentence = f"{len(holidays)} holidays, at most {MAX_HOLIDAYS}"
        problems.append(Problem("holidays", sentence))
    seen: dict[dt.date, int] = {}
    for i, holiday in enumerate(holidays):
        name = holiday.name
        if not name.strip() or len(name) > MAX_HOLIDAY_NAME or not name.isprintable():
            sentence = f"must be printable text of 1 to {MAX_HOLIDAY_NAME} characters"
            problems.append(Problem(f"holidays.{i}.name", sentence))
        if holiday.date == dt.date.min:
            continue  # not a date; reported already
        if holiday.date in seen:
            sentence = f"the same date as holidays.{seen[holiday.date]}"
            problems.append(Problem(f"holidays.{i}.date", sentence))
        seen.setdefault(holiday.date, i)


# The reader of plain data: checks the shapes, then the calendar itself.


class _Reader:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, path: str, sentence: str) -> None:
        self.problems.append(Problem(path, sentence))

    def calendar(self, data: object) -> Calendar:
        doc = self.mapping(data, "(top)")
        for name in doc:
            if name not in ("time_zone", "weekly", "holidays"):
                self.fail(name, "unknown field")
        weekly = self.weekly(doc.get("weekly"))
        holidays = self.holidays(doc.get("holidays", []))
        time_zone = doc.get("time_zone")
        _check(time_zone, weekly, holidays, self.problems)
        if self.problems or not isinstance(time_zone, str):
            raise HoursError(self.problems)
        return Calendar(time_zone, weekly, holidays)

    def mapping(self, data: object, path: str) -> dict[str, object]:
        if isinstance(data, dict) and all(isinstance(k, str) for k in data):
            return data
        self.fail(path, "must be a mapping with text keys")
        return {}

    def weekly(self, data: object) -> dict[str, tuple[Range, ...]]:
        doc = self.mapping(data, "weekly")
        out = {}
        for day, ranges in doc.items():
            path = f"weekly.{day}"
            if not isinstance(ranges, list):
                self.fail(path, "must be a list of [open, close] pairs")
                continue
            out[day] = tuple(self.range(r, f"{path}.{i}") for i, r in enumerate(ranges))
        return out

    def range(self, data: object, path: str) -> Range:
        if isinstance(data, list) and len(data) == 2:
            if all(isinstance(t, str) and len(t) <= 5 for t in data):
                return data[0], data[1]
        self.fail(path, 'must be a pair of times, e.g. ["08:00", "20:00"]')
        return _NOT_A_RANGE

    def holidays(self, data: object) -> tuple[Holiday, ...]:
        if not isinstance(data, list) or len(data) > MAX_HOLIDAYS:
            self.fail("holidays", f"must be a list of at most {MAX_HOLIDAYS} holidays")
            return ()
        return tuple(self.holiday(h, f"holidays.{i}") for i, h in enumerate(data))

    def holiday(self, data: object, path: str) -> Holiday:
        doc = self.mapping(data, path)
        for key in doc:
            if key not in ("date", "name"):
                self.fail(f"{path}.{key}", "unknown field")
        name = doc.get("name")
        if not isinstance(name, str):
            self.fail(f"{path}.name", "must be text")
        text = name if isinstance(name, str) else "-"
        return Holiday(self.date(doc.get("date"), f"{path}.date"), text)

    def date(self, value: object, path: str) -> dt.date:
        if isinstance(value, str) and _DATE.fullmatch(value):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        self.fail(path, "must be a date YYYY-MM-DD that exists")
        return dt.date.min

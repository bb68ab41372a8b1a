"""When a callback is due: the time asked for, read against opening hours.

A customer asks to be called back as soon as possible or within a window
such as ``12:00-17:00`` in the line's time zone, and may name the date. The
callback is due at the first instant, never before now, at which the line
is open and the wall clock is inside the window: a window that starts
before the line opens is due when it opens. A request that cannot be kept
as asked is refused with :class:`WindowError`, whose message tells the
customer why in a sentence they can act on.

Theory of operation. A calendar is open or not by the wall clock of its
zone (``Calendar.state_at``), and the wall clock does not follow real time
one to one: on the day the clocks go forward some wall times never come,
on the day they go back some come twice. So the stretch of real time asked
about is cut into pieces where the zone's UTC offset changes. Inside a
piece the wall clock is real time plus one fixed offset, and each opening
range of each local date, narrowed to the window, is one span of real time:
the range minus that offset, clipped to the piece. The spans come out in
order of time; the first one is the answer. The hour skipped gives no span,
the hour repeated gives two. Nothing here does I/O or reads a clock: `now`
is always given.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator
from typing import Final
from zoneinfo import ZoneInfo

from ivr.hours import WEEKDAYS, Calendar
from signaling.errors import IvrError

#: How far ahead a callback without a date is looked for.
LOOKAHEAD_DAYS: Final = 14
#: How far ahead a date may be booked.
MAX_DAYS_AHEAD: Final = 30
DAY_MINUTES: Final = 24 * 60

Window = tuple[int, int]
Span = tuple[dt.datetime, dt.datetime]

_CLOCK = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]"
_WINDOW: Final = re.compile(rf"({_CLOCK})-({_CLOCK}|24:00)")
_MAX_WINDOW_CHARS: Final = len("00:00-24:00")
_WHOLE_DAY: Final = (0, DAY_MINUTES)
_DAY: Final = dt.timedelta(days=1)
#: Offset changes are looked for at this step; two changes closer together
#: than this (none in the time zone database) would go unseen.
_SCAN_STEP: Final = dt.timedelta(hours=6)
_TICK: Final = dt.timedelta(microseconds=1)
_DAY_NAMES: Final = (
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
)  # fmt: skip
_MONTH_NAMES: Final = (
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
)  # fmt: skip


class WindowError(IvrError):
    """A callback time that cannot be kept; the message tells the customer
    why (it never repeats what they typed, which may hold their number)."""

    code = "invalid-window"
    recoverable = True


def parse_window(text: str) -> Window | None:
    """Minutes of the day `[start, end)` of a window; None for ``""``, which
    asks for as soon as possible. The window ends the day it starts."""
    if text == "":
        return None
    ok = isinstance(text, str) and len(text) <= _MAX_WINDOW_CHARS
    match = _WINDOW.fullmatch(text) if ok else None
    if match is None:
        raise WindowError(
            "A time window is two times of the day, 24-hour, e.g. 12:00-17:00."
        )
    start, end = (_clock_minutes(t) for t in match.groups())
    if end <= start:
        raise WindowError(
            "A time window ends after it starts on the same day, e.g. 17:00-24:00."
        )
    return start, end


def next_open(calendar: Calendar, after: dt.datetime) -> dt.datetime | None:
    """The first instant at or after `after` at which `calendar` is open, in
    UTC; None when it stays shut for the next :data:`LOOKAHEAD_DAYS` days."""
    start = _utc(after, "after")
    end = start + LOOKAHEAD_DAYS * _DAY
    first = next(_spans(calendar, start, end, _WHOLE_DAY), None)
    return None if first is None else first[0]


def due_at(
    calendar: Calendar,
    now: dt.datetime,
    window: str = "",
    date: dt.date | None = None,
) -> dt.datetime:
    """When a callback asked for at `now` becomes due, in UTC.

    `window` and `date` are the customer's (see the module's docstring);
    :class:`WindowError` when the line is never open as asked.
    """
    now = _utc(now, "now")
    minutes = parse_window(window)
    if date is not None:
        return _due_on(calendar, now, minutes, date)
    if minutes is not None:
        return _due_in_window(calendar, now, minutes)
    due = next_open(calendar, now)
    if due is None:
        raise WindowError(
            f"We are closed for the next {LOOKAHEAD_DAYS} days, so no callback "
            "can be planned yet."
        )
    return due


def retry_at(calendar: Calendar, now: dt.datetime, delay_s: float) -> dt.datetime:
    """When a callback whose dial failed at `now` is due again: after the
    delay, inside opening hours. A line that does not open in the next
    :data:`LOOKAHEAD_DAYS` days gets the bare delay (offers wait for it)."""
    if not math.isfinite(delay_s) or delay_s < 0:
        raise ValueError(f"a retry delay is a number of seconds >= 0, not {delay_s}")
    then = _utc(now, "now") + dt.timedelta(seconds=delay_s)
    return next_open(calendar, then) or then


def describe(
    calendar: Calendar, due: dt.datetime, window: str, now: dt.datetime
) -> str:
    """When the customer will be called, as they will hear it and read it:
    "as soon as possible", "today from 08:00", "tomorrow between 09:00
    and 12:00", "on Monday 7 December between 09:00 and 12:00"."""
    minutes = parse_window(window)
    local = _wall(calendar, _utc(due, "due"))
    today = _wall(calendar, _utc(now, "now")).date()
    day = _day_words(local.date(), today)
    if minutes is not None:
        start, end = (_clock_text(m) for m in minutes)
        return f"{day} between {start} and {end}"
    if due <= now:
        return "as soon as possible"
    return f"{day} from {local:%H:%M}"


# The rules: a window on any day, or a day (with or without a window).


def _due_in_window(calendar: Calendar, now: dt.datetime, window: Window) -> dt.datetime:
    today = _wall(calendar, now).date()
    last = today + LOOKAHEAD_DAYS * _DAY
    first = next(_spans(calendar, now, _bounds(last)[1], window, (today, last)), None)
    if first is None:
        start, end = (_clock_text(m) for m in window)
        raise WindowError(
            f"We are closed between {start} and {end} every day of the next "
            f"{LOOKAHEAD_DAYS} days; please choose a time within opening hours."
        )
    return first[0]


def _due_on(
    calendar: Calendar, now: dt.datetime, window: Window | None, day: dt.date
) -> dt.datetime:
    wall = _wall(calendar, now)
    _check_day(day, wall, window)
    start, end = _bounds(day)
    minutes = window or _WHOLE_DAY
    first = next(_spans(calendar, max(now, start), end, minutes, (day, day)), None)
    if first is None:
        raise WindowError(_closed_then(calendar, day, window, wall.date()))
    return first[0]


def _check_day(day: dt.date, wall: dt.datetime, window: Window | None) -> None:
    """Refuses a day that is gone, too far ahead, or whose window has ended."""
    today = wall.date()
    if day < today:
        raise WindowError("That day has passed; please choose today or a later day.")
    if day > today + MAX_DAYS_AHEAD * _DAY:
        raise WindowError(
            f"A callback can be booked at most {MAX_DAYS_AHEAD} days ahead; "
            "please choose an earlier day."
        )
    if day == today and window and wall.hour * 60 + wall.minute >= window[1]:
        raise WindowError(
            f"That window ended at {_clock_text(window[1])} today; please "
            "choose a later time or another day."
        )


def _closed_then(
    calendar: Calendar, day: dt.date, window: Window | None, today: dt.date
) -> str:
    """Why the line is never open on `day` in `window` (from now on)."""
    name = _date_words(day, today)
    holiday = next((h for h in calendar.holidays if h.date == day), None)
    if holiday is not None:
        return f"We are closed then: {name} is a holiday ({holiday.name})."
    hours = calendar.weekly.get(WEEKDAYS[day.weekday()], ())
    if not hours:
        return f"We are closed then: we do not open on {_DAY_NAMES[day.weekday()]}s."
    opening = ", ".join(f"{start}-{end}" for start, end in hours)
    if not _open_minutes(calendar, day, window or _WHOLE_DAY):
        return f"We are closed then: on {name} we are open {opening}."
    start, end = _bounds(day)
    if next(_spans(calendar, start, end, window or _WHOLE_DAY, (day, day)), None):
        what = "that window" if window else "the day"
        return f"We are closed for the rest of {what} today; we are open {opening}."
    return f"We are closed then: on {name} the clocks go forward over those hours."


# Open spans of real time, piece by piece of constant UTC offset.


def _spans(
    calendar: Calendar,
    start: dt.datetime,
    end: dt.datetime,
    window: Window,
    days: tuple[dt.date, dt.date] | None = None,
) -> Iterator[Span]:
    """In order, the spans of `[start, end)` at which `calendar` is open and
    its wall clock is inside `window`, on local dates within `days`."""
    zone = ZoneInfo(calendar.time_zone)
    holidays = {h.date for h in calendar.holidays}
    for low, high, offset in _pieces(zone, start, end):
        wall_low, wall_high = _naive(low + offset), _naive(high + offset)
        day = wall_low.date()
        while day <= (wall_high - _TICK).date():
            if day not in holidays and (days is None or days[0] <= day <= days[1]):
                for wall_begin, wall_stop in _wall_spans(
                    calendar, day, window, wall_low, wall_high
                ):
                    yield _aware(wall_begin - offset), _aware(wall_stop - offset)
            day += _DAY


def _wall_spans(
    calendar: Calendar,
    day: dt.date,
    window: Window,
    wall_low: dt.datetime,
    wall_high: dt.datetime,
) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """`day`'s open ranges inside `window`, as wall times clipped to a piece."""
    midnight = dt.datetime.combine(day, dt.time())
    for begin, stop in _open_minutes(calendar, day, window):
        wall_begin = max(wall_low, midnight + dt.timedelta(minutes=begin))
        wall_stop = min(wall_high, midnight + dt.timedelta(minutes=stop))
        if wall_begin < wall_stop:
            yield wall_begin, wall_stop


def _open_minutes(calendar: Calendar, day: dt.date, window: Window) -> list[Window]:
    """The opening ranges of `day`'s weekday narrowed to `window`, in order."""
    out = []
    for start, end in calendar.weekly.get(WEEKDAYS[day.weekday()], ()):
        low = max(_clock_minutes(start), window[0])
        high = min(_clock_minutes(end), window[1])
        if low < high:
            out.append((low, high))
    return out


def _pieces(
    zone: ZoneInfo, start: dt.datetime, end: dt.datetime
) -> Iterator[tuple[dt.datetime, dt.datetime, dt.timedelta]]:
    """`[start, end)` cut where the zone's UTC offset changes, each piece
    with its offset."""
    while start < end:
        offset = _offset(zone, start)
        stop = _offset_change(zone, start, end, offset)
        yield start, stop, offset
        start = stop


def _offset_change(
    zone: ZoneInfo, start: dt.datetime, end: dt.datetime, offset: dt.timedelta
) -> dt.datetime:
    """The first instant after `start` whose offset is not `offset`, or `end`."""
    low = start
    while low < end:
        high = min(low + _SCAN_STEP, end)
        if _offset(zone, high) != offset:
            while high - low > _TICK:
                middle = low + (high - low) // 2
                if _offset(zone, middle) == offset:
                    low = middle
                else:
                    high = middle
            return high
        low = high
    return end


def _offset(zone: ZoneInfo, when: dt.datetime) -> dt.timedelta:
    return _naive(when.astimezone(zone)) - _naive(when.astimezone(dt.UTC))


def _bounds(day: dt.date) -> Span:
    """Instants surely before and after the whole of `day` in any zone (UTC
    offsets stay within a day either way)."""
    midnight = _aware(dt.datetime.combine(day, dt.time()))
    return midnight - _DAY, midnight + 2 * _DAY


# Small conversions.


def _utc(when: dt.datetime, name: str) -> dt.datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{name} carries no time zone")
    return when.astimezone(dt.UTC)


def _wall(calendar: Calendar, when: dt.datetime) -> dt.datetime:
    """The calendar's wall clock at `when`, without a zone."""
    return _naive(when.astimezone(ZoneInfo(calendar.time_zone)))


def _naive(when: dt.datetime) -> dt.datetime:
    return when.replace(tzinfo=None)


def _aware(utc_wall: dt.datetime) -> dt.datetime:
    return utc_wall.replace(tzinfo=dt.UTC)


def _clock_minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _day_words(day: dt.date, today: dt.date) -> str:
    if day == today:
        return "today"
    if day == today + _DAY:
        return "tomorrow"
    return f"on {_date_words(day, today)}"


def _date_words(day: dt.date, today: dt.date) -> str:
    """The weekday, day and month, and the year when it is not this year."""
    words = f"{_DAY_NAMES[day.weekday()]} {day.day} {_MONTH_NAMES[day.month - 1]}"
    return words if day.year == today.year else f"{words} {day.year}"

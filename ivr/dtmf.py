"""Keypad digits from SIP INFO bodies and RFC 4733 telephone-events.

A caller's keypad reaches a SIP media worker in one of three ways: an INFO
request (`parse_info`), RTP telephone-event packets (`parse_rtp`,
`parse_event_payload`, then `EventAssembler.feed`), or the events pjsua2
has already decoded from those packets (`EventAssembler.feed_digit`).
Tones in the audio itself are `ivr.inband`'s. Nothing here does I/O or
logs: the worker logs what comes out, with the call's id.
"""

from __future__ import annotations

import re
import struct
from collections import deque
from dataclasses import dataclass
from typing import Final, NamedTuple

from signaling.errors import SipError

#: The keypad, in the order of RFC 4733 event codes 0 to 15.
DIGITS: Final = "0123456789*#ABCD"
#: An INFO body longer than this is not a digit, whatever it says.
MAX_INFO_BODY: Final = 1024
#: A press that gets no packet for this long is taken as over (`expire`);
#: senders have been seen to pause 1.3 s between updates (case 20).
END_TIMEOUT_S: Final = 2.0
#: How many presses are remembered, so that late packets start none.
REMEMBERED_PRESSES: Final = 64
#: The longest duration one packet can state; longer presses are split
#: into segments whose timestamps are this far apart (RFC 4733 s2.5.1.3).
MAX_SEGMENT: Final = 0xFFFF

_INFO_TYPES: Final = frozenset({"application/dtmf-relay", "application/dtmf"})
_LINE_ENDS: Final = re.compile(r"\r\n|\r|\n")
_RTP: Final = struct.Struct("!BBHII")
_EVENT: Final = struct.Struct("!BBH")
_UPDATE_S: Final = 0.020


class RtpError(SipError, ValueError):
    """An RTP packet or telephone-event payload that cannot be read."""

    code = "invalid-rtp"
    recoverable = True


# SIP INFO


@dataclass(frozen=True, slots=True)
class InfoDigit:
    digit: str
    duration_ms: int | None


def parse_info(content_type: str, body: bytes | str) -> InfoDigit | None:
    """The digit an INFO request carries, or None when it carries none.

    Bodies come from the network: anything unexpected means no digit,
    never an exception.
    """
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type not in _INFO_TYPES or len(body) > MAX_INFO_BODY:
        return None
    if isinstance(body, bytes):
        body = body.decode("ascii", "replace")

    if media_type == "application/dtmf":
        digit = _signal(body)
        return None if digit is None else InfoDigit(digit, None)

    # application/dtmf-relay: "Signal=" and "Duration=" lines, any order,
    # any case, spaces around the "="; the first of each counts.
    fields: dict[str, str] = {}
    for line in _LINE_ENDS.split(body):
        key, equals, value = line.partition("=")
        key = key.strip().lower()
        if equals and key in ("signal", "duration"):
            fields.setdefault(key, value.strip())

    digit = _signal(fields.get("signal", ""))
    if digit is None:
        return None
    return InfoDigit(digit, _duration(fields.get("duration", "")))


def _signal(value: str) -> str | None:
    """A keypad character, or an event code 0-15 (10 is '*', 11 '#')."""
    value = value.strip()
    if len(value) == 1 and value.upper() in DIGITS:
        return value.upper()
    if value.isascii() and value.isdigit() and len(value) <= 3:
        code = int(value)
        return DIGITS[code] if code < len(DIGITS) else None
    return None


def _duration(value: str) -> int | None:
    if value.isascii() and value.isdigit() and len(value) <= 6:
        return int(value)
    return None


# RTP and RFC 4733 payloads


@dataclass(frozen=True, slots=True)
class RtpHeader:
    version: int
    marker: bool
    pt: int
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes


class EventPayload(NamedTuple):
    event: int
    end: bool
    volume: int
    duration: int


def parse_rtp(packet: bytes) -> RtpHeader:
    """Read an RTP packet: header, CSRCs, extension and padding skipped."""
    if len(packet) < _RTP.size:
        raise RtpError("RTP packet shorter than its header")
    first, second, seq, timestamp, ssrc = _RTP.unpack_from(packet)
    if first >> 6 != 2:
        raise RtpError(f"RTP version {first >> 6}, not 2")

    start = _RTP.size + 4 * (first & 0x0F)
    if first & 0x10:  # an extension: 4 bytes, the last two its length in words
        if len(packet) < start + 4:
            raise RtpError("RTP header extension cut short")
        start += 4 + 4 * int.from_bytes(packet[start + 2 : start + 4], "big")
    end = len(packet)
    if first & 0x20:  # padding, its length in the last byte
        end -= packet[-1]
        if packet[-1] == 0:
            raise RtpError("RTP padding of length 0")
    if end < start:
        raise RtpError("RTP packet shorter than its header says")

    payload = bytes(packet[start:end])
    return RtpHeader(
        2, bool(second & 0x80), second & 0x7F, seq, timestamp, ssrc, payload
    )


def parse_event_payload(payload: bytes) -> EventPayload:
    """Read an RFC 4733 telephone-event payload (the first 4 bytes)."""
    if len(payload) < _EVENT.size:
        raise RtpError("telephone-event payload shorter than 4 bytes")
    event, flags, duration = _EVENT.unpack_from(payload)
    return EventPayload(event, bool(flags & 0x80), flags & 0x3F, duration)


def encode_event_packets(
    digit: str,
    duration_ms: int,
    clock_rate: int = 8000,
    *,
    seq: int,
    timestamp: int,
    ssrc: int,
    pt: int = 101,
    volume: int = 10,
) -> list[bytes]:
    """The RTP packets a phone sends for one press of `digit`.

    The first has the marker, updates follow every 20 ms and the end goes
    three times; all have `timestamp`, sequence numbers count up from `seq`.
    """
    if len(digit) != 1 or digit.upper() not in DIGITS:
        raise ValueError(f"not a keypad digit: {digit!r}")
    units = duration_ms * clock_rate // 1000
    if not 0 < units <= MAX_SEGMENT:
        raise ValueError("duration out of range for one telephone-event")
    if not (0 <= pt < 128 and 0 <= volume < 64):
        raise ValueError("payload type or volume out of range")

    step = round(clock_rate * _UPDATE_S)
    reports = [(d, False) for d in range(step, units, step)] + [(units, True)] * 3
    event = DIGITS.index(digit.upper())
    packets = []
    for n, (duration, end) in enumerate(reports):
        header = _RTP.pack(
            0x80,
            (0x80 if n == 0 else 0) | pt,
            (seq + n) & 0xFFFF,
            timestamp & 0xFFFFFFFF,
            ssrc & 0xFFFFFFFF,
        )
        packets.append(
            header + _EVENT.pack(event, (0x80 if end else 0) | volume, duration)
        )
    return packets


# Key presses from telephone-events
#
# RFC 4733 s2.5: every packet of one press carries the timestamp of its
# start, updates raise the duration, and the end (E bit) is sent three
# times. So a press is known by its timestamp: a new timestamp starts a
# new press (the marker bit is not needed, some carriers never set it),
# the same timestamp is the same press however long the updates pause,
# and a timestamp already seen never starts another. A press is reported
# twice: as it starts (so the IVR acts at once) and, once, as it ends,
# with its duration. Its end packet may be lost: the next press, `expire`
# or `flush` then ends it, with the last duration heard.


@dataclass(frozen=True, slots=True)
class KeyPress:
    """A press that starts (`end` False, `duration_ms` None) or ends."""

    digit: str
    end: bool
    duration_ms: int | None
    timestamp: int


@dataclass(slots=True)
class _Press:
    timestamp: int
    event: int
    rate: int  # of the duration units: the RTP clock, or 1000 for ms
    segment: int  # timestamp of the segment being updated
    base: int = 0  # units of the segments before it
    units: int = 0
    seen_s: float | None = None
    ended: bool = False

    def end_press(self) -> KeyPress:
        self.ended = True
        duration_ms = (self.units * 1000 + self.rate // 2) // self.rate
        return KeyPress(DIGITS[self.event], True, duration_ms, self.timestamp)


class EventAssembler:
    """Key presses from one stream of telephone-events (one per SSRC)."""

    def __init__(
        self, clock_rate: int = 8000, end_timeout_s: float = END_TIMEOUT_S
    ) -> None:
        if clock_rate <= 0:
            raise ValueError("clock_rate must be positive")
        self.clock_rate = clock_rate
        self.end_timeout_s = end_timeout_s
        self._press: _Press | None = None
        self._seen: deque[int] = deque(maxlen=REMEMBERED_PRESSES)

    def feed(
        self,
        timestamp: int,
        event: int,
        end: bool,
        duration: int,
        marker: bool = False,
        arrival_s: float | None = None,
    ) -> list[KeyPress]:
        """Take one telephone-event packet; `duration` in RTP clock units."""
        press = self._press
        if press is not None and not press.ended and press.event == event:
            # A press longer than one packet can state goes on in a new
            # segment (RFC 4733 s2.5.1.3): no marker, timestamp moved on.
            if not marker and timestamp == (press.segment + MAX_SEGMENT) % 2**32:
                press.segment = timestamp
                press.base += MAX_SEGMENT
                self._seen.append(timestamp)
            if timestamp == press.segment:
                timestamp, duration = press.timestamp, press.base + duration
        return self._take(timestamp, event, end, duration, self.clock_rate, arrival_s)

    def feed_digit(
        self,
        timestamp: int,
        digit: str,
        end: bool,
        duration_ms: int,
        arrival_s: float | None = None,
    ) -> list[KeyPress]:
        """Take one pjsua2 `onDtmfEvent` of an RTP digit (method 0).

        `end` is flags & 2; the timestamp keys the press as in `feed`.
        """
        if len(digit) != 1 or digit.upper() not in DIGITS:
            return []
        event = DIGITS.index(digit.upper())
        return self._take(timestamp, event, end, duration_ms, 1000, arrival_s)

    def expire(self, now_s: float) -> list[KeyPress]:
        """End the open press if no packet came for `end_timeout_s`."""
        deadline = self.deadline()
        if deadline is None or now_s < deadline:
            return []
        return self.flush()

    def deadline(self) -> float | None:
        """When `expire` will end the open press, if a packet had a time."""
        press = self._press
        if press is None or press.ended or press.seen_s is None:
            return None
        return press.seen_s + self.end_timeout_s

    def flush(self) -> list[KeyPress]:
        """End the open press now (the stream stopped, the call ended)."""
        press = self._press
        if press is None or press.ended:
            return []
        return [press.end_press()]

    def _take(
        self,
        timestamp: int,
        event: int,
        end: bool,
        units: int,
        rate: int,
        arrival_s: float | None,
    ) -> list[KeyPress]:
        if not 0 <= event < len(DIGITS):
            return []  # other events (flash, tones) are no digits

        pressed: list[KeyPress] = []
        press = self._press
        if press is None or timestamp != press.timestamp:
            if timestamp in self._seen:
                return []  # a late packet of a press already over
            pressed = self.flush()
            press = self._press = _Press(timestamp, event, rate, timestamp)
            self._seen.append(timestamp)
            pressed.append(KeyPress(DIGITS[event], False, None, timestamp))

        if press.ended or event != press.event:
            return pressed
        units = max(units, 0)
        press.units = units if end else max(press.units, units)
        if arrival_s is not None:
            press.seen_s = arrival_s
        if end:
            pressed.append(press.end_press())
        return pressed

"""ivr.dtmf: INFO bodies, RTP telephone-events and the key presses they make.

Cases 13 (INFO body with spaces), 20 (a long press whose updates pause)
and 09 (telephone-event negotiated at 8000 Hz) are replayed here.
"""

from __future__ import annotations

import csv
import io
import struct
from collections import Counter
from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.dtmf import (
    DIGITS,
    MAX_INFO_BODY,
    MAX_SEGMENT,
    EventAssembler,
    EventPayload,
    InfoDigit,
    KeyPress,
    RtpError,
    encode_event_packets,
    parse_event_payload,
    parse_info,
    parse_rtp,
)
from signaling.errors import SipError
from signaling.sdp import check_sdp, telephone_event_for
from tests.cases import case_bytes, case_sdp, case_text


def split_request(raw: bytes) -> tuple[str, bytes]:
    """The Content-Type and the body of a SIP request."""
    head, _, body = raw.partition(b"\r\n\r\n")
    for line in head.decode().split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-type":
            return value.strip(), body
    raise AssertionError("no Content-Type")


CONTENT_TYPE_13, BODY_13 = split_request(
    case_bytes("13-sip-info-dtmf-relay-spaces-after-equals")
)
RELAY = "application/dtmf-relay"


# Case 13: INFO application/dtmf-relay with a space after "="


def test_13_captured_body_gives_hash_for_120_ms() -> None:
    assert BODY_13 == b"Signal= #\r\nDuration= 120\r\n"
    assert parse_info(CONTENT_TYPE_13, BODY_13) == InfoDigit("#", 120)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(BODY_13.replace(b"= ", b"="), id="no spaces"),
        pytest.param(b" " + BODY_13.replace(b"\r\n", b"\r\n "), id="leading spaces"),
        pytest.param(BODY_13.replace(b"\r\n", b"\n"), id="LF endings"),
        pytest.param(BODY_13.replace(b"= #", b"=11"), id="event code 11"),
        pytest.param(BODY_13.replace(b"= #", b"= 11 "), id="event code, spaces"),
        pytest.param(BODY_13 + b"Volume=10\r\nX-Foo: bar\r\n\r\n", id="extra lines"),
        pytest.param(BODY_13.replace(b"=", b" = "), id="spaces before ="),
        pytest.param(BODY_13.replace(b" ", b"\t"), id="tabs"),
        pytest.param(b"signal=#\r\nDURATION=120", id="key case, no final CRLF"),
        pytest.param(b"Duration=120\r\nSignal=#\r\n", id="duration first"),
        pytest.param(BODY_13.replace(b"\r\n", b"\r"), id="CR endings"),
    ],
)
def test_13_variants_give_the_same_digit(body: bytes) -> None:
    assert parse_info(CONTENT_TYPE_13, body) == InfoDigit("#", 120)
    assert parse_info(CONTENT_TYPE_13, body.decode()) == InfoDigit("#", 120)


@pytest.mark.parametrize(
    "body",
    [
        b"Signal=\r\nDuration=120\r\n",
        b"Signal= \r\nDuration= 120\r\n",
        b"Signal\r\nDuration=120\r\n",
        b"Duration=120\r\n",
        b"",
        b"Signal=16\r\nDuration=120\r\n",  # flash, not a digit
        b"Signal=-1\r\n",
        b"Signal=X\r\n",
        b"Signal=##\r\n",
        b"Signal=1 2\r\n",
        b"Signal=#\x00\r\n",
        b"Signal=\x00\r\n",
        b"Signal=\xff\xfe\r\n",
        "Signal=\u0663\r\n".encode(),  # an Arabic-Indic 3
        "Signal=\u00b2\r\n".encode("latin-1"),  # a superscript 2
        b"Signal=9999999999999999999999\r\n",
    ],
)
def test_13_unknown_or_empty_signal_gives_no_digit(body: bytes) -> None:
    assert parse_info(RELAY, body) is None


def test_a_body_over_the_limit_gives_no_digit() -> None:
    padded = BODY_13 + b"X-Pad=" + b"x" * MAX_INFO_BODY + b"\r\n"

    assert parse_info(RELAY, padded) is None
    assert parse_info(RELAY, padded.decode()) is None
    assert parse_info(RELAY, BODY_13.ljust(MAX_INFO_BODY, b"\n")) == InfoDigit("#", 120)


@pytest.mark.parametrize(
    ("body", "duration"),
    [
        (b"Signal=5\r\nDuration=abc\r\n", None),
        (b"Signal=5\r\n", None),
        (b"Signal=5\r\nDuration=-40\r\n", None),
        (b"Signal=5\r\nDuration=0\r\n", 0),
        (b"Signal=5\r\nDuration=160\r\nDuration=80\r\n", 160),
    ],
)
def test_relay_duration(body: bytes, duration: int | None) -> None:
    assert parse_info(RELAY, body) == InfoDigit("5", duration)


@pytest.mark.parametrize("code", range(16))
def test_relay_event_codes(code: int) -> None:
    assert parse_info(RELAY, f"Signal={code}") == InfoDigit(DIGITS[code], None)
    assert parse_info(RELAY, f"Signal={DIGITS[code]}") == InfoDigit(DIGITS[code], None)


@pytest.mark.parametrize(
    ("content_type", "body", "digit"),
    [
        ("application/dtmf", b"7", "7"),
        ("application/dtmf", b" 7\r\n", "7"),
        ("application/dtmf", b"\r\n#\r\n", "#"),
        ("application/dtmf", b"11", "#"),
        ("application/dtmf", b"a", "A"),
        ("Application/DTMF; charset=UTF-8", b"*", "*"),
        ("APPLICATION/DTMF-RELAY ; charset=us-ascii", b"Signal=d", "D"),
        ("application/dtmf", b"Signal=7", None),
        ("application/dtmf", b"7 8", None),
        ("application/dtmf", b"", None),
        ("application/sdp", b"Signal=7", None),
        ("text/plain", b"7", None),
        ("", b"7", None),
        ("application/dtmf-relay-extra", b"Signal=7", None),
    ],
)
def test_content_types(content_type: str, body: bytes, digit: str | None) -> None:
    found = parse_info(content_type, body)

    assert (found.digit if found else None) == digit
    if found:
        assert found.duration_ms is None


INFO_TYPES = st.sampled_from(
    ["application/dtmf-relay", "application/dtmf", "Application/DTMF; x=y", "a/b"]
)


@given(INFO_TYPES, st.binary(max_size=2 * MAX_INFO_BODY) | st.text(max_size=300))
def test_info_never_raises_and_gives_only_keypad_digits(
    content_type: str, body: bytes | str
) -> None:
    found = parse_info(content_type, body)

    assert found is None or found.digit in DIGITS
    assert found is None or found.duration_ms is None or found.duration_ms >= 0


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Signal", " signal ", "Duration", "X", ""]),
            st.sampled_from(["=", " = ", ":", ""]),
            st.text(max_size=6),
        ),
        max_size=5,
    ),
    st.sampled_from(["\r\n", "\n", "\r"]),
)
def test_relay_shaped_bodies_never_give_a_space(
    lines: list[tuple[str, str, str]], end: str
) -> None:
    body = end.join("".join(line) for line in lines)

    found = parse_info(RELAY, body.encode())

    assert found is None or found.digit in DIGITS


# RTP packets and telephone-event payloads


def test_encoded_press_is_what_a_phone_sends() -> None:
    packets = encode_event_packets(
        "5", 212, seq=0xFFFE, timestamp=160000, ssrc=0x2A3B4C5D
    )
    headers = [parse_rtp(p) for p in packets]
    events = [parse_event_payload(h.payload) for h in headers]

    assert len(packets) == 10 + 3
    assert all(len(p) == 16 for p in packets)
    assert [h.seq for h in headers[:3]] == [0xFFFE, 0xFFFF, 0]
    assert [h.marker for h in headers] == [True] + [False] * 12
    assert {(h.version, h.pt, h.timestamp, h.ssrc) for h in headers} == {
        (2, 101, 160000, 0x2A3B4C5D)
    }
    assert [e.duration for e in events] == [*range(160, 1601, 160), 1696, 1696, 1696]
    assert [e.end for e in events] == [False] * 10 + [True] * 3
    assert {(e.event, e.volume) for e in events} == {(5, 10)}


def test_encoded_press_at_other_rates_and_shortest() -> None:
    wide = [
        parse_event_payload(parse_rtp(p).payload)
        for p in encode_event_packets("#", 100, 48000, seq=1, timestamp=2, ssrc=3)
    ]
    short = encode_event_packets("a", 10, seq=1, timestamp=2, ssrc=3, pt=96)

    assert [e.duration for e in wide] == [960, 1920, 2880, 3840, 4800, 4800, 4800]
    assert {e.event for e in wide} == {11}
    assert [parse_rtp(p).marker for p in short] == [True, False, False]
    assert {parse_event_payload(parse_rtp(p).payload) for p in short} == {
        EventPayload(12, True, 10, 80)
    }


@pytest.mark.parametrize(
    ("digit", "duration_ms", "rate"),
    [
        ("x", 100, 8000),
        ("", 100, 8000),
        ("12", 100, 8000),
        ("1", 0, 8000),
        ("1", 1400, 48000),
    ],
)
def test_encode_refuses(digit: str, duration_ms: int, rate: int) -> None:
    with pytest.raises(ValueError):
        encode_event_packets(digit, duration_ms, rate, seq=0, timestamp=0, ssrc=0)


def rtp(
    first: int = 0x80, payload: bytes = b"\x05\x0a\x00\xa0", tail: bytes = b""
) -> bytes:
    return struct.pack("!BBHII", first, 0x80 | 101, 7, 8, 9) + tail + payload


def test_rtp_with_csrcs_extension_and_padding() -> None:
    csrcs = rtp(0x82, tail=b"\x00\x00\x00\x01\x00\x00\x00\x02")
    extension = rtp(0x90, tail=b"\xbe\xde\x00\x01\x10\xaa\x00\x00")
    padded = rtp(0xA0, payload=b"\x05\x0a\x00\xa0\x00\x00\x03")

    for packet in (csrcs, extension, padded):
        header = parse_rtp(packet)
        assert (header.marker, header.pt, header.seq) == (True, 101, 7)
        assert (header.timestamp, header.ssrc) == (8, 9)
        assert header.payload == b"\x05\x0a\x00\xa0"


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        rtp()[:11],
        rtp(0x40),  # version 1
        rtp(0x8F, payload=b""),  # 15 CSRCs announced, none there
        rtp(0x90, payload=b"\xbe\xde"),  # extension cut short
        rtp(0x90, payload=b"\xbe\xde\x00\x09"),  # extension longer than the packet
        rtp(0xA0, payload=b"\x00"),  # padding of length 0
        rtp(0xA0, payload=b"\x01\x09"),  # more padding than payload
    ],
)
def test_malformed_rtp_is_refused(packet: bytes) -> None:
    with pytest.raises(RtpError) as refused:
        parse_rtp(packet)
    assert isinstance(refused.value, ValueError) and isinstance(refused.value, SipError)


def test_short_event_payload_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_event_payload(b"\x05\x0a\x00")
    assert parse_event_payload(b"\x0b\xbf\xff\xff\x99") == EventPayload(
        11, True, 63, 0xFFFF
    )


# Key presses


def starts(presses: Iterable[KeyPress]) -> list[str]:
    return [p.digit for p in presses if not p.end]


def ends(presses: Iterable[KeyPress]) -> list[tuple[str, int | None]]:
    return [(p.digit, p.duration_ms) for p in presses if p.end]


def feed_packets(assembler: EventAssembler, packets: Iterable[bytes]) -> list[KeyPress]:
    out: list[KeyPress] = []
    for packet in packets:
        header = parse_rtp(packet)
        event = parse_event_payload(header.payload)
        out += assembler.feed(
            header.timestamp, event.event, event.end, event.duration, header.marker
        )
    return out


# Case 20: one long press whose updates pause, then a late end


def case_20_rows(scale: int = 1, gap_ms: int = 0) -> list[tuple[float, bytes]]:
    """(arrival in s, RTP packet) per CSV row; durations times `scale`, and
    the packets from the third on `gap_ms` later."""
    text = case_text("20-rfc4733-long-press-with-update-gap")
    rows = []
    for n, row in enumerate(csv.DictReader(io.StringIO(text))):
        payload = bytes.fromhex(row["payload_hex"])
        assert parse_event_payload(payload) == EventPayload(
            int(row["event"]),
            row["end"] == "1",
            int(row["volume"]),
            int(row["duration"]),
        )
        payload = payload[:2] + struct.pack("!H", int(row["duration"]) * scale)
        header = struct.pack(
            "!BBHII",
            0x80,
            int(row["marker"]) << 7 | int(row["pt"]),
            int(row["seq"]),
            int(row["timestamp"]),
            int(row["ssrc"], 16),
        )
        arrival_ms = int(row["t_ms"]) + (gap_ms if n >= 2 else 0)
        rows.append((arrival_ms / 1000, header + payload))
    return rows


@pytest.mark.parametrize(
    ("scale", "gap_ms", "duration_ms"), [(1, 0, 212), (8, 1108, 1696)]
)
def test_20_long_press_with_update_gap_is_one_digit(
    scale: int, gap_ms: int, duration_ms: int
) -> None:
    assembler = EventAssembler(clock_rate=8000)
    rows = case_20_rows(scale, gap_ms)
    out: list[KeyPress] = []

    clock_ms = 0
    for arrival_s, packet in rows:
        while clock_ms < arrival_s * 1000:  # the worker's timer, every 10 ms
            out += assembler.expire(clock_ms / 1000)
            clock_ms += 10
        header = parse_rtp(packet)
        event = parse_event_payload(header.payload)
        out += assembler.feed(
            header.timestamp,
            event.event,
            event.end,
            event.duration,
            header.marker,
            arrival_s,
        )

    assert rows[2][0] - rows[1][0] == pytest.approx(0.192 + gap_ms / 1000)
    assert starts(out) == ["5"]
    assert ends(out) == [("5", duration_ms)]
    assert out[0] == KeyPress("5", False, None, 160000)
    assert assembler.flush() == [] and assembler.expire(1e9) == []


def test_20_as_pjsua2_reports_it() -> None:
    """onDtmfEvent's view of case 20: start, one update, the end."""
    assembler = EventAssembler()
    out = assembler.feed_digit(160000, "5", False, 20)
    out += assembler.feed_digit(160000, "5", False, 40)
    out += assembler.feed_digit(160000, "5", True, 212)
    out += assembler.feed_digit(160000, "5", True, 212)

    assert starts(out) == ["5"]
    assert ends(out) == [("5", 212)]


def test_20_end_copies_without_marker_after_a_restart() -> None:
    """A receiver started mid-press (no marker, first packet an update)."""
    assembler = EventAssembler()
    packets = [p for _, p in case_20_rows()][1:]

    assert ends(feed_packets(assembler, packets)) == [("5", 212)]


# Case 09: telephone-event at 8000 Hz on the trunk


def test_09_events_at_the_negotiated_8000_hz_decode() -> None:
    offer = check_sdp(
        case_sdp("09-telephone-event-same-pt-two-clock-rates"),
        kind="offer",
        profile="sip",
    )
    pt = telephone_event_for(offer.media[0], 8000)
    assert pt == 101
    packets = encode_event_packets("7", 100, 8000, seq=1, timestamp=0, ssrc=5, pt=pt)

    out = feed_packets(EventAssembler(clock_rate=8000), packets)
    wrong_rate = feed_packets(EventAssembler(clock_rate=16000), packets)

    assert starts(out) == ["7"] and ends(out) == [("7", 100)]
    assert ends(wrong_rate) == [("7", 50)]


def test_pjsua2_trace_of_one_digit() -> None:
    """As docs/sip-notes.md saw onDtmfEvent: flags 0, 1, 1, 3."""
    assembler = EventAssembler()
    out = [
        *assembler.feed_digit(1000, "1", False, 20),
        *assembler.feed_digit(1000, "1", False, 40),
        *assembler.feed_digit(1000, "1", False, 60),
        *assembler.feed_digit(1000, "1", True, 80),
    ]

    assert out == [KeyPress("1", False, None, 1000), KeyPress("1", True, 80, 1000)]
    assert assembler.feed_digit(1020, "R", False, 20) == []
    assert starts(assembler.feed_digit(1040, "b", True, 20)) == ["B"]


def press(
    digit: str, timestamp: int, duration_ms: int = 100, seq: int = 0
) -> list[bytes]:
    return encode_event_packets(
        digit, duration_ms, seq=seq, timestamp=timestamp, ssrc=1
    )


def test_same_digit_twice_without_markers_is_two_presses() -> None:
    assembler = EventAssembler()
    packets = press("5", 8000) + press("5", 9600)
    unmarked = [p[:1] + bytes([p[1] & 0x7F]) + p[2:] for p in packets]

    out = feed_packets(assembler, unmarked)

    assert starts(out) == ["5", "5"]
    assert ends(out) == [("5", 100), ("5", 100)]


def test_lost_end_does_not_hide_the_next_press() -> None:
    assembler = EventAssembler()
    first = press("1", 8000)[:-3]  # no end packets
    second = press("2", 9600)

    out = feed_packets(assembler, first + second)

    assert [(p.digit, p.end, p.duration_ms) for p in out] == [
        ("1", False, None),
        ("1", True, 80),  # the last update heard
        ("2", False, None),
        ("2", True, 100),
    ]


def test_late_and_reordered_packets_start_nothing() -> None:
    assembler = EventAssembler()
    first, second = press("1", 8000), press("2", 9600)

    out = feed_packets(assembler, first[:2] + second[:1] + first[2:] + second[1:])
    out += feed_packets(assembler, first + second)

    assert starts(out) == ["1", "2"]
    assert ends(out) == [("1", 40), ("2", 100)]


def test_a_press_heard_only_by_its_end() -> None:
    out = feed_packets(EventAssembler(), press("9", 0)[-3:])

    assert [(p.digit, p.end, p.duration_ms) for p in out] == [
        ("9", False, None),
        ("9", True, 100),
    ]


def test_other_events_and_mismatched_events_are_ignored() -> None:
    assembler = EventAssembler()

    assert assembler.feed(100, 16, False, 160) == []  # flash
    assert assembler.feed(100, 255, True, 160) == []
    assert starts(assembler.feed(200, 3, False, 160)) == ["3"]
    assert assembler.feed(200, 4, True, 320) == []  # same timestamp, other event
    assert ends(assembler.feed(200, 3, True, 320)) == [("3", 40)]


def test_expire_ends_a_press_whose_end_was_lost() -> None:
    assembler = EventAssembler(end_timeout_s=0.5)
    assembler.feed(0, 1, False, 160, True, arrival_s=10.0)
    assembler.feed(0, 1, False, 320, arrival_s=10.02)

    assert assembler.deadline() == pytest.approx(10.52)
    assert assembler.expire(10.5) == []
    assert ends(assembler.expire(10.52)) == [("1", 40)]
    assert assembler.expire(20.0) == [] and assembler.deadline() is None
    assert assembler.feed(0, 1, True, 800, arrival_s=10.6) == []  # its late end
    assert starts(assembler.feed(160, 1, False, 160, arrival_s=10.7)) == ["1"]


def test_without_arrival_times_only_flush_ends_a_press() -> None:
    assembler = EventAssembler()
    assembler.feed(0, 1, False, 160, True)

    assert assembler.deadline() is None and assembler.expire(1e9) == []
    assert ends(assembler.flush()) == [("1", 20)]
    assert assembler.flush() == []


def test_long_press_in_segments_is_one_press() -> None:
    """A 10 s press at 8000 Hz takes two segments (RFC 4733 s2.5.1.3)."""
    assembler = EventAssembler()
    start = 2**32 - 1000  # the second segment's timestamp wraps

    out = assembler.feed(start, 0, False, 160, True)
    out += assembler.feed(start, 0, False, MAX_SEGMENT)
    out += assembler.feed(start + MAX_SEGMENT - 2**32, 0, False, 160)
    out += assembler.feed(start, 0, False, 4000)  # a late one of segment 1
    out += assembler.feed(start + MAX_SEGMENT - 2**32, 0, True, 80000 - MAX_SEGMENT)

    assert out == [KeyPress("0", False, None, start), KeyPress("0", True, 10000, start)]


def test_a_marked_press_one_segment_later_is_a_new_press() -> None:
    assembler = EventAssembler()
    assembler.feed(0, 0, False, MAX_SEGMENT, True)

    out = assembler.feed(MAX_SEGMENT, 0, False, 160, True)

    assert ends(out) == [("0", 8192)] and starts(out) == ["0"]


def test_clock_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        EventAssembler(clock_rate=0)


TIMESTAMPS = st.sampled_from(
    [0, 1, 160, 1000, MAX_SEGMENT, 2 * MAX_SEGMENT, 2**32 - 1, MAX_SEGMENT - 1]
)
PACKETS = st.tuples(
    TIMESTAMPS,
    st.integers(0, 17),
    st.booleans(),
    st.integers(0, 0xFFFF),
    st.booleans(),
    st.floats(0, 10),
)


@given(st.lists(PACKETS | st.floats(0, 20), max_size=60), st.booleans())
def test_never_two_presses_for_one_timestamp(
    steps: list[tuple[int, int, bool, int, bool, float] | float], as_digits: bool
) -> None:
    """Whatever arrives, a timestamp starts at most one press, which ends
    at most once and after it started. (The assembler remembers the last
    64 presses; these runs have fewer.)"""
    assembler = EventAssembler()
    out: list[KeyPress] = []
    for step in steps:
        if isinstance(step, float):
            out += assembler.expire(step)
        elif as_digits:
            timestamp, event, end, duration, _, arrival = step
            digit = DIGITS[event] if event < 16 else "R"
            out += assembler.feed_digit(timestamp, digit, end, duration, arrival)
        else:
            out += assembler.feed(*step)
    out += assembler.flush()

    started = Counter(p.timestamp for p in out if not p.end)
    ended = Counter(p.timestamp for p in out if p.end)
    assert max(started.values(), default=1) == 1
    assert started == ended
    for n, key_press in enumerate(out):
        if key_press.end:
            assert (
                KeyPress(key_press.digit, False, None, key_press.timestamp) in out[:n]
            )

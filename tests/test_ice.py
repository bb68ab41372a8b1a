"""Trickle-ICE candidate grammar and the early-candidate queue, sans-I/O."""

from __future__ import annotations

from typing import Any

import pytest

from signaling.errors import CandidateError
from signaling.ice import (
    MAX_EARLY_CANDIDATES,
    Candidate,
    CandidateQueue,
    EndOfCandidates,
    parse_candidate,
    parse_candidate_line,
)
from tests.cases import case_json_lines

CASE_02 = case_json_lines("02-firefox-end-of-candidates-marker")

GOOD: list[tuple[str, str, dict[str, Any]]] = [
    (
        "chrome host",
        "candidate:2230855148 1 udp 2122063615 127.0.0.10 63188 typ host "
        "generation 0 network-id 1 network-cost 50",
        {
            "foundation": "2230855148",
            "transport": "udp",
            "port": 63188,
            "type": "host",
            "extensions": (
                ("generation", "0"),
                ("network-id", "1"),
                ("network-cost", "50"),
            ),
        },
    ),
    (
        "chrome srflx",
        "candidate:846098370 1 udp 1686052607 127.0.0.11 53664 typ srflx "
        "raddr 127.0.0.10 rport 63188 generation 0",
        {"related_address": "127.0.0.10", "related_port": 63188, "type": "srflx"},
    ),
    (
        "firefox upper-case UDP",
        "candidate:0 1 UDP 2122252543 127.0.0.10 49360 typ host",
        {"transport": "udp", "priority": 2122252543, "mdns": False},
    ),
    (
        "firefox tcp active port 9",
        "candidate:2 1 TCP 2105524479 127.0.0.11 9 typ host tcptype active",
        {"transport": "tcp", "port": 9, "extensions": (("tcptype", "active"),)},
    ),
    (
        "no prefix",
        "1 2 udp 1 127.0.0.1 0 typ relay",
        {"component": 2, "port": 0, "type": "relay"},
    ),
    (
        "IPv6 host",
        "candidate:3 1 udp 2122197247 ::1 50000 typ host",
        {"address": "::1", "mdns": False},
    ),
    (
        "mDNS host",
        "candidate:4 1 udp 2122262783 "
        "9b36eaac-bb2e-49bb-bb78-21c41c499900.local 56009 typ host",
        {"address": "9b36eaac-bb2e-49bb-bb78-21c41c499900.local", "mdns": True},
    ),
    (
        "prflx, extra spaces",
        "  candidate:5 1 udp 1 127.0.0.1  7  typ prflx  ",
        {"type": "prflx", "port": 7},
    ),
    (
        "component 256, 32-char foundation",
        "candidate:" + "f" * 32 + " 256 udp 4294967295 127.0.0.1 65535 typ host",
        {"component": 256, "priority": 2**32 - 1, "port": 65535},
    ),
]


@pytest.mark.parametrize(
    ("line", "expected"), [pytest.param(*row[1:], id=row[0]) for row in GOOD]
)
def test_good_candidate(line: str, expected: dict[str, Any]) -> None:
    candidate = parse_candidate_line(line)
    assert {name: getattr(candidate, name) for name in expected} == expected


def test_candidate_round_trip() -> None:
    """A parsed candidate, sent on as RTCIceCandidateInit, parses the same."""
    init = {**CASE_02[2], "usernameFragment": "b1104e3c"}
    candidate = parse_candidate(init)
    assert isinstance(candidate, Candidate)
    assert parse_candidate(candidate.to_init()) == candidate
    assert candidate.to_init()["candidate"] == CASE_02[2]["candidate"].replace(
        "UDP", "udp"
    )


HOST = "candidate:1 1 udp 2122252543 127.0.0.1 5000 typ host"

BAD_LINES: list[tuple[str, str, str]] = [
    ("seven fields", "candidate:1 1 udp 1 127.0.0.1 5000 typ", "at least 8"),
    ("no typ", HOST.replace("typ", "type"), "must be 'typ'"),
    ("component 0", HOST.replace(" 1 udp", " 0 udp"), "component '0'"),
    ("component 257", HOST.replace(" 1 udp", " 257 udp"), "component '257'"),
    ("sctp transport", HOST.replace("udp", "sctp"), "not UDP or TCP"),
    ("priority not a number", HOST.replace("2122252543", "high"), "priority"),
    ("priority 2**32", HOST.replace("2122252543", str(2**32)), "priority"),
    ("host name", HOST.replace("127.0.0.1", "example.com"), "nor a .local"),
    ("bad IPv4", HOST.replace("127.0.0.1", "127.0.0.256"), "nor a .local"),
    ("port 65536", HOST.replace("5000", "65536"), "port '65536'"),
    ("negative port", HOST.replace("5000", "-1"), "port '-1'"),
    ("type local", HOST.replace("host", "local"), "candidate type 'local'"),
    ("type upper case", HOST.replace("host", "HOST"), "candidate type 'HOST'"),
    ("raddr without value", HOST + " raddr", "'raddr' has no value"),
    ("bad raddr", HOST + " raddr nowhere rport 1", "related address"),
    ("bad rport", HOST + " raddr 127.0.0.1 rport x", "related port"),
    ("raddr after extension", HOST + " generation 0 raddr 127.0.0.1", "misplaced"),
    ("raddr twice", HOST + " raddr 127.0.0.1 raddr 127.0.0.2", "misplaced"),
    ("odd extension", HOST + " generation", "'generation' has no value"),
    ("NUL", HOST.replace("typ", "t\x00p"), "control character"),
    ("TAB", HOST.replace(" typ", "\ttyp"), "control character"),
    ("foundation too long", HOST.replace(":1 ", ":" + "f" * 33 + " "), "foundation"),
    ("foundation bad char", HOST.replace(":1 ", ":a-b "), "foundation"),
    ("too long", HOST + " x-pad " + "p" * 1024, "more than the limit of 1024"),
]


@pytest.mark.parametrize(
    ("line", "message"), [pytest.param(*row[1:], id=row[0]) for row in BAD_LINES]
)
def test_bad_candidate_line(line: str, message: str) -> None:
    with pytest.raises(CandidateError, match=message) as caught:
        parse_candidate_line(line)
    assert caught.value.code == "invalid-candidate"


END: list[tuple[str, object, EndOfCandidates]] = [
    ("null", None, EndOfCandidates()),
    ("firefox marker", CASE_02[1], EndOfCandidates("0", 0, "b1104e3c")),
    ("whitespace", {"candidate": " \t ", "sdpMid": "a"}, EndOfCandidates("a")),
    ("no candidate key", {"sdpMLineIndex": 2}, EndOfCandidates(None, 2)),
    ("empty, no mid", {"candidate": ""}, EndOfCandidates()),
]


@pytest.mark.parametrize(
    ("obj", "expected"), [pytest.param(*row[1:], id=row[0]) for row in END]
)
def test_end_of_candidates(obj: object, expected: EndOfCandidates) -> None:
    assert parse_candidate(obj) == expected


BAD_OBJECTS: list[tuple[str, object, str]] = [
    ("a list", [HOST], "an object or null"),
    ("a string", HOST, "an object or null"),
    ("candidate not a string", {"candidate": 1, "sdpMid": "0"}, "must be a string"),
    ("no mid or index", {"candidate": HOST}, "sdpMid or an sdpMLineIndex"),
    ("mid too long", {"candidate": HOST, "sdpMid": "m" * 33}, "sdpMid must be"),
    ("empty mid", {"candidate": HOST, "sdpMid": ""}, "sdpMid must be"),
    ("mid not a string", {"candidate": HOST, "sdpMid": 0}, "sdpMid must be"),
    ("mid with NUL", {"candidate": HOST, "sdpMid": "0\x00"}, "control character"),
    ("index 64", {"candidate": HOST, "sdpMLineIndex": 64}, "sdpMLineIndex"),
    ("index -1", {"candidate": HOST, "sdpMLineIndex": -1}, "sdpMLineIndex"),
    ("index true", {"candidate": HOST, "sdpMLineIndex": True}, "sdpMLineIndex"),
    ("index 0.0", {"candidate": HOST, "sdpMLineIndex": 0.0}, "sdpMLineIndex"),
    (
        "bad ufrag",
        {"candidate": HOST, "sdpMid": "0", "usernameFragment": "a b"},
        "usernameFragment",
    ),
    ("bad marker mid", {"candidate": "", "sdpMid": "m" * 33}, "sdpMid must be"),
]


@pytest.mark.parametrize(
    ("obj", "message"), [pytest.param(*row[1:], id=row[0]) for row in BAD_OBJECTS]
)
def test_bad_candidate_object(obj: object, message: str) -> None:
    with pytest.raises(CandidateError, match=message):
        parse_candidate(obj)


def test_case_02_batch_parses() -> None:
    """Case 02: host, the empty-string marker for mid 0, then an srflx."""
    items = [parse_candidate(obj) for obj in CASE_02]
    assert [type(item) for item in items] == [Candidate, EndOfCandidates, Candidate]
    assert items[1] == EndOfCandidates("0", 0, "b1104e3c")
    third = items[2]
    assert isinstance(third, Candidate)
    assert (third.type, third.related_address, third.sdp_mid) == (
        "srflx",
        "127.0.0.10",
        "0",
    )


def test_case_02_after_remote_description() -> None:
    """The marker comes out once; the third candidate still passes through."""
    queue = CandidateQueue()
    assert queue.drain(["0"]) == []
    items = [parse_candidate(obj) for obj in CASE_02]

    out = [ready for item in items for ready in queue.push(item)]

    assert out == items
    assert queue.ended("0")
    assert queue.push(items[1]) == []  # a second marker
    assert queue.push(EndOfCandidates("7")) == []  # a mid the remote lacks
    assert queue.push(EndOfCandidates(None, 5)) == []  # an index past the end
    assert queue.push(items[0]) == [items[0]]  # candidates still pass


def test_case_02_before_remote_description() -> None:
    queue = CandidateQueue()
    items = [parse_candidate(obj) for obj in CASE_02]
    for item in [*items, items[1], EndOfCandidates("7")]:
        assert queue.push(item) == []

    assert queue.drain(["0"]) == items  # the repeat marker was never held
    assert not queue.ended("7")


def test_marker_for_index_matches_mid() -> None:
    queue = CandidateQueue()
    queue.push(EndOfCandidates(None, 1))
    queue.push(EndOfCandidates("b"))  # the same section, by mid
    assert queue.drain(["a", "b"]) == [EndOfCandidates(None, 1)]
    assert queue.ended("b") and not queue.ended("a")


def test_marker_for_all_sections() -> None:
    queue = CandidateQueue()
    queue.drain(["a", "b"])
    assert queue.push(EndOfCandidates()) == [EndOfCandidates()]
    assert queue.push(EndOfCandidates("a")) == []
    assert queue.ended("a") and queue.ended("b")


def numbered(port: int) -> Candidate:
    item = parse_candidate(
        {"candidate": HOST.replace("5000", str(port)), "sdpMid": "0"}
    )
    assert isinstance(item, Candidate)
    return item


def test_queue_is_bounded_and_keeps_order() -> None:
    queue = CandidateQueue()
    held = [numbered(port) for port in range(MAX_EARLY_CANDIDATES)]
    for candidate in held:
        queue.push(candidate)
    assert len(queue) == MAX_EARLY_CANDIDATES

    with pytest.raises(CandidateError, match="too many early candidates"):
        queue.push(numbered(9999))
    assert queue.drain() == held

    # once the description is set, nothing is held and nothing is limited
    passed = [queue.push(numbered(port)) for port in range(2 * MAX_EARLY_CANDIDATES)]
    assert len(passed) == 2 * MAX_EARLY_CANDIDATES and len(queue) == 0


def test_queue_is_cleared_when_the_session_ends() -> None:
    queue = CandidateQueue(limit=3)
    queue.push(numbered(1))
    queue.clear()
    assert len(queue) == 0
    assert queue.drain() == []

"""check_sdp on captured SDPs and on odd inputs, each with what must come out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from signaling.errors import SdpError
from signaling.sdp import (
    MAX_SDP_CHARS,
    MAX_SDP_LINES,
    Extmap,
    Kind,
    Profile,
    RtpMap,
    SessionDescription,
    check_sdp,
    telephone_event_for,
    with_telephone_event,
    without_mdns_candidates,
)
from tests.cases import case_sdp

CHROME = case_sdp("03-candidates-before-offer")
CHROME_06 = case_sdp("06-chrome-extmap-allow-mixed")
FIREFOX_HOLD = case_sdp("07-firefox-hold-reoffer-session-sendrecv-media-sendonly")
TRUNK_09 = case_sdp("09-telephone-event-same-pt-two-clock-rates")
NUL_10 = case_sdp("10-sdp-attribute-name-with-nul-byte")

MINIMAL = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=audio 5004 RTP/AVP 0 101\r\nc=IN IP4 127.0.0.1\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
)

Getter = Callable[[SessionDescription], Any]


def audio(description: SessionDescription) -> Any:
    return description.media[0]


ACCEPTED: list[tuple[str, str, Kind, Profile, Getter, Any]] = [
    # case 03 / 06: Chrome's audio offer
    (
        "chrome direction",
        CHROME,
        "offer",
        "webrtc",
        lambda d: audio(d).direction,
        "sendonly",
    ),
    ("chrome mids", CHROME, "offer", "webrtc", lambda d: d.mids, ["0"]),
    (
        "chrome bundle",
        CHROME,
        "offer",
        "webrtc",
        lambda d: d.groups,
        {"BUNDLE": ("0",)},
    ),
    (
        "chrome payload types",
        CHROME,
        "offer",
        "webrtc",
        lambda d: audio(d).payload_types,
        [111, 63, 9, 0, 8, 13, 110, 126],
    ),
    (
        "06 allow-mixed flag",
        CHROME_06,
        "offer",
        "webrtc",
        lambda d: d.extmap_allow_mixed,
        True,
    ),
    (
        "06 allow-mixed is no extmap",
        CHROME_06,
        "offer",
        "webrtc",
        lambda d: [
            (a.name, a.value) for a in d.attributes if a.name.startswith("extmap")
        ],
        [("extmap-allow-mixed", None)],
    ),
    (
        "06 extmaps",
        CHROME_06,
        "offer",
        "webrtc",
        lambda d: audio(d).extmaps,
        (
            Extmap(1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
            Extmap(2, "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"),
            Extmap(
                3,
                "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            ),
            Extmap(4, "urn:ietf:params:rtp-hdrext:sdes:mid"),
        ),
    ),
    (
        "06 te with opus",
        CHROME_06,
        "offer",
        "webrtc",
        lambda d: telephone_event_for(audio(d), 48000),
        110,
    ),
    (
        "06 te with PCMU",
        CHROME_06,
        "offer",
        "webrtc",
        lambda d: telephone_event_for(audio(d), 8000),
        126,
    ),
    (
        "06 te at 16 kHz",
        CHROME_06,
        "offer",
        "webrtc",
        lambda d: telephone_event_for(audio(d), 16000),
        None,
    ),
    (
        "06 red kept",
        CHROME_06,
        "offer",
        "webrtc",
        lambda d: audio(d).rtpmap(63),
        RtpMap(63, "red", 48000, 2),
    ),
    (
        "06 red fmtp",
        CHROME_06,
        "offer",
        "webrtc",
        lambda d: audio(d).fmtp[63],
        "111/111",
    ),
    (
        "06 opus fmtp",
        CHROME_06,
        "offer",
        "webrtc",
        lambda d: audio(d).fmtp[111],
        "minptime=10;useinbandfec=1",
    ),
    (
        "06 static PCMU",
        CHROME_06,
        "offer",
        "webrtc",
        lambda d: audio(d).rtpmap(0),
        RtpMap(0, "PCMU", 8000),
    ),
    (
        "06 ice",
        CHROME_06,
        "offer",
        "webrtc",
        lambda d: (audio(d).ice_ufrag, audio(d).setup),
        ("Ezq+", "actpass"),
    ),
    # case 07: session sendrecv, media sendonly: the media level wins
    (
        "07 session direction",
        FIREFOX_HOLD,
        "offer",
        "webrtc",
        lambda d: d.direction,
        "sendrecv",
    ),
    (
        "07 media direction",
        FIREFOX_HOLD,
        "offer",
        "webrtc",
        lambda d: audio(d).direction,
        "sendonly",
    ),
    (
        "07 extmap direction",
        FIREFOX_HOLD,
        "offer",
        "webrtc",
        lambda d: audio(d).extmaps[1],
        Extmap(2, "urn:ietf:params:rtp-hdrext:csrc-audio-level", "recvonly"),
    ),
    (
        "07 session fingerprint",
        FIREFOX_HOLD,
        "offer",
        "webrtc",
        lambda d: [f.algorithm for f in audio(d).fingerprints],
        ["sha-256"],
    ),
    (
        "07 candidates",
        FIREFOX_HOLD,
        "offer",
        "webrtc",
        lambda d: [
            (c.transport, c.port, c.type, c.extension("tcptype"))
            for c in audio(d).candidates
        ],
        [
            ("udp", 49360, "host", None),
            ("tcp", 9, "host", "active"),
            ("udp", 49360, "srflx", None),
        ],
    ),
    (
        "07 end of candidates",
        FIREFOX_HOLD,
        "offer",
        "webrtc",
        lambda d: audio(d).end_of_candidates,
        True,
    ),
    (
        "07 origin version",
        FIREFOX_HOLD,
        "offer",
        "webrtc",
        lambda d: d.origin.version,
        2,
    ),
    # case 09: PT 101 listed twice, mapped at 16000 then 8000
    (
        "09 formats once",
        TRUNK_09,
        "offer",
        "sip",
        lambda d: audio(d).formats,
        ("8", "101", "18", "0"),
    ),
    (
        "09 both variants",
        TRUNK_09,
        "offer",
        "sip",
        lambda d: [v.clock_rate for v in audio(d).rtpmaps[101]],
        [16000, 8000],
    ),
    (
        "09 te with PCMA",
        TRUNK_09,
        "offer",
        "sip",
        lambda d: telephone_event_for(audio(d), 8000),
        101,
    ),
    (
        "09 variant at 8 kHz",
        TRUNK_09,
        "offer",
        "sip",
        lambda d: audio(d).rtpmap(101, 8000),
        RtpMap(101, "telephone-event", 8000),
    ),
    (
        "09 G729",
        TRUNK_09,
        "offer",
        "sip",
        lambda d: audio(d).rtpmap(18),
        RtpMap(18, "G729", 8000),
    ),
    (
        "09 G729 fmtp",
        TRUNK_09,
        "offer",
        "sip",
        lambda d: audio(d).fmtp,
        {18: "annexb=no"},
    ),
    ("09 name", TRUNK_09, "offer", "sip", lambda d: d.name, "on transit"),
    # line ends and edges
    (
        "LF only",
        CHROME_06.replace("\r\n", "\n"),
        "offer",
        "webrtc",
        lambda d: audio(d).extmaps[3].id,
        4,
    ),
    (
        "no final line end",
        MINIMAL.rstrip("\r\n"),
        "offer",
        "sip",
        lambda d: audio(d).payload_types,
        [0, 101],
    ),
    (
        "mixed line ends",
        MINIMAL.replace("s=-\r\n", "s=-\n"),
        "offer",
        "sip",
        lambda d: d.name,
        "-",
    ),
    (
        "trailing blank lines",
        MINIMAL + "\r\n\r\n",
        "offer",
        "sip",
        lambda d: len(d.media),
        1,
    ),
    (
        "default direction",
        MINIMAL,
        "offer",
        "sip",
        lambda d: audio(d).direction,
        "sendrecv",
    ),
    (
        "TAB allowed",
        MINIMAL.replace("s=-", "s=a\tb"),
        "offer",
        "sip",
        lambda d: d.name,
        "a\tb",
    ),
    (
        "unlisted rtpmap dropped",
        MINIMAL + "a=rtpmap:8 alaw/8000\r\n",
        "offer",
        "sip",
        lambda d: sorted(audio(d).rtpmaps),
        [101],
    ),
    (
        "value split at first colon",
        MINIMAL + "a=x-note:a:b\r\n",
        "offer",
        "sip",
        lambda d: audio(d).attribute("x-note").value,
        "a:b",
    ),
]


@pytest.mark.parametrize(
    ("sdp", "kind", "profile", "get", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in ACCEPTED],
)
def test_accepted(
    sdp: str, kind: Kind, profile: Profile, get: Getter, expected: Any
) -> None:
    assert get(check_sdp(sdp, kind=kind, profile=profile)) == expected


def padded(total: int) -> str:
    """MINIMAL with one attribute grown to make exactly `total` characters."""
    filler = total - len(MINIMAL) - len("a=x-pad:\r\n")
    return MINIMAL + "a=x-pad:" + "p" * filler + "\r\n"


def many_lines(count: int) -> str:
    extra = count - MINIMAL.count("\r\n")
    return MINIMAL + "a=x-line\r\n" * extra


def test_limits_are_inclusive() -> None:
    assert len(check_sdp(padded(MAX_SDP_CHARS), kind="offer", profile="sip").media) == 1
    assert (
        len(check_sdp(many_lines(MAX_SDP_LINES), kind="offer", profile="sip").media)
        == 1
    )


REFUSED: list[tuple[str, str, Kind, Profile, int | None, str]] = [
    (
        "10 NUL in attribute name",
        NUL_10,
        "offer",
        "sip",
        9,
        r"control character \(U\+0000\) at column 7",
    ),
    (
        "10 without NUL: no s=",
        NUL_10.replace("\x00", ""),
        "offer",
        "sip",
        None,
        "has no 's=' line",
    ),
    (
        "10 variant: PT 4294967296",
        NUL_10.replace("\x00", "")
        .replace("c=IN", "s=-\r\nc=IN", 1)
        .replace("RTP/AVP 9 0 101", "RTP/AVP 4294967296"),
        "offer",
        "sip",
        6,
        "payload type '4294967296'",
    ),
    ("oversized", padded(MAX_SDP_CHARS + 1), "offer", "sip", None, "32,769 characters"),
    (
        "too many lines",
        many_lines(MAX_SDP_LINES + 1),
        "offer",
        "sip",
        None,
        "401 lines",
    ),
    ("no m= line", MINIMAL.split("m=")[0], "offer", "sip", None, "has no m= line"),
    ("empty", "", "offer", "sip", None, "is empty"),
    ("only line ends", "\r\n\r\n", "offer", "sip", None, "is empty"),
    ("binary junk", bytes(range(256)).decode("latin-1"), "offer", "sip", 1, "U\\+0000"),
    ("PNG header", "\x89PNG\r\n\x1a\n", "offer", "sip", 1, "U\\+0089"),
    ("bare CR line ends", MINIMAL.replace("\r\n", "\r"), "offer", "sip", 1, "U\\+000D"),
    ("C1 control", MINIMAL.replace("s=-", "s=\x85"), "offer", "sip", 3, "U\\+0085"),
    (
        "line separator",
        MINIMAL.replace("s=-", "s=a\u2028b"),
        "offer",
        "sip",
        3,
        "U\\+2028",
    ),
    (
        "lone surrogate",
        MINIMAL.replace("s=-", "s=\ud800"),
        "offer",
        "sip",
        3,
        "U\\+D800",
    ),
    (
        "blank line inside",
        MINIMAL.replace("s=-\r\n", "s=-\r\n\r\n"),
        "offer",
        "sip",
        4,
        "is empty",
    ),
    ("not v=0 first", "o=x\r\n" + MINIMAL, "offer", "sip", 1, "must be 'v=0'"),
    ("v=1", MINIMAL.replace("v=0", "v=1"), "offer", "sip", 1, "must be 'v=0'"),
    ("no letter=value", MINIMAL + "hello\r\n", "offer", "sip", 8, "<letter>=<value>"),
    ("space before =", MINIMAL + "a =x\r\n", "offer", "sip", 8, "<letter>=<value>"),
    (
        "unknown type",
        MINIMAL.replace("s=-", "s=-\r\nx=1"),
        "offer",
        "sip",
        4,
        "unknown line type 'x='",
    ),
    (
        "t= in media",
        MINIMAL + "t=0 0\r\n",
        "offer",
        "sip",
        8,
        "belongs at session level",
    ),
    (
        "second o=",
        MINIMAL.replace("s=-", "s=-\r\no=- 2 2 IN IP4 127.0.0.1"),
        "offer",
        "sip",
        4,
        "repeats the 'o='",
    ),
    (
        "bad origin",
        MINIMAL.replace("o=- 1 1", "o=- x 1"),
        "offer",
        "sip",
        2,
        "is not 'o=",
    ),
    (
        "bad c=",
        MINIMAL.replace("c=IN IP4", "c=IN IPX"),
        "offer",
        "sip",
        6,
        "is not 'c=",
    ),
    (
        "bad attribute name",
        MINIMAL + "a=fm(tp:1\r\n",
        "offer",
        "sip",
        8,
        "invalid attribute name",
    ),
    (
        "empty attribute name",
        MINIMAL + "a=:1\r\n",
        "offer",
        "sip",
        8,
        "invalid attribute name",
    ),
    (
        "rtpmap with no rate",
        MINIMAL.replace("telephone-event/8000", "telephone-event"),
        "offer",
        "sip",
        7,
        "is not 'a=rtpmap",
    ),
    (
        "rtpmap rate 0",
        MINIMAL.replace("event/8000", "event/0"),
        "offer",
        "sip",
        7,
        "clock rate of 0",
    ),
    (
        "PT mapped twice",
        MINIMAL + "a=rtpmap:101 opus/48000/2\r\n",
        "offer",
        "sip",
        8,
        "to both telephone-event and opus",
    ),
    (
        "fmtp twice",
        MINIMAL + "a=fmtp:101 0-15\r\na=fmtp:101 0-16\r\n",
        "offer",
        "sip",
        9,
        "repeats the fmtp",
    ),
    (
        "PT above 127",
        MINIMAL.replace("RTP/AVP 0 101", "RTP/AVP 0 128"),
        "offer",
        "sip",
        5,
        "'128', not a number",
    ),
    (
        "PT clashes with RTCP",
        MINIMAL.replace("RTP/AVP 0 101", "RTP/AVP 0 72"),
        "offer",
        "sip",
        5,
        "clashes with RTCP",
    ),
    (
        "port above 65535",
        MINIMAL.replace("5004", "65536"),
        "offer",
        "sip",
        5,
        "port 65536",
    ),
    ("port count", MINIMAL.replace("5004", "5004/2"), "offer", "sip", 5, "port count"),
    (
        "two directions",
        MINIMAL + "a=sendonly\r\na=recvonly\r\n",
        "offer",
        "sip",
        9,
        "second direction",
    ),
    (
        "direction with value",
        MINIMAL + "a=sendonly:1\r\n",
        "offer",
        "sip",
        8,
        "takes none",
    ),
    (
        "allow-mixed with value",
        MINIMAL + "a=extmap-allow-mixed:1\r\n",
        "offer",
        "sip",
        8,
        "takes none",
    ),
    (
        "extmap bad direction",
        MINIMAL + "a=extmap:1/sideways urn:x\r\n",
        "offer",
        "sip",
        8,
        "is not 'a=extmap",
    ),
    ("extmap id 0", MINIMAL + "a=extmap:0 urn:x\r\n", "offer", "sip", 8, "extmap id 0"),
    (
        "extmap id two URIs",
        MINIMAL + "a=extmap:1 urn:x\r\na=extmap:1 urn:y\r\n",
        "offer",
        "sip",
        9,
        "second URI",
    ),
    (
        "bad candidate",
        MINIMAL + "a=candidate:1 1 udp 1 127.0.0.1 9 typ local\r\n",
        "offer",
        "sip",
        8,
        "candidate type 'local'",
    ),
    ("short candidate", MINIMAL + "a=candidate:\r\n", "offer", "sip", 8, "a=candidate"),
    ("bad setup", MINIMAL + "a=setup:whatever\r\n", "offer", "sip", 8, "a=setup"),
    ("answer with actpass", CHROME_06, "answer", "webrtc", 15, "no answer may"),
    (
        "bad fingerprint",
        MINIMAL + "a=fingerprint:sha-256 zz\r\n",
        "offer",
        "sip",
        8,
        "a=fingerprint",
    ),
    ("short ufrag", MINIMAL + "a=ice-ufrag:abc\r\n", "offer", "sip", 8, "a=ice-ufrag"),
    (
        "ice-ufrag twice",
        MINIMAL + "a=ice-ufrag:abcd\r\na=ice-ufrag:efgh\r\n",
        "offer",
        "sip",
        9,
        "repeats 'a=ice-ufrag'",
    ),
    (
        "unknown BUNDLE mid",
        CHROME_06.replace("BUNDLE 0", "BUNDLE 0 1"),
        "offer",
        "webrtc",
        None,
        "unknown mid '1'",
    ),
    (
        "mid twice",
        MINIMAL + "a=mid:0\r\n" + MINIMAL[MINIMAL.index("m=") :] + "a=mid:0\r\n",
        "offer",
        "sip",
        9,
        "reuses the mid",
    ),
    # the webrtc profile asks for what aiortc and browsers need
    ("09 is no WebRTC SDP", TRUNK_09, "offer", "webrtc", 6, "lacks ICE credentials"),
    (
        "no fingerprint",
        CHROME_06.replace("a=fingerprint", "a=x-fingerprint"),
        "offer",
        "webrtc",
        8,
        "DTLS fingerprint",
    ),
    (
        "no rtcp-mux",
        CHROME_06.replace("a=rtcp-mux\r\n", ""),
        "offer",
        "webrtc",
        8,
        "rtcp-mux",
    ),
    (
        "no mid",
        CHROME_06.replace("a=mid:0\r\n", "").replace("BUNDLE 0", "BUNDLE"),
        "offer",
        "webrtc",
        8,
        "lacks a mid",
    ),
    (
        "fmtp without rtpmap",
        CHROME_06.replace("a=rtpmap:111 opus/48000/2\r\n", ""),
        "offer",
        "webrtc",
        8,
        "fmtp for payload type 111",
    ),
]


@pytest.mark.parametrize(
    ("sdp", "kind", "profile", "line", "message"),
    [pytest.param(*row[1:], id=row[0]) for row in REFUSED],
)
def test_refused(
    sdp: str, kind: Kind, profile: Profile, line: int | None, message: str
) -> None:
    with pytest.raises(SdpError, match=message) as caught:
        check_sdp(sdp, kind=kind, profile=profile)
    assert caught.value.line == line
    assert caught.value.code == "invalid-sdp"
    if line is not None:
        assert str(caught.value).startswith(f"SDP line {line} ")


def test_nul_byte_never_reaches_the_model() -> None:
    """Case 10: the refusal names the line, and prints no raw NUL."""
    with pytest.raises(SdpError) as caught:
        check_sdp(NUL_10, kind="offer", profile="sip")
    assert "\x00" not in str(caught.value)
    assert "SDP line 9 " in str(caught.value)


def test_kind_is_checked() -> None:
    with pytest.raises(ValueError, match="kind"):
        check_sdp(MINIMAL, kind="pranswer", profile="sip")  # type: ignore[arg-type]


# .local candidates: Chrome hides its host address and keeps its srflx;
# Firefox hides both host candidates and ends with a=end-of-candidates.
CHROME_HOST_MDNS = (
    "a=candidate:1467250027 1 udp 2122260223 "
    "4a1e8c0d-0d64-4a52-b5c1-2c93a8d4a1f7.local 56143 typ host "
    "generation 0 network-id 1 network-cost 10\r\n"
)
CHROME_SRFLX = (
    "a=candidate:842163049 1 udp 1677729535 127.0.0.12 56143 typ srflx "
    "raddr 0.0.0.0 rport 0 generation 0 network-id 1 network-cost 10\r\n"
)
CHROME_MDNS = CHROME.replace(
    "a=ice-ufrag:", CHROME_HOST_MDNS + CHROME_SRFLX + "a=ice-ufrag:", 1
)
CHROME_MDNS_LEFT = CHROME.replace("a=ice-ufrag:", CHROME_SRFLX + "a=ice-ufrag:", 1)
FIREFOX_HOSTS = (
    "a=candidate:0 1 UDP 2122252543 127.0.0.11 49360 typ host\r\n"
    "a=candidate:2 1 TCP 2105524479 127.0.0.11 9 typ host tcptype active\r\n"
)
FIREFOX_MDNS = FIREFOX_HOLD.replace(
    FIREFOX_HOSTS,
    FIREFOX_HOSTS.replace("127.0.0.11", "b1c2d3e4-0000-4000-8000-00000000beef.local"),
)
FIREFOX_MDNS_LEFT = FIREFOX_HOLD.replace(FIREFOX_HOSTS, "").replace(
    "a=end-of-candidates\r\n", ""
)
TWO_SECTIONS = (
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"
    "a=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\n"
    "a=end-of-candidates\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"
    "a=candidate:1 1 udp 1 a1.LOCAL 5002 typ host\r\n"
    "a=candidate:2 1 udp 1 127.0.0.1 5004 typ host\r\n"
    "a=end-of-candidates\r\n"
)
TWO_SECTIONS_LEFT = TWO_SECTIONS.replace(
    "a=candidate:1 1 udp 1 a1.LOCAL 5002 typ host\r\n", ""
).rpartition("a=end-of-candidates\r\n")[0]

MDNS_CASES = [
    ("chrome host hidden, srflx kept", CHROME_MDNS, CHROME_MDNS_LEFT, 1),
    ("firefox hosts hidden, marker goes", FIREFOX_MDNS, FIREFOX_MDNS_LEFT, 2),
    ("no mdns: unchanged", FIREFOX_HOLD, FIREFOX_HOLD, 0),
    (
        "LF line ends kept",
        CHROME_MDNS.replace("\r\n", "\n"),
        CHROME_MDNS_LEFT.replace("\r\n", "\n"),
        1,
    ),
    ("only the section that lost one loses its marker", TWO_SECTIONS,
     TWO_SECTIONS_LEFT, 1),
]  # fmt: skip


@pytest.mark.parametrize(
    ("sdp", "left", "dropped"),
    [pytest.param(*row[1:], id=row[0]) for row in MDNS_CASES],
)
def test_without_mdns_candidates(sdp: str, left: str, dropped: int) -> None:
    assert without_mdns_candidates(sdp) == (left, dropped)


@pytest.mark.parametrize("sdp", [CHROME_MDNS, FIREFOX_MDNS], ids=["chrome", "firefox"])
def test_what_is_left_of_a_browser_sdp_still_passes(sdp: str) -> None:
    description = check_sdp(without_mdns_candidates(sdp)[0], kind="offer")
    assert all(not c.mdns for media in description.media for c in media.candidates)
    assert check_sdp(sdp, kind="offer").media[0].candidates[0].mdns


def test_telephone_event_is_added_to_an_answer_once_at_the_codecs_rate() -> None:
    """Case 06: aiortc answers Chrome's offer without telephone-event; the
    bridge adds the offer's 8 kHz one (PT 126), once, after the rtpmaps."""
    offer = check_sdp(case_sdp("06-chrome-extmap-allow-mixed"), kind="offer")
    pt = telephone_event_for(offer.media[0], 8000)
    assert pt == 126
    answer = (
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 0 8\r\nc=IN IP4 0.0.0.0\r\n"
        "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n"
    )
    added = with_telephone_event(answer, pt, 8000)
    assert added.split("\r\n")[4] == "m=audio 9 UDP/TLS/RTP/SAVPF 0 8 126"
    assert "a=rtpmap:8 PCMA/8000\r\na=rtpmap:126 telephone-event/8000\r\n" in added
    assert "a=fmtp:126 0-15\r\n" in added
    assert with_telephone_event(added, pt, 8000) == added  # once
    assert with_telephone_event("v=0\r\n", pt, 8000) == "v=0\r\n"  # no audio


def test_one_event_type_for_a_payload_type_declared_at_two_rates() -> None:
    """Case 09's shape on a bridged leg: PT 101 at 16000 and 8000; the
    G.711 answer names 101 at 8000, once."""
    offer = check_sdp(TRUNK_09, kind="offer", profile="sip")
    pt = telephone_event_for(offer.media[0], 8000)
    assert pt == 101
    answer = "v=0\nm=audio 9 RTP/AVP 8\na=rtpmap:8 PCMA/8000\n"
    added = with_telephone_event(answer, pt, 8000)
    assert added == (
        "v=0\nm=audio 9 RTP/AVP 8 101\na=rtpmap:8 PCMA/8000\n"
        "a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\n"
    )

"""Session description checks and parsing, sans-I/O.

Every SDP that comes from a browser or a trunk goes through `check_sdp`
before aiortc or pjsua2 sees it. The check works in three passes:

1. lines: size limits, line ends, control characters, `<letter>=<value>`;
2. structure: `v=0` first, `o=`, `s=`, `t=` before the first `m=`, only
   media-level lines inside a media section;
3. meaning: each attribute Helpline or aiortc reads is parsed into the
   model below, with session-level values as defaults for every section.

The first problem found raises `SdpError`, whose message names the line.
Attribute names are split from values at the first `:` only, so that
`a=extmap-allow-mixed` is its own flag and never a broken `a=extmap:`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, NoReturn, TypeAlias, get_args

from signaling.errors import CandidateError, SdpError
from signaling.ice import Candidate, parse_candidate_line

logger = logging.getLogger(__name__)

MAX_SDP_CHARS: Final = 32_768
MAX_SDP_LINES: Final = 400
MAX_MEDIA_SECTIONS: Final = 64
MAX_MID_CHARS: Final = 32

Kind: TypeAlias = Literal["offer", "answer"]
Profile: TypeAlias = Literal["webrtc", "sip"]
Direction: TypeAlias = Literal["sendrecv", "sendonly", "recvonly", "inactive"]
DIRECTIONS: Final[tuple[str, ...]] = get_args(Direction)
_DIRECTION: Final[dict[str | None, Direction]] = {
    "sendrecv": "sendrecv",
    "sendonly": "sendonly",
    "recvonly": "recvonly",
    "inactive": "inactive",
}

# RFC 8866 section 5: the line types, and those allowed inside a section.
_SESSION_TYPES: Final = frozenset("vosiuepcbtrzkam")
_MEDIA_TYPES: Final = frozenset("icbka")
# Payload types 72-76 collide with RTCP packet types (RFC 5761).
_RTCP_CLASH: Final = range(72, 77)
# Static payload types of RFC 3551 an offer may use without an rtpmap.
_STATIC: Final = {
    0: ("PCMU", 8000),
    3: ("GSM", 8000),
    4: ("G723", 8000),
    8: ("PCMA", 8000),
    9: ("G722", 8000),
    13: ("CN", 8000),
    18: ("G729", 8000),
}

_LINE = re.compile(r"([a-z])=(.*)")
# C0 and C1 controls but TAB, DEL, lone surrogates, and the Unicode line
# and paragraph separators (str.splitlines would break a line there).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029]")
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
_ORIGIN = re.compile(r"(\S+) ([0-9]{1,20}) ([0-9]{1,20}) IN (IP4|IP6) (\S+)")
_TIMING = re.compile(r"[0-9]{1,20} [0-9]{1,20}")
_CONNECTION = re.compile(r"IN (IP4|IP6) \S+")
_BANDWIDTH = re.compile(r"[A-Za-z0-9_.-]+:[0-9]{1,10}")
_MEDIA = re.compile(r"([a-z]+) ([0-9]{1,5})(/[0-9]{1,3})? ([A-Za-z0-9/]+)((?: \S+)+)")
_RTPMAP = re.compile(r"([0-9]{1,3}) ([^/\s]+)/([0-9]{1,6})(?:/([0-9]{1,3}))?")
_FMTP = re.compile(r"([0-9]{1,3}) (\S.*)")
_EXTMAP = re.compile(
    r"([0-9]{1,4})(?:/(sendrecv|sendonly|recvonly|inactive))? (\S+)(?: (\S.*))?"
)
_FINGERPRINT = re.compile(r"([A-Za-z0-9-]{1,32}) ([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})+)")
_UFRAG = re.compile(r"[A-Za-z0-9+/]{4,256}")
_PWD = re.compile(r"[A-Za-z0-9+/]{22,256}")
_RTCP = re.compile(r"[0-9]{1,5}(?: IN IP[46] \S+)?")
_SSRC = re.compile(r"([0-9]{1,10}) [^:\s]+(?::.*)?")
_SSRC_GROUP = re.compile(r"\S+(?: [0-9]{1,10})+")
_GROUP = re.compile(r"(\S+)((?: \S+)*)")
_NUMBER = re.compile(r"[0-9]{1,10}")
_SETUP: Final = frozenset({"actpass", "active", "passive", "holdconn"})
_FLAGS: Final = frozenset(
    {*DIRECTIONS, "extmap-allow-mixed", "rtcp-mux", "end-of-candidates", "ice-lite"}
)


@dataclass(frozen=True, slots=True)
class Attribute:
    """One `a=` line: `value` is None for a flag such as `a=rtcp-mux`."""

    name: str
    value: str | None
    line: int


@dataclass(frozen=True, slots=True)
class RtpMap:
    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None = None


@dataclass(frozen=True, slots=True)
class Extmap:
    """An RTP header extension offered or accepted (RFC 8285)."""

    id: int
    uri: str
    direction: Direction | None = None
    attributes: str | None = None


@dataclass(frozen=True, slots=True)
class Fingerprint:
    algorithm: str
    value: str


@dataclass(frozen=True, slots=True)
class Origin:
    username: str
    session_id: str
    version: int
    address: str


@dataclass(frozen=True, slots=True)
class MediaSection:
    """One `m=` section, with session-level defaults already applied."""

    kind: str
    port: int
    proto: str
    formats: tuple[str, ...]  # in m-line order, a repeated format only once
    line: int
    attributes: tuple[Attribute, ...] = ()
    direction: Direction = "sendrecv"
    rtpmaps: dict[int, tuple[RtpMap, ...]] = field(default_factory=dict)
    fmtp: dict[int, str] = field(default_factory=dict)
    extmaps: tuple[Extmap, ...] = ()
    mid: str | None = None
    ice_ufrag: str | None = None
    ice_pwd: str | None = None
    fingerprints: tuple[Fingerprint, ...] = ()
    setup: str | None = None
    candidates: tuple[Candidate, ...] = ()
    end_of_candidates: bool = False
    rtcp_mux: bool = False

    @property
    def is_rtp(self) -> bool:
        return "RTP" in self.proto.upper().split("/")

    @property
    def payload_types(self) -> list[int]:
        return [int(f) for f in self.formats] if self.is_rtp else []

    def rtpmap(self, payload_type: int, clock_rate: int | None = None) -> RtpMap | None:
        """The mapping of a payload type, from its rtpmap or the static table.

        A payload type mapped twice (same encoding, two clock rates) yields
        the variant with `clock_rate`, else the first one declared.
        """
        variants = self.rtpmaps.get(payload_type, ())
        if not variants and payload_type in _STATIC:
            encoding, rate = _STATIC[payload_type]
            variants = (RtpMap(payload_type, encoding, rate, 1),)
        for variant in variants:
            if clock_rate is None or variant.clock_rate == clock_rate:
                return variant
        return None

    def attribute(self, name: str) -> Attribute | None:
        return next((a for a in self.attributes if a.name == name), None)


@dataclass(frozen=True, slots=True)
class SessionDescription:
    kind: Kind
    origin: Origin
    name: str
    attributes: tuple[Attribute, ...]
    media: tuple[MediaSection, ...]
    direction: Direction | None = None  # session level: a default only
    extmap_allow_mixed: bool = False
    ice_lite: bool = False
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def mids(self) -> list[str]:
        return [m.mid for m in self.media if m.mid is not None]


def telephone_event_for(media: MediaSection, clock_rate: int) -> int | None:
    """The telephone-event payload type to pair with a codec of `clock_rate`.

    RFC 4733 events share the RTP clock of the audio they go with, so an
    opus call (48000) takes the 48000 variant and a PCMU call (8000) the
    8000 one. A payload type declared for two clock rates counts for each.
    """
    for payload_type in media.payload_types:
        for variant in media.rtpmaps.get(payload_type, ()):
            if (
                variant.encoding.lower() == "telephone-event"
                and variant.clock_rate == clock_rate
            ):
                return payload_type
    return None


def check_sdp(
    text: str, *, kind: Kind, profile: Profile = "webrtc"
) -> SessionDescription:
    """Check an untrusted SDP and return its model, or raise `SdpError`.

    The "webrtc" profile also demands what a browser peer must send (ICE
    credentials, a DTLS fingerprint and role, rtcp-mux, a mid per
    section); "sip" is for trunks and phones, which send none of those.
    """
    if kind not in ("offer", "answer"):
        raise ValueError(f"kind must be 'offer' or 'answer', not {kind!r}")

    lines = _split_lines(text)
    session_lines, sections = _group(lines)
    description = _describe(kind, session_lines, sections)

    if profile == "webrtc":
        _check_webrtc(description)
    return description


def without_mdns_candidates(text: str) -> tuple[str, int]:
    """The SDP without its `.local` candidates, and how many were dropped.

    A browser hides its host address behind an mDNS name; resolving it
    takes multicast queries on the peer's own network, which a server does
    not share. The browser still sends its checks from that address, and
    ICE learns it as a peer-reflexive candidate when the first one arrives.
    So `a=end-of-candidates` goes too wherever a candidate went: with it,
    and no candidate left, ICE would give up before the first check.
    Line ends are kept as they were.
    """
    lines = text.split("\n")
    section: list[int] = []  # 0: the session level, n: the n-th m= section
    dropped: set[int] = set()
    for index, line in enumerate(lines):
        section.append((section[-1] if section else 0) + line.startswith("m="))
        if _is_mdns_candidate(line):
            dropped.add(index)

    emptied = {section[index] for index in dropped}
    if emptied:
        emptied.add(0)  # a session-level marker covers every section
    kept = [
        line
        for index, line in enumerate(lines)
        if index not in dropped
        and not (
            section[index] in emptied and line.rstrip("\r") == "a=end-of-candidates"
        )
    ]
    return "\n".join(kept), len(dropped)


def with_telephone_event(text: str, payload_type: int, clock_rate: int) -> str:
    """The SDP with telephone-event (`payload_type`, `clock_rate`) added to
    its first audio section: on the m= line, and as rtpmap and fmtp lines
    after that section's last rtpmap (or at its end). For an answer whose
    maker cannot name events itself (aiortc) while the offer had them. Line
    ends are kept as they were; a section that names the type already is
    left alone."""
    eol = "\r\n" if "\r\n" in text else "\n"
    lines = text.split(eol)
    start = next(
        (i for i, line in enumerate(lines) if line.startswith("m=audio ")), None
    )
    if start is None:
        return text
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].startswith("m=")),
        len(lines),
    )
    fields = lines[start].split()
    if str(payload_type) in fields[3:]:
        return text
    lines[start] = " ".join([*fields, str(payload_type)])
    rtpmaps = [i for i in range(start, end) if lines[i].startswith("a=rtpmap:")]
    at = rtpmaps[-1] + 1 if rtpmaps else end
    while at > start + 1 and at == end and not lines[at - 1]:
        at -= 1  # before the blank line that ends the text
    added = [
        f"a=rtpmap:{payload_type} telephone-event/{clock_rate}",
        f"a=fmtp:{payload_type} 0-15",
    ]
    return eol.join(lines[:at] + added + lines[at:])


def _is_mdns_candidate(line: str) -> bool:
    if not line.startswith("a=candidate:"):
        return False
    fields = line.split()
    return len(fields) > 4 and fields[4].lower().endswith(".local")


def _refuse(line: int | None, problem: str) -> NoReturn:
    where = f"SDP line {line}" if line is not None else "The SDP"
    raise SdpError(f"{where} {problem}.", line=line)


# Pass 1: lines


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    type: str
    value: str


def _split_lines(text: str) -> list[_Line]:
    if len(text) > MAX_SDP_CHARS:
        _refuse(None, f"is {len(text):,} characters long, more than {MAX_SDP_CHARS:,}")

    raw = text.split("\n")
    while raw and raw[-1] in ("", "\r"):
        raw.pop()  # the last line end, and blank lines after the last line
    if len(raw) > MAX_SDP_LINES:
        _refuse(None, f"has {len(raw):,} lines, more than {MAX_SDP_LINES}")
    if not raw:
        _refuse(None, "is empty")

    return [_line(number, line) for number, line in enumerate(raw, start=1)]


def _line(number: int, raw: str) -> _Line:
    text = raw[:-1] if raw.endswith("\r") else raw
    bad = _CONTROL.search(text)
    if bad:
        _refuse(
            number,
            f"holds a control character (U+{ord(bad.group()):04X}) "
            f"at column {bad.start() + 1}, which SDP does not allow",
        )
    if not text:
        _refuse(number, "is empty; SDP has no blank lines")

    match = _LINE.fullmatch(text)
    if not match:
        _refuse(number, "is not of the form <letter>=<value>")
    if match.group(1) not in _SESSION_TYPES:
        _refuse(number, f"has the unknown line type '{match.group(1)}='")
    return _Line(number, match.group(1), match.group(2))


# Pass 2: structure


def _group(lines: list[_Line]) -> tuple[list[_Line], list[list[_Line]]]:
    if lines[0].type != "v" or lines[0].value != "0":
        _refuse(1, "must be 'v=0'")

    session: list[_Line] = []
    sections: list[list[_Line]] = []
    for line in lines[1:]:
        if line.type == "m":
            sections.append([line])
        elif sections and line.type not in _MEDIA_TYPES:
            _refuse(
                line.number,
                f"puts '{line.type}=' in a media section; it belongs at session level",
            )
        elif sections:
            sections[-1].append(line)
        else:
            session.append(line)

    for required in "ost":
        if not any(line.type == required for line in session):
            _refuse(None, f"has no '{required}=' line")
    if not sections:
        _refuse(None, "has no m= line")
    if len(sections) > MAX_MEDIA_SECTIONS:
        _refuse(None, f"has more than {MAX_MEDIA_SECTIONS} media sections")
    return session, sections


# Pass 3: meaning


def _describe(
    kind: Kind, session_lines: list[_Line], sections: list[list[_Line]]
) -> SessionDescription:
    origin, name = _session_lines(session_lines)
    session = _Level(_attributes(session_lines), media=False)
    if kind == "answer" and session.setup == "actpass":
        _refuse(session.setup_line, "uses 'a=setup:actpass', which no answer may")

    media = tuple(_media(kind, lines, session) for lines in sections)
    description = SessionDescription(
        kind=kind,
        origin=origin,
        name=name,
        attributes=session.attributes,
        media=media,
        direction=session.direction,
        extmap_allow_mixed=session.has("extmap-allow-mixed"),
        ice_lite=session.has("ice-lite"),
        groups=_groups(session.attributes),
    )
    _check_mids(description)
    return description


def _session_lines(lines: list[_Line]) -> tuple[Origin, str]:
    origin: Origin | None = None
    name: str | None = None
    seen: set[str] = set()
    for line in lines:
        if line.type in ("v", "o", "s") and (line.type == "v" or line.type in seen):
            _refuse(line.number, f"repeats the '{line.type}=' line")
        seen.add(line.type)
        if line.type == "o":
            origin = _origin(line)
        elif line.type == "s":
            name = line.value
        elif line.type == "t" and not _TIMING.fullmatch(line.value):
            _refuse(line.number, "is not 't=<start> <stop>'")
        else:
            _check_common(line)

    if origin is None or name is None:  # _group made sure both are there
        raise AssertionError("unreachable: o= and s= were checked")
    return origin, name


def _origin(line: _Line) -> Origin:
    match = _ORIGIN.fullmatch(line.value)
    if not match:
        _refuse(line.number, "is not 'o=<user> <id> <version> IN IP4|IP6 <address>'")
    user, session_id, version, _, address = match.groups()
    return Origin(user, session_id, int(version), address)


def _check_common(line: _Line) -> None:
    """The lines allowed at both levels whose value Helpline checks."""
    if line.type == "c" and not _CONNECTION.fullmatch(line.value):
        _refuse(line.number, "is not 'c=IN IP4|IP6 <address>'")
    if line.type == "b" and not _BANDWIDTH.fullmatch(line.value):
        _refuse(line.number, "is not 'b=<type>:<kilobits>'")


def _attributes(lines: Iterable[_Line]) -> tuple[Attribute, ...]:
    attributes = []
    for line in lines:
        if line.type != "a":
            continue
        name, colon, value = line.value.partition(":")
        if not _TOKEN.fullmatch(name):
            _refuse(line.number, f"has an invalid attribute name {name!r}")
        if name in _FLAGS and colon:
            _refuse(line.number, f"gives a value to 'a={name}', which takes none")
        attributes.append(Attribute(name, value if colon else None, line.number))
    return tuple(attributes)


class _Level:
    """The attributes of one level (session or a media section), checked.

    Reads only what both levels may carry; `_media` reads the rest.
    """

    def __init__(self, attributes: tuple[Attribute, ...], *, media: bool) -> None:
        self.attributes = attributes
        for attribute in attributes:
            _check_attribute(attribute, media=media)

        self.direction = _direction(attributes)
        self.ice_ufrag = self.single("ice-ufrag")
        self.ice_pwd = self.single("ice-pwd")
        self.setup = self.single("setup")
        self.setup_line = next((a.line for a in self.named("setup")), None)
        self.fingerprints = tuple(_fingerprint(a) for a in self.named("fingerprint"))
        self.extmaps = _extmaps(self.named("extmap"))

    def named(self, name: str) -> list[Attribute]:
        return [a for a in self.attributes if a.name == name]

    def has(self, name: str) -> bool:
        return any(a.name == name for a in self.attributes)

    def single(self, name: str) -> str | None:
        found = self.named(name)
        if len(found) > 1:
            _refuse(found[1].line, f"repeats 'a={name}'")
        return found[0].value if found else None


def _check_attribute(attribute: Attribute, *, media: bool) -> None:
    check = _CHECKS.get(attribute.name)
    if check is None or (attribute.name in _MEDIA_ONLY and not media):
        return  # not one Helpline reads: passed on as it is
    pattern, shape = check
    if attribute.value is None or not pattern.fullmatch(attribute.value):
        _refuse(attribute.line, f"is not '{shape}'")
    if attribute.name == "candidate":
        _candidate(attribute)


_CHECKS: Final[dict[str, tuple[re.Pattern[str], str]]] = {
    "rtpmap": (_RTPMAP, "a=rtpmap:<payload type> <encoding>/<clock rate>[/<n>]"),
    "fmtp": (_FMTP, "a=fmtp:<payload type> <parameters>"),
    "extmap": (_EXTMAP, "a=extmap:<id>[/<direction>] <uri> [<attributes>]"),
    "fingerprint": (_FINGERPRINT, "a=fingerprint:<hash> <XX:XX:...>"),
    "ice-ufrag": (_UFRAG, "a=ice-ufrag:<4 to 256 ICE characters>"),
    "ice-pwd": (_PWD, "a=ice-pwd:<22 to 256 ICE characters>"),
    "setup": (re.compile("|".join(_SETUP)), "a=setup:actpass|active|passive"),
    "mid": (re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]{1,32}"), "a=mid:<token>"),
    "rtcp": (_RTCP, "a=rtcp:<port> [IN IP4|IP6 <address>]"),
    "ssrc": (_SSRC, "a=ssrc:<ssrc> <attribute>[:<value>]"),
    "ssrc-group": (_SSRC_GROUP, "a=ssrc-group:<semantics> <ssrc> ..."),
    "group": (_GROUP, "a=group:<semantics> <mid> ..."),
    "candidate": (re.compile(r".+"), "a=candidate:<candidate>"),
    "max-message-size": (_NUMBER, "a=max-message-size:<bytes>"),
    "sctp-port": (_NUMBER, "a=sctp-port:<port>"),
}
_MEDIA_ONLY: Final = frozenset(
    {"rtpmap", "fmtp", "mid", "rtcp", "ssrc", "ssrc-group", "candidate"}
)


def _candidate(attribute: Attribute) -> Candidate:
    try:
        return parse_candidate_line(attribute.value or "")
    except CandidateError as error:
        _refuse(attribute.line, f"has a bad candidate: {error}")


def _direction(attributes: Sequence[Attribute]) -> Direction | None:
    found = [a for a in attributes if a.name in DIRECTIONS]
    if len(found) > 1:
        _refuse(found[1].line, f"gives a second direction after 'a={found[0].name}'")
    return _DIRECTION[found[0].name] if found else None


def _fingerprint(attribute: Attribute) -> Fingerprint:
    algorithm, _, value = (attribute.value or "").partition(" ")
    return Fingerprint(algorithm.lower(), value.upper())


def _extmaps(attributes: list[Attribute]) -> tuple[Extmap, ...]:
    extmaps: dict[int, Extmap] = {}
    for attribute in attributes:
        match = _EXTMAP.fullmatch(attribute.value or "")
        if match is None:  # _check_attribute made sure it matches
            raise AssertionError("unreachable: extmap was checked")
        number, direction, uri, rest = match.groups()
        extmap = Extmap(int(number), uri, _DIRECTION.get(direction), rest)
        if not (1 <= extmap.id <= 255 or 4096 <= extmap.id <= 4351):
            _refuse(attribute.line, f"has the extmap id {extmap.id}, out of range")
        if extmap.id in extmaps and extmaps[extmap.id].uri != uri:
            _refuse(attribute.line, f"gives the extmap id {extmap.id} a second URI")
        extmaps.setdefault(extmap.id, extmap)
    return tuple(extmaps.values())


def _groups(attributes: Iterable[Attribute]) -> dict[str, tuple[str, ...]]:
    groups: dict[str, tuple[str, ...]] = {}
    for attribute in attributes:
        if attribute.name == "group" and attribute.value is not None:
            semantics, *mids = attribute.value.split()
            groups[semantics] = tuple(mids)
    return groups


def _check_mids(description: SessionDescription) -> None:
    seen: set[str] = set()
    for media in description.media:
        if media.mid is not None and media.mid in seen:
            _refuse(media.line, f"reuses the mid {media.mid!r}")
        if media.mid is not None:
            seen.add(media.mid)
    for semantics, mids in description.groups.items():
        for mid in mids:
            if mid not in seen:
                _refuse(None, f"names the unknown mid {mid!r} in its {semantics} group")


# Media sections


def _media(kind: Kind, lines: list[_Line], session: _Level) -> MediaSection:
    head = lines[0]
    kind_name, port, proto, formats = _media_line(head)
    for line in lines[1:]:
        _check_common(line)
    level = _Level(_attributes(lines[1:]), media=True)
    if kind == "answer" and level.setup == "actpass":
        _refuse(level.setup_line, "uses 'a=setup:actpass', which no answer may")

    return MediaSection(
        kind=kind_name,
        port=port,
        proto=proto,
        formats=formats,
        line=head.number,
        attributes=level.attributes,
        direction=level.direction or session.direction or "sendrecv",
        rtpmaps=_rtpmaps(level.named("rtpmap"), formats),
        fmtp=_fmtp(level.named("fmtp"), formats),
        extmaps=level.extmaps or session.extmaps,
        mid=level.single("mid"),
        ice_ufrag=level.ice_ufrag or session.ice_ufrag,
        ice_pwd=level.ice_pwd or session.ice_pwd,
        fingerprints=level.fingerprints or session.fingerprints,
        setup=level.setup or session.setup,
        candidates=tuple(_candidate(a) for a in level.named("candidate")),
        end_of_candidates=level.has("end-of-candidates"),
        rtcp_mux=level.has("rtcp-mux"),
    )


def _media_line(line: _Line) -> tuple[str, int, str, tuple[str, ...]]:
    match = _MEDIA.fullmatch(line.value)
    if not match:
        _refuse(line.number, "is not 'm=<media> <port> <proto> <format> ...'")
    kind, port, count, proto, formats = match.groups()
    if int(port) > 65_535:
        _refuse(line.number, f"has the port {port}, above 65535")
    if count:
        _refuse(
            line.number,
            "uses a port count ('<port>/<n>'), which Helpline does not support",
        )

    unique = tuple(dict.fromkeys(formats.split()))
    if len(unique) < len(formats.split()):
        logger.debug("SDP line %d repeats a format; each is kept once", line.number)
    if "RTP" in proto.upper().split("/"):
        for value in unique:
            _check_payload_type(line.number, value)
    return kind, int(port), proto, unique


def _check_payload_type(number: int, value: str) -> None:
    if not value.isdecimal() or len(value) > 3 or int(value) > 127:
        _refuse(number, f"has the payload type {value!r}, not a number from 0 to 127")
    if int(value) in _RTCP_CLASH:
        _refuse(
            number, f"has the payload type {value}, which clashes with RTCP (72 to 76)"
        )


def _rtpmaps(
    attributes: list[Attribute], formats: tuple[str, ...]
) -> dict[int, tuple[RtpMap, ...]]:
    """Mappings of the listed payload types; unlisted ones are dropped.

    A payload type mapped twice to the same encoding at two clock rates is
    kept with both variants, in order (the answer picks the one that fits
    its codec); mapped to two different encodings, it is refused.
    """
    rtpmaps: dict[int, tuple[RtpMap, ...]] = {}
    for attribute in attributes:
        rtpmap = _rtpmap(attribute)
        if str(rtpmap.payload_type) not in formats:
            continue
        variants = rtpmaps.get(rtpmap.payload_type, ())
        if variants and variants[0].encoding.lower() != rtpmap.encoding.lower():
            _refuse(
                attribute.line,
                f"maps payload type {rtpmap.payload_type} to both "
                f"{variants[0].encoding} and {rtpmap.encoding}",
            )
        if rtpmap not in variants:
            rtpmaps[rtpmap.payload_type] = (*variants, rtpmap)
    return rtpmaps


def _rtpmap(attribute: Attribute) -> RtpMap:
    match = _RTPMAP.fullmatch(attribute.value or "")
    if match is None:  # _check_attribute made sure it matches
        raise AssertionError("unreachable: rtpmap was checked")
    payload_type, encoding, rate, channels = match.groups()
    if int(payload_type) > 127 or int(rate) == 0:
        _refuse(attribute.line, "has a payload type above 127 or a clock rate of 0")
    return RtpMap(
        int(payload_type), encoding, int(rate), int(channels) if channels else None
    )


def _fmtp(attributes: list[Attribute], formats: tuple[str, ...]) -> dict[int, str]:
    fmtp: dict[int, str] = {}
    for attribute in attributes:
        payload_type, _, parameters = (attribute.value or "").partition(" ")
        if payload_type not in formats:
            continue
        if int(payload_type) in fmtp:
            _refuse(attribute.line, f"repeats the fmtp of payload type {payload_type}")
        fmtp[int(payload_type)] = parameters
    return fmtp


# The webrtc profile


def _check_webrtc(description: SessionDescription) -> None:
    """What aiortc and browsers need of every section of a WebRTC SDP."""
    for media in description.media:
        _require_webrtc(media)
        for payload_type in media.fmtp:
            if payload_type not in media.rtpmaps:
                _refuse(
                    media.line,
                    f"has an fmtp for payload type {payload_type} but no rtpmap",
                )


def _require_webrtc(media: MediaSection) -> None:
    if media.port == 0:  # a rejected section: only its mid still matters
        if media.mid is None:
            _refuse(media.line, f"starts the {media.kind} section, which lacks a mid")
        return
    needs: list[tuple[Callable[[MediaSection], object], str]] = [
        (lambda m: m.ice_ufrag and m.ice_pwd, "ICE credentials (ice-ufrag, ice-pwd)"),
        (lambda m: m.fingerprints, "a DTLS fingerprint"),
        (lambda m: m.setup, "a DTLS role (a=setup)"),
        (lambda m: m.mid, "a mid"),
        (lambda m: m.rtcp_mux or not m.is_rtp, "a=rtcp-mux"),
    ]
    for present, what in needs:
        if not present(media):
            _refuse(media.line, f"starts the {media.kind} section, which lacks {what}")

"""Trickle-ICE candidate checks, sans-I/O.

A client trickles each candidate as an `RTCIceCandidateInit` object, or
`null` / an empty `candidate` string to say it has no more. `parse_candidate`
turns one such object into a `Candidate` or an `EndOfCandidates`, and raises
`CandidateError` for anything else, so that no candidate reaches aiortc
unchecked. `CandidateQueue` keeps the candidates that arrive before the remote
description, in order, until there is somewhere to put them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from signaling.errors import CandidateError

MAX_CANDIDATE_CHARS: Final = 1_024
MAX_MID_CHARS: Final = 32
MAX_MLINE_INDEX: Final = 63
MAX_EARLY_CANDIDATES: Final = 50

CANDIDATE_TYPES: Final = frozenset({"host", "srflx", "prflx", "relay"})
TRANSPORTS: Final = frozenset({"udp", "tcp"})

# RFC 8839 section 5.1: ice-char = ALPHA / DIGIT / "+" / "/".
_FOUNDATION = re.compile(r"[A-Za-z0-9+/]{1,32}")
_UFRAG = re.compile(r"[A-Za-z0-9+/]{1,256}")
_DIGITS = re.compile(r"[0-9]{1,10}")
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
# Names a browser uses to hide its host address (draft-ietf-mmusic-mdns-ice).
_MDNS_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*")
# Any C0 or C1 control character, DEL, or a lone surrogate from bad JSON.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One remote candidate that passed the grammar of RFC 8839."""

    foundation: str
    component: int
    transport: str  # lower case: "udp" or "tcp"
    priority: int
    address: str
    port: int
    type: str
    related_address: str | None = None
    related_port: int | None = None
    extensions: tuple[tuple[str, str], ...] = ()
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None
    username_fragment: str | None = None
    mdns: bool = False  # the address is a `.local` name, not an IP address

    def to_sdp(self) -> str:
        """The candidate attribute value, without the `candidate:` prefix."""
        parts = [
            self.foundation,
            str(self.component),
            self.transport,
            str(self.priority),
            self.address,
            str(self.port),
            "typ",
            self.type,
        ]
        if self.related_address is not None:
            parts += ["raddr", self.related_address]
        if self.related_port is not None:
            parts += ["rport", str(self.related_port)]
        for name, value in self.extensions:
            parts += [name, value]
        return " ".join(parts)

    def to_init(self) -> dict[str, Any]:
        """The candidate as an `RTCIceCandidateInit` object, ready to trickle."""
        init: dict[str, Any] = {
            "candidate": "candidate:" + self.to_sdp(),
            "sdpMid": self.sdp_mid,
            "sdpMLineIndex": self.sdp_mline_index,
        }
        if self.username_fragment is not None:
            init["usernameFragment"] = self.username_fragment
        return init

    def extension(self, name: str) -> str | None:
        return next((v for n, v in self.extensions if n == name), None)


@dataclass(frozen=True, slots=True)
class EndOfCandidates:
    """The remote end has no more candidates for one media section.

    With neither `sdp_mid` nor `sdp_mline_index` it covers every section.
    """

    sdp_mid: str | None = None
    sdp_mline_index: int | None = None
    username_fragment: str | None = None


def parse_candidate(obj: object) -> Candidate | EndOfCandidates:
    """Check one trickled `RTCIceCandidateInit` (or None) from a client."""
    if obj is None:
        return EndOfCandidates()
    if not isinstance(obj, Mapping):
        raise CandidateError("a candidate must be an object or null")

    sdp_mid = _sdp_mid(obj.get("sdpMid"))
    index = _mline_index(obj.get("sdpMLineIndex"))
    ufrag = _username_fragment(obj.get("usernameFragment"))
    line = obj.get("candidate", "")
    if not isinstance(line, str):
        raise CandidateError("the candidate string must be a string")

    if not line.strip():
        return EndOfCandidates(sdp_mid, index, ufrag)
    if sdp_mid is None and index is None:
        raise CandidateError("a candidate needs an sdpMid or an sdpMLineIndex")
    return parse_candidate_line(
        line, sdp_mid=sdp_mid, sdp_mline_index=index, username_fragment=ufrag
    )


def parse_candidate_line(
    line: str,
    *,
    sdp_mid: str | None = None,
    sdp_mline_index: int | None = None,
    username_fragment: str | None = None,
) -> Candidate:
    """Check a candidate attribute, with or without its `candidate:` prefix.

    candidate-attribute = "candidate" ":" foundation SP component-id SP
        transport SP priority SP connection-address SP port SP "typ" SP
        cand-type [SP "raddr" SP address] [SP "rport" SP port]
        *(SP extension-att-name SP extension-att-value)
    """
    if len(line) > MAX_CANDIDATE_CHARS:
        raise CandidateError(
            f"the candidate is {len(line)} characters long, "
            f"more than the limit of {MAX_CANDIDATE_CHARS}"
        )
    if _CONTROL.search(line):
        raise CandidateError("the candidate holds a control character")

    text = line.strip()
    if text[:10].lower() == "candidate:":
        text = text[10:]
    fields = text.split()
    if len(fields) < 8:
        raise CandidateError(
            f"the candidate has {len(fields)} fields, at least 8 are needed"
        )
    if fields[6] != "typ":
        raise CandidateError("the seventh field of the candidate must be 'typ'")

    related_address, related_port, extensions = _tail(fields[8:])
    address, mdns = _address(fields[4], "address")
    return Candidate(
        foundation=_foundation(fields[0]),
        component=_number(fields[1], "component", 1, 256),
        transport=_transport(fields[2]),
        priority=_number(fields[3], "priority", 0, 2**32 - 1),
        address=address,
        port=_number(fields[5], "port", 0, 65_535),
        type=_candidate_type(fields[7]),
        related_address=related_address,
        related_port=related_port,
        extensions=extensions,
        sdp_mid=sdp_mid,
        sdp_mline_index=sdp_mline_index,
        username_fragment=username_fragment,
        mdns=mdns,
    )


def _tail(
    fields: list[str],
) -> tuple[str | None, int | None, tuple[tuple[str, str], ...]]:
    """raddr, rport and the extension pairs that follow the candidate type."""
    if len(fields) % 2:
        raise CandidateError(f"the candidate attribute {fields[-1]!r} has no value")

    related_address: str | None = None
    related_port: int | None = None
    extensions: list[tuple[str, str]] = []
    for name, value in zip(fields[::2], fields[1::2], strict=True):
        if name == "raddr" and related_address is None and not extensions:
            related_address = _address(value, "related address")[0]
        elif name == "rport" and related_port is None and not extensions:
            related_port = _number(value, "related port", 0, 65_535)
        elif _TOKEN.fullmatch(name) and name not in ("raddr", "rport"):
            extensions.append((name, value))
        else:
            raise CandidateError(f"the candidate attribute {name!r} is misplaced")
    return related_address, related_port, tuple(extensions)


def _foundation(value: str) -> str:
    if not _FOUNDATION.fullmatch(value):
        raise CandidateError(f"the candidate foundation {value!r} is not valid")
    return value


def _number(value: str, what: str, low: int, high: int) -> int:
    if not _DIGITS.fullmatch(value) or not low <= int(value) <= high:
        raise CandidateError(
            f"the candidate {what} {value!r} is not a number from {low} to {high}"
        )
    return int(value)


def _transport(value: str) -> str:
    if value.lower() not in TRANSPORTS:
        raise CandidateError(f"the candidate transport {value!r} is not UDP or TCP")
    return value.lower()


def _candidate_type(value: str) -> str:
    if value not in CANDIDATE_TYPES:
        raise CandidateError(
            f"the candidate type {value!r} is not host, srflx, prflx or relay"
        )
    return value


def _address(value: str, what: str) -> tuple[str, bool]:
    """An IPv4 or IPv6 address, or an mDNS `.local` name (flagged True)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        return value, False

    if value.lower().endswith(".local") and _MDNS_NAME.fullmatch(value):
        return value, True
    raise CandidateError(
        f"the candidate {what} {value!r} is neither an IP address nor a .local name"
    )


def _sdp_mid(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_MID_CHARS:
        raise CandidateError(
            f"sdpMid must be a string of 1 to {MAX_MID_CHARS} characters"
        )
    if _CONTROL.search(value):
        raise CandidateError("sdpMid holds a control character")
    return value


def _mline_index(value: object) -> int | None:
    if value is None:
        return None
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not 0 <= value <= MAX_MLINE_INDEX
    ):
        raise CandidateError(
            f"sdpMLineIndex must be a whole number from 0 to {MAX_MLINE_INDEX}"
        )
    return value


def _username_fragment(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _UFRAG.fullmatch(value):
        raise CandidateError("usernameFragment is not a valid ICE username fragment")
    return value


Item = Candidate | EndOfCandidates


class CandidateQueue:
    """Candidates of one peer connection, held until the remote description.

    Before the remote description is set there is no transceiver to give a
    candidate to, so `push` keeps it (at most `limit`, in arrival order) and
    `drain` hands them all over once the description is in place. After
    that, `push` passes each candidate straight back.

    End-of-candidates markers are remembered per media section: the first
    one for a section comes out like a candidate, a repeat or one for a
    section the remote description does not have is dropped. A marker does
    not stop later candidates for the same section: browsers have been seen
    to trickle one more after it.
    """

    def __init__(self, limit: int = MAX_EARLY_CANDIDATES) -> None:
        self.limit = limit
        self._early: list[Item] = []
        self._mids: tuple[str, ...] | None = None
        self._ended: set[str | int | None] = set()
        self.remote_description_set = False

    def __len__(self) -> int:
        return len(self._early)

    def push(self, item: Item) -> list[Item]:
        """Take one parsed item; return what can be applied now, in order."""
        if self.remote_description_set:
            if isinstance(item, EndOfCandidates) and not self._mark_ended(item):
                return []
            return [item]

        if isinstance(item, EndOfCandidates) and self._key(item) in self._ended:
            return []
        if len(self._early) >= self.limit:
            raise CandidateError(
                f"too many early candidates: at most {self.limit} may arrive "
                "before the session description"
            )
        if isinstance(item, EndOfCandidates):
            self._ended.add(self._key(item))
        self._early.append(item)
        return []

    def drain(self, mids: Iterable[str] | None = None) -> list[Item]:
        """The remote description is set: return the held items, in order.

        `mids` are the media sections of the remote description, in order;
        markers for other sections are dropped. Without it none are.
        """
        self.remote_description_set = True
        self._mids = None if mids is None else tuple(mids)
        self._ended.clear()

        early, self._early = self._early, []
        return [
            item
            for item in early
            if not isinstance(item, EndOfCandidates) or self._mark_ended(item)
        ]

    def ended(self, mid: str) -> bool:
        """Whether the remote end said it has no more candidates for `mid`."""
        return None in self._ended or mid in self._ended

    def clear(self) -> None:
        """Forget everything held: the session or the call has ended."""
        self._early.clear()

    def _mark_ended(self, marker: EndOfCandidates) -> bool:
        """Record a marker; False when it is a repeat or names no section."""
        key = self._key(marker)
        if key in self._ended or None in self._ended:
            return False
        if self._mids is not None and key is not None and key not in self._mids:
            return False
        self._ended.add(key)
        return True

    def _key(self, marker: EndOfCandidates) -> str | int | None:
        """The section a marker is for: its mid, else its index, else None."""
        if marker.sdp_mid is not None:
            return marker.sdp_mid
        if marker.sdp_mline_index is None:
            return None
        if self._mids is not None:
            if marker.sdp_mline_index < len(self._mids):
                return self._mids[marker.sdp_mline_index]
            return -1  # an index past the last section: unknown
        return marker.sdp_mline_index

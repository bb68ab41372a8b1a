"""SIP and SDP text the media worker reads or writes around pjsua2: the
user an INVITE is for, the answer the start-up probe gives, and the
telephone-event lines of our SDP (sans-I/O)."""

from __future__ import annotations

import re
import socket

_REQUEST_LINE = re.compile(rb"^([A-Z]+) (\S+) SIP/2\.0", re.ASCII)
_URI_USER = re.compile(r"^(?:sips?|tel):([^@;?>]+)")


def public_address(host: str) -> str:
    """The address to put in SIP and SDP for `host` ('' lets pjsip choose
    when bound to every interface)."""
    return "" if host in ("0.0.0.0", "::", "[::]") else host


_PROBE_HEADERS = re.compile(rb"^(Via|From|To|Call-ID|CSeq)[ \t]*:.*$", re.I | re.M)


def refuse_all(sink: socket.socket) -> None:
    """Answer every INVITE waiting on the probe's socket with 480."""
    while True:
        try:
            data, address = sink.recvfrom(65535)
        except BlockingIOError:
            return
        if not data.startswith(b"INVITE "):
            continue
        head = data.partition(b"\r\n\r\n")[0]
        lines = [m.group(0).rstrip(b"\r") for m in _PROBE_HEADERS.finditer(head)]
        lines = [
            line + b";tag=probe" if line.lower().startswith(b"to") else line
            for line in lines
        ]
        reply = b"\r\n".join(
            [b"SIP/2.0 480 Probe", *lines, b"Content-Length: 0", b"", b""]
        )
        sink.sendto(reply, address)


def request_user(whole: str) -> str:
    """The user part of an INVITE's Request-URI (``sip:helpline@host``)."""
    first = whole.encode("utf-8", "surrogateescape").split(b"\r\n", 1)[0]
    match = _REQUEST_LINE.match(first)
    if match is None:
        return ""
    user = _URI_USER.match(match.group(2).decode("latin-1"))
    return user.group(1) if user else ""


def events_as_offered(local: str, remote: str) -> str:
    """Offer telephone-event at each rate the remote's first rtpmap of an
    event payload type names, so pjmedia's negotiator (which reads only
    the first rtpmap of a payload type) finds a match: a trunk offering
    /16000 before /8000 on one payload type still gets events (case 09)."""
    wanted = {
        rate
        for pt, rate in dict(
            reversed(_EVENT_RTPMAP.findall(remote))  # the first rtpmap wins
        ).items()
    }
    have = {rate for _, rate in _EVENT_RTPMAP.findall(local)}
    missing = sorted(wanted - have)
    if not missing or "m=audio " not in local:
        return local
    lines = local.split("\r\n")
    out = []
    for line in lines:
        out.append(line)
        if line.startswith("m=audio "):
            extra = [str(121 + i) for i in range(len(missing))]
            out[-1] = " ".join([line, *extra])
        if line.startswith("a=rtpmap:") and "telephone-event/" in line:
            for i, rate in enumerate(missing):
                out.append(f"a=rtpmap:{121 + i} telephone-event/{rate}")
                out.append(f"a=fmtp:{121 + i} 0-16")
            missing = []
    return "\r\n".join(out)


_EVENT_RTPMAP = re.compile(r"^a=rtpmap:(\d+) telephone-event/(\d+)\r?$", re.M | re.I)


def one_event_rate(sdp: str) -> str:
    """Keep one telephone-event rtpmap per payload type, at 8000 Hz when
    the offer had it; and one occurrence of each payload type on m=."""
    seen: dict[str, str] = {}
    lines = sdp.split("\r\n")
    out: list[str] = []
    for line in lines:
        match = _EVENT_RTPMAP.match(line)
        if match:
            pt, rate = match.groups()
            if pt in seen:
                continue
            seen[pt] = rate
        if line.startswith("m=audio "):
            parts = line.split(" ")
            line = " ".join(parts[:3] + list(dict.fromkeys(parts[3:])))
        out.append(line)
    return "\r\n".join(out)

"""What a worker remembers of each answered SIP dialog, and the BYE a
restarted worker sends for the dialogs its predecessor could not end.

A media worker that crashes takes its pjsua2 endpoint with it: the callers'
phones and the trunk still think the calls are up. The worker therefore
keeps, per answered call, the few headers an in-dialog request needs (in
Redis, next to its heartbeat); its successor sends a BYE for each from the
same SIP port before it starts its own endpoint. Sans-I/O: text in, text out.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass
from typing import Any

_HEADER = re.compile(r"^([A-Za-z-]+)[ \t]*:[ \t]*(.*)$")
_COMPACT = {"f": "from", "t": "to", "i": "call-id", "m": "contact", "v": "via"}
_URI = re.compile(r"<([^>]+)>")
_HOST_PORT = re.compile(r"^sips?:(?:[^@]*@)?(\[[^\]]+\]|[^:;>]+)(?::(\d+))?")


@dataclass(frozen=True, slots=True)
class Dialog:
    """The UAS side of an answered INVITE: enough to send it a BYE."""

    call_id: str
    local: str  # our To header value, with our tag
    remote: str  # the caller's From header value, with their tag
    target: str  # the caller's Contact URI
    routes: tuple[str, ...]  # the Record-Route values, in order

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Dialog:
        return cls(
            str(data["call_id"]),
            str(data["local"]),
            str(data["remote"]),
            str(data["target"]),
            tuple(str(r) for r in data.get("routes", ())),
        )


def headers(message: str) -> list[tuple[str, str]]:
    """A SIP message's headers as (lower-case name, value), in order
    (folded lines are not joined: SIP has deprecated them)."""
    head = message.replace("\r\n", "\n").split("\n\n", 1)[0]
    out = []
    for line in head.split("\n")[1:]:
        match = _HEADER.match(line)
        if match:
            name = match.group(1).lower()
            out.append((_COMPACT.get(name, name), match.group(2).strip()))
    return out


def dialog_of(invite: str, response: str) -> Dialog | None:
    """The dialog an INVITE and our 2xx to it made (None if either lacks
    what a dialog needs)."""
    request = headers(invite)
    answer = dict(headers(response))
    remote = next((v for n, v in request if n == "from"), "")
    call_id = next((v for n, v in request if n == "call-id"), "")
    contact = next((v for n, v in request if n == "contact"), "")
    local = answer.get("to", "")
    routes = tuple(
        part.strip()
        for n, v in request
        if n == "record-route"
        for part in v.split(",")
        if part.strip()
    )
    target_match = _URI.search(contact)
    target = target_match.group(1) if target_match else contact.split(";")[0]
    if not (remote and call_id and target and ";tag=" in local):
        return None
    return Dialog(call_id, local, remote, target, routes)


def bye(dialog: Dialog, host: str, port: int) -> tuple[str, tuple[str, int]]:
    """A BYE for `dialog` sent from host:port, and where to send it (the
    first route if there is one, else the caller's Contact)."""
    lines = [
        f"BYE {dialog.target} SIP/2.0",
        f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{secrets.token_hex(8)};rport",
        "Max-Forwards: 70",
        *(f"Route: {route}" for route in dialog.routes),
        f"From: {dialog.local}",
        f"To: {dialog.remote}",
        f"Call-ID: {dialog.call_id}",
        f"CSeq: {secrets.randbelow(1 << 30) + 1000} BYE",
        'Reason: SIP;cause=503;text="Media worker restarted"',
        "Content-Length: 0",
        "",
        "",
    ]
    first = dialog.routes[0] if dialog.routes else f"<{dialog.target}>"
    uri = _URI.search(first)
    return "\r\n".join(lines), address_of(uri.group(1) if uri else dialog.target)


def address_of(uri: str) -> tuple[str, int]:
    match = _HOST_PORT.match(uri)
    if match is None:
        raise ValueError(f"no host in {uri!r}")
    return match.group(1).strip("[]"), int(match.group(2) or 5060)

"""The toll-free line as the trunk must be told: the Request-URI a worker
dials, and the Refer-To of a blind transfer. Sans-I/O: text in, text out.

A carrier routes a REFER to the public network only when its target is a
``tel:`` URI, or the number at the carrier's termination domain; a ``sip:``
URI whose host is an IP address is an unknown SIP endpoint to it (it takes
the REFER with 202, then fails the transfer with 403 in the NOTIFY). So a
number, given bare (``+E164``) or as ``tel:``, becomes ``<tel:+E164>``, or
``<sip:+E164@domain>`` when the trunk names its termination domain; never
``sip:tel:...`` and never ``sip:+E164@<IP>``. A ``sip:`` or ``sips:`` URI is
the operator's own choice and passes as written.
"""

from __future__ import annotations

import ipaddress
import re

from signaling.errors import SipError

#: E.164: a plus, then up to 15 digits, the first not 0.
_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
#: RFC 3966 visual separators, allowed inside a written number.
_SEPARATORS = re.compile(r"[-.()]")
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


class SipTargetError(SipError, ValueError):
    """A toll-free destination that names no number and no SIP URI."""


def _bare(destination: str) -> str:
    """The destination without spaces or angle brackets around it."""
    text = destination.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    return text


def is_sip_uri(destination: str) -> bool:
    return _bare(destination).lower().startswith(("sip:", "sips:"))


def e164(destination: str) -> str:
    """The number of a ``+E164`` or ``tel:+E164`` destination."""
    text = _bare(destination)
    if text.lower().startswith("tel:"):
        text = text[4:].split(";", 1)[0]  # RFC 3966 parameters do not route
    number = _SEPARATORS.sub("", text)
    if not _E164.match(number):
        raise SipTargetError(
            "the toll-free destination is not a sip: URI nor a number in "
            "international form (+ and up to 15 digits)"
        )
    return number


def check_domain(domain: str) -> str:
    """A termination domain: a DNS name, never an IP address."""
    try:
        ipaddress.ip_address(domain.strip("[]"))
    except ValueError:
        pass
    else:
        raise SipTargetError("a termination domain must be a name, not an address")
    if not _DOMAIN.match(domain):
        raise SipTargetError("the termination domain is not a DNS name")
    return domain.lower()


def refer_to(destination: str, domain: str = "") -> str:
    """The Refer-To header value that sends a caller to `destination`."""
    if is_sip_uri(destination):
        return f"<{_bare(destination)}>"
    number = e164(destination)
    if domain:
        return f"<sip:{number}@{check_domain(domain)}>"
    return f"<tel:{number}>"


def uri_host(uri: str) -> str:
    """``host[:port]`` of a sip: URI (``sip:u@trunk.example.net:5061;lr``
    gives ``trunk.example.net:5061``); empty for anything else."""
    text = _bare(uri)
    if not is_sip_uri(text):
        return ""
    rest = text.partition(":")[2].rpartition("@")[2]
    return rest.split(";", 1)[0].split("?", 1)[0]


def dial_uri(destination: str, domain: str = "", host: str = "") -> str:
    """The Request-URI that reaches `destination` through the trunk: a
    number goes to the termination domain, else to `host` (the trunk's
    registrar). Empty when a number has neither to go to."""
    if is_sip_uri(destination):
        return _bare(destination)
    number = e164(destination)
    if domain:
        return f"sip:{number}@{check_domain(domain)}"
    return f"sip:{number}@{host}" if host else ""

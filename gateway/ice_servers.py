"""ICE servers for one session or one call, with TURN credentials that expire.

coturn and Helpline share one secret (coturn's ``use-auth-secret`` with
``static-auth-secret``, its "TURN REST API"), so coturn needs no user list:

    username   = "<expiry, Unix seconds>:<label>"
    credential = Base64(HMAC-SHA1(secret, username))

coturn refuses an allocation once the expiry has passed. The label says whom
the credential was issued to and shows in coturn's log: a session id or a
call id, never personal data.

Everything here is a pure function of the settings, a label and the time,
so nothing reads a clock:

- ``browser_ice_servers(settings, label, now)``: the ``RTCIceServer``
  dictionaries a page gives ``RTCPeerConnection``. Web nodes send them only
  to an open session (``session_ice_fields``: the ``welcome`` event and the
  ``ice.servers`` answer, docs/protocol.md), so each new set costs a new
  session, which is rate-limited per address.
- ``aiortc_ice_servers(settings, label, now)``: the same servers as aiortc
  ``RTCIceServer`` objects, for a server-side ``gateway.webrtc.Peer``::

      Peer(call_id, ice_servers=aiortc_ice_servers(settings, call_id, time.time()))

  A process that holds such peers also calls
  ``gateway.webrtc.limit_host_addresses(settings.ice_interfaces)`` once.

STUN URLs need no credentials and get an entry of their own. Without a
secret the TURN URLs are left out (settings loaded from a file always have
one): a browser refuses a TURN server that has no username.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import TYPE_CHECKING, Any, Final

from gateway.config import Settings

if TYPE_CHECKING:
    from aiortc import RTCIceServer

IceServer = dict[str, Any]

_LABEL: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")


def turn_username(label: str, expires_at: int) -> str:
    """The TURN user name coturn reads the expiry from."""
    if not _LABEL.fullmatch(label):
        raise ValueError(f"a TURN label must match {_LABEL.pattern}, not {label!r}")
    return f"{expires_at}:{label}"


def turn_credential(secret: str, username: str) -> str:
    """The password coturn expects for `username` under `secret`."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def public_ice_servers(settings: Settings) -> list[IceServer]:
    """The servers anyone may have: STUN, which needs no credentials."""
    stun = [url for url in settings.turn_urls if url.startswith("stun:")]
    return [{"urls": stun}] if stun else []


def browser_ice_servers(settings: Settings, label: str, now: float) -> list[IceServer]:
    """The ICE servers for `label`, their TURN credentials valid from `now`
    for ``turn.ttl_s`` seconds."""
    servers = public_ice_servers(settings)
    turn = [url for url in settings.turn_urls if not url.startswith("stun:")]
    if turn and settings.turn_secret:
        username = turn_username(label, int(now) + settings.turn_ttl_s)
        credential = turn_credential(settings.turn_secret, username)
        servers.append({"urls": turn, "username": username, "credential": credential})
    return servers


def session_ice_fields(settings: Settings, session_id: str, now: float) -> IceServer:
    """The fields of ``welcome`` and ``ice.servers`` for one session:
    ``ice_servers``, and ``ice_ttl_s`` when they hold TURN credentials."""
    servers = browser_ice_servers(settings, session_id, now)
    fields: IceServer = {"ice_servers": servers}
    if any("username" in server for server in servers):
        fields["ice_ttl_s"] = settings.turn_ttl_s
    return fields


def aiortc_ice_servers(
    settings: Settings, label: str, now: float
) -> list[RTCIceServer]:
    """`browser_ice_servers` as aiortc objects, for a server-side peer."""
    # Imported here: web nodes issue credentials without loading aiortc.
    from aiortc import RTCIceServer

    return [
        RTCIceServer(**server) for server in browser_ice_servers(settings, label, now)
    ]

"""The trunk side of a media worker's endpoint: the account that reaches
the toll-free line and the TLS transport it may need.

Only the owner thread (gateway/sip_owner.py) calls what touches pjsua2
here. The trunk account registers when a registrar is set (pjsua refreshes
the registration; each refresh is challenged anew) and answers a 401 or
407 on any request with the digest credentials. The TLS transport listens
on any free port: it exists for calls out to a ``sips:`` or
``transport=tls`` line or proxy, whose certificate it checks unless told
not to.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pjsua2 as pj

from gateway.sip_target import uri_host

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TrunkConfig:
    """Where the toll-free line is reached, and how to sign in there."""

    registrar: str = ""  # sip:trunk.example.net; empty: no registration
    username: str = ""
    password: str = ""
    realm: str = "*"
    proxy: str = ""  # outbound proxy URI, e.g. sip:1.2.3.4;transport=tcp;lr
    refer: bool = False  # blind transfer by REFER instead of a bridged leg
    tls_verify: bool = True  # a TLS trunk's certificate must verify
    ca_file: str = ""  # PEM CAs for that check; empty: the system's


def account_uri(trunk: TrunkConfig, host: str) -> str:
    """The trunk account's URI; empty when calls need no account of their
    own (no registrar, credentials or proxy)."""
    if not (trunk.registrar or trunk.username or trunk.proxy):
        return ""
    user = trunk.username or "helpline"
    return f"sip:{user}@{uri_host(trunk.registrar) or host}"


def configure_account(ac: Any, trunk: TrunkConfig) -> Any:
    """Registrar, outbound proxy and digest credentials on an AccountConfig."""
    ac.regConfig.registrarUri = trunk.registrar
    ac.regConfig.registerOnAdd = bool(trunk.registrar)
    if trunk.proxy:
        ac.sipConfig.proxies.append(trunk.proxy)
    if trunk.username:
        ac.sipConfig.authCreds.append(
            pj.AuthCredInfo("digest", trunk.realm, trunk.username, 0, trunk.password)
        )
    return ac


def tls_transport(ep: Any, host: str, public: str, trunk: TrunkConfig) -> None:
    """A TLS transport on `host`, any free port; a wheel without TLS only
    costs the TLS lines (their calls fail and the caller is re-offered the
    callback)."""
    tls = pj.TransportConfig()
    tls.port = 0
    tls.boundAddress = host
    tls.publicAddress = public
    tls.tlsConfig.verifyServer = trunk.tls_verify
    tls.tlsConfig.CaListFile = trunk.ca_file
    try:
        ep.transportCreate(pj.PJSIP_TRANSPORT_TLS, tls)
    except pj.Error as err:
        logger.warning("no TLS transport: %s", err.reason, extra={"call_id": "-"})


def registration_state(code: int, expires: int) -> str:
    """``registered``, ``unregistered`` or ``failed:<code>``, as the
    heartbeat and /healthz show it."""
    if 200 <= code < 300:
        return "registered" if expires > 0 else "unregistered"
    return f"failed:{code}"

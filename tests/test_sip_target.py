"""The toll-free destination as the trunk is told it: Refer-To and the
Request-URI dialled (case 16: a tel: target must stay tel:); the trunk
account's URI and the registration state the heartbeat shows."""

from __future__ import annotations

import json

import pytest

from gateway.app import tollfree_number
from gateway.sip_target import SipTargetError, dial_uri, refer_to, uri_host
from gateway.sip_trunk import TrunkConfig, account_uri, registration_state
from signaling.errors import SipError
from tests.cases import case_text

DOMAIN = "example.pstn.twilio.com"

REFER_TO = [
    # destination, trunk domain, Refer-To
    ("+15550160", "", "<tel:+15550160>"),
    ("tel:+15550160", "", "<tel:+15550160>"),
    ("TEL:+1-555-0160", "", "<tel:+15550160>"),
    ("tel:+1(555)016.0;ext=12", "", "<tel:+15550160>"),
    (" +15550160 ", "", "<tel:+15550160>"),
    ("+15550160", DOMAIN, f"<sip:+15550160@{DOMAIN}>"),
    ("tel:+15550160", "Example.PSTN.Twilio.com", f"<sip:+15550160@{DOMAIN}>"),
    ("sip:+15550160@203.0.113.5", "", "<sip:+15550160@203.0.113.5>"),
    ("sip:line@pbx.example.net;transport=tls", DOMAIN, None),
    ("<sips:line@pbx.example.net>", "", "<sips:line@pbx.example.net>"),
]


@pytest.mark.parametrize(("destination", "domain", "header"), REFER_TO)
def test_refer_to(destination: str, domain: str, header: str | None) -> None:
    got = refer_to(destination, domain)
    if header is None:  # a sip: URI passes as written, in angle brackets
        header = f"<{destination}>"
    assert got == header
    assert "sip:tel:" not in got


def test_case_16_the_tel_target_stays_tel() -> None:
    command = json.loads(case_text("16-refer-to-tel-uri-for-pstn-transfer"))
    got = refer_to(command["referTo"])
    assert got == "<tel:+15550160>"
    assert got != "<sip:tel:+15550160@203.0.113.5>"
    assert refer_to(command["referTo"].removeprefix("tel:")) == got
    assert refer_to(command["referTo"], DOMAIN) == f"<sip:+15550160@{DOMAIN}>"


DIAL = [
    # destination, trunk domain, registrar host, Request-URI
    ("sip:tollfree@trunk.example.net;transport=tls", DOMAIN, "", None),
    ("+18005550100", DOMAIN, "10.0.0.1", f"sip:+18005550100@{DOMAIN}"),
    ("tel:+18005550100", "", "trunk.example.net:5061", None),
    ("+18005550100", "", "", ""),
]


@pytest.mark.parametrize(("destination", "domain", "host", "uri"), DIAL)
def test_dial_uri(destination: str, domain: str, host: str, uri: str | None) -> None:
    if uri is None:
        uri = destination if destination.startswith("sip") else ""
        uri = uri or f"sip:+18005550100@{host}"
    assert dial_uri(destination, domain, host) == uri


@pytest.mark.parametrize(
    ("destination", "domain"),
    [
        ("tel:5550160", ""),  # a local number: no country, no route
        ("15550160", ""),
        ("+0155501600", ""),
        ("+1555016012345678", ""),
        ("tel:+", ""),
        ("mailto:line@example.net", ""),
        ("+15550160", "203.0.113.5"),  # never sip:+E164@<raw IP>
        ("+15550160", "[2001:db8::1]"),
        ("+15550160", "bad_domain.example"),
    ],
)
def test_refused_destinations(destination: str, domain: str) -> None:
    with pytest.raises(SipTargetError) as refused:
        refer_to(destination, domain)
    assert isinstance(refused.value, SipError)
    assert "55501" not in str(refused.value)  # no number in the message


@pytest.mark.parametrize(
    ("uri", "host"),
    [
        ("sip:trunk.example.net", "trunk.example.net"),
        ("sip:127.0.0.1:5090;transport=tcp", "127.0.0.1:5090"),
        ("sips:helpline@trunk.example.net:5061;lr", "trunk.example.net:5061"),
        ("<sip:[::1]:5060>", "[::1]:5060"),
        ("tel:+15550160", ""),
        ("", ""),
    ],
)
def test_uri_host(uri: str, host: str) -> None:
    assert uri_host(uri) == host


@pytest.mark.parametrize(
    ("code", "expires", "state"),
    [
        (200, 300, "registered"),
        (200, 0, "unregistered"),  # the un-REGISTER's answer
        (403, 300, "failed:403"),
        (408, 0, "failed:408"),  # no answer from the registrar
        (503, 300, "failed:503"),
    ],
)
def test_registration_state(code: int, expires: int, state: str) -> None:
    assert registration_state(code, expires) == state


@pytest.mark.parametrize(
    ("trunk", "uri"),
    [
        (TrunkConfig(), ""),  # calls go out through the local account
        (TrunkConfig(registrar="sip:trunk.example.net:5061"), None),
        (TrunkConfig(username="acme", proxy="sip:1.2.3.4;lr"), "sip:acme@127.0.0.1"),
        (
            TrunkConfig(registrar="sip:trunk.example.net", username="acme"),
            "sip:acme@trunk.example.net",
        ),
    ],
)
def test_trunk_account_uri(trunk: TrunkConfig, uri: str | None) -> None:
    if uri is None:
        uri = "sip:helpline@trunk.example.net:5061"
    assert account_uri(trunk, "127.0.0.1") == uri


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("sip:+18005550100@trunk.example.net", "+18005550100"),
        ("tel:+1-800-555-0100", "+18005550100"),
        ("+18005550100", "+18005550100"),
        ("sip:trunk.example.net", ""),  # no user part: nothing to show
        ("", ""),
    ],
)
def test_the_number_web_callers_are_shown(line: str, shown: str) -> None:
    assert tollfree_number(line) == shown

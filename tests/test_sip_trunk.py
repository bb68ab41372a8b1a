"""The trunk side of a media worker, against SIPp as registrar and trunk:
registration with digest, a challenged INVITE, TLS, a large INVITE over
TCP, blind transfer by REFER, and the failures that send the caller back
to the callback offer.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from tests.fixtures.app import RunningHelpline
from tests.fixtures.sip import fields, free_port_pair, free_udp_port
from tests.fixtures.trunk import (
    Certificate,
    answer_refer,
    digest_ok,
    headers_in,
    refusing_trunk,
)
from tests.test_sip_ivr import (
    ivr_log,
    publish_phone_menu,
    record,
    the_call,
    walk_to_the_line,
)

pytestmark = pytest.mark.sip

LINE = "+18005550100"
USER, PASSWORD = "helpline-trunk", "s3cret-digest"


@pytest.fixture
def redis_url(sip_redis_url: str) -> str:
    """One Redis for these tests (see tests/fixtures/sip.py)."""
    return sip_redis_url


async def until(what: str, check: Any, within: float = 10.0) -> Any:
    """`check()`'s first truthy value, polled; fails naming `what`."""
    deadline = time.monotonic() + within
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what} did not happen in {within} s"
        await asyncio.sleep(0.1)


def heartbeat(url: str, worker: str = "w0") -> dict[str, str]:
    with redis.Redis.from_url(url, protocol=2) as client:
        return fields(client.hgetall(f"helpline:worker:{worker}"))


async def sip_health(helpline: RunningHelpline) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(helpline.url + "/healthz") as response:
            body: dict[str, Any] = await response.json()
    return body["components"]["sip"]  # type: ignore[no-any-return]


async def walk_in(sipp: Any, worker: Any, scenario: Path, url: str) -> tuple[Any, str]:
    """A SIPp caller runs `scenario` against the worker: it and its call id."""
    caller = await sipp(str(scenario), f"127.0.0.1:{worker.sip_port}")
    return caller, await the_call(url)


async def line_caller(
    sipp: Any, rtp_peer: Any, worker: Any, folder: Path, url: str, hold_ms: int
) -> tuple[Any, str]:
    """A caller who walks to the toll-free line and stays `hold_ms` there."""
    media = await rtp_peer()
    scenario = walk_to_the_line(media.port, folder / "line.xml", hold_ms=hold_ms)
    return await walk_in(sipp, worker, scenario, url)


async def back_at_the_offer(
    helpline: RunningHelpline, url: str, call_id: str, reason: str
) -> None:
    """The toll-free step failed with `reason`, and the caller, still in
    the IVR, is offered the callback again."""
    log = await until(
        "the transfer failure",
        lambda: [e for e in ivr_log(url, call_id) if e["k"] == "transfer-failed"],
        within=20,
    )
    assert log[0]["r"] == reason

    async def at_offer() -> bool:
        journey = await helpline.node.ivr.journey(call_id)
        return journey is not None and journey.nodes[-1] == "offer"

    deadline = time.monotonic() + 15
    while not await at_offer():
        assert time.monotonic() < deadline, ivr_log(url, call_id)
        await asyncio.sleep(0.2)
    assert record(url, call_id)["state"] == "ivr"


async def bridged(url: str, call_id: str, how: str) -> dict[str, Any]:
    """The call left Helpline for the toll-free line, `how`."""
    await until(
        "the escalation", lambda: record(url, call_id).get("escalation"), within=20
    )
    escalation: dict[str, Any] = json.loads(record(url, call_id)["escalation"])
    assert escalation["how"] == how
    assert escalation["offers"] == ["faq", "callback"]
    assert record(url, call_id)["reason"] == "tollfree"
    return escalation


# Registration


async def register_at(
    sipp: Any, sip_workers: Any, password: str, expires: int = 60
) -> tuple[Any, Any]:
    """SIPp as the registrar (it knows USER and PASSWORD, grants `expires`
    seconds), and a worker that registers there with `password`."""
    port = free_udp_port()
    registrar = await sipp(
        "registrar.xml", port=port, user=USER, password=PASSWORD, expires=expires
    )
    worker = sip_workers(
        trunk_registrar=f"sip:127.0.0.1:{port}",
        trunk_username=USER,
        trunk_password=password,
    )
    return registrar, worker


async def test_the_trunk_account_registers_with_digest_and_refreshes(
    helpline: RunningHelpline, sip_workers: Any, sipp: Any, redis_url: str
) -> None:
    registrar, worker = await register_at(sipp, sip_workers, PASSWORD, expires=8)
    await until(
        "registration", lambda: heartbeat(redis_url).get("trunk") == "registered"
    )
    health = await sip_health(helpline)
    assert health["workers"][0]["trunk"] == "registered"
    # Granted 8 s, the worker registers again before they run out.
    await until(
        "the refresh",
        lambda: registrar.messages().count("REGISTER sip:") >= 3,
        within=12,
    )
    assert heartbeat(redis_url)["trunk"] == "registered"
    assert worker.stop() == 0  # and un-registers on the way out
    assert await registrar.wait(10) == 0, registrar.messages()[-3000:]
    trace = registrar.messages()
    assert "SIP/2.0 401 Unauthorized" in trace
    signed = headers_in(trace, "Authorization")
    assert len(signed) >= 3
    assert all(digest_ok(h, "REGISTER", USER, PASSWORD) for h in signed)


async def test_a_refused_registration_shows_in_heartbeat_and_healthz(
    helpline: RunningHelpline, sip_workers: Any, sipp: Any, redis_url: str
) -> None:
    registrar, worker = await register_at(sipp, sip_workers, "not-the-password")
    await until(
        "the refusal", lambda: heartbeat(redis_url).get("trunk") == "failed:403"
    )
    health = await sip_health(helpline)
    assert health["workers"][0]["trunk"] == "failed:403"
    assert await registrar.wait(10) == 0
    signed = headers_in(registrar.messages(), "Authorization")
    assert signed and not digest_ok(signed[0], "REGISTER", USER, PASSWORD)
    assert worker.stop() == 0


async def test_no_registrar_means_unregistered(
    helpline: RunningHelpline, sip_workers: Any, redis_url: str
) -> None:
    worker = sip_workers()
    assert heartbeat(redis_url)["trunk"] == "unregistered"
    assert (await sip_health(helpline))["workers"][0]["trunk"] == "unregistered"
    assert worker.stop() == 0


# The toll-free INVITE


async def test_a_challenged_toll_free_invite_is_sent_again_with_credentials(
    helpline: RunningHelpline,
    sip_workers: Any,
    sipp: Any,
    rtp_peer: Any,
    tmp_path: Path,
    redis_url: str,
) -> None:
    await publish_phone_menu(helpline)
    port = free_udp_port()
    trunk = await sipp("trunk_challenge.xml", port=port, extra=("-rtp_echo",))
    worker = sip_workers(
        tollfree_uri=f"sip:{LINE}@127.0.0.1:{port}",
        trunk_username=USER,
        trunk_password=PASSWORD,
    )
    caller, call_id = await line_caller(
        sipp, rtp_peer, worker, tmp_path, redis_url, hold_ms=9000
    )
    await bridged(redis_url, call_id, "bridged through the trunk")
    assert await caller.wait(30) == 0, caller.messages()[-3000:]
    assert await trunk.wait(10) == 0, trunk.messages()[-3000:]
    trace = trunk.messages()
    assert trace.count(f"INVITE sip:{LINE}@") == 2
    signed = headers_in(trace, "Proxy-Authorization")
    assert len(signed) == 1 and digest_ok(signed[0], "INVITE", USER, PASSWORD)
    assert worker.stop() == 0


async def start_tls_trunk(sipp: Any, tls_relay: Any, scheme: str) -> tuple[Any, Any]:
    """SIPp answering on TCP behind a TLS front; its Contact is the front."""
    backend = free_port_pair()
    relay = await tls_relay(backend)
    contact = (
        f"sips:127.0.0.1:{relay.port}"
        if scheme == "sips"
        else f"sip:127.0.0.1:{relay.port};transport=tls"
    )
    trunk = await sipp(
        "trunk_answers.xml",
        port=backend,
        extra=("-t", "t1", "-rtp_echo"),
        contact=contact,
    )
    await asyncio.sleep(0.3)  # SIPp listening
    return trunk, relay


def tls_line(scheme: str, port: int) -> str:
    if scheme == "sips":
        return f"sips:{LINE}@127.0.0.1:{port}"
    return f"sip:{LINE}@127.0.0.1:{port};transport=tls"


@pytest.mark.parametrize(
    ("scheme", "verify"),
    [("sips", "off"), ("transport=tls", "ca-file")],
)
async def test_a_tls_trunk_gets_the_call(
    helpline: RunningHelpline,
    sip_workers: Any,
    sipp: Any,
    rtp_peer: Any,
    tls_relay: Any,
    self_signed: Certificate,
    tmp_path: Path,
    redis_url: str,
    scheme: str,
    verify: str,
) -> None:
    await publish_phone_menu(helpline)
    trunk, relay = await start_tls_trunk(sipp, tls_relay, scheme)
    checks = (
        {"trunk_tls_verify": "false"}
        if verify == "off"
        else {"trunk_ca_file": str(self_signed.cert)}
    )
    worker = sip_workers(tollfree_uri=tls_line(scheme, relay.port), **checks)
    caller, call_id = await line_caller(
        sipp, rtp_peer, worker, tmp_path, redis_url, hold_ms=9000
    )
    await bridged(redis_url, call_id, "bridged through the trunk")
    assert await caller.wait(30) == 0, caller.messages()[-3000:]
    assert await trunk.wait(10) == 0, trunk.messages()[-3000:]
    assert relay.handshakes >= 1 and relay.bytes_in > 1000
    assert "Via: SIP/2.0/TLS 127.0.0.1:" in trunk.messages()
    assert worker.stop() == 0


async def test_a_tls_trunk_that_fails_verification_falls_back_to_the_callback(
    helpline: RunningHelpline,
    sip_workers: Any,
    sipp: Any,
    rtp_peer: Any,
    tls_relay: Any,
    tmp_path: Path,
    redis_url: str,
) -> None:
    await publish_phone_menu(helpline)
    trunk, relay = await start_tls_trunk(sipp, tls_relay, "transport=tls")
    worker = sip_workers(tollfree_uri=tls_line("transport=tls", relay.port))
    caller, call_id = await line_caller(
        sipp, rtp_peer, worker, tmp_path, redis_url, hold_ms=16000
    )
    await back_at_the_offer(helpline, redis_url, call_id, "sip-503")
    # The handshake happened, the certificate failed, no request went out.
    assert relay.handshakes >= 1 and relay.bytes_in == 0
    assert "PJSIP_TLS_ECERTVERIF" in worker.log_text()
    assert "INVITE" not in trunk.messages()
    assert await caller.wait(30) == 0, caller.messages()[-3000:]
    assert worker.stop() == 0


async def test_a_large_toll_free_invite_goes_over_tcp(
    helpline: RunningHelpline,
    sip_workers: Any,
    sipp: Any,
    rtp_peer: Any,
    tmp_path: Path,
    redis_url: str,
) -> None:
    await publish_phone_menu(helpline)
    port = free_port_pair()
    trunk = await sipp(
        "trunk_answers.xml",
        port=port,
        extra=("-t", "t1", "-rtp_echo"),
        contact=f"sip:127.0.0.1:{port};transport=tcp",
    )
    await asyncio.sleep(0.3)
    # Without a transport parameter; the Request-URI and To carry the pad.
    pad = "x" * 600
    worker = sip_workers(tollfree_uri=f"sip:{LINE}@127.0.0.1:{port};x-pad={pad}")
    caller, call_id = await line_caller(
        sipp, rtp_peer, worker, tmp_path, redis_url, hold_ms=9000
    )
    await bridged(redis_url, call_id, "bridged through the trunk")
    assert await caller.wait(30) == 0, caller.messages()[-3000:]
    assert await trunk.wait(10) == 0, trunk.messages()[-3000:]
    trace = trunk.messages()
    invite = trace[trace.index(f"INVITE sip:{LINE}@") :].split("\n\n\n")[0]
    assert len(invite.encode()) > 1300
    assert "Via: SIP/2.0/TCP 127.0.0.1:" in invite
    assert worker.stop() == 0


# Failures of the line


@pytest.mark.parametrize(
    ("status", "settings", "reason"),
    [
        ("503 Service Unavailable", {}, "sip-503"),
        ("", {"trunk_answer_s": "3"}, "no-answer"),  # rings, never answers
    ],
    ids=["503", "never-answers"],
)
async def test_a_failing_line_sends_the_caller_back_to_the_callback_offer(
    helpline: RunningHelpline,
    sip_workers: Any,
    sipp: Any,
    rtp_peer: Any,
    tmp_path: Path,
    redis_url: str,
    status: str,
    settings: dict[str, str],
    reason: str,
) -> None:
    await publish_phone_menu(helpline)
    port = free_udp_port()
    scenario = str(refusing_trunk(tmp_path, status)) if status else "trunk_rings.xml"
    trunk = await sipp(scenario, port=port)
    worker = sip_workers(tollfree_uri=f"sip:{LINE}@127.0.0.1:{port}", **settings)
    caller, call_id = await line_caller(
        sipp, rtp_peer, worker, tmp_path, redis_url, hold_ms=18000
    )
    started = time.monotonic()
    assert await trunk.wait(30) == 0, trunk.messages()[-3000:]
    if reason == "no-answer":
        assert "CANCEL sip:" in trunk.messages()
        assert time.monotonic() - started >= 3
    await back_at_the_offer(helpline, redis_url, call_id, reason)
    assert await caller.wait(30) == 0, caller.messages()[-3000:]
    assert worker.stop() == 0


# Blind transfer by REFER


@pytest.mark.parametrize(
    ("line", "domain", "refer_to", "sipfrag"),
    [
        (f"tel:{LINE}", "", f"<tel:{LINE}>", "SIP/2.0 200 OK"),
        (
            LINE,
            "trunk.example.net",
            f"<sip:{LINE}@trunk.example.net>",
            "SIP/2.0 200 OK",
        ),
        (LINE, "", f"<tel:{LINE}>", "SIP/2.0 403 Forbidden"),
    ],
    ids=["tel-200", "domain-200", "bare-403"],
)
async def test_blind_transfer_by_refer(
    helpline: RunningHelpline,
    sip_workers: Any,
    sipp: Any,
    rtp_peer: Any,
    tmp_path: Path,
    redis_url: str,
    line: str,
    domain: str,
    refer_to: str,
    sipfrag: str,
) -> None:
    await publish_phone_menu(helpline)
    settings = {"tollfree_uri": line, "trunk_refer": "true"}
    if domain:
        settings["trunk_domain"] = domain
    worker = sip_workers(**settings)
    media = await rtp_peer()
    taken = sipfrag.startswith("SIP/2.0 2")
    after = [("wait_bye", 10000)] if taken else [("pause", 16000), ("bye",)]
    scenario = walk_to_the_line(
        media.port, tmp_path / "refer.xml", then=[answer_refer(sipfrag), *after]
    )
    caller, call_id = await walk_in(sipp, worker, scenario, redis_url)
    if taken:
        await bridged(redis_url, call_id, "transferred by REFER")
    else:
        await back_at_the_offer(helpline, redis_url, call_id, "refer-403")
    assert await caller.wait(40) == 0, caller.messages()[-3000:]
    assert headers_in(caller.messages(), "Refer-To") == [refer_to]
    assert worker.stop() == 0

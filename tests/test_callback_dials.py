"""Callbacks over the trunk: a media worker dials the customer back.

The customer asked for a callback in a page and closed it, so an agent's
claim sends the call to a media worker, which dials the number through the
trunk. SIPp is the trunk, and the customer's phone behind it: its audio is
a socket of the test's own. The agent is a protocol client with an aiortc
peer, as the softphone would be. Tones prove the audio: the customer's
1 kHz tone must reach the agent, the agent's 440 Hz tone the customer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from gateway.callback_dials import unreached_reason
from tests.fixtures.app import ClientFactory, RunningHelpline, WsClient
from tests.fixtures.sip import WorkerProcess, fields, free_udp_port
from tests.fixtures.trunk import refusing_trunk
from tests.test_bridge import (
    ON_LOOPBACK,
    hold_and_resume,
    take_worker_offer,
    tones_both_ways,
)
from tests.test_signaling import agent

#: The customer's number (E.164), and how the trunk is asked for it.
NUMBER = "+12025550143"
DOMAIN = "trunk.example.net"
REQUEST_URI = f"INVITE sip:{NUMBER}@{DOMAIN} SIP/2.0"


@pytest.mark.parametrize(
    ("code", "gave_up", "reason"),
    [
        (486, False, "busy"),
        (600, False, "busy"),
        (603, False, "busy"),
        (408, False, "no-answer"),
        (480, False, "no-answer"),
        (487, True, "no-answer"),  # cancelled after the answer timeout
        (404, False, "failed"),
        (503, False, "failed"),
        (0, False, "failed"),  # no response at all
    ],
)
def test_how_an_unanswered_dial_is_told(code: int, gave_up: bool, reason: str) -> None:
    assert unreached_reason(code, gave_up) == reason


@pytest.fixture
def redis_url(sip_redis_url: str) -> str:
    return sip_redis_url


@dataclass
class Dialled:
    """An agent at `desk` who claimed `callback`, whose call `call_id` a
    worker dials over the trunk (SIPp, `phone`)."""

    desk: WsClient
    worker: WorkerProcess
    phone: Any
    callback: str
    call_id: str


def through_trunk(port: int, **settings: str) -> dict[str, str]:
    """A worker's settings: the trunk is SIPp on `port` (its outbound
    proxy), numbers go to the trunk's termination domain."""
    return {
        "trunk_proxy": f"sip:127.0.0.1:{port};lr",
        "trunk_domain": DOMAIN,
        **ON_LOOPBACK,
        **settings,
    }


async def request_and_leave(node: RunningHelpline, ws_clients: ClientFactory) -> str:
    """A customer asks for a callback in the page's form, then closes the
    page: the callback can only go over the trunk."""
    page = await ws_clients(node.ws_url, {"role": "customer", "name": "Ada"})
    consent = page.welcome["callbacks"]["consent"]
    await page.send({"type": "callback.request", "number": NUMBER, "consent": consent})
    status = await page.expect("callback.status", within=10)
    assert status["state"] in ("waiting", "offered")  # the agent is free
    await page.close()
    # Gone once the node has let go of its socket (the session waits out
    # its grace period without one).
    session = f"session:{page.welcome['session_id']}"
    deadline = time.monotonic() + 5
    while record_of(node.settings.redis_url, session).get("conn"):
        assert time.monotonic() < deadline, "the page's session kept its socket"
        await asyncio.sleep(0.05)
    callback: str = status["callback"]
    return callback


Claim = Callable[..., Awaitable[Dialled]]


@pytest.fixture
def claim(
    helpline: RunningHelpline,
    ws_clients: ClientFactory,
    sip_workers: Any,
    sipp: Any,
) -> Claim:
    """``claim(phone_scenario, worker_settings=None, port=0, **phone_args)``:
    a callback from a closed page, claimed by an agent; the phone (SIPp
    running `phone_scenario` on `port`) is the trunk."""

    async def run(
        phone_scenario: str,
        worker_settings: dict[str, str] | None = None,
        port: int = 0,
        **phone_args: Any,
    ) -> Dialled:
        port = port or free_udp_port()
        phone = await sipp(phone_scenario, port=port, **phone_args)
        worker = sip_workers(**through_trunk(port, **(worker_settings or {})))
        desk = await agent(helpline, ws_clients, "Grace")
        callback = await request_and_leave(helpline, ws_clients)
        await desk.send({"type": "callback.claim", "callback": callback})
        dialling = await desk.call_state("dialling", within=10)
        assert dialling["callback"] == callback and dialling["via"] == "trunk"
        assert dialling["caller"]["number"] == NUMBER
        return Dialled(desk, worker, phone, callback, dialling["call_id"])

    return run


def record_of(url: str, key: str) -> dict[str, str]:
    with redis.Redis.from_url(url, protocol=2) as client:
        return fields(client.hgetall(f"helpline:{key}"))


async def agent_free_again(desk: WsClient, within: float = 10.0) -> None:
    await desk.expect(
        lambda e: e.get("type") == "agent.state" and e["status"] == "available",
        within,
    )


async def unreached(dialled: Dialled, url: str, reason: str, result: str) -> None:
    """The agent learns the call ended with `reason` and is free again; the
    callback waits again, its attempt recorded as `result`."""
    ended = await dialled.desk.call_state("ended", within=30)
    assert ended["call_id"] == dialled.call_id
    assert ended["reason"] == reason
    await agent_free_again(dialled.desk)
    await waits_again(url, dialled.callback, result)


async def waits_again(url: str, callback: str, result: str) -> dict[str, str]:
    """The callback's record once it waits again after an attempt."""
    deadline = time.monotonic() + 10
    while True:
        record = record_of(url, f"callback:{callback}")
        if record.get("state") == "waiting":
            break
        assert time.monotonic() < deadline, record
        await asyncio.sleep(0.1)
    assert record["attempts"] == "1"
    assert record["last_result"] == result
    return record


async def test_the_customer_answers_and_talks_with_the_agent(
    claim: Claim,
    rtp_peer: Any,
    redis_url: str,
    loopback_ice: None,
) -> None:
    media = await rtp_peer()
    port = free_udp_port()
    dialled = await claim(
        "trunk_media_at.xml",
        port=port,
        contact=f"sip:127.0.0.1:{port}",
        rtp=media.port,
    )
    desk, call_id = dialled.desk, dialled.call_id
    answered = await desk.call_state("answered", within=20)
    assert answered["call_id"] == call_id
    peer, ear = await take_worker_offer(desk, call_id)
    try:
        await media.wait_audio(packets=25)
        assert REQUEST_URI in dialled.phone.messages()
        await tones_both_ways(media, ear)
        # Hold and resume as for any phone caller.
        await hold_and_resume(desk, call_id, media)

        # The agent hangs up: the customer's phone gets a BYE.
        await desk.send({"type": "call.hangup", "call_id": call_id})
        ended = await desk.call_state("ended")
        assert ended["reason"] == "agent-hangup"
        await agent_free_again(desk)
        assert await dialled.phone.wait(20) == 0, dialled.phone.messages()[-3000:]
    finally:
        await peer.close()
    assert record_of(redis_url, f"callback:{dialled.callback}")["state"] == "wrap-up"
    assert dialled.worker.stop() == 0
    log = dialled.worker.log.read_text()
    assert "callback answered" in log
    assert NUMBER not in log  # text logs never show the number


async def test_the_customer_hangs_up_and_the_agent_is_free(
    claim: Claim,
    rtp_peer: Any,
    loopback_ice: None,
) -> None:
    media = await rtp_peer()
    dialled = await claim(
        "phone_answers_hangs_up.xml",
        extra=("-d", "6000"),
        rtp=media.port,
    )
    desk, call_id = dialled.desk, dialled.call_id
    await desk.call_state("answered", within=20)
    peer, ear = await take_worker_offer(desk, call_id)
    try:
        since = time.monotonic()
        await media.wait_audio(packets=25)
        await media.send_tone(1000.0, 1.0)
        assert ear.tone_level(1000.0, since + 0.3) > 0.5
        ended = await desk.call_state("ended", within=20)
        assert ended["reason"] == "customer-hangup"
        await agent_free_again(desk)
        # The phone's BYE was answered 200.
        assert await dialled.phone.wait(10) == 0, dialled.phone.messages()[-3000:]
    finally:
        await peer.close()
    assert dialled.worker.stop() == 0


async def test_a_busy_line_counts_the_attempt(
    claim: Claim,
    tmp_path: Path,
    redis_url: str,
) -> None:
    busy = refusing_trunk(tmp_path, "486 Busy Here")
    dialled = await claim(str(busy))
    await unreached(dialled, redis_url, "busy", "busy")
    assert await dialled.phone.wait(10) == 0, dialled.phone.messages()[-3000:]
    assert REQUEST_URI in dialled.phone.messages()
    assert dialled.worker.stop() == 0


async def test_a_phone_nobody_answers_is_given_up_after_the_answer_timeout(
    claim: Claim,
    redis_url: str,
) -> None:
    dialled = await claim(
        "trunk_rings.xml",
        worker_settings={"trunk_answer_s": "3"},
    )
    started = time.monotonic()
    await unreached(dialled, redis_url, "no-answer", "no-answer")
    assert 2.5 < time.monotonic() - started < 10
    # The phone got the worker's CANCEL.
    assert await dialled.phone.wait(10) == 0, dialled.phone.messages()[-3000:]
    assert dialled.worker.stop() == 0


async def test_a_number_the_policy_refuses_is_never_dialled(
    claim: Claim,
    redis_url: str,
) -> None:
    # The node took a number in the United States; the worker now calls
    # back only in Canada (the policy narrowed since the request).
    dialled = await claim(
        "trunk_rings.xml",
        worker_settings={"callback_countries": "CA"},
    )
    await unreached(dialled, redis_url, "dial-failed", "failed")
    assert "INVITE" not in dialled.phone.messages()
    assert dialled.worker.stop() == 0
    assert "callback number refused by the number policy" in (dialled.worker.log_text())


async def rung(dialled: Dialled) -> None:
    """Wait until the customer's phone has the worker's INVITE."""
    deadline = time.monotonic() + 10
    while REQUEST_URI not in dialled.phone.messages():
        assert time.monotonic() < deadline, "the phone never rang"
        await asyncio.sleep(0.1)


async def test_a_worker_stopped_while_the_phone_rings_gives_the_dial_back(
    claim: Claim,
    redis_url: str,
) -> None:
    dialled = await claim("trunk_rings.xml")
    await rung(dialled)
    assert dialled.worker.stop() == 0
    await unreached(dialled, redis_url, "dial-failed", "failed")
    # The phone got the worker's CANCEL.
    assert await dialled.phone.wait(10) == 0, dialled.phone.messages()[-3000:]


async def test_a_worker_killed_while_the_phone_rings(
    claim: Claim,
    redis_url: str,
) -> None:
    dialled = await claim("trunk_rings.xml")
    await rung(dialled)
    dialled.worker.kill()
    # A node finds the dead worker's dial pending and ends the call.
    await unreached(dialled, redis_url, "bridge-lost", "lost")
    call = record_of(redis_url, f"call:{dialled.call_id}")
    assert call["state"] == "ended"

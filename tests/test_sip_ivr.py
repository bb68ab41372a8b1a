"""Phone callers in the IVR: SIPp calls a real media worker process, the
caller's media is a socket of the test's own, and the IVR runs on the same
Redis as the web nodes. Each test runs on redis-server and the embedded
Redis."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from ivr.faq import FaqEntry
from ivr.inband import dtmf_tone
from tests.fixtures.app import RunningHelpline
from tests.fixtures.sip import (
    RtpPeer,
    WorkerProcess,
    call_ids,
    caller_scenario,
    fields,
    free_udp_port,
)
from tests.test_ivr_calls import publish

pytestmark = pytest.mark.sip


@pytest.fixture
def redis_url(sip_redis_url: str) -> str:
    """One Redis for these tests (see tests/fixtures/sip.py)."""
    return sip_redis_url


# Short prompts keep the walks quick; the shape is the demo's: answers and
# the callback offer come before the toll-free line.
PHONE_MENU = """
id: phone
version: 1
start: main
faq_ids: [faq-short]
nodes:
  main:
    kind: menu
    prompt: For our hours press 1.
    options:
      "1": {target: hours, label: Hours}
    timeout_seconds: 8
    on_timeout: hours
    on_invalid: hours
  hours:
    kind: faq
    prompt: Hours.
    answers: [faq-short]
    next: offer
  offer:
    kind: callback
    prompt: Callback? Press 1, or 2 for more.
    number_prompt: Your number, then hash.
    next: bye
    declined: more
    timeout_seconds: 8
  more:
    kind: menu
    prompt: For the phone line press 0.
    options:
      "0": {target: line, label: Phone line}
    timeout_seconds: 8
    on_timeout: bye
    on_invalid: bye
  line:
    kind: tollfree
    prompt: Connecting you.
  bye:
    kind: hangup
    prompt: Goodbye.
"""


PhoneLine = Callable[..., Awaitable[tuple[WorkerProcess, RtpPeer]]]


@pytest.fixture
def phone_line(helpline: RunningHelpline, sip_workers: Any, rtp_peer: Any) -> PhoneLine:
    """``await phone_line(**settings)``: the phone menu published, a media
    worker with `settings` started, and a caller's RTP socket."""

    async def start(**settings: str) -> tuple[WorkerProcess, RtpPeer]:
        await publish_phone_menu(helpline)
        return sip_workers(**settings), await rtp_peer()

    return start


async def publish_phone_menu(
    node: RunningHelpline, yaml_text: str = PHONE_MENU
) -> None:
    await node.node.faq.put(
        FaqEntry("faq-short", "When are you open?", "Every day, eight to eight.")
    )
    await publish(node, yaml_text)


def ivr_log(url: str, call_id: str) -> list[dict[str, Any]]:
    with redis.Redis.from_url(url, protocol=2) as client:
        return [
            json.loads(e) for e in client.lrange(f"helpline:call:{call_id}:ivr", 0, -1)
        ]


async def the_call(url: str, within: float = 10.0) -> str:
    deadline = time.monotonic() + within
    with redis.Redis.from_url(url, protocol=2) as client:
        while time.monotonic() < deadline:
            ids = call_ids(client)
            if ids:
                return ids[0]
            await asyncio.sleep(0.05)
    raise AssertionError("no call record appeared")


async def digits_heard(url: str, call_id: str, want: list[str], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        got = [e["d"] for e in ivr_log(url, call_id) if e["k"] == "digit"]
        if got[: len(want)] == want:
            return
        await asyncio.sleep(0.1)
    got = [e["d"] for e in ivr_log(url, call_id) if e["k"] == "digit"]
    raise AssertionError(f"the IVR got digits {got}, not {want}")


def record(url: str, call_id: str) -> dict[str, str]:
    with redis.Redis.from_url(url, protocol=2) as client:
        return fields(client.hgetall(f"helpline:call:{call_id}"))


async def test_info_digits_walk_the_menu_to_a_callback(
    phone_line: PhoneLine,
    sipp: Any,
    tmp_path: Path,
    redis_url: str,
) -> None:
    worker, media = await phone_line()
    relay = "application/dtmf-relay"
    scenario = caller_scenario(
        tmp_path / "walk.xml",
        [
            ("pause", 1500),
            # pjsua answers application/dtmf with 500 (it reads only
            # dtmf-relay); the worker reads the body itself and hears the key.
            ("info", "1", "application/dtmf", 500),
            ("pause", 5000),
            ("info", "Signal= 1\nDuration= 120", relay),
            *[("info", f"Signal={d}\nDuration=100", relay) for d in "2125550134"],
            ("info", "Signal=#\nDuration=100", relay),
            ("pause", 300),
            ("info", "Signal=1\nDuration=100", relay),  # "press 1 to confirm"
            ("wait_bye", 30000),
        ],
        media.port,
    )
    run = await sipp(str(scenario), f"127.0.0.1:{worker.sip_port}")
    call_id = await the_call(redis_url)
    await media.wait_audio(packets=25)
    assert set(media.received) == {0}, "prompts arrive as PCMU"
    code = await run.wait(60)
    assert code == 0, run.messages()[-3000:]
    await digits_heard(redis_url, call_id, list("112125550134#1"), within=5)
    with redis.Redis.from_url(redis_url, protocol=2) as client:
        kept = [fields(f) for _, f in client.xrange("helpline:callbacks")]
        callback = fields(client.hgetall(f"helpline:callback:{kept[0]['callback']}"))
    assert [k["number"] for k in kept] == ["+12125550134"]
    # Waiting for an agent, with the caller's journey; no page to ring.
    assert (callback["state"], callback["session"]) == ("waiting", "")
    assert json.loads(callback["journey"])["offers"] == ["faq", "callback"]
    # The caller was told when to expect the call before the goodbye.
    confirmations = [e for e in ivr_log(redis_url, call_id) if e["k"] == "kept"]
    assert [e["w"] for e in confirmations] == ["as soon as possible"]
    assert record(redis_url, call_id)["state"] == "ended"
    assert worker.stop() == 0


def tollfree_at(port: int) -> str:
    """The toll-free line: a SIPp trunk on `port`."""
    return f"sip:+18005550100@127.0.0.1:{port}"


def walk_to_the_line(
    media_port: int,
    path: Path,
    hold_ms: int = 8000,
    then: list[tuple[Any, ...]] | None = None,
) -> Path:
    """A caller who takes the answers, declines the callback and asks for
    the phone line, then stays on the line for `hold_ms` and hangs up (or
    does the steps `then`)."""
    relay = "application/dtmf-relay"
    return caller_scenario(
        path,
        [
            ("pause", 1500),
            ("info", "Signal=1\nDuration=160", relay),
            ("pause", 5000),
            ("info", "Signal=2\nDuration=160", relay),
            ("pause", 800),
            ("info", "Signal=0\nDuration=160", relay),
            *(then or [("pause", hold_ms), ("bye",)]),
        ],
        media_port,
    )


async def test_the_toll_free_line_comes_after_both_offers_with_audio_both_ways(
    helpline: RunningHelpline,
    phone_line: PhoneLine,
    sipp: Any,
    tmp_path: Path,
    redis_url: str,
) -> None:
    trunk_port = free_udp_port()
    trunk = await sipp("uas", port=trunk_port, extra=("-rtp_echo",), timeout_s=60)
    worker, media = await phone_line(tollfree_uri=tollfree_at(trunk_port))
    caller = await sipp(
        str(walk_to_the_line(media.port, tmp_path / "line.xml", hold_ms=9000)),
        f"127.0.0.1:{worker.sip_port}",
    )
    call_id = await the_call(redis_url)
    deadline = time.monotonic() + 20
    while "INVITE sip:+18005550100" not in trunk.messages():
        assert time.monotonic() < deadline, "the trunk never got the INVITE"
        await asyncio.sleep(0.1)
    # By the time the trunk is dialled, the IVR has made both offers.
    nodes = [e for e in ivr_log(redis_url, call_id) if e["k"] == "digit"]
    assert [e["d"] for e in nodes] == ["1", "2", "0"]
    await asyncio.sleep(1.5)  # answered and bridged
    since = time.monotonic()
    await media.send_tone(1000.0, 2.0)
    # The trunk echoes what it hears: the caller's tone came back through it.
    assert media.tone_level(1000.0, since) > 0.5, media.received
    assert await caller.wait(30) == 0, caller.messages()[-3000:]
    escalation = json.loads(record(redis_url, call_id)["escalation"])
    assert escalation["offers"] == ["faq", "callback"]
    assert escalation["node"] == "line"
    assert escalation["how"] == "bridged through the trunk"
    assert record(redis_url, call_id)["reason"] == "tollfree"
    # The worker's steps are in the event log, as a phone caller's.
    events = [
        e
        async for _, e in helpline.node.events.read(0, time.time() + 60)
        if e.get("call") == call_id
    ]
    assert [(e["kind"], e.get("node") or e.get("detail")) for e in events] == [
        ("ivr.node", "main"),
        ("ivr.node", "hours"),
        ("ivr.offer", "hours"),
        ("faq.viewed", "hours"),
        ("ivr.node", "offer"),
        ("ivr.offer", "offer"),
        ("ivr.node", "more"),
        ("ivr.node", "line"),
        ("tollfree", None),
        ("ended", "tollfree"),
    ]
    assert [e["detail"] for e in events if e["kind"] == "ivr.offer"] == [
        "faq",
        "callback",
    ]
    assert events[3]["detail"] == "faq-short"
    assert events[-2]["reason"] == "menu"
    assert all(e["channel"] == "phone" and "visit" not in e for e in events)
    # Both legs ended together: the trunk got a BYE when the caller left.
    deadline = time.monotonic() + 5
    while "BYE sip:" not in trunk.messages():
        assert time.monotonic() < deadline, "the trunk leg was not hung up"
        await asyncio.sleep(0.1)
    async with aiohttp.ClientSession() as http:
        async with http.get(helpline.url + "/metrics") as response:
            figures = await response.text()
    assert 'helpline_sip_events_total{event="tollfree:bridged"} 1.0' in figures
    assert 'helpline_sip_events_total{event="dtmf:info"} 3.0' in figures
    assert 'helpline_sip_worker_limit{worker="w0"} 4.0' in figures
    assert worker.stop() == 0


async def test_a_failing_trunk_sends_the_caller_back_to_the_callback_offer(
    helpline: RunningHelpline,
    phone_line: PhoneLine,
    sipp: Any,
    tmp_path: Path,
    redis_url: str,
) -> None:
    trunk_port = free_udp_port()
    busy = tmp_path / "busy.xml"
    busy.write_text(BUSY_TRUNK)
    trunk = await sipp(str(busy), port=trunk_port, timeout_s=60)
    worker, media = await phone_line(tollfree_uri=tollfree_at(trunk_port))
    # The caller stays through the apology and the offer (about 7 s).
    caller = await sipp(
        str(walk_to_the_line(media.port, tmp_path / "line.xml", hold_ms=16000)),
        f"127.0.0.1:{worker.sip_port}",
    )
    call_id = await the_call(redis_url)
    assert await trunk.wait(30) == 0, trunk.messages()[-2000:]
    deadline = time.monotonic() + 10
    while True:
        log = ivr_log(redis_url, call_id)
        if any(e["k"] == "transfer-failed" for e in log):
            break
        assert time.monotonic() < deadline, log
        await asyncio.sleep(0.1)
    failed = next(e for e in log if e["k"] == "transfer-failed")
    assert failed["r"] == "sip-486"
    # The caller is offered the callback again and is still in the IVR.
    journey = await helpline.node.ivr.journey(call_id)
    assert journey is not None
    deadline = time.monotonic() + 10
    while journey.nodes[-1] != "offer":
        assert time.monotonic() < deadline, journey
        await asyncio.sleep(0.2)
        journey = await helpline.node.ivr.journey(call_id)
        assert journey is not None
    assert record(redis_url, call_id)["state"] == "ivr"
    assert await caller.wait(30) == 0
    assert worker.stop() == 0


BUSY_TRUNK = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="busy toll-free line">
  <recv request="INVITE"/>
  <send>
    <![CDATA[
      SIP/2.0 486 Busy Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
</scenario>
"""


@pytest.mark.parametrize(
    ("settings", "service", "code"),
    [
        ({}, "premium-rate", 404),
        ({"sip_trusted": "127.0.0.2/32"}, "helpline", 403),
    ],
    ids=["unknown-number", "foreign-source"],
)
async def test_the_guard_refuses_unknown_numbers_and_foreign_sources(
    helpline: RunningHelpline,
    sip_workers: Any,
    sipp: Any,
    tmp_path: Path,
    redis_url: str,
    settings: dict[str, str],
    service: str,
    code: int,
) -> None:
    worker = sip_workers(**settings)
    run = await sipp("uac", f"127.0.0.1:{worker.sip_port}", service=service)
    assert await run.wait(20) == 1
    assert f"SIP/2.0 {code} " in run.messages()
    with redis.Redis.from_url(redis_url, protocol=2) as client:
        assert call_ids(client) == []
    assert worker.stop() == 0


async def test_a_refer_from_the_caller_is_refused(
    phone_line: PhoneLine,
    sipp: Any,
    tmp_path: Path,
    redis_url: str,
) -> None:
    worker, media = await phone_line()
    scenario = caller_scenario(
        tmp_path / "refer.xml",
        [("pause", 500), ("refer", "<tel:+19005550199>"), ("pause", 500), ("bye",)],
        media.port,
    )
    run = await sipp(str(scenario), f"127.0.0.1:{worker.sip_port}")
    assert await run.wait(30) == 0, run.messages()[-3000:]
    assert "SIP/2.0 403" in run.messages()
    assert worker.stop() == 0


async def test_a_killed_worker_is_replaced_and_its_calls_end_on_both_sides(
    phone_line: PhoneLine,
    sipp: Any,
    tmp_path: Path,
    redis_url: str,
) -> None:
    worker, media = await phone_line()
    scenario = caller_scenario(tmp_path / "wait.xml", [("wait_bye", 30000)], media.port)
    run = await sipp(str(scenario), f"127.0.0.1:{worker.sip_port}")
    call_id = await the_call(redis_url)
    await media.wait_audio(packets=10)
    assert record(redis_url, call_id)["state"] == "ivr"
    worker.kill()  # SIGKILL: no BYE, no clean-up
    worker.start(redis_url)  # what the pool does
    # The caller's phone gets a BYE from the new worker, on the same port.
    assert await run.wait(20) == 0, run.messages()[-3000:]
    assert record(redis_url, call_id)["state"] == "ended"
    assert record(redis_url, call_id)["reason"] == "customer-lost"
    assert worker.stop() == 0


async def test_rfc4733_digits_walk_the_menu(
    phone_line: PhoneLine,
    sipp: Any,
    tmp_path: Path,
    redis_url: str,
) -> None:
    worker, media = await phone_line()
    scenario = caller_scenario(tmp_path / "rtp.xml", [("wait_bye", 30000)], media.port)
    run = await sipp(str(scenario), f"127.0.0.1:{worker.sip_port}")
    call_id = await the_call(redis_url)
    await media.wait_audio(packets=10)
    await media.press("1")
    await digits_heard(redis_url, call_id, ["1"], within=5)
    await asyncio.sleep(3.5)  # "Hours." and the answer cannot be interrupted
    for digit in "12125550134#1":  # ... then 1 to confirm the read-back
        await media.press(digit, duration_ms=80)
    await digits_heard(redis_url, call_id, list("112125550134#1"), within=5)
    assert await run.wait(30) == 0  # the IVR said goodbye and hung up
    with redis.Redis.from_url(redis_url, protocol=2) as client:
        kept = [fields(f) for _, f in client.xrange("helpline:callbacks")]
    assert [k["number"] for k in kept] == ["+12125550134"]
    assert worker.stop() == 0


async def test_in_band_tones_are_heard_when_no_telephone_event_is_offered(
    phone_line: PhoneLine,
    sipp: Any,
    tmp_path: Path,
    redis_url: str,
) -> None:
    worker, media = await phone_line()
    scenario = caller_scenario(
        tmp_path / "inband.xml", [("wait_bye", 30000)], media.port, events=False
    )
    run = await sipp(str(scenario), f"127.0.0.1:{worker.sip_port}")
    call_id = await the_call(redis_url)
    await media.wait_audio(packets=10)
    silence = bytes(1600)
    await media.send_pcm(dtmf_tone("1", 80) + silence)
    await digits_heard(redis_url, call_id, ["1"], within=5)
    await asyncio.sleep(3.5)
    keys = "12125550134#1"  # ... then 1 to confirm the read-back
    await media.send_pcm(b"".join(dtmf_tone(d, 70) + silence for d in keys))
    await digits_heard(redis_url, call_id, list("1" + keys), within=5)
    assert await run.wait(30) == 0
    assert worker.stop() == 0


async def test_keys_pressed_before_the_ivr_has_the_call_are_not_lost(
    phone_line: PhoneLine,
    sipp: Any,
    tmp_path: Path,
    redis_url: str,
) -> None:
    # The keys come right after the ACK, while the worker is still placing
    # the call and does not know its id yet.
    worker, media = await phone_line()
    relay = "application/dtmf-relay"
    scenario = caller_scenario(
        tmp_path / "early.xml",
        [
            *[("info", f"Signal={d}\nDuration=100", relay) for d in "19"],
            ("pause", 1000),
            ("bye",),
        ],
        media.port,
    )
    run = await sipp(str(scenario), f"127.0.0.1:{worker.sip_port}")
    call_id = await the_call(redis_url)
    assert await run.wait(30) == 0, run.messages()[-3000:]
    await digits_heard(redis_url, call_id, ["1", "9"], within=5)
    assert worker.stop() == 0

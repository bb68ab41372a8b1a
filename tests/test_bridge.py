"""Calls that cross between WebRTC and SIP in a media worker.

A phone caller (SIPp, with a socket of the test's own as its RTP) walks a
menu to the queue and an agent answers: the agent is a protocol client
with an aiortc peer, as the softphone would be, and the worker bridges the
two through the conference bridge. Tones prove the audio: the caller's
1 kHz tone must reach the agent, the agent's 440 Hz tone the caller.
"""

from __future__ import annotations

import array
import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from aiortc import RTCRtpSender
from av import AudioFrame

from gateway.bridge import BrowserLeg
from gateway.webrtc import Peer, ToneTrack
from ivr.hours import Calendar
from signaling.sdp import with_telephone_event
from tests.fixtures.app import ClientFactory, NodeFactory, RunningHelpline, WsClient
from tests.fixtures.sip import (
    RtpPeer,
    WorkerProcess,
    caller_scenario,
    fields,
    free_udp_port,
    tone_share,
)
from tests.test_event_log import VISIT, kinds, logged, walk_to_the_line
from tests.test_ivr_calls import Event, enter_ivr, menu_at, of_type, publish, walk
from tests.test_signaling import agent
from tests.test_sip_ivr import BUSY_TRUNK, publish_phone_menu, the_call, tollfree_at

pytestmark = pytest.mark.sip


@pytest.fixture
def redis_url(sip_redis_url: str) -> str:
    return sip_redis_url


QUEUE_MENU = """
id: agents
version: 1
start: main
nodes:
  main:
    kind: menu
    prompt: For an agent press 1.
    options:
      "1": {target: agents, label: An agent}
    timeout_seconds: 8
    on_timeout: agents
    on_invalid: agents
  agents:
    kind: queue
    prompt: Please hold.
    skill: general
    max_wait_seconds: 60
    overflow: bye
  bye:
    kind: hangup
    prompt: Goodbye.
"""

#: What a worker needs here to offer a browser 127.0.0.1 (aioice leaves
#: loopback out of its host candidates).
ON_LOOPBACK = {"ice_interfaces": "127.0.0.1"}


class Ear:
    """What an aiortc peer hears, as 16-bit samples with their arrival."""

    def __init__(self, peer: Peer) -> None:
        self.heard: list[tuple[float, int, array.array[int]]] = []
        peer.on_frame = self._frame

    def _frame(self, frame: AudioFrame) -> None:
        if frame.format.name != "s16":
            return
        channels = len(frame.layout.channels)
        samples = array.array(
            "h", bytes(frame.planes[0])[: frame.samples * 2 * channels]
        )
        self.heard.append((time.monotonic(), frame.sample_rate, samples[::channels]))

    def tone_level(self, freq: float, since: float) -> float:
        """As ``RtpPeer.tone_level``: frame by frame."""
        chunks = [(rate, s) for at, rate, s in self.heard if at >= since]
        if not chunks:
            return 0.0
        rate = chunks[0][0]
        return tone_share([list(s) for r, s in chunks if r == rate], freq, rate)


async def answer_as_agent(
    desk: WsClient, within: float = 20.0
) -> tuple[str, Peer, Ear]:
    """Accept the call that rings, and answer the worker's offer with a
    440 Hz tone."""
    ringing = await desk.call_state("ringing", within)
    call_id = ringing["call_id"]
    await desk.send({"type": "call.accept", "call_id": call_id})
    peer, ear = await take_worker_offer(desk, call_id)
    return call_id, peer, ear


async def take_worker_offer(
    desk: WsClient, call_id: str, within: float = 10.0
) -> tuple[Peer, Ear]:
    """Answer the media worker's offer to the agent at `desk` with a 440 Hz
    tone, as the softphone answers with its microphone."""
    offer = await desk.expect("sdp.offer", within=within)
    peer = Peer("agent")
    ear = Ear(peer)
    peer.add_audio(ToneTrack(440.0))
    answer = await peer.accept_offer(offer["sdp"])
    await desk.send({"type": "sdp.answer", "call_id": call_id, "sdp": answer})
    await asyncio.wait_for(peer.wait_connected(), 10)
    return peer, ear


async def phone_to_queue(
    helpline: RunningHelpline,
    sip_workers: Any,
    rtp_peer: Any,
    sipp: Any,
    tmp_path: Path,
    hold_ms: int = 60000,
) -> tuple[WorkerProcess, RtpPeer, Any]:
    await publish(helpline, QUEUE_MENU)
    worker = sip_workers(**ON_LOOPBACK)
    media = await rtp_peer()
    scenario = caller_scenario(
        tmp_path / "queue.xml",
        [
            ("pause", 1500),
            ("info", "Signal=1\nDuration=160", "application/dtmf-relay"),
            ("wait_bye", hold_ms),
        ],
        media.port,
    )
    run = await sipp(str(scenario), f"127.0.0.1:{worker.sip_port}")
    return worker, media, run


async def tones_both_ways(media: RtpPeer, ear: Ear) -> None:
    """The phone's 1 kHz tone (`media`) reaches the agent (`ear`), and the
    agent's 440 Hz tone the phone."""
    since = time.monotonic()
    await media.send_tone(1000.0, 2.0)
    assert ear.tone_level(1000.0, since + 0.3) > 0.5
    since = time.monotonic()
    await asyncio.sleep(1.5)
    assert media.tone_level(440.0, since) > 0.5, media.received


async def hold_and_resume(desk: WsClient, call_id: str, media: RtpPeer) -> None:
    """The agent at `desk` holds the call: the phone hears hold music, not
    the agent's 440 Hz; then takes it off hold: the agent again."""
    await desk.send({"type": "call.hold", "call_id": call_id, "on": True})
    await desk.call_state("held")
    await asyncio.sleep(0.3)
    since = time.monotonic()
    await asyncio.sleep(1.5)
    assert media.tone_level(440.0, since) < 0.2
    hold_notes = (261.63, 329.63, 392.0, 523.25, 659.26, 784.0)
    assert sum(media.tone_level(f, since) for f in hold_notes) > 0.1
    await desk.send({"type": "call.hold", "call_id": call_id, "on": False})
    await desk.call_state("answered")
    await asyncio.sleep(0.3)
    since = time.monotonic()
    await asyncio.sleep(1.5)
    assert media.tone_level(440.0, since) > 0.5


@dataclass
class Line:
    """The toll-free line for a test: SIPp answering at `uri`, its audio a
    socket of the test (`media`)."""

    uri: str
    media: RtpPeer
    trunk: Any


async def start_line(sipp: Any, rtp_peer: Any) -> Line:
    port = free_udp_port()
    media = await rtp_peer()
    trunk = await sipp(
        "trunk_media_at.xml",
        port=port,
        contact=f"sip:127.0.0.1:{port}",
        rtp=media.port,
    )
    return Line(tollfree_at(port), media, trunk)


@dataclass
class QueuedPhone:
    """An agent at `desk` and a phone caller (SIPp, its audio `media`)
    waiting in the queue for it."""

    desk: WsClient
    worker: WorkerProcess
    media: RtpPeer
    caller: Any


@pytest.fixture
async def queued_phone(
    helpline: RunningHelpline,
    ws_clients: ClientFactory,
    sip_workers: Any,
    rtp_peer: Any,
    sipp: Any,
    tmp_path: Path,
    loopback_ice: None,
) -> QueuedPhone:
    desk = await agent(helpline, ws_clients, "Grace")
    worker, media, caller = await phone_to_queue(
        helpline, sip_workers, rtp_peer, sipp, tmp_path
    )
    return QueuedPhone(desk, worker, media, caller)


async def test_a_phone_caller_reaches_a_web_agent_with_audio_both_ways(
    queued_phone: QueuedPhone, redis_url: str
) -> None:
    desk, worker = queued_phone.desk, queued_phone.worker
    media, caller = queued_phone.media, queued_phone.caller
    call_id, peer, ear = await answer_as_agent(desk)
    try:
        assert call_id == await the_call(redis_url)
        await media.wait_audio(packets=25)
        await tones_both_ways(media, ear)
        await hold_and_resume(desk, call_id, media)

        # The agent hangs up: the caller gets a BYE, the agent is free.
        await desk.send({"type": "call.hangup", "call_id": call_id})
        await desk.call_state("ended")
        await desk.expect(
            lambda e: e.get("type") == "agent.state" and e["status"] == "available"
        )
        assert await caller.wait(20) == 0, caller.messages()[-3000:]
        with redis.Redis.from_url(redis_url, protocol=2) as client:
            record = fields(client.hgetall(f"helpline:call:{call_id}"))
        assert record["reason"] == "agent-hangup"
        assert record["channel"] == "phone"
    finally:
        await peer.close()
    assert worker.stop() == 0
    assert "agent's audio closed" in worker.log_text()


async def test_a_killed_worker_frees_the_agent_within_seconds(
    queued_phone: QueuedPhone,
) -> None:
    desk, worker, media = queued_phone.desk, queued_phone.worker, queued_phone.media
    call_id, peer, _ = await answer_as_agent(desk)
    try:
        await media.wait_audio(packets=25)
        worker.kill()
        killed = time.monotonic()
        ended = await desk.call_state("ended", within=15)
        assert ended["call_id"] == call_id and ended["reason"] == "customer-lost"
        await desk.expect(
            lambda e: e.get("type") == "agent.state" and e["status"] == "available"
        )
        assert time.monotonic() - killed < 12
    finally:
        await peer.close()


# A web caller put through to the toll-free line


async def web_caller_at_the_line(
    node: RunningHelpline, ws_clients: ClientFactory
) -> tuple[WsClient, str, Event]:
    """A page that takes the answers, declines the callback and asks for
    the line; returns the client, its call and the `ivr.tollfree` event."""
    await publish_phone_menu(node)
    client = await ws_clients(node.ws_url, {"role": "customer", "name": "Ada"})
    call_id = await enter_ivr(client)
    await walk(client, menu_at("main"))
    await client.send({"type": "ivr.digit", "call_id": call_id, "digit": "1"})
    await walk(client, of_type("ivr.callback_form"), within=20)
    await client.send(
        {"type": "ivr.callback", "call_id": call_id, "node": "offer", "decline": True}
    )
    await walk(client, menu_at("more"))
    await client.send({"type": "ivr.digit", "call_id": call_id, "digit": "0"})
    tollfree = await walk(client, of_type("ivr.tollfree"))
    return client, call_id, tollfree


async def offer_tone(
    client: WsClient,
    call_id: str,
    freq: float,
    connect: bool = True,
    events: bool = False,
) -> tuple[Peer, Ear]:
    """Answered: offer the worker a tone, as the widget offers its microphone."""
    answered = await client.call_state("answered", within=10)
    assert answered["agent"] == {"name": "Toll-free line"}
    peer = Peer("customer")
    ear = Ear(peer)
    peer.add_audio(ToneTrack(freq))
    offer = await peer.create_offer()
    if events:  # as a browser offers them (aiortc has none of its own)
        offer = with_telephone_event(offer, 101, 8000)
    await client.send({"type": "sdp.offer", "call_id": call_id, "sdp": offer})
    answer = await client.expect("sdp.answer", within=10)
    await peer.accept_answer(answer["sdp"])
    if connect:
        await asyncio.wait_for(peer.wait_connected(), 10)
    return peer, ear


async def test_a_web_caller_reaches_the_toll_free_line_with_audio_both_ways(
    helpline_factory: NodeFactory,
    ws_clients: ClientFactory,
    sip_workers: Any,
    rtp_peer: Any,
    sipp: Any,
    redis_url: str,
    loopback_ice: None,
) -> None:
    the_line = await start_line(sipp, rtp_peer)
    line, media, trunk = the_line.uri, the_line.media, the_line.trunk
    node = await helpline_factory(tollfree_uri=line)
    worker = sip_workers(tollfree_uri=line, **ON_LOOPBACK)
    client, call_id, tollfree = await web_caller_at_the_line(node, ws_clients)
    assert tollfree["bridged"] is True
    peer, ear = await offer_tone(client, call_id, 440.0)
    try:
        await media.wait_audio(packets=25)
        assert "INVITE sip:+18005550100" in trunk.messages()
        # The page's voice reaches the line...
        since = time.monotonic()
        await asyncio.sleep(1.5)
        assert media.tone_level(440.0, since) > 0.5, media.received
        # ...and the line's reaches the page.
        since = time.monotonic()
        await media.send_tone(1000.0, 2.0)
        assert ear.tone_level(1000.0, since + 0.3) > 0.5
        # Keys on the page's keypad reach the line as RFC 4733 events.
        await client.send({"type": "call.dtmf", "call_id": call_id, "digits": "5"})
        deadline = time.monotonic() + 5
        while media.received[120] == 0:
            assert time.monotonic() < deadline, media.received
            await asyncio.sleep(0.05)
        await client.send({"type": "call.hangup", "call_id": call_id})
        ended = await client.call_state("ended")
        assert ended["reason"] == "customer-hangup"
        assert await trunk.wait(10) == 0, trunk.messages()[-2000:]  # got its BYE
    finally:
        await peer.close()
    with redis.Redis.from_url(redis_url, protocol=2) as redis_client:
        record = fields(redis_client.hgetall(f"helpline:call:{call_id}"))
    escalation = json.loads(record["escalation"])
    assert escalation["offers"] == ["faq", "callback"]
    assert escalation["how"] == "put through"
    assert record["channel"] == "web"
    # The line answered: one `tollfree` (the caller chose it in the menu),
    # then the end of the call.
    events = await logged(node, call_id)
    assert kinds(events)[-3:] == ["ivr.node", "tollfree", "ended"]
    line_node, reached, _ = events[-3:]
    assert line_node["node"] == "line"
    assert (reached["reason"], reached["channel"]) == ("menu", "web")
    assert worker.stop() == 0
    log = worker.log.read_text()
    assert "web caller put through to the toll-free line" in log
    assert "browser leg speaks pcmu (G.711 passed through)" in log


async def test_outside_hours_the_web_caller_put_through_went_there_closed(
    helpline_factory: NodeFactory,
    ws_clients: ClientFactory,
    sip_workers: Any,
    rtp_peer: Any,
    sipp: Any,
    loopback_ice: None,
) -> None:
    line = await start_line(sipp, rtp_peer)
    node = await helpline_factory(tollfree_uri=line.uri)
    sip_workers(tollfree_uri=line.uri, **ON_LOOPBACK)
    never_open = Calendar("UTC", {})
    client, call_id, tollfree = await walk_to_the_line(
        node, ws_clients, "0", never_open
    )
    assert tollfree["bridged"] is True
    peer, _ = await offer_tone(client, call_id, 440.0)
    try:
        await line.media.wait_audio(packets=25)
        await client.send({"type": "call.hangup", "call_id": call_id})
        await client.call_state("ended")
        assert await line.trunk.wait(10) == 0, line.trunk.messages()[-2000:]
    finally:
        await peer.close()

    events = await logged(node, call_id)
    assert [e["node"] for e in events[:2]] == ["hours", "closed-answers"]
    reached = [e for e in events if e["kind"] == "tollfree"]
    assert [(e["reason"], e["visit"]) for e in reached] == [("closed", VISIT)]


async def test_a_busy_line_sends_the_web_caller_back_to_the_callback_offer(
    helpline_factory: NodeFactory,
    ws_clients: ClientFactory,
    sip_workers: Any,
    sipp: Any,
    tmp_path: Path,
    loopback_ice: None,
) -> None:
    trunk_port = free_udp_port()
    line = tollfree_at(trunk_port)
    busy = tmp_path / "busy.xml"
    busy.write_text(BUSY_TRUNK)
    trunk = await sipp(str(busy), port=trunk_port, timeout_s=60)
    node = await helpline_factory(tollfree_uri=line)
    sip_workers(tollfree_uri=line, **ON_LOOPBACK)
    client, call_id, _ = await web_caller_at_the_line(node, ws_clients)
    # The line refuses at once: the page's audio may never connect.
    peer, _ = await offer_tone(client, call_id, 1000.0, connect=False)
    try:
        assert await trunk.wait(30) == 0, trunk.messages()[-2000:]
        # Back in the IVR, told why, and offered the callback again.
        await client.call_state("ivr", within=10)
        await walk(client, of_type("ivr.callback_form"), within=20)
        journey = await node.node.ivr.journey(call_id)
        assert journey is not None
        # The line never answered: the caller did not reach it.
        events = await logged(node, call_id)
        assert "tollfree" not in kinds(events)
        assert kinds(events)[-2:] == ["ivr.node", "ivr.offer"]
        assert (events[-1]["node"], events[-1]["detail"]) == ("offer", "callback")
    finally:
        await peer.close()


async def test_a_browser_leg_that_never_connects_ends_the_call_for_both(
    queued_phone: QueuedPhone,
) -> None:
    desk, worker, caller = queued_phone.desk, queued_phone.worker, queued_phone.caller
    ringing = await desk.call_state("ringing", 20)
    call_id = ringing["call_id"]
    await desk.send({"type": "call.accept", "call_id": call_id})
    offer = await desk.expect("sdp.offer", within=10)
    # A softphone that answers and is gone before ICE can start.
    peer = Peer("agent")
    peer.add_audio()
    answer = await peer.accept_offer(offer["sdp"])
    await peer.close()
    await desk.send({"type": "sdp.answer", "call_id": call_id, "sdp": answer})
    ended = await desk.call_state("ended", within=20)
    assert ended["reason"] == "media-failed"
    await desk.expect(
        lambda e: e.get("type") == "agent.state" and e["status"] == "available"
    )
    assert await caller.wait(20) == 0, caller.messages()[-3000:]  # its BYE came
    assert "browser leg failed" in worker.log.read_text()


# An agent sends the caller on to the toll-free line

LINE_MENU = """
id: answers-then-agents
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
    prompt: Callback? Press 1, or 2 for an agent.
    number_prompt: Your number, then hash.
    next: bye
    declined: agents
    timeout_seconds: 8
  agents:
    kind: queue
    prompt: Please hold.
    skill: general
    max_wait_seconds: 60
    overflow: bye
  bye:
    kind: hangup
    prompt: Goodbye.
"""


async def web_caller_with_an_agent(
    node: RunningHelpline, ws_clients: ClientFactory, desk: WsClient
) -> tuple[WsClient, str]:
    """A page that took the answers, declined the callback and was
    answered by the agent at `desk`."""
    await publish_phone_menu(node, LINE_MENU)
    client = await ws_clients(node.ws_url, {"role": "customer", "name": "Ada"})
    call_id = await enter_ivr(client)
    await walk(client, menu_at("main"))
    await client.send({"type": "ivr.digit", "call_id": call_id, "digit": "1"})
    await walk(client, of_type("ivr.callback_form"), within=20)
    await client.send(
        {"type": "ivr.callback", "call_id": call_id, "node": "offer", "decline": True}
    )
    await desk.call_state("ringing", within=20)
    await desk.send({"type": "call.accept", "call_id": call_id})
    await client.call_state("answered")
    return client, call_id


async def test_an_agent_sends_a_web_caller_to_the_toll_free_line(
    helpline_factory: NodeFactory,
    ws_clients: ClientFactory,
    sip_workers: Any,
    rtp_peer: Any,
    sipp: Any,
    redis_url: str,
    loopback_ice: None,
) -> None:
    the_line = await start_line(sipp, rtp_peer)
    line, media, trunk = the_line.uri, the_line.media, the_line.trunk
    node = await helpline_factory(tollfree_uri=line)
    sip_workers(tollfree_uri=line, **ON_LOOPBACK)
    desk = await agent(node, ws_clients, "Grace")
    client, call_id = await web_caller_with_an_agent(node, ws_clients, desk)

    await desk.send({"type": "call.transfer", "call_id": call_id, "tollfree": True})
    left = await desk.call_state("ended")
    assert left["reason"] == "transferred"
    await desk.expect(
        lambda e: e.get("type") == "agent.state" and e["status"] == "available"
    )
    tollfree = await client.expect("ivr.tollfree")
    assert tollfree["bridged"] is True
    peer, _ = await offer_tone(client, call_id, 440.0)  # a fresh offer
    answered = [
        e
        for e in client.received
        if e.get("type") == "call.state" and e.get("state") == "answered"
    ]
    assert answered[-1]["transfer"] == "tollfree"
    try:
        await media.wait_audio(packets=25)
        since = time.monotonic()
        await asyncio.sleep(1.5)
        assert media.tone_level(440.0, since) > 0.5
        await client.send({"type": "call.hangup", "call_id": call_id})
        assert (await client.call_state("ended"))["reason"] == "customer-hangup"
        assert await trunk.wait(10) == 0, trunk.messages()[-2000:]
    finally:
        await peer.close()
    with redis.Redis.from_url(redis_url, protocol=2) as redis_client:
        record = fields(redis_client.hgetall(f"helpline:call:{call_id}"))
    escalation = json.loads(record["escalation"])
    assert escalation["by"] == "agent"
    assert escalation["offers"] == ["faq", "callback"]


async def test_no_transfer_to_the_line_before_both_offers(
    helpline: RunningHelpline,
    ws_clients: ClientFactory,
    sip_workers: Any,
    loopback_ice: None,
) -> None:
    await publish(helpline, QUEUE_MENU)  # straight to an agent: no offers
    desk = await agent(helpline, ws_clients, "Grace")
    client = await ws_clients(helpline.ws_url, {"role": "customer", "name": "Ada"})
    call_id = await enter_ivr(client)
    await walk(client, menu_at("main"))
    await client.send({"type": "ivr.digit", "call_id": call_id, "digit": "1"})
    await desk.call_state("ringing", within=20)
    await desk.send({"type": "call.accept", "call_id": call_id})
    await client.call_state("answered")
    await desk.send(
        {"type": "call.transfer", "call_id": call_id, "tollfree": True, "id": "t1"}
    )
    refused = await desk.expect("error")
    assert (refused["code"], refused["ref"]) == ("not-allowed", "t1")
    assert "both FAQ answers and a callback" in refused["message"]
    with redis.Redis.from_url(helpline.settings.redis_url, protocol=2) as redis_client:
        record = fields(redis_client.hgetall(f"helpline:call:{call_id}"))
    assert record["state"] == "answered" and record["agent"]


async def test_an_agent_sends_a_phone_caller_to_the_toll_free_line(
    helpline_factory: NodeFactory,
    ws_clients: ClientFactory,
    sip_workers: Any,
    rtp_peer: Any,
    sipp: Any,
    tmp_path: Path,
    redis_url: str,
    loopback_ice: None,
) -> None:
    trunk_port = free_udp_port()
    line = tollfree_at(trunk_port)
    trunk = await sipp("uas", port=trunk_port, extra=("-rtp_echo",), timeout_s=60)
    node = await helpline_factory(tollfree_uri=line)
    await publish_phone_menu(node, LINE_MENU)
    worker = sip_workers(tollfree_uri=line, **ON_LOOPBACK)
    desk = await agent(node, ws_clients, "Grace")
    media = await rtp_peer()
    relay = "application/dtmf-relay"
    scenario = caller_scenario(
        tmp_path / "to-agent.xml",
        [
            ("pause", 1500),
            ("info", "Signal=1\nDuration=160", relay),
            ("pause", 5000),
            ("info", "Signal=2\nDuration=160", relay),  # no callback: an agent
            ("wait_bye", 60000),
        ],
        media.port,
    )
    caller = await sipp(str(scenario), f"127.0.0.1:{worker.sip_port}")
    call_id, peer, _ = await answer_as_agent(desk)
    try:
        await desk.send({"type": "call.transfer", "call_id": call_id, "tollfree": True})
        assert (await desk.call_state("ended"))["reason"] == "transferred"
        deadline = time.monotonic() + 10
        while "INVITE sip:+18005550100" not in trunk.messages():
            assert time.monotonic() < deadline, "the line was never dialled"
            await asyncio.sleep(0.1)
        deadline = time.monotonic() + 10
        while "bridged to the toll-free line" not in worker.log.read_text():
            assert time.monotonic() < deadline, "the line was never bridged"
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        since = time.monotonic()
        await media.send_tone(1000.0, 2.0)
        await asyncio.sleep(0.3)  # the last of the echo
        # The line echoes: the caller's tone came back through it.
        assert media.tone_level(1000.0, since) > 0.5, media.received
    finally:
        await peer.close()
    with redis.Redis.from_url(redis_url, protocol=2) as redis_client:
        record = fields(redis_client.hgetall(f"helpline:call:{call_id}"))
    assert record["reason"] == "tollfree"
    escalation = json.loads(record["escalation"])
    assert (escalation["by"], escalation["how"]) == (
        "agent",
        "bridged through the trunk",
    )
    caller.stop()


async def test_a_waiting_phone_caller_hears_hold_music_and_its_place_in_line(
    helpline: RunningHelpline,
    sip_workers: Any,
    rtp_peer: Any,
    sipp: Any,
    tmp_path: Path,
) -> None:
    await publish(helpline, QUEUE_MENU)  # no agent is signed in
    worker = sip_workers(announce_s="2", **ON_LOOPBACK)
    media = await rtp_peer()
    scenario = caller_scenario(
        tmp_path / "waits.xml",
        [
            ("pause", 1500),
            ("info", "Signal=1\nDuration=160", "application/dtmf-relay"),
            ("pause", 7000),
            ("bye",),
        ],
        media.port,
    )
    caller = await sipp(str(scenario), f"127.0.0.1:{worker.sip_port}")
    assert await caller.wait(30) == 0, caller.messages()[-3000:]
    log = worker.log.read_text()
    # Two announcements at least in about 6 s of waiting, hold music around.
    assert log.count("place in line announced: 1") >= 2, log[-3000:]
    assert media.received[0] > 300


@pytest.mark.parametrize(("passthrough", "codec"), [(False, "pcmu"), (True, "opus")])
async def test_the_long_road_takes_every_frame_the_browser_sends(
    passthrough: bool, codec: str, loopback_ice: None
) -> None:
    """Through aiortc's decoder (G.711 with passthrough off, or Opus) the
    leg hears all 50 frames a second: the peer's own reader of the track
    is the only one (a second reader took every other frame)."""
    leg = BrowserLeg("long-road", passthrough=passthrough)
    browser = Peer("browser")
    browser.add_audio(ToneTrack(440.0))
    if codec == "opus":
        codecs = RTCRtpSender.getCapabilities("audio").codecs
        browser.pc.getTransceivers()[0].setCodecPreferences(
            [c for c in codecs if c.mimeType.lower() == "audio/opus"]
        )
    try:
        await browser.accept_answer(
            await leg.accept_offer(await browser.create_offer())
        )
        await asyncio.wait_for(browser.wait_connected(), 10)
        await asyncio.sleep(1.0)
        pushed, since = leg.to_sip.pushed, time.monotonic()
        await asyncio.sleep(2.0)
        rate = (leg.to_sip.pushed - pushed) / (time.monotonic() - since)
        stats = leg.stats()
        assert stats.codec == codec and not stats.passthrough
        assert 45 <= rate <= 55, rate
    finally:
        await browser.close()
        await leg.close()

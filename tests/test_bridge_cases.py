"""Captured inputs that broke other WebRTC gateways, replayed at a media
worker's browser leg: a web caller put through to the toll-free line
(tests/test_bridge.py sets the scene) sends them over its signaling
socket, and the worker, a process of its own, must take them as the
cases' source.md says. What the worker's aiortc leg did is read from its
log (at DEBUG in the tests), what it answered from the page's socket.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from aiortc.rtp import RtpPacket

from gateway.webrtc import Peer, ToneTrack
from ivr.dtmf import encode_event_packets, parse_rtp
from signaling.sdp import check_sdp
from tests.cases import case_json_lines, case_sdp
from tests.fixtures.app import ClientFactory, NodeFactory, RunningHelpline, WsClient
from tests.fixtures.sip import RtpPeer, WorkerProcess
from tests.test_bridge import (
    ON_LOOPBACK,
    offer_tone,
    start_line,
    web_caller_at_the_line,
)

pytestmark = pytest.mark.sip


@pytest.fixture
def redis_url(sip_redis_url: str) -> str:
    return sip_redis_url


class Scene:
    """A toll-free line whose audio is a socket of the test, a worker, and
    a node configured for both."""

    def __init__(self, node: RunningHelpline, worker: WorkerProcess, media: RtpPeer):
        self.node = node
        self.worker = worker
        self.media = media

    def log(self) -> str:
        return self.worker.log.read_text(errors="replace")


@pytest.fixture
async def line(
    helpline_factory: NodeFactory, sip_workers: Any, rtp_peer: Any, sipp: Any
) -> Scene:
    the_line = await start_line(sipp, rtp_peer)
    node = await helpline_factory(tollfree_uri=the_line.uri)
    worker = sip_workers(tollfree_uri=the_line.uri, **ON_LOOPBACK)
    return Scene(node, worker, the_line.media)


async def in_log(line: Scene, pattern: str, within: float = 5.0) -> str:
    deadline = time.monotonic() + within
    while True:
        found = re.search(pattern, line.log())
        if found:
            return found.group(0)
        assert time.monotonic() < deadline, f"{pattern!r} not in the worker's log"
        await asyncio.sleep(0.1)


def as_logged(candidate: str) -> str:
    """How the worker's leg logs a candidate it applied (aiortc's form)."""
    foundation, component, transport, *rest = candidate.split()
    return " ".join(
        [
            "remote candidate",
            foundation.removeprefix("candidate:"),
            component,
            transport.lower(),
            *rest[:5],
        ]
    )


async def answered(client: WsClient) -> None:
    event = await client.call_state("answered", within=10)
    assert event["agent"] == {"name": "Toll-free line"}


async def test_case_03_candidates_before_the_offer_are_kept_for_it(
    line: Scene, ws_clients: ClientFactory, loopback_ice: None
) -> None:
    client, call_id, _ = await web_caller_at_the_line(line.node, ws_clients)
    await answered(client)
    messages = case_json_lines("03-candidates-before-offer")
    early = [m["candidate"] for m in messages if m["type"] == "candidate"]
    for candidate in early:
        await client.send(
            {"type": "ice.candidate", "call_id": call_id, "candidate": candidate}
        )
    peer = Peer("customer")
    peer.add_audio(ToneTrack(440.0))
    try:
        offer = await peer.create_offer()
        await client.send({"type": "sdp.offer", "call_id": call_id, "sdp": offer})
        answer = await client.expect("sdp.answer", within=10)
        await peer.accept_answer(answer["sdp"])
        await asyncio.wait_for(peer.wait_connected(), 10)
        await line.media.wait_audio(packets=25)
        # Both early candidates reached ICE, in order, once the offer was set.
        log = line.log()
        applied = [log.index(as_logged(c["candidate"])) for c in early]
        assert applied == sorted(applied)
        assert log.index("remote offer set") < applied[0]
        await asyncio.sleep(0.5)
        assert [e["type"] for e in client.received].count("sdp.answer") == 1
        assert not [e for e in client.received if e.get("type") == "error"]
    finally:
        await peer.close()


async def test_case_02_the_end_of_candidates_marker_is_no_fault(
    line: Scene, ws_clients: ClientFactory, loopback_ice: None
) -> None:
    client, call_id, _ = await web_caller_at_the_line(line.node, ws_clients)
    peer, _ = await offer_tone(client, call_id, 440.0)
    try:
        batch = case_json_lines("02-firefox-end-of-candidates-marker")
        for candidate in batch:
            await client.send(
                {"type": "ice.candidate", "call_id": call_id, "candidate": candidate}
            )
        # The marker is taken as the end of mid 0's candidates; the real
        # candidate after it is still added; the call goes on.
        await in_log(line, r"end of candidates for mid 0")
        await in_log(line, re.escape(as_logged(batch[2]["candidate"])))
        await in_log(line, re.escape(as_logged(batch[0]["candidate"])))
        since = time.monotonic()
        await asyncio.sleep(1.0)
        assert line.media.tone_level(440.0, since) > 0.5
        assert not [e for e in client.received if e.get("type") == "error"]
    finally:
        await peer.close()


async def test_case_06_chromes_offer_is_answered_with_pcmu_and_one_event_type(
    line: Scene, ws_clients: ClientFactory, loopback_ice: None
) -> None:
    client, call_id, _ = await web_caller_at_the_line(line.node, ws_clients)
    await answered(client)
    offer = case_sdp("06-chrome-extmap-allow-mixed")
    offered = check_sdp(offer, kind="offer")
    await client.send({"type": "sdp.offer", "call_id": call_id, "sdp": offer})
    reply = await client.expect("sdp.answer", within=10)
    answer = check_sdp(reply["sdp"], kind="answer")
    audio = answer.media[0]
    codecs = [(pt, audio.rtpmap(pt)) for pt in audio.payload_types]
    names = [(pt, m.encoding.lower(), m.clock_rate) for pt, m in codecs if m]
    assert names[0] == (0, "pcmu", 8000), "G.711 first: the line speaks it"
    events = [n for n in names if n[1] == "telephone-event"]
    assert events == [(126, "telephone-event", 8000)], "the 8 kHz one, once"
    offered_ids = {e.id: e.uri for e in offered.media[0].extmaps}
    assert {e.id: e.uri for e in audio.extmaps}.items() <= offered_ids.items()
    # The flag is answered as a flag (or left out), never as an extmap.
    assert "extmap-allow-mixed" not in {e.uri for e in audio.extmaps}


async def test_case_07_a_hold_from_the_page_gives_the_line_hold_music(
    line: Scene, ws_clients: ClientFactory, loopback_ice: None
) -> None:
    client, call_id, _ = await web_caller_at_the_line(line.node, ws_clients)
    peer, _ = await offer_tone(client, call_id, 440.0)
    try:
        await line.media.wait_audio(packets=25)
        transceiver = peer.pc.getTransceivers()[0]
        for direction, hears_the_page in (("sendonly", False), ("sendrecv", True)):
            transceiver.direction = direction
            reoffer = await peer.create_offer()
            # Firefox's shape: sendrecv at session level, the media's own
            # direction below it (which wins).
            reoffer = reoffer.replace("t=0 0\r\n", "t=0 0\r\na=sendrecv\r\n", 1)
            await client.send({"type": "sdp.offer", "call_id": call_id, "sdp": reoffer})
            reply = await client.expect("sdp.answer", within=10)
            answer = check_sdp(reply["sdp"], kind="answer")
            expected = "recvonly" if direction == "sendonly" else "sendrecv"
            assert answer.media[0].direction == expected
            await peer.accept_answer(reply["sdp"])
            await in_log(
                line, "web caller " + ("resumed" if hears_the_page else "held")
            )
            await asyncio.sleep(0.4)
            since = time.monotonic()
            await asyncio.sleep(1.5)
            level = line.media.tone_level(440.0, since)
            assert (level > 0.5) if hears_the_page else (level < 0.2), level
    finally:
        await peer.close()


async def test_rfc_4733_from_the_page_reaches_the_line(
    line: Scene, ws_clients: ClientFactory, loopback_ice: None
) -> None:
    """A page that sends keys in its audio (RTCDTMFSender) is heard too:
    the answer named telephone-event, so the worker reads the events and
    sends the key to the line."""
    client, call_id, _ = await web_caller_at_the_line(line.node, ws_clients)
    peer, _ = await offer_tone(client, call_id, 440.0, events=True)
    try:
        await line.media.wait_audio(packets=25)
        # The answer as the worker sent it (aiortc keeps only what it knows).
        sent = [e for e in client.received if e.get("type") == "sdp.answer"]
        answer = check_sdp(sent[-1]["sdp"], kind="answer")
        event_pt = next(
            pt
            for pt in answer.media[0].payload_types
            if (m := answer.media[0].rtpmap(pt)) and m.encoding == "telephone-event"
        )
        # The page's events, on an RTP stream of their own, through the
        # leg's DTLS-SRTP transport as a browser's RTCDTMFSender sends them.
        transport = peer.pc.getTransceivers()[0].sender.transport
        packets = encode_event_packets(
            "9", 120, seq=5000, timestamp=900000, ssrc=0x5EED, pt=event_pt
        )
        for packet in packets:
            header = parse_rtp(packet)
            rtp = RtpPacket(
                payload_type=header.pt,
                marker=int(header.marker),
                sequence_number=header.seq,
                timestamp=header.timestamp,
                ssrc=header.ssrc,
                payload=header.payload,
            )
            await transport._send_rtp(rtp.serialize())
            await asyncio.sleep(0.02)
        await in_log(line, r"1 key\(s\) from the page \(rfc4733\) sent to the line")
        deadline = time.monotonic() + 5
        while not line.media.received[120]:
            assert time.monotonic() < deadline, line.media.received
            await asyncio.sleep(0.05)
    finally:
        await peer.close()

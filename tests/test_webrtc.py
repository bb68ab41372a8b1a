"""The aiortc adapter: real peers on loopback, audio both ways, clean close."""

from __future__ import annotations

import asyncio
import logging
import uuid

import aioice.ice
import pytest

from gateway.webrtc import (
    TONE_SAMPLE_RATE,
    Peer,
    ToneTrack,
    keep_host_addresses,
    limit_host_addresses,
)
from signaling.errors import SdpError, SignalingError
from signaling.ice import Candidate, parse_candidate
from tests.fixtures.network import LOOPBACK_HOSTS
from tests.fixtures.webrtc import PeerFactory, connect_and_hear, without_candidates


async def test_call_on_loopback_carries_audio_both_ways(peers: PeerFactory) -> None:
    caller, callee = peers("caller"), peers("callee")
    caller.add_audio()
    callee.add_audio()

    answer = await callee.accept_offer(await caller.create_offer())
    await caller.accept_answer(answer)
    await connect_and_hear(caller, callee)

    for end in (caller, callee):
        assert end.audio_received() > 0
        assert await end.audio_packets_received() > 0
        assert {c.ip for c in end.remote_candidates()} == {"127.0.0.1"}


async def test_trickled_candidates_connect(peers: PeerFactory) -> None:
    """Both ends send SDP without candidates and trickle them separately."""
    caller, callee = peers("caller"), peers("callee")
    caller.add_audio()
    callee.add_audio()

    offer = without_candidates(await caller.create_offer())
    answer = without_candidates(await callee.accept_offer(offer))
    for init in caller.local_candidates():
        await callee.add_candidate(init)
    await callee.add_candidate(None)

    await caller.accept_answer(answer)
    for init in callee.local_candidates():
        await caller.add_candidate(init)
    await caller.add_candidate({"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0})

    await connect_and_hear(caller, callee)
    assert caller.audio_received() > 0 and callee.audio_received() > 0


async def test_local_candidates_are_trickle_ready(peers: PeerFactory) -> None:
    peer = peers("offerer")
    peer.add_audio()
    await peer.create_offer()

    inits = peer.local_candidates()
    assert inits, "aiortc put no candidate in its offer"
    for init in inits:
        candidate = parse_candidate(init)
        assert isinstance(candidate, Candidate)
        assert (candidate.sdp_mid, candidate.sdp_mline_index) == ("0", 0)
        assert candidate.address == "127.0.0.1"


async def test_mdns_candidate_is_skipped(peers: PeerFactory) -> None:
    caller, callee = peers("caller"), peers("callee")
    caller.add_audio()
    await callee.accept_offer(await caller.create_offer())
    before = callee.remote_candidates()

    await callee.add_candidate(
        {
            "candidate": "candidate:4 1 udp 2122262783 "
            "9b36eaac-bb2e-49bb-bb78-21c41c499900.local 56009 typ host",
            "sdpMid": "0",
        }
    )
    assert callee.remote_candidates() == before


def behind_mdns(sdp: str) -> str:
    """The SDP with every candidate's address replaced by an mDNS name, as a
    browser sends it when the page may not see the host's addresses."""
    lines = []
    for line in sdp.split("\r\n"):
        if line.startswith("a=candidate:"):
            fields = line.split(" ")
            fields[4] = f"{uuid.uuid4()}.local"
            line = " ".join(fields)
        lines.append(line)
    return "\r\n".join(lines)


async def test_offer_with_only_mdns_candidates_connects(peers: PeerFactory) -> None:
    """The offerer is reached through the checks it sends: peer-reflexive."""
    browser, helpline = peers("browser"), peers("helpline")
    browser.add_audio()
    helpline.add_audio()
    offer = behind_mdns(await browser.create_offer())
    assert ".local " in offer and "a=end-of-candidates" in offer

    answer = await helpline.accept_offer(offer)
    assert helpline.remote_candidates() == []
    await browser.accept_answer(answer)
    await connect_and_hear(browser, helpline)

    learnt = helpline.remote_candidates()
    assert {(c.type, c.ip) for c in learnt} == {("prflx", "127.0.0.1")}
    assert await helpline.audio_packets_received() > 0


async def test_offer_in_the_wrong_state_is_a_bad_state(peers: PeerFactory) -> None:
    first, second = peers("first"), peers("second")
    first.add_audio()
    second.add_audio()
    await first.create_offer()

    with pytest.raises(SignalingError) as caught:
        await first.accept_offer(await second.create_offer())
    assert caught.value.code == "bad-state"
    assert first.pc.signalingState == "have-local-offer"


async def test_what_aiortc_refuses_becomes_sdp_error(peers: PeerFactory) -> None:
    """RFC 8285 extmap attributes pass check_sdp; aiortc's parser fails on them."""
    caller, callee = peers("caller"), peers("callee")
    caller.add_audio()
    offer = await caller.create_offer()
    offer = offer.replace("a=mid:0\r\n", "a=mid:0\r\na=extmap:5 urn:x:ext extra\r\n")

    with pytest.raises(SdpError, match="The offer was refused"):
        await callee.accept_offer(offer)
    assert callee.pc.remoteDescription is None


async def test_close_cancels_every_task(peers: PeerFactory) -> None:
    caller, callee = peers("caller"), peers("callee")
    caller.add_audio()
    callee.add_audio()
    await caller.accept_answer(await callee.accept_offer(await caller.create_offer()))
    await connect_and_hear(caller, callee, frames=5)
    consumers = set(caller._tasks) | set(callee._tasks)
    assert consumers, "no task consumed the remote audio"

    await caller.close()
    await callee.close()

    assert all(task.done() for task in consumers)
    assert caller.pc.connectionState == callee.pc.connectionState == "closed"


async def test_tone_track_makes_paced_48k_frames() -> None:
    track = ToneTrack()
    loop = asyncio.get_running_loop()
    start = loop.time()
    frames = [await track.recv() for _ in range(6)]
    elapsed = loop.time() - start
    track.stop()

    assert {f.sample_rate for f in frames} == {TONE_SAMPLE_RATE}
    assert [f.pts for f in frames] == [960 * n for n in range(6)]
    assert all(any(bytes(f.planes[0])) for f in frames), "a frame is silent"
    assert elapsed >= 5 * 0.020 * 0.9  # paced like a real microphone


async def test_peer_logs_with_its_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="gateway.webrtc")
    peer = Peer("p-7")
    await peer.close()
    assert any(r.getMessage().startswith("Peer(p-7) - ") for r in caplog.records)


async def test_host_candidates_only_on_the_configured_address(
    loopback_hosts: None, peers: PeerFactory
) -> None:
    limit_host_addresses(["127.0.0.2"])
    caller, callee = peers("caller"), peers("callee")
    caller.add_audio()
    callee.add_audio()

    offer = await caller.create_offer()
    await caller.accept_answer(await callee.accept_offer(offer))
    await connect_and_hear(caller, callee, frames=5)

    for end in (caller, callee):
        offered = [parse_candidate(init) for init in end.local_candidates()]
        assert {c.address for c in offered if isinstance(c, Candidate)} == {"127.0.0.2"}
        assert {c.ip for c in end.remote_candidates()} == {"127.0.0.2"}


async def test_no_limit_gathers_every_address(
    loopback_hosts: None, peers: PeerFactory
) -> None:
    limit_host_addresses(["127.0.0.3"])
    limit_host_addresses([])
    assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == list(
        LOOPBACK_HOSTS
    )

    peer = peers("offerer")
    peer.add_audio()
    await peer.create_offer()
    offered = [parse_candidate(init) for init in peer.local_candidates()]
    assert {c.address for c in offered if isinstance(c, Candidate)} == set(
        LOOPBACK_HOSTS
    )


def test_a_second_limit_replaces_the_first(loopback_hosts: None) -> None:
    limit_host_addresses(["127.0.0.2"])
    limit_host_addresses(["127.0.0.3", "127.0.0.1"])
    found = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
    assert found == ["127.0.0.1", "127.0.0.3"]


def test_a_configured_loopback_address_is_offered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """aioice leaves loopback out of what it finds; named, it is offered
    (a media worker serving browsers on its own host)."""
    monkeypatch.setattr(
        aioice.ice,
        "get_host_addresses",
        lambda use_ipv4, use_ipv6: ["10.0.0.5"] if use_ipv4 else [],
    )
    limit_host_addresses(["127.0.0.1", "10.0.0.5"])
    assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == [
        "10.0.0.5",
        "127.0.0.1",
    ]
    assert aioice.ice.get_host_addresses(use_ipv4=False, use_ipv6=True) == []


def test_an_address_the_host_lacks_is_warned_about(
    loopback_hosts: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.webrtc")
    limit_host_addresses(["127.0.0.2", "192.0.2.7"])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "ice.interfaces names 192.0.2.7, which aioice does not find on this host"
    ]


@pytest.mark.parametrize(
    ("found", "allowed", "kept"),
    [
        (["10.0.0.5", "172.17.0.1"], ["10.0.0.5"], ["10.0.0.5"]),
        (["2001:db8:0:0::1", "fe80::1"], ["2001:DB8::1"], ["2001:db8:0:0::1"]),
        (["10.0.0.5", "10.0.0.6"], ["10.0.0.6", "10.0.0.5"], ["10.0.0.5", "10.0.0.6"]),
        (["10.0.0.5"], ["192.0.2.1"], []),
        (["10.0.0.5", "not-an-address"], ["10.0.0.5", "eth0"], ["10.0.0.5"]),
    ],
)
def test_keep_host_addresses(
    found: list[str], allowed: list[str], kept: list[str]
) -> None:
    assert keep_host_addresses(found, allowed) == kept

"""The captured cases replayed against real aiortc peers through `Peer`.

The sans-I/O values of every case are in test_sdp.py and test_ice.py; here
each case meets aiortc, and the test asserts what aiortc ends up holding.
"""

from __future__ import annotations

import pytest
from aiortc import RTCRtpSender

from gateway.webrtc import Peer
from signaling.errors import CandidateError, SdpError
from signaling.ice import MAX_EARLY_CANDIDATES
from signaling.sdp import Kind, MediaSection, check_sdp, telephone_event_for
from tests.cases import case_json_lines, case_sdp
from tests.fixtures.webrtc import PeerFactory, connect_and_hear, without_candidates

CASE_02 = case_json_lines("02-firefox-end-of-candidates-marker")
CASE_03 = case_json_lines("03-candidates-before-offer")
EARLY_03 = [m["candidate"] for m in CASE_03 if m["type"] == "candidate"]
CHROME_OFFER = case_sdp("03-candidates-before-offer")
CHROME_06 = case_sdp("06-chrome-extmap-allow-mixed")
FIREFOX_HOLD = case_sdp("07-firefox-hold-reoffer-session-sendrecv-media-sendonly")
NUL_10 = case_sdp("10-sdp-attribute-name-with-nul-byte")


def addresses(peer: Peer) -> list[tuple[str, int]]:
    return [(c.ip, c.port) for c in peer.remote_candidates()]


def count_answers(peer: Peer) -> list[str]:
    """Record the signaling states `peer` goes through, to count answers."""
    states: list[str] = []
    peer.pc.on("signalingstatechange", lambda: states.append(peer.pc.signalingState))
    return states


# Case 02: Firefox's end-of-candidates marker in the middle of a batch


async def test_02_marker_mid_batch_keeps_later_candidates(peers: PeerFactory) -> None:
    caller, callee = peers("caller"), peers("callee")
    caller.add_audio()
    await callee.accept_offer(without_candidates(await caller.create_offer()))

    for obj in CASE_02:
        await callee.add_candidate(obj)

    assert addresses(callee) == [("127.0.0.10", 49360), ("127.0.0.11", 49360)]
    await callee.add_candidate(CASE_02[1])  # a second marker
    await callee.add_candidate({**CASE_02[1], "sdpMid": "7", "sdpMLineIndex": 7})
    await callee.add_candidate(None)
    assert len(addresses(callee)) == 2


async def test_02_batch_before_the_offer(peers: PeerFactory) -> None:
    caller, callee = peers("caller"), peers("callee")
    caller.add_audio()
    offer = without_candidates(await caller.create_offer())

    for obj in CASE_02:
        await callee.add_candidate(obj)
    await callee.accept_offer(offer)

    assert addresses(callee) == [("127.0.0.10", 49360), ("127.0.0.11", 49360)]


# Case 03: candidates that arrive before the offer


async def test_03_early_candidates_reach_ice_in_order(peers: PeerFactory) -> None:
    callee = peers("callee")
    callee.add_audio()
    states = count_answers(callee)

    for init in EARLY_03:
        await callee.add_candidate(init)
    answer = await callee.accept_offer(CHROME_OFFER)

    assert states == ["have-remote-offer", "stable"]  # one answer, once
    assert check_sdp(answer, kind="answer").media[0].direction == "recvonly"
    remote = callee.remote_candidates()
    assert [(c.ip, c.port, c.type, c.relatedAddress) for c in remote] == [
        ("127.0.0.10", 63188, "host", None),
        ("127.0.0.11", 53664, "srflx", "127.0.0.10"),
    ]


async def test_03_early_trickle_between_two_peers(peers: PeerFactory) -> None:
    """The offer carries no candidate: the call connects only if the early
    ones, held before the offer, reach ICE."""
    caller, callee = peers("caller"), peers("callee")
    caller.add_audio()
    callee.add_audio()
    offer = without_candidates(await caller.create_offer())
    states = count_answers(callee)

    for init in [*EARLY_03, *caller.local_candidates()]:
        await callee.add_candidate(init)
    await caller.accept_answer(await callee.accept_offer(offer))
    await connect_and_hear(caller, callee)

    assert states == ["have-remote-offer", "stable"]
    assert addresses(callee)[:2] == [("127.0.0.10", 63188), ("127.0.0.11", 53664)]
    assert addresses(callee)[2][0] == "127.0.0.1"
    assert caller.audio_received() > 0 and callee.audio_received() > 0


async def test_03_early_queue_is_bounded(peers: PeerFactory) -> None:
    callee = peers("callee")
    callee.add_audio()
    template = EARLY_03[0]
    early = [
        {**template, "candidate": template["candidate"].replace("63188", str(port))}
        for port in range(40_000, 40_000 + MAX_EARLY_CANDIDATES + 1)
    ]

    for init in early[:-1]:
        await callee.add_candidate(init)
    with pytest.raises(CandidateError, match="too many early candidates"):
        await callee.add_candidate(early[-1])
    await callee.accept_offer(CHROME_OFFER)

    ports = [port for _, port in addresses(callee)]
    assert ports == list(range(40_000, 40_000 + MAX_EARLY_CANDIDATES))


# Case 06: Chrome's extmap-allow-mixed, RED and two telephone-events


def audio(sdp: str, kind: Kind = "answer") -> MediaSection:
    return check_sdp(sdp, kind=kind).media[0]


async def answer_06(peers: PeerFactory, codec: str | None = None) -> str:
    callee = peers("callee")
    callee.add_audio()
    if codec is not None:
        transceiver = callee.pc.getTransceivers()[0]
        capabilities = RTCRtpSender.getCapabilities("audio").codecs
        transceiver.setCodecPreferences(
            [c for c in capabilities if c.mimeType == f"audio/{codec}"]
        )
    return await callee.accept_offer(CHROME_06)


async def test_06_answer_invents_no_extmap(peers: PeerFactory) -> None:
    answer = await answer_06(peers)
    offered = {(e.id, e.uri) for e in audio(CHROME_06, "offer").extmaps}
    answered = {(e.id, e.uri) for e in audio(answer).extmaps}
    assert answered and answered <= offered


async def test_06_allow_mixed_echoed_at_session_level_or_omitted(
    peers: PeerFactory,
) -> None:
    answer = check_sdp(await answer_06(peers), kind="answer")
    assert answer.media[0].attribute("extmap-allow-mixed") is None
    session = {a.name for a in answer.attributes if a.name.startswith("extmap")}
    assert session <= {"extmap-allow-mixed"}


@pytest.mark.parametrize(("codec", "event"), [("opus", 110), ("PCMU", 126)])
async def test_06_telephone_event_follows_the_answer_codec(
    peers: PeerFactory, codec: str, event: int
) -> None:
    answer = audio(await answer_06(peers, codec))
    chosen = answer.rtpmap(answer.payload_types[0])
    assert chosen is not None and chosen.encoding == codec

    assert telephone_event_for(audio(CHROME_06, "offer"), chosen.clock_rate) == event


@pytest.mark.xfail(
    reason="TODO(aiortc telephone-event codec): aiortc 1.16 answers without "
    "any telephone-event, so DTMF from a browser needs its own negotiation",
    strict=True,
)
async def test_06_answer_lists_exactly_one_telephone_event(peers: PeerFactory) -> None:
    answer = audio(await answer_06(peers))
    events = [
        pt
        for pt in answer.payload_types
        if (m := answer.rtpmap(pt)) and m.encoding == "telephone-event"
    ]
    assert len(events) == 1


# Case 07: Firefox hold re-offer, sendrecv at session level, sendonly in media


async def test_07_hold_offer_is_answered_recvonly(peers: PeerFactory) -> None:
    callee = peers("callee")
    callee.add_audio()
    answer = audio(await callee.accept_offer(FIREFOX_HOLD))

    assert answer.direction in ("recvonly", "inactive")
    offered = {(e.id, e.uri) for e in audio(FIREFOX_HOLD, "offer").extmaps}
    assert {(e.id, e.uri) for e in answer.extmaps} <= offered
    assert all("abs-send-time" not in e.uri for e in answer.extmaps)
    for extmap in answer.extmaps:
        if extmap.uri.endswith("csrc-audio-level"):
            assert extmap.direction == "sendonly"

    transports = sorted(c.protocol.lower() for c in callee.remote_candidates())
    assert transports == ["tcp", "udp", "udp"]


# Case 10: a NUL byte in an attribute name, and the 4294967296 payload type


@pytest.mark.parametrize(
    ("sdp", "line"),
    [
        pytest.param(NUL_10, 9, id="NUL byte"),
        pytest.param(
            CHROME_OFFER.replace("SAVPF 111 63 9 0 8 13 110 126", "SAVPF 4294967296"),
            8,
            id="payload type 4294967296",
        ),
    ],
)
async def test_10_malformed_offer_never_reaches_aiortc(
    peers: PeerFactory, sdp: str, line: int
) -> None:
    callee = peers("callee")
    callee.add_audio()

    with pytest.raises(SdpError) as caught:
        await callee.accept_offer(sdp)

    assert caught.value.line == line
    assert callee.pc.remoteDescription is None
    assert callee.pc.signalingState == "stable"
    answer = await callee.accept_offer(CHROME_OFFER)  # the peer is still usable
    assert audio(answer).direction == "recvonly"

"""The browser's end of a bridged call, inside a media worker.

A call crosses between WebRTC and SIP in a media worker: an aiortc peer
connection faces the browser (a customer's widget or an agent's
softphone), a pjsua2 call faces the SIP side, and the conference bridge
joins them through a port (``SipOwner.open_port``). This module is the
aiortc half: a :class:`BrowserLeg` owns the peer connection and the two
:class:`~gateway.audio.FrameBuffer` values the port shares with it.

When the browser leg is G.711 (the worker prefers it: the SIP side is
G.711, so nothing is transcoded) the audio takes a short road: aiortc
decrypts SRTP, and the payload of each packet goes straight to the
bridge's buffer (one C call to make it linear PCM), never through aiortc's
jitter buffer, decoder thread and resampler; the other way, frames from
the bridge become G.711 packets that aiortc only wraps in RTP and SRTP.
With Opus (a browser that offers no G.711) aiortc decodes and encodes as
usual and the frames are resampled between 48 and 8 kHz.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiortc import RTCIceServer, RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, AudioResampler, Packet

from gateway.audio import (
    DEFAULT_CAP,
    PCM_BYTES,
    RATE,
    SAMPLES,
    SILENCE,
    BufferStats,
    FrameBuffer,
    Law,
    decode_g711,
    encode_g711,
    seq_newer,
)
from gateway.webrtc import Peer
from ivr.dtmf import EventAssembler, RtpError, parse_event_payload
from signaling.sdp import (
    Direction,
    MediaSection,
    check_sdp,
    telephone_event_for,
    with_telephone_event,
)

logger = logging.getLogger(__name__)

FRAME_S: Final = SAMPLES / RATE
#: How long a negotiated browser leg may take to connect (ICE and DTLS).
CONNECT_S: Final = 10.0
_TIME_BASE: Final = fractions.Fraction(1, RATE)
_LAWS: Final[dict[str, Law]] = {"pcmu": "pcmu", "pcma": "pcma"}


@dataclass(frozen=True, slots=True)
class LegStats:
    """What a browser leg moved, for tests, logs and benchmarks."""

    codec: str
    passthrough: bool
    packets_in: int
    late_packets: int
    frames_out: int
    to_sip: BufferStats
    to_browser: BufferStats


class _ToBrowser(MediaStreamTrack):
    """What the browser hears: the bridge's frames, one every 20 ms on the
    event loop's clock, silence when the bridge has none. With G.711 on
    the leg it yields encoded packets, which aiortc sends as they are."""

    kind = "audio"

    def __init__(self, frames: FrameBuffer) -> None:
        super().__init__()
        self.frames = frames
        self.law: Law | None = None
        self.sent = 0
        self._start: float | None = None
        self._timestamp = 0

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            self._timestamp += SAMPLES
            delay = self._start + self._timestamp / RATE - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        pcm = self.frames.pop() or SILENCE
        self.sent += 1
        if self.law is not None:
            packet = Packet(encode_g711(pcm, self.law))
            packet.pts = self._timestamp
            packet.time_base = _TIME_BASE
            return packet
        frame = AudioFrame(format="s16", layout="mono", samples=SAMPLES)
        frame.planes[0].update(pcm)
        frame.pts = self._timestamp
        frame.sample_rate = RATE
        frame.time_base = _TIME_BASE
        return frame


class BrowserLeg:
    """One browser's audio, joined to the conference bridge by two buffers:
    `to_sip` (filled here, read by the bridge's port) and `to_browser`
    (filled by the port, read by the track sent to the browser)."""

    def __init__(
        self,
        name: str,
        *,
        ice_servers: Sequence[RTCIceServer] = (),
        passthrough: bool = True,
        cap: int = DEFAULT_CAP,
    ) -> None:
        self.name = name
        self.peer = Peer(name, ice_servers=ice_servers)
        self.to_sip = FrameBuffer(cap)
        self.to_browser = FrameBuffer(cap)
        self.track = _ToBrowser(self.to_browser)
        #: Whether G.711 from the browser skips aiortc's decoder.
        self.passthrough = passthrough
        self.codec = ""
        #: The browser's direction in its last description: "sendonly" or
        #: "inactive" is a hold from its side.
        self.remote_direction: Direction = "sendrecv"
        self.packets_in = 0
        self.late_packets = 0
        self._laws: dict[int, Law] = {}
        self._last_seq: int | None = None
        self._carry = b""
        self._tapped = False
        self._failed = False
        #: RFC 4733 from the browser (its telephone-event payload type, when
        #: the answer named one) becomes keys, given to `on_digit`.
        self._event_pt: int | None = None
        self._events = EventAssembler(RATE)
        self.on_digit: Callable[[str], None] = lambda digit: None
        self._resampler: AudioResampler | None = None
        self._watch: asyncio.Task[None] | None = None
        self._extra = {"call_id": name}
        #: Called once if the leg fails to connect, or fails later.
        self.on_failed: Callable[[str], None] = lambda reason: None
        # The peer reads the remote track already: a second reader would
        # take every other frame from it.
        self.peer.on_frame = self._from_decoder
        self.peer.pc.on("connectionstatechange", self._on_connection_state)

    # Negotiation

    async def offer(self) -> str:
        """Our offer, G.711 first (the SIP side's codec), then Opus."""
        transceiver = self.peer.pc.addTransceiver(self.track, direction="sendrecv")
        transceiver.setCodecPreferences(_g711_first())
        return await self.peer.create_offer()

    async def accept_answer(self, sdp: str) -> None:
        await self.peer.accept_answer(sdp)
        self._negotiated(sdp)

    async def accept_offer(self, sdp: str) -> str:
        """Answer the browser's offer (the first one, or a re-offer such as
        a hold), choosing G.711 when it offers it."""
        offered = check_sdp(sdp, kind="offer")
        audio = _audio_of(offered.media)
        if not any(t.kind == "audio" for t in self.peer.pc.getTransceivers()):
            # Before the offer is applied: aiortc picks the codecs then.
            transceiver = self.peer.pc.addTransceiver(self.track, direction="sendrecv")
            if audio is not None and _offers_g711(audio):
                transceiver.setCodecPreferences(_g711_only())
        answer = await self.peer.accept_offer(sdp)
        if audio is not None:
            self.remote_direction = audio.direction
        self._negotiated(answer)
        if audio is not None and self.track.law is not None and self.passthrough:
            # aiortc names no telephone-event; the offer's 8 kHz one goes in
            # the answer (one only, at the codec's rate), and the short road
            # reads the browser's key presses from it.
            self._event_pt = telephone_event_for(audio, RATE)
            if self._event_pt is not None:
                answer = with_telephone_event(answer, self._event_pt, RATE)
                self._route_events()
        return answer

    def _negotiated(self, answer: str) -> None:
        """Read the codec the answer chose, and set the short road for it."""
        if self._watch is None:
            self._watch = asyncio.get_running_loop().create_task(self._watch_connect())
        description = check_sdp(answer, kind="answer")
        audio = _audio_of(description.media)
        if audio is None or not audio.payload_types:
            return
        first = audio.payload_types[0]
        rtpmap = audio.rtpmap(first)
        codec = rtpmap.encoding.lower() if rtpmap else ""
        if codec == self.codec:
            return
        self.codec = codec
        law = _LAWS.get(codec)
        self._laws = {first: law} if law is not None else {}
        self.track.law = law
        if law is not None and self.passthrough:
            self._tap()
        logger.info(
            "browser leg speaks %s%s",
            codec,
            " (G.711 passed through)" if law and self.passthrough else "",
            extra=self._extra,
        )

    async def _watch_connect(self) -> None:
        try:
            await asyncio.wait_for(self.peer.wait_connected(), CONNECT_S)
        except TimeoutError:
            self._fail("no ICE or DTLS connection")
        except ConnectionError:
            self._fail(f"connection {self.peer.pc.connectionState}")

    def _on_connection_state(self) -> None:
        if self.peer.pc.connectionState == "failed":
            self._fail("connection failed")

    def _fail(self, reason: str) -> None:
        if self._failed or self.track.readyState != "live":
            return  # closed on purpose, or already told
        self._failed = True
        logger.warning("browser leg failed: %s", reason, extra=self._extra)
        self.on_failed(reason)

    # From the browser

    def _tap(self) -> None:
        """Take G.711 packets before aiortc's jitter buffer and decoder."""
        if self._tapped:
            return
        receiver = next(
            t.receiver for t in self.peer.pc.getTransceivers() if t.kind == "audio"
        )
        original: Callable[..., Awaitable[None]] = receiver._handle_rtp_packet

        async def handle(packet: Any, arrival_time_ms: int) -> None:
            if packet.payload_type == self._event_pt:
                self._key_event(packet)
                return
            law = self._laws.get(packet.payload_type)
            if law is None:
                await original(packet, arrival_time_ms=arrival_time_ms)
                return
            self._from_browser(packet.sequence_number, packet.payload, law)

        receiver._handle_rtp_packet = handle  # type: ignore[method-assign]
        self._tapped = True

    def _from_browser(self, seq: int, payload: bytes, law: Law) -> None:
        if self._last_seq is not None and not seq_newer(seq, self._last_seq):
            self.late_packets += 1  # late or repeated: its time has passed
            return
        self._last_seq = seq
        self.packets_in += 1
        self._push_pcm(decode_g711(payload, law))

    def _route_events(self) -> None:
        """aiortc routes packets by the payload types it knows; the events'
        type is ours, so the receiver is given it too."""
        if self._event_pt is None:
            return
        receiver = next(
            t.receiver for t in self.peer.pc.getTransceivers() if t.kind == "audio"
        )
        table = receiver.transport._rtp_router.payload_type_table
        table.setdefault(self._event_pt, set()).add(receiver)

    def _key_event(self, packet: Any) -> None:
        try:
            event = parse_event_payload(packet.payload)
        except RtpError:
            return  # a broken event packet: nothing to hear
        presses = self._events.feed(
            packet.timestamp,
            event.event,
            event.end,
            event.duration,
            marker=bool(packet.marker),
        )
        for press in presses:
            if not press.end:  # a press counts once, when it starts
                self.on_digit(press.digit)

    def _push_pcm(self, pcm: bytes) -> None:
        """Whole 20 ms frames into the bridge's buffer, whatever the ptime."""
        if not self._carry and len(pcm) == PCM_BYTES:
            self.to_sip.push(pcm)
            return
        data = self._carry + pcm
        whole = len(data) - len(data) % PCM_BYTES
        for offset in range(0, whole, PCM_BYTES):
            self.to_sip.push(data[offset : offset + PCM_BYTES])
        self._carry = data[whole:]

    def _from_decoder(self, frame: AudioFrame) -> None:
        """The long road (Opus, or G.711 without the short one): aiortc's
        decoded frames, resampled to the bridge's 8 kHz."""
        if self._resampler is None:
            self._resampler = AudioResampler(format="s16", layout="mono", rate=RATE)
        self.packets_in += 1
        for out in self._resampler.resample(frame):
            self._push_pcm(bytes(out.planes[0])[: out.samples * 2])

    # Lifetime

    def stats(self) -> LegStats:
        return LegStats(
            codec=self.codec,
            passthrough=bool(self._laws) and self.passthrough,
            packets_in=self.packets_in,
            late_packets=self.late_packets,
            frames_out=self.track.sent,
            to_sip=self.to_sip.stats(),
            to_browser=self.to_browser.stats(),
        )

    async def close(self) -> None:
        self.track.stop()
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self.peer.close()


def _audio_of(media: Sequence[MediaSection]) -> MediaSection | None:
    return next((m for m in media if m.kind == "audio" and m.port != 0), None)


def _offers_g711(audio: MediaSection) -> bool:
    return any(
        (m := audio.rtpmap(pt)) is not None and m.encoding.lower() in _LAWS
        for pt in audio.payload_types
    )


def _g711_only() -> list[Any]:
    codecs = RTCRtpSender.getCapabilities("audio").codecs
    return [c for c in codecs if c.mimeType.lower() in ("audio/pcmu", "audio/pcma")]


def _g711_first() -> list[Any]:
    codecs = RTCRtpSender.getCapabilities("audio").codecs
    g711 = _g711_only()
    return g711 + [c for c in codecs if c not in g711]

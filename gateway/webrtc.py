"""A thin adapter over aiortc: one `Peer` is one end of a WebRTC call.

Everything that arrives from the other end goes through the sans-I/O checks
first (`signaling.sdp.check_sdp`, `signaling.ice.parse_candidate`), so aiortc
only ever sees an SDP or a candidate line that passed them. Candidates that
arrive before the remote description wait in a `CandidateQueue` and are
applied, in order, as soon as it is set.

aiortc gathers all its candidates before it returns a local description, so
they are inside the SDP; `local_candidates` reads them back out for a peer
that wants to trickle them. Which host addresses it gathers is one choice
for the whole process (aioice asks one function for them):
`limit_host_addresses` makes it, once, before the first peer gathers.

A remote description loses its `.local` (mDNS) candidates before aiortc
sees it (`signaling.sdp.without_mdns_candidates`), and trickled ones are
skipped: the browser behind such a name is learnt as a peer-reflexive
candidate from its first check, or meets us through TURN.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import dataclasses
import fractions
import ipaddress
import logging
import math
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Final

import aioice.ice
from aiortc import (
    RTCConfiguration,
    RTCIceCandidate,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.exceptions import InvalidStateError
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp
from aiortc.stats import RTCInboundRtpStreamStats
from av import AudioFrame

from signaling.errors import SdpError, SignalingError
from signaling.ice import Candidate, CandidateQueue, EndOfCandidates, parse_candidate
from signaling.sdp import (
    Kind,
    SessionDescription,
    check_sdp,
    without_mdns_candidates,
)

logger = logging.getLogger(__name__)

TONE_SAMPLE_RATE: Final = 48_000
TONE_PTIME: Final = 0.020
_TONE_SAMPLES: Final = int(TONE_SAMPLE_RATE * TONE_PTIME)

# What aiortc raises on an SDP it cannot use. check_sdp should stop all of
# these first; they are caught so that a gap in it is still a clean refusal.
_AIORTC_SDP_ERRORS: Final = (ValueError, KeyError, IndexError, StopIteration)


class ToneTrack(MediaStreamTrack):
    """A sine tone, 48 kHz mono, in 20 ms frames paced in real time."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0, level: float = 0.25) -> None:
        super().__init__()
        # One second of tone: a whole number of periods for any whole
        # frequency, so slicing it by the timestamp never clicks.
        peak = level * 32_767
        self._table = array.array(
            "h",
            (
                round(peak * math.sin(2 * math.pi * frequency * n / TONE_SAMPLE_RATE))
                for n in range(TONE_SAMPLE_RATE)
            ),
        )
        self._start: float | None = None
        self._timestamp = 0

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._pace()

        offset = self._timestamp % TONE_SAMPLE_RATE
        frame = AudioFrame(format="s16", layout="mono", samples=_TONE_SAMPLES)
        frame.planes[0].update(self._table[offset : offset + _TONE_SAMPLES].tobytes())
        frame.pts = self._timestamp
        frame.sample_rate = TONE_SAMPLE_RATE
        frame.time_base = fractions.Fraction(1, TONE_SAMPLE_RATE)
        return frame

    async def _pace(self) -> None:
        """Hold each frame until its time comes: this is a media clock."""
        now = asyncio.get_running_loop().time()
        if self._start is None:
            self._start = now
            return
        self._timestamp += _TONE_SAMPLES
        delay = self._start + self._timestamp / TONE_SAMPLE_RATE - now
        if delay > 0:
            await asyncio.sleep(delay)


class Peer:
    """One aiortc peer connection with checked input and owned tasks."""

    def __init__(
        self, peer_id: str, *, ice_servers: Sequence[RTCIceServer] = ()
    ) -> None:
        self.id = peer_id
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=list(ice_servers)))
        self.frames_received = 0
        self.bytes_received = 0
        self._prefix = f"Peer({peer_id}) - ".replace("%", "%%")
        self._candidates = CandidateQueue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._aiortc_tasks: set[asyncio.Task[Any]] = set()
        self._received = asyncio.Condition()
        #: Called with every decoded audio frame from the other end.
        self.on_frame: Callable[[AudioFrame], None] | None = None
        self._connected = asyncio.Event()
        self._closed = False

        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_connection_state)

    # Media

    def add_audio(self, track: MediaStreamTrack | None = None) -> RTCRtpSender:
        """Send `track` (default: a 440 Hz tone) and receive audio back."""
        return self.pc.addTrack(track if track is not None else ToneTrack())

    def audio_received(self) -> int:
        """Bytes of decoded audio received from the other end so far."""
        return self.bytes_received

    async def audio_packets_received(self) -> int:
        """RTP audio packets received, as aiortc's statistics count them."""
        report = await self.pc.getStats()
        return sum(
            stats.packetsReceived
            for stats in report.values()
            if isinstance(stats, RTCInboundRtpStreamStats) and stats.kind == "audio"
        )

    async def wait_audio(self, frames: int = 1) -> None:
        """Return once `frames` audio frames have arrived; bound it by a timeout."""
        async with self._received:
            await self._received.wait_for(lambda: self.frames_received >= frames)

    async def wait_connected(self) -> None:
        """Return once the connection is up; raise if it failed or closed."""
        await self._connected.wait()
        if self.pc.connectionState != "connected":
            raise ConnectionError(f"{self._prefix}connection {self.pc.connectionState}")

    # Offer and answer

    async def create_offer(self) -> str:
        offer = await self.pc.createOffer()
        async with self._adopting():
            await self.pc.setLocalDescription(offer)
        return self._local_sdp()

    async def accept_offer(self, sdp: str) -> str:
        """Check and apply a remote offer; return the answer to send back."""
        description = check_sdp(sdp, kind="offer")
        await self._set_remote(sdp, description)

        answer = await self.pc.createAnswer()
        async with self._adopting():
            await self.pc.setLocalDescription(answer)
        logger.info(
            self._prefix + "answered an offer of %d section(s)", len(description.media)
        )
        return self._local_sdp()

    async def accept_answer(self, sdp: str) -> None:
        """Check and apply the remote answer to our offer."""
        description = check_sdp(sdp, kind="answer")
        await self._set_remote(sdp, description)

    async def _set_remote(self, sdp: str, description: SessionDescription) -> None:
        sdp, mdns = without_mdns_candidates(sdp)
        if mdns:
            logger.info(self._prefix + "left out %d mDNS candidate(s)", mdns)
        remote = RTCSessionDescription(sdp=sdp, type=description.kind)
        try:
            async with self._adopting():
                await self.pc.setRemoteDescription(remote)
        except InvalidStateError as error:
            refusal = SignalingError(
                f"The {description.kind} came out of turn: {error}"
            )
            refusal.code = "bad-state"
            raise refusal from error
        except _AIORTC_SDP_ERRORS as error:
            raise SdpError(f"The {description.kind} was refused: {error}") from error

        logger.debug(self._prefix + "remote %s set", description.kind)
        for item in self._candidates.drain(description.mids):
            await self._apply(item)

    def _local_sdp(self) -> str:
        local = self.pc.localDescription
        if local is None:
            raise InvalidStateError("no local description after setting one")
        return local.sdp

    # Candidates

    async def add_candidate(self, obj: object) -> None:
        """Check one trickled `RTCIceCandidateInit` (or None) and apply it.

        Before the remote description it is held; raises `CandidateError`
        for a bad candidate or when too many are held.
        """
        item = parse_candidate(obj)
        for ready in self._candidates.push(item):
            await self._apply(ready)

    async def _apply(self, item: Candidate | EndOfCandidates) -> None:
        if isinstance(item, EndOfCandidates):
            # TODO(aioice taking candidates after end-of-candidates): the
            # marker is not passed on, because aioice then refuses the late
            # candidates some browsers still send; an ICE failure is only
            # noticed by the call's own timeouts.
            logger.debug(self._prefix + "end of candidates for mid %s", item.sdp_mid)
            return
        if item.mdns:
            # Resolving a .local name takes multicast on the browser's own
            # network; its checks reach us anyway (see the module docstring).
            logger.info(self._prefix + "skipped an mDNS candidate")
            return

        candidate = candidate_from_sdp(item.to_sdp())
        candidate.sdpMid = item.sdp_mid
        candidate.sdpMLineIndex = item.sdp_mline_index
        logger.debug(self._prefix + "remote candidate %s", item.to_sdp())
        await self.pc.addIceCandidate(candidate)

    def local_candidates(self) -> list[dict[str, Any]]:
        """Our candidates, as `RTCIceCandidateInit` objects to trickle."""
        local = self.pc.localDescription
        if local is None:
            return []
        kind: Kind = "offer" if local.type == "offer" else "answer"
        description = check_sdp(local.sdp, kind=kind)
        return [
            dataclasses.replace(c, sdp_mid=m.mid, sdp_mline_index=index).to_init()
            for index, m in enumerate(description.media)
            for c in m.candidates
        ]

    def remote_candidates(self) -> list[RTCIceCandidate]:
        """The candidates aiortc's ICE transports hold for the other end."""
        transports = {
            id(t.receiver.transport.transport): t.receiver.transport.transport
            for t in self.pc.getTransceivers()
        }
        return [c for t in transports.values() for c in t.getRemoteCandidates()]

    # Lifetime

    async def close(self) -> None:
        """Close the connection and cancel and await every task it started."""
        if self._closed:
            return
        self._closed = True
        self._candidates.clear()

        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pc.close()
        if self._aiortc_tasks:
            # aiortc's own connect tasks end once the connection is closed.
            await asyncio.wait(self._aiortc_tasks, timeout=5)
            for task in self._aiortc_tasks:
                task.cancel()
        self._connected.set()
        logger.info(self._prefix + "closed")

    @contextlib.asynccontextmanager
    async def _adopting(self) -> AsyncIterator[None]:
        """Own the tasks aiortc starts in the block (it keeps no handle on
        its connect task), so ``close`` can wait for them."""
        before = asyncio.all_tasks()
        yield
        for task in asyncio.all_tasks() - before:
            frame = getattr(task.get_coro(), "cr_frame", None)
            if frame is not None and frame.f_locals.get("self") is self.pc:
                self._aiortc_tasks.add(task)

    def _on_track(self, track: MediaStreamTrack) -> None:
        logger.debug(self._prefix + "receiving %s track %s", track.kind, track.id)
        if track.kind != "audio" or self._closed:
            return
        task = asyncio.get_running_loop().create_task(self._consume(track))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _consume(self, track: MediaStreamTrack) -> None:
        """Read every frame of a remote audio track, counting what arrives."""
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if not isinstance(frame, AudioFrame):
                    continue
                if self.on_frame is not None:
                    self.on_frame(frame)
                async with self._received:
                    self.frames_received += 1
                    self.bytes_received += _pcm_bytes(frame)
                    self._received.notify_all()

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        logger.info(self._prefix + "connection %s", state)
        if state in ("connected", "failed", "closed"):
            self._connected.set()


# Host addresses


HostLookup = Callable[..., list[str]]


class _LimitedLookup:
    """aioice's host address lookup, keeping only the allowed addresses."""

    def __init__(self, unlimited: HostLookup, allowed: frozenset[str]) -> None:
        self.unlimited = unlimited
        self.allowed = allowed

    def __call__(self, use_ipv4: bool, use_ipv6: bool) -> list[str]:
        found = self.unlimited(use_ipv4=use_ipv4, use_ipv6=use_ipv6)
        kept = keep_host_addresses(found, self.allowed)
        # aioice never lists loopback; one named here is wanted on purpose
        # (a worker serving browsers on its own host: the demo, the tests).
        for address in sorted(self.allowed):
            ip = _ip(address)
            if (
                ip is not None
                and ip.is_loopback
                and (use_ipv4 if ip.version == 4 else use_ipv6)
                and not keep_host_addresses(kept, [address])
            ):
                kept.append(str(ip))
        return kept


def keep_host_addresses(found: Iterable[str], allowed: Iterable[str]) -> list[str]:
    """The addresses of `found` that are in `allowed`, in `found`'s order.

    Addresses compare as addresses: ``2001:db8::1`` is ``2001:DB8:0::1``.
    """
    wanted = {_ip(a) for a in allowed} - {None}
    return [a for a in found if _ip(a) in wanted]


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class _WithLoopback:
    """aioice's host address lookup, with 127.0.0.1 added."""

    def __init__(self, unlimited: HostLookup) -> None:
        self.unlimited = unlimited

    def __call__(self, use_ipv4: bool, use_ipv6: bool) -> list[str]:
        found = self.unlimited(use_ipv4=use_ipv4, use_ipv6=use_ipv6)
        if use_ipv4 and "127.0.0.1" not in found:
            found = [*found, "127.0.0.1"]
        return found


def offer_loopback_too() -> None:
    """Every address aioice finds, and 127.0.0.1 as well: the demo, whose
    browsers run on the same host (and, in the tests, on loopback only)."""
    current: HostLookup = aioice.ice.get_host_addresses
    if isinstance(current, (_LimitedLookup, _WithLoopback)):
        return
    aioice.ice.get_host_addresses = _WithLoopback(current)


def limit_host_addresses(allowed: Sequence[str]) -> None:
    """Let every peer of this process gather host candidates only on the
    `allowed` addresses (the setting ``ice.interfaces``); empty: all of them.

    aioice asks one module-level function for the host's addresses, so this
    wraps that function; calling it again replaces the limit.
    """
    current: HostLookup = aioice.ice.get_host_addresses
    unlimited = (
        current.unlimited
        if isinstance(current, (_LimitedLookup, _WithLoopback))
        else current
    )
    if not allowed:
        aioice.ice.get_host_addresses = unlimited
        return

    limited = _LimitedLookup(unlimited, frozenset(allowed))
    aioice.ice.get_host_addresses = limited
    found = limited(use_ipv4=True, use_ipv6=True)
    logger.info("host candidates limited to %s", ", ".join(found) or "none")
    missing = [a for a in allowed if not keep_host_addresses(found, [a])]
    if missing:
        logger.warning(
            "ice.interfaces names %s, which aioice does not find on this host",
            ", ".join(missing),
        )


def _pcm_bytes(frame: AudioFrame) -> int:
    """The size of a frame's samples, without the planes' padding."""
    return frame.samples * frame.format.bytes * len(frame.layout.channels)

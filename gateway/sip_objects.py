"""The pjsua2 subclasses of a media worker: calls, players, the in-band
tap, the account and the log writer. Each only hands what pjsua2 tells it
to its :class:`~gateway.sip_owner.SipOwner`, in the owner thread (or, for
media callbacks, pjmedia's clock thread), and never lets an exception out.
"""

from __future__ import annotations

import ctypes
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import pjsua2 as pj

from gateway.audio import PCM_BYTES, SILENCE
from ivr.inband import InbandDetector

if TYPE_CHECKING:
    from gateway.audio import FrameBuffer
    from gateway.sip_owner import SipOwner

logger = logging.getLogger("gateway.sip_owner")

DTMF_RFC4733: Final = 0
#: onDtmfEvent's flag for the end of a press (pjmedia's
#: PJMEDIA_STREAM_DTMF_IS_END, which the wheel does not export).
DTMF_IS_END: Final = 2


def _vector_bytes_slow(vector: Any, size: int) -> bytes:
    return bytes(vector)[:size]


def _vector_bytes_fast(vector: Any, size: int) -> bytes:
    """A frame's samples without SWIG's per-byte iterator (about 150 us a
    frame; this takes 3): a ``std::vector<unsigned char>`` starts with
    pointers to its first and one-past-last bytes (checked at import)."""
    address = int(vector.this)
    begin = ctypes.c_void_p.from_address(address).value or 0
    end = ctypes.c_void_p.from_address(address + ctypes.sizeof(ctypes.c_void_p))
    length = min((end.value or 0) - begin, size)
    return ctypes.string_at(begin, length) if length > 0 else b""


def _pick_vector_reader() -> Callable[[Any, int], bytes]:
    probe = bytes(range(256)) * 2
    try:
        frame = pj.MediaFrame()
        frame.buf = pj.ByteVector(probe)
        if _vector_bytes_fast(frame.buf, len(probe)) == probe:
            return _vector_bytes_fast
    except Exception:  # a layout we do not know: take the slow road
        pass
    logger.warning("pjsua2 frames read byte by byte", extra={"call_id": "-"})
    return _vector_bytes_slow


vector_bytes: Final = _pick_vector_reader()


def _guarded(method: Callable[..., None]) -> Callable[..., None]:
    """A pjsua2 callback that never lets an exception out: one would print
    from inside pjsua and keep the Call alive in its traceback past
    libDestroy, which aborts the process."""

    def run(self: Any, *args: Any) -> None:
        try:
            method(self, *args)
        except Exception:
            logger.exception(
                "SIP callback %s failed", method.__name__, extra={"call_id": "-"}
            )

    run.__name__ = method.__name__
    return run


class _Call(pj.Call):  # type: ignore[misc]
    def __init__(self, owner: SipOwner, acc: Any, call_id: int, leg: int) -> None:
        super().__init__(acc, call_id)
        self.owner = owner
        self.leg = leg
        self.outbound = call_id == pj.PJSUA_INVALID_ID
        self.media_up = False
        self.invite = ""  # an inbound call's INVITE, until its dialog is known
        self.offered_at = 0.0  # when we offered in a 200, awaiting the ACK's answer
        self.tap: Any = None  # the in-band DTMF detector's port, if any
        self.sources: set[str] = set()  # what transmits to this call now

    @_guarded
    def onCallState(self, prm: Any) -> None:
        self.owner._on_state(self)

    @_guarded
    def onCallMediaState(self, prm: Any) -> None:
        self.owner._on_media(self)

    @_guarded
    def onDtmfEvent(self, prm: Any) -> None:
        if prm.method != DTMF_RFC4733:
            return  # INFO digits are read from the request itself
        self.owner._emit(
            "digit",
            self.leg,
            digit=str(prm.digit),
            method="rfc4733",
            duration_ms=int(prm.duration),
            timestamp=int(prm.timestamp),
            end=bool(prm.flags & DTMF_IS_END),
        )

    @_guarded
    def onCallTsxState(self, prm: Any) -> None:
        self.owner._on_tsx(self, prm)

    @_guarded
    def onCallTransferRequest(self, prm: Any) -> None:
        # Nothing a caller sends chooses a destination.
        prm.statusCode = 403
        logger.warning("REFER from the caller refused", extra=self.owner._extra(self))

    @_guarded
    def onCallTransferStatus(self, prm: Any) -> None:
        if prm.finalNotify:
            self.owner._emit("transfer", self.leg, code=int(prm.statusCode))

    @_guarded
    def onCallSdpCreated(self, prm: Any) -> None:
        self.owner._on_sdp_created(self, prm)

    @_guarded
    def onCallTxOffer(self, prm: Any) -> None:
        # A re-INVITE without SDP: our offer goes in the 200, the answer must
        # come in the ACK (case 11). The loop ends the call if it never does.
        self.offered_at = time.monotonic()


class _Player(pj.AudioMediaPlayer):  # type: ignore[misc]
    def __init__(self, owner: SipOwner, leg: int, play: int) -> None:
        super().__init__()
        self.owner = owner
        self.leg = leg
        self.play = play

    @_guarded
    def onEof2(self) -> None:
        # Inside pjmedia's callback: only note it; the loop acts on it.
        self.owner._ended_players.append(self)


class _Tap(pj.AudioMediaPort):  # type: ignore[misc]
    """Hears a caller whose phone sends no telephone-event: the call's audio
    goes through the in-band DTMF detector (ivr/inband.py)."""

    def __init__(self, owner: SipOwner, leg: int) -> None:
        super().__init__()
        self.owner = owner
        self.leg = leg
        self.detector = InbandDetector(8000)

    @_guarded
    def onFrameReceived(self, frame: Any) -> None:
        # In pjmedia's clock thread: detect here, hand digits to asyncio.
        if frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO:
            return
        for digit in self.detector.feed(vector_bytes(frame.buf, frame.size)):
            self.owner._emit("digit_inband", self.leg, digit=digit)


class _BridgePort(pj.AudioMediaPort):  # type: ignore[misc]
    """A browser leg in the conference bridge: what the bridge sends it goes
    into `downlink` (to the browser), what it asks for comes from `uplink`
    (from the browser), silence when that is empty. Both callbacks run in
    pjmedia's clock thread and only move bytes."""

    def __init__(self, port: int, uplink: FrameBuffer, downlink: FrameBuffer) -> None:
        super().__init__()
        self.port = port
        self.uplink = uplink
        self.downlink = downlink
        self.sources: set[str] = set()  # what transmits to this port now

    @_guarded
    def onFrameReceived(self, frame: Any) -> None:
        if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size == PCM_BYTES:
            self.downlink.push(vector_bytes(frame.buf, PCM_BYTES))

    @_guarded
    def onFrameRequested(self, frame: Any) -> None:
        pcm = self.uplink.pop()
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = pj.ByteVector(pcm if pcm is not None else SILENCE)
        frame.size = PCM_BYTES


class _Account(pj.Account):  # type: ignore[misc]
    def __init__(self, owner: SipOwner) -> None:
        super().__init__()
        self.owner = owner

    @_guarded
    def onIncomingCall(self, prm: Any) -> None:
        self.owner._on_incoming(self, prm)

    @_guarded
    def onRegState(self, prm: Any) -> None:
        self.owner._on_registration(int(prm.code), int(prm.expiration))


class _LogWriter(pj.LogWriter):  # type: ignore[misc]
    """pjsip's own log lines, into this module's logger (pjsip level 1 is
    an error, 2 a warning, 3 and up detail)."""

    def __init__(self) -> None:
        super().__init__()
        self.quiet = False
        self.log = logging.getLogger(__name__ + ".pjsip")

    def write(self, entry: Any) -> None:
        if self.quiet:
            return
        level = {1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO}.get(
            entry.level, logging.DEBUG
        )
        self.log.log(level, "%s", entry.msg.rstrip(), extra={"call_id": "-"})

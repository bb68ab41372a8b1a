"""The one thread that owns a pjsua2 endpoint, and what asyncio sees of it.

pjsua2 objects may only be touched by the thread that created the library
(``threadCnt=0``, ``mainThreadOnly``), and a ``Call`` that outlives
``libDestroy`` aborts the process. So one owner thread creates, uses and
destroys every pjsua2 object of a media worker: it runs
``libHandleEvents`` in a loop and, between turns, the commands asyncio puts
on its queue. What happens on the SIP side comes back to asyncio as
:class:`SipEvent` values through ``call_soon_threadsafe``.

Legs are numbered; asyncio names a leg by its number, never by a pjsua2
object. Inbound INVITEs pass the toll-fraud guard here, before anything
else sees them: a number Helpline does not serve gets 404, a source outside
the trusted networks 403, and REFERs from callers 403.

See docs/sip-notes.md for the measurements behind the shutdown order,
the call-limit probe and the player lifetime rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import itertools
import logging
import queue
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pjsua2 as pj

from gateway.audio import FrameBuffer
from gateway.sip_dialog import dialog_of
from gateway.sip_objects import _Account, _BridgePort, _Call, _LogWriter, _Player, _Tap
from gateway.sip_text import (
    events_as_offered,
    one_event_rate,
    public_address,
    refuse_all,
    request_user,
)
from gateway.sip_trunk import (
    TrunkConfig,
    account_uri,
    configure_account,
    registration_state,
    tls_transport,
)

logger = logging.getLogger(__name__)

#: pjsua's PJ_ETOOMANY: the compile-time call limit is reached.
PJ_ETOOMANY: Final = 70010
#: A player is destroyed this long after it stops (its end-of-file event
#: may still be queued inside pjmedia).
PLAYER_GRAVE_S: Final = 0.4
TURN_MS: Final = 10
#: How long an offer we put in a 200 may wait for its answer in the ACK.
ANSWER_WAIT_S: Final = 4.0
PROBE_MAX: Final = 64

_CONTENT_TYPE = re.compile(rb"^(?:content-type|c)[ \t]*:[ \t]*([^\r\n]*)", re.I | re.M)


@dataclass(frozen=True, slots=True)
class SipConfig:
    host: str = "127.0.0.1"
    port: int = 5060
    tcp: bool = True
    rtp_port: int = 40000
    rtp_ports: int = 100
    numbers: tuple[str, ...] = ("helpline",)
    trusted: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    max_calls: int = 0  # 0: what the library holds (probed)
    trunk: TrunkConfig = field(default_factory=TrunkConfig)
    pjsip_log_level: int = 1


@dataclass(frozen=True, slots=True)
class SipEvent:
    """What happened on a leg. ``kind`` is one of: ``incoming`` (an
    answered inbound call; ``info`` has ``sip_call_id``, ``number``,
    ``source``), ``refused`` (``code``, ``reason``), ``media`` (audio is
    flowing), ``digit`` (``digit``, ``method``, ``duration_ms``),
    ``info_body`` (an INFO request's ``content_type`` and ``body``),
    ``play_done`` (``play``), ``progress`` (an outbound leg rang:
    ``code``), ``connected`` (an outbound leg answered), ``transfer``
    (``code`` from the REFER's NOTIFY), ``ended`` (``code``, ``reason``),
    ``registration`` (leg 0: the trunk account's ``state``, one of
    ``registered``, ``unregistered``, ``failed:<code>``, and ``code``)."""

    kind: str
    leg: int
    info: dict[str, Any] = field(default_factory=dict)


Emit = Callable[[SipEvent], None]


class SipError(Exception):
    """A command the owner could not carry out, with pjsua's reason."""


class SipOwner:
    """One pjsua2 endpoint in one thread; every method is for asyncio."""

    def __init__(self, config: SipConfig, emit: Emit, name: str = "sip") -> None:
        self.config = config
        self.name = name
        self.call_limit = 0
        self._emit_to = emit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._trusted = [ipaddress.ip_network(n) for n in config.trusted]
        # Owned by the thread from here on.
        self._ep: Any = None
        self._acc: Any = None
        self._trunk: Any = None
        self._calls: dict[int, _Call] = {}
        self._grave: list[Any] = []
        self._players: dict[int, _Player] = {}
        #: Browser legs in the conference bridge, numbered like legs.
        self._ports: dict[int, _BridgePort] = {}
        self._ended_players: list[_Player] = []
        self._dying_players: list[tuple[float, Any]] = []
        self._silence: Any = None
        self._hold: Any = None
        self._ringback: Any = None
        self._legs = itertools.count(1)  # next() is atomic: any thread
        self._tcp = False
        self._writer: Any = None

    # asyncio side

    async def start(self, hold_wav: Path, silence_wav: Path, ringback_wav: Path) -> int:
        """Start the thread and the library; return the probed call limit."""
        self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[int] = self._loop.create_future()
        self._thread = threading.Thread(
            target=self._run,
            args=(ready, hold_wav, silence_wav, ringback_wav),
            name=f"{self.name}-owner",
            daemon=True,
        )
        self._thread.start()
        self.call_limit = await ready
        return self.call_limit

    async def stop(self) -> None:
        """Hang up every call, destroy every object, then the library."""
        if self._thread is None:
            return
        self._stopping = True
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    async def submit(self, work: Callable[[], Any]) -> Any:
        """Run `work` in the owner thread between two event turns."""
        assert self._loop is not None
        loop = self._loop
        done: asyncio.Future[Any] = loop.create_future()

        def run() -> None:
            try:
                result: Any = work()
            except pj.Error as err:  # e.g. the call ended under the command
                failed = SipError(f"{err.title}: {err.reason}")
                loop.call_soon_threadsafe(_settle, done, None, failed)
            except Exception as exc:
                loop.call_soon_threadsafe(_settle, done, None, exc)
            else:
                loop.call_soon_threadsafe(_settle, done, result, None)

        if self._thread is None or self._stopping:
            raise SipError("the SIP endpoint is stopped")
        self._commands.put(run)
        return await done

    async def play(self, leg: int, wav: Path, play: int) -> None:
        await self.submit(lambda: self._play(leg, wav, play))

    async def stop_play(self, leg: int) -> None:
        await self.submit(lambda: self._stop_player(leg))

    async def hold_music(self, leg: int) -> None:
        await self.submit(lambda: self._connect_only(leg, "hold"))

    async def hangup(self, leg: int, code: int = 200) -> None:
        await self.submit(lambda: self._hangup(leg, code))

    def new_leg(self) -> int:
        """A leg number for :meth:`dial`, taken before the call exists so
        that its events, which may come before ``dial`` returns (a trunk
        that refuses at once), already have somewhere to go."""
        return self._new_leg()

    async def dial(self, uri: str, leg: int) -> None:
        """Place a call through the trunk as leg `leg` (from ``new_leg``)."""
        await self.submit(lambda: self._dial(uri, leg))

    async def bridge(self, a: int, b: int) -> None:
        await self.submit(lambda: self._bridge(a, b))

    async def refer(self, leg: int, target: str) -> None:
        await self.submit(lambda: self._refer(leg, target))

    async def ringback(self, leg: int) -> None:
        await self.submit(lambda: self._connect_only(leg, "ringback"))

    async def open_port(
        self, port: int, uplink: FrameBuffer, downlink: FrameBuffer
    ) -> None:
        """Put a browser leg in the conference bridge as end `port` (a
        number from ``new_leg``): it sends what it takes from `uplink` and
        puts what it hears in `downlink`."""
        await self.submit(lambda: self._open_port(port, uplink, downlink))

    async def close_port(self, port: int) -> None:
        await self.submit(lambda: self._close_port(port))

    async def link(self, a: int, b: int) -> None:
        """Audio both ways between two ends (legs or ports), alone."""
        await self.submit(lambda: self._bridge(a, b))

    async def source(self, end: int, name: str) -> None:
        """One of the looping sources ("hold", "ringback", "silence") to
        an end (leg or port), alone."""
        await self.submit(lambda: self._connect_only(end, name))

    async def send_dtmf(self, leg: int, digits: str) -> None:
        """Keys on a SIP leg as RFC 4733 events."""
        await self.submit(lambda: self._send_dtmf(leg, digits))

    async def in_use(self) -> int:
        result: int = await self.submit(lambda: len(self._calls))
        return result

    # The owner thread

    def _run(
        self, ready: asyncio.Future[int], hold: Path, silence: Path, ringback: Path
    ) -> None:
        assert self._loop is not None
        try:
            self._init()
            limit = self._probe()
            if self.config.max_calls:
                limit = min(limit, self.config.max_calls)
            self._silence = self._looping(silence)
            self._hold = self._looping(hold)
            self._ringback = self._looping(ringback)
        except Exception as exc:
            self._loop.call_soon_threadsafe(_settle, ready, None, exc)
            self._teardown()
            return
        self._loop.call_soon_threadsafe(_settle, ready, limit, None)
        try:
            while not self._stopping:
                self._ep.libHandleEvents(TURN_MS)
                self._between_turns()
        except Exception:
            logger.exception("SIP owner loop failed", extra={"call_id": "-"})
        finally:
            self._teardown()

    def _between_turns(self) -> None:
        self._grave.clear()  # calls that went DISCONNECTED last turn
        now = time.monotonic()
        while self._ended_players:
            player = self._ended_players.pop()
            if self._players.get(player.leg) is player:
                self._stop_player(player.leg)
                self._emit("play_done", player.leg, play=player.play)
        while self._dying_players and self._dying_players[0][0] <= now:
            self._dying_players.pop(0)
        for call in list(self._calls.values()):
            if call.offered_at and now - call.offered_at > ANSWER_WAIT_S:
                call.offered_at = 0.0
                logger.warning(
                    "no SDP answer in the ACK to our offer; hanging up",
                    extra=self._extra(call),
                )
                self._hangup(call.leg, 488)
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                break
            command()

    def _init(self) -> None:
        config = self.config
        ep = pj.Endpoint()
        ep.libCreate()
        self._ep = ep
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = max(config.max_calls, 4)
        cfg.uaConfig.userAgent = "Helpline"
        self._writer = _LogWriter()
        cfg.logConfig.writer = self._writer
        cfg.logConfig.level = config.pjsip_log_level
        cfg.logConfig.consoleLevel = config.pjsip_log_level
        cfg.logConfig.decor = 0
        cfg.medConfig.clockRate = 8000
        cfg.medConfig.sndClockRate = 8000
        cfg.medConfig.noVad = True
        ep.libInit(cfg)
        ep.audDevManager().setNullDev()
        for codec in ep.codecEnum2():
            # G.711 first; nothing the trunk side would have to transcode.
            prio = {"PCMU/8000/1": 255, "PCMA/8000/1": 254}.get(codec.codecId, 0)
            if codec.codecId.startswith("telephone-event"):
                continue
            ep.codecSetPriority(codec.codecId, prio)
        udp = pj.TransportConfig()
        udp.port = config.port
        udp.boundAddress = config.host
        udp.publicAddress = public_address(config.host)
        ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, udp)
        if config.tcp:
            tcp = pj.TransportConfig()
            tcp.port = config.port
            tcp.boundAddress = config.host
            tcp.publicAddress = public_address(config.host)
            ep.transportCreate(pj.PJSIP_TRANSPORT_TCP, tcp)
            self._tcp = True
        tls_transport(ep, config.host, public_address(config.host), config.trunk)
        ep.libStart()
        self._acc = _Account(self)
        self._acc.create(self._account_config(f"sip:helpline@{config.host}"), True)
        self._trunk = self._make_trunk()

    def _account_config(self, uri: str) -> Any:
        ac = pj.AccountConfig()
        ac.idUri = uri
        media = ac.mediaConfig.transportConfig
        media.boundAddress = self.config.host
        media.publicAddress = public_address(self.config.host)
        media.port = self.config.rtp_port
        media.portRange = self.config.rtp_ports
        ac.natConfig.iceEnabled = False
        ac.natConfig.sdpNatRewriteUse = False
        ac.natConfig.viaRewriteUse = False
        ac.natConfig.contactRewriteUse = False
        return ac

    def _make_trunk(self) -> Any:
        uri = account_uri(self.config.trunk, self.config.host)
        if not uri:
            return None  # dial through the local account
        acc = _Account(self)
        ac = configure_account(self._account_config(uri), self.config.trunk)
        acc.create(ac, False)
        return acc

    def _probe(self) -> int:
        """How many calls the library really holds: place calls toward a
        socket of our own until pjsua says there are too many, then have
        that socket refuse them all, which frees every slot at once."""
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind((self.config.host, 0))
        sink.setblocking(False)
        port = sink.getsockname()[1]
        probes: list[Any] = []
        self._writer.quiet = True  # the last call's refusal is expected
        try:
            for _ in range(PROBE_MAX):
                call = pj.Call(self._acc)
                try:
                    call.makeCall(
                        f"sip:probe@{self.config.host}:{port}", pj.CallOpParam(True)
                    )
                except pj.Error as err:
                    if err.status != PJ_ETOOMANY:
                        raise
                    break
                probes.append(call)
            limit = len(probes)
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline and any(c.isActive() for c in probes):
                self._ep.libHandleEvents(TURN_MS)
                refuse_all(sink)
        finally:
            probes.clear()
            call = None
            gc.collect()
            for _ in range(10):
                self._ep.libHandleEvents(TURN_MS)
            sink.close()
            self._writer.quiet = False
        return limit

    def _looping(self, wav: Path) -> Any:
        player = pj.AudioMediaPlayer()
        player.createPlayer(str(wav), 0)  # loops
        return player

    def _teardown(self) -> None:
        """Hang up, let the BYEs go, drop every object, then the library."""
        ep = self._ep
        if ep is None:
            return
        try:
            with contextlib.suppress(Exception):
                ep.hangupAllCalls()
            deadline = time.monotonic() + 2.0
            while self._calls and time.monotonic() < deadline:
                ep.libHandleEvents(20)
                self._grave.clear()
            self._calls.clear()
            self._grave.clear()
            self._players.clear()
            self._ports.clear()
            self._ended_players.clear()
            self._dying_players.clear()
            self._silence = self._hold = self._ringback = None
            gc.collect()
            end = time.monotonic() + 0.3
            while time.monotonic() < end:
                ep.libHandleEvents(20)
            for acc in (self._trunk, self._acc):
                if acc is not None:
                    with contextlib.suppress(Exception):
                        acc.shutdown()
            self._trunk = self._acc = None
            gc.collect()
        finally:
            ep.libDestroy()
            self._ep = None

    # Inbound calls and the guard

    def _on_incoming(self, acc: Any, prm: Any) -> None:
        rdata = prm.rdata
        leg = self._new_leg()
        call = _Call(self, acc, prm.callId, leg)
        call.invite = rdata.wholeMsg
        self._calls[leg] = call
        number, source = request_user(rdata.wholeMsg), rdata.srcAddress
        sip_call_id = call.getInfo().callIdString
        code, reason = self._guard(number, source)
        op = pj.CallOpParam()
        if code != 200:
            op.statusCode = code
            op.reason = reason
            logger.warning(
                "INVITE refused %d: %s",
                code,
                reason,
                extra={"call_id": "-", "sip_call_id": sip_call_id, "number": number},
            )
            call.answer(op)
            self._emit("refused", leg, code=code, reason=reason)
            return
        op.statusCode = 200
        call.answer(op)
        self._emit(
            "incoming", leg, sip_call_id=sip_call_id, number=number, source=source
        )

    def _guard(self, number: str, source: str) -> tuple[int, str]:
        if number not in self.config.numbers:
            return 404, "No such number here"
        host = source.rpartition(":")[0].strip("[]")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return 403, "Not a trusted trunk"
        if not any(address in net for net in self._trusted):
            return 403, "Not a trusted trunk"
        return 200, "OK"

    def _on_registration(self, code: int, expires: int) -> None:
        state = registration_state(code, expires)
        logger.info(
            "trunk registration %s (%d, %d s)",
            state,
            code,
            expires,
            extra={"call_id": "-"},
        )
        self._emit("registration", 0, state=state, code=code)

    # Call state, media, requests

    def _on_state(self, call: _Call) -> None:
        info = call.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and call.outbound:
            self._emit("connected", call.leg)

        elif info.state == pj.PJSIP_INV_STATE_EARLY and call.outbound:
            self._emit("progress", call.leg, code=int(info.lastStatusCode))
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self._calls.pop(call.leg, None)
            self._forget_player(call.leg)
            if call.tap is not None:
                self._dying_players.append(
                    (time.monotonic() + PLAYER_GRAVE_S, call.tap)
                )
                call.tap = None
            self._grave.append(call)
            self._emit(
                "ended",
                call.leg,
                code=int(info.lastStatusCode),
                reason=str(info.lastReason),
            )

    def _on_media(self, call: _Call) -> None:
        call.offered_at = 0.0  # an answer came: the media are negotiated
        info = call.getInfo()
        for i, media in enumerate(info.media):
            if (
                media.type == pj.PJMEDIA_TYPE_AUDIO
                and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE
            ):
                if not call.media_up:
                    call.media_up = True
                    if not call.outbound:
                        self._connect_only(call.leg, "silence")
                        self._tap_if_no_events(call, i)
                    self._emit("media", call.leg, index=i)
                return

    def _tap_if_no_events(self, call: _Call, index: int) -> None:
        """No telephone-event was negotiated: listen for in-band tones."""
        if call.getStreamInfo(index).audRxEventPt >= 0:
            return
        tap = _Tap(self, call.leg)
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, 8000, 1, 20000, 16)
        tap.createPort(f"tap{call.leg}", fmt)
        self._audio(call).startTransmit(tap)
        call.tap = tap
        logger.info(
            "no telephone-event negotiated: in-band DTMF detection on",
            extra=self._extra(call),
        )

    def _on_tsx(self, call: _Call, prm: Any) -> None:
        event = prm.e
        if event.type != pj.PJSIP_EVENT_TSX_STATE:
            return
        tsx = event.body.tsxState.tsx
        if (
            tsx.role == pj.PJSIP_ROLE_UAS
            and tsx.method == "INVITE"
            and 200 <= tsx.statusCode < 300
            and call.invite
        ):
            dialog = dialog_of(call.invite, tsx.lastTx.wholeMsg)
            call.invite = ""  # once, for the first 2xx
            if dialog is not None:
                self._emit("dialog", call.leg, dialog=dialog.to_dict())
            return
        if (
            tsx.role != pj.PJSIP_ROLE_UAS
            or tsx.method != "INFO"
            or tsx.state != pj.PJSIP_TSX_STATE_TRYING
        ):
            return
        whole = event.body.tsxState.src.rdata.wholeMsg
        data = whole.encode("utf-8", "surrogateescape")
        head, _, body = data.partition(b"\r\n\r\n")
        match = _CONTENT_TYPE.search(head)
        content_type = match.group(1).decode("latin-1").strip() if match else ""
        self._emit("info_body", call.leg, content_type=content_type, body=body[:2048])

    def _on_sdp_created(self, call: _Call, prm: Any) -> None:
        """Our answer names telephone-event at the rate of the audio codec
        (a trunk offering /16000 and /8000 on one payload type, case 09)."""
        sdp = prm.sdp.wholeSdp
        remote = prm.remSdp.wholeSdp if prm.remSdp else ""
        fixed = events_as_offered(one_event_rate(sdp), remote)
        if fixed != sdp:
            prm.sdp.wholeSdp = fixed

    # Commands (run in the owner thread)

    def _new_leg(self) -> int:
        return next(self._legs)

    def _call(self, leg: int) -> _Call:
        call = self._calls.get(leg)
        if call is None:
            raise SipError(f"no leg {leg}")
        return call

    def _audio(self, call: _Call) -> Any:
        info = call.getInfo()
        for i, media in enumerate(info.media):
            if (
                media.type == pj.PJMEDIA_TYPE_AUDIO
                and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE
            ):
                return call.getAudioMedia(i)
        raise SipError(f"leg {call.leg} has no active audio")

    def _source(self, name: str) -> Any:
        return {
            "silence": self._silence,
            "hold": self._hold,
            "ringback": self._ringback,
        }[name]

    def _end(self, end: int) -> tuple[Any, Any]:
        """Leg or port `end`: the object that notes what transmits to it,
        and its audio in the conference bridge."""
        port = self._ports.get(end)
        if port is not None:
            return port, port
        call = self._call(end)
        return call, self._audio(call)

    def _connect_only(self, end: int, name: str) -> None:
        """Connect one of the shared looping sources to the end, alone."""
        holder, audio = self._end(end)
        self._stop_player(end)
        self._disconnect_sources(end)
        source = self._source(name)
        if source is not None:
            source.startTransmit(audio)
            holder.sources.add(name)

    def _disconnect_sources(self, end: int) -> None:
        """Stop whatever transmits to the end; a linked end stops both ways."""
        holder, audio = self._end(end)
        for name in list(holder.sources):
            if name.startswith("link:"):
                self._unlink(end, audio, int(name.removeprefix("link:")))
                continue
            source = self._source(name)
            if source is not None:
                with contextlib.suppress(pj.Error):
                    source.stopTransmit(audio)
        holder.sources.clear()

    def _unlink(self, end: int, audio: Any, other: int) -> None:
        try:
            other_holder, other_audio = self._end(other)
        except SipError:
            return  # the other end is gone, and its links with it
        with contextlib.suppress(pj.Error):
            other_audio.stopTransmit(audio)
            audio.stopTransmit(other_audio)
        other_holder.sources.discard(f"link:{end}")
        if not other_holder.sources and isinstance(other_holder, _Call):
            # A caller left alone hears silence, not nothing.
            with contextlib.suppress(pj.Error):
                self._silence.startTransmit(other_audio)
                other_holder.sources.add("silence")

    def _play(self, leg: int, wav: Path, play: int) -> None:
        call = self._call(leg)
        self._stop_player(leg)
        self._disconnect_sources(leg)
        player = _Player(self, leg, play)
        player.createPlayer(str(wav), pj.PJMEDIA_FILE_NO_LOOP)
        player.startTransmit(self._audio(call))
        self._players[leg] = player

    def _stop_player(self, leg: int) -> None:  # a port has no player: a no-op
        """Stop the leg's prompt and put silence back under it (without a
        source, pjsua sends no RTP and a trunk may drop a thinking caller)."""
        player = self._forget_player(leg)
        call = self._calls.get(leg)
        if player is not None and call is not None and call.media_up:
            with contextlib.suppress(pj.Error, SipError):
                player.stopTransmit(self._audio(call))
            if not call.sources:
                with contextlib.suppress(SipError):
                    self._silence.startTransmit(self._audio(call))
                    call.sources.add("silence")

    def _forget_player(self, leg: int) -> _Player | None:
        player = self._players.pop(leg, None)
        if player is not None:
            self._dying_players.append((time.monotonic() + PLAYER_GRAVE_S, player))
        return player

    def _hangup(self, leg: int, code: int) -> None:
        call = self._calls.get(leg)
        if call is None:
            return  # already gone
        op = pj.CallOpParam()
        op.statusCode = code if code >= 300 and not call.media_up else 0
        with contextlib.suppress(pj.Error):
            call.hangup(op)

    def _dial(self, uri: str, leg: int) -> None:
        call = _Call(self, self._trunk or self._acc, pj.PJSUA_INVALID_ID, leg)
        self._calls[leg] = call
        try:
            call.makeCall(uri, pj.CallOpParam(True))
        except pj.Error as err:
            self._calls.pop(leg, None)
            self._grave.append(call)
            raise SipError(f"cannot place the call: {err.reason}") from None

    def _bridge(self, a: int, b: int) -> None:
        for end in (a, b):
            self._stop_player(end)
            self._disconnect_sources(end)
        (first, audio_a), (second, audio_b) = self._end(a), self._end(b)
        audio_a.startTransmit(audio_b)
        audio_b.startTransmit(audio_a)
        first.sources.add(f"link:{b}")
        second.sources.add(f"link:{a}")

    def _open_port(self, port: int, uplink: FrameBuffer, downlink: FrameBuffer) -> None:
        bridge_port = _BridgePort(port, uplink, downlink)
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, 8000, 1, 20000, 16)
        bridge_port.createPort(f"web{port}", fmt)
        self._ports[port] = bridge_port

    def _close_port(self, port: int) -> None:
        if port not in self._ports:
            return
        with contextlib.suppress(SipError):
            self._disconnect_sources(port)
        bridge_port = self._ports.pop(port)
        # Removed from the bridge when destroyed, a moment from now: the
        # clock thread may be inside one of its callbacks.
        self._dying_players.append((time.monotonic() + PLAYER_GRAVE_S, bridge_port))

    def _send_dtmf(self, leg: int, digits: str) -> None:
        """RFC 4733 events; SIP INFO (dtmf-relay) to a line that did not
        negotiate them."""
        call = self._call(leg)
        info = call.getInfo()  # kept: its media list lives inside it
        events = any(
            media.type == pj.PJMEDIA_TYPE_AUDIO
            and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE
            and call.getStreamInfo(index).audTxEventPt >= 0
            for index, media in enumerate(info.media)
        )
        param = pj.CallSendDtmfParam()
        param.method = (
            pj.PJSUA_DTMF_METHOD_RFC2833 if events else pj.PJSUA_DTMF_METHOD_SIP_INFO
        )
        param.digits = digits
        call.sendDtmf(param)

    def _refer(self, leg: int, target: str) -> None:
        call = self._call(leg)
        try:
            call.xfer(target, pj.CallOpParam(True))
        except pj.Error as err:
            raise SipError(f"cannot send the REFER: {err.reason}") from None

    # Back to asyncio

    def _emit(self, kind: str, leg: int, **info: Any) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._emit_to, SipEvent(kind, leg, info))

    def _extra(self, call: _Call) -> dict[str, Any]:
        return {"call_id": "-", "leg": call.leg}


def _settle(
    future: asyncio.Future[Any], result: Any, exc: BaseException | None
) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)

"""A media worker: phone callers over SIP in the same IVR as the page.

A worker is a node without HTTP: it shares Redis, the bus and the IVR with
the web nodes, and owns one pjsua2 endpoint (:mod:`gateway.sip_owner`).
Each answered SIP call gets a session on the bus, as a page would, and the
worker is that session's client: it places the call, turns what the IVR
sends (prompts, the toll-free step, the end) into what the SIP leg hears,
and turns the caller's keys (RFC 4733 or SIP INFO) and the end of each
prompt into IVR requests. The interpreter does not know the caller is on a
phone.

On the toll-free step the worker dials the configured toll-free line
through the trunk (never a number from the caller), bridges both legs in
the conference bridge and ends them together; or, with ``trunk.refer``,
sends the caller's leg a REFER to it and lets the NOTIFY decide. If the
trunk refuses or does not answer, the caller hears so and goes back to the
menu's callback offer.

Run one with ``python -m gateway.media_worker`` (the supervisor does).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import socket
import struct
import time
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from gateway.app import Node
from gateway.config import Settings
from gateway.sip_dialog import Dialog, bye
from gateway.sip_owner import SipConfig, SipError, SipEvent, SipOwner
from gateway.sip_target import SipTargetError, dial_uri, refer_to, uri_host
from gateway.sip_trunk import TrunkConfig
from gateway.store import Store
from ivr.dtmf import EventAssembler, parse_info
from signaling.bus import Connection, Session
from signaling.calls import CallEvent
from signaling.protocol import Message, ProtocolError

logger = logging.getLogger(__name__)

HEARTBEAT_S: Final = 2.0
HEARTBEAT_TTL_S: Final = 6
MEDIA_WAIT_S: Final = 5.0
#: How long an INFO or RFC 4733 press of one key must be apart to count twice.
PHONE_NAME: Final = "Phone caller"
#: Keys kept for the IVR while the call is being placed (a callback
#: number and its '#' fit).
MAX_EARLY_KEYS: Final = 32


@dataclass(eq=False)
class Leg:
    """One inbound SIP call and the bus session that stands for it."""

    leg: int
    sip_call_id: str
    number: str
    session: Session | None = None
    conn: Connection | None = None
    call_id: str = ""
    media: asyncio.Event = field(default_factory=asyncio.Event)
    inbox: asyncio.Queue[Callable[[], Awaitable[None]]] = field(
        default_factory=asyncio.Queue
    )
    task: asyncio.Task[None] | None = None
    dtmf: EventAssembler = field(default_factory=EventAssembler)
    trunk: int | None = None
    referring: bool = False  # a REFER is out; its NOTIFY decides
    gave_up: bool = False  # the toll-free line was hung up unanswered
    ended: bool = False
    playing: int = 0
    tollfree: bool = False
    hung_up: bool = False  # the IVR ended the call; the SIP side follows
    #: Keys pressed before the IVR had the call, sent to it once it has.
    early: list[str] = field(default_factory=list)

    def extra(self) -> dict[str, Any]:
        return {"call_id": self.call_id or "-", "sip_call_id": self.sip_call_id}


class MediaWorker:
    """One worker process: a headless node plus one SIP endpoint."""

    def __init__(self, settings: Settings, store: Store, index: int = 0) -> None:
        self.settings = settings
        self.index = index
        self.node = Node(settings, store)
        self.redis = store.redis
        self.id = f"w{index}"
        self.config = sip_config(settings, index)
        self.owner = SipOwner(self.config, self._on_sip, name=self.id)
        self.legs: dict[int, Leg] = {}
        self.trunk_legs: dict[int, Leg] = {}
        self.limit = 0
        #: The trunk account's registration, as the heartbeat shows it.
        self.trunk_state = "unregistered"
        self._beat: asyncio.Task[None] | None = None
        self._counting: set[asyncio.Task[Any]] = set()
        #: The supervisor's pid: the worker stops if it dies (0: no parent).
        self.parent = 0
        self.stopped = asyncio.Event()
        self._dialogs_key = self.node.routing.key("worker", self.id, "dialogs")

    async def start(self) -> None:
        media = media_files(self.settings.data_dir / "sip")
        await self.node.start()
        await self._end_left_behind()
        self.limit = await self.owner.start(*media)
        self._beat = asyncio.create_task(self._heartbeat())
        logger.info(
            "media worker %s answers SIP on %s:%d, %d calls at most",
            self.id,
            self.config.host,
            self.config.port,
            self.limit,
            extra={"call_id": "-"},
        )

    async def stop(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat
        for leg in list(self.legs.values()):
            await self._end_session(leg, "customer")
        await self.owner.stop()
        for leg in list(self.legs.values()):
            if leg.task is not None:
                leg.task.cancel()
        await asyncio.gather(*self._counting, return_exceptions=True)
        await self.redis.delete(self.node.routing.key("worker", self.id))
        await self.node.stop()

    async def _end_left_behind(self) -> None:
        """Calls a predecessor with this index held when it died: their
        callers are gone with its SIP endpoint, so end them everywhere."""
        key = self.node.routing.key("worker", self.id, "calls")
        left = [str(c) for c in await self.redis.smembers(key)]
        for call_id in left:
            logger.warning(
                "ending a call the previous worker left behind",
                extra={"call_id": call_id},
            )
            await self.node.switchboard.apply_for_ivr(call_id, CallEvent.CUSTOMER_LOST)
        if left:
            await self.redis.srem(key, *left)
        dialogs = await self.redis.hgetall(self._dialogs_key)
        if dialogs:
            await asyncio.to_thread(self._send_byes, [str(d) for d in dialogs.values()])
            await self.redis.delete(self._dialogs_key)

    def _send_byes(self, dialogs: list[str]) -> None:
        """BYE, from this worker's SIP port, each dialog a predecessor left."""
        host, port = self.config.host, self.config.port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            for raw in dialogs:
                dialog = Dialog.from_dict(json.loads(raw))
                text, address = bye(dialog, host, port)
                logger.warning(
                    "BYE sent for a dialog the previous worker left",
                    extra={"call_id": "-", "sip_call_id": dialog.call_id},
                )
                for _ in range(2):  # UDP: once more, in case one is lost
                    sock.sendto(text.encode(), address)

    # What the SIP side says (from the owner thread, in the event loop)

    def _count(self, event: str) -> None:
        """One more of `event` in the SIP figures /metrics shows."""
        task = asyncio.create_task(self._incr(event))
        self._counting.add(task)
        task.add_done_callback(self._counting.discard)

    async def _incr(self, event: str) -> None:
        await self.redis.hincrby(self.node.routing.key("sip", "stats"), event, 1)

    def _on_sip(self, event: SipEvent) -> None:
        if event.kind in ("refused", "ended"):
            self._count(f"{event.kind}:{event.info.get('code', 0)}")
        if event.kind == "registration":
            self.trunk_state = str(event.info["state"])
            return
        if event.kind == "incoming":
            self._count("answered")
            new = Leg(event.leg, event.info["sip_call_id"], event.info["number"])
            self.legs[event.leg] = new
            new.task = asyncio.create_task(self._serve(new))
            self._queue(new, lambda: self._place(new))
            return
        if event.kind == "refused":
            return
        trunk_of = self.trunk_legs.get(event.leg)
        if trunk_of is not None:
            self._queue(trunk_of, lambda: self._on_trunk(trunk_of, event))
            return
        leg = self.legs.get(event.leg)
        if leg is None:
            return
        handler = _SIP_HANDLERS.get(event.kind)
        if handler is not None:
            self._queue(leg, lambda: handler(self, leg, event))

    def _queue(self, leg: Leg, work: Callable[[], Awaitable[None]]) -> None:
        leg.inbox.put_nowait(work)

    async def _serve(self, leg: Leg) -> None:
        """Everything about one leg, in the order it happened."""
        while True:
            work = await leg.inbox.get()
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("phone call step failed", extra=leg.extra())
            if leg.ended and leg.inbox.empty():
                self.legs.pop(leg.leg, None)
                return

    async def _place(self, leg: Leg) -> None:
        bus = self.node.bus
        session, _ = await bus.create(
            "customer", "", PHONE_NAME, f"sip:{self.id}", self.settings.grace_s
        )
        leg.session = session
        leg.conn = await bus.attach(session, self._from_bus(leg))
        await self._request(
            leg,
            {"type": "call.place", "caller": {"name": PHONE_NAME, "topic": "phone"}},
        )
        # Known now, not only when the bus's call.state comes round: a BYE
        # already queued behind this step must end the call in Helpline too.
        placed = await bus.calls(session.id)
        if placed and not leg.call_id:
            leg.call_id = next(iter(placed))
            await self.redis.sadd(
                self.node.routing.key("worker", self.id, "calls"), leg.call_id
            )

    async def _dialog(self, leg: Leg, event: SipEvent) -> None:
        await self.redis.hset(
            self._dialogs_key, leg.sip_call_id, json.dumps(event.info["dialog"])
        )

    async def _media(self, leg: Leg, event: SipEvent) -> None:
        leg.media.set()

    async def _digit(self, leg: Leg, event: SipEvent) -> None:
        info = event.info
        presses = leg.dtmf.feed_digit(
            info["timestamp"], info["digit"], info["end"], info["duration_ms"]
        )
        for press in presses:
            if not press.end:  # a press counts once, when it starts
                await self._key(leg, press.digit, "rfc4733")

    async def _inband(self, leg: Leg, event: SipEvent) -> None:
        await self._key(leg, event.info["digit"], "inband")

    async def _info(self, leg: Leg, event: SipEvent) -> None:
        digit = parse_info(event.info["content_type"], event.info["body"])
        if digit is None:
            logger.info("SIP INFO without a digit ignored", extra=leg.extra())
            return
        await self._key(leg, digit.digit, "info")

    async def _key(self, leg: Leg, digit: str, method: str) -> None:
        self._count(f"dtmf:{method}")
        logger.debug(
            "key from the phone by %s", method, extra={**leg.extra(), "digit": digit}
        )
        if leg.tollfree:
            return
        if not leg.call_id:
            # The caller keyed ahead, while the call is being placed.
            if len(leg.early) < MAX_EARLY_KEYS:
                leg.early.append(digit)
            return
        await self._send_digit(leg, digit)

    async def _send_digit(self, leg: Leg, digit: str) -> None:
        await self._request(
            leg, {"type": "ivr.digit", "call_id": leg.call_id, "digit": digit}
        )

    async def _play_done(self, leg: Leg, event: SipEvent) -> None:
        play = int(event.info["play"])
        if play == leg.playing and leg.call_id:
            leg.playing = 0
            await self._request(
                leg, {"type": "ivr.prompt_done", "call_id": leg.call_id, "play": play}
            )

    async def _sip_ended(self, leg: Leg, event: SipEvent) -> None:
        logger.info(
            "phone call ended by SIP %s", event.info.get("code"), extra=leg.extra()
        )
        leg.ended = True
        await self.redis.hdel(self._dialogs_key, leg.sip_call_id)
        if leg.trunk is not None:
            with contextlib.suppress(SipError):
                await self.owner.hangup(leg.trunk)
        await self._end_session(leg, "customer")

    async def _end_session(self, leg: Leg, who: str) -> None:
        if leg.call_id and who == "customer" and not (leg.tollfree or leg.hung_up):
            with contextlib.suppress(ProtocolError):
                await self._request(
                    leg, {"type": "call.hangup", "call_id": leg.call_id}
                )
        if leg.conn is not None:
            self.node.bus.local.pop(leg.conn.session.id, None)
            await self.node.bus.delete(leg.conn.session.id)
            leg.conn = None

    async def _request(self, leg: Leg, message: Message) -> None:
        assert leg.conn is not None
        try:
            await self.node.switchboard.handle(leg.conn, message)
        except ProtocolError as refused:
            logger.info(
                "IVR refused %s: %s", message["type"], refused, extra=leg.extra()
            )

    # What the IVR says (from the bus)

    def _from_bus(self, leg: Leg) -> Callable[[str], Awaitable[None]]:
        async def send(payload: str) -> None:
            event = json.loads(payload)
            self._queue(leg, lambda: self._on_bus(leg, event))

        return send

    async def _on_bus(self, leg: Leg, event: Message) -> None:
        kind = event.get("type")
        if kind == "call.state":
            await self._call_state(leg, event)
        elif kind == "ivr.prompt":
            await self._prompt(leg, event)
        elif kind == "ivr.stop_prompt":
            if leg.playing == event.get("play"):
                leg.playing = 0
                with contextlib.suppress(SipError):
                    await self.owner.stop_play(leg.leg)
        elif kind == "ivr.tollfree":
            await self._tollfree(leg, event)

    async def _call_state(self, leg: Leg, event: Message) -> None:
        leg.call_id = leg.call_id or str(event.get("call_id", ""))
        state = event.get("state")
        if state == "ivr" and event.get("call_id"):
            await self.redis.sadd(
                self.node.routing.key("worker", self.id, "calls"), leg.call_id
            )
            logger.info("phone caller entered the IVR", extra=leg.extra())
            early, leg.early = leg.early, []
            for digit in early:
                await self._send_digit(leg, digit)
        elif state == "queued" and await self._wait_media(leg):
            with contextlib.suppress(SipError):
                await self.owner.hold_music(leg.leg)
        elif state == "ended" and not leg.tollfree:
            await self.redis.srem(
                self.node.routing.key("worker", self.id, "calls"), leg.call_id
            )
            leg.hung_up = True
            if not leg.ended:
                with contextlib.suppress(SipError):
                    await self.owner.hangup(leg.leg)

    async def _wait_media(self, leg: Leg) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(leg.media.wait(), MEDIA_WAIT_S)
        return leg.media.is_set() and not leg.ended

    async def _prompt(self, leg: Leg, event: Message) -> None:
        play = int(event["play"])
        audio = str(event.get("audio") or "")
        key = audio.rpartition("/")[2].removesuffix(".ogg")
        wav = self.node.prompts.path(key, "8k.wav") if key else None
        if wav is None or not await self._wait_media(leg):
            # Nothing to play: the prompt ends when its text would be read.
            await asyncio.sleep(float(event.get("duration_s", 0)))
            await self._play_done(leg, SipEvent("play_done", leg.leg, {"play": play}))
            leg.playing = play
            return
        leg.playing = play
        try:
            await self.owner.play(leg.leg, wav, play)
        except SipError:
            logger.warning("prompt could not be played", extra=leg.extra())

    # The toll-free line

    async def _tollfree(self, leg: Leg, event: Message) -> None:
        destination = self.settings.tollfree_uri
        journey = await self.node.ivr.journey(leg.call_id)
        if journey is None or not {"faq", "callback"} <= set(journey.offers):
            logger.warning(
                "toll-free transfer refused: the journey lacks an offer",
                extra=leg.extra(),
            )
            await self.node.ivr.tollfree_failed(leg.call_id, "refused")
            return
        if not destination:
            logger.warning("no toll-free line is configured", extra=leg.extra())
            await self.node.ivr.tollfree_failed(leg.call_id, "not-configured")
            return
        await self._wait_media(leg)
        if self.config.trunk.refer:
            await self._refer(leg, destination)
        else:
            await self._dial(leg, destination)

    async def _dial(self, leg: Leg, destination: str) -> None:
        settings = self.settings
        trunk = self.owner.new_leg()
        leg.trunk = trunk
        self.trunk_legs[trunk] = leg  # before its first event can come
        try:
            uri = dial_uri(
                destination, settings.trunk_domain, uri_host(settings.trunk_registrar)
            )
            if not uri:
                raise SipError("a toll-free number needs trunk.domain or a registrar")
            await self.owner.dial(uri, trunk)
        except (SipError, SipTargetError) as err:
            self.trunk_legs.pop(trunk, None)
            leg.trunk = None
            logger.warning("toll-free call not placed: %s", err, extra=leg.extra())
            await self.node.ivr.tollfree_failed(leg.call_id, "dial-failed")
            return
        logger.info("dialling the toll-free line", extra=leg.extra())
        with contextlib.suppress(SipError):
            await self.owner.ringback(leg.leg)
        asyncio.get_running_loop().call_later(
            settings.trunk_answer_s,
            lambda: self._queue(leg, lambda: self._no_answer(leg, trunk)),
        )

    async def _no_answer(self, leg: Leg, trunk: int) -> None:
        if leg.trunk == trunk and not leg.tollfree and not leg.ended:
            logger.warning("toll-free line did not answer", extra=leg.extra())
            leg.gave_up = True
            with contextlib.suppress(SipError):
                await self.owner.hangup(trunk, 487)

    async def _refer(self, leg: Leg, destination: str) -> None:
        """Blind transfer: the caller's side places the call; the NOTIFY
        that ends the REFER's subscription says how it went."""
        try:
            target = refer_to(destination, self.settings.trunk_domain)
            await self.owner.refer(leg.leg, target)
        except (SipError, SipTargetError) as err:
            logger.warning("REFER not sent: %s", err, extra=leg.extra())
            await self.node.ivr.tollfree_failed(leg.call_id, "refer-failed")
            return
        leg.referring = True
        logger.info("caller referred to the toll-free line", extra=leg.extra())
        asyncio.get_running_loop().call_later(
            self.settings.trunk_answer_s,
            lambda: self._queue(leg, lambda: self._refer_unanswered(leg)),
        )

    async def _refer_unanswered(self, leg: Leg) -> None:
        if leg.referring and not leg.ended:
            logger.warning("no final NOTIFY for the REFER", extra=leg.extra())
            await self._transfer(leg, SipEvent("transfer", leg.leg, {"code": 408}))

    async def _transfer(self, leg: Leg, event: SipEvent) -> None:
        if not leg.referring or leg.ended:
            return
        leg.referring = False
        code = int(event.info.get("code", 0))
        if not 200 <= code < 300:
            logger.warning("REFER failed with %d", code, extra=leg.extra())
            await self.node.ivr.tollfree_failed(leg.call_id, f"refer-{code}")
            self._count(f"tollfree:refer-failed-{code}")
            return
        leg.tollfree = True
        await self.redis.srem(
            self.node.routing.key("worker", self.id, "calls"), leg.call_id
        )
        await self.node.ivr.tollfree_connected(leg.call_id, "transferred by REFER")
        self._count("tollfree:referred")
        logger.info("transferred to the toll-free line", extra=leg.extra())
        with contextlib.suppress(SipError):
            await self.owner.hangup(leg.leg)

    async def _on_trunk(self, leg: Leg, event: SipEvent) -> None:
        if event.kind == "connected":
            if leg.ended:
                with contextlib.suppress(SipError):
                    await self.owner.hangup(event.leg)
                return
            leg.tollfree = True
            await self.owner.bridge(leg.leg, event.leg)
            await self.redis.srem(
                self.node.routing.key("worker", self.id, "calls"), leg.call_id
            )
            await self.node.ivr.tollfree_connected(leg.call_id)
            self._count("tollfree:bridged")
            logger.info("bridged to the toll-free line", extra=leg.extra())
        elif event.kind == "ended":
            self.trunk_legs.pop(event.leg, None)
            leg.trunk = None
            if leg.tollfree:
                leg.ended = True
                with contextlib.suppress(SipError):
                    await self.owner.hangup(leg.leg)
                await self._end_session(leg, "trunk")
            elif not leg.ended:
                code = int(event.info.get("code", 0))
                reason = "no-answer" if leg.gave_up else f"sip-{code}"
                leg.gave_up = False
                logger.warning(
                    "toll-free line failed with %d (%s)",
                    code,
                    reason,
                    extra={**leg.extra(), "sip_reason": event.info.get("reason")},
                )
                await self.node.ivr.tollfree_failed(leg.call_id, reason)
                self._count(f"tollfree:failed-{reason}")

    # Presence

    async def _heartbeat(self) -> None:
        key = self.node.routing.key("worker", self.id)
        while True:
            if self.parent and os.getppid() != self.parent:
                logger.error(
                    "the supervisor is gone; media worker %s stops",
                    self.id,
                    extra={"call_id": "-"},
                )
                self.stopped.set()
                return
            try:
                in_use = len(self.legs)
                await self.redis.hset(
                    key,
                    mapping={
                        "pid": os.getpid(),
                        "sip": f"{self.config.host}:{self.config.port}",
                        "limit": self.limit,
                        "in_use": in_use,
                        "trunk": self.trunk_state,
                        "beat": repr(time.time()),
                    },
                )
                await self.redis.expire(key, HEARTBEAT_TTL_S)
            except Exception:
                logger.warning("worker heartbeat failed", extra={"call_id": "-"})
            await asyncio.sleep(HEARTBEAT_S)


_SipHandler = Callable[[MediaWorker, Leg, SipEvent], Awaitable[None]]
_SIP_HANDLERS: Final[dict[str, _SipHandler]] = {
    "dialog": MediaWorker._dialog,
    "media": MediaWorker._media,
    "digit": MediaWorker._digit,
    "digit_inband": MediaWorker._inband,
    "info_body": MediaWorker._info,
    "play_done": MediaWorker._play_done,
    "transfer": MediaWorker._transfer,
    "ended": MediaWorker._sip_ended,
}


def sip_config(settings: Settings, index: int) -> SipConfig:
    """Worker `index` listens two ports above the one before it."""
    return SipConfig(
        host=settings.sip_host,
        port=settings.sip_port + 2 * index,
        rtp_port=settings.rtp_port + 100 * index,
        numbers=settings.sip_numbers,
        trusted=settings.sip_trusted,
        trunk=TrunkConfig(
            registrar=settings.trunk_registrar,
            username=settings.trunk_username,
            password=settings.trunk_password,
            proxy=settings.trunk_proxy,
            refer=settings.trunk_refer,
            tls_verify=settings.trunk_tls_verify,
            ca_file=settings.trunk_ca_file,
        ),
    )


def media_files(folder: Path) -> tuple[Path, Path, Path]:
    """Hold music, silence and ringback as 8 kHz WAVs, made once."""
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for name, make in (("hold", _hold), ("silence", _silence), ("ringback", _ringback)):
        path = folder / f"{name}.8k.wav"
        if not path.exists():
            # Workers start together: each writes a file of its own.
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            with wave.open(str(tmp), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(8000)
                samples = make()
                out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
            tmp.replace(path)
        made.append(path)
    return made[0], made[1], made[2]


def _tone(freqs: tuple[float, ...], seconds: float, level: float) -> list[int]:
    n = int(8000 * seconds)
    return [
        int(
            level
            * sum(math.sin(2 * math.pi * f * i / 8000) for f in freqs)
            / len(freqs)
        )
        for i in range(n)
    ]


def _silence() -> list[int]:
    return [0] * 8000


def _ringback() -> list[int]:
    """North American ringback: 440 + 480 Hz, 2 s on, 4 s off."""
    return _tone((440.0, 480.0), 2.0, 6000) + [0] * 32000


def _hold() -> list[int]:
    """A soft, slow arpeggio: something to tell the caller they still wait."""
    notes = (261.63, 329.63, 392.0, 523.25, 392.0, 329.63)
    samples: list[int] = []
    for note in notes:
        tone = _tone((note, note * 2), 0.5, 3000)
        fade = len(tone)
        samples += [int(v * (1 - i / fade)) for i, v in enumerate(tone)]
    return samples + [0] * 4000


async def run_worker(
    settings: Settings, redis_url: str, index: int, parent: int = 0
) -> None:
    """Run media worker `index` until SIGINT or SIGTERM (or until process
    `parent`, the supervisor, is gone)."""
    from gateway.store import open_store

    store = await open_store(settings, url=redis_url)
    worker = MediaWorker(settings, store, index)
    worker.parent = parent
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, worker.stopped.set)
    try:
        await worker.start()
        await worker.stopped.wait()
    finally:
        await worker.stop()
        await store.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m gateway.media_worker [--index N] [--redis URL]``; the
    settings come from the environment and ``HELPLINE_CONFIG``."""
    import argparse

    from gateway.config import CONFIG_ENV, load_settings
    from gateway.logs import setup_logging

    parser = argparse.ArgumentParser(prog="python -m gateway.media_worker")
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--redis", default="")
    args = parser.parse_args(argv)
    config = os.environ.get(CONFIG_ENV)
    settings = load_settings(Path(config) if config else None, os.environ, {})
    setup_logging(settings.log_level, settings.log_format, digits=settings.log_digits)
    url = args.redis or settings.redis_url
    asyncio.run(run_worker(settings, url, args.index))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

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

While it has a free call, a worker also dials callbacks whose customer
has no page open (``gateway.callback_dials``): the customer's leg is then
a phone caller's, answered by the agent who claimed the callback.

Run one with ``python -m gateway.media_worker`` (the supervisor does).
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import functools
import json
import logging
import math
import os
import signal
import socket
import struct
import time
import traceback
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from gateway.app import Node
from gateway.bridge import BrowserLeg
from gateway.callback_dials import CallbackDials
from gateway.config import Settings
from gateway.ice_servers import aiortc_ice_servers
from gateway.ivr_calls import TOLLFREE_NAME
from gateway.sip_dialog import Dialog, bye
from gateway.sip_owner import SipConfig, SipError, SipEvent, SipOwner
from gateway.sip_target import SipTargetError, dial_uri, refer_to, uri_host
from gateway.sip_trunk import TrunkConfig
from gateway.store import Store
from gateway.switchboard import BRIDGE_ROLE
from gateway.webrtc import limit_host_addresses, offer_loopback_too
from ivr.dtmf import EventAssembler, parse_info
from signaling.bus import Connection, Session, cancel_task
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
#: The `play` number of a queue announcement (the IVR's are positive).
ANNOUNCEMENT: Final = -1


@dataclass(eq=False)
class Leg:
    """One inbound SIP call and the bus session that stands for it."""

    leg: int
    sip_call_id: str
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
    #: The agent's browser, once an agent answered, and its bridge port.
    web: BrowserLeg | None = None
    port: int = 0
    #: The caller's place in the queue, and the task that announces it.
    position: int = 0
    announcing: asyncio.Task[None] | None = None

    def extra(self) -> dict[str, Any]:
        extra = {"call_id": self.call_id or "-"}
        if self.sip_call_id:  # an outbound leg's is pjsua's own
            extra["sip_call_id"] = self.sip_call_id
        return extra


@dataclass(eq=False)
class WebCall:
    """A web caller this worker puts through to the toll-free line: the
    browser's leg, its port in the conference bridge, and the trunk leg."""

    call_id: str
    web: BrowserLeg
    port: int = 0
    trunk: int = 0
    offered: bool = False  # the page's first offer came
    connected: bool = False  # the line answered
    gave_up: bool = False  # the line was hung up unanswered
    ended: bool = False
    inbox: asyncio.Queue[Callable[[], Awaitable[None]]] = field(
        default_factory=asyncio.Queue
    )
    task: asyncio.Task[None] | None = None

    def extra(self) -> dict[str, Any]:
        return {"call_id": self.call_id}


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
        #: Web callers put through to the toll-free line, by call id, and
        #: by the number of their trunk leg.
        self.web_calls: dict[str, WebCall] = {}
        self.web_trunks: dict[int, WebCall] = {}
        #: The session that answers web calls for the toll-free line.
        self.bridge_conn: Connection | None = None
        self.limit = 0
        #: The trunk account's registration, as the heartbeat shows it.
        self.trunk_state = "unregistered"
        self._beat: asyncio.Task[None] | None = None
        self._counting: set[asyncio.Task[Any]] = set()
        #: The supervisor's pid: the worker stops if it dies (0: no parent).
        self.parent = 0
        self.stopped = asyncio.Event()
        self._dialogs_key = self.node.routing.key("worker", self.id, "dialogs")
        self._calls_key = self.node.routing.key("worker", self.id, "calls")
        #: Callbacks this worker dials over the trunk.
        self.dials = CallbackDials(self, self.node.callbacks.streams)
        self._bridged_key = self.node.routing.key("worker", self.id, "bridged")

    async def start(self) -> None:
        media = media_files(self.settings.data_dir / "sip")
        limit_host_addresses(self.settings.ice_interfaces)
        if self.settings.demo and not self.settings.ice_interfaces:
            offer_loopback_too()  # the demo's browsers are on this host
        await self.node.start()
        await self._end_left_behind()
        self.limit = await self.owner.start(*media)
        bus = self.node.bus
        session, _ = await bus.create(
            BRIDGE_ROLE, "", TOLLFREE_NAME, f"sip:{self.id}", self.settings.grace_s
        )
        self.bridge_conn = await bus.attach(session, self._from_bridge_bus)
        self._beat = asyncio.create_task(self._heartbeat())
        self.dials.start()
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
            await cancel_task(self._beat)
        await self.dials.stop()
        for leg in list(self.legs.values()):
            await self.end_session(leg, "customer")
        for call in list(self.web_calls.values()):
            await self._web_lost(call)
        if self.bridge_conn is not None:
            self.node.bus.local.pop(self.bridge_conn.session.id, None)
            await self.node.bus.delete(self.bridge_conn.session.id)
            self.bridge_conn = None
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
        key = self._calls_key
        left = [str(c) for c in await self.redis.smembers(key)]
        for call_id in left:
            logger.warning(
                "ending a call the previous worker left behind",
                extra={"call_id": call_id},
            )
            await self.node.switchboard.apply_for_ivr(call_id, CallEvent.CUSTOMER_LOST)
        if left:
            await self.redis.srem(key, *left)
        bridged = [str(c) for c in await self.redis.smembers(self._bridged_key)]
        for call_id in bridged:
            logger.warning(
                "ending a web call the previous worker put through",
                extra={"call_id": call_id},
            )
            await self.node.switchboard.apply_for_ivr(call_id, CallEvent.BRIDGE_LOST)
        await self.redis.delete(self._bridged_key)
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
            new = self.new_leg(event.leg, "", event.info["sip_call_id"])
            self.queue(new, lambda: self._place(new))
            return
        if event.kind == "refused":
            return
        web_call = self.web_trunks.get(event.leg)
        if web_call is not None:
            self.queue(web_call, lambda: self._web_trunk(web_call, event))
            return
        trunk_of = self.trunk_legs.get(event.leg)
        if trunk_of is not None:
            self.queue(trunk_of, lambda: self._on_trunk(trunk_of, event))
            return
        leg = self.legs.get(event.leg)
        if leg is None or self.dials.takes(event):
            return
        handler = _SIP_HANDLERS.get(event.kind)
        if handler is not None:
            self.queue(leg, lambda: handler(self, leg, event))

    def new_leg(self, number: int, call_id: str = "", sip_call_id: str = "") -> Leg:
        """A SIP leg that stands for a customer (a phone caller, or a
        callback's customer), counted as one of this worker's calls."""
        leg = Leg(number, sip_call_id, call_id=call_id)
        self.legs[number] = leg
        leg.task = asyncio.create_task(self._serve(leg))
        return leg

    def has_free_call(self) -> bool:
        """Whether one more call fits in the endpoint's limit: the
        customers' legs, the toll-free legs, and the web callers'."""
        in_use = len(self.legs) + len(self.trunk_legs) + len(self.web_calls)
        return in_use < self.limit

    def queue(self, leg: Leg | WebCall, work: Callable[[], Awaitable[None]]) -> None:
        leg.inbox.put_nowait(work)

    async def _serve(self, leg: Leg | WebCall) -> None:
        """Everything about one call, in the order it happened."""
        while True:
            work = await leg.inbox.get()
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("call step failed", extra=leg.extra())
            if leg.ended and leg.inbox.empty():
                if isinstance(leg, Leg):
                    self.legs.pop(leg.leg, None)
                else:
                    self.web_calls.pop(leg.call_id, None)
                self.dials.freed.set()
                return

    async def open_session(self, leg: Leg) -> None:
        """The leg's customer session on the bus, whose client this
        worker is."""
        bus = self.node.bus
        leg.session, _ = await bus.create(
            "customer", "", PHONE_NAME, f"sip:{self.id}", self.settings.grace_s
        )
        leg.conn = await bus.attach(leg.session, self._from_bus(leg))

    async def track_call(self, call_id: str) -> None:
        """A call this worker carries: a successor ends it if this worker
        dies with it."""
        await self.redis.sadd(self._calls_key, call_id)

    async def untrack_call(self, call_id: str) -> None:
        await self.redis.srem(self._calls_key, call_id)

    async def _place(self, leg: Leg) -> None:
        await self.open_session(leg)
        assert leg.session is not None
        await self.request(
            leg,
            {"type": "call.place", "caller": {"name": PHONE_NAME, "topic": "phone"}},
        )
        # Known now, not only when the bus's call.state comes round: a BYE
        # already queued behind this step must end the call in Helpline too.
        placed = await self.node.bus.calls(leg.session.id)
        if placed and not leg.call_id:
            leg.call_id = next(iter(placed))
            await self.track_call(leg.call_id)

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
        await self.request(
            leg, {"type": "ivr.digit", "call_id": leg.call_id, "digit": digit}
        )

    async def _play_done(self, leg: Leg, event: SipEvent) -> None:
        play = int(event.info["play"])
        if play == ANNOUNCEMENT:
            if leg.announcing is not None and not leg.ended:
                with contextlib.suppress(SipError):
                    await self.owner.hold_music(leg.leg)
            return
        if play == leg.playing and leg.call_id:
            leg.playing = 0
            await self.request(
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
        await self.end_session(leg, "customer")

    async def end_session(self, leg: Leg, who: str) -> None:
        if leg.call_id and who == "customer" and not (leg.tollfree or leg.hung_up):
            with contextlib.suppress(ProtocolError):
                await self.request(leg, {"type": "call.hangup", "call_id": leg.call_id})
        if leg.conn is not None:
            self.node.bus.local.pop(leg.conn.session.id, None)
            await self.node.bus.delete(leg.conn.session.id)
            leg.conn = None

    async def request(self, leg: Leg, message: Message) -> None:
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
            self.queue(leg, lambda: self._on_bus(leg, event))

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
            await self._drop_agent(leg)  # an agent sent the caller on
            await self._tollfree(leg, event)
        elif kind in ("sdp.offer", "sdp.answer", "ice.candidate"):
            await self._from_agent(leg, event)

    async def _call_state(self, leg: Leg, event: Message) -> None:
        leg.call_id = leg.call_id or str(event.get("call_id", ""))
        state = event.get("state")
        if state == "ivr" and event.get("call_id"):
            await self.track_call(leg.call_id)
            logger.info("phone caller entered the IVR", extra=leg.extra())
            early, leg.early = leg.early, []
            for digit in early:
                await self._send_digit(leg, digit)
        elif state == "queued":
            await self._drop_agent(leg)
            if await self._wait_media(leg):
                with contextlib.suppress(SipError):
                    await self.owner.hold_music(leg.leg)
                self._announce_place(leg, int(event.get("position") or 0))
        elif state == "ringing":
            self._stop_announcing(leg)
            if event.get("transfer") and leg.web is not None:
                # A blind transfer: the next agent gets a fresh offer.
                await self._drop_agent(leg)
                with contextlib.suppress(SipError):
                    await self.owner.hold_music(leg.leg)
        elif state == "answered":
            self._stop_announcing(leg)
            if event.get("transfer"):
                await self._drop_agent(leg)  # the colleague took the call over
            await self._agent_answered(leg)
        elif state == "held" and leg.web is not None:
            with contextlib.suppress(SipError):
                await self.owner.hold_music(leg.leg)
        elif state == "ended" and not leg.tollfree:
            self._stop_announcing(leg)
            await self._drop_agent(leg)
            await self.untrack_call(leg.call_id)
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
        if leg.web is not None:
            return  # said as an agent answered: the agent speaks now
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

    # An agent in a browser

    async def _agent_answered(self, leg: Leg) -> None:
        """An agent took the call: offer its softphone our audio (or, after
        a hold, join the two again)."""
        if not await self._wait_media(leg):
            return
        if leg.web is not None:
            with contextlib.suppress(SipError):
                await self.owner.link(leg.leg, leg.port)
            return
        web = self._browser_leg(leg.call_id)
        web.on_failed = lambda reason: self.queue(
            leg, lambda: self._media_failed(leg.call_id)
        )
        port = self.owner.new_leg()
        leg.web, leg.port = web, port
        try:
            await self.owner.open_port(port, web.to_sip, web.to_browser)
            await self.owner.link(leg.leg, port)
            offer = await web.offer()
        except SipError as err:
            logger.warning("agent's audio not joined: %s", err, extra=leg.extra())
            await self._drop_agent(leg)
            return
        logger.info("offering the agent the caller's audio", extra=leg.extra())
        await self.request(
            leg, {"type": "sdp.offer", "call_id": leg.call_id, "sdp": offer}
        )

    async def _from_agent(self, leg: Leg, event: Message) -> None:
        web = leg.web
        if web is None or event.get("call_id") != leg.call_id:
            return
        try:
            kind = event["type"]
            if kind == "sdp.answer":
                await web.accept_answer(str(event["sdp"]))
            elif kind == "ice.candidate":
                await web.peer.add_candidate(event.get("candidate"))
            else:  # a re-offer: hold, or off hold
                answer = await web.accept_offer(str(event["sdp"]))
                await self.request(
                    leg, {"type": "sdp.answer", "call_id": leg.call_id, "sdp": answer}
                )
        except Exception as err:  # checked SDP still refused by aiortc
            logger.warning(
                "agent's %s not applied: %s", event["type"], err, extra=leg.extra()
            )

    async def _drop_agent(self, leg: Leg) -> None:
        """The agent's browser is gone from the call (ended, requeued)."""
        web, port = leg.web, leg.port
        if web is None:
            return
        leg.web, leg.port = None, 0
        stats = web.stats()
        logger.info(
            "agent's audio closed: %d packets in, %d frames out, %d trimmed, %d silent",
            stats.packets_in,
            stats.frames_out,
            stats.to_sip.trimmed + stats.to_browser.trimmed,
            stats.to_sip.underruns,
            extra=leg.extra(),
        )
        with contextlib.suppress(SipError):
            await self.owner.close_port(port)
        await web.close()

    async def _media_failed(self, call_id: str) -> None:
        """A browser leg never connected, or its connection failed: both
        ends learn the call ended (reason media-failed), which hangs up the
        SIP side here and frees the slot."""
        await self.node.switchboard.apply_for_ivr(call_id, CallEvent.MEDIA_FAILED)

    def _browser_leg(self, call_id: str) -> BrowserLeg:
        """An aiortc leg with this call's TURN credentials, if TURN is set."""
        return BrowserLeg(
            call_id,
            ice_servers=aiortc_ice_servers(self.settings, call_id, time.time()),
            passthrough=self.settings.bridge_passthrough,
        )

    def _announce_place(self, leg: Leg, position: int) -> None:
        leg.position = position or leg.position
        if leg.announcing is None and leg.position and self.settings.announce_s:
            leg.announcing = asyncio.create_task(self._announce(leg))

    def _stop_announcing(self, leg: Leg) -> None:
        if leg.announcing is not None:
            leg.announcing.cancel()
            leg.announcing = None

    async def _announce(self, leg: Leg) -> None:
        """Every `announce_s`, tell a waiting caller its place in the queue."""
        while not leg.ended:
            await asyncio.sleep(self.settings.announce_s)
            text = queue_announcement(leg.position)
            prompt = await self.node.prompts.render(text)
            wav = self.node.prompts.path(prompt.key, "8k.wav")
            if wav is None or leg.ended:
                continue
            self.queue(leg, functools.partial(self._play_announcement, leg, wav))

    async def _play_announcement(self, leg: Leg, wav: Path) -> None:
        if leg.announcing is None or leg.ended:
            return  # an agent took the call meanwhile
        with contextlib.suppress(SipError):
            await self.owner.play(leg.leg, wav, ANNOUNCEMENT)
            logger.info("place in line announced: %d", leg.position, extra=leg.extra())

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
            await self.dial_line(destination, trunk)
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
            lambda: self.queue(leg, lambda: self._no_answer(leg, trunk)),
        )

    async def dial_line(self, destination: str, trunk: int) -> None:
        """Dial `destination` through the trunk as leg `trunk`, at the
        trunk's domain or registrar for a bare number. Only two places are
        ever dialled: the toll-free line, and a callback's number that
        passed the number policy (``gateway.callback_dials``)."""
        settings = self.settings
        uri = dial_uri(
            destination, settings.trunk_domain, uri_host(settings.trunk_registrar)
        )
        if not uri:
            raise SipError("a number needs trunk.domain or a registrar to go to")
        await self.owner.dial(uri, trunk)

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
            lambda: self.queue(leg, lambda: self._refer_unanswered(leg)),
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
        await self.untrack_call(leg.call_id)
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
            await self.untrack_call(leg.call_id)
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
                await self.end_session(leg, "trunk")
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

    # Web callers put through to the toll-free line

    async def _from_bridge_bus(self, payload: str) -> None:
        """What reaches the bridge session: the web callers' offers,
        candidates, keys and call states, each to its call's inbox."""
        event = json.loads(payload)
        call_id = str(event.get("call_id") or "")
        kind = event.get("type")
        call = self.web_calls.get(call_id)
        if call is None and kind in ("sdp.offer", "ice.candidate") and call_id:
            # Candidates may come before the offer (case 03): the leg holds
            # them until the offer is applied.
            call = WebCall(call_id, self._browser_leg(call_id))
            call.web.on_failed = lambda reason: self.queue(
                call, lambda: self._media_failed(call_id)
            )
            call.web.on_digit = lambda digit: self.queue(
                call, lambda: self._web_keys(call, digit, "rfc4733")
            )
            self.web_calls[call_id] = call
            call.task = asyncio.create_task(self._serve(call))
        if call is None:
            return
        if kind == "sdp.offer" and not call.offered:
            call.offered = True
            self.queue(call, lambda: self._web_start(call, str(event["sdp"])))
        else:
            self.queue(call, lambda: self._web_event(call, event))

    async def _web_start(self, call: WebCall, offer: str) -> None:
        record = await self.node.routing.get_call(call.call_id)
        journey = await self.node.ivr.journey(call.call_id)
        assert self.bridge_conn is not None
        if record is None or record.bridge != self.bridge_conn.session.id:
            await self._web_closed(call)
            return
        if journey is None or not {"faq", "callback"} <= set(journey.offers):
            logger.warning(
                "toll-free transfer refused: the journey lacks an offer",
                extra=call.extra(),
            )
            await self._web_failed(call, "refused")
            return
        if len(self.legs) + len(self.web_calls) > self.limit:
            await self._web_failed(call, "busy")
            return
        await self.redis.sadd(self._bridged_key, call.call_id)
        call.port = self.owner.new_leg()
        try:
            await self.owner.open_port(call.port, call.web.to_sip, call.web.to_browser)
            answer = await call.web.accept_offer(offer)
        except Exception as err:  # aiortc refused what the checks let by
            logger.warning("web caller's offer not taken: %s", err, extra=call.extra())
            await self._web_failed(call, "media")
            return
        await self._bridge_request(
            {"type": "sdp.answer", "call_id": call.call_id, "sdp": answer}
        )
        with contextlib.suppress(SipError):
            await self.owner.source(call.port, "ringback")
        await self._web_dial(call)

    async def _web_dial(self, call: WebCall) -> None:
        settings = self.settings
        call.trunk = self.owner.new_leg()
        self.web_trunks[call.trunk] = call
        try:
            await self.dial_line(settings.tollfree_uri, call.trunk)
        except (SipError, SipTargetError) as err:
            self.web_trunks.pop(call.trunk, None)
            call.trunk = 0
            logger.warning("toll-free call not placed: %s", err, extra=call.extra())
            await self._web_failed(call, "dial-failed")
            return
        logger.info("dialling the toll-free line for a web caller", extra=call.extra())
        trunk = call.trunk
        asyncio.get_running_loop().call_later(
            settings.trunk_answer_s,
            lambda: self.queue(call, lambda: self._web_no_answer(call, trunk)),
        )

    async def _web_no_answer(self, call: WebCall, trunk: int) -> None:
        if call.trunk == trunk and not call.connected and not call.ended:
            logger.warning("toll-free line did not answer", extra=call.extra())
            call.gave_up = True
            with contextlib.suppress(SipError):
                await self.owner.hangup(trunk, 487)

    async def _web_trunk(self, call: WebCall, event: SipEvent) -> None:
        if event.kind == "connected":
            if call.ended:
                with contextlib.suppress(SipError):
                    await self.owner.hangup(event.leg)
                return
            call.connected = True
            await self.owner.link(call.trunk, call.port)
            self._count("tollfree:web-bridged")
            await self.node.ivr.record_tollfree(call.call_id)
            logger.info(
                "web caller put through to the toll-free line", extra=call.extra()
            )
        elif event.kind == "ended":
            self.web_trunks.pop(event.leg, None)
            call.trunk = 0
            if call.ended:
                return
            if call.connected:
                logger.info("the toll-free line hung up", extra=call.extra())
                await self._bridge_request(
                    {"type": "call.hangup", "call_id": call.call_id}
                )
                await self._web_closed(call)
                return
            code = int(event.info.get("code", 0))
            reason = "no-answer" if call.gave_up else f"sip-{code}"
            logger.warning(
                "toll-free line failed with %d (%s)", code, reason, extra=call.extra()
            )
            self._count(f"tollfree:failed-{reason}")
            await self._web_failed(call, reason)

    async def _web_event(self, call: WebCall, event: Message) -> None:
        kind = event.get("type")
        if call.ended:
            return
        if kind == "ice.candidate":
            with contextlib.suppress(Exception):
                await call.web.peer.add_candidate(event.get("candidate"))
        elif kind == "sdp.offer":
            await self._web_reoffer(call, str(event["sdp"]))
        elif kind == "call.dtmf":
            await self._web_keys(call, str(event["digits"]), "signaling")
        elif kind == "call.state" and event.get("state") in ("ended", "ivr"):
            logger.info("web caller's call %s", event.get("state"), extra=call.extra())
            await self._web_closed(call)

    async def _web_keys(self, call: WebCall, digits: str, came_by: str) -> None:
        """Keys from the page (over signaling, or RFC 4733 in its audio)
        go to the line as RFC 4733 (SIP INFO if it has no events)."""
        if not call.connected or call.ended:
            return
        try:
            await self.owner.send_dtmf(call.trunk, digits)
        except SipError as err:
            logger.warning("keys not sent to the line: %s", err, extra=call.extra())
            return
        logger.info(
            "%d key(s) from the page (%s) sent to the line",
            len(digits),
            came_by,
            extra={**call.extra(), "digits": digits},
        )

    async def _web_reoffer(self, call: WebCall, offer: str) -> None:
        """A new offer from the page: a hold (sendonly or inactive: the line
        hears hold music) or back from one."""
        try:
            answer = await call.web.accept_offer(offer)
        except Exception as err:
            logger.warning("web caller's re-offer refused: %s", err, extra=call.extra())
            return
        await self._bridge_request(
            {"type": "sdp.answer", "call_id": call.call_id, "sdp": answer}
        )
        if not call.connected:
            return
        held = call.web.remote_direction in ("sendonly", "inactive")
        with contextlib.suppress(SipError):
            if held:
                await self.owner.source(call.trunk, "hold")
            else:
                await self.owner.link(call.trunk, call.port)
        logger.info(
            "web caller %s", "held the call" if held else "resumed", extra=call.extra()
        )

    async def _web_failed(self, call: WebCall, reason: str) -> None:
        """The line could not be reached: back to the IVR, which says so
        and offers the callback again."""
        await self._web_closed(call)
        await self.node.ivr.tollfree_failed(call.call_id, reason)

    async def _web_lost(self, call: WebCall) -> None:
        """This worker stops: its web callers learn their call ended."""
        await self._web_closed(call)
        await self.node.switchboard.apply_for_ivr(call.call_id, CallEvent.BRIDGE_LOST)

    async def _web_closed(self, call: WebCall) -> None:
        if call.ended:
            return
        call.ended = True
        if call.trunk:
            with contextlib.suppress(SipError):
                await self.owner.hangup(call.trunk)
        if call.port:
            with contextlib.suppress(SipError):
                await self.owner.close_port(call.port)
        stats = call.web.stats()
        await call.web.close()
        await self.redis.srem(self._bridged_key, call.call_id)
        logger.info(
            "web caller's audio closed: %s, %d packets in, %d frames out, "
            "%d trimmed, %d silent",
            stats.codec or "no codec",
            stats.packets_in,
            stats.frames_out,
            stats.to_sip.trimmed + stats.to_browser.trimmed,
            stats.to_sip.underruns,
            extra=call.extra(),
        )

    async def _bridge_request(self, message: Message) -> None:
        assert self.bridge_conn is not None
        try:
            await self.node.switchboard.handle(self.bridge_conn, message)
        except ProtocolError as refused:
            logger.info(
                "%s refused: %s",
                message["type"],
                refused,
                extra={"call_id": message.get("call_id", "-")},
            )

    # Presence

    def _bridge_frames(self) -> tuple[int, int]:
        """Frames trimmed and played as silence so far, both ways, by the
        browser legs up now: a benchmark reads the change over a window
        while no leg comes or goes, to tell steady state from start-up."""
        legs = [call.web for call in self.web_calls.values()]
        legs += [leg.web for leg in self.legs.values() if leg.web is not None]
        buffers = [b for leg in legs for b in (leg.to_sip, leg.to_browser)]
        return sum(b.trimmed for b in buffers), sum(b.underruns for b in buffers)

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
                in_use = len(self.legs) + len(self.web_calls)
                trimmed, silent = self._bridge_frames()
                await self.redis.hset(
                    key,
                    mapping={
                        "pid": os.getpid(),
                        "sip": f"{self.config.host}:{self.config.port}",
                        "limit": self.limit,
                        "in_use": in_use,
                        "bridge_trimmed": trimmed,
                        "bridge_silent": silent,
                        "trunk": self.trunk_state,
                        "bridge": self.bridge_conn.session.id
                        if self.bridge_conn
                        else "",
                        "beat": repr(time.time()),
                    },
                )
                await self.redis.expire(key, HEARTBEAT_TTL_S)
                if self.bridge_conn is not None:
                    session_key = self.node.bus.key(
                        "session", self.bridge_conn.session.id
                    )
                    await self.redis.expire(session_key, 86_400)
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


def queue_announcement(position: int) -> str:
    if position <= 1:
        return "You are next in line. Thank you for waiting."
    return f"You are number {position} in line. Thank you for waiting."


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
        watchdog = asyncio.create_task(_stop_watchdog(worker.id))
        await worker.stop()
        await store.close()
        watchdog.cancel()


async def _stop_watchdog(worker_id: str, after_s: float = 8.0) -> None:
    """Log where a stop that takes too long is waiting: every task's stack
    and the owner thread's (a supervisor kills a worker that never stops)."""
    await asyncio.sleep(after_s)
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            stack = "".join(traceback.format_stack(task.get_stack()[-1]))
            logger.error(
                "worker %s still stopping; task %s waits at\n%s",
                worker_id,
                task.get_name(),
                stack,
                extra={"call_id": "-"},
            )
    faulthandler.dump_traceback(all_threads=True)


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

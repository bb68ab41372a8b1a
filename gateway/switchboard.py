"""The switchboard: what each signaling request does to calls and agents.

It sits between the WebSocket endpoint (``signaling.ws``), which turns
frames into validated requests of one session, and Redis, where routing
(``gateway.routing``) and sessions (``signaling.bus``) live. Every state
change goes through the call state machine and ends in ``call.state``
events to both ends. A background sweep on every node fires the timers
(ring timeouts, reconnect grace periods) that any node may have set, and
rings agents for waiting calls.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from gateway.call_events import identity, is_attempt, left_menu, row_events
from gateway.events import EventLog
from gateway.ivr_calls import IvrCalls
from gateway.routing import Applied, Call, Routing, estimate_wait
from signaling import ice, sdp
from signaling.bus import (
    STOP_GRACE_S,
    Bus,
    Connection,
    Session,
    stop_task,
    text,
    text_fields,
)
from signaling.calls import MEDIA_STATES, CallEvent, CallState
from signaling.errors import CandidateError, SdpError
from signaling.protocol import IVR_REQUESTS, RELAYED, Message, ProtocolError, encode

if TYPE_CHECKING:
    from gateway.callback_service import CallbackService
    from gateway.floor import Floor
    from gateway.transfers import Transfers

logger = logging.getLogger(__name__)

EARLY_LIMIT: Final = 50
#: The role of a media worker's session that answers web calls for the
#: toll-free line (gateway.media_worker).
BRIDGE_ROLE: Final = "bridge"
#: Call states the IVR of a call is told about.
_IVR_HEARS: Final = frozenset({CallState.ANSWERED, CallState.ENDED})
SWEEP_INTERVAL_S: Final = 0.25

Handler = Callable[[Connection, Message], Awaitable[None]]


class Switchboard:
    """Requests in, state changes and events out."""

    def __init__(self, bus: Bus, routing: Routing, *, grace_s: float = 30.0) -> None:
        self.bus = bus
        self.routing = routing
        self.grace_s = grace_s
        self._sweeper: asyncio.Task[None] | None = None
        self._kick = asyncio.Event()
        self._stopping = False
        self._last_beat = 0.0
        self.observe_state: Callable[[str], None] = lambda state: None
        #: The IVR that calls enter first, when a menu is published.
        self.ivr: IvrCalls | None = None
        #: Transfers between agents (``gateway.transfers``).
        self.transfers: Transfers | None = None
        #: Callbacks: requests, offers, claims (``gateway.callback_service``).
        self.callbacks: CallbackService | None = None
        #: The event log every call's steps go to (``gateway.events``).
        self.events: EventLog | None = None
        #: The live floor operators watch (``gateway.floor``).
        self.floor: Floor | None = None
        self._handlers: dict[str, Handler] = {
            "agent.status": self._agent_status,
            "call.place": self._place,
            "call.accept": self._accept,
            "call.decline": self._decline,
            "call.hangup": self._hangup,
            "call.hold": self._hold,
        }

    # Lifecycle

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="sweeper")

    async def close(self) -> None:
        """Stop the sweep between two passes, never in the middle of one."""
        self._stopping = True
        self._kick.set()
        if self._sweeper is not None:
            await stop_task(self._sweeper, STOP_GRACE_S)

    def kick(self) -> None:
        """Ask the sweep to route waiting calls now."""
        self._kick.set()
        self.floor_changed()

    def floor_changed(self) -> None:
        """Calls, agents or callbacks changed: the floor is pushed soon."""
        if self.floor is not None:
            self.floor.changed()

    # Sessions

    async def session_opened(self, conn: Connection, resumed: bool) -> Message:
        """Bring an agent online; returns what its ``welcome`` adds."""
        session = conn.session
        if session.role != "agent":
            if self.callbacks is None:
                return {}
            return await self.callbacks.welcome_fields(session)
        before = await self.routing.get_agent(session.user)
        if before and _on_call(before.call) and before.session not in ("", session.id):
            # A new session of an agent on a call (say, the softphone was
            # reloaded): the audio went with the old page, so the call goes
            # back to the head of the queue, as for a lost agent.
            await self._apply(before.call, CallEvent.AGENT_LOST)
        replaced = await self.routing.agent_online(
            session.user, session.name, session.id
        )
        if replaced and replaced != session.id:
            await self._replace_agent_session(replaced)
        self.kick()
        agent = await self.routing.get_agent(session.user)
        status = agent.status if agent else "offline"
        welcome: Message = {"agent": {"status": status, **_work(agent)}}
        return welcome

    async def _replace_agent_session(self, old_session: str) -> None:
        await self.bus.deliver(
            old_session,
            {"type": "agent.state", "status": "offline", "reason": "replaced"},
        )
        await self.bus.cancel_grace(old_session)
        await self.bus.delete(old_session)

    async def session_expired(self, session_id: str) -> None:
        """The grace period ran out: the session's calls lose their end."""
        key = self.bus.key("session", session_id)
        fields = text_fields(await self.bus.redis.hgetall(key))
        calls = await self.bus.calls(session_id)
        await self.bus.delete(session_id)
        logger.info("session expired", extra={"session_id": session_id})
        if self.floor is not None:
            await self.floor.session_ended(session_id)
        if fields.get("role") == "agent":
            await self._agent_lost(fields.get("user", ""), session_id)
        elif fields.get("role") == BRIDGE_ROLE:
            for call_id in calls:  # the media worker died with them
                await self._apply(call_id, CallEvent.BRIDGE_LOST)
        else:
            for call_id in calls:
                await self._apply(call_id, CallEvent.CUSTOMER_LOST)
        self.kick()

    async def _agent_lost(self, agent_id: str, session_id: str) -> None:
        agent = await self.routing.get_agent(agent_id)
        if agent is None or agent.session != session_id:
            return  # another session holds the agent now
        if not _on_call(agent.call) and self.callbacks is not None:
            await self.callbacks.agent_lost(agent_id, agent.call)
        elif agent.call:
            await self._apply(agent.call, CallEvent.AGENT_LOST)
        await self.routing.agent_offline(agent_id)

    # Requests

    async def handle(self, conn: Connection, message: Message) -> None:
        kind = message["type"]
        if self.floor is not None and await self.floor.handle(conn, message):
            return
        if self.callbacks is not None and await self.callbacks.handle(conn, message):
            return
        if self.transfers is not None and await self.transfers.handle(conn, message):
            return
        if kind in RELAYED:
            await self._relay(conn, message)
            return
        if kind in IVR_REQUESTS:
            session = _require_role(conn, "customer", message)
            if self.ivr is None:
                raise _unknown_call(message)
            await self.ivr.request(session, message)
            return
        handler = self._handlers.get(kind)
        if handler is None:
            raise ProtocolError("unknown-type", f"there is no message type {kind!r}")
        await handler(conn, message)

    async def _agent_status(self, conn: Connection, message: Message) -> None:
        session = _require_role(conn, "agent", message)
        status = await self.routing.set_status(session.user, message["status"])
        if status != message["status"]:
            raise ProtocolError(
                "bad-state",
                f"an agent who is {status} cannot change status; "
                "finish or decline the call first",
                message.get("id"),
            )
        await self.bus.deliver(session.id, {"type": "agent.state", "status": status})
        self.kick()

    async def _place(self, conn: Connection, message: Message) -> None:
        session = _require_role(conn, "customer", message)
        for call_id in await self.bus.calls(session.id):
            call = await self.routing.get_call(call_id)
            if call is not None and call.state != CallState.ENDED:
                raise ProtocolError(
                    "bad-state",
                    "this session already has a call; hang it up first",
                    message.get("id"),
                )

        caller = {"name": session.name, **message.get("caller", {})}
        # A media worker's session stands for a phone caller (pages cannot
        # choose their session's address).
        phone = session.address.startswith("sip:")
        fields = {"channel": "phone" if phone else "web"}
        if message.get("visit") and not phone:
            fields["visit"] = message["visit"]
        menu = await self.ivr.entry_menu() if self.ivr else None
        if self.ivr is not None and menu is not None:
            await self._place_in_ivr(self.ivr, session, caller, menu, fields)
            return
        call_id, position = await self.routing.create_call(
            session.id, caller, CallState.QUEUED, **fields
        )
        await self.bus.add_call(session.id, call_id)
        # Told before it joins the queue, so "queued" always comes first.
        handle_s, agents = await self.routing.wait_inputs()
        await self.bus.deliver(
            session.id,
            {
                "type": "call.state",
                "call_id": call_id,
                "state": "queued",
                "position": position,
                "estimated_wait_s": estimate_wait(position, handle_s, agents),
            },
        )
        await self.routing.enqueue(call_id)
        if self.events is not None:
            await self.events.record("queued", call_id, **identity(fields))
        await self._send_positions()
        self.kick()

    async def apply_for_ivr(self, call_id: str, event: CallEvent) -> None:
        """A move the IVR makes (to the queue, to an end), told to both ends."""
        await self._apply(call_id, event)
        self.kick()

    async def _place_in_ivr(
        self,
        ivr: IvrCalls,
        session: Session,
        caller: dict[str, str],
        menu: Any,
        fields: dict[str, str],
    ) -> None:
        fields = {**fields, **await ivr.call_fields(menu)}
        call_id, _ = await self.routing.create_call(
            session.id, caller, CallState.IVR, **fields
        )
        await self.bus.add_call(session.id, call_id)
        await self.bus.deliver(
            session.id, {"type": "call.state", "call_id": call_id, "state": "ivr"}
        )
        self.observe_state(CallState.IVR)
        logger.info("call entered the IVR", extra={"call_id": call_id})
        await ivr.start(call_id)

    async def _accept(self, conn: Connection, message: Message) -> None:
        applied = await self._agent_event(conn, message, CallEvent.ACCEPT)
        call_id = applied.before.id
        agent = await self.routing.get_agent(applied.agent)
        await self._announce(applied, agent_name=agent.name if agent else "")
        await self._flush_early(call_id, applied.agent)

    async def _decline(self, conn: Connection, message: Message) -> None:
        applied = await self._agent_event(conn, message, CallEvent.DECLINE)
        await self._announce(applied)
        self.kick()

    async def _hangup(self, conn: Connection, message: Message) -> None:
        session = conn.session
        if session.role == "agent":
            applied = await self._agent_event(conn, message, CallEvent.AGENT_HANGUP)
        elif session.role == BRIDGE_ROLE:
            call = await self._bridged_call(session, message)
            applied = await self._must_apply(call.id, CallEvent.LINE_HANGUP, message)
        else:
            call = await self._customer_call(session, message)
            applied = await self._must_apply(
                call.id, CallEvent.CUSTOMER_HANGUP, message
            )
        await self._announce(applied)
        self.kick()

    async def _hold(self, conn: Connection, message: Message) -> None:
        event = CallEvent.HOLD if message["on"] else CallEvent.UNHOLD
        applied = await self._agent_event(conn, message, event)
        await self._announce(applied)

    async def _agent_event(
        self, conn: Connection, message: Message, event: CallEvent
    ) -> Applied:
        session = _require_role(conn, "agent", message)
        call = await self.routing.get_call(message["call_id"])
        if call is None or call.agent != session.user:
            raise _unknown_call(message)
        return await self._must_apply(call.id, event, message, agent_id=session.user)

    async def _must_apply(
        self,
        call_id: str,
        event: CallEvent,
        message: Message,
        agent_id: str | None = None,
    ) -> Applied:
        try:
            applied = await self.routing.apply(call_id, event, agent_id=agent_id)
        except ProtocolError:
            raise
        except Exception as exc:
            if getattr(exc, "code", None) == "bad-state":
                raise ProtocolError("bad-state", str(exc), message.get("id")) from None
            raise
        if applied is None:
            raise _unknown_call(message)
        return applied

    async def _bridged_call(self, session: Session, message: Message) -> Call:
        call = await self.routing.get_call(message["call_id"])
        if call is None or not call.bridge or call.bridge != session.id:
            raise _unknown_call(message)
        return call

    async def assign_bridge(self, call_id: str, session_id: str) -> None:
        """A media worker's session is the call's other end from now on:
        relays go to it, and its death ends the call (``bridge-lost``)."""
        await self.routing.set_call_fields(call_id, bridge=session_id)
        await self.bus.add_call(session_id, call_id)

    async def bridge(self, call_id: str, session_id: str, name: str) -> bool:
        """Put a call in the IVR through to a media worker's session, which
        answers it as `name` (the toll-free line); the customer then offers
        its media to the worker as it would to an agent."""
        await self.assign_bridge(call_id, session_id)
        try:
            applied = await self.routing.apply(call_id, CallEvent.BRIDGE)
        except Exception as exc:
            if getattr(exc, "code", None) != "bad-state":
                raise
            return False
        if applied is None:
            return False
        await self._announce(applied, agent_name=name)
        return True

    async def _customer_call(self, session: Session, message: Message) -> Call:
        call = await self.routing.get_call(message["call_id"])
        if call is None or call.customer != session.id:
            raise _unknown_call(message)
        return call

    # Relaying SDP, candidates, mute and digits to the other end

    async def _relay(self, conn: Connection, message: Message) -> None:
        session = conn.session
        if session.role == "agent":
            call = await self.routing.get_call(message["call_id"])
            if call is None or call.agent != session.user:
                raise _unknown_call(message)
        elif session.role == BRIDGE_ROLE:
            call = await self._bridged_call(session, message)
        else:
            call = await self._customer_call(session, message)

        _check_relayed(session, message)
        event = {k: v for k, v in message.items() if k != "id"}
        if call.state in MEDIA_STATES:
            await self._to_other_end(call, session, event)
        elif session.role == "customer" and call.state in (
            CallState.QUEUED,
            CallState.RINGING,
        ):
            await self._keep_early(call.id, event, message)
        else:
            raise ProtocolError(
                "bad-state",
                f"{message['type']} is not possible while the call is {call.state}",
                message.get("id"),
            )

    async def _to_other_end(self, call: Call, sender: Session, event: Message) -> None:
        if sender.role in ("agent", BRIDGE_ROLE):
            await self.bus.deliver(call.customer, event)
            return
        if call.bridge:
            await self.bus.deliver(call.bridge, event)
            return
        agent = await self.routing.get_agent(call.agent)
        if agent is not None:
            await self.bus.deliver(agent.session, event)

    async def _keep_early(self, call_id: str, event: Message, message: Message) -> None:
        """Hold what the customer sends before an agent answers."""
        key = self.routing.key("call", call_id, "early")
        length = await self.bus.redis.rpush(key, encode(event))
        await self.bus.redis.expire(key, 3600)
        if length > EARLY_LIMIT:
            await self.bus.redis.rpop(key)
            raise ProtocolError(
                "rate-limited",
                f"at most {EARLY_LIMIT} messages are kept before the agent answers",
                message.get("id"),
            )

    async def _flush_early(self, call_id: str, agent_id: str) -> None:
        key = self.routing.key("call", call_id, "early")
        early = await self.bus.redis.lrange(key, 0, -1)
        await self.bus.redis.delete(key)
        agent = await self.routing.get_agent(agent_id)
        if agent is None:
            return
        for reply in early:
            await self.bus.deliver(agent.session, _decode(text(reply)))

    # Telling both ends

    async def apply_event(
        self, call_id: str, event: CallEvent, agent_name: str = ""
    ) -> None:
        """Apply an event that the system (not a request) raised; the
        customer is told `agent_name` when it is given."""
        await self._apply(call_id, event, agent_name)
        self.kick()

    async def _apply(
        self, call_id: str, event: CallEvent, agent_name: str = ""
    ) -> None:
        try:
            applied = await self.routing.apply(call_id, event)
        except Exception as exc:
            if getattr(exc, "code", None) != "bad-state":
                raise
            logger.debug("event %s no longer fits", event, extra={"call_id": call_id})
            return
        if applied is not None:
            await self._announce(applied, agent_name)
        elif self.transfers is not None:
            await self.transfers.system_event(call_id, event)

    async def _announce(self, applied: Applied, agent_name: str = "") -> None:
        call = applied.before
        row = applied.transition
        state = row.next_state
        logger.info("call %s -> %s", call.state, state, extra={"call_id": call.id})
        self.observe_state(state)
        await self._record_row(applied)
        self.floor_changed()
        event: Message = {"type": "call.state", "call_id": call.id, "state": state}
        if row.end_reason:
            event["reason"] = row.end_reason
        if row.requeue or state == CallState.ENDED:
            await self.bus.redis.delete(self.routing.key("call", call.id, "early"))
        if self.ivr is not None and call.menu and state in _IVR_HEARS:
            # Before the ends hear of it: the IVR's timers are gone by then.
            await (self.ivr.ended if state == CallState.ENDED else self.ivr.answered)(
                call.id
            )

        to_customer = dict(event)
        if agent_name:
            to_customer["agent"] = {"name": agent_name}
        if state != CallState.QUEUED:
            await self.bus.deliver(call.customer, to_customer)
        if call.agent:
            await self._tell_agent(call, event, row.requeue)
        if call.bridge:
            await self.bus.deliver(call.bridge, event)
        if state == CallState.ENDED:
            await self.bus.remove_call(call.customer, call.id)
        if call.bridge and state in (CallState.ENDED, CallState.IVR):
            await self.bus.remove_call(call.bridge, call.id)
        if state == CallState.ENDED and call.answered_at is not None:
            await self.routing.record_handle_time(time.time() - call.answered_at)
        if state in (CallState.QUEUED, CallState.ENDED):
            await self._send_positions()
        if self.transfers is not None:
            await self.transfers.after_call_row(applied)
        if self.callbacks is not None:
            await self.callbacks.after_call_row(applied)

    async def _record_row(self, applied: Applied) -> None:
        """The row's steps in the event log (``gateway.call_events``)."""
        call = applied.before
        if self.events is None or is_attempt(call):
            return
        node = ""
        if self.ivr is not None and left_menu(applied):
            journey = await self.ivr.journey(call.id)
            node = journey.nodes[-1] if journey and journey.nodes else ""
        for kind, fields in row_events(applied, time.time(), node):
            await self.events.record(kind, call.id, **fields)

    async def _tell_agent(self, call: Call, event: Message, requeued: bool) -> None:
        agent = await self.routing.get_agent(call.agent)
        if agent is None or not agent.session:
            return
        if requeued:
            # For the agent the call is over: it went back to the queue.
            event = {**event, "state": "ended", "reason": "requeued"}
        await self.bus.deliver(agent.session, event)
        await self._send_agent_state(agent.id)

    async def send_agent_state(self, agent_id: str) -> None:
        await self._send_agent_state(agent_id)

    async def _send_agent_state(self, agent_id: str) -> None:
        agent = await self.routing.get_agent(agent_id)
        if agent is None or not agent.session:
            return
        event: Message = {"type": "agent.state", "status": agent.status, **_work(agent)}
        await self.bus.deliver(agent.session, event)
        self.floor_changed()

    async def _send_positions(self) -> None:
        """Tell each waiting customer whose place changed where they are."""
        moved = await self.routing.moved_in_queue()
        if not moved:
            return
        handle_s, agents = await self.routing.wait_inputs()
        await asyncio.gather(
            *(
                self.bus.deliver(
                    customer,
                    {
                        "type": "call.state",
                        "call_id": call_id,
                        "state": "queued",
                        "position": position,
                        "estimated_wait_s": estimate_wait(position, handle_s, agents),
                    },
                )
                for call_id, customer, position in moved
            )
        )

    async def _ring(self, call_id: str, agent_id: str) -> None:
        call = await self.routing.get_call(call_id)
        agent = await self.routing.get_agent(agent_id)
        if call is None or agent is None:
            return
        logger.info("ringing agent", extra={"call_id": call_id, "agent": agent_id})
        await self.bus.redis.hdel(self.routing.key("call", call_id), "position")
        ringing: Message = {
            "type": "call.state",
            "call_id": call_id,
            "state": "ringing",
        }
        await self.bus.deliver(call.customer, ringing)
        await self.bus.deliver(
            agent.session,
            {
                **ringing,
                "caller": call.caller,
                "ring_timeout_s": self.routing.ring_timeout_s,
                **({"journey": json.loads(call.journey)} if call.journey else {}),
            },
        )
        await self._send_agent_state(agent_id)

    # The sweep

    async def _sweep_forever(self) -> None:
        while not self._stopping:
            try:
                await self.sweep()
            except Exception:
                logger.warning("sweep failed; retrying", exc_info=True)
            try:
                async with asyncio.timeout(SWEEP_INTERVAL_S):
                    await self._kick.wait()
            except TimeoutError:
                pass
            self._kick.clear()

    async def sweep(self) -> None:
        """Fire due timers, then ring agents for waiting calls."""
        await self._check_nodes()
        if self.events is not None:
            await self.events.flush()  # what waited for Redis to come back
        for timer in await self.routing.claim_due_timers():
            kind, _, target = timer.partition(":")
            if kind == "ring":
                await self._apply(target, CallEvent.RING_TIMEOUT)
            elif kind == "grace":
                await self.session_expired(target)
            elif kind == "ivr" and self.ivr is not None:
                await self.ivr.timer_fired(target)
            elif kind in ("cboffer", "cbwrap") and self.callbacks is not None:
                await self.callbacks.timer_fired(kind, target)

        callbacks = self.callbacks
        callbacks_first = callbacks is not None and not callbacks.desk.policy.live_first
        if callbacks is not None and callbacks_first:
            await callbacks.sweep(self.bus.node_id)
        rung = await self.routing.dispatch()
        await asyncio.gather(*(self._ring(call, agent) for call, agent in rung))
        if rung:
            await self._send_positions()
        if callbacks is not None and not callbacks_first:
            await callbacks.sweep(self.bus.node_id)

    async def _check_nodes(self) -> None:
        """About once a second: say this node lives, find nodes that died."""
        now = time.monotonic()
        if now - self._last_beat < 1.0:
            return
        self._last_beat = now
        await self.bus.beat()
        await self.bus.reap_dead_nodes(time.time() + self.grace_s)


def _on_call(work: str) -> bool:
    """Whether an agent's ``call`` names a call (not ``cb:<id>``, the
    callback it is offered)."""
    return bool(work) and not work.startswith("cb:")


def _work(agent: Any) -> Message:
    """What an agent is on, for ``agent.state`` and ``welcome``."""
    if agent is None or not agent.call:
        return {}
    if _on_call(agent.call):
        return {"call_id": agent.call}
    return {"callback": agent.call.removeprefix("cb:")}


def _require_role(conn: Connection, role: str, message: Message) -> Session:
    if conn.session.role != role:
        raise ProtocolError(
            "not-allowed",
            f"only a {role} may send {message['type']}",
            message.get("id"),
        )
    return conn.session


def _unknown_call(message: Message) -> ProtocolError:
    return ProtocolError(
        "unknown-call",
        f"call {message.get('call_id')} is not one of this session's calls",
        message.get("id"),
    )


def _check_relayed(session: Session, message: Message) -> None:
    """Check what may reach the other end's parser (SDP, candidates)."""
    kind = message["type"]
    try:
        if kind in ("sdp.offer", "sdp.answer"):
            sdp.check_sdp(message["sdp"], kind=kind.removeprefix("sdp."))
        elif kind == "ice.candidate":
            ice.parse_candidate(message["candidate"])
    except (SdpError, CandidateError) as exc:
        raise ProtocolError(exc.code, str(exc), message.get("id")) from None
    if kind == "call.dtmf" and session.role != "customer":
        raise ProtocolError(
            "not-allowed", "only the customer sends keypad digits", message.get("id")
        )


def _decode(text: str) -> Message:
    value: Message = json.loads(text)
    return value

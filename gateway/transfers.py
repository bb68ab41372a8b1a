"""Agents handing calls to each other: what the transfer requests do.

The switchboard hands this module the requests it owns (``call.transfer``,
``call.consult``, ``call.consult_complete``, ``call.consult_cancel``,
``agent.list``) and every request about a consult call, which rings, is
answered and relays SDP like a customer's call but joins two agents: the
consulting agent makes the offer, as a customer does. State changes are
applied by ``gateway.transfer_store``; this module tells every end.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from gateway.call_events import identity
from gateway.ivr_calls import TOLLFREE_NAME
from gateway.routing import Agent, Applied, Call
from gateway.switchboard import Switchboard, _check_relayed, _require_role
from gateway.transfer_store import Consult, ConsultApplied, TargetRefused, TransferStore
from signaling.bus import Connection, Session
from signaling.calls import CallEvent, CallState
from signaling.consult import FROM_CALL_EVENT, ConsultEvent, consult_step
from signaling.protocol import RELAYED, Message, ProtocolError

logger = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[[Connection, Message], Awaitable[None]]

#: Requests that may name a consult call.
_ON_CONSULT: Final = RELAYED | {
    "call.accept",
    "call.decline",
    "call.hangup",
    "call.hold",
}
_CALL_LEFT: Final = consult_step(CallState.RINGING, ConsultEvent.CALL_LEFT).end_reason
_NOT_OFFERED: Final = (
    "the caller can go to the toll-free line only after the menu offered "
    "both FAQ answers and a callback"
)
_NO_WORKER: Final = (
    "no media worker can take the call to the toll-free line now; "
    "try again in a moment or transfer to an agent"
)


class Transfers:
    """Blind and attended transfers, for the switchboard."""

    def __init__(self, board: Switchboard, store: TransferStore) -> None:
        self.board = board
        self.store = store
        self.bus = board.bus
        self.routing = board.routing
        self._handlers: dict[str, Handler] = {
            "agent.list": self._list,
            "call.transfer": self._transfer,
            "call.consult": self._consult,
            "call.consult_complete": self._complete,
            "call.consult_cancel": self._cancel,
        }

    async def handle(self, conn: Connection, message: Message) -> bool:
        """Serve ``message`` if it is a transfer request or names a consult
        call; False leaves it to the switchboard."""
        kind = message["type"]
        handler = self._handlers.get(kind)
        if handler is not None:
            _require_role(conn, "agent", message)
            try:
                await handler(conn, message)
            except (TargetRefused, ProtocolError) as exc:
                raise _as_protocol_error(exc, message) from None
            return True
        if kind not in _ON_CONSULT:
            return False
        consult = await self.store.get_consult(message["call_id"])
        if consult is None:
            return False
        await self._on_consult(conn, consult, message)
        return True

    # Requests

    async def _list(self, conn: Connection, message: Message) -> None:
        me = conn.session.user
        agents = [
            {"id": agent.id, "name": agent.name, "status": agent.status}
            for agent in await self.store.agents()
            if agent.id != me
        ]
        await self.bus.deliver(
            conn.session.id, {"type": "agent.list", "agents": agents}
        )

    async def _transfer(self, conn: Connection, message: Message) -> None:
        if message.get("tollfree"):
            await self._to_the_line(conn, message)
            return
        if "agent" not in message:
            raise ProtocolError(
                "invalid-message", "call.transfer needs 'agent' or 'tollfree'"
            )
        applied = await self._bad_state_as_error(
            self.store.transfer(message["call_id"], conn.session.user, message["agent"])
        )
        call = applied.before
        await self._record(call, "blind", conn.session.user)
        self.board.observe_state(CallState.RINGING)
        await self.bus.deliver(
            call.customer,
            {
                "type": "call.state",
                "call_id": call.id,
                "state": "ringing",
                "transfer": "blind",
            },
        )
        await self._left(conn.session.user, call.id)
        await self._ring(call, message["agent"], {"transfer": "blind"})

    async def _to_the_line(self, conn: Connection, message: Message) -> None:
        """A blind transfer to the toll-free line. A phone caller's worker
        dials it from the call it holds; a web caller is answered by a media
        worker for the line, and its page offers its audio there anew. The
        agent is free at once; a line that fails sends the caller back to
        the IVR's callback offer."""
        ivr = self.board.ivr
        me = conn.session.user
        call = await self.routing.get_call(message["call_id"])
        if call is None or call.agent != me:
            raise ProtocolError(
                "unknown-call", "no such call at this agent", message.get("id")
            )
        if call.state not in (CallState.ANSWERED, CallState.HELD):
            raise ProtocolError(
                "bad-state",
                f"a call that is {call.state} cannot be transferred",
                message.get("id"),
            )
        journey = await ivr.journey(call.id) if ivr is not None else None
        if (
            ivr is None
            or journey is None
            or not {"faq", "callback"} <= set(journey.offers)
        ):
            raise ProtocolError("not-allowed", _NOT_OFFERED, message.get("id"))
        phone = call.fields.get("channel") == "phone"
        worker = "" if phone else await ivr.find_bridge()
        if not phone and not worker:
            raise ProtocolError("line-unavailable", _NO_WORKER, message.get("id"))
        await self._bad_state_as_error(
            self.routing.apply(call.id, CallEvent.TRANSFER_LINE, agent_id=me)
        )
        if worker:
            # Only once the agent has let go: a transfer that lost a race
            # must not leave the customer's relays going to the worker. The
            # page hears of the worker only below.
            await self.board.assign_bridge(call.id, worker)
        await ivr.sent_to_line(call.id)
        logger.info(
            "agent sent the caller to the toll-free line", extra={"call_id": call.id}
        )
        await self._left(me, call.id)
        number = ivr.sources.tollfree_number
        tollfree = {
            "type": "ivr.tollfree",
            "call_id": call.id,
            "node": "",
            "number": number,
        }
        if phone:  # the worker holding the caller dials the line
            await self.bus.deliver(call.customer, tollfree)
            return
        await self.bus.deliver(call.customer, {**tollfree, "bridged": True})
        answered = {"type": "call.state", "call_id": call.id, "state": "answered"}
        await self.bus.deliver(
            call.customer,
            {**answered, "agent": {"name": TOLLFREE_NAME}, "transfer": "tollfree"},
        )
        await self.bus.deliver(worker, answered)

    async def _consult(self, conn: Connection, message: Message) -> None:
        session = conn.session
        applied, consult_id = await self._bad_state_as_error(
            self.store.consult(message["call_id"], session.user, message["agent"])
        )
        call = applied.before
        held = {"type": "call.state", "call_id": call.id, "state": "held"}
        await self.bus.deliver(call.customer, held)
        await self.bus.deliver(session.id, {**held, "state": "consulting"})
        target = await self.routing.get_agent(message["agent"])
        about = {"call_id": call.id}
        await self.bus.deliver(
            session.id,
            {
                "type": "call.state",
                "call_id": consult_id,
                "state": "ringing",
                "consult": {**about, "agent": _named(target)},
            },
        )
        me = await self.routing.get_agent(session.user)
        ring = {"consult": {**about, "from": _named(me)}}
        await self._ring(call, message["agent"], ring, consult_id)

    async def _complete(self, conn: Connection, message: Message) -> None:
        await self._end_consult(conn, message, ConsultEvent.COMPLETE)

    async def _cancel(self, conn: Connection, message: Message) -> None:
        await self._end_consult(conn, message, ConsultEvent.CANCEL)

    async def _end_consult(
        self, conn: Connection, message: Message, event: ConsultEvent
    ) -> None:
        call = await self.routing.get_call(message["call_id"])
        if call is None or call.agent != conn.session.user:
            raise ProtocolError(
                "unknown-call",
                f"call {message['call_id']} is not one of this session's calls",
            )
        consult_id = call.fields.get("consult", "")
        if call.state != CallState.CONSULTING or not consult_id:
            raise ProtocolError(
                "bad-state", f"no consult is in progress on this {call.state} call"
            )
        await self._apply(consult_id, event)

    async def _bad_state_as_error(self, step: Awaitable[T]) -> T:
        try:
            return await step
        except TargetRefused:
            raise
        except Exception as exc:
            if getattr(exc, "code", None) == "bad-state":
                raise ProtocolError("bad-state", str(exc)) from None
            raise

    # Requests about a consult call

    async def _on_consult(
        self, conn: Connection, consult: Consult, message: Message
    ) -> None:
        session = conn.session
        ends = (consult.from_agent, consult.agent)
        if session.role != "agent" or session.user not in ends:
            raise ProtocolError(
                "unknown-call",
                f"call {consult.id} is not one of this session's calls",
                message.get("id"),
            )
        kind = message["type"]
        consulted = session.user == consult.agent
        if kind in RELAYED:
            await self._relay(session, consult, message)
            return
        event = _CONSULT_EVENTS.get((kind, consulted))
        if event is None:
            raise ProtocolError(
                "bad-state",
                f"{kind} is not possible on a consult call",
                message.get("id"),
            )
        try:
            await self._apply(consult.id, event)
        except ProtocolError as exc:
            raise _as_protocol_error(exc, message) from None

    async def _relay(
        self, session: Session, consult: Consult, message: Message
    ) -> None:
        _check_relayed(session, message)
        if consult.state != CallState.ANSWERED:
            raise ProtocolError(
                "bad-state",
                f"{message['type']} is not possible while the consult is "
                f"{consult.state}",
                message.get("id"),
            )
        other = (
            consult.agent if session.user == consult.from_agent else consult.from_agent
        )
        agent = await self.routing.get_agent(other)
        if agent is not None and agent.session:
            event = {k: v for k, v in message.items() if k != "id"}
            await self.bus.deliver(agent.session, event)

    # System events, from the switchboard

    async def system_event(self, consult_id: str, event: CallEvent) -> None:
        """A ring timeout or a lost agent on a consult call."""
        consult_event = FROM_CALL_EVENT.get(event)
        if consult_event is None:
            return
        try:
            await self._apply(consult_id, consult_event)
        except ProtocolError:
            logger.debug(
                "event %s no longer fits", event, extra={"call_id": consult_id}
            )

    async def after_call_row(self, applied: Applied) -> None:
        """A customer's call left "consulting" by itself (hung up, agent
        lost): its consult ended with it; tell both agents."""
        consult_id = applied.before.fields.get("consult", "")
        if applied.before.state != CallState.CONSULTING or not consult_id:
            return
        consult = await self.store.get_consult(consult_id)
        if consult is None or consult.reason != _CALL_LEFT:
            return  # ended by its own row, told already
        await self._tell_consult(consult, CallState.ENDED, consult.reason)

    async def _record(self, call: Call, how: str, agent_id: str) -> None:
        """``transferred``: `agent_id` handed the call on."""
        if self.board.events is not None:
            await self.board.events.record(
                "transferred",
                call.id,
                detail=how,
                agent=agent_id,
                **identity(call.fields),
            )

    # Telling every end

    async def _apply(self, consult_id: str, event: ConsultEvent) -> None:
        try:
            applied = await self.store.apply_consult(consult_id, event)
        except Exception as exc:
            if getattr(exc, "code", None) == "bad-state":
                raise ProtocolError("bad-state", str(exc)) from None
            raise
        if applied is not None:
            await self._announce(applied)

    async def _announce(self, applied: ConsultApplied) -> None:
        consult, row = applied.before, applied.row
        logger.info(
            "consult %s -> %s",
            consult.state,
            row.next_state,
            extra={"call_id": consult.call, "consult": consult.id},
        )
        await self._tell_consult(consult, row.next_state, row.end_reason)
        parent = applied.parent
        if parent is None:
            return
        if parent.transition.retarget:
            await self._record(parent.before, "consult", consult.from_agent)
            await self._handed_over(parent.before, consult)
        else:
            await self.board._announce(parent)

    async def _tell_consult(
        self, consult: Consult, state: CallState, reason: str | None
    ) -> None:
        event: Message = {
            "type": "call.state",
            "call_id": consult.id,
            "state": state,
            "consult": {"call_id": consult.call},
        }
        if reason:
            event["reason"] = reason
        for agent_id in (consult.from_agent, consult.agent):
            agent = await self.routing.get_agent(agent_id)
            if agent is not None and agent.session:
                await self.bus.deliver(agent.session, event)
        await self.board._send_agent_state(consult.agent)

    async def _handed_over(self, call: Call, consult: Consult) -> None:
        """The consulted agent has the customer now: the customer offers
        afresh to it, and the consulting agent is done with the call."""
        self.board.observe_state(CallState.ANSWERED)
        agent = await self.routing.get_agent(consult.agent)
        answered: Message = {
            "type": "call.state",
            "call_id": call.id,
            "state": "answered",
            "transfer": "attended",
        }
        name = {"name": agent.name if agent else ""}
        await self.bus.deliver(call.customer, {**answered, "agent": name})
        if agent is not None and agent.session:
            await self.bus.deliver(agent.session, {**answered, "caller": call.caller})
            await self.board._send_agent_state(agent.id)
        await self._left(consult.from_agent, call.id)

    async def _left(self, agent_id: str, call_id: str) -> None:
        """The agent handed the call on: for it the call is over."""
        agent = await self.routing.get_agent(agent_id)
        if agent is None or not agent.session:
            return
        await self.bus.deliver(
            agent.session,
            {
                "type": "call.state",
                "call_id": call_id,
                "state": "ended",
                "reason": "transferred",
            },
        )
        await self.board._send_agent_state(agent_id)

    async def _ring(
        self, call: Call, agent_id: str, extra: Message, ring_id: str = ""
    ) -> None:
        """Ring ``agent_id`` with the customer's details, as routing does."""
        agent = await self.routing.get_agent(agent_id)
        if agent is None or not agent.session:
            return
        logger.info("ringing agent", extra={"call_id": call.id, "agent": agent_id})
        event: Message = {
            "type": "call.state",
            "call_id": ring_id or call.id,
            "state": "ringing",
            "caller": call.caller,
            "ring_timeout_s": self.routing.ring_timeout_s,
            **extra,
        }
        if call.journey:
            event["journey"] = json.loads(call.journey)
        await self.bus.deliver(agent.session, event)
        await self.board._send_agent_state(agent_id)


#: (request, sent by the consulted agent) -> event on a consult call.
_CONSULT_EVENTS: Final = {
    ("call.accept", True): ConsultEvent.ACCEPT,
    ("call.decline", True): ConsultEvent.DECLINE,
    ("call.hangup", True): ConsultEvent.HANGUP,
    ("call.hangup", False): ConsultEvent.CANCEL,
}


def _named(agent: Agent | None) -> Message:
    return {"id": agent.id, "name": agent.name} if agent else {}


def _as_protocol_error(exc: Exception, message: Message) -> ProtocolError:
    """The error to answer, quoting the request's id."""
    code = getattr(exc, "code", "internal")
    return ProtocolError(code, str(exc), message.get("id"))

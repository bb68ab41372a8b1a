"""Callbacks on the signaling socket: what pages, softphones and media
workers ask of the callback desk, and what they are told.

The desk (``gateway.callbacks``) keeps the records; this module turns
requests into desk calls and desk changes into events: ``callback.status``
to the page that follows a callback, ``callback.list`` to every agent
online, ``callback.offer`` to the agent offered one, and ``call.state``
``dialling`` to both ends of an attempt. It also runs the desk's part of
the switchboard's sweep: new requests taken on, dead nodes' requests and
dead workers' dials reclaimed, due callbacks offered while the line is open,
and the offer and wrap-up timers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from gateway.callbacks import (
    LIMIT_CODE,
    CallbackDesk,
    ClaimError,
    Kept,
    Request,
    number_hint,
)
from gateway.store import STORE_DOWN
from ivr.hours import Calendar
from ivr.menu import HoursState
from ivr.numbers import NumberError, check_callback_number
from ivr.windows import WindowError, describe, due_at, retry_at
from signaling.bus import Connection, Session
from signaling.callbacks import retry_delay
from signaling.calls import CallEvent, CallState
from signaling.protocol import CALLBACK_REQUESTS, Message, ProtocolError

if TYPE_CHECKING:
    from gateway.routing import Applied
    from gateway.switchboard import Switchboard

logger = logging.getLogger(__name__)

#: How often the desk looks for dead nodes' requests and workers' dials.
RECLAIM_EVERY_S: Final = 2.0
_UNREACHED_EVENTS: Final = {
    "no-answer": CallEvent.NO_ANSWER,
    "busy": CallEvent.LINE_BUSY,
    "failed": CallEvent.DIAL_FAILED,
}
UNAVAILABLE: Final = "Callbacks cannot be taken right now; please try again in a moment"
_DEFAULT_CONSENT: Final = (
    "By asking for a callback you agree that we call this number about your "
    "request, and keep it until the callback is done."
)


class CallbackService:
    """The desk's requests and events; wired into the switchboard."""

    def __init__(
        self,
        board: Switchboard,
        desk: CallbackDesk,
        calendar: Callable[[], Awaitable[Calendar]],
        *,
        countries: tuple[str, ...] = ("US", "CA"),
        windows: tuple[str, ...] = (),
        consent: str = _DEFAULT_CONSENT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.board = board
        self.bus = board.bus
        self.routing = board.routing
        self.desk = desk
        self.calendar = calendar
        self.countries = countries
        self.windows = windows
        self.consent = consent
        self.clock = clock
        self._last_reclaim = 0.0

    # The welcome

    async def welcome_fields(self, session: Session) -> Message:
        if session.role != "customer" or session.address.startswith("sip:"):
            return {}
        calendar = await self.calendar()
        return {
            "callbacks": {
                "windows": list(self.windows),
                "time_zone": calendar.time_zone,
                "countries": list(self.countries),
                "consent": self.consent,
            }
        }

    # Requests

    async def handle(self, conn: Connection, message: Message) -> bool:
        """Serve `message` if it is about callbacks; False leaves it to the
        switchboard."""
        kind = message["type"]
        session = conn.session
        if kind == "call.accept" and session.role == "customer":
            await self._customer_answers(session, message)
            return True
        if kind not in CALLBACK_REQUESTS:
            return False
        handler = _HANDLERS[kind]
        role = _ROLES[kind]
        if session.role != role or (
            kind == "call.unreached" and not session.address.startswith("sip:")
        ):
            raise ProtocolError(
                "not-allowed", f"{kind} is not for this session", message.get("id")
            )
        await handler(self, session, message)
        return True

    async def _request(self, session: Session, message: Message) -> None:
        """The widget's own form."""
        ref = message.get("id")
        try:
            number = check_callback_number(message["number"], self.countries)
        except NumberError as exc:
            raise ProtocolError("invalid-number", str(exc), ref) from None
        window, date = message.get("window", ""), message.get("date", "")
        try:
            due = await self.due(window, date, ref)
            kept = await self.desk.keep(
                Request(
                    number=number,
                    window=window,
                    date=date,
                    due_at=due,
                    topic=message.get("topic", ""),
                    consent=message["consent"],
                    session=session.id,
                    source="form",
                    visit=message.get("visit", ""),
                    channel="web",
                ),
                address=session.address,
            )
        except STORE_DOWN:
            # Asking again is safe: a request that did get in merges.
            logger.warning(
                "callback request not kept: Redis unreachable",
                extra={"call_id": "", "session_id": session.id},
            )
            raise ProtocolError("unavailable", UNAVAILABLE, ref) from None
        await self.answer_kept(session.id, kept, ref)

    async def due(self, window: str, date: str, ref: str | None = None) -> float:
        """When a callback with this window (and day) is due; refused with
        ``invalid-window`` and a sentence."""
        calendar = await self.calendar()
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        try:
            day = dt.date.fromisoformat(date) if date else None
            return due_at(calendar, now, window, day).timestamp()
        except WindowError as exc:
            raise ProtocolError("invalid-window", str(exc), ref) from None
        except ValueError:
            raise ProtocolError("invalid-window", "That is not a date", ref) from None

    async def when(self, due: float, window: str) -> str:
        """The phrase that tells a customer when to expect the call."""
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        moment = dt.datetime.fromtimestamp(max(due, now.timestamp()), dt.UTC)
        return describe(await self.calendar(), moment, window, now)

    async def answer_kept(self, session_id: str, kept: Kept, ref: str | None) -> None:
        """Tell the page how its request went (``callback.status`` with the
        token, or ``error``)."""
        if not kept.verdict.kept:
            code = "rate-limited" if kept.verdict == "address-limit" else LIMIT_CODE
            raise ProtocolError(code, kept.verdict.sentence, ref)
        await self.tell_customer(
            kept.callback,
            session_id,
            token=kept.token,
            merged=kept.verdict == "merged",
        )
        await self.tell_agents()
        self.board.kick()

    async def _attach(self, session: Session, message: Message) -> None:
        callback = message["callback"]
        record = await self.desk.check_token(callback, message["token"])
        if not record:
            raise ProtocolError(
                "unknown-callback", "There is no such callback", message.get("id")
            )
        if record.get("state") in ("waiting", "offered"):
            await self.desk.follow(callback, session.id)
        await self.tell_customer(callback, session.id)

    async def _cancel(self, session: Session, message: Message) -> None:
        callback = message["callback"]
        if not await self.desk.check_token(callback, message["token"]):
            raise ProtocolError(
                "unknown-callback", "There is no such callback", message.get("id")
            )
        if await self.desk.cancel(callback) is None:
            raise ProtocolError(
                "bad-state",
                "This callback can no longer be cancelled",
                message.get("id"),
            )
        # An agent it was offered to is free again (the desk settled it):
        # its softphone drops the offer when told.
        offered_to = (await self.desk.get(callback)).get("agent", "")
        if offered_to:
            await self.board.send_agent_state(offered_to)
        await self.tell_customer(callback, session.id)
        await self.tell_agents()

    async def _list(self, session: Session, message: Message) -> None:
        await self.bus.deliver(
            session.id, {"type": "callback.list", **await self.desk.listing()}
        )

    async def _claim(self, session: Session, message: Message) -> None:
        callback = message["callback"]
        record = await self.desk.get(callback)
        page = record.get("session", "")
        if page and not await self._page_free(page):
            page = ""
        try:
            call_id, attempt = await self.desk.claim(callback, session.user, page)
        except ClaimError as exc:
            raise ProtocolError(exc.code, str(exc), message.get("id")) from None
        agent = await self.routing.get_agent(session.user)
        state: Message = {
            "type": "call.state",
            "call_id": call_id,
            "state": CallState.DIALLING.value,
            "callback": callback,
            "attempt": attempt,
        }
        self.board.observe_state(CallState.DIALLING)
        await self.bus.deliver(
            session.id,
            {
                **state,
                "caller": {
                    "name": "Callback",
                    "number": record.get("number", ""),
                    "topic": record.get("topic", ""),
                },
                "via": "tab" if page else "trunk",
                **_journey(record),
            },
        )
        if page:
            await self.bus.add_call(page, call_id)
            await self.bus.deliver(
                page,
                {
                    **state,
                    "agent": {"name": agent.name if agent else ""},
                    "ring_timeout_s": self.desk.policy.ring_s,
                },
            )
        await self.board.send_agent_state(session.user)
        await self.tell_customer(callback)
        await self.tell_agents()

    async def _page_free(self, session_id: str) -> bool:
        """Whether a page is still open and on no other call."""
        conn = await self.bus.redis.hget(self.bus.key("session", session_id), "conn")
        if not conn:
            return False
        for call_id in await self.bus.calls(session_id):
            call = await self.routing.get_call(call_id)
            if call is not None and call.state != CallState.ENDED:
                return False
        return True

    async def _skip(self, session: Session, message: Message) -> None:
        if not await self.desk.give_back(
            message["callback"], session.user, lapsed=False
        ):
            raise ProtocolError(
                "bad-state", "This callback is not offered to you", message.get("id")
            )
        await self.board.send_agent_state(session.user)
        await self.tell_agents()
        self.board.kick()

    async def _outcome(self, session: Session, message: Message) -> None:
        callback = message["callback"]
        moved = await self.desk.record_outcome(
            callback,
            session.user,
            message["outcome"],
            message.get("note", ""),
            await self.retry_time(callback),
        )
        if moved is None:
            raise ProtocolError(
                "bad-state",
                "The outcome of this callback cannot be recorded now",
                message.get("id"),
            )
        await self.tell_customer(callback)
        await self.tell_agents()

    async def _unreached(self, session: Session, message: Message) -> None:
        call = await self.routing.get_call(message["call_id"])
        if call is None or call.customer != session.id:
            raise ProtocolError(
                "unknown-call", "no such call for this session", message.get("id")
            )
        await self.board.apply_event(call.id, _UNREACHED_EVENTS[message["reason"]])

    async def _customer_answers(self, session: Session, message: Message) -> None:
        call = await self.routing.get_call(message["call_id"])
        if (
            call is None
            or call.customer != session.id
            or not call.fields.get("callback")
        ):
            # A customer answers only a callback that rings its page.
            raise ProtocolError(
                "not-allowed",
                "a customer answers only a callback ringing in the page",
                message.get("id"),
            )
        if call.state != CallState.DIALLING:
            raise ProtocolError(
                "bad-state",
                f"a call that is {call.state} cannot be answered",
                message.get("id"),
            )
        agent = await self.routing.get_agent(call.agent)
        await self.board.apply_event(
            call.id, CallEvent.CALLBACK_ANSWERED, agent_name=agent.name if agent else ""
        )

    # After a row of a callback's call

    async def after_call_row(self, applied: Applied) -> None:
        call = applied.before
        callback = call.fields.get("callback", "")
        if not callback:
            return
        state = applied.transition.next_state
        if call.state == CallState.DIALLING and state == CallState.ANSWERED:
            await self.desk.attempt_answered(callback, call.id)
        elif state == CallState.ENDED:
            reason = applied.transition.end_reason or ""
            await self.desk.call_ended(
                callback, call.id, reason, await self.retry_time(callback)
            )
        else:
            return
        await self.tell_customer(callback)
        await self.tell_agents()

    async def retry_time(self, callback: str) -> float:
        record = await self.desk.get(callback)
        attempts = int(record.get("attempts") or 1)
        delay = retry_delay(attempts, self.desk.policy.retry_s)
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        return retry_at(await self.calendar(), now, delay).timestamp()

    # The sweep

    async def sweep(self, node_id: str) -> None:
        desk = self.desk
        await desk.streams.read_new(node_id)
        now = self.clock()
        if now - self._last_reclaim >= RECLAIM_EVERY_S:
            self._last_reclaim = now
            await desk.streams.reclaim(node_id)
            for dial in await desk.streams.lost_dials():
                logger.warning(
                    "the media worker of a callback dial died",
                    extra={"call_id": dial.call_id, "callback": dial.callback},
                )
                await self.board.apply_event(dial.call_id, CallEvent.BRIDGE_LOST)
        calendar = await self.calendar()
        if calendar.state_at(dt.datetime.now(dt.UTC)) != HoursState.OPEN:
            return
        offered = await desk.offer_due()
        for callback, agent_id in offered:
            await self._offer(callback, agent_id)
        if offered:
            await self.tell_agents()

    async def _offer(self, callback: str, agent_id: str) -> None:
        record = await self.desk.get(callback)
        agent = await self.routing.get_agent(agent_id)
        if agent is None:
            return
        logger.info(
            "callback offered",
            extra={"call_id": "", "callback": callback, "agent": agent_id},
        )
        await self.bus.deliver(
            agent.session,
            {
                "type": "callback.offer",
                "callback": callback,
                "due_at": float(record.get("due_at") or 0),
                "topic": record.get("topic", ""),
                "attempts": int(record.get("attempts") or 0),
                "number_hint": number_hint(record.get("number", "")),
                "offer_timeout_s": self.desk.policy.offer_s,
                **_journey(record),
            },
        )
        await self.board.send_agent_state(agent_id)
        await self.tell_customer(callback)

    async def timer_fired(self, kind: str, callback: str) -> None:
        record = await self.desk.get(callback)
        if kind == "cboffer":
            agent = record.get("agent", "")
            if agent and await self.desk.give_back(callback, agent, lapsed=True):
                await self.board.send_agent_state(agent)
        elif kind == "cbwrap":
            await self.desk.wrap_up_lapsed(callback)
        await self.tell_customer(callback)
        await self.tell_agents()
        self.board.kick()

    async def agent_lost(self, agent_id: str, marker: str) -> None:
        """An agent lost while offered a callback (its call is ``cb:<id>``)."""
        await self.desk.give_back(marker.removeprefix("cb:"), agent_id, lapsed=True)
        await self.tell_agents()

    # Telling

    async def tell_customer(
        self,
        callback: str,
        session_id: str = "",
        *,
        token: str = "",
        merged: bool = False,
    ) -> None:
        record = await self.desk.get(callback)
        target = session_id or record.get("session", "")
        if not record or not target:
            return
        due = float(record.get("due_at") or 0)
        event: Message = {
            "type": "callback.status",
            "callback": callback,
            "state": record.get("state", ""),
            "due_at": due,
            "when": await self.when(due, record.get("window", "")),
            "window": record.get("window", ""),
            "date": record.get("date", ""),
            "attempts": int(record.get("attempts") or 0),
            "max_attempts": int(record.get("max_attempts") or 0),
        }
        if record.get("outcome"):
            event["outcome"] = record["outcome"]
        if token:
            event["token"] = token
        if merged:
            event["merged"] = True
        await self.bus.deliver(target, event)

    async def tell_agents(self) -> None:
        """The lists, to every agent online (a few dozen at most)."""
        self.board.floor_changed()
        listing: Message = {"type": "callback.list", **await self.desk.listing()}
        online = await self.bus.redis.smembers(self.routing.key("agents", "online"))
        for agent_id in online:
            agent = await self.routing.get_agent(str(agent_id))
            if agent is not None and agent.session:
                await self.bus.deliver(agent.session, listing)


def _journey(record: dict[str, str]) -> dict[str, Any]:
    try:
        journey = json.loads(record.get("journey") or "{}")
    except ValueError:
        return {}
    return {"journey": journey} if journey else {}


_Handler = Callable[[CallbackService, Session, Message], Awaitable[None]]
_HANDLERS: Final[dict[str, _Handler]] = {
    "callback.request": CallbackService._request,
    "callback.attach": CallbackService._attach,
    "callback.cancel": CallbackService._cancel,
    "callback.list": CallbackService._list,
    "callback.claim": CallbackService._claim,
    "callback.skip": CallbackService._skip,
    "callback.outcome": CallbackService._outcome,
    "call.unreached": CallbackService._unreached,
}
_ROLES: Final = {
    "callback.request": "customer",
    "callback.attach": "customer",
    "callback.cancel": "customer",
    "callback.list": "agent",
    "callback.claim": "agent",
    "callback.skip": "agent",
    "callback.outcome": "agent",
    "call.unreached": "customer",
}

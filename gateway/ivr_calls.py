"""The IVR of web callers: the menu interpreter run for calls kept in Redis.

Theory of operation. The interpreter (``ivr.interpreter``) is a pure state
machine, so a call's IVR state is the list of events it took. Redis keeps
that list (``call:<id>:ivr``), each event with what it carried. To handle a
new event a node reads the list, replays it into a fresh interpreter (the
actions of the replay are dropped: they were carried out when those events
came), feeds the new event and appends it with a compare-and-set on the
list's length. The node whose append wins carries out the new actions; a
node that lost the race reads again. So any node serves any call, a node
that dies loses no IVR state, and two events of one call never interleave.
The replay is deterministic: the hours state is fixed when the call starts
(a caller who came in while open is not thrown out at closing time) and
the menu version is fixed for the call. A node keeps the interpreter of
each call it served last; while the list has not grown since (one LLEN
says so) it goes on from there instead of replaying, so a replay happens
only when another node took the call's last event.

Timers go into the routing timers set, which the sweep of exactly one node
claims, as ``ivr:<call>:<name>:<gen>``; ``gen`` is the index of the event
that started the timer, so a timer cancelled or restarted since is stale
and dropped. A prompt the page never reports finished counts as finished a
little after its length (the ``prompt-<n>`` guard), so a closed tab or a
page that may not play audio cannot stall the call. A call keeps the list
of timers it armed (``call:<id>:ivr-timers``): a guard goes when its prompt
ends or stops, and every timer goes when the IVR is over (answered, ended).

A callback request is kept (``gateway.callbacks``: the stream, within the
daily limits) while the actions are carried out; whether it was kept goes
back to the interpreter as an event of its own (``CallbackKept`` or
``CallbackRefused``), appended to the log like any other, so a replay
takes the same path.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

from redis.asyncio import Redis

import ivr.interpreter as interpreter_module
from gateway.call_events import identity, tollfree_reason
from gateway.callbacks import LIMIT_CODE, CallbackDesk, CallbackLimits, Request
from gateway.routing import Call, Routing

if TYPE_CHECKING:
    from gateway.callback_service import CallbackService
    from gateway.events import EventLog
from ivr.interpreter import (
    Action,
    AgentAnswered,
    CallbackKept,
    CallbackRefused,
    CallEnded,
    CallStarted,
    CancelTimer,
    CollectDigits,
    Digit,
    Event,
    FormSubmitted,
    HangUp,
    Interpreter,
    Journey,
    PlayPrompt,
    PromptFinished,
    RequestCallback,
    RouteToQueue,
    SentToLine,
    ShowCallbackForm,
    ShowMenu,
    StartTimer,
    StopPrompt,
    TimerFired,
    TransferFailed,
    TransferToTollFree,
)
from ivr.menu import CallbackNode, Menu
from ivr.numbers import NumberError
from signaling.bus import Bus, Session, text
from signaling.calls import CallEvent, CallState
from signaling.protocol import Message, ProtocolError

logger = logging.getLogger(__name__)

MAX_RACES: Final = 8
#: Events one call's IVR takes at most (a replay reads them all).
MAX_EVENTS: Final = 1000
#: Calls whose interpreter a node keeps between events.
MAX_KEPT: Final = 10_000
PROMPT_SLACK_S: Final = 3.0
READING_WORDS_PER_S: Final = 3.0
RINGING_RETRY_S: Final = 5.0
TIMER: Final = "timer"
#: Node kinds whose entering is an offer (``ivr.offer``).
OFFERS: Final = frozenset({"faq", "callback"})
#: Who answers a web call put through to the toll-free line, as its page
#: shows it.
TOLLFREE_NAME: Final = "Toll-free line"
LOG_TTL_S: Final = 86_400
_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)

# Append an event only if the log is as long as the writer read it.
_APPEND: Final = """
if redis.call('LLEN', KEYS[1]) ~= tonumber(ARGV[1]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""


# What the IVR needs from the rest of Helpline.


class FaqLike(Protocol):
    id: str
    question: str
    answer: str


class PromptLike(Protocol):
    key: str
    duration_s: float


class MenuSource(Protocol):
    async def entry(self) -> Menu | None: ...

    async def get(self, menu_id: str, version: int) -> Menu: ...


class HoursSource(Protocol):
    async def state_now(self) -> tuple[str, str]: ...


class FaqSource(Protocol):
    async def get_many(self, ids: Iterable[str]) -> Mapping[str, Any]: ...


class PromptSource(Protocol):
    async def render(self, text: str) -> Any: ...

    def cached(self, key: str) -> Any: ...

    async def for_faq(self, entry: Any) -> Any: ...


#: The callback policy: the number as it will be dialled, or NumberError.
NumberPolicy = Callable[[str], str]
ApplyEvent = Callable[[str, CallEvent], Awaitable[None]]
#: Finds a media worker to put a web call through to the toll-free line:
#: the worker's session, or "" (none can take it).
FindBridge = Callable[[], Awaitable[str]]
#: Hands a call to that session (``Switchboard.bridge``).
Bridge = Callable[[str, str, str], Awaitable[bool]]


@dataclass(frozen=True)
class Sources:
    menus: MenuSource
    hours: HoursSource
    faq: FaqSource
    prompts: PromptSource
    number_policy: NumberPolicy
    countries: tuple[str, ...] = ()
    tollfree_number: str = ""
    callback_limits: CallbackLimits = CallbackLimits()


class IvrCalls:
    """Runs the IVR of every web call that is in it, from any node."""

    def __init__(
        self,
        redis: Redis,
        routing: Routing,
        bus: Bus,
        sources: Sources,
        desk: CallbackDesk | None = None,
    ) -> None:
        self.redis = redis
        self.routing = routing
        self.bus = bus
        self.sources = sources
        self.apply: ApplyEvent = _no_apply
        self.find_bridge: FindBridge = _no_bridge
        self.bridge: Bridge | None = None
        self.callbacks = desk or CallbackDesk(
            redis, routing.key, sources.callback_limits, clock=routing.clock
        )
        #: Confirmations, due times and pushes (``gateway.callback_service``).
        self.callback_service: CallbackService | None = None
        #: Where the IVR's steps are recorded (``gateway.events``).
        self.events: EventLog | None = None
        self._append = redis.register_script(_APPEND)
        self._menus: dict[str, Menu] = {}
        #: Per call: (log length, interpreter, timers) after this node's
        #: last event; taken out while in use, so it is never shared.
        self._kept: dict[str, tuple[int, Interpreter, dict[str, int]]] = {}

    async def entry_menu(self) -> Menu | None:
        """The published menu a new call enters, if there is one."""
        menu = await self.sources.menus.entry()
        if menu is not None:
            self._menus.setdefault(_menu_ref(menu), menu)
        return menu

    async def call_fields(self, menu: Menu) -> dict[str, str]:
        """What a new IVR call keeps on its record: menu, hours, start."""
        state, zone = await self.sources.hours.state_now()
        return {
            "menu": _menu_ref(menu),
            "hours": state,
            "time_zone": zone,
            "ivr_started": repr(time.time()),
        }

    async def start(self, call_id: str) -> None:
        await self._feed(call_id, lambda *_: CallStarted(), _STARTING)

    async def answered(self, call_id: str) -> None:
        await self._feed(call_id, lambda *_: AgentAnswered(), _LIVE_OR_ANSWERED)
        await self._disarm(call_id)

    async def ended(self, call_id: str) -> None:
        await self._feed(call_id, lambda *_: CallEnded(), _ANY_STATE)
        await self._disarm(call_id)
        self._kept.pop(call_id, None)

    # The toll-free step of a phone call, as the media worker reports it

    async def journey(self, call_id: str) -> Journey | None:
        """Where the call's IVR has been, from its log (None: no IVR)."""
        interp = await self._interpreter(call_id)
        return interp.journey if interp is not None else None

    async def _interpreter(self, call_id: str) -> Interpreter | None:
        """The call's interpreter as of its log, kept for the next event."""
        call = await self.routing.get_call(call_id)
        if call is None or not call.menu:
            return None
        length, interp, timers = await self._state(
            call, self.routing.key("call", call_id, "ivr")
        )
        self._keep(call_id, length, interp, timers)
        return interp

    async def tollfree_connected(
        self, call_id: str, how: str = "bridged through the trunk"
    ) -> None:
        """The toll-free line answered the phone caller (or took the caller
        by REFER): the call leaves Helpline's hands, with the reason it
        escalated kept on its record."""
        interp = await self._interpreter(call_id)
        if interp is not None:
            await self.escalated(call_id, interp, how)
        await self.record_tollfree(call_id)
        await self._disarm(call_id)
        await self.apply(call_id, CallEvent.TOLLFREE)

    async def record_tollfree(self, call_id: str) -> None:
        """The caller reached the toll-free line (or, on a page, was shown
        its number): one ``tollfree`` event, with the reason ``escalated``
        kept on the call's record."""
        call = await self.routing.get_call(call_id)
        if self.events is None or call is None:
            return
        escalation = json.loads(call.fields.get("escalation") or "{}")
        reason = str(escalation.get("reason") or "menu")
        await self.events.record(
            "tollfree", call_id, reason=reason, **identity(call.fields)
        )

    async def sent_to_line(self, call_id: str) -> bool:
        """An agent sends the caller to the toll-free line. Only a call
        whose IVR made both offers may go (as from a menu's toll-free node);
        True once the IVR knows, with the escalation kept on the record."""
        interp = await self._interpreter(call_id)
        if interp is None or not {"faq", "callback"} <= set(interp.journey.offers):
            return False
        await self._feed(call_id, lambda *_: SentToLine(), _ANY_STATE, "agent")
        await self.escalated(call_id, interp, "transferred by an agent", by="agent")
        return True

    async def tollfree_failed(self, call_id: str, reason: str) -> None:
        """The line failed: a call a worker answered for it (a web caller
        put through, a caller an agent sent on) comes back to the IVR, and
        the IVR says so and offers the callback again."""
        await self.apply(call_id, CallEvent.BRIDGE_FAILED)
        await self._feed(
            call_id, lambda *_: TransferFailed(reason), _LIVE, "media worker"
        )

    async def escalated(
        self, call_id: str, interp: Interpreter, how: str, by: str = ""
    ) -> None:
        """Keep why the call went to the toll-free line: the node that sent
        it (or `by` an agent), the offers made before, and how the line was
        reached."""
        journey = interp.journey
        call = await self.routing.get_call(call_id)
        if not by:  # the line answered: who sent the caller there stays
            earlier = json.loads(call.fields.get("escalation") or "{}") if call else {}
            by = str(earlier.get("by") or "menu")
        hours = call_field(call, "hours") if call else ""
        record = {
            "node": interp.node_id,
            "by": by,
            "reason": tollfree_reason(interp.menu, journey.nodes, hours or "open", by),
            "offers": list(journey.offers),
            "faq_answers": len(journey.faq_answers),
            "choices": [list(c) for c in journey.choices],
            "how": how,
        }
        await self.routing.set_call_fields(call_id, escalation=json.dumps(record))
        logger.info(
            "call escalated to the toll-free line (%s)", how, extra={"call_id": call_id}
        )

    # Requests from the page

    async def request(self, session: Session, message: Message) -> None:
        call = await self.routing.get_call(message["call_id"])
        if call is None or call.customer != session.id:
            raise ProtocolError(
                "unknown-call", "no such call in this session", message.get("id")
            )
        kind = message["type"]
        if kind == "ivr.callback" and not message.get("decline"):
            message = {**message, "number": self._checked_number(message)}
        decide = _REQUESTS[kind](message)
        # A page reports its last prompt finished after the call ended: usual.
        source = "page's prompt" if kind == "ivr.prompt_done" else "page"
        await self._feed(call.id, decide, _LIVE, source, read=call)
        if kind == "ivr.prompt_done":  # its guard is not needed any more
            await self._disarm(call.id, [_guard(call.id, message["play"])])

    def _checked_number(self, message: Message) -> str:
        try:
            return self.sources.number_policy(message.get("number", ""))
        except NumberError as refused:
            raise ProtocolError(
                "invalid-number", str(refused), message.get("id")
            ) from None

    # Timers

    async def timer_fired(self, target: str) -> None:
        """``<call>:<name>:<gen>`` came due (claimed by this node alone)."""
        call_id, name, gen = _parse_timer(target)
        if name.startswith("prompt-"):
            play = int(name.removeprefix("prompt-"))
            await self._feed(call_id, lambda *_: PromptFinished(play), _LIVE, TIMER)
            return
        if name == interpreter_module.QUEUE and not await self._overflow(call_id, gen):
            return

        def decide(interp: Interpreter, timers: Mapping[str, int]) -> Event | None:
            if timers.get(name) != gen:
                return None  # cancelled or restarted since
            return TimerFired(name)

        await self._feed(call_id, decide, _LIVE, TIMER)

    async def _overflow(self, call_id: str, gen: int) -> bool:
        """Take a call that waited too long out of the queue, back to the IVR."""
        call = await self.routing.get_call(call_id)
        if call is None or call.state not in (CallState.QUEUED, CallState.RINGING):
            return False
        if call.state == CallState.RINGING:
            # An agent is being rung: give the ring its chance first.
            await self._arm(call_id, interpreter_module.QUEUE, gen, RINGING_RETRY_S)
            return False
        await self.apply(call_id, CallEvent.OVERFLOW)
        after = await self.routing.get_call(call_id)
        return after is not None and after.state == CallState.IVR

    async def _arm(self, call_id: str, name: str, gen: int, seconds: float) -> None:
        member = f"ivr:{call_id}:{name}:{gen}"
        armed = self.routing.key("call", call_id, "ivr-timers")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self.routing.key("timers"), {member: time.time() + seconds})
            pipe.sadd(armed, member)
            pipe.expire(armed, LOG_TTL_S)
            await pipe.execute()

    async def _disarm(self, call_id: str, members: list[str] | None = None) -> None:
        """Take timers out of the shared set: those named, or every one the
        call armed (its IVR is over), so none fires for nothing later."""
        armed = self.routing.key("call", call_id, "ivr-timers")
        if members is None:
            members = [str(m) for m in await self.redis.smembers(armed)]
        if not members:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self.routing.key("timers"), *members)
            pipe.srem(armed, *members)
            await pipe.execute()

    # The replay and the append

    async def _feed(
        self,
        call_id: str,
        decide: Callable[[Interpreter, Mapping[str, int]], Event | None],
        states: frozenset[CallState],
        source: str = "page",
        read: Call | None = None,
    ) -> None:
        """Feed one event to the call's IVR; `read` is the call's record if
        the caller has just read it (a lost race reads it again)."""
        key = self.routing.key("call", call_id, "ivr")
        for _ in range(MAX_RACES):
            call = read or await self.routing.get_call(call_id)
            read = None
            if call is None or not call.menu or call.state not in states:
                logger.log(
                    logging.INFO if source == "page" else logging.DEBUG,
                    "IVR event from the %s for a call not in the IVR ignored",
                    source,
                    extra={"call_id": call_id},
                )
                return
            length, interp, timers = await self._state(call, key)
            if length >= MAX_EVENTS:
                await self._too_long(call)
                return
            event = decide(interp, timers)
            if event is None:
                self._keep(call_id, length, interp, timers)
                return
            visited = len(interp.journey.nodes)
            actions = interp.handle(event)
            entry = json.dumps(encode_event(event))
            if await self._append(keys=[key], args=[length, entry, LOG_TTL_S]):
                for action in actions:
                    _track(timers, action, length)
                self._keep(call_id, length + 1, interp, timers)
                await self._record_nodes(call, interp, visited)
                await self._carry_out(call, interp, actions, length)
                return
        raise RuntimeError(f"IVR of call {call_id} kept changing under an event")

    async def _record_nodes(
        self, call: Call, interp: Interpreter, visited: int
    ) -> None:
        """The nodes the call entered with its last event, and the offers
        their entering made."""
        if self.events is None:
            return
        base = identity(call.fields)
        for node_id in interp.journey.nodes[visited:]:
            await self.events.record("ivr.node", call.id, node=node_id, **base)
            kind = interp.menu.node(node_id).kind
            if kind in OFFERS:
                await self.events.record(
                    "ivr.offer", call.id, node=node_id, detail=kind, **base
                )

    async def _state(
        self, call: Call, key: str
    ) -> tuple[int, Interpreter, dict[str, int]]:
        """The call's interpreter as of its whole log: the one this node
        kept after the last event, if the log has not grown since (the
        usual case: one LLEN), else replayed from the log."""
        kept = self._kept.pop(call.id, None)
        if kept is not None and kept[0] == await self.redis.llen(key):
            return kept
        log = [str(item) for item in await self.redis.lrange(key, 0, -1)]
        return (len(log), *await self._replay(call, log))

    def _keep(
        self, call_id: str, length: int, interp: Interpreter, timers: dict[str, int]
    ) -> None:
        if len(self._kept) >= MAX_KEPT:
            self._kept.pop(next(iter(self._kept)))  # the oldest
        self._kept[call_id] = (length, interp, timers)

    async def _too_long(self, call: Call) -> None:
        """A call that has sent the IVR more events than any caller needs
        (a stuck or hostile page): the IVR ends it rather than grow."""
        logger.warning(
            "IVR ended after %d events", MAX_EVENTS, extra={"call_id": call.id}
        )
        if call.state == CallState.IVR:
            await self.apply(call.id, CallEvent.IVR_HANGUP)

    async def _replay(
        self, call: Call, log: list[str]
    ) -> tuple[Interpreter, dict[str, int]]:
        menu = await self._menu(call.menu)
        hours = call_field(call, "hours") or "open"
        return replay(menu, call.id, hours, log, self.sources.number_policy)

    async def _menu(self, ref: str) -> Menu:
        menu = self._menus.get(ref)
        if menu is None:
            menu_id, _, version = ref.rpartition("@")
            menu = await self.sources.menus.get(menu_id, int(version))
            if len(self._menus) > 64:
                self._menus.clear()
            self._menus[ref] = menu
        return menu

    # Carrying out what the interpreter asked for

    async def _carry_out(
        self, call: Call, interp: Interpreter, actions: list[Action], gen: int
    ) -> None:
        out = _Outbox(self, call, interp, gen)
        for action in actions:
            await out.do(action)


class _Outbox:
    """The actions of one event, carried out for one call."""

    def __init__(
        self, calls: IvrCalls, call: Call, interp: Interpreter, gen: int
    ) -> None:
        self.calls = calls
        self.call = call
        self.interp = interp
        self.gen = gen
        self.callback_requested = call_field(call, "callback") == "1"

    async def do(self, action: Action) -> None:
        handler = _DOERS.get(type(action))
        if handler is not None:
            await handler(self, action)

    @property
    def identity(self) -> dict[str, str]:
        return identity(self.call.fields)

    async def record(self, kind: str, **fields: str) -> None:
        if self.calls.events is not None:
            await self.calls.events.record(kind, self.call.id, **fields)

    async def send(self, event: Message) -> None:
        await self.calls.bus.deliver(
            self.call.customer, {**event, "call_id": self.call.id}
        )

    async def play(self, action: Action) -> None:
        assert isinstance(action, PlayPrompt)
        sources = self.calls.sources
        event: Message = {
            "type": "ivr.prompt",
            "play": action.play,
            "node": action.node,
            "interruptible": action.interruptible,
        }
        if action.faq_id is not None:
            entries = await sources.faq.get_many([action.faq_id])
            entry = entries.get(action.faq_id)
            if entry is None:
                logger.warning(
                    "FAQ answer %s is missing; skipped",
                    action.faq_id,
                    extra={"call_id": self.call.id},
                )
                await self.calls._feed(
                    self.call.id, lambda *_: PromptFinished(action.play), _LIVE
                )
                return
            event["text"] = entry.answer
            event["faq"] = {"id": entry.id, "question": entry.question}
            await self.record(
                "faq.viewed", node=action.node, detail=entry.id, **self.identity
            )
            key, seconds = await self.audio(
                sources.prompts.for_faq(entry), entry.answer
            )
        else:
            event["text"] = action.text or ""
            key, seconds = await self.audio(self.speech(action), event["text"])
        event["audio"] = f"/api/prompts/{key}.ogg" if key else None
        event["duration_s"] = round(seconds, 2)
        await self.send(event)
        guard = seconds + PROMPT_SLACK_S
        await self.calls._arm(self.call.id, f"prompt-{action.play}", 0, guard)

    async def speech(self, action: PlayPrompt) -> Any:
        """The operator's recording of this prompt, or else its TTS."""
        prompts = self.calls.sources.prompts
        key = self.interp.menu.recording(action.node, action.text or "")
        recorded = prompts.cached(key) if key else None
        if key and recorded is None:
            logger.warning(
                "recording %s of node %s is missing; spoken instead",
                key,
                action.node,
                extra={"call_id": self.call.id},
            )
        return recorded or await prompts.render(action.text or "")

    async def audio(self, rendering: Awaitable[Any], text: str) -> tuple[str, float]:
        """The prompt's cache key and length; on a fault no audio, and the
        time it takes to read the text, so the page shows it instead."""
        try:
            prompt = await rendering
            return str(prompt.key), float(prompt.duration_s)
        except Exception:
            logger.exception(
                "prompt could not be rendered; text only",
                extra={"call_id": self.call.id},
            )
            return "", max(2.0, len(text.split()) / READING_WORDS_PER_S)

    async def stop(self, action: Action) -> None:
        assert isinstance(action, StopPrompt)
        await self.send({"type": "ivr.stop_prompt", "play": action.play})
        await self.calls._disarm(self.call.id, [_guard(self.call.id, action.play)])

    async def menu(self, action: Action) -> None:
        assert isinstance(action, ShowMenu)
        options = [{"digits": d, "label": label} for d, label in action.options]
        await self.send({"type": "ivr.menu", "node": action.node, "options": options})

    async def callback_form(self, action: Action) -> None:
        assert isinstance(action, ShowCallbackForm)
        node = self.interp.menu.node(action.node)
        assert isinstance(node, CallbackNode)
        await self.send(
            {
                "type": "ivr.callback_form",
                "node": action.node,
                "windows": list(action.windows),
                "countries": list(self.calls.sources.countries),
                "time_zone": call_field(self.call, "time_zone"),
                "accept_digit": node.accept_digit,
                "decline_digit": node.decline_digit,
            }
        )

    async def collect(self, action: Action) -> None:
        assert isinstance(action, CollectDigits)
        await self.send(
            {
                "type": "ivr.collect",
                "node": action.node,
                "max_digits": action.max_digits,
                "terminator": action.terminator,
            }
        )

    async def start_timer(self, action: Action) -> None:
        assert isinstance(action, StartTimer)
        await self.calls._arm(self.call.id, action.name, self.gen, action.seconds)

    async def route(self, action: Action) -> None:
        assert isinstance(action, RouteToQueue)
        journey = await journey_for_agent(self.calls, self.call, self.interp)
        journey["skill"] = action.skill
        await self.calls.routing.set_call_fields(
            self.call.id, skill=action.skill, journey=json.dumps(journey)
        )
        logger.info(
            "IVR routed the call to queue %s",
            action.skill,
            extra={"call_id": self.call.id},
        )
        await self.calls.apply(self.call.id, CallEvent.QUEUE)

    async def callback(self, action: Action) -> None:
        """Keep the request, tell the page, then tell the interpreter."""
        assert isinstance(action, RequestCallback)
        calls, call = self.calls, self.call
        service = calls.callback_service
        web = call_field(call, "channel") != "phone"
        window = action.window or ""
        extra = {"call_id": call.id}
        due, when = time.time(), ""
        if service is not None:
            try:
                due = await service.due(window, "")
            except ProtocolError as exc:
                logger.info("callback window refused: %s", exc.message, extra=extra)
                await self._refused(action, "invalid-window", exc.message)
                return
            when = await service.when(due, window)
        journey = await journey_for_agent(calls, call, self.interp)
        node = self.interp.menu.node(action.node)
        address = ""
        if web:
            address = text(
                await calls.redis.hget(
                    calls.bus.key("session", call.customer), "address"
                )
            )
        kept = await calls.callbacks.keep(
            Request(
                number=action.number,
                window=window,
                due_at=due,
                topic=_topic(journey),
                journey=json.dumps(journey),
                consent=getattr(node, "prompt", None) or "",
                session=call.customer if web else "",
                call_id=call.id,
                visit=call_field(call, "visit"),
                channel=call_field(call, "channel") or "web",
                node=action.node,
                menu=call.menu,
                time_zone=call_field(call, "time_zone"),
            ),
            address=address,
        )
        if not kept.verdict.kept:
            logger.warning("callback request refused: %s", kept.verdict, extra=extra)
            await self._refused(action, str(kept.verdict), kept.verdict.sentence)
            return
        await calls.routing.set_call_fields(call.id, callback="1")
        self.callback_requested = True
        logger.info("callback request %s", kept.verdict, extra=extra)
        await self.send({"type": "ivr.callback_requested", "window": action.window})
        if service is not None and web:
            await service.answer_kept(call.customer, kept, None)
        elif service is not None:
            await service.tell_agents()
        await calls._feed(call.id, lambda *_: CallbackKept(when), _LIVE)

    async def _refused(
        self, action: RequestCallback, limit: str, sentence: str
    ) -> None:
        await self.send(
            {
                "type": "ivr.callback_refused",
                "node": action.node,
                "code": "invalid-window" if limit == "invalid-window" else LIMIT_CODE,
                "limit": limit,
                "message": sentence,
            }
        )
        answer = CallbackRefused(limit)
        await self.calls._feed(self.call.id, lambda *_: answer, _LIVE)

    async def tollfree(self, action: Action) -> None:
        assert isinstance(action, TransferToTollFree)
        number = self.calls.sources.tollfree_number
        tollfree: Message = {"type": "ivr.tollfree", "node": action.node}
        if call_field(self.call, "channel") == "phone":
            await self.send({**tollfree, "number": number})
            return  # the media worker dials, then reports how it went
        worker = await self.calls.find_bridge()
        bridge = self.calls.bridge
        if worker and bridge is not None:
            # A media worker answers for the line and dials it; if the line
            # fails, it feeds TransferFailed back (the callback again).
            await self.send({**tollfree, "number": number, "bridged": True})
            await self.calls.escalated(self.call.id, self.interp, "put through")
            if await bridge(self.call.id, worker, TOLLFREE_NAME):
                return
        await self.send({**tollfree, "number": number})
        await self.calls.escalated(self.call.id, self.interp, "shown the number")
        await self.calls.record_tollfree(self.call.id)
        await self.calls.apply(self.call.id, CallEvent.TOLLFREE)

    async def hang_up(self, action: Action) -> None:
        assert isinstance(action, HangUp)
        event = CallEvent.CALLBACK if self.callback_requested else CallEvent.IVR_HANGUP
        await self.calls.apply(self.call.id, event)


_Doer = Callable[[_Outbox, Action], Awaitable[None]]
_DOERS: Final[dict[type, _Doer]] = {
    PlayPrompt: _Outbox.play,
    StopPrompt: _Outbox.stop,
    ShowMenu: _Outbox.menu,
    ShowCallbackForm: _Outbox.callback_form,
    CollectDigits: _Outbox.collect,
    StartTimer: _Outbox.start_timer,
    RouteToQueue: _Outbox.route,
    RequestCallback: _Outbox.callback,
    TransferToTollFree: _Outbox.tollfree,
    HangUp: _Outbox.hang_up,
    # CancelTimer: a cancelled timer is dropped as stale when it comes due.
    # LeaveQueue: the call left the queue before the overflow was fed.
}

_LIVE: Final = frozenset({CallState.IVR, CallState.QUEUED, CallState.RINGING})
_LIVE_OR_ANSWERED: Final = _LIVE | {CallState.ANSWERED}
_STARTING: Final = frozenset({CallState.IVR})
_ANY_STATE: Final = frozenset(CallState)


async def _no_bridge() -> str:
    return ""


def _topic(journey: Mapping[str, Any]) -> str:
    """What a callback is about: the queue's skill, else the last choice."""
    if journey.get("skill"):
        return str(journey["skill"])
    choices = journey.get("choices") or []
    return str(choices[-1]["label"] or "") if choices else ""


async def journey_for_agent(
    calls: IvrCalls, call: Call, interp: Interpreter
) -> dict[str, Any]:
    """The screen pop: where the caller went and what the IVR gave them."""
    journey = interp.journey
    menu = interp.menu
    entries = await calls.sources.faq.get_many(journey.faq_answers)
    started = float(call_field(call, "ivr_started") or time.time())
    return {
        "menu": menu.id,
        "version": menu.version,
        "nodes": [{"id": n, "kind": menu.node(n).kind} for n in journey.nodes],
        "choices": [
            {"node": node, "digits": digits, "label": menu.option_label(node, digits)}
            for node, digits in journey.choices
        ],
        "faq": [
            {"id": faq_id, "question": entries[faq_id].question}
            for faq_id in dict.fromkeys(journey.faq_answers)
            if faq_id in entries
        ],
        "offers": list(journey.offers),
        "ivr_seconds": round(time.time() - started, 1),
    }


# Requests from the page, as interpreter events.


def _node_is(interp: Interpreter, message: Message) -> None:
    if interp.node_id != message["node"]:
        raise ProtocolError(
            "bad-state",
            f"the call is no longer at {message['node']}; use what is shown now",
            message.get("id"),
        )


def _digit(message: Message) -> Callable[..., Event | None]:
    return lambda *_: Digit(message["digit"])


def _choose(message: Message) -> Callable[..., Event | None]:
    def decide(interp: Interpreter, timers: Mapping[str, int]) -> Event | None:
        _node_is(interp, message)
        return FormSubmitted("menu", {"choice": message["digits"]})

    return decide


def _callback(message: Message) -> Callable[..., Event | None]:
    def decide(interp: Interpreter, timers: Mapping[str, int]) -> Event | None:
        _node_is(interp, message)
        if message.get("decline"):
            return FormSubmitted("callback", {"decline": "1"})
        fields = {"number": message["number"]}
        if message.get("window"):
            fields["window"] = message["window"]
        return FormSubmitted("callback", fields)

    return decide


def _prompt_done(message: Message) -> Callable[..., Event | None]:
    return lambda *_: PromptFinished(message["play"])


_REQUESTS: Final[dict[str, Callable[[Message], Callable[..., Event | None]]]] = {
    "ivr.digit": _digit,
    "ivr.choose": _choose,
    "ivr.callback": _callback,
    "ivr.prompt_done": _prompt_done,
}


def replay(
    menu: Menu,
    call_id: str,
    hours: str,
    log: list[str],
    number_policy: NumberPolicy,
) -> tuple[Interpreter, dict[str, int]]:
    """A call's interpreter rebuilt from its event log, and its running
    timers (name -> index of the event that started each)."""
    interp = Interpreter(
        menu,
        call_id=call_id,
        hours_state=lambda _: hours,
        clock=lambda: _EPOCH,
        check_number=number_policy,
    )
    timers: dict[str, int] = {}
    with _replaying():
        for index, raw in enumerate(log):
            for action in interp.handle(decode_event(json.loads(raw))):
                _track(timers, action, index)
    return interp, timers


# The event log's format.


def encode_event(event: Event) -> dict[str, Any]:
    match event:
        case Digit(digit):
            return {"k": "digit", "d": digit}
        case PromptFinished(play):
            return {"k": "prompt", "p": play}
        case TimerFired(name):
            return {"k": "timer", "n": name}
        case FormSubmitted(form, fields):
            return {"k": "form", "f": form, "x": dict(fields)}
        case AgentAnswered():
            return {"k": "answered"}
        case CallEnded():
            return {"k": "ended"}
        case TransferFailed(reason):
            return {"k": "transfer-failed", "r": reason}
        case SentToLine():
            return {"k": "sent-to-line"}
        case CallbackKept(when):
            return {"k": "kept", "w": when}
        case CallbackRefused(code):
            return {"k": "refused", "c": code}
    return {"k": "start"}


def decode_event(data: dict[str, Any]) -> Event:
    kind = data["k"]
    if kind == "digit":
        return Digit(data["d"])
    if kind == "prompt":
        return PromptFinished(int(data["p"]))
    if kind == "timer":
        return TimerFired(data["n"])
    if kind == "form":
        return FormSubmitted(data["f"], data["x"])
    if kind == "answered":
        return AgentAnswered()
    if kind == "ended":
        return CallEnded()
    if kind == "transfer-failed":
        return TransferFailed(str(data["r"]))
    if kind == "sent-to-line":
        return SentToLine()
    if kind == "kept":
        return CallbackKept(str(data.get("w", "")))
    if kind == "refused":
        return CallbackRefused(data["c"])
    return CallStarted()


def _track(timers: dict[str, int], action: Action, index: int) -> None:
    if isinstance(action, StartTimer):
        timers[action.name] = index
    elif isinstance(action, CancelTimer):
        timers.pop(action.name, None)


def _guard(call_id: str, play: int) -> str:
    """The timer that ends prompt `play` if the page never says it ended
    (prompt numbers are unique in a call, so it needs no generation)."""
    return f"ivr:{call_id}:prompt-{play}:0"


def _parse_timer(target: str) -> tuple[str, str, int]:
    call_id, name, gen = target.split(":")
    return call_id, name, int(gen)


def _menu_ref(menu: Menu) -> str:
    return f"{menu.id}@{menu.version}"


def call_field(call: Call, name: str) -> str:
    return call.fields.get(name, "")


@contextmanager
def _replaying() -> Any:
    """Silence the interpreter while it replays what it logged before."""
    log = logging.getLogger(interpreter_module.__name__)
    before = log.disabled
    log.disabled = True
    try:
        yield
    finally:
        log.disabled = before


async def _no_apply(call_id: str, event: CallEvent) -> None:
    raise RuntimeError("IvrCalls.apply is not wired to the switchboard")

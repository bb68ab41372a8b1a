"""The callback desk: requests kept in Redis until their outcome, offered
to agents, claimed and dialled (``docs/callbacks.md`` is the design).

Whoever may give a number for a callback could make the desk ring the
same number again and again, or ring many numbers. So besides the number
policy (``ivr.numbers``: countries, no premium-rate numbers), a request is
kept only while its number has had fewer than ``per_number`` requests that
day, all numbers together fewer than ``per_day`` (days in UTC) and its
address fewer than ``per_address`` that hour. One Lua script checks and
counts the limits, merges a request into the open callback of the same
number or writes a new one, indexes its due time and appends it to the
``callbacks`` stream: two nodes keeping requests at the same moment never
go over a limit, a refused request leaves nothing, and nothing is queued
twice.

Every change afterwards is one Lua script with a compare-and-set on the
callback's state (the rows of ``signaling.callbacks``). The script that
writes a final state also acknowledges the request's entry in the stream's
consumer group ``desk``: the entry stays pending from the moment a node's
desk read it until its outcome is recorded. Claims and trunk dials are
scripts too: two agents never take the same callback, and an attempt is
counted exactly once. The scripts' texts are in ``gateway.callback_scripts``;
the consumer groups of the request and trunk-dial streams are read by
``gateway.callback_streams`` (the desk's ``streams``).

Keys that name a number hold its SHA-256 digest, so key names do not show
phone numbers. (Phone numbers are few enough to be found from their digest
by trying them all: this keeps numbers out of sight in key listings, it
does not make them secret.)
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from redis.asyncio import Redis

from gateway.callback_scripts import CLAIM, KEEP, MOVE, OFFER, SKIP, Script
from gateway.callback_streams import DESK_GROUP, CallbackStreams
from gateway.events import EventLog
from signaling.bus import text, text_fields
from signaling.callbacks import (
    FINAL,
    UNREACHED_REASONS,
    CallbackEvent,
    CallbackState,
    after_attempt,
    step,
)

logger = logging.getLogger(__name__)

STREAM_MAX: Final = 100_000
#: Counters outlive their day by one (a day in UTC is in the key's name).
COUNTER_TTL_S: Final = 2 * 86_400
#: A callback's record is kept this long after its final outcome (reports).
RECORD_TTL_S: Final = 30 * 86_400
#: The code a refused request is reported with, whichever limit refused it.
LIMIT_CODE: Final = "callback-limit"
#: A skipped callback is not offered to the same agent again for this long.
SKIP_HOLD_S: Final = 60.0
#: How many callbacks an agent's list shows in each part.
LIST_LIMIT: Final = 50
#: A final state as ``callback.done`` tells it.
_DONE: Final = {
    CallbackState.DONE: "reached",
    CallbackState.FAILED: "failed",
    CallbackState.CANCELLED: "cancelled",
}


class Verdict(enum.StrEnum):
    KEPT = "kept"
    MERGED = "merged"  # joined the open callback of the same number
    NUMBER_LIMIT = "number-limit"
    DAY_LIMIT = "day-limit"
    ADDRESS_LIMIT = "address-limit"

    @property
    def kept(self) -> bool:
        return self in (Verdict.KEPT, Verdict.MERGED)

    @property
    def sentence(self) -> str:
        """What the caller is told; never the number or its digits."""
        return _SENTENCES.get(self, "")


_SENTENCES: Final = {
    Verdict.NUMBER_LIMIT: (
        "We cannot take another callback request for this number today"
    ),
    Verdict.DAY_LIMIT: "We cannot take more callback requests today",
    Verdict.ADDRESS_LIMIT: (
        "Too many callback requests came from your connection; "
        "please try again in an hour"
    ),
}


@dataclass(frozen=True)
class CallbackLimits:
    per_number: int = 3  # requests per number and day
    per_day: int = 500  # requests per day, all numbers together
    per_address: int = 10  # requests per client address and hour


@dataclass(frozen=True)
class CallbackPolicy:
    """How callbacks are tried: attempts, backoff, offers and wrap-up."""

    max_attempts: int = 3
    retry_s: float = 120.0  # the first retry's wait; doubles after each
    offer_s: float = 20.0  # an offer to an agent lapses after this
    ring_s: float = 45.0  # a dial nobody answers ends after this
    trunk_ring_s: float = 75.0  # the same over the trunk (its own timeout + 15 s)
    wrap_up_s: float = 300.0  # the agent has this long to record the outcome
    live_first: bool = True  # live callers before due callbacks


@dataclass(frozen=True)
class Request:
    """A callback request as kept (the number already in E.164)."""

    number: str
    window: str = ""
    date: str = ""
    due_at: float = 0.0
    topic: str = ""
    journey: str = ""  # JSON
    consent: str = ""
    session: str = ""  # the customer's page session; "" for a phone caller
    call_id: str = ""  # the IVR call it came from, if any
    node: str = ""
    menu: str = ""
    time_zone: str = ""
    source: str = "ivr"  # "ivr" (either form of the menu) or "form" (the widget's)
    visit: str = ""  # the page visit that asked (the widget's id), if any
    channel: str = ""  # "web" or "phone": where the request came from


@dataclass(frozen=True)
class Kept:
    verdict: Verdict
    callback: str = ""
    token: str = ""


class ClaimError(Exception):
    """A claim that cannot go ahead; `code` is the protocol's error code."""

    def __init__(self, code: str, sentence: str) -> None:
        super().__init__(sentence)
        self.code = code


_CLAIM_SENTENCES: Final = {
    "callback-taken": "Another agent has taken this callback",
    "not-due": "This callback is not due yet",
    "unknown-callback": "There is no such callback",
    "agent-busy": "Finish or leave your current call first",
}


def number_digest(number: str) -> str:
    return hashlib.sha256(number.encode()).hexdigest()


def number_hint(number: str) -> str:
    """What an agent's list shows of a number: its last two digits."""
    return "\u2022\u2022\u2022\u2022" + number[-2:]


class CallbackDesk:
    """Keeps, schedules and hands out callbacks; see the module's doc."""

    def __init__(
        self,
        redis: Redis,
        key: Callable[..., str],
        limits: CallbackLimits = CallbackLimits(),
        policy: CallbackPolicy = CallbackPolicy(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.key = key
        self.limits = limits
        self.policy = policy
        self.clock = clock
        self.prefix = key("x")[:-1]
        self._keep = Script(redis, KEEP)
        self._move = Script(redis, MOVE)
        self._offer = Script(redis, OFFER)
        self._skip = Script(redis, SKIP)
        self._claim = Script(redis, CLAIM)
        #: The consumer groups of the request and trunk-dial streams.
        self.streams = CallbackStreams(redis, key, restore=self._restore)
        #: Where requests and final outcomes are recorded (``gateway.events``).
        self.events: EventLog | None = None

    # Keys

    @property
    def waiting(self) -> str:
        return self.key("callbacks", "waiting")

    def record_key(self, callback: str) -> str:
        return self.key("callback", callback)

    def counter_keys(self, number: str) -> tuple[str, str]:
        """The keys that count today's requests: `number`'s, and all."""
        day = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%d")
        return (
            self.key("callbacks", day, number_digest(number)),
            self.key("callbacks", day),
        )

    def address_key(self, address: str) -> str:
        hour = int(self.clock() // 3600)
        digest = hashlib.sha256(address.encode()).hexdigest()
        return self.key("callbacks", "addr", str(hour), digest)

    # Requests

    async def keep(self, request: Request, address: str = "") -> Kept:
        """Keep `request` unless a limit refuses it; merge it into the open
        callback of its number if there is one. `address` is the page's
        client address ("" for a phone caller, whose number is its limit)."""
        callback = "cb-" + secrets.token_hex(8)
        token = secrets.token_urlsafe(18)
        now = self.clock()
        number_key, day_key = self.counter_keys(request.number)
        keys = [
            number_key,
            day_key,
            self.address_key(address) if address else number_key,
            self.streams.stream,
            self.key("callbacks", "open"),
            self.waiting,
            self.record_key(callback),
            self.key("callbacks", "merged", callback),
        ]
        fields = {
            "number": request.number,
            "window": request.window,
            "date": request.date,
            "topic": request.topic,
            "journey": request.journey,
            "consent": request.consent,
            "session": request.session,
            "call_id": request.call_id,
            "node": request.node,
            "menu": request.menu,
            "time_zone": request.time_zone,
            "source": request.source,
            "visit": request.visit,
            "channel": request.channel,
            "max_attempts": str(self.policy.max_attempts),
        }
        args: list[str | int | float] = [
            self.limits.per_number,
            self.limits.per_day,
            self.limits.per_address,
            COUNTER_TTL_S,
            2 * 3600,
            STREAM_MAX,
            number_digest(request.number),
            callback,
            token,
            repr(now),
            repr(request.due_at or now),
        ]
        for name, value in fields.items():
            args += [name, value]
        answer = [text(part) for part in await self._keep(keys=keys, args=args)]
        verdict = Verdict(answer[0])
        if not verdict.kept:
            return Kept(verdict)
        logger.info(
            "callback request %s",
            verdict,
            extra={"call_id": request.call_id, "callback": answer[1]},
        )
        if self.events is not None:
            await self.events.record(
                "callback.requested",
                request.call_id,
                detail="new" if verdict == Verdict.KEPT else "merged",
                visit=request.visit,
                channel=request.channel,
                menu=request.menu,
            )
        return Kept(verdict, answer[1], answer[2])

    async def get(self, callback: str) -> dict[str, str]:
        if not callback.startswith("cb-") or len(callback) > 40:
            return {}
        return text_fields(await self.redis.hgetall(self.record_key(callback)))

    async def check_token(self, callback: str, token: str) -> dict[str, str]:
        """The record, if `token` is the customer's secret for it."""
        record = await self.get(callback)
        if not record or not secrets.compare_digest(record.get("token", ""), token):
            return {}
        return record

    async def follow(self, callback: str, session: str) -> None:
        """Ring (and tell) `session` for this callback from now on."""
        await self.redis.hset(self.record_key(callback), "session", session)

    # Rows of the machine

    async def move(
        self,
        callback: str,
        event: CallbackEvent,
        *,
        want: CallbackState,
        call_id: str = "",
        due_at: float | None = None,
        **fields: str,
    ) -> CallbackState | None:
        """Apply `event` to a callback in state `want` (and on `call_id`);
        the state it reached, or None if it was not in that state."""
        row = step(want, event)
        pairs: list[str] = []
        for name, value in fields.items():
            pairs += [name, value]
        # The script picks the row's next state or, with no attempt left,
        # the one `after_attempt` gives then, from the attempts it reads.
        moved = await self._move(
            keys=[
                self.record_key(callback),
                self.waiting,
                self.key("callbacks", "open"),
                self.streams.stream,
                self.key("timers"),
            ],
            args=[
                want,
                call_id,
                row.next_state,
                after_attempt(row, attempts=1, max_attempts=1),
                str(self.policy.max_attempts),
                " ".join(sorted(FINAL)),
                "" if due_at is None else repr(due_at),
                DESK_GROUP,
                repr(self.clock()),
                callback,
                self.prefix,
                str(RECORD_TTL_S),
                *pairs,
            ],
        )
        if not moved:
            return None
        reached, origin, visit, channel, menu = (text(part) for part in moved)
        nxt = CallbackState(reached)
        logger.info(
            "callback %s: %s -> %s",
            event,
            want,
            nxt,
            extra={"call_id": call_id or origin, "callback": callback},
        )
        if nxt in FINAL and self.events is not None:
            await self.events.record(
                "callback.done",
                origin,
                detail=_DONE[nxt],
                visit=visit,
                channel=channel,
                menu=menu,
            )
        return nxt

    async def cancel(self, callback: str) -> CallbackState | None:
        for want in (CallbackState.WAITING, CallbackState.OFFERED):
            done = await self.move(
                callback, CallbackEvent.CANCEL, want=want, outcome="cancelled"
            )
            if done is not None:
                return done
        return None

    async def attempt_answered(self, callback: str, call_id: str) -> bool:
        moved = await self.move(
            callback,
            CallbackEvent.ANSWERED,
            want=CallbackState.DIALLING,
            call_id=call_id,
            answered_at=repr(self.clock()),
        )
        return moved is not None

    async def call_ended(
        self, callback: str, call_id: str, reason: str, retry_at: float
    ) -> CallbackState | None:
        """The attempt's call ended with `reason`: an unreached attempt waits
        again from `retry_at` (or fails, or is cancelled when the customer
        declined); an answered one goes to wrap-up."""
        if reason == "callback-declined":
            return await self.move(
                callback,
                CallbackEvent.CANCEL,
                want=CallbackState.DIALLING,
                call_id=call_id,
                outcome="declined",
                last_result="declined",
            )
        unreached = await self.move(
            callback,
            CallbackEvent.UNREACHED,
            want=CallbackState.DIALLING,
            call_id=call_id,
            due_at=retry_at,
            last_result=UNREACHED_REASONS.get(reason, "failed"),
            outcome="unreachable",
        )
        if unreached is not None:
            if unreached == CallbackState.WAITING:
                await self.redis.hdel(self.record_key(callback), "outcome")
            return unreached
        wrapped = await self.move(
            callback,
            CallbackEvent.CALL_ENDED,
            want=CallbackState.CONNECTED,
            call_id=call_id,
            last_result="reached",
        )
        if wrapped is not None:
            deadline = self.clock() + self.policy.wrap_up_s
            await self.redis.zadd(self.key("timers"), {f"cbwrap:{callback}": deadline})
        return wrapped

    async def record_outcome(
        self, callback: str, agent: str, outcome: str, note: str, retry_at: float
    ) -> CallbackState | None:
        """The agent's word on an attempt that reached the customer."""
        record = await self.get(callback)
        if record.get("agent") != agent:
            return None
        if outcome == "call-again":
            return await self.move(
                callback,
                CallbackEvent.CALL_AGAIN,
                want=CallbackState.WRAP_UP,
                due_at=retry_at,
                note=note,
                outcome="call-again",
            )
        return await self.move(
            callback,
            CallbackEvent.OUTCOME,
            want=CallbackState.WRAP_UP,
            outcome=outcome,
            note=note,
        )

    async def wrap_up_lapsed(self, callback: str) -> CallbackState | None:
        return await self.move(
            callback,
            CallbackEvent.EXPIRE,
            want=CallbackState.WRAP_UP,
            outcome="reached",
        )

    # Offers and claims

    async def offer_due(self) -> list[tuple[str, str]]:
        """(callback, agent) for each due callback now offered to an agent."""
        keys = [
            self.waiting,
            self.key("agents", "available"),
            self.key("timers"),
            self.key("queue"),
        ]
        args = [
            self.prefix,
            repr(self.clock()),
            repr(self.policy.offer_s),
            "1" if self.policy.live_first else "0",
        ]
        flat = [text(x) for x in await self._offer(keys=keys, args=args)]
        return list(zip(flat[0::2], flat[1::2], strict=True))

    async def give_back(self, callback: str, agent: str, *, lapsed: bool) -> bool:
        """An offer skipped by the agent or lapsed (the agent is then away,
        as after a ring timeout)."""
        how = "away" if lapsed else "available-keep-idle"
        done = await self._skip(
            keys=[
                self.record_key(callback),
                self.key("agent", agent),
                self.key("agents", "available"),
                self.key("timers"),
            ],
            args=[callback, agent, repr(self.clock()), how, repr(SKIP_HOLD_S)],
        )
        return bool(done)

    async def claim(
        self, callback: str, agent: str, customer_session: str = ""
    ) -> tuple[str, int]:
        """Claim `callback` for `agent`: the attempt's call (id) and its
        number. With `customer_session` the call rings that page; without,
        it goes to a media worker over the trunk. Raises ClaimError."""
        record = await self.get(callback)
        if not record:
            raise ClaimError("unknown-callback", _CLAIM_SENTENCES["unknown-callback"])
        call_id = "c-" + secrets.token_hex(8)
        now = self.clock()
        ring_s = self.policy.ring_s if customer_session else self.policy.trunk_ring_s
        caller = {"name": "Callback", "number": record.get("number", "")}
        if record.get("topic"):
            caller["topic"] = record["topic"]
        call_fields = {
            "caller": json.dumps(caller),
            "channel": "web" if customer_session else "phone",
            "skill": record.get("topic", ""),
            "journey": record.get("journey", ""),
        }
        args: list[str] = [
            callback,
            agent,
            repr(now),
            call_id,
            repr(now + ring_s),
            str(STREAM_MAX),
            customer_session,
            record.get("number", ""),
        ]
        for name, value in call_fields.items():
            args += [name, value]
        answer = [
            text(x)
            for x in await self._claim(
                keys=[
                    self.record_key(callback),
                    self.waiting,
                    self.key("agent", agent),
                    self.key("agents", "available"),
                    self.key("timers"),
                    self.key("call", call_id),
                    self.streams.dials_stream,
                    self.key("calls", "live"),
                ],
                args=args,
            )
        ]
        if answer[0] != "ok":
            raise ClaimError(answer[0], _CLAIM_SENTENCES.get(answer[0], answer[0]))
        logger.info(
            "callback claimed (attempt %s, %s)",
            answer[1],
            "in the page" if customer_session else "over the trunk",
            extra={"call_id": call_id, "callback": callback, "agent": agent},
        )
        return call_id, int(answer[1])

    # A record Redis lost, written again from its stream entry

    async def _restore(self, entry: str, fields: Mapping[str, str]) -> None:
        callback = fields.get("callback", "")
        if not callback or await self.redis.exists(self.record_key(callback)):
            return
        logger.warning(
            "callback record missing; restored from the stream",
            extra={"callback": callback, "call_id": fields.get("call_id", "")},
        )
        number = fields.get("number", "")
        now = repr(self.clock())
        mapping: dict[Any, Any] = {
            **{k: v for k, v in fields.items() if k != "callback"},
            "state": CallbackState.WAITING.value,
            "attempts": "0",
            "requests": "1",
            "token": secrets.token_urlsafe(18),
            "entry": entry,
            "digest": number_digest(number),
            "due_at": now,
            "created_at": now,
            "updated_at": now,
            "agent": "",
            "call": "",
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.record_key(callback), mapping=mapping)
            pipe.zadd(self.waiting, {callback: float(now)})
            pipe.hsetnx(self.key("callbacks", "open"), number_digest(number), callback)
            await pipe.execute()

    # What agents see

    async def waiting_counts(self) -> tuple[int, int]:
        """How many waiting callbacks are due now, and how many later."""
        now = self.clock()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcount(self.waiting, "-inf", now)
            pipe.zcount(self.waiting, f"({now}", "+inf")
            due, later = await pipe.execute()
        return int(due), int(later)

    async def listing(self, limit: int = LIST_LIMIT) -> dict[str, list[dict[str, Any]]]:
        """Due and upcoming callbacks, for agents' softphones."""
        now = self.clock()
        due_ids = await self.redis.zrangebyscore(
            self.waiting, "-inf", now, start=0, num=limit
        )
        upcoming_ids = await self.redis.zrangebyscore(
            self.waiting, f"({now}", "+inf", start=0, num=limit
        )
        out: dict[str, list[dict[str, Any]]] = {"due": [], "upcoming": []}
        for part, ids in (("due", due_ids), ("upcoming", upcoming_ids)):
            async with self.redis.pipeline(transaction=False) as pipe:
                for callback in ids:
                    pipe.hgetall(self.record_key(text(callback)))
                records = await pipe.execute()
            for callback, raw in zip(ids, records, strict=True):
                record = text_fields(raw)
                if record:
                    out[part].append(summary(text(callback), record))
        return out


def summary(callback: str, record: Mapping[str, str]) -> dict[str, Any]:
    """A callback as an agent's list shows it (the number only as a hint)."""
    try:
        journey = json.loads(record.get("journey") or "{}")
    except ValueError:
        journey = {}
    return {
        "id": callback,
        "state": record.get("state", ""),
        "due_at": float(record.get("due_at") or 0),
        "window": record.get("window", ""),
        "date": record.get("date", ""),
        "topic": record.get("topic", ""),
        "journey": journey,
        "attempts": int(record.get("attempts") or 0),
        "max_attempts": int(record.get("max_attempts") or 0),
        "requests": int(record.get("requests") or 1),
        "number_hint": number_hint(record.get("number", "")),
        **({"agent": record["agent"]} if record.get("agent") else {}),
        **({"last_result": record["last_result"]} if record.get("last_result") else {}),
    }

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
counted exactly once.

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
from redis.exceptions import NoScriptError, ResponseError

from gateway.events import EventLog
from gateway.routing import SETTLE_AGENT, TAKES
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
DESK_GROUP: Final = "desk"
DIALS_GROUP: Final = "workers"
#: A skipped callback is not offered to the same agent again for this long.
SKIP_HOLD_S: Final = 60.0
#: Pending entries read (and taken over) in one command.
PENDING_PAGE: Final = 1000
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


@dataclass(frozen=True)
class Dial:
    """One trunk dial for a media worker (an entry of ``callbacks:dials``)."""

    entry: str
    callback: str
    call_id: str
    attempt: int
    number: str


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


# KEYS: number counter, day counter, address counter, stream, open index,
# waiting index, the new callback's hash, the request's merge mark.
# ARGV: per-number, per-day, per-address limits, counter TTL, address TTL,
# stream length, digest, new id, token, now, due_at, then field pairs.
#
# The client retries a command whose connection broke, and the first try
# may have run (Redis died after writing it, before answering): a request
# whose callback exists, or whose merge mark does, is answered as it was
# the first time and counts nothing again.
_KEEP: Final = """
local n_key, day_key, addr_key, stream, open, waiting, new_key, mark =
      unpack(KEYS)
local per_number, per_day, per_addr = tonumber(ARGV[1]), tonumber(ARGV[2]),
      tonumber(ARGV[3])
local ttl, addr_ttl, maxlen = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local digest, id, token, now, due = ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]
local prefix = string.sub(new_key, 1, #new_key - #id - #'callback:')
if redis.call('EXISTS', new_key) == 1 then return {'kept', id, token} end
local merged_into = redis.call('GET', mark)
if merged_into then
  local into_key = prefix .. 'callback:' .. merged_into
  return {'merged', merged_into, redis.call('HGET', into_key, 'token') or ''}
end
if tonumber(redis.call('GET', n_key) or '0') >= per_number then
  return {'number-limit'}
end
if tonumber(redis.call('GET', day_key) or '0') >= per_day then
  return {'day-limit'}
end
if addr_key ~= n_key and
   tonumber(redis.call('GET', addr_key) or '0') >= per_addr then
  return {'address-limit'}
end
local counters = {n_key, day_key}
if addr_key ~= n_key then table.insert(counters, addr_key) end
for _, key in ipairs(counters) do
  redis.call('INCR', key)
  if key == addr_key then
    redis.call('EXPIRE', key, addr_ttl)
  else
    redis.call('EXPIRE', key, ttl)
  end
end
local fields = {}
for i = 12, #ARGV, 2 do fields[ARGV[i]] = ARGV[i + 1] end
local open_id = redis.call('HGET', open, digest)
if open_id then
  local open_key = prefix .. 'callback:' .. open_id
  local state = redis.call('HGET', open_key, 'state')
  if state == 'waiting' or state == 'offered' or state == 'dialling'
     or state == 'connected' or state == 'wrap-up' then
    redis.call('HINCRBY', open_key, 'requests', 1)
    redis.call('HSET', open_key, 'updated_at', now)
    if state == 'waiting' then
      -- The latest request says when the customer wants the call.
      redis.call('HSET', open_key, 'window', fields['window'] or '',
                 'date', fields['date'] or '', 'due_at', due)
      redis.call('ZADD', waiting, due, open_id)
    end
    if (fields['session'] or '') ~= '' then
      redis.call('HSET', open_key, 'session', fields['session'])
    end
    -- Kept as long as an address counter: far longer than any retry.
    redis.call('SET', mark, open_id, 'EX', addr_ttl)
    return {'merged', open_id, redis.call('HGET', open_key, 'token') or ''}
  end
end
local entry = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*',
                         'callback', id, unpack(ARGV, 12))
redis.call('HSET', new_key, unpack(ARGV, 12))
redis.call('HSET', new_key, 'state', 'waiting', 'attempts', 0, 'requests', 1,
           'token', token, 'entry', entry, 'digest', digest, 'due_at', due,
           'created_at', now, 'updated_at', now, 'agent', '', 'call', '')
redis.call('ZADD', waiting, due, id)
redis.call('HSET', open, digest, id)
return {'kept', id, token}
"""

# A row of the machine. KEYS: the callback, waiting index, open index,
# stream, timers. ARGV: want state, want call ('' for any), next state,
# due ('' keeps it), final ('1'), group, now, id, prefix, record TTL once
# final, field pairs.
_MOVE: Final = (
    SETTLE_AGENT
    + """
local cb, waiting, open, stream, timers = unpack(KEYS)
local want, want_call, nxt, due, final, group, now, id, prefix, ttl =
      unpack(ARGV, 1, 10)
local state = redis.call('HGET', cb, 'state')
if state ~= want then return 0 end
if want_call ~= '' and redis.call('HGET', cb, 'call') ~= want_call then
  return 0
end
if state == 'offered' then
  local agent = redis.call('HGET', cb, 'agent') or ''
  local agent_key = prefix .. 'agent:' .. agent
  if redis.call('HGET', agent_key, 'callback') == id then
    redis.call('HSET', agent_key, 'callback', '')
    settle_agent(agent_key, agent, 'cb:' .. id, 'available-keep-idle', now,
                 prefix .. 'agents:available')
  end
end
redis.call('HSET', cb, 'state', nxt, 'updated_at', now)
if #ARGV > 10 then redis.call('HSET', cb, unpack(ARGV, 11)) end
if nxt == 'waiting' then
  if due ~= '' then redis.call('HSET', cb, 'due_at', due) end
  redis.call('HSET', cb, 'agent', '', 'call', '')
  redis.call('ZADD', waiting, redis.call('HGET', cb, 'due_at'), id)
else
  redis.call('ZREM', waiting, id)
end
redis.call('ZREM', timers, 'cboffer:' .. id)
if nxt ~= 'wrap-up' then redis.call('ZREM', timers, 'cbwrap:' .. id) end
if final == '1' then
  local entry = redis.call('HGET', cb, 'entry')
  if entry then redis.call('XACK', stream, group, entry) end
  local digest = redis.call('HGET', cb, 'digest') or ''
  if redis.call('HGET', open, digest) == id then
    redis.call('HDEL', open, digest)
  end
  redis.call('HSET', cb, 'ended_at', now)
  redis.call('EXPIRE', cb, tonumber(ttl))
end
return 1
"""
)

# Offer due callbacks to available agents, longest idle first.
# KEYS: waiting index, available agents, timers, the live queue.
# ARGV: prefix, now, offer seconds, live first ('1': only if no caller waits).
_OFFER: Final = (
    TAKES
    + """
local waiting, avail, timers, queue = unpack(KEYS)
local prefix, now, offer_s, live_first = ARGV[1], tonumber(ARGV[2]),
      tonumber(ARGV[3]), ARGV[4]
if live_first == '1' and redis.call('ZCARD', queue) > 0 then return {} end
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', waiting, '-inf', now,
                               'LIMIT', 0, 50)) do
  local agents = redis.call('ZRANGE', avail, 0, -1)
  if #agents == 0 then break end
  local cb = prefix .. 'callback:' .. id
  local state = redis.call('HGET', cb, 'state')
  if state == 'waiting' then
    local topic = redis.call('HGET', cb, 'topic') or ''
    local skipped = redis.call('HGET', cb, 'skipped_by') or ''
    local skip_until = tonumber(redis.call('HGET', cb, 'skip_until') or '0')
    for _, agent in ipairs(agents) do
      local agent_key = prefix .. 'agent:' .. agent
      if (agent ~= skipped or skip_until <= now)
         and redis.call('HGET', agent_key, 'status') == 'available'
         and takes(agent_key, topic) then
        redis.call('ZREM', avail, agent)
        redis.call('HSET', agent_key, 'status', 'ringing', 'callback', id,
                   'call', 'cb:' .. id, 'since', now)
        redis.call('HSET', cb, 'state', 'offered', 'agent', agent,
                   'updated_at', now)
        redis.call('ZADD', timers, now + offer_s, 'cboffer:' .. id)
        table.insert(out, id)
        table.insert(out, agent)
        break
      end
    end
  elseif state == nil or state == false then
    redis.call('ZREM', waiting, id)
  end
end
return out
"""
)

# An offer given back (skip) or lapsed (timeout). KEYS: callback, agent,
# available agents, timers. ARGV: id, agent, now, how the agent ends up,
# hold-off seconds.
_SKIP: Final = (
    SETTLE_AGENT
    + """
local cb, agent_key, avail, timers = unpack(KEYS)
local id, agent, now, how, hold = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('HGET', cb, 'state') ~= 'offered'
   or redis.call('HGET', cb, 'agent') ~= agent then
  return 0
end
redis.call('HSET', cb, 'state', 'waiting', 'agent', '', 'updated_at', now,
           'skipped_by', agent, 'skip_until', tonumber(now) + tonumber(hold))
redis.call('ZREM', timers, 'cboffer:' .. id)
if redis.call('HGET', agent_key, 'callback') == id then
  redis.call('HSET', agent_key, 'callback', '')
  settle_agent(agent_key, agent, 'cb:' .. id, how, now, avail)
end
return 1
"""
)

# A claim: the callback becomes an attempt, a call that starts dialling.
# KEYS: callback, waiting index, agent, available agents, timers, the new
# call, the dials stream, the live calls. ARGV: id, agent, now, call id,
# ring deadline, maxlen, customer session ('' for the trunk), number, then
# the call's field pairs.
_CLAIM: Final = """
local cb, waiting, agent_key, avail, timers, call, dials, live = unpack(KEYS)
local id, agent, now, call_id, deadline, maxlen, customer, number =
      unpack(ARGV, 1, 8)
local state = redis.call('HGET', cb, 'state')
if not state then return {'unknown-callback'} end
-- This very claim, retried after Redis died before answering it.
if state == 'dialling' and redis.call('HGET', cb, 'call') == call_id then
  return {'ok', redis.call('HGET', cb, 'attempts')}
end
local status = redis.call('HGET', agent_key, 'status') or 'offline'
if state == 'offered' then
  if redis.call('HGET', cb, 'agent') ~= agent then return {'callback-taken'} end
  if redis.call('HGET', agent_key, 'callback') ~= id then
    return {'callback-taken'}
  end
elseif state == 'waiting' then
  if tonumber(redis.call('HGET', cb, 'due_at') or '0') > tonumber(now) then
    return {'not-due'}
  end
  if status ~= 'available' then return {'agent-busy'} end
else
  return {'callback-taken'}
end
local attempt = redis.call('HINCRBY', cb, 'attempts', 1)
redis.call('HSET', cb, 'state', 'dialling', 'agent', agent, 'call', call_id,
           'updated_at', now, 'via', customer == '' and 'trunk' or 'tab')
redis.call('ZREM', waiting, id)
redis.call('ZREM', timers, 'cboffer:' .. id)
redis.call('HSET', call, unpack(ARGV, 9))
redis.call('HSET', call, 'state', 'dialling', 'customer', customer,
           'agent', agent, 'callback', id, 'attempt', attempt,
           'queued_at', now, 'updated', now)
redis.call('HSET', agent_key, 'status', 'busy', 'call', call_id,
           'callback', '', 'since', now)
redis.call('SADD', live, call_id)
redis.call('ZREM', avail, agent)
redis.call('ZADD', timers, deadline, 'ring:' .. call_id)
if customer == '' then
  redis.call('XADD', dials, 'MAXLEN', '~', maxlen, '*', 'callback', id,
             'call_id', call_id, 'attempt', attempt, 'number', number)
end
return {'ok', attempt}
"""

# A media worker becomes the customer's end of a trunk dial.
_ATTACH: Final = """
if redis.call('HGET', KEYS[1], 'state') ~= 'dialling' then return 0 end
if (redis.call('HGET', KEYS[1], 'customer') or '') ~= '' then return 0 end
redis.call('HSET', KEYS[1], 'customer', ARGV[1])
return 1
"""


class _Script:
    """A Lua script that outlives a Redis restart.

    redis-py loads a script again when the server answers NOSCRIPT, once.
    If Redis restarts just after that load, the call that follows is
    retried on the new server, which answers NOSCRIPT again; nothing ran,
    so loading it once more is safe.
    """

    def __init__(self, redis: Redis, source: str) -> None:
        self._script = redis.register_script(source)

    async def __call__(self, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self._script(keys=keys, args=args)
        except NoScriptError:
            return await self._script(keys=keys, args=args)


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
        self._keep = _Script(redis, _KEEP)
        self._move = _Script(redis, _MOVE)
        self._offer = _Script(redis, _OFFER)
        self._skip = _Script(redis, _SKIP)
        self._claim = _Script(redis, _CLAIM)
        self._attach = _Script(redis, _ATTACH)
        self._groups_made = False
        #: Where requests and final outcomes are recorded (``gateway.events``).
        self.events: EventLog | None = None

    # Keys

    @property
    def stream(self) -> str:
        return self.key("callbacks")

    @property
    def dials_stream(self) -> str:
        return self.key("callbacks", "dials")

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
            self.stream,
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
        record = await self.get(callback)
        attempts = int(record.get("attempts", "0") or 0)
        max_attempts = int(record.get("max_attempts", "0") or self.policy.max_attempts)
        nxt = after_attempt(row, attempts, max_attempts)
        pairs: list[str] = []
        for name, value in fields.items():
            pairs += [name, value]
        moved = await self._move(
            keys=[
                self.record_key(callback),
                self.waiting,
                self.key("callbacks", "open"),
                self.stream,
                self.key("timers"),
            ],
            args=[
                want,
                call_id,
                nxt,
                "" if due_at is None else repr(due_at),
                "1" if nxt in FINAL else "0",
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
        logger.info(
            "callback %s: %s -> %s",
            event,
            want,
            nxt,
            extra={
                "call_id": call_id or record.get("call_id", ""),
                "callback": callback,
            },
        )
        if nxt in FINAL and self.events is not None:
            await self.events.record(
                "callback.done",
                record.get("call_id", ""),
                detail=_DONE[nxt],
                visit=record.get("visit", ""),
                channel=record.get("channel", ""),
                menu=record.get("menu", ""),
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
                    self.dials_stream,
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

    # The stream's consumer groups

    async def ensure_groups(self) -> None:
        if self._groups_made:
            return
        for stream, group in (
            (self.stream, DESK_GROUP),
            (self.dials_stream, DIALS_GROUP),
        ):
            try:
                await self.redis.xgroup_create(stream, group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._groups_made = True

    async def read_new(self, consumer: str) -> int:
        """Take new requests on as `consumer` (a node): each stays pending
        until its outcome. A request whose record is missing (a Redis that
        lost it) is written again, waiting, from its entry."""
        await self.ensure_groups()
        replies: Any = await self.redis.xreadgroup(
            DESK_GROUP, consumer, {self.stream: ">"}, count=100
        )
        taken = 0
        for _, entries in replies or []:
            for entry_id, raw in entries:
                fields = text_fields(raw)
                await self._restore(text(entry_id), fields)
                taken += 1
        return taken

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

    async def dead_consumers(self, stream: str, group: str) -> list[str]:
        """Consumers of `group` whose node no longer beats."""
        try:
            consumers: Any = await self.redis.xinfo_consumers(stream, group)
        except ResponseError:
            return []
        names = [text(c["name"]) for c in consumers]
        if not names:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.exists(self.key("node", name, "alive"))
            alive = await pipe.execute()
        return [name for name, up in zip(names, alive, strict=True) if not up]

    async def pending_of(self, stream: str, group: str, consumer: str) -> list[str]:
        """Every entry pending for `consumer`, read a page at a time: a
        consumer is deleted once these are taken over, and deleting it
        drops whatever it still holds."""
        found: list[str] = []
        start = "-"
        while True:
            rows: Any = await self.redis.xpending_range(
                stream,
                group,
                min=start,
                max="+",
                count=PENDING_PAGE,
                consumername=consumer,
            )
            found += [text(row["message_id"]) for row in rows]
            if len(rows) < PENDING_PAGE:
                return found
            start = "(" + found[-1]

    async def reclaim(self, consumer: str) -> int:
        """Take over the pending requests of desks whose node died, and
        delete those consumers. Never this node's own: if its heartbeat
        lapsed, it is still here, running this."""
        await self.ensure_groups()
        moved = 0
        for dead in await self.dead_consumers(self.stream, DESK_GROUP):
            if dead == consumer:
                continue
            pending = await self.pending_of(self.stream, DESK_GROUP, dead)
            for first in range(0, len(pending), PENDING_PAGE):
                page = pending[first : first + PENDING_PAGE]
                claimed: Any = await self.redis.xclaim(
                    self.stream, DESK_GROUP, consumer, 0, list[Any](page)
                )
                for entry_id, raw in claimed:
                    if raw:
                        await self._restore(text(entry_id), text_fields(raw))
            moved += len(pending)
            await self.redis.xgroup_delconsumer(self.stream, DESK_GROUP, dead)
            logger.info(
                "took over %d pending callback requests of a dead node",
                len(pending),
                extra={"call_id": "", "node": dead},
            )
        return moved

    # Trunk dials (media workers)

    async def take_dial(self, consumer: str, block_ms: int) -> Dial | None:
        """The next trunk dial for `consumer` (a media worker's node id)."""
        await self.ensure_groups()
        replies: Any = await self.redis.xreadgroup(
            DIALS_GROUP, consumer, {self.dials_stream: ">"}, count=1, block=block_ms
        )
        for _, entries in replies or []:
            for entry_id, raw in entries:
                fields = text_fields(raw)
                return Dial(
                    entry=text(entry_id),
                    callback=fields.get("callback", ""),
                    call_id=fields.get("call_id", ""),
                    attempt=int(fields.get("attempt", "0") or 0),
                    number=fields.get("number", ""),
                )
        return None

    async def attach_dialler(self, call_id: str, session_id: str) -> bool:
        attached = await self._attach(
            keys=[self.key("call", call_id)], args=[session_id]
        )
        return bool(attached)

    async def dial_done(self, dial: Dial) -> None:
        await self.redis.xack(self.dials_stream, DIALS_GROUP, dial.entry)

    async def lost_dials(self) -> list[Dial]:
        """Trunk dials held by workers that died: taken off their consumer
        (and the consumer deleted) for the caller to end their calls."""
        await self.ensure_groups()
        lost: list[Dial] = []
        for dead in await self.dead_consumers(self.dials_stream, DIALS_GROUP):
            pending = await self.pending_of(self.dials_stream, DIALS_GROUP, dead)
            for entry in pending:
                rows: Any = await self.redis.xrange(self.dials_stream, entry, entry)
                fields = text_fields(rows[0][1]) if rows else {}
                lost.append(
                    Dial(
                        entry=entry,
                        callback=fields.get("callback", ""),
                        call_id=fields.get("call_id", ""),
                        attempt=int(fields.get("attempt", "0") or 0),
                        number=fields.get("number", ""),
                    )
                )
            if pending:
                await self.redis.xack(self.dials_stream, DIALS_GROUP, *pending)
            await self.redis.xgroup_delconsumer(self.dials_stream, DIALS_GROUP, dead)
        return lost

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

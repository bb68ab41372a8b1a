"""Routing of customers' calls to agents (the ACD), kept in Redis.

Every change is one Lua script, so any number of nodes may route at once
and no agent is ever given two calls. The rows of the call state machine
(``signaling.calls``) are applied by ``_APPLY`` with a compare-and-set on
the call's state and agent: a node that lost a race re-reads and retries.

Keys (under the store's prefix):

- ``call:<id>`` hash: state, customer, agent, caller, queued_at,
  started_at, channel (``web``/``phone``), visit (the widget's), ...
- ``call:<id>:declined`` sorted set: agent -> time until which it is not
  offered this call again
- ``calls:live`` set of the calls not yet ended (the live floor reads it)
- ``queue`` sorted set: waiting call -> rank (lower is nearer the head)
- ``agent:<id>`` hash: name, status, call, session, idle_since, since (when
  the status last changed; every script that sets ``status`` sets it)
- ``agents:available`` sorted set: agent -> idle since (longest idle first)
- ``agents:online`` set of agents with a session
- ``consult:<id>`` hash: the consult call of an attended transfer
  (``gateway.transfer_store``); ``call:<id>`` names it in ``consult``
- ``timers`` sorted set: ``ring:<call>`` -> deadline
- ``stats`` hash: running averages for the wait estimate
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from redis.asyncio import Redis

from signaling.bus import text, text_fields
from signaling.calls import BadTransition, CallEvent, CallState, Transition, step
from signaling.consult import ConsultEvent, consult_step

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

#: A Lua function for scripts that change an agent as a row says
#: (``AgentAfter``), but only while the agent is on ``call_id``.
SETTLE_AGENT: Final = """
local function settle_agent(agent_key, agent_id, call_id, how, now, avail)
  if how == 'keep' or redis.call('HGET', agent_key, 'call') ~= call_id then
    return
  end
  if how == 'ringing' or how == 'busy' then
    redis.call('HSET', agent_key, 'status', how, 'since', now)
  elseif how == 'available' or how == 'available-keep-idle' then
    local idle = now
    if how == 'available-keep-idle' then
      idle = redis.call('HGET', agent_key, 'idle_since') or now
    end
    redis.call('HSET', agent_key, 'status', 'available', 'call', '',
               'idle_since', idle, 'since', now)
    redis.call('ZADD', avail, idle, agent_id)
  else
    redis.call('HSET', agent_key, 'status', how, 'call', '', 'since', now)
    redis.call('ZREM', avail, agent_id)
  end
end
"""

# A call that leaves "consulting" any other way than through its consult
# (the customer hung up, its agent was lost) ends the consult with it.
_APPLY: Final = (
    SETTLE_AGENT
    + """
local call, queue, avail, timers, agent_key, declined = unpack(KEYS)
local want_state, want_agent, next_state, agent_after, requeue,
      reason, now, call_id, agent_id, hold_off, enqueue,
      prefix, left_ringing, left_answered, left_reason, release = unpack(ARGV)
if redis.call('HGET', call, 'state') ~= want_state then return 0 end
if (redis.call('HGET', call, 'agent') or '') ~= want_agent then return 0 end
redis.call('HSET', call, 'state', next_state, 'updated', now)
if want_agent ~= '' then
  settle_agent(agent_key, agent_id, call_id, agent_after, now, avail)
end
local consult = redis.call('HGET', call, 'consult') or ''
if consult ~= '' and next_state ~= 'consulting' then
  local consult_key = prefix .. 'consult:' .. consult
  local consult_state = redis.call('HGET', consult_key, 'state')
  if consult_state == 'ringing' or consult_state == 'answered' then
    local other = redis.call('HGET', consult_key, 'agent') or ''
    local how = left_ringing
    if consult_state == 'answered' then how = left_answered end
    settle_agent(prefix .. 'agent:' .. other, other, consult, how, now, avail)
    redis.call('HSET', consult_key, 'state', 'ended', 'reason', left_reason,
               'ended_at', now, 'updated', now)
    redis.call('ZREM', timers, 'ring:' .. consult)
  end
  redis.call('HDEL', call, 'consult')
end
if next_state == 'answered' and want_state == 'ringing' then
  redis.call('HSET', call, 'answered_at', now)
end
if release == '1' then redis.call('HSET', call, 'agent', '') end
if requeue == '1' then
  redis.call('ZADD', declined, tonumber(now) + tonumber(hold_off), want_agent)
  redis.call('EXPIRE', declined, 86400)
  redis.call('HSET', call, 'agent', '')
  local head = redis.call('ZRANGE', queue, 0, 0, 'WITHSCORES')
  local rank = tonumber(redis.call('HGET', call, 'queued_at'))
  if head[2] and tonumber(head[2]) <= rank then rank = tonumber(head[2]) - 1 end
  redis.call('ZADD', queue, rank, call_id)
end
if enqueue == '1' then
  redis.call('HSET', call, 'queued_at', now)
  redis.call('HDEL', call, 'position')
  redis.call('ZADD', queue, now, call_id)
end
if next_state == 'ivr' then
  redis.call('ZREM', queue, call_id)
  redis.call('HDEL', call, 'position', 'bridge')
end
if next_state ~= 'ringing' then redis.call('ZREM', timers, 'ring:' .. call_id) end
if next_state == 'ended' then
  redis.call('ZREM', queue, call_id)
  redis.call('SREM', prefix .. 'calls:live', call_id)
  redis.call('HSET', call, 'ended_at', now, 'reason', reason)
  redis.call('EXPIRE', call, 86400)
end
return 1
"""
)

#: A Lua function: whether an agent takes work of a skill. An agent with
#: no skills takes everything; "general" work goes to anyone.
TAKES: Final = """
local function takes(agent_key, skill)
  if skill == '' or skill == 'general' then return true end
  local skills = redis.call('HGET', agent_key, 'skills') or ''
  if skills == '' then return true end
  return string.find(',' .. skills .. ',', ',' .. skill .. ',', 1, true) ~= nil
end
"""

_DISPATCH: Final = (
    TAKES
    + """
local queue, avail, timers = unpack(KEYS)
local prefix, now, ring_timeout = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for _, call_id in ipairs(redis.call('ZRANGE', queue, 0, 99)) do
  local agents = redis.call('ZRANGE', avail, 0, -1)
  if #agents == 0 then break end
  local call = prefix .. 'call:' .. call_id
  if redis.call('HGET', call, 'state') ~= 'queued' then
    redis.call('ZREM', queue, call_id)
  else
    local declined = call .. ':declined'
    local skill = redis.call('HGET', call, 'skill') or ''
    for _, agent_id in ipairs(agents) do
      local until_ = redis.call('ZSCORE', declined, agent_id)
      if (not until_ or tonumber(until_) <= now)
         and takes(prefix .. 'agent:' .. agent_id, skill) then
        redis.call('ZREM', queue, call_id)
        redis.call('ZREM', avail, agent_id)
        redis.call('HSET', call, 'state', 'ringing', 'agent', agent_id,
                   'updated', now)
        redis.call('HSET', prefix .. 'agent:' .. agent_id,
                   'status', 'ringing', 'call', call_id, 'since', now)
        redis.call('ZADD', timers, now + ring_timeout, 'ring:' .. call_id)
        table.insert(out, call_id)
        table.insert(out, agent_id)
        break
      end
    end
  end
end
return out
"""
)

_SET_STATUS: Final = """
local agent_key, avail = KEYS[1], KEYS[2]
local agent_id, status, now = ARGV[1], ARGV[2], ARGV[3]
local current = redis.call('HGET', agent_key, 'status') or 'offline'
if current == 'ringing' or current == 'busy' then return current end
if current ~= status then redis.call('HSET', agent_key, 'since', now) end
if status == 'available' then
  local idle = redis.call('HGET', agent_key, 'idle_since') or now
  if current ~= 'available' then idle = now end
  redis.call('HSET', agent_key, 'status', 'available', 'idle_since', idle)
  redis.call('ZADD', avail, idle, agent_id)
else
  redis.call('HSET', agent_key, 'status', status)
  redis.call('ZREM', avail, agent_id)
end
return status
"""

# Waiting calls whose place in the queue changed since their customer was
# last told: call, customer, position.
_MOVED: Final = """
local prefix, limit = ARGV[1], tonumber(ARGV[2])
local out = {}
for i, call_id in ipairs(redis.call('ZRANGE', KEYS[1], 0, limit - 1)) do
  local key = prefix .. 'call:' .. call_id
  if redis.call('HGET', key, 'position') ~= tostring(i) then
    redis.call('HSET', key, 'position', i)
    table.insert(out, call_id)
    table.insert(out, redis.call('HGET', key, 'customer') or '')
    table.insert(out, i)
  end
end
return out
"""

_CLAIM_DUE: Final = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, member in ipairs(due) do redis.call('ZREM', KEYS[1], member) end
return due
"""


DEFAULT_HANDLE_S: Final = 120.0

_LEFT_RINGING: Final = consult_step(CallState.RINGING, ConsultEvent.CALL_LEFT)
_LEFT_ANSWERED: Final = consult_step(CallState.ANSWERED, ConsultEvent.CALL_LEFT)
#: What ``_APPLY`` does to a consult whose customer's call left it.
_CONSULT_LEFT: Final = (
    str(_LEFT_RINGING.agent),
    str(_LEFT_ANSWERED.agent),
    _LEFT_RINGING.end_reason or "",
)


def estimate_wait(position: int, handle_s: float, agents_online: int) -> float:
    """Seconds until a call at ``position`` is answered: the calls ahead,
    and this one, each take the average handling time, shared by the
    agents online."""
    return float(math.ceil(position * handle_s / max(1, agents_online)))


@dataclass(frozen=True, slots=True)
class Call:
    """A call as read from Redis."""

    id: str
    state: CallState
    customer: str
    agent: str
    caller: dict[str, str]
    queued_at: float
    answered_at: float | None
    reason: str
    skill: str = ""
    #: The IVR journey (JSON), shown to the agent when the call rings.
    journey: str = ""
    #: The menu the call runs in the IVR: "<menu id>@<version>".
    menu: str = ""
    #: The media worker's session that is the other end instead of an
    #: agent (a web caller put through to the toll-free line).
    bridge: str = ""
    #: Every field of the record, for details only some callers need.
    fields: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_hash(cls, call_id: str, fields: dict[str, str]) -> Call:
        answered = fields.get("answered_at")
        return cls(
            id=call_id,
            state=CallState(fields["state"]),
            customer=fields.get("customer", ""),
            agent=fields.get("agent", ""),
            caller=json.loads(fields.get("caller") or "{}"),
            queued_at=float(fields.get("queued_at", 0)),
            answered_at=float(answered) if answered else None,
            reason=fields.get("reason", ""),
            skill=fields.get("skill", ""),
            journey=fields.get("journey", ""),
            menu=fields.get("menu", ""),
            bridge=fields.get("bridge", ""),
            fields=fields,
        )


@dataclass(frozen=True, slots=True)
class Applied:
    """A row of the state machine applied to a call: before and after."""

    before: Call
    transition: Transition

    @property
    def agent(self) -> str:
        return self.before.agent


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    name: str
    status: str
    call: str
    session: str


class Routing:
    """The ACD: queue, agents, and the call state machine applied in Redis."""

    def __init__(
        self,
        redis: Redis,
        prefix: str = "helpline:",
        *,
        ring_timeout_s: float = 15.0,
        clock: Clock = time.time,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ring_timeout_s = ring_timeout_s
        self.clock = clock
        self._apply = redis.register_script(_APPLY)
        self._dispatch = redis.register_script(_DISPATCH)
        self._set_status = redis.register_script(_SET_STATUS)
        self._claim_due = redis.register_script(_CLAIM_DUE)
        self._moved = redis.register_script(_MOVED)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # Calls

    async def create_call(
        self,
        customer_session: str,
        caller: dict[str, str],
        state: CallState = CallState.QUEUED,
        **fields: str,
    ) -> tuple[str, int]:
        """A new call, not yet in the queue (see ``enqueue``), and the
        position it will most likely take there. A call that starts in the
        IVR joins the queue later, through ``CallEvent.QUEUE``."""
        call_id = "c-" + secrets.token_hex(8)
        now = self.clock()
        mapping: dict[Any, Any] = {
            **fields,
            "state": state,
            "customer": customer_session,
            "agent": "",
            "caller": json.dumps(caller),
            "queued_at": repr(now),
            "started_at": repr(now),
            "updated": repr(now),
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zcard(self.key("queue"))
            pipe.hset(self.key("call", call_id), mapping=mapping)
            pipe.sadd(self.key("calls", "live"), call_id)
            waiting, *_ = await pipe.execute()
        position = int(waiting) + 1
        if state == CallState.QUEUED:
            await self.redis.hset(self.key("call", call_id), "position", position)
        return call_id, position

    async def enqueue(self, call_id: str) -> None:
        """Join the queue: from now on routing may ring an agent for it."""
        queued_at = await self.redis.hget(self.key("call", call_id), "queued_at")
        await self.redis.zadd(self.key("queue"), {call_id: float(text(queued_at))})
        logger.info("call queued", extra={"call_id": call_id})

    async def get_call(self, call_id: str) -> Call | None:
        fields = text_fields(await self.redis.hgetall(self.key("call", call_id)))
        return Call.from_hash(call_id, fields) if fields else None

    async def apply(
        self, call_id: str, event: CallEvent, *, agent_id: str | None = None
    ) -> Applied | None:
        """Apply ``event``; None if there is no such call.

        With ``agent_id``, the event is refused (``BadTransition``) unless
        the call is at that agent. Retries when another node won a race.
        """
        for _ in range(10):
            call = await self.get_call(call_id)
            if call is None:
                return None
            if agent_id is not None and call.agent != agent_id:
                raise _not_yours(call, event)

            transition = step(call.state, event)
            if await self._apply_row(call, transition):
                return Applied(call, transition)
        raise RuntimeError(f"call {call_id} kept changing under {event}")

    async def _apply_row(self, call: Call, row: Transition) -> bool:
        keys = [
            self.key("call", call.id),
            self.key("queue"),
            self.key("agents", "available"),
            self.key("timers"),
            self.key("agent", call.agent or "-"),
            self.key("call", call.id, "declined"),
        ]
        args = [
            call.state,
            call.agent,
            row.next_state,
            row.agent,
            "1" if row.requeue else "0",
            row.end_reason or "",
            repr(self.clock()),
            call.id,
            call.agent,
            repr(self.ring_timeout_s * 2),
            "1" if row.enqueue else "0",
            self.prefix,
            *_CONSULT_LEFT,
            "1" if row.release else "0",
        ]
        return bool(await self._apply(keys=keys, args=args))

    async def dispatch(self) -> list[tuple[str, str]]:
        """Ring the longest-idle available agent for each waiting call."""
        keys = [self.key("queue"), self.key("agents", "available"), self.key("timers")]
        args = [self.prefix, repr(self.clock()), repr(self.ring_timeout_s)]
        flat: list[str] = await self._dispatch(keys=keys, args=args)
        return list(zip(flat[0::2], flat[1::2], strict=True))

    async def claim_due_timers(self) -> list[str]:
        """Timers that fired (``ring:<call>``, ``grace:<session>``), each
        claimed by exactly one node."""
        due = await self._claim_due(
            keys=[self.key("timers")], args=[repr(self.clock())]
        )
        return [str(member) for member in due]

    async def moved_in_queue(self, limit: int = 200) -> list[tuple[str, str, int]]:
        """(call, customer session, position) for each waiting call whose
        position changed since its customer was last told."""
        flat = await self._moved(keys=[self.key("queue")], args=[self.prefix, limit])
        return [
            (text(flat[i]), text(flat[i + 1]), int(flat[i + 2]))
            for i in range(0, len(flat), 3)
        ]

    async def wait_inputs(self) -> tuple[float, int]:
        """Average handling time and agents online, for wait estimates."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(self.key("stats"), "handle_s")
            pipe.scard(self.key("agents", "online"))
            handle, online = await pipe.execute()
        return (float(handle) if handle else DEFAULT_HANDLE_S), int(online)

    async def record_handle_time(self, seconds: float) -> None:
        """Fold one call's talk time into the running average (EWMA)."""
        key = self.key("stats")
        old = await self.redis.hget(key, "handle_s")
        value = seconds if old is None else 0.8 * float(old) + 0.2 * seconds
        await self.redis.hset(key, "handle_s", repr(value))

    # Agents

    async def agent_online(self, agent_id: str, name: str, session_id: str) -> str:
        """Attach a session to the agent; returns the session it replaced."""
        key = self.key("agent", agent_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(key, "session")
            pipe.hset(key, mapping={"name": name, "session": session_id})
            pipe.hsetnx(key, "status", "away")
            pipe.hsetnx(key, "since", repr(self.clock()))
            pipe.sadd(self.key("agents", "online"), agent_id)
            previous, *_ = await pipe.execute()
        if await self.redis.hget(key, "status") == "offline":
            await self.set_status(agent_id, "away")
        return str(previous or "")

    async def agent_offline(self, agent_id: str) -> None:
        await self.set_status(agent_id, "offline")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.key("agent", agent_id), "session", "")
            pipe.srem(self.key("agents", "online"), agent_id)
            await pipe.execute()

    async def set_status(self, agent_id: str, status: str) -> str:
        """Set available/away/offline; returns the status now in force.

        A ringing or busy agent keeps that status: the call decides.
        """
        keys = [self.key("agent", agent_id), self.key("agents", "available")]
        args = [agent_id, status, repr(self.clock())]
        return str(await self._set_status(keys=keys, args=args))

    async def set_skills(self, agent_id: str, skills: tuple[str, ...]) -> None:
        """The queue skills the agent takes calls for (none: every skill)."""
        await self.redis.hset(self.key("agent", agent_id), "skills", ",".join(skills))

    async def set_call_fields(self, call_id: str, **fields: str) -> None:
        """Details kept with the call (skill, journey) for routing and agents."""
        mapping: dict[Any, Any] = dict(fields)
        await self.redis.hset(self.key("call", call_id), mapping=mapping)

    async def get_agent(self, agent_id: str) -> Agent | None:
        fields = text_fields(await self.redis.hgetall(self.key("agent", agent_id)))
        if not fields:
            return None
        return Agent(
            id=agent_id,
            name=fields.get("name", ""),
            status=fields.get("status", "offline"),
            call=fields.get("call", ""),
            session=fields.get("session", ""),
        )

    async def counts(self) -> dict[str, Any]:
        """Queue length and agents by status, for health and metrics."""
        online = await self.redis.smembers(self.key("agents", "online"))
        statuses: dict[str, int] = {}
        for agent_id in online:
            status = await self.redis.hget(self.key("agent", text(agent_id)), "status")
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        return {
            "queue": await self.redis.zcard(self.key("queue")),
            "agents": statuses,
        }


def _not_yours(call: Call, event: CallEvent) -> Exception:
    return BadTransition(call.state, event)

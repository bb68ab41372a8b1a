"""Transfers of calls between agents, kept in Redis.

Each step is one Lua script that checks and changes the customer's call,
the consult call and both agents together, so any node may serve any
request and of two racing requests (the colleague accepts while the agent
cancels) exactly one wins; the other re-reads and finds a state that no
longer takes it. The rows come from the sans-I/O tables
(``signaling.calls`` for the customer's call, ``signaling.consult`` for
the consult call).

Keys (besides routing's): ``consult:<id>`` hash: state, call (the
customer's call), from (the consulting agent), agent (the consulted one),
reason, created, answered_at, ended_at. The consult rings with the timer
``ring:<consult id>``.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Final

from gateway.routing import SETTLE_AGENT, Agent, Applied, Call, Routing
from signaling.bus import text, text_fields
from signaling.calls import AgentAfter, CallEvent, CallState, Transition, step
from signaling.consult import ConsultEvent, ConsultRow, consult_step
from signaling.errors import SignalingError

logger = logging.getLogger(__name__)

_TRIES: Final = 10

# Blind transfer and consult start: the target must be available now.
_HAND_OVER: Final = (
    SETTLE_AGENT
    + """
local call, from_key, to_key, avail, timers, consult_key = unpack(KEYS)
local mode, want_state, call_id, from_id, to_id, next_state, from_after,
      now, deadline, consult_id = unpack(ARGV)
if redis.call('HGET', call, 'state') ~= want_state then return 'retry' end
if redis.call('HGET', call, 'agent') ~= from_id then return 'retry' end
if redis.call('EXISTS', to_key) == 0 then return 'unknown' end
local status = redis.call('HGET', to_key, 'status') or 'offline'
if (redis.call('HGET', to_key, 'session') or '') == '' then status = 'offline' end
if status ~= 'available' then return status end
redis.call('ZREM', avail, to_id)
redis.call('HSET', call, 'state', next_state, 'updated', now)
if mode == 'transfer' then
  redis.call('HSET', to_key, 'status', 'ringing', 'call', call_id, 'since', now)
  settle_agent(from_key, from_id, call_id, from_after, now, avail)
  redis.call('HSET', call, 'agent', to_id, 'transfer_from', from_id)
  redis.call('ZADD', timers, deadline, 'ring:' .. call_id)
  redis.call('DEL', call .. ':early')
else
  redis.call('HSET', to_key, 'status', 'ringing', 'call', consult_id,
             'since', now)
  redis.call('HSET', consult_key, 'state', 'ringing', 'call', call_id,
             'from', from_id, 'agent', to_id, 'created', now, 'updated', now)
  redis.call('EXPIRE', consult_key, 86400)
  redis.call('HSET', call, 'consult', consult_id)
  redis.call('ZADD', timers, deadline, 'ring:' .. consult_id)
end
return 'ok'
"""
)

# A row of a consult call and, if it raises one, the row of its customer's
# call, applied together.
_CONSULT_ROW: Final = (
    SETTLE_AGENT
    + """
local consult_key, call, from_key, to_key, avail, timers = unpack(KEYS)
local want, consult_id, next_state, to_after, reason, now, parent_want,
      parent_next, from_after, retarget, call_id, from_id, to_id = unpack(ARGV)
if redis.call('HGET', consult_key, 'state') ~= want then return 0 end
if parent_next ~= '' then
  if redis.call('HGET', call, 'state') ~= parent_want then return 0 end
  if redis.call('HGET', call, 'consult') ~= consult_id then return 0 end
end
redis.call('HSET', consult_key, 'state', next_state, 'updated', now)
if next_state ~= 'ringing' then redis.call('ZREM', timers, 'ring:' .. consult_id) end
if next_state == 'answered' then redis.call('HSET', consult_key, 'answered_at', now) end
if next_state == 'ended' then
  redis.call('HSET', consult_key, 'reason', reason, 'ended_at', now)
end
if retarget == '1' and redis.call('HGET', to_key, 'call') == consult_id then
  redis.call('HSET', to_key, 'status', 'busy', 'call', call_id, 'since', now)
else
  settle_agent(to_key, to_id, consult_id, to_after, now, avail)
end
if parent_next ~= '' then
  redis.call('HSET', call, 'state', parent_next, 'updated', now)
  redis.call('HDEL', call, 'consult')
  if retarget == '1' then
    settle_agent(from_key, from_id, call_id, from_after, now, avail)
    redis.call('HSET', call, 'agent', to_id, 'transfer_from', from_id)
  end
end
return 1
"""
)


class TargetRefused(SignalingError):
    """A transfer or consult to an agent who cannot take it; nothing changed."""

    recoverable = True

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Consult:
    """A consult call as read from Redis."""

    id: str
    state: CallState
    call: str  # the customer's call
    from_agent: str  # the consulting agent
    agent: str  # the consulted agent
    reason: str

    @classmethod
    def from_hash(cls, consult_id: str, fields: dict[str, str]) -> Consult:
        return cls(
            id=consult_id,
            state=CallState(fields["state"]),
            call=fields.get("call", ""),
            from_agent=fields.get("from", ""),
            agent=fields.get("agent", ""),
            reason=fields.get("reason", ""),
        )


@dataclass(frozen=True, slots=True)
class ConsultApplied:
    """A consult row applied: the consult before, its row, and the row of
    the customer's call it raised (with that call before), if any."""

    before: Consult
    row: ConsultRow
    parent: Applied | None


class TransferStore:
    """Blind transfers and consults, applied atomically in Redis."""

    def __init__(self, routing: Routing) -> None:
        self.routing = routing
        self.redis = routing.redis
        self._hand_over = self.redis.register_script(_HAND_OVER)
        self._consult_row = self.redis.register_script(_CONSULT_ROW)

    def key(self, *parts: str) -> str:
        return self.routing.key(*parts)

    async def transfer(self, call_id: str, from_agent: str, to_agent: str) -> Applied:
        """Ring ``to_agent`` with the call and release ``from_agent``."""
        call, row = await self._hand(call_id, from_agent, to_agent, "transfer", "")
        return Applied(call, row)

    async def consult(
        self, call_id: str, from_agent: str, to_agent: str
    ) -> tuple[Applied, str]:
        """Hold the customer and ring ``to_agent`` on a new consult call."""
        consult_id = "c-" + secrets.token_hex(12)
        call, row = await self._hand(
            call_id, from_agent, to_agent, "consult", consult_id
        )
        return Applied(call, row), consult_id

    async def _hand(
        self, call_id: str, from_agent: str, to_agent: str, mode: str, consult_id: str
    ) -> tuple[Call, Transition]:
        event = CallEvent.TRANSFER if mode == "transfer" else CallEvent.CONSULT
        if to_agent == from_agent:
            raise TargetRefused("invalid-target", "a call cannot go to its own agent")
        for _ in range(_TRIES):
            call = await self.routing.get_call(call_id)
            if call is None or call.agent != from_agent:
                raise TargetRefused("unknown-call", f"call {call_id} is not yours")
            row = step(call.state, event)
            outcome = await self._run_hand_over(call, row, mode, to_agent, consult_id)
            if outcome == "ok":
                logger.info(
                    "call %s to another agent",
                    "transferred" if mode == "transfer" else "consulting",
                    extra={"call_id": call_id, "agent": to_agent},
                )
                return call, row
            if outcome != "retry":
                raise _refusal(outcome)
        raise RuntimeError(f"call {call_id} kept changing under {event}")

    async def _run_hand_over(
        self, call: Call, row: Transition, mode: str, to_agent: str, consult_id: str
    ) -> str:
        now = self.routing.clock()
        keys = [
            self.key("call", call.id),
            self.key("agent", call.agent),
            self.key("agent", to_agent),
            self.key("agents", "available"),
            self.key("timers"),
            self.key("consult", consult_id or "-"),
        ]
        args = [
            mode,
            call.state,
            call.id,
            call.agent,
            to_agent,
            row.next_state,
            row.agent,
            repr(now),
            repr(now + self.routing.ring_timeout_s),
            consult_id,
        ]
        return text(await self._hand_over(keys=keys, args=args))

    async def get_consult(self, consult_id: str) -> Consult | None:
        fields = text_fields(await self.redis.hgetall(self.key("consult", consult_id)))
        return Consult.from_hash(consult_id, fields) if fields else None

    async def apply_consult(
        self, consult_id: str, event: ConsultEvent
    ) -> ConsultApplied | None:
        """Apply ``event`` to the consult (and what it raises on the
        customer's call); None if there is no such consult."""
        for _ in range(_TRIES):
            consult = await self.get_consult(consult_id)
            if consult is None:
                return None
            row = consult_step(consult.state, event)
            call = await self.routing.get_call(consult.call)
            parent = step(CallState.CONSULTING, row.parent) if row.parent else None
            if call is not None and await self._run_row(consult, row, call, parent):
                applied = Applied(call, parent) if parent else None
                return ConsultApplied(consult, row, applied)
        raise RuntimeError(f"consult {consult_id} kept changing under {event}")

    async def _run_row(
        self,
        consult: Consult,
        row: ConsultRow,
        call: Call,
        parent: Transition | None,
    ) -> bool:
        keys = [
            self.key("consult", consult.id),
            self.key("call", call.id),
            self.key("agent", consult.from_agent),
            self.key("agent", consult.agent),
            self.key("agents", "available"),
            self.key("timers"),
        ]
        args = [
            consult.state,
            consult.id,
            row.next_state,
            row.agent,
            row.end_reason or "",
            repr(self.routing.clock()),
            CallState.CONSULTING,
            parent.next_state if parent else "",
            parent.agent if parent else AgentAfter.KEEP,
            "1" if parent and parent.retarget else "0",
            call.id,
            consult.from_agent,
            consult.agent,
        ]
        return bool(await self._consult_row(keys=keys, args=args))

    async def agents(self) -> list[Agent]:
        """Every agent with a session, by name."""
        online = await self.redis.smembers(self.key("agents", "online"))
        found = [await self.routing.get_agent(text(agent_id)) for agent_id in online]
        return sorted(
            (agent for agent in found if agent is not None and agent.session),
            key=lambda agent: (agent.name.casefold(), agent.id),
        )


def _refusal(status: str) -> TargetRefused:
    if status == "unknown":
        return TargetRefused("invalid-target", "there is no such agent")
    return TargetRefused(
        "agent-unavailable",
        f"that agent is {_STATUS_WORDS.get(status, status)}; "
        "only an available agent can take a transfer",
    )


_STATUS_WORDS: Final = {
    "ringing": "being rung for another call",
    "busy": "on another call",
    "away": "away",
    "offline": "offline",
}

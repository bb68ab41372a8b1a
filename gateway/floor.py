"""The live floor: agents, waiting calls, calls in progress, callbacks and
media workers, pushed to operators as ``floor`` events (docs/reports.md).

An operator's session sends ``floor.watch`` and is kept in the Redis set
``floor:watchers``, so a change on any node reaches operators on every
node (``Bus.deliver`` routes to the node that holds the socket). The
switchboard calls :meth:`Floor.changed` after every call-state row, agent
status change and callback change; a task per node then sends one snapshot
to every watcher, at most ``1 / MIN_INTERVAL_S`` a second, and always after
the last change (the wake-up is cleared before the read, so a change during
a read is followed by another snapshot). Every ``REFRESH_S`` a node also
refreshes its own operators, for what changes with time alone (a callback
falling due).

Reading the floor takes two pipelined round trips whatever the number of
agents and calls (:meth:`Floor.read`); :func:`snapshot` turns what was read
into the event and does no I/O.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from redis.asyncio import Redis

from signaling.bus import STOP_GRACE_S, Bus, Connection, stop_task, text, text_fields
from signaling.protocol import OPERATOR_REQUESTS, Message, ProtocolError

logger = logging.getLogger(__name__)

MIN_INTERVAL_S: Final = 0.25
REFRESH_S: Final = 5.0
#: At most this many waiting calls and as many calls in progress are read.
MAX_CALLS: Final = 500
#: An operator's outbox keeps this many snapshots for a resume: each one
#: replaces the one before.
OUTBOX_KEEP: Final = 4
#: Call states shown among the calls in progress (queued ones wait).
_IN_PROGRESS: Final = ("ivr", "ringing", "answered", "held", "consulting", "dialling")


@dataclass(frozen=True, slots=True)
class FloorData:
    """What the floor is made of, as read from Redis."""

    at: float
    agents: dict[str, dict[str, str]]  # agent id -> agent hash
    queue: list[str]  # waiting calls, head first
    calls: dict[str, dict[str, str]]  # call id -> call hash
    callbacks_due: int
    callbacks_upcoming: int
    workers: list[tuple[str, dict[str, str]]]  # worker id -> heartbeat
    #: Today's report (``Reports.window``), or None when it is not known.
    today: dict[str, Any] | None = None


def snapshot(data: FloorData) -> Message:
    """The ``floor`` event for what was read."""
    return {
        "type": "floor",
        "at": data.at,
        "agents": sorted(
            (_agent(agent_id, fields) for agent_id, fields in data.agents.items()),
            key=lambda row: (str(row["name"]).casefold(), str(row["id"])),
        ),
        "waiting": [
            _waiting(call_id, data.calls[call_id])
            for call_id in data.queue
            if data.calls.get(call_id, {}).get("state") == "queued"
        ],
        "in_progress": sorted(
            (
                _in_progress(call_id, fields)
                for call_id, fields in data.calls.items()
                if fields.get("state") in _IN_PROGRESS
            ),
            key=lambda row: (row["since"] or 0.0, row["call_id"]),
        ),
        "callbacks": {"due": data.callbacks_due, "upcoming": data.callbacks_upcoming},
        "workers": [_worker(worker_id, beat) for worker_id, beat in data.workers],
        "today": _today(data.today),
    }


#: What the floor shows of today's report (the Reports tab has the rest).
_TODAY_FIGURES: Final = (
    "interactions",
    "currency",
    "cost",
    "baseline",
    "savings",
    "deflection_rate",
    "abandonment_rate",
    "asa_s",
    "service_level",
    "service_level_s",
)


def _today(report: dict[str, Any] | None) -> Message | None:
    """Today so far: interactions per tier, deflection and money saved."""
    if report is None:
        return None
    today: Message = {name: report[name] for name in _TODAY_FIGURES}
    today["tiers"] = {tier: row["count"] for tier, row in report["tiers"].items()}
    return today


def _agent(agent_id: str, fields: dict[str, str]) -> Message:
    work = fields.get("call", "")
    row: Message = {
        "id": agent_id,
        "name": fields.get("name", ""),
        "status": fields.get("status", "offline"),
        "call": "" if work.startswith("cb:") else work,
        "since": _number(fields.get("since")),
    }
    if work.startswith("cb:"):
        row["callback"] = work.removeprefix("cb:")
    return row


def _waiting(call_id: str, fields: dict[str, str]) -> Message:
    return {
        "call_id": call_id,
        "queued_at": _number(fields.get("queued_at")),
        "skill": fields.get("skill", ""),
        "channel": fields.get("channel") or "web",
    }


def _in_progress(call_id: str, fields: dict[str, str]) -> Message:
    return {
        "call_id": call_id,
        "state": fields["state"],
        "agent": fields.get("agent", ""),
        "answered_at": _number(fields.get("answered_at")),
        "since": _number(fields.get("updated")),
        "channel": fields.get("channel") or "web",
        "callback": bool(fields.get("callback")),
    }


def _worker(worker_id: str, beat: dict[str, str]) -> Message:
    return {
        "id": worker_id,
        "up": bool(beat),
        "in_use": int(beat.get("in_use") or 0),
        "limit": int(beat.get("limit") or 0),
    }


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


class Floor:
    """Watchers, the reader, and the task that pushes snapshots."""

    def __init__(
        self,
        bus: Bus,
        key: Callable[..., str],
        *,
        callbacks_waiting: str,
        workers: int,
        today: Callable[[float], Awaitable[dict[str, Any]]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bus = bus
        self.redis: Redis = bus.redis
        self.key = key
        self.callbacks_waiting = callbacks_waiting
        self.workers = workers
        self.today = today
        self.clock = clock
        self.watchers = key("floor", "watchers")
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        #: Snapshots this node sent (tests and logs).
        self.pushes = 0

    # Lifecycle

    async def start(self) -> None:
        self._task = asyncio.create_task(self._push_forever(), name="floor")

    async def close(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await stop_task(self._task, STOP_GRACE_S)

    def changed(self) -> None:
        """Something on the floor changed: push a snapshot soon."""
        self._wake.set()

    # Requests

    async def handle(self, conn: Connection, message: Message) -> bool:
        """Serve ``floor.watch``, and refuse an operator's calls; False
        leaves the message to the switchboard."""
        kind, role = message["type"], conn.session.role
        if kind in OPERATOR_REQUESTS:
            if role != "operator":
                raise ProtocolError(
                    "not-allowed",
                    f"only an operator may send {kind}",
                    message.get("id"),
                )
            await self.watch(conn.session.id)
            return True
        if role == "operator":
            raise ProtocolError(
                "not-allowed",
                f"{kind} is for customers and agents; an operator's session "
                "only watches the floor (floor.watch)",
                message.get("id"),
            )
        return False

    async def watch(self, session_id: str) -> None:
        """Add a watcher and send it the floor as it is now."""
        await self.redis.sadd(self.watchers, session_id)
        event = snapshot(await self.read())
        await self.bus.deliver(session_id, event, keep=OUTBOX_KEEP)
        logger.info("operator watches the floor", extra={"session_id": session_id})

    async def session_ended(self, session_id: str) -> None:
        await self.redis.srem(self.watchers, session_id)

    # Pushing

    async def _push_forever(self) -> None:
        last = 0.0
        while not self._stopping:
            try:
                async with asyncio.timeout(REFRESH_S):
                    await self._wake.wait()
                changed = True
            except TimeoutError:
                changed = False
            pause = last + MIN_INTERVAL_S - time.monotonic()
            if pause > 0 and not self._stopping:
                await asyncio.sleep(pause)  # the rate limit, not a wait
            if self._stopping:
                break
            # Cleared before reading: a change from now on pushes again.
            self._wake.clear()
            last = time.monotonic()
            try:
                await self.push(local_only=not changed)
            except Exception:
                logger.warning("floor push failed", exc_info=True)

    async def push(self, local_only: bool = False) -> int:
        """Send a snapshot to every watcher (`local_only`: to the ones
        whose socket is on this node); returns how many got it."""
        members = [text(m) for m in await self.redis.smembers(self.watchers)]
        if local_only:
            members = [m for m in members if m in self.bus.local]
        if not members:
            return 0
        event = snapshot(await self.read())
        seqs = await asyncio.gather(
            *(self.bus.deliver(m, event, keep=OUTBOX_KEEP) for m in members)
        )
        gone = [m for m, seq in zip(members, seqs, strict=True) if not seq]
        if gone:
            await self.redis.srem(self.watchers, *gone)
        self.pushes += 1
        return len(members) - len(gone)

    # Reading

    async def read(self) -> FloorData:
        """The floor in two pipelined round trips."""
        at = self.clock()
        worker_ids = [f"w{index}" for index in range(self.workers)]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.smembers(self.key("agents", "online"))
            pipe.zrange(self.key("queue"), 0, MAX_CALLS - 1)
            pipe.srandmember(self.key("calls", "live"), MAX_CALLS)
            pipe.zcount(self.callbacks_waiting, "-inf", at)
            pipe.zcount(self.callbacks_waiting, f"({at}", "+inf")
            for worker in worker_ids:
                pipe.hgetall(self.key("worker", worker))
            online, queue, live, due, upcoming, *beats = await pipe.execute()

        agent_ids = sorted(text(a) for a in online)
        queued = [text(c) for c in queue]
        call_ids = list(dict.fromkeys([*queued, *(text(c) for c in live)]))
        agents, calls = await self._hashes(agent_ids, call_ids)
        await self._forget_ended(calls, (text(c) for c in live))
        return FloorData(
            today=await self._today(at),
            at=at,
            agents=agents,
            queue=queued,
            calls=calls,
            callbacks_due=int(due),
            callbacks_upcoming=int(upcoming),
            workers=[
                (worker, text_fields(beat))
                for worker, beat in zip(worker_ids, beats, strict=True)
            ],
        )

    async def _today(self, at: float) -> dict[str, Any] | None:
        """Today's figures (folded at most every few seconds, shared with
        /metrics); None, not a failed floor, when they cannot be read."""
        if self.today is None:
            return None
        try:
            return await self.today(at)
        except Exception:
            logger.warning("today's figures not read", exc_info=True)
            return None

    async def _hashes(
        self, agent_ids: list[str], call_ids: list[str]
    ) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for agent_id in agent_ids:
                pipe.hgetall(self.key("agent", agent_id))
            for call_id in call_ids:
                pipe.hgetall(self.key("call", call_id))
            replies: list[Any] = await pipe.execute() if agent_ids or call_ids else []
        agents = {
            agent_id: text_fields(raw)
            for agent_id, raw in zip(agent_ids, replies, strict=False)
            if raw
        }
        calls = {
            call_id: text_fields(raw)
            for call_id, raw in zip(call_ids, replies[len(agent_ids) :], strict=True)
            if raw
        }
        return agents, calls

    async def _forget_ended(
        self, calls: dict[str, dict[str, str]], live: Iterable[str]
    ) -> None:
        """Drop from the live set a call that is gone or ended (say, its
        hash expired); the scripts keep it right otherwise."""
        stale = [c for c in live if calls.get(c, {}).get("state", "ended") == "ended"]
        if stale:
            await self.redis.srem(self.key("calls", "live"), *stale)

"""Sessions and the bus between nodes, kept in Redis.

A session outlives its socket: its record, its numbered outbox and its
calls are in Redis, so a client that reconnects within the grace period,
to this node or any other, resumes where it was. Delivering an event to a
session is one Lua script: number it, keep it in the outbox, and publish it
to the node that holds the session's socket, if any. Each node listens on
its own channel and writes what arrives to its local sockets, in order.

Keys: ``session:<id>`` hash (role, user, name, token, conn, seq),
``session:<id>:outbox`` list, ``session:<id>:calls`` set,
``node:<id>`` channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from signaling.protocol import Message, encode

logger = logging.getLogger(__name__)

OUTBOX_LENGTH: Final = 200
SESSION_TTL_S: Final = 86_400
LISTEN_POLL_S: Final = 0.5
STOP_GRACE_S: Final = 2.0
NODE_TTL_S: Final = 5.0

_DELIVER: Final = """
local session, outbox = KEYS[1], KEYS[2]
if redis.call('EXISTS', session) == 0 then return 0 end
local seq = redis.call('HINCRBY', session, 'seq', 1)
local msg = '{"seq":' .. seq .. ',' .. string.sub(ARGV[1], 2)
redis.call('RPUSH', outbox, msg)
redis.call('LTRIM', outbox, -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', outbox, tonumber(ARGV[5]))
local conn = redis.call('HGET', session, 'conn') or ''
local node = string.match(conn, '^([^/]+)/')
if node then redis.call('PUBLISH', ARGV[3] .. node, ARGV[4] .. '\\n' .. msg) end
return seq
"""

# Detach a socket from its session only if that socket still holds it.
_DETACH: Final = """
if redis.call('HGET', KEYS[1], 'conn') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'conn', '')
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
"""

# A node whose heartbeat key expired is dead: one node claims it and
# starts the grace timer of every session whose socket it held.
_REAP: Final = """
local nodes, alive, sessions, timers = unpack(KEYS)
local node, deadline, prefix = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', alive) == 1 then return -1 end
if redis.call('SREM', nodes, node) == 0 then return -1 end
local count = 0
for _, sid in ipairs(redis.call('SMEMBERS', sessions)) do
  local key = prefix .. 'session:' .. sid
  local conn = redis.call('HGET', key, 'conn') or ''
  if string.sub(conn, 1, #node + 1) == node .. '/' then
    redis.call('HSET', key, 'conn', '')
    -- A media worker's session (a phone call, a bridge) cannot come back
    -- on another node: it ends now, not after the grace period.
    local at = deadline
    local address = redis.call('HGET', key, 'address') or ''
    if string.sub(address, 1, 4) == 'sip:' then at = ARGV[4] end
    redis.call('ZADD', timers, at, 'grace:' .. sid)
    count = count + 1
  end
end
redis.call('DEL', sessions)
return count
"""

# A detached session whose grace timer already fired is expiring: refuse.
_RESUME: Final = """
local removed = redis.call('ZREM', KEYS[2], ARGV[1])
if removed == 0 and (redis.call('HGET', KEYS[1], 'conn') or '') == '' then
  return 0
end
return 1
"""

_SEQ = re.compile(r'^\{"seq":(\d+),')

Sender = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    role: str
    user: str  # the agent's user id; "" for a customer
    name: str
    address: str


@dataclass(eq=False)
class Connection:
    """One open socket on this node, holding one session."""

    session: Session
    conn_id: str
    send: Sender
    sent_seq: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class SessionExpired(Exception):
    """The session is gone or the resume token does not match."""


async def stop_task(task: asyncio.Task[None], grace_s: float) -> None:
    """Let a task that was asked to stop finish; cancel it if it will not
    (say, Redis is down and a command is retrying), and never wait long."""
    await asyncio.wait({task}, timeout=grace_s)
    if not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)


async def cancel_task(task: asyncio.Task[Any], tries: int = 20) -> None:
    """Cancel a task and wait for it, cancelling again while it runs: under
    Python 3.11 a cancel that arrives with a reply inside redis-py's
    ``wait_for`` is swallowed and the task goes on. TODO(py312): a plain
    cancel and await once Helpline requires Python 3.12, whose ``wait_for``
    no longer swallows it."""
    for _ in range(tries):
        if task.done():
            break
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
    if task.done() and not task.cancelled() and task.exception() is not None:
        logger.warning(
            "task %s failed",
            task.get_name(),
            exc_info=task.exception(),
            extra={"call_id": "-"},
        )


def text(value: object) -> str:
    """A Redis reply as text (the client decodes replies; typing cannot tell)."""
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)


def text_fields(raw: Mapping[Any, Any]) -> dict[str, str]:
    """A Redis hash reply as ``str -> str``."""
    return {text(k): text(v) for k, v in raw.items()}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Bus:
    """Sessions, their outboxes, and delivery to whichever node holds them."""

    def __init__(self, redis: Redis, prefix: str = "helpline:") -> None:
        self.redis = redis
        self.prefix = prefix
        self.node_id = "n-" + secrets.token_hex(6)
        self.local: dict[str, Connection] = {}
        self._deliver = redis.register_script(_DELIVER)
        self._detach = redis.register_script(_DETACH)
        self._resume = redis.register_script(_RESUME)
        self._reap = redis.register_script(_REAP)
        self._conn_counter = 0
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._missed = False  # events may have been published while away
        self._stopping = False

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # Lifecycle

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name="bus-listener")
        await asyncio.wait_for(self._subscribed.wait(), 10)

    async def close(self) -> None:
        # The listener stops between reads: cancelling a pub/sub read while
        # redis-py holds its connection lock can hang the teardown.
        self._stopping = True
        if self._listener is not None:
            await stop_task(self._listener, STOP_GRACE_S)
        with contextlib.suppress(RedisError):
            await self.leave()

    async def _listen(self) -> None:
        channel = self.key("node", self.node_id)
        while not self._stopping:
            try:
                await self._listen_once(channel)
            except Exception:
                logger.warning("bus listener lost Redis; reconnecting", exc_info=True)
                await asyncio.sleep(0.5)

    async def _listen_once(self, channel: str) -> None:
        sub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await sub.subscribe(channel)
            # redis-py reconnects and subscribes again by itself after a
            # Redis restart; this says so.
            if sub.connection is not None:
                sub.connection.register_connect_callback(self._reconnected)
            self._missed = self._subscribed.is_set()
            self._subscribed.set()
            while not self._stopping:
                message = await sub.get_message(timeout=LISTEN_POLL_S)
                if self._missed:
                    self._missed = False
                    await self._catch_up()
                if message is not None:
                    await self._on_published(message["data"])
        finally:
            if sub.connection is not None:
                sub.connection.deregister_connect_callback(self._reconnected)
            await sub.aclose()

    def _reconnected(self, connection: object) -> None:
        self._missed = True

    async def _catch_up(self) -> None:
        """After the listener lost Redis (a restart): what was published
        meanwhile reached nobody, but it is in the outboxes; without this a
        socket would get it only with its next event, which shows the gap."""
        for conn in list(self.local.values()):
            async with conn.lock:
                await self._pull(conn)

    async def _on_published(self, data: str) -> None:
        session_id, _, payload = data.partition("\n")
        conn = self.local.get(session_id)
        if conn is not None:
            await self._send_in_order(conn, payload)

    # Sessions

    async def create(
        self, role: str, user: str, name: str, address: str, grace_s: float
    ) -> tuple[Session, str]:
        """A new session and its resume token (kept hashed)."""
        session = Session("s-" + secrets.token_hex(8), role, user, name, address)
        token = secrets.token_urlsafe(24)
        key = self.key("session", session.id)
        await self.redis.hset(
            key,
            mapping={
                "role": role,
                "user": user,
                "name": name,
                "address": address,
                "token": _hash(token),
                "conn": "",
                "seq": 0,
            },
        )
        await self.redis.expire(key, SESSION_TTL_S)
        return session, token

    async def load(self, session_id: str, token: str) -> Session:
        fields = text_fields(await self.redis.hgetall(self.key("session", session_id)))
        if not fields or not hmac.compare_digest(fields["token"], _hash(token)):
            raise SessionExpired(session_id)
        return Session(
            session_id,
            fields["role"],
            fields["user"],
            fields["name"],
            fields["address"],
        )

    async def exists(self, session_id: str) -> bool:
        return bool(await self.redis.exists(self.key("session", session_id)))

    async def attach(self, session: Session, send: Sender) -> Connection:
        """Route the session's events to this socket from now on."""
        self._conn_counter += 1
        conn_id = f"{self.node_id}/{self._conn_counter}"
        conn = Connection(session, conn_id, send)
        self.local[session.id] = conn
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.key("session", session.id), "conn", conn_id)
            pipe.sadd(self.key("node", self.node_id, "sessions"), session.id)
            await pipe.execute()
        return conn

    async def detach(self, conn: Connection, grace_deadline: float) -> bool:
        """Forget the socket; start the grace timer if it still held the
        session (not if another socket resumed it meanwhile)."""
        if self.local.get(conn.session.id) is conn:
            del self.local[conn.session.id]
        await self.redis.srem(
            self.key("node", self.node_id, "sessions"), conn.session.id
        )
        keys = [self.key("session", conn.session.id), self.key("timers")]
        args = [conn.conn_id, repr(grace_deadline), "grace:" + conn.session.id]
        return bool(await self._detach(keys=keys, args=args))

    # Liveness of nodes

    async def beat(self) -> None:
        """Say this node is alive (the sweep calls it every pass)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(
                self.key("node", self.node_id, "alive"), 1, px=int(NODE_TTL_S * 1000)
            )
            pipe.sadd(self.key("nodes"), self.node_id)
            await pipe.execute()

    async def leave(self) -> None:
        """A clean shutdown: this node is gone, its sockets already closed."""
        await self.redis.srem(self.key("nodes"), self.node_id)
        await self.redis.delete(self.key("node", self.node_id, "alive"))

    async def reap_dead_nodes(self, grace_deadline: float) -> int:
        """Start the grace period of sessions held by nodes that died."""
        reaped = 0
        for node in await self._silent_nodes():
            keys = [
                self.key("nodes"),
                self.key("node", node, "alive"),
                self.key("node", node, "sessions"),
                self.key("timers"),
            ]
            count = int(
                await self._reap(
                    keys=keys,
                    args=[node, repr(grace_deadline), self.prefix, repr(time.time())],
                )
            )
            if count >= 0:
                logger.warning(
                    "node %s died; %d sessions wait for their clients", node, count
                )
                reaped += count
        return reaped

    async def _silent_nodes(self) -> list[str]:
        """The other nodes whose heartbeat has lapsed, found in one round
        trip (the reap script checks again, atomically). A script call per
        node made every node wait on N round trips a second, N squared in
        all: with 50 media workers, most of their idle CPU."""
        members = [text(m) for m in await self.redis.smembers(self.key("nodes"))]
        others = [node for node in members if node != self.node_id]
        if not others:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for node in others:
                pipe.exists(self.key("node", node, "alive"))
            alive = await pipe.execute()
        return [node for node, up in zip(others, alive, strict=True) if not up]

    async def cancel_grace(self, session_id: str) -> bool:
        """Stop the grace timer; False if it fired already (too late)."""
        keys = [self.key("session", session_id), self.key("timers")]
        return bool(await self._resume(keys=keys, args=["grace:" + session_id]))

    async def delete(self, session_id: str) -> None:
        base = self.key("session", session_id)
        await self.redis.delete(base, base + ":outbox", base + ":calls")

    async def replay(self, conn: Connection, last_seq: int) -> int:
        """Send what the session missed after ``last_seq``; returns count."""
        conn.sent_seq = max(conn.sent_seq, last_seq)
        async with conn.lock:
            return await self._pull(conn)

    # Calls of a session

    async def add_call(self, session_id: str, call_id: str) -> None:
        await self.redis.sadd(self.key("session", session_id, "calls"), call_id)

    async def calls(self, session_id: str) -> set[str]:
        members = await self.redis.smembers(self.key("session", session_id, "calls"))
        return {str(member) for member in members}

    async def remove_call(self, session_id: str, call_id: str) -> None:
        await self.redis.srem(self.key("session", session_id, "calls"), call_id)

    # Delivery

    async def deliver(
        self, session_id: str, event: Message, keep: int = OUTBOX_LENGTH
    ) -> int:
        """Number, keep and route one event; 0 if the session is gone.

        The outbox keeps the last `keep` events: a session whose events
        each replace the one before (an operator's ``floor``) keeps few.
        """
        if not session_id:
            return 0
        base = self.key("session", session_id)
        seq = await self._deliver(
            keys=[base, base + ":outbox"],
            args=[
                encode(event),
                keep,
                self.key("node", ""),
                session_id,
                SESSION_TTL_S,
            ],
        )
        return int(seq)

    async def _send_in_order(self, conn: Connection, payload: str) -> None:
        match = _SEQ.match(payload)
        if match is None:
            return
        async with conn.lock:
            seq = int(match.group(1))
            if seq == conn.sent_seq + 1:
                await self._send(conn, payload, seq)
            elif seq > conn.sent_seq:
                await self._pull(conn)

    async def _pull(self, conn: Connection) -> int:
        """Fill a gap from the outbox (the lock is held)."""
        base = self.key("session", conn.session.id)
        sent = 0
        for reply in await self.redis.lrange(base + ":outbox", 0, -1):
            payload = text(reply)
            match = _SEQ.match(payload)
            if match is not None and int(match.group(1)) > conn.sent_seq:
                await self._send(conn, payload, int(match.group(1)))
                sent += 1
        return sent

    async def _send(self, conn: Connection, payload: str, seq: int) -> None:
        conn.sent_seq = seq
        try:
            await conn.send(payload)
        except (ConnectionError, RuntimeError):
            # The socket is closing; the event stays in the outbox for a
            # resume, so nothing is lost.
            logger.debug(
                "send on a closing socket", extra={"session_id": conn.session.id}
            )

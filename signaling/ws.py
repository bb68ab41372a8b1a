"""The WebSocket endpoint ``/ws``: frames in, validated requests to the
switchboard, events out.

One socket holds at most one session. The first request must be ``hello``
(open or resume). A bad frame gets an ``error`` event and changes nothing;
only a frame too large (1009), invalid UTF-8 (1007) or a flood of new
sessions from one address (1008) closes the socket.

ICE servers, with TURN credentials, go only to an open session: in its
``welcome`` and in answer to ``ice.servers``, from the ``ice_fields``
function the endpoint is given (``gateway.ice_servers.session_ice_fields``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Protocol

from aiohttp import WSCloseCode, WSMsgType, web

from gateway.logs import bind
from gateway.store import STORE_DOWN
from signaling.bus import Bus, Connection, SessionExpired
from signaling.protocol import VERSION, Message, ProtocolError, encode, parse_request

logger = logging.getLogger(__name__)

UNAVAILABLE: Final = "the server cannot reach its data right now; try again in a moment"
MESSAGES_PER_SECOND: Final = 50.0
MESSAGE_BURST: Final = 100.0


@dataclass(frozen=True, slots=True)
class Identity:
    """Who an agent's or an operator's token belongs to."""

    user_id: str
    name: str
    role: str


Authenticate = Callable[[str], Awaitable[Identity | None]]
#: A session id -> the ICE fields of ``welcome`` and ``ice.servers``.
IceFields = Callable[[str], Message]


class Handler(Protocol):
    async def handle(self, conn: Connection, message: Message) -> None: ...

    async def session_opened(self, conn: Connection, resumed: bool) -> Message: ...


@dataclass
class Limits:
    grace_s: float = 30.0
    sessions_per_minute: int = 20
    max_frame_bytes: int = 65_536


class _SocketClosed(Exception):
    """The socket was closed on purpose; stop reading it."""


class TokenBucket:
    """Requests per second with a burst, for one socket."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> float:
        """0 if allowed, else the seconds to wait."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Endpoint:
    """aiohttp handler for ``/ws``."""

    def __init__(
        self,
        bus: Bus,
        handler: Handler,
        authenticate: Authenticate,
        limits: Limits,
        on_error: Callable[[str], None] = lambda code: None,
        on_request: Callable[[str, float], None] = lambda kind, seconds: None,
        ice_fields: IceFields = lambda session_id: {"ice_servers": []},
    ) -> None:
        self.bus = bus
        self.handler = handler
        self.authenticate = authenticate
        self.limits = limits
        self.on_error = on_error
        self.on_request = on_request
        self.ice_fields = ice_fields
        self.sockets: set[web.WebSocketResponse] = set()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(
            max_msg_size=self.limits.max_frame_bytes,
            heartbeat=20.0,
            timeout=2.0,
            # Frames are small JSON: deflate would cost ~100 KB a socket.
            compress=False,
        )
        await ws.prepare(request)
        self.sockets.add(ws)
        socket = _Socket(self, ws, request.remote or "unknown")
        try:
            await socket.run()
        finally:
            self.sockets.discard(ws)
            await socket.closed()
        return ws

    async def close_all(self) -> None:
        """Close every socket at once; clients resume on another node."""
        closing = [
            ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
            for ws in list(self.sockets)
        ]
        await asyncio.gather(*closing, return_exceptions=True)


class _Socket:
    """One WebSocket connection and the session it holds, if any."""

    def __init__(self, endpoint: Endpoint, ws: web.WebSocketResponse, address: str):
        self.endpoint = endpoint
        self.ws = ws
        self.address = address
        self.conn: Connection | None = None
        self.bucket = TokenBucket(MESSAGES_PER_SECOND, MESSAGE_BURST)

    async def run(self) -> None:
        async for msg in self.ws:
            if msg.type == WSMsgType.TEXT:
                await self.on_text(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await self.reply_error(
                    ProtocolError(
                        "invalid-json", "binary frames are not part of the protocol"
                    )
                )
            elif msg.type == WSMsgType.ERROR:
                logger.info(
                    "socket error: %s", self.ws.exception(), extra=self.log_extra
                )
        if self.ws.close_code == WSCloseCode.MESSAGE_TOO_BIG:
            logger.info("frame too large; socket closed", extra=self.log_extra)

    @property
    def session_id(self) -> str:
        return self.conn.session.id if self.conn else "-"

    @property
    def log_extra(self) -> dict[str, str]:
        return {"session_id": self.session_id}

    async def on_text(self, text: str) -> None:
        wait = self.bucket.take()
        ref: str | None = None
        try:
            if wait:
                raise ProtocolError("rate-limited", "too many requests; slow down")
            started = time.perf_counter()
            message = parse_request(text)
            ref = message.get("id")
            with bind(session_id=self.session_id, call_id=message.get("call_id")):
                await self.dispatch(message)
            self.endpoint.on_request(message["type"], time.perf_counter() - started)
        except ProtocolError as exc:
            await self.reply_error(exc, retry_after_s=wait or None)
        except _SocketClosed:
            pass
        except STORE_DOWN:
            logger.warning("request failed: Redis unreachable", extra=self.log_extra)
            await self.reply_error(ProtocolError("unavailable", UNAVAILABLE, ref))
        except Exception:
            logger.exception("request failed", extra=self.log_extra)
            await self.reply_error(
                ProtocolError(
                    "internal",
                    "the server failed on this request; "
                    "the session is unchanged, try again",
                )
            )

    async def dispatch(self, message: Message) -> None:
        if message["type"] == "hello":
            await self.hello(message)
        elif message["type"] == "ping":
            await self.send({"type": "pong"})
        elif self.conn is None:
            raise ProtocolError("no-session", "say hello first", message.get("id"))
        elif message["type"] == "ice.servers":
            await self.ice_servers(self.conn, message.get("id"))
        else:
            await self.endpoint.handler.handle(self.conn, message)

    # Opening and resuming

    async def hello(self, message: Message) -> None:
        ref = message.get("id")
        if message["v"] != VERSION:
            raise ProtocolError(
                "unsupported-version", f"this server speaks version {VERSION}", ref
            )
        if self.conn is not None:
            raise ProtocolError(
                "already-open", "this socket already has a session", ref
            )
        if "resume" in message:
            await self.resume(message)
        else:
            await self.open(message)

    async def open(self, message: Message) -> None:
        ref = message.get("id")
        role, user, name = message["role"], "", message.get("name", "")
        if role in ("agent", "operator"):
            identity = await self.endpoint.authenticate(message.get("token", ""))
            if identity is None:
                raise ProtocolError(
                    "unauthorized", "sign in again: the token is not valid", ref
                )
            if role == "operator" and identity.role != "operator":
                raise ProtocolError(
                    "forbidden",
                    f"this token is an {identity.role}'s; "
                    "only an operator's token opens an operator session",
                    ref,
                )
            user, name = identity.user_id, identity.name
        else:
            await self.check_session_rate(ref)

        session, token = await self.endpoint.bus.create(
            role, user, name, self.address, self.endpoint.limits.grace_s
        )
        self.conn = await self.endpoint.bus.attach(session, self.ws.send_str)
        logger.info("session opened as %s", role, extra=self.log_extra)
        await self.welcome(self.conn, token, resumed=False)

    async def resume(self, message: Message) -> None:
        resume = message["resume"]
        bus = self.endpoint.bus
        try:
            session = await bus.load(resume["session_id"], resume["resume_token"])
            if not await bus.cancel_grace(session.id):
                raise SessionExpired(session.id)
        except SessionExpired:
            raise ProtocolError(
                "unauthorized",
                "that session has ended; say hello without resume",
                message.get("id"),
            ) from None
        if session.role != message["role"]:
            raise ProtocolError(
                "unauthorized", "the role does not match the session", message.get("id")
            )

        self.conn = await bus.attach(session, self.ws.send_str)
        missed = await bus.replay(self.conn, resume["last_seq"])
        logger.info("session resumed; %d events replayed", missed, extra=self.log_extra)
        await self.welcome(self.conn, resume["resume_token"], resumed=True)

    async def welcome(self, conn: Connection, token: str, resumed: bool) -> None:
        session = conn.session
        event: Message = {
            "type": "welcome",
            "v": VERSION,
            "session_id": session.id,
            "resume_token": token,
            "role": session.role,
            "resumed": resumed,
            "grace_s": self.endpoint.limits.grace_s,
            **self.endpoint.ice_fields(session.id),
        }
        extras = await self.endpoint.handler.session_opened(conn, resumed)
        if session.role == "agent":
            agent = {"id": session.user, "name": session.name}
            event["agent"] = {**agent, **extras.get("agent", {})}
        elif "callbacks" in extras:
            event["callbacks"] = extras["callbacks"]
        await self.endpoint.bus.deliver(session.id, event)

    async def ice_servers(self, conn: Connection, ref: str | None) -> None:
        """Fresh credentials for a session that outlives its first ones;
        an answer to this socket, like ``pong``, never replayed."""
        event: Message = {
            "type": "ice.servers",
            **self.endpoint.ice_fields(conn.session.id),
        }
        if ref is not None:
            event["ref"] = ref
        logger.debug("ICE servers renewed", extra=self.log_extra)
        await self.send(event)

    async def check_session_rate(self, ref: str | None) -> None:
        redis = self.endpoint.bus.redis
        key = self.endpoint.bus.key(
            "rate", "sessions", self.address, str(int(time.time() // 60))
        )
        count = await redis.incr(key)
        if count == 1:
            await redis.expire(key, 120)
        if count > self.endpoint.limits.sessions_per_minute:
            await self.reply_error(
                ProtocolError(
                    "rate-limited", "too many new sessions from this address", ref
                ),
                retry_after_s=60 - time.time() % 60,
            )
            await self.ws.close(
                code=WSCloseCode.POLICY_VIOLATION, message=b"rate-limited"
            )
            raise _SocketClosed

    # Sending

    async def send(self, event: Message) -> None:
        """Events outside any session (pong, error) go straight out."""
        if not self.ws.closed:
            await self.ws.send_str(encode(event))

    async def reply_error(
        self, exc: ProtocolError, retry_after_s: float | None = None
    ) -> None:
        self.endpoint.on_error(exc.code)
        event = exc.to_event()
        if retry_after_s:
            event["retry_after_s"] = round(retry_after_s, 3)
        logger.info("error %s: %s", exc.code, exc.message, extra=self.log_extra)
        await self.send(event)

    async def closed(self) -> None:
        if self.conn is None:
            return
        deadline = time.time() + self.endpoint.limits.grace_s
        if await self.endpoint.bus.detach(self.conn, deadline):
            logger.info("socket closed; grace period started", extra=self.log_extra)

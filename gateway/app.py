"""The aiohttp application that wires Helpline together, and ``serve``.

``create_app`` builds one web node: pages, the REST API, ``/ws``,
``/healthz``, ``/metrics`` and ``/openapi.json``, on a Redis store that the
caller opens (``open_store``). ``serve`` runs one or several such nodes
(one process per worker, sharing the port) on the embedded Redis or the
configured one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
import shutil
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway import (
    __version__,
    api_faq,
    api_menus,
    api_reports,
    api_visits,
    openapi,
)
from gateway.accounts import Accounts
from gateway.callback_service import CallbackService
from gateway.callbacks import CallbackDesk, CallbackLimits, CallbackPolicy
from gateway.config import Settings
from gateway.events import EventLog
from gateway.faq import FaqStore
from gateway.floor import Floor
from gateway.ice_servers import public_ice_servers, session_ice_fields
from gateway.ivr_calls import IvrCalls, Sources
from gateway.menus import HoursStore, MenuStore
from gateway.metrics import Metrics
from gateway.prompts import Prompts
from gateway.routing import Routing
from gateway.sip_target import SipTargetError, e164, is_sip_uri
from gateway.store import Store
from gateway.switchboard import Switchboard
from gateway.transfer_store import TransferStore
from gateway.transfers import Transfers
from ivr.numbers import check_callback_number
from signaling.bus import Bus, text_fields
from signaling.errors import ConfigError
from signaling.protocol import json_schema
from signaling.ws import Endpoint, Identity, Limits

logger = logging.getLogger(__name__)

WEB_DIR: Final = Path(__file__).resolve().parent.parent / "web"
PAGES: Final = {
    "/": "index.html",
    "/demo": "demo.html",
    "/agent": "softphone.html",
    "/console": "console.html",
    "/widget.js": "widget.js",
}
#: What the widget loads from a page of another site.
EMBEDDABLE: Final = frozenset(
    {"/widget.js", "/api/ice", "/api/protocol.json", "/api/visits/events"}
)
EMBEDDABLE_PREFIXES: Final = ("/static/", "/api/faq/search", "/api/prompts/")
MAX_LOGIN_BYTES: Final = 4096

STORE: Final = web.AppKey("store", Store)
NODE: Final = web.AppKey["Node"]("node")


class Node:
    """Everything one web node runs, started and stopped together."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.started = time.time()
        self.metrics = Metrics()
        self.accounts = Accounts(store)
        self.bus = Bus(store.redis)
        self.routing = Routing(store.redis, ring_timeout_s=settings.ring_timeout_s)
        self.switchboard = Switchboard(self.bus, self.routing, grace_s=settings.grace_s)
        self.switchboard.observe_state = self._count_state
        self.events = EventLog(
            store.redis,
            self.routing.key,
            retention_days=settings.events_retention_days,
            buffer=settings.events_buffer,
        )
        self.menus = MenuStore(store)
        self.reports = api_reports.Reports(
            store.redis,
            self.routing.key,
            self.events,
            self._time_zone,
            settings.service_level_s,
        )
        self.hours = HoursStore(store)
        self.faq = FaqStore(store, in_use=self.menus.using_faq)
        self.prompts = Prompts(settings.data_dir / "prompts", settings.tts_voice)
        self.callbacks = CallbackDesk(
            store.redis,
            self.routing.key,
            CallbackLimits(
                settings.callbacks_per_number,
                settings.callbacks_per_day,
                settings.callbacks_per_address,
            ),
            CallbackPolicy(
                max_attempts=settings.callbacks_max_attempts,
                retry_s=settings.callbacks_retry_s,
                offer_s=settings.callbacks_offer_s,
                ring_s=settings.callbacks_ring_s,
                trunk_ring_s=settings.trunk_answer_s + 15,
                wrap_up_s=settings.callbacks_wrap_up_s,
                live_first=settings.callbacks_live_first,
            ),
            clock=self.routing.clock,
        )
        self.ivr = IvrCalls(
            store.redis, self.routing, self.bus, self._ivr_sources(), self.callbacks
        )
        self.ivr.apply = self.switchboard.apply_for_ivr
        self.ivr.bridge = self.switchboard.bridge
        self.ivr.find_bridge = self.find_bridge
        self.switchboard.ivr = self.ivr
        self.switchboard.transfers = Transfers(
            self.switchboard, TransferStore(self.routing)
        )
        self.switchboard.events = self.ivr.events = self.callbacks.events = self.events
        self.switchboard.callbacks = self.ivr.callback_service = CallbackService(
            self.switchboard,
            self.callbacks,
            self.hours.calendar,
            countries=settings.callback_countries,
            windows=settings.callbacks_windows,
            consent=settings.callbacks_consent,
        )
        self.floor = self.switchboard.floor = Floor(
            self.bus,
            self.routing.key,
            callbacks_waiting=self.callbacks.waiting,
            workers=settings.sip_workers,
            today=functools.partial(self.reports.window, "today"),
            clock=self.routing.clock,
        )
        self.endpoint = Endpoint(
            self.bus,
            self.switchboard,
            self.authenticate,
            Limits(
                grace_s=settings.grace_s,
                sessions_per_minute=settings.customer_sessions_per_minute,
                max_frame_bytes=settings.max_frame_bytes,
            ),
            on_error=lambda code: self.metrics.errors.labels(code).inc(),
            on_request=self._count_request,
            ice_fields=self._ice_fields,
        )

    async def start(self) -> None:
        await self.bus.start()
        await self.switchboard.start()
        await self.floor.start()
        logger.info("node %s started", self.bus.node_id)

    async def stop(self) -> None:
        await self.endpoint.close_all()
        await self.floor.close()
        await self.switchboard.close()
        await self.bus.close()

    async def find_bridge(self) -> str:
        """The session of the least busy media worker with a free call, to
        put a web caller through to the toll-free line; "" when that is off
        or no worker has room (the page then shows the number)."""
        settings = self.settings
        if not (settings.bridge_web_tollfree and settings.tollfree_uri):
            return ""
        async with self.store.redis.pipeline(transaction=False) as pipe:
            for index in range(settings.sip_workers):
                pipe.hgetall(self.routing.key("worker", f"w{index}"))
            beats = [text_fields(raw) for raw in await pipe.execute()]
        free = [
            (int(beat.get("in_use") or 0), beat["bridge"])
            for beat in beats
            if beat.get("bridge")
            and int(beat.get("in_use") or 0) < int(beat.get("limit") or 0)
        ]
        return min(free)[1] if free else ""

    async def _time_zone(self) -> str:
        return (await self.hours.calendar()).time_zone

    def _ivr_sources(self) -> Sources:
        countries = self.settings.callback_countries
        return Sources(
            menus=self.menus,
            hours=_HoursNow(self.hours),
            faq=self.faq,
            prompts=self.prompts,
            number_policy=lambda raw: check_callback_number(raw, countries),
            countries=countries,
            tollfree_number=tollfree_number(self.settings.tollfree_uri),
        )

    async def authenticate(self, token: str) -> Identity | None:
        user = await self.accounts.user_for_token(token)
        if user is None or user.role not in ("agent", "operator"):
            return None
        if user.role == "agent":
            await self.routing.set_skills(user.id, user.skills)
        return Identity(user.id, user.name, user.role)

    def _ice_fields(self, session_id: str) -> dict[str, Any]:
        return session_ice_fields(self.settings, session_id, time.time())

    def _count_state(self, state: str) -> None:
        self.metrics.call_states.labels(state).inc()

    def _count_request(self, kind: str, seconds: float) -> None:
        self.metrics.requests.labels(kind).inc()
        self.metrics.request_seconds.observe(seconds)
        self.metrics.sockets.set(len(self.endpoint.sockets))


class _HoursNow:
    """The hours state at this moment, from the calendar operators edit."""

    def __init__(self, hours: HoursStore) -> None:
        self.hours = hours

    async def state_now(self) -> tuple[str, str]:
        """Open, closed or holiday now, and the calendar's time zone."""
        calendar = await self.hours.calendar()
        return str(calendar.state_at(datetime.now(UTC))), calendar.time_zone


def tollfree_number(uri: str) -> str:
    """What to show web callers for the toll-free line: the user part of
    its SIP URI (``sip:+18005550100@trunk`` -> ``+18005550100``), or the
    number it is given as (``tel:+1-800-555-0100`` -> ``+18005550100``)."""
    if not is_sip_uri(uri):
        try:
            return e164(uri)
        except SipTargetError:
            return ""
    user = uri.partition(":")[2].partition("@")[0]
    return user if "@" in uri else ""


@web.middleware
async def embeddable(request: web.Request, handler: Any) -> web.StreamResponse:
    """Let any site load the widget and what it fetches (CORS), errors too,
    so the page can read them."""
    shared = request.path in EMBEDDABLE or request.path.startswith(EMBEDDABLE_PREFIXES)
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as error:
        if shared:
            error.headers["Access-Control-Allow-Origin"] = "*"
        raise
    if shared:
        response.headers["Access-Control-Allow-Origin"] = "*"
    if request.path.startswith("/static/"):
        # Pages and modules change with upgrades: browsers ask each time
        # and get 304 when nothing changed.
        response.headers.setdefault("Cache-Control", "no-cache")
    return response


def create_app(settings: Settings, store: Store) -> web.Application:
    """One web node on an open store; the caller closes the store."""
    app = web.Application(client_max_size=1024**2, middlewares=[embeddable])
    node = Node(settings, store)
    app[STORE] = store
    app[NODE] = node

    async def lifecycle(app: web.Application) -> Any:
        await node.start()
        yield
        await node.stop()

    async def close_sockets(app: web.Application) -> None:
        # Before aiohttp waits for handlers to finish: a WebSocket handler
        # only finishes when its socket closes.
        logger.info("shutting down: closing %d sockets", len(node.endpoint.sockets))
        await node.endpoint.close_all()

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(close_sockets)
    app.router.add_get("/ws", node.endpoint.handle)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/api/protocol.json", protocol_json)
    app.router.add_get("/api/ice", ice_servers)
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/me", me)
    api_faq.add_routes(app)
    api_menus.add_routes(app)
    api_reports.add_routes(app)
    api_visits.add_routes(app)
    for path, name in PAGES.items():
        app.router.add_get(path, _page(name))
    app.router.add_static("/static/", WEB_DIR, follow_symlinks=False)
    return app


def _page(name: str) -> Any:
    async def handler(request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB_DIR / name, headers={"Cache-Control": "no-cache"})

    return handler


# Health, metrics, descriptions


async def healthz(request: web.Request) -> web.Response:
    node = request.app[NODE]
    redis = await node.store.health()
    node.metrics.redis_up.set(1 if redis["ok"] else 0)
    body = {
        "ok": bool(redis["ok"]),
        "version": __version__,
        "node": node.bus.node_id,
        "uptime_s": round(time.time() - node.started, 1),
        "components": {
            "redis": redis,
            "signaling": {"ok": True, "sockets": len(node.endpoint.sockets)},
            "routing": {"ok": redis["ok"]},
            "ivr": await _ivr_health(node, bool(redis["ok"])),
            "sip": await _sip_health(node, bool(redis["ok"])),
        },
    }
    return web.json_response(body, status=200 if body["ok"] else 503)


async def _ivr_health(node: Node, redis_ok: bool) -> dict[str, object]:
    """Whether calls enter a menu, and whether prompts can be spoken."""
    tts = shutil.which(node.prompts.espeak) is not None
    entry = await node.menus.entry_id() if redis_ok else None
    return {"ok": tts, "entry_menu": entry, "tts": "espeak-ng" if tts else None}


async def _sip_health(node: Node, redis_ok: bool) -> dict[str, object]:
    """The media workers that beat lately, how full they are, and whether
    each is registered at the trunk (``unregistered`` when it need not be,
    ``failed:<code>`` when the registrar refused)."""
    wanted = node.settings.sip_workers
    if not wanted or not redis_ok:
        return {"ok": None if not wanted else False, "workers": []}
    workers = []
    for index in range(wanted):
        raw = await node.store.redis.hgetall(node.routing.key("worker", f"w{index}"))
        beat = {str(k): str(v) for k, v in raw.items()}
        workers.append(
            {
                "id": f"w{index}",
                "up": bool(beat),
                "sip": beat.get("sip"),
                "calls": int(beat.get("in_use", 0)),
                "limit": int(beat.get("limit", 0)),
                "trunk": beat.get("trunk"),
            }
        )
    return {"ok": all(w["up"] for w in workers), "workers": workers}


async def metrics(request: web.Request) -> web.Response:
    node = request.app[NODE]
    try:
        counts = await node.routing.counts()
        node.metrics.queue_length.set(counts["queue"])
        for status in ("available", "away", "ringing", "busy"):
            node.metrics.agents.labels(status).set(counts["agents"].get(status, 0))
        await _sip_metrics(node)
        due, upcoming = await node.callbacks.waiting_counts()
        node.metrics.callbacks.labels("due").set(due)
        node.metrics.callbacks.labels("upcoming").set(upcoming)
        await _ladder_metrics(node)
        node.metrics.redis_up.set(1)
    except Exception:
        logger.warning("metrics could not read Redis", exc_info=True)
        node.metrics.redis_up.set(0)
    node.metrics.events_dropped.set(node.events.dropped)
    body = generate_latest(node.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _ladder_metrics(node: Node) -> None:
    """The last hour's and today's contact-center figures."""
    metrics, now = node.metrics, time.time()
    for window in ("1h", "today"):
        report = await node.reports.window(window, now)
        metrics.service_level.labels(window).set(_number(report["service_level"]))
        metrics.asa.labels(window).set(_number(report["asa_s"]))
        metrics.abandonment.labels(window).set(_number(report["abandonment_rate"]))
        metrics.deflection.labels(window).set(_number(report["deflection_rate"]))
        for tier, figures in report["tiers"].items():
            metrics.interactions.labels(window, tier).set(figures["count"])
        metrics.cost.labels(window).set(report["cost"])
        metrics.savings.labels(window).set(report["savings"])


def _number(value: float | None) -> float:
    return math.nan if value is None else value


async def _sip_metrics(node: Node) -> None:
    redis, metrics = node.store.redis, node.metrics
    stats = await redis.hgetall(node.routing.key("sip", "stats"))
    for event, count in stats.items():
        metrics.sip_events.labels(str(event)).set(int(count))
    for index in range(node.settings.sip_workers):
        worker = f"w{index}"
        beat = await redis.hgetall(node.routing.key("worker", worker))
        metrics.sip_worker_calls.labels(worker).set(int(beat.get("in_use", 0)))
        metrics.sip_worker_limit.labels(worker).set(int(beat.get("limit", 0)))


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(openapi.document(__version__))


async def protocol_json(request: web.Request) -> web.Response:
    return web.json_response(json_schema())


async def ice_servers(request: web.Request) -> web.Response:
    """STUN only: TURN credentials go to signaling sessions (``welcome``)."""
    settings = request.app[NODE].settings
    return web.json_response({"iceServers": public_ice_servers(settings)})


# Accounts


def _api_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status
    )


async def login(request: web.Request) -> web.Response:
    node = request.app[NODE]
    if (request.content_length or 0) > MAX_LOGIN_BYTES:
        return _api_error(413, "too-large", "the sign-in request is too large")
    try:
        body = await request.json()
        username, password = body["username"], body["password"]
        if not isinstance(username, str) or not isinstance(password, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return _api_error(
            400, "invalid-message", 'send JSON {"username": "...", "password": "..."}'
        )

    user = await node.accounts.verify(username, password)
    if user is None:
        return _api_error(401, "unauthorized", "wrong username or password")
    token = await node.accounts.issue_token(user)
    logger.info("user signed in as %s", user.role, extra={"user": user.id})
    return web.json_response({"token": token, "user": _user_json(user)})


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    return header.removeprefix("Bearer ").strip()


async def logout(request: web.Request) -> web.Response:
    await request.app[NODE].accounts.revoke(_bearer(request))
    return web.json_response({"ok": True})


async def me(request: web.Request) -> web.Response:
    user = await request.app[NODE].accounts.user_for_token(_bearer(request))
    if user is None:
        return _api_error(401, "unauthorized", "sign in first")
    return web.json_response({"user": _user_json(user)})


def _user_json(user: Any) -> dict[str, str]:
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "name": user.name,
    }


# Running


def serve(settings: Settings) -> None:
    """Run Helpline until SIGINT or SIGTERM."""
    from gateway import supervisor

    supervisor.run(settings)


def pin_to_core(index: int) -> None:
    """One worker per core: PyAV and friends otherwise spread threads."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) > 1:
        os.sched_setaffinity(0, {cores[index % len(cores)]})


async def run_node(settings: Settings, redis_url: str, reuse_port: bool) -> None:
    """Run one web node until cancelled or signalled."""
    from gateway.store import open_store

    store = await open_store(settings, url=redis_url)
    app = create_app(settings, store)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, _, port = settings.http.rpartition(":")
    site = web.TCPSite(runner, host.strip("[]"), int(port), reuse_port=reuse_port)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        await store.close()
        raise ConfigError(
            f"cannot listen on {settings.http}: {err.strerror or err}",
            setting="HELPLINE_HTTP",
            fix="stop what uses that address, or choose another with --http",
        ) from None

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await store.close()

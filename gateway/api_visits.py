"""REST API: what the widget reports of a page visit.

``POST /api/visits/events`` (public, CORS, no sign-in) takes one step of
the customer's self-service, ``{"visit", "kind": "faq.viewed", "detail":
"<FAQ entry id>"}``, and appends it to the event log (``gateway.events``),
where a report counts it as self-service unless a call of the same visit
went further. Pages of any site may send it, so the body is small, only
that kind is taken, the entry must exist, and each client address may
send a limited number a minute.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any, Final

from aiohttp import web

from gateway.api_common import ApiError, read_json
from signaling.protocol import VISIT_PATTERN

logger = logging.getLogger(__name__)

MAX_BODY_BYTES: Final = 2048
#: Events one client address may send a minute.
EVENTS_PER_MINUTE: Final = 120
KINDS: Final = frozenset({"faq.viewed"})
_VISIT: Final = re.compile(VISIT_PATTERN)
#: An FAQ entry's id (``ivr.faq``).
_FAQ_ID: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

PATHS: Final[dict[str, Any]] = {
    "/api/visits/events": {
        "post": {
            "summary": "A step of a page visit's self-service (public, CORS)",
            "description": (
                "The widget reports that the customer opened an FAQ answer. "
                f"At most {EVENTS_PER_MINUTE} a minute per client address."
            ),
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/VisitEvent"}
                    }
                },
            },
            "responses": {
                "202": {"description": "Recorded"},
                "400": {"description": "Not JSON, or a field is missing or wrong"},
                "404": {"description": "No FAQ entry has that id"},
                "413": {"description": f"The body is over {MAX_BODY_BYTES} bytes"},
                "429": {"description": "Too many events from this address"},
            },
        }
    }
}
SCHEMAS: Final[dict[str, Any]] = {
    "VisitEvent": {
        "type": "object",
        "additionalProperties": False,
        "required": ["visit", "kind", "detail"],
        "properties": {
            "visit": {"type": "string", "pattern": VISIT_PATTERN},
            "kind": {"enum": sorted(KINDS)},
            "detail": {"type": "string", "maxLength": 64},
        },
    }
}


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/visits/events", visit_event)
    app.router.add_route("OPTIONS", "/api/visits/events", preflight)


async def preflight(request: web.Request) -> web.Response:
    """What a browser asks before a cross-site JSON POST."""
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "86400",
        },
    )


async def visit_event(request: web.Request) -> web.Response:
    from gateway.app import NODE

    node = request.app[NODE]
    visit, kind, faq_id = _fields(await read_json(request, MAX_BODY_BYTES))
    await _check_rate(request)
    if await node.faq.get(faq_id) is None:
        raise ApiError(404, "unknown-faq", f"there is no FAQ entry {faq_id!r}")
    await node.events.record(kind, visit=visit, channel="web", detail=faq_id)
    return web.json_response({"ok": True}, status=202)


def _fields(body: Any) -> tuple[str, str, str]:
    """The visit, kind and FAQ id of a body, or a 400 saying what is wrong."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid-message", "send a JSON object")
    unknown = sorted(set(body) - {"visit", "kind", "detail"})
    if unknown:
        raise ApiError(400, "invalid-message", f"unknown field {unknown[0]!r}")
    visit, kind, faq_id = body.get("visit"), body.get("kind"), body.get("detail")
    if not isinstance(visit, str) or not _VISIT.fullmatch(visit):
        raise ApiError(
            400, "invalid-visit", "visit must be 16 to 64 of A-Z a-z 0-9 _ -"
        )
    if kind not in KINDS:
        raise ApiError(400, "invalid-kind", "kind must be 'faq.viewed'")
    if not isinstance(faq_id, str) or not _FAQ_ID.fullmatch(faq_id):
        raise ApiError(400, "invalid-detail", "detail must be an FAQ entry's id")
    return visit, kind, faq_id


async def _check_rate(request: web.Request) -> None:
    from gateway.app import NODE

    node = request.app[NODE]
    address = request.remote or "unknown"
    minute = int(time.time() // 60)
    key = node.routing.key("rate", "visits", address, str(minute))
    count = await node.store.redis.incr(key)
    if count == 1:
        await node.store.redis.expire(key, 120)
    if count > EVENTS_PER_MINUTE:
        logger.info("visit events rate-limited", extra={"call_id": "-"})
        error = ApiError(
            429, "rate-limited", "too many events from this address; slow down"
        )
        error.headers["Retry-After"] = str(60 - int(time.time() % 60))
        raise error

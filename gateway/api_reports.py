"""REST API: reports of a period, the event log's export, the cost of each
tier. Operators only; ``docs/reports.md`` describes the figures.

A report reads the period's events (with the lead-in and tail the books
need) from the stream and folds them with :class:`ivr.ladder.Books`; the
export streams the raw events as CSV or JSON lines, page by page, so a
large period never sits in memory.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from datetime import time as dt_time
from typing import Any, Final
from zoneinfo import ZoneInfo

from aiohttp import web
from redis.asyncio import Redis

from gateway.api_common import ApiError, read_json, require_operator
from gateway.events import FIELDS, EventLog
from ivr.ladder import LEAD_IN_S, TAIL_S, TIERS, Books, CostError, Costs

logger = logging.getLogger(__name__)

DAY_S: Final = 86_400
MAX_SPAN_S: Final = 400 * DAY_S
MAX_BUCKETS: Final = 1000
EXPORT_DEFAULT: Final = 100_000
EXPORT_MAX: Final = 1_000_000
EXPORT_COLUMNS: Final = ("id", "time", *FIELDS)
COSTS_KEY: Final = "costs"
#: How long the last hour's and today's figures are reused (/metrics, floor).
WINDOW_CACHE_S: Final = 5.0
#: A window is folded again no sooner than this many times its last fold's
#: duration after it (so at most a tenth of a process's time goes to it).
FOLD_SHARE: Final = 10.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Period:
    start: float
    end: float

    @classmethod
    def from_query(cls, query: Mapping[str, str], now: float) -> Period:
        """``from`` and ``to`` (ISO 8601; no offset means UTC), by default
        the last 24 hours; a 400 JSON error says what is wrong."""
        end = _instant(query, "to", now)
        start = _instant(query, "from", end - DAY_S)
        if start >= end:
            raise ApiError(400, "invalid-period", "from must be before to")
        if end - start > MAX_SPAN_S:
            raise ApiError(400, "invalid-period", "a period is at most 400 days")
        return cls(start, end)

    def name(self) -> str:
        def stamp(at: float) -> str:
            return datetime.fromtimestamp(at, UTC).strftime("%Y%m%dT%H%M%SZ")

        return f"{stamp(self.start)}-{stamp(self.end)}"


def _instant(query: Mapping[str, str], name: str, default: float) -> float:
    raw = query.get(name, "").strip()
    if not raw:
        return default
    # "+01:00" written unescaped in a URL arrives as " 01:00".
    raw = re.sub(r" (\d\d:?\d\d)$", r"+\1", raw)
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(
            400,
            "invalid-period",
            f"{name} is not an ISO 8601 time (like 2026-12-01T09:00:00Z)",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


#: What each whole-number parameter is, for its error message.
_MEANING: Final = {
    "sl": "The service level threshold (sl) in seconds",
    "limit": "The export's limit",
    "recent": "The number of recent interactions",
}


def _whole(
    query: Mapping[str, str], name: str, default: int, low: int, high: int
) -> int:
    raw = query.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(
            400,
            f"invalid-{name}",
            f"{_MEANING[name]} is a whole number from {low} to {high}",
        )
    return int(raw)


class Reports:
    """The reports of one node: costs in Redis, events from the log."""

    def __init__(
        self,
        redis: Redis,
        key: Callable[..., str],
        events: EventLog,
        zone: Callable[[], Awaitable[str]],
        service_level_s: int = 20,
    ) -> None:
        self.redis = redis
        self.costs_key = key(COSTS_KEY)
        self.events = events
        self.zone = zone
        self.service_level_s = service_level_s
        #: Window name -> (when it is folded again, its report).
        self._windows: dict[str, tuple[float, dict[str, Any]]] = {}

    async def costs(self) -> Costs:
        raw = await self.redis.get(self.costs_key)
        if not raw:
            return Costs()
        try:
            return Costs.parse(json.loads(raw))
        except (ValueError, CostError):
            logger.error("stored costs are unreadable; defaults used", exc_info=True)
            return Costs()

    async def set_costs(self, costs: Costs) -> None:
        await self.redis.set(self.costs_key, json.dumps(costs.as_json()))
        self._windows.clear()

    async def report(
        self,
        period: Period,
        *,
        service_level_s: int | None = None,
        bucket: str = "",
        interactions: int = 0,
    ) -> dict[str, Any]:
        zone = await self._zone()
        books = Books(
            period.start,
            period.end,
            service_level_s=service_level_s or self.service_level_s,
            bucket=bucket
            or ("hour" if period.end - period.start <= 2 * DAY_S else "day"),
            zone=zone,
        )
        async for at, event in self.events.read(
            period.start - LEAD_IN_S, min(period.end + TAIL_S, time.time() + 1)
        ):
            books.add(at, event)
        costs = await self.costs()
        body = books.report(costs)
        if interactions:
            body["recent"] = books.interactions(costs, interactions)
        return {
            "from": _iso(period.start, zone),
            "to": _iso(period.end, zone),
            "time_zone": str(zone),
            "bucket": books.bucket,
            **body,
        }

    async def window(self, name: str, now: float) -> dict[str, Any]:
        """The report of the last hour (``1h``) or of today (``today``, the
        calendar's day). Folded again at most every WINDOW_CACHE_S, and
        never more often than keeps the folds to 1 / FOLD_SHARE of the
        time: a busy day's fold takes seconds (benchmarks.reports), and the
        floor and /metrics ask for it every few seconds."""
        cached = self._windows.get(name)
        if cached is not None and now < cached[0]:
            return cached[1]
        start = now - 3600 if name == "1h" else await self.midnight(now)
        began = time.monotonic()
        report = await self.report(Period(start, max(now, start + 0.001)), bucket="day")
        spent = time.monotonic() - began
        self._windows[name] = (now + max(WINDOW_CACHE_S, FOLD_SHARE * spent), report)
        return report

    async def midnight(self, now: float) -> float:
        """The start of today in the calendar's time zone."""
        zone = await self._zone()
        today = datetime.fromtimestamp(now, zone).date()
        return datetime.combine(today, dt_time(), tzinfo=zone).timestamp()

    async def _zone(self) -> tzinfo:
        try:
            return ZoneInfo(await self.zone())
        except Exception:
            logger.warning("the calendar's time zone is unknown; UTC used")
            return UTC


def _iso(at: float, zone: tzinfo) -> str:
    return datetime.fromtimestamp(at, zone).isoformat()


REPORTS: Final = web.AppKey("reports", Reports)


def add_routes(app: web.Application) -> None:
    """Add this module's routes; app[NODE] is the web node."""
    from gateway.app import NODE

    app[REPORTS] = app[NODE].reports
    for method, path, handler in _ROUTES:
        app.router.add_route(method, path, _operator(handler))


def _operator(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        from gateway.app import NODE

        await require_operator(request, request.app[NODE].accounts)
        return await handler(request)

    return wrapped


async def get_report(request: web.Request) -> web.Response:
    query = request.query
    period = Period.from_query(query, time.time())
    bucket = query.get("bucket", "")
    if bucket not in ("", "hour", "day"):
        raise ApiError(400, "invalid-bucket", "bucket is hour or day")
    hours = (period.end - period.start) / 3600
    if bucket == "hour" and hours > MAX_BUCKETS:
        raise ApiError(
            400, "invalid-bucket", f"at most {MAX_BUCKETS} hours: choose bucket=day"
        )
    sl = _whole(query, "sl", 0, 1, 3600)
    recent = _whole(query, "recent", 0, 0, 1000)
    report = await request.app[REPORTS].report(
        period, service_level_s=sl, bucket=bucket, interactions=recent
    )
    return web.json_response(report)


async def export_events(request: web.Request) -> web.StreamResponse:
    query = request.query
    period = Period.from_query(query, time.time())
    fmt = query.get("format", "csv")
    if fmt not in ("csv", "jsonl"):
        raise ApiError(400, "invalid-format", "format is csv or jsonl")
    limit = _whole(query, "limit", EXPORT_DEFAULT, 1, EXPORT_MAX)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8"
            if fmt == "csv"
            else "application/x-ndjson",
            "Content-Disposition": (
                f'attachment; filename="helpline-events-{period.name()}.{fmt}"'
            ),
        }
    )
    await response.prepare(request)
    lines = _CsvLines() if fmt == "csv" else None
    batch = [lines.header()] if lines is not None else []
    async for entry_id, event in request.app[REPORTS].events.entries(
        period.start, period.end, limit
    ):
        at = int(entry_id.partition("-")[0]) / 1000
        row = {"id": entry_id, "time": _iso(at, UTC), **event}
        if lines is not None:
            batch.append(lines.line(row))
        else:
            batch.append(json.dumps(row, separators=(",", ":")) + "\n")
        if len(batch) >= 500:
            await response.write("".join(batch).encode())
            batch.clear()
    if batch:
        await response.write("".join(batch).encode())
    await response.write_eof()
    return response


class _CsvLines:
    """CSV text a row at a time, in the export's columns."""

    def __init__(self) -> None:
        self._out = io.StringIO()
        self._writer = csv.DictWriter(
            self._out, EXPORT_COLUMNS, extrasaction="ignore", lineterminator="\r\n"
        )

    def header(self) -> str:
        self._writer.writeheader()
        return self._take()

    def line(self, row: Mapping[str, str]) -> str:
        self._writer.writerow({k: _cell(v) for k, v in row.items()})
        return self._take()

    def _take(self) -> str:
        text = self._out.getvalue()
        self._out.seek(0)
        self._out.truncate()
        return text


def _cell(value: str) -> str:
    # A cell a spreadsheet would run as a formula is kept as text.
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


async def get_costs(request: web.Request) -> web.Response:
    costs = await request.app[REPORTS].costs()
    return web.json_response(costs.as_json())


async def put_costs(request: web.Request) -> web.Response:
    raw = await read_json(request, 4096)
    try:
        costs = Costs.parse(raw)
    except CostError as err:
        return web.json_response(
            {
                "error": {
                    "code": "invalid-costs",
                    "message": str(err),
                    "field": err.field,
                }
            },
            status=400,
        )
    await request.app[REPORTS].set_costs(costs)
    logger.info(
        "costs per tier set: %s",
        ", ".join(f"{t.value} {costs.tiers[t]:.2f}" for t in TIERS),
        extra={"call_id": "-"},
    )
    return web.json_response(costs.as_json())


_ROUTES: Final[list[tuple[str, str, Handler]]] = [
    ("GET", "/api/reports", get_report),
    ("GET", "/api/events", export_events),
    ("GET", "/api/costs", get_costs),
    ("PUT", "/api/costs", put_costs),
]


def _period_params() -> list[dict[str, Any]]:
    def param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "in": "query",
            "description": description,
            "schema": schema,
        }

    iso = {"type": "string", "format": "date-time"}
    return [
        param("from", "Start (ISO 8601, UTC without an offset); 24 h before to", iso),
        param("to", "End, excluded (ISO 8601); now by default", iso),
    ]


def _answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    content = {"application/json": {"schema": schema or {"type": "object"}}}
    return {"description": description, "content": content}


_ERRORS: Final = {
    "400": _answer(
        "Bad period, format or value", {"$ref": "#/components/schemas/Error"}
    ),
    "401": _answer("Not signed in", {"$ref": "#/components/schemas/Error"}),
    "403": _answer("Not an operator", {"$ref": "#/components/schemas/Error"}),
}
_COSTS_SCHEMA: Final = {
    "type": "object",
    "required": ["tiers"],
    "properties": {
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "tiers": {
            "type": "object",
            "required": [tier.value for tier in TIERS],
            "additionalProperties": False,
            "properties": {
                tier.value: {"type": "number", "minimum": 0, "maximum": 100_000}
                for tier in TIERS
            },
        },
    },
}
_SECURITY: Final[list[dict[str, list[str]]]] = [{"bearer": []}]
PATHS: Final[dict[str, Any]] = {
    "/api/reports": {
        "get": {
            "summary": "What each tier resolved and cost in a period, with the "
            "contact-center figures (docs/reports.md)",
            "security": _SECURITY,
            "parameters": [
                *_period_params(),
                {
                    "name": "sl",
                    "in": "query",
                    "schema": {"type": "integer"},
                    "description": "Service level threshold in seconds",
                },
                {
                    "name": "bucket",
                    "in": "query",
                    "schema": {"enum": ["hour", "day"]},
                    "description": "The series' step (hour up to 2 days)",
                },
                {
                    "name": "recent",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 0, "maximum": 1000},
                    "description": "Also list this many interactions, newest "
                    "first, each with its tier and cost (field recent)",
                },
            ],
            "responses": {"200": _answer("The report"), **_ERRORS},
        }
    },
    "/api/events": {
        "get": {
            "summary": "Export the event log of a period as CSV or JSON lines",
            "security": _SECURITY,
            "parameters": [
                *_period_params(),
                {"name": "format", "in": "query", "schema": {"enum": ["csv", "jsonl"]}},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": EXPORT_MAX},
                },
            ],
            "responses": {
                "200": {
                    "description": "One row per event: " + ", ".join(EXPORT_COLUMNS),
                    "content": {"text/csv": {}, "application/x-ndjson": {}},
                },
                **_ERRORS,
            },
        }
    },
    "/api/costs": {
        "get": {
            "summary": "The cost of one interaction at each tier",
            "security": _SECURITY,
            "responses": {"200": _answer("The costs", _COSTS_SCHEMA), **_ERRORS},
        },
        "put": {
            "summary": "Set the cost of one interaction at each tier",
            "security": _SECURITY,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _COSTS_SCHEMA}},
            },
            "responses": {"200": _answer("The costs saved", _COSTS_SCHEMA), **_ERRORS},
        },
    },
}

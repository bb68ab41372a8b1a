"""REST API: menus, their versions, the entry menu, opening hours and the
simulator. Every endpoint is for operators only.

Menu documents come as JSON, or as YAML with ``Content-Type:
application/yaml``; a bad one is refused whole with ``problems``, each with
its place, and nothing is saved. A publish the validator refuses answers
422 ``publish-refused`` with every failing path, step by step.

The FAQ lives in another store; this module asks it through `FAQ` (a
:class:`FaqHook`), which knows no entry until the FAQ store is plugged in.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from aiohttp import web

from gateway.api_common import (
    MAX_JSON_BYTES,
    ApiError,
    read_body,
    read_json,
    require_operator,
)
from gateway.menus import (
    HoursStore,
    MenuConflict,
    MenuNotFound,
    MenuStore,
    check,
    played_faq,
)
from gateway.menus_openapi import PATHS, SCHEMAS
from ivr.hours import Calendar, HoursError
from ivr.menu import HoursState, Menu, MenuError, Problem, load_json, load_yaml
from ivr.numbers import check_callback_number
from ivr.simulator import FaqText, SimulationError, read_events, simulate
from ivr.validator import MenuRefused

__all__ = ["FAQ", "HOURS", "MENUS", "PATHS", "SCHEMAS", "FaqHook", "add_routes"]

logger = logging.getLogger(__name__)

YAML_TYPES: Final = frozenset({"application/yaml", "application/x-yaml", "text/yaml"})
_ID: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FaqEntryText(Protocol):
    """What this module reads of an FAQ entry."""

    @property
    def question(self) -> str: ...

    @property
    def answer(self) -> str: ...


#: The FAQ entries among `ids` that exist, by id (e.g. FaqStore.get_many).
FaqLookup = Callable[[list[str]], Awaitable[Mapping[str, FaqEntryText]]]


async def no_faq(ids: list[str]) -> Mapping[str, FaqEntryText]:
    """The lookup until the FAQ store is plugged in: no entry exists."""
    return {}


@dataclass
class FaqHook:
    """Where the FAQ store plugs in: set `lookup` (the app is frozen once
    running, this object is not)."""

    lookup: FaqLookup = no_faq


MENUS: Final = web.AppKey("menus", MenuStore)
HOURS: Final = web.AppKey("hours", HoursStore)
FAQ: Final = web.AppKey("faq-hook", FaqHook)


def add_routes(app: web.Application) -> None:
    """Add this module's routes; app[NODE] is the web node."""
    from gateway.app import NODE

    node = app[NODE]
    app[MENUS] = node.menus
    app[HOURS] = node.hours
    app[FAQ] = FaqHook(node.faq.get_many)
    for method, path, handler in _ROUTES:
        app.router.add_route(method, path, _operator(handler))


def _operator(handler: Handler) -> Handler:
    """Operators only; the store's and the model's errors as JSON."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        from gateway.app import NODE

        await require_operator(request, request.app[NODE].accounts)
        try:
            return await handler(request)
        except (MenuNotFound, MenuConflict) as exc:
            raise ApiError(exc.status, exc.code, str(exc)) from None
        except MenuRefused as exc:
            message = "the menu cannot be published: see failures"
            extra = exc.report.to_dict()
            raise _refused(422, "publish-refused", message, extra) from None
        except (MenuError, HoursError, SimulationError) as exc:
            raise _problems(422, exc.code, exc.problems) from None

    return wrapped


def _refused(status: int, code: str, message: str, extra: dict[str, Any]) -> ApiError:
    error = ApiError(status, code, message)
    error.text = json.dumps({"error": {"code": code, "message": message}, **extra})
    return error


def _problems(status: int, code: str, problems: list[Problem]) -> ApiError:
    listed = [{"path": p.path, "sentence": p.sentence} for p in problems]
    message = "; ".join(str(p) for p in problems[:5])
    return _refused(status, code, message, {"problems": listed})


# Menus.


async def list_menus(request: web.Request) -> web.Response:
    menus = request.app[MENUS]
    found = await menus.list_menus()
    entry = next((m.id for m in found if m.entry), None)
    return web.json_response({"menus": [m.to_dict() for m in found], "entry": entry})


async def create_menu(request: web.Request) -> web.Response:
    menu = await read_menu(request)
    created = await request.app[MENUS].create(menu)
    logger.info("menu %s version %d created", created.id, created.version)
    return web.json_response(created.to_dict(), status=201)


async def list_versions(request: web.Request) -> web.Response:
    menu_id = _menu_id(request)
    versions = await request.app[MENUS].versions(menu_id)
    published = next((v.version for v in versions if v.status == "published"), None)
    body = {
        "id": menu_id,
        "published": published,
        "versions": [v.to_dict() for v in versions],
    }
    return web.json_response(body)


async def get_version(request: web.Request) -> web.Response:
    menu = await request.app[MENUS].get(_menu_id(request), _version(request))
    form = request.query.get("format", "json")
    if form == "yaml":
        return web.Response(text=menu.to_yaml(), content_type="application/yaml")
    if form != "json":
        raise ApiError(400, "bad-format", "format is json or yaml")
    return web.json_response(menu.to_dict())


async def put_version(request: web.Request) -> web.Response:
    menu_id, version = _menu_id(request), _version(request)
    menu = await read_menu(request)
    saved = await request.app[MENUS].update_draft(menu_id, version, menu)
    return web.json_response(saved.to_dict())


async def validate_version(request: web.Request) -> web.Response:
    menu = await request.app[MENUS].get(_menu_id(request), _version(request))
    known = await _known_faq(request, menu)
    return web.json_response(check(menu, known).to_dict())


async def publish_version(request: web.Request) -> web.Response:
    menus, menu_id, version = request.app[MENUS], _menu_id(request), _version(request)
    known = await _known_faq(request, await menus.get(menu_id, version))
    published = await menus.publish(menu_id, version, known)
    return web.json_response(published.to_dict())


async def rollback(request: web.Request) -> web.Response:
    menus, menu_id = request.app[MENUS], _menu_id(request)
    body = await read_json(request, 4096)
    version = body.get("version") if isinstance(body, dict) else None
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _problems(
            422, "invalid-request", [Problem("version", "must be a version number")]
        )
    known = await _known_faq(request, await menus.get(menu_id, version))
    rolled = await menus.rollback(menu_id, version, known)
    return web.json_response(rolled.to_dict())


async def get_entry(request: web.Request) -> web.Response:
    return web.json_response(await _entry_json(request.app[MENUS]))


async def put_entry(request: web.Request) -> web.Response:
    body = await read_json(request, 4096)
    menu_id = body.get("menu_id") if isinstance(body, dict) else None
    if not isinstance(menu_id, str) or not _ID.fullmatch(menu_id):
        raise _problems(
            422, "invalid-request", [Problem("menu_id", "must be a menu id")]
        )
    await request.app[MENUS].set_entry(menu_id)
    return web.json_response(await _entry_json(request.app[MENUS]))


async def _entry_json(menus: MenuStore) -> dict[str, Any]:
    menu = await menus.entry()
    return {
        "menu_id": menu.id if menu else None,
        "version": menu.version if menu else None,
    }


# Opening hours.


async def get_hours(request: web.Request) -> web.Response:
    return web.json_response((await request.app[HOURS].calendar()).to_dict())


async def put_hours(request: web.Request) -> web.Response:
    calendar = Calendar.from_dict(await read_json(request, 64 * 1024))
    await request.app[HOURS].set_calendar(calendar)
    return web.json_response(calendar.to_dict())


# The simulator.


async def simulate_call(request: web.Request) -> web.Response:
    from gateway.app import NODE

    body = await read_json(request)
    if not isinstance(body, dict):
        raise _problems(422, "invalid-request", [Problem("(top)", "must be a mapping")])
    menu = await _simulated_menu(request, body)
    events = read_events(body.get("events", []))
    at = _instant(body.get("at"))
    hours = await _hours_function(request, body.get("hours"))
    texts = await request.app[FAQ].lookup(sorted(played_faq(menu)))
    countries = request.app[NODE].settings.callback_countries
    result = simulate(
        menu,
        events,
        hours=hours,
        at=at,
        check_number=functools.partial(check_callback_number, countries=countries),
        faq={k: FaqText(v.question, v.answer) for k, v in texts.items()},
    )
    return web.json_response(result)


async def _simulated_menu(request: web.Request, body: dict[str, Any]) -> Menu:
    if "menu" in body:
        return Menu.from_dict(body["menu"])
    menu_id, version = body.get("menu_id"), body.get("version")
    if not isinstance(menu_id, str) or not _ID.fullmatch(menu_id):
        sentence = "give either menu (a document) or menu_id and version"
        raise _problems(422, "invalid-request", [Problem("menu_id", sentence)])
    menus = request.app[MENUS]
    if version is None:
        published = await menus.published(menu_id)
        if published is None:
            raise ApiError(
                404, "not-found", f"menu '{menu_id}' has no published version"
            )
        return published
    if not isinstance(version, int) or isinstance(version, bool):
        raise _problems(
            422, "invalid-request", [Problem("version", "must be a number")]
        )
    return await menus.get(menu_id, version)


def _instant(value: object) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC)
    try:
        at = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        sentence = (
            "must be a date and time with its offset, e.g. 2026-12-04T10:00:00-05:00"
        )
        raise _problems(422, "invalid-request", [Problem("at", sentence)])
    return at


async def _hours_function(
    request: web.Request, override: object
) -> Callable[[dt.datetime], str]:
    if override is None:
        calendar = await request.app[HOURS].calendar()
        return calendar.state_at
    if override not in set(HoursState):
        sentence = "must be open, closed or holiday"
        raise _problems(422, "invalid-request", [Problem("hours", sentence)])
    state = str(override)
    return lambda when: state


_V: Final = "/api/menus/{id}/versions/{version}"
_ROUTES: Final[tuple[tuple[str, str, Handler], ...]] = (
    ("GET", "/api/menus", list_menus),
    ("POST", "/api/menus", create_menu),
    ("GET", "/api/menus/entry", get_entry),
    ("PUT", "/api/menus/entry", put_entry),
    ("GET", "/api/menus/{id}/versions", list_versions),
    ("GET", _V, get_version),
    ("PUT", _V, put_version),
    ("POST", f"{_V}/validate", validate_version),
    ("POST", f"{_V}/publish", publish_version),
    ("POST", "/api/menus/{id}/rollback", rollback),
    ("GET", "/api/hours", get_hours),
    ("PUT", "/api/hours", put_hours),
    ("POST", "/api/simulate", simulate_call),
)


# Reading requests.


async def read_menu(request: web.Request) -> Menu:
    """The menu in the body, JSON or YAML by Content-Type; 422 with every
    problem and its place, whether the text does not parse or is not a menu."""
    yaml = request.content_type in YAML_TYPES
    if not yaml and request.content_type not in (
        "application/json",
        "application/octet-stream",
    ):
        message = "send the menu as application/json or application/yaml"
        raise ApiError(415, "unsupported-media-type", message)
    text = await _read_text(request)
    try:
        data = load_yaml(text) if yaml else load_json(text)
    except MenuError as exc:
        raise _problems(
            422, "invalid-yaml" if yaml else "invalid-json", exc.problems
        ) from None
    return Menu.from_dict(data)


async def _read_text(request: web.Request) -> str:
    raw = await read_body(request, MAX_JSON_BYTES)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid-encoding", "the body is not UTF-8 text") from None


def _menu_id(request: web.Request) -> str:
    menu_id = request.match_info["id"]
    if not _ID.fullmatch(menu_id):
        raise ApiError(404, "not-found", "no menu has that id")
    return menu_id


def _version(request: web.Request) -> int:
    text = request.match_info["version"]
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 1_000_000:
        raise ApiError(404, "not-found", "no menu version has that number")
    return int(text)


async def _known_faq(request: web.Request, menu: Menu) -> set[str]:
    """Which of the FAQ entries `menu` plays exist."""
    found = await request.app[FAQ].lookup(sorted(played_faq(menu)))
    return set(found)

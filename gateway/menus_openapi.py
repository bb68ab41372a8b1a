"""The OpenAPI description of the menu, hours and simulator endpoints
(served inside /openapi.json through gateway.api_menus.PATHS and SCHEMAS)."""

from __future__ import annotations

from typing import Any, Final

from ivr.hours import MAX_HOLIDAYS, MAX_RANGES_PER_DAY, WEEKDAYS
from ivr.menu import (
    MAX_FAQ_ANSWERS,
    MAX_NODES,
    MAX_OPTIONS,
    MAX_PROMPT_CHARS,
    MAX_WINDOWS,
)
from ivr.simulator import MAX_EVENTS

_ID_PATTERN: Final = "^[a-z0-9][a-z0-9_-]{0,63}$"
_ID: Final = {"type": "string", "pattern": _ID_PATTERN}
_TEXT: Final = {"type": "string", "maxLength": MAX_PROMPT_CHARS}
_DIGIT: Final = {"type": "string", "pattern": "^[0-9*#]$"}
#: The ``error`` member of the shared Error schema.
_ERROR_BODY: Final = {"$ref": "#/components/schemas/Error/properties/error"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _seconds(low: float, high: float) -> dict[str, Any]:
    return {"type": "number", "minimum": low, "maximum": high}


_OPTION: Final = {
    "oneOf": [
        _ID,
        {
            "type": "object",
            "required": ["target"],
            "properties": {"target": _ID, "label": {"type": "string", "maxLength": 80}},
            "additionalProperties": False,
        },
    ]
}
_FIELD_SCHEMAS: Final[dict[str, Any]] = {
    "prompt": _TEXT,
    "number_prompt": _TEXT,
    "window_prompt": _TEXT,
    "readback_prompt": _TEXT,
    "confirm_prompt": _TEXT,
    "refused_prompt": _TEXT,
    "options": {
        "type": "object",
        "minProperties": 1,
        "maxProperties": MAX_OPTIONS,
        "propertyNames": {"pattern": "^[0-9*#]{1,4}$"},
        "additionalProperties": _OPTION,
    },
    "answers": {
        "type": "array",
        "items": _ID,
        "minItems": 1,
        "maxItems": MAX_FAQ_ANSWERS,
    },
    "windows": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_WINDOWS},
    "accept_digit": _DIGIT,
    "decline_digit": _DIGIT,
    "confirm_digit": _DIGIT,
    "reenter_digit": _DIGIT,
    "skill": _ID,
    "timeout_seconds": _seconds(1, 60),
    "interdigit_seconds": _seconds(0.5, 30),
    "max_wait_seconds": _seconds(10, 3600),
    "attempts": {"type": "integer", "minimum": 1, "maximum": 5},
}
_TARGETS: Final = ("on_timeout", "on_invalid", "next", "declined", "overflow")
_TIMING: Final = ("timeout_seconds", "interdigit_seconds", "attempts")
#: Each node kind: its required fields, then its optional ones.
_KINDS: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "menu": (("prompt", "options", "on_timeout", "on_invalid"), _TIMING),
    "faq": (("answers", "next"), ("prompt",)),
    "callback": (
        ("prompt", "next", "declined"),
        ("accept_digit", "decline_digit", "windows", "number_prompt")
        + ("window_prompt", *_TIMING, "readback_prompt", "confirm_prompt")
        + ("confirm_digit", "reenter_digit", "refused_prompt"),
    ),
    "queue": (("skill", "max_wait_seconds", "overflow"), ("prompt",)),
    "hours": (("open", "closed", "holiday"), ()),
    "tollfree": ((), ("prompt",)),
    "hangup": ((), ("prompt",)),
}


def _node_schema(kind: str) -> dict[str, Any]:
    required, optional = _KINDS[kind]
    names = required + optional
    properties = {n: _FIELD_SCHEMAS.get(n, _ID) for n in names}
    return {
        "type": "object",
        "title": kind,
        "required": ["kind", *required],
        "properties": {"kind": {"const": kind}, **properties},
        "additionalProperties": False,
    }


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


_STEP: Final = _object(
    ["node", "via", "to"],
    node={"type": "string"},
    via={"type": "string", "description": "a digit, 'timeout x3', 'overflow'..."},
    to={"type": "string"},
)
_FAILURE: Final = _object(
    ["kind", "node", "sentence", "path", "text"],
    kind={
        "enum": [
            "tollfree-without-offers",
            "unreachable",
            "never-ends",
            "missing-prompt",
            "instant-loop",
            "unknown-faq",
        ]
    },
    node={"type": "string"},
    sentence={"type": "string"},
    path={"type": "array", "items": _ref("MenuStep")},
    text={"type": "string", "description": "the path as text: a --1--> b"},
)
_TIME: Final = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"}
_CALENDAR: Final = {
    **_object(
        ["time_zone", "weekly"],
        time_zone={"type": "string", "description": "IANA zone, e.g. America/New_York"},
        weekly={
            "type": "object",
            "propertyNames": {"enum": list(WEEKDAYS)},
            "additionalProperties": {
                "type": "array",
                "maxItems": MAX_RANGES_PER_DAY,
                "items": {
                    "type": "array",
                    "prefixItems": [_TIME, _TIME],
                    "minItems": 2,
                },
                "description": "[open, close] pairs; 24:00 is midnight",
            },
        },
        holidays={
            "type": "array",
            "maxItems": MAX_HOLIDAYS,
            "items": _object(
                ["date", "name"],
                date={"type": "string", "format": "date"},
                name={"type": "string", "maxLength": 80},
            ),
        },
    ),
    "additionalProperties": False,
}
_EVENT: Final = {
    **_object(
        ["type"],
        type={"enum": ["start", "digit", "prompt_done", "timer", "form",
                       "agent_answered", "hangup"]},
        digit=_DIGIT,
        play={"type": "integer", "description": "default: the prompt playing"},
        name={"enum": ["input", "interdigit", "queue"], "description": "default: last"},
        form={"enum": ["menu", "callback"]},
        fields={
            "type": "object",
            "description": "menu: choice; callback: number, window or decline",
            "additionalProperties": {"type": ["string", "boolean"], "maxLength": 64},
        },
    ),
    "additionalProperties": False,
}  # fmt: skip
_JOURNEY: Final = _object(
    ["nodes", "faq_answers", "offers", "outcome", "tollfree_refused"],
    nodes={"type": "array", "items": {"type": "string"}},
    faq_answers={"type": "array", "items": {"type": "string"}},
    offers={"type": "array", "items": {"enum": ["faq", "callback"]}},
    outcome={"type": ["string", "null"]},
    tollfree_refused={"type": "integer"},
)

SCHEMAS: Final[dict[str, Any]] = {
    "MenuNode": {"oneOf": [_node_schema(kind) for kind in _KINDS]},
    "MenuDocument": _object(
        ["id", "start", "nodes"],
        id=_ID,
        version={"type": "integer", "minimum": 1, "description": "set by the server"},
        status={"enum": ["draft", "published", "archived"]},
        start=_ID,
        faq_ids={"type": "array", "items": _ID},
        nodes={
            "type": "object",
            "maxProperties": MAX_NODES,
            "propertyNames": {"pattern": _ID_PATTERN},
            "additionalProperties": _ref("MenuNode"),
        },
    ),
    "MenuSummary": _object(
        ["id", "latest", "published", "entry"],
        id=_ID,
        latest={"type": "integer"},
        published={"type": ["integer", "null"]},
        entry={"type": "boolean"},
    ),
    "MenuVersion": _object(
        ["version", "status", "updated"],
        version={"type": "integer"},
        status={"enum": ["draft", "published", "archived"]},
        updated={"type": "number", "description": "epoch seconds"},
    ),
    "MenuStep": _STEP,
    "MenuFailure": _FAILURE,
    "MenuReport": _object(
        ["ok", "failures"],
        ok={"type": "boolean"},
        failures={"type": "array", "items": _ref("MenuFailure")},
    ),
    "PublishRefused": _object(
        ["error", "ok", "failures"],
        error=_ERROR_BODY,
        ok={"const": False},
        failures={"type": "array", "items": _ref("MenuFailure")},
    ),
    "Problems": _object(
        ["error", "problems"],
        error=_ERROR_BODY,
        problems={
            "type": "array",
            "items": _object(
                ["path", "sentence"],
                path={"type": "string"},
                sentence={"type": "string"},
            ),
        },
    ),
    "EntryMenu": _object(
        ["menu_id", "version"],
        menu_id={"type": ["string", "null"]},
        version={"type": ["integer", "null"]},
    ),
    "Calendar": _CALENDAR,
    "SimulationEvent": _EVENT,
    "SimulationRequest": _object(
        ["events"],
        menu=_ref("MenuDocument"),
        menu_id=_ID,
        version={"type": "integer", "description": "default: the published one"},
        events={
            "type": "array",
            "maxItems": MAX_EVENTS,
            "items": _ref("SimulationEvent"),
        },
        hours={"enum": ["open", "closed", "holiday"], "description": "default: now"},
        at={"type": "string", "format": "date-time", "description": "default: now"},
    ),
    "SimulationResult": _object(
        ["steps", "journey", "phase", "at"],
        steps={
            "type": "array",
            "items": _object(
                ["event", "actions", "phase"],
                event=_ref("SimulationEvent"),
                actions={
                    "type": "array",
                    "description": "interpreter actions: type (play_prompt, show_menu, "
                    "start_timer, request_callback...) and their fields; play_prompt "
                    "of an FAQ answer has faq: {id, question, answer}",
                    "items": {"type": "object", "required": ["type"]},
                },
                phase={"type": "string"},
                note={"type": "string"},
                error=_ERROR_BODY,
            ),
        },
        journey=_JOURNEY,
        phase={"type": "string"},
        at={"type": "string", "format": "date-time"},
    ),
}  # fmt: skip


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }


def _error(description: str, schema: str = "Error") -> dict[str, Any]:
    return _json(_ref(schema), description)


_MENU_BODY: Final = {
    "required": True,
    "content": {
        "application/json": {"schema": _ref("MenuDocument")},
        "application/yaml": {"schema": _ref("MenuDocument")},
    },
}
_SIGNED_IN: Final = {
    "401": _error("Not signed in"),
    "403": _error("Not an operator"),
}
_BAD_MENU: Final = {
    "400": _error("Not UTF-8 text"),
    "413": _error("The body is too large"),
    "415": _error("Neither JSON nor YAML"),
    "422": _error(
        "Not a menu (or not JSON / YAML): each problem, its place", "Problems"
    ),
}
_NOT_FOUND: Final = {"404": _error("No such menu or version")}
_ID_PARAM: Final = {"name": "id", "in": "path", "required": True, "schema": _ID}
_VERSION_PARAM: Final = {
    "name": "version",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}


def _op(summary: str, responses: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "summary": summary,
        "security": [{"bearer": []}],
        "responses": {**responses, **_SIGNED_IN},
        **more,
    }


_VERSION_PARAMS: Final = {"parameters": [_ID_PARAM, _VERSION_PARAM]}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_LIST: Final = _object(
    ["menus", "entry"],
    menus={"type": "array", "items": _ref("MenuSummary")},
    entry={"type": ["string", "null"]},
)
_VERSIONS: Final = _object(
    ["id", "published", "versions"],
    id=_ID,
    published={"type": ["integer", "null"]},
    versions={"type": "array", "items": _ref("MenuVersion")},
)
_DOCUMENT: Final = {
    "description": "The document",
    "content": {
        "application/json": {"schema": _ref("MenuDocument")},
        "application/yaml": {"schema": {"type": "string"}},
    },
}
_FORMAT: Final = {"name": "format", "in": "query", "schema": {"enum": ["json", "yaml"]}}
_DRAFT: Final = _json(_ref("MenuDocument"), "The draft")
_PUBLISHED: Final = _json(_ref("MenuDocument"), "Published")
_ENTRY: Final = _json(_ref("EntryMenu"), "The entry menu")
_CALENDAR_OK: Final = _json(_ref("Calendar"), "The calendar")
_REFUSED: Final = _error("Refused: each failing path, step by step", "PublishRefused")

PATHS: Final[dict[str, Any]] = {
    "/api/menus": {
        "get": _op("Every menu and its versions", {"200": _json(_LIST, "The menus")}),
        "post": _op(
            "Create a draft: a new menu, or the next version of one",
            {"201": _DRAFT, **_BAD_MENU, "409": _error("Too many menus or versions")},
            requestBody=_MENU_BODY,
        ),
    },
    "/api/menus/entry": {
        "get": _op("The menu callers enter", {"200": _ENTRY}),
        "put": _op(
            "Set the menu callers enter (it must have a published version)",
            {
                "200": _ENTRY,
                "409": _error("That menu has no published version"),
                "422": _error("No menu id given", "Problems"),
            },
            requestBody=_body(_object(["menu_id"], menu_id=_ID)),
        ),
    },
    "/api/menus/{id}/versions": {
        "get": _op(
            "The versions of a menu and their status",
            {"200": _json(_VERSIONS, "The versions"), **_NOT_FOUND},
            parameters=[_ID_PARAM],
        ),
    },
    "/api/menus/{id}/versions/{version}": {
        "get": _op(
            "One version, as JSON or (format=yaml) YAML",
            {"200": _DOCUMENT, **_NOT_FOUND},
            parameters=[_ID_PARAM, _VERSION_PARAM, _FORMAT],
        ),
        "put": _op(
            "Replace a draft (only drafts change)",
            {"200": _DRAFT, **_BAD_MENU, **_NOT_FOUND, "409": _error("Not a draft")},
            requestBody=_MENU_BODY,
            **_VERSION_PARAMS,
        ),
    },
    "/api/menus/{id}/versions/{version}/validate": {
        "post": _op(
            "Check a version as publishing would: every failing path",
            {"200": _json(_ref("MenuReport"), "The report"), **_NOT_FOUND},
            **_VERSION_PARAMS,
        ),
    },
    "/api/menus/{id}/versions/{version}/publish": {
        "post": _op(
            "Publish a draft; the version published before is archived",
            {
                "200": _PUBLISHED,
                **_NOT_FOUND,
                "409": _error("Archived, or the draft kept changing"),
                "422": _REFUSED,
            },
            **_VERSION_PARAMS,
        ),
    },
    "/api/menus/{id}/rollback": {
        "post": _op(
            "Publish a new version copied from an earlier one",
            {"200": _PUBLISHED, **_NOT_FOUND, "422": _REFUSED},
            parameters=[_ID_PARAM],
            requestBody=_body(_object(["version"], version={"type": "integer"})),
        ),
    },
    "/api/hours": {
        "get": _op("The opening hours (always open until set)", {"200": _CALENDAR_OK}),
        "put": _op(
            "Set the opening hours",
            {
                "200": _CALENDAR_OK,
                "400": _error("Not JSON"),
                "413": _error("Too large"),
                "422": _error("Not a valid calendar", "Problems"),
            },
            requestBody=_body(_ref("Calendar")),
        ),
    },
    "/api/simulate": {
        "post": _op(
            "Replay events through a menu: each step's actions, and the journey",
            {
                "200": _json(_ref("SimulationResult"), "The run"),
                "400": _error("Not JSON"),
                **_NOT_FOUND,
                "422": _error("Bad menu, events or options", "Problems"),
            },
            requestBody=_body(_ref("SimulationRequest")),
        ),
    },
}

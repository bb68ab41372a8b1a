"""The OpenAPI description of the FAQ and prompt endpoints (gateway.api_faq)."""

from __future__ import annotations

from typing import Any, Final

from gateway.openapi import _error, _json
from ivr.faq import (
    MAX_ANSWER_CHARS,
    MAX_QUESTION_CHARS,
    MAX_TAG_CHARS,
    MAX_TAGS,
)
from ivr.prompts import KEY_PATTERN, MAX_TEXT_CHARS, MAX_UPLOAD_BYTES
from ivr.search import MAX_QUERY_CHARS

_BEARER: Final[list[dict[str, list[str]]]] = [{"bearer": []}]
_ID: Final = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object_body(required: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A required JSON object body with one required property."""
    schema = {"type": "object", "required": [required], "properties": properties}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _refused(description: str) -> dict[str, Any]:
    return _json(_ref("FaqRefused"), description)


def _operator(summary: str, responses: dict[str, Any], **more: Any) -> dict[str, Any]:
    """An operator's endpoint: the bearer token, and its two refusals.

    `more` holds the other fields of the operation (``requestBody``...).
    """
    refusals = {
        "401": _error("No valid token"),
        "403": _error("The token is not an operator's"),
    }
    return {
        "summary": summary,
        **more,
        "security": _BEARER,
        "responses": responses | refusals,
    }


def _query(name: str, schema: dict[str, Any], about: str = "") -> dict[str, Any]:
    parameter = {"name": name, "in": "query", "schema": schema}
    return parameter | ({"description": about} if about else {})


_ID_PARAM: Final = {"name": "id", "in": "path", "required": True, "schema": _ID}
_ENTRY_BODY: Final = {
    "required": True,
    "content": {"application/json": {"schema": _ref("FaqEntryInput")}},
}
_PROMPT_OK: Final = _json(_ref("Prompt"), "The prompt and its files")

PATHS: dict[str, Any] = {
    "/api/faq/search": {
        "get": {
            "summary": "Ranked search of the FAQ, as the customer types (public)",
            "parameters": [
                _query(
                    "q",
                    {"type": "string", "maxLength": MAX_QUERY_CHARS},
                    "The words typed; the last one may be unfinished",
                ),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 20}),
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["results"],
                        "properties": {
                            "results": {"type": "array", "items": _ref("FaqHit")}
                        },
                    },
                    "The best entries first",
                ),
                "400": _error("q is too long or limit is out of range"),
            },
        }
    },
    "/api/faq": {
        "get": _operator(
            "Every FAQ entry",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "entries": {"type": "array", "items": _ref("FaqEntry")}
                        },
                    },
                    "The entries, by id",
                )
            },
        ),
        "post": _operator(
            "Create an FAQ entry",
            {
                "201": _json(_ref("FaqEntry"), "The entry as saved"),
                "409": _error("The id exists already, or the FAQ is full"),
                "422": _refused("The entry is refused; problems say where"),
            },
            requestBody=_ENTRY_BODY,
        ),
    },
    "/api/faq/{id}": {
        "parameters": [_ID_PARAM],
        "get": {
            "summary": "One FAQ entry (public)",
            "responses": {
                "200": _json(_ref("FaqEntry"), "The entry"),
                "404": _error("No such entry"),
            },
        },
        "put": _operator(
            "Change an FAQ entry",
            {
                "200": _json(_ref("FaqEntry"), "The entry as saved"),
                "404": _error("No such entry"),
                "422": _refused("The entry is refused; problems say where"),
            },
            requestBody=_ENTRY_BODY,
        ),
        "delete": _operator(
            "Delete an FAQ entry",
            {
                "200": {"description": "Deleted"},
                "404": _error("No such entry"),
                "409": _json(
                    _ref("FaqInUse"), "Published menus play it; menus names them"
                ),
            },
        ),
    },
    "/api/faq/{id}/audio.ogg": {
        "parameters": [_ID_PARAM],
        "get": {
            "summary": "The answer's audio: its recording, else the answer spoken "
            "(rendered on first use); redirects to /api/prompts/{key}.ogg (public)",
            "responses": {
                "302": {"description": "To the Ogg Opus file"},
                "404": _error("No such entry"),
                "503": _error("No audio can be made (the text shows instead)"),
            },
        },
    },
    "/api/faq/{id}/recording": {
        "parameters": [_ID_PARAM],
        "post": _operator(
            "Play an uploaded recording as this entry's answer",
            {
                "200": _json(_ref("FaqEntry"), "The entry as saved"),
                "404": _error("No such entry"),
                "422": _error("No uploaded prompt has that key"),
            },
            requestBody=_object_body(
                "key",
                {
                    "key": {
                        "type": ["string", "null"],
                        "pattern": f"^{KEY_PATTERN}$",
                        "description": "From POST /api/prompts/upload; "
                        "null speaks the answer again",
                    }
                },
            ),
        ),
    },
    "/api/faq/import": {
        "post": _operator(
            "Import a YAML list of entries: all saved, or none",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "imported": {"type": "integer"},
                            "ids": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                    "Every entry saved",
                ),
                "409": _error("Too many entries, or dropped ones are in use"),
                "413": _error("The body is too large"),
                "422": _refused("Nothing saved; problems say where"),
            },
            parameters=[
                _query(
                    "replace",
                    {"type": "boolean", "default": False},
                    "Delete the entries the list does not have",
                )
            ],
            requestBody={
                "required": True,
                "content": {"application/yaml": {"schema": {"type": "string"}}},
            },
        ),
    },
    "/api/faq/export": {
        "get": _operator(
            "Every entry as a YAML list that import reads back",
            {
                "200": {
                    "description": "The YAML",
                    "content": {"application/yaml": {"schema": {"type": "string"}}},
                }
            },
        ),
    },
    "/api/prompts/preview": {
        "post": _operator(
            "Render a text prompt (cached by content)",
            {
                "200": _PROMPT_OK,
                "400": _error("The body is not the JSON asked for"),
                "503": _error("No audio can be made, not even the fallback"),
            },
            requestBody=_object_body(
                "text", {"text": {"type": "string", "maxLength": MAX_TEXT_CHARS}}
            ),
        ),
    },
    "/api/prompts/upload": {
        "post": _operator(
            "Upload a recording (WAV, Ogg, WebM, MP3, MP4, FLAC): "
            "the raw body, or the first file of a multipart form",
            {
                "201": _PROMPT_OK,
                "413": _error(f"Over {MAX_UPLOAD_BYTES} bytes (code too-large)"),
                "422": _error(
                    "Refused: code not-audio, too-long (over 120 s) or silent"
                ),
            },
            requestBody={
                "required": True,
                "content": {
                    "audio/*": {"schema": {"type": "string", "format": "binary"}},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "file": {"type": "string", "format": "binary"}
                            },
                        }
                    },
                },
            },
        ),
    },
    "/api/prompts/{file}": {
        "parameters": [
            {
                "name": "file",
                "in": "path",
                "required": True,
                "schema": {
                    "type": "string",
                    "pattern": f"^{KEY_PATTERN}\\.(ogg|8k\\.wav|16k\\.wav)$",
                },
            }
        ],
        "get": {
            "summary": "A prompt's audio: Ogg Opus for pages, 8 or 16 kHz WAV "
            "for SIP; immutable (public)",
            "responses": {
                "200": {
                    "description": "The file",
                    "content": {"audio/ogg": {}, "audio/wav": {}},
                },
                "404": _error("No such prompt file"),
            },
        },
    },
}

_TEXT: Final = {"type": "string", "minLength": 1}
_ENTRY_PROPERTIES: Final = {
    "id": _ID,
    "question": {**_TEXT, "maxLength": MAX_QUESTION_CHARS},
    "answer": {**_TEXT, "maxLength": MAX_ANSWER_CHARS},
    "tags": {
        "type": "array",
        "maxItems": MAX_TAGS,
        "items": {**_TEXT, "maxLength": MAX_TAG_CHARS},
    },
    "recording": {"type": ["string", "null"], "pattern": f"^{KEY_PATTERN}$"},
}
_PROBLEM: Final = {
    "type": "object",
    "required": ["path", "sentence"],
    "properties": {"path": {"type": "string"}, "sentence": {"type": "string"}},
}

SCHEMAS: dict[str, Any] = {
    "FaqEntryInput": {
        "type": "object",
        "required": ["id", "question", "answer"],
        "properties": _ENTRY_PROPERTIES,
    },
    "FaqEntry": {
        "type": "object",
        "required": [
            "id",
            "question",
            "answer",
            "tags",
            "recording",
            "updated",
            "audio",
        ],
        "properties": {
            **_ENTRY_PROPERTIES,
            "updated": {"type": "number", "description": "Unix time of the last save"},
            "audio": {
                "type": "string",
                "description": "URL path of the answer's audio",
            },
        },
    },
    "FaqHit": {
        "type": "object",
        "required": ["id", "question", "answer", "tags", "snippet", "score", "audio"],
        "properties": {
            "id": _ID,
            "question": {"type": "string"},
            "answer": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "snippet": {"type": "string", "description": "Words of the answer"},
            "score": {"type": "number"},
            "audio": {"type": "string"},
        },
    },
    "FaqRefused": {
        "allOf": [
            _ref("Error"),
            {
                "type": "object",
                "required": ["problems"],
                "properties": {"problems": {"type": "array", "items": _PROBLEM}},
            },
        ]
    },
    "FaqInUse": {
        "allOf": [
            _ref("Error"),
            {
                "type": "object",
                "required": ["menus"],
                "properties": {
                    "menus": {
                        "type": "object",
                        "description": "entry id -> ids of the menus that play it",
                        "additionalProperties": {
                            "type": "array",
                            "items": {"type": "string"},
                        },
                    }
                },
            },
        ]
    },
    "Prompt": {
        "type": "object",
        "required": ["key", "duration_s", "fallback", "error", "urls"],
        "properties": {
            "key": {"type": "string", "pattern": f"^{KEY_PATTERN}$"},
            "duration_s": {"type": "number"},
            "fallback": {
                "type": "boolean",
                "description": "The text could not be spoken; the fallback "
                "sentence plays instead and error says why",
            },
            "error": {"type": ["string", "null"]},
            "urls": {
                "type": "object",
                "properties": {
                    "ogg": {"type": "string"},
                    "8k.wav": {"type": "string"},
                    "16k.wav": {"type": "string"},
                },
            },
        },
    },
}

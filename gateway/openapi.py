"""The OpenAPI description of Helpline's HTTP API, served at /openapi.json."""

from __future__ import annotations

from typing import Any

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
_USER = {
    "type": "object",
    "required": ["id", "username", "role", "name"],
    "properties": {
        "id": {"type": "string"},
        "username": {"type": "string"},
        "role": {"enum": ["agent", "operator"]},
        "name": {"type": "string"},
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }


def _error(description: str) -> dict[str, Any]:
    return _json({"$ref": "#/components/schemas/Error"}, description)


_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]

_PATHS: dict[str, Any] = {
    "/api/login": {
        "post": {
            "summary": "Sign in as an agent or operator; returns a bearer token",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["username", "password"],
                            "properties": {
                                "username": {"type": "string", "maxLength": 64},
                                "password": {"type": "string", "maxLength": 1024},
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["token", "user"],
                        "properties": {
                            "token": {"type": "string"},
                            "user": {"$ref": "#/components/schemas/User"},
                        },
                    },
                    "Signed in",
                ),
                "400": _error("The body is not the JSON asked for"),
                "401": _error("Wrong username or password"),
                "413": _error("The body is too large"),
            },
        }
    },
    "/api/logout": {
        "post": {
            "summary": "Revoke the bearer token",
            "security": _BEARER,
            "responses": {"200": {"description": "Signed out"}},
        }
    },
    "/api/me": {
        "get": {
            "summary": "The user the bearer token belongs to",
            "security": _BEARER,
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {"user": {"$ref": "#/components/schemas/User"}},
                    },
                    "The user",
                ),
                "401": _error("No valid token"),
            },
        }
    },
    "/api/ice": {
        "get": {
            "summary": (
                "The STUN servers, which need no credentials (empty when none "
                "is set); TURN servers and their credentials come with a "
                "signaling session, in welcome"
            ),
            "responses": {"200": {"description": "{'iceServers': [...]}"}},
        }
    },
    "/api/protocol.json": {
        "get": {
            "summary": "JSON Schema of every signaling message on /ws",
            "responses": {"200": {"description": "The schemas"}},
        }
    },
    "/ws": {
        "get": {
            "summary": "The signaling WebSocket (docs/protocol.md)",
            "responses": {"101": {"description": "Switching to WebSocket"}},
        }
    },
    "/healthz": {
        "get": {
            "summary": "State of each component",
            "responses": {
                "200": {"description": "Every component is ok"},
                "503": {"description": "A component is down"},
            },
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics",
            "responses": {"200": {"description": "Text exposition format"}},
        }
    },
}


def document(version: str) -> dict[str, Any]:
    from gateway import api_faq, api_menus, api_reports, api_visits

    paths = (
        _PATHS | api_faq.PATHS | api_menus.PATHS | api_reports.PATHS | api_visits.PATHS
    )
    schemas = (
        {"Error": _ERROR, "User": _USER}
        | api_faq.SCHEMAS
        | api_menus.SCHEMAS
        | api_visits.SCHEMAS
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Helpline",
            "version": version,
            "license": {"name": "GPL-2.0-or-later", "identifier": "GPL-2.0-or-later"},
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }

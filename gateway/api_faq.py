"""REST API: faq (filled in by the IVR work)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

#: OpenAPI paths this module serves, merged into /openapi.json.
PATHS: dict[str, Any] = {}
#: OpenAPI component schemas this module's paths refer to.
SCHEMAS: dict[str, Any] = {}


def add_routes(app: web.Application) -> None:
    """Add this module's routes; app[NODE] is the web node."""

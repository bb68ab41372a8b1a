"""What every REST handler shares: JSON errors, bodies with a size limit,
and the operator check.

Errors are ``{"error": {"code", "message"}}`` with the HTTP status that
fits; ``message`` is a sentence for people. Operators' endpoints take
``Authorization: Bearer <token>`` from ``POST /api/login``.
"""

from __future__ import annotations

import json
from typing import Any, Final

from aiohttp import web

from gateway.accounts import Accounts, User

MAX_JSON_BYTES: Final = 512 * 1024


def api_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status
    )


class ApiError(web.HTTPException):
    """Raise in a handler to answer with a JSON error and `status`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status_code = status
        super().__init__(
            text=json.dumps({"error": {"code": code, "message": message}}),
            content_type="application/json",
        )


def bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    return header.removeprefix("Bearer ").strip()


async def require_operator(request: web.Request, accounts: Accounts) -> User:
    """The signed-in operator, or a 401 / 403 JSON error."""
    user = await accounts.user_for_token(bearer(request))
    if user is None:
        raise ApiError(401, "unauthorized", "sign in as an operator first")
    if user.role != "operator":
        raise ApiError(403, "forbidden", "only operators may do this")
    return user


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request's body, or a 413 JSON error past `limit` bytes."""
    if (request.content_length or 0) > limit:
        raise ApiError(413, "too-large", f"the body is over {limit} bytes")
    body = bytearray()
    while chunk := await request.content.read(limit + 1 - len(body)):
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "too-large", f"the body is over {limit} bytes")
    return bytes(body)


async def read_json(request: web.Request, limit: int = MAX_JSON_BYTES) -> Any:
    """The request's JSON body, or a 413 / 400 JSON error."""
    raw = await read_body(request, limit)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid-json", "the body is not JSON") from None

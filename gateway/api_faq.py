"""REST API: the FAQ, its search, and prompt audio.

Public: ``GET /api/faq/search`` (the widget searches as the customer
types), ``GET /api/faq/{id}``, ``GET /api/faq/{id}/audio.ogg`` (renders the
answer on first use, then redirects to its file) and ``GET
/api/prompts/{key}.{ogg|8k.wav|16k.wav}`` (files named by content, so
cached for good). Everything that changes something, and the whole list,
is for operators. Errors are ``{"error": {"code", "message"}}``, plus
``problems`` (each with its place) for a refused entry or import and
``menus`` for an entry that published menus play.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import BodyPartReader, web

from gateway.api_common import ApiError, read_json, require_operator
from gateway.api_faq_doc import PATHS, SCHEMAS
from gateway.faq import FaqBusy, FaqExists, FaqFull, FaqInUse, FaqNotFound, FaqStore
from gateway.prompts import Prompts
from ivr.faq import MAX_YAML_CHARS, FaqEntry, FaqError
from ivr.menu import Problem
from ivr.prompts import FORMATS, KEY_PATTERN, MAX_UPLOAD_BYTES, Prompt, PromptError
from ivr.search import MAX_QUERY_CHARS, Hit
from signaling.errors import IvrError

logger = logging.getLogger(__name__)

__all__ = ["FAQ", "PATHS", "PROMPTS", "SCHEMAS", "add_routes"]

FAQ: Final = web.AppKey("faq", FaqStore)
PROMPTS: Final = web.AppKey("prompts", Prompts)
MAX_SEARCH_LIMIT: Final = 20
IMMUTABLE: Final = "public, max-age=31536000, immutable"
_PROMPT_FILE: Final = re.compile(rf"({KEY_PATTERN})\.(ogg|8k\.wav|16k\.wav)")
_STATUS: Final[dict[type[IvrError], int]] = {
    FaqError: 422,
    FaqNotFound: 404,
    FaqExists: 409,
    FaqInUse: 409,
    FaqFull: 409,
    FaqBusy: 503,
}
_PROMPT_STATUS: Final = {"too-large": 413, "tts-failed": 503}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_routes(app: web.Application) -> None:
    """Add this module's routes; app[NODE] is the web node."""
    from gateway.app import NODE

    node = app[NODE]
    app[FAQ] = node.faq
    app[PROMPTS] = node.prompts
    app.on_cleanup.append(_close_prompts)
    add = app.router
    # The fixed paths first: they would otherwise read as entry ids.
    add.add_get("/api/faq/search", _api(search))
    add.add_get("/api/faq/export", _api(export))
    add.add_post("/api/faq/import", _api(import_yaml))
    add.add_get("/api/faq", _api(list_entries))
    add.add_post("/api/faq", _api(create))
    add.add_get("/api/faq/{id}", _api(get_entry))
    add.add_put("/api/faq/{id}", _api(update))
    add.add_delete("/api/faq/{id}", _api(delete))
    add.add_get("/api/faq/{id}/audio.ogg", _api(entry_audio))
    add.add_post("/api/faq/{id}/recording", _api(attach_recording))
    add.add_post("/api/prompts/preview", _api(preview))
    add.add_post("/api/prompts/upload", _api(upload))
    add.add_get("/api/prompts/{name:.+}", _api(prompt_file))


async def _close_prompts(app: web.Application) -> None:
    await app[PROMPTS].close()


def _api(handler: Handler) -> Handler:
    """Answer the FAQ's and the prompts' own errors as JSON errors."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (FaqError, FaqNotFound, FaqExists, FaqInUse, FaqFull, FaqBusy) as err:
            raise _faq_error(err) from None
        except PromptError as err:
            status = _PROMPT_STATUS.get(err.code, 422)
            raise _error(status, err.code, str(err)) from None

    return wrapped


def _faq_error(err: IvrError) -> ApiError:
    extra: dict[str, Any] = {}
    if isinstance(err, FaqError):
        extra["problems"] = [_problem(p) for p in err.problems]
    if isinstance(err, FaqInUse):
        extra["menus"] = err.menus
    return _error(_STATUS[type(err)], err.code, str(err), **extra)


def _error(status: int, code: str, message: str, **extra: Any) -> ApiError:
    error = ApiError(status, code, message)
    if extra:
        error.text = json.dumps({"error": {"code": code, "message": message}, **extra})
    return error


def _problem(problem: Problem) -> dict[str, str]:
    return {"path": problem.path, "sentence": problem.sentence}


async def _operator(request: web.Request) -> None:
    from gateway.app import NODE

    await require_operator(request, request.app[NODE].accounts)


# Public


async def search(request: web.Request) -> web.Response:
    query = request.query.get("q", "")
    if len(query) > MAX_QUERY_CHARS:
        raise ApiError(400, "query-too-long", f"q is over {MAX_QUERY_CHARS} characters")
    limit = _whole(request.query.get("limit", "5"), "limit", 1, MAX_SEARCH_LIMIT)
    hits = await request.app[FAQ].search(query, limit)
    return web.json_response({"results": [_hit_json(h) for h in hits]})


async def get_entry(request: web.Request) -> web.Response:
    entry = await _entry(request)
    return web.json_response(_entry_json(entry))


async def entry_audio(request: web.Request) -> web.Response:
    """Render the answer (or find its recording), then send the client to
    the file; the redirect is not cached, since the entry may change."""
    prompt = await request.app[PROMPTS].for_faq(await _entry(request))
    raise web.HTTPFound(_urls(prompt)["ogg"], headers={"Cache-Control": "no-cache"})


async def prompt_file(request: web.Request) -> web.StreamResponse:
    match = _PROMPT_FILE.fullmatch(request.match_info["name"])
    path = request.app[PROMPTS].path(*match.groups()) if match else None
    if match is None or path is None:
        raise ApiError(404, "prompt-not-found", "there is no such prompt file")
    headers = {"Content-Type": FORMATS[match.group(2)], "Cache-Control": IMMUTABLE}
    return web.FileResponse(path, headers=headers)


# Operators: entries


async def list_entries(request: web.Request) -> web.Response:
    await _operator(request)
    entries = await request.app[FAQ].all()
    return web.json_response({"entries": [_entry_json(e) for e in entries]})


async def create(request: web.Request) -> web.Response:
    await _operator(request)
    entry = FaqEntry.from_dict(await read_json(request))
    saved = await request.app[FAQ].put(entry, create=True)
    return web.json_response(_entry_json(saved), status=201)


async def update(request: web.Request) -> web.Response:
    await _operator(request)
    faq_id = request.match_info["id"]
    body = await read_json(request)
    if isinstance(body, dict):
        if body.setdefault("id", faq_id) != faq_id:
            raise FaqError([Problem("id", f"must be '{faq_id}', as in the path")])
    saved = await request.app[FAQ].put(FaqEntry.from_dict(body), create=False)
    return web.json_response(_entry_json(saved))


async def delete(request: web.Request) -> web.Response:
    await _operator(request)
    await request.app[FAQ].delete(request.match_info["id"])
    return web.json_response({"ok": True})


async def attach_recording(request: web.Request) -> web.Response:
    """Play an uploaded recording for this entry (``{"key": null}`` stops)."""
    await _operator(request)
    body = await read_json(request)
    key = body.get("key") if isinstance(body, dict) else ""
    if key is not None and (
        not isinstance(key, str) or request.app[PROMPTS].cached(key) is None
    ):
        raise ApiError(422, "prompt-not-found", "key is not an uploaded prompt")
    entry = dataclasses.replace(await _entry(request), recording=key)
    saved = await request.app[FAQ].put(entry, create=False)
    return web.json_response(_entry_json(saved))


async def import_yaml(request: web.Request) -> web.Response:
    """A YAML list of entries, saved all together or not at all."""
    await _operator(request)
    replace = _flag(request.query.get("replace", "false"), "replace")
    raw = await _read_body(request, MAX_YAML_CHARS)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid-yaml", "the body is not UTF-8 text") from None
    saved = await request.app[FAQ].import_yaml(text, replace)
    return web.json_response({"imported": len(saved), "ids": [e.id for e in saved]})


async def export(request: web.Request) -> web.Response:
    await _operator(request)
    text = await request.app[FAQ].export_yaml()
    headers = {"Content-Disposition": 'attachment; filename="faq.yaml"'}
    return web.Response(text=text, content_type="application/yaml", headers=headers)


# Operators: prompts


async def preview(request: web.Request) -> web.Response:
    await _operator(request)
    body = await read_json(request)
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str):
        raise ApiError(400, "invalid-message", 'send JSON {"text": "..."}')
    prompt = await request.app[PROMPTS].render(text)
    return web.json_response(_prompt_json(prompt))


async def upload(request: web.Request) -> web.Response:
    """A recording as the raw body, or as the first file of a form."""
    await _operator(request)
    if request.content_type.startswith("multipart/"):
        data = await _read_form_file(request)
    else:
        data = await _read_body(request, MAX_UPLOAD_BYTES)
    prompt = await request.app[PROMPTS].save_upload(data)
    return web.json_response(_prompt_json(prompt), status=201)


# Reading requests


async def _entry(request: web.Request) -> FaqEntry:
    faq_id = request.match_info["id"]
    entry = await request.app[FAQ].get(faq_id)
    if entry is None:
        raise FaqNotFound(f"there is no FAQ entry '{faq_id}'")
    return entry


async def _read_body(request: web.Request, limit: int) -> bytes:
    if (request.content_length or 0) > limit:
        raise ApiError(413, "too-large", f"the body is over {limit} bytes")
    data = await request.content.read(limit + 1)
    while len(data) <= limit and not request.content.at_eof():
        data += await request.content.read(limit + 1 - len(data))
    if len(data) > limit:
        raise ApiError(413, "too-large", f"the body is over {limit} bytes")
    return data


async def _read_form_file(request: web.Request) -> bytes:
    if (request.content_length or 0) > MAX_UPLOAD_BYTES + 64 * 1024:
        raise ApiError(413, "too-large", f"the body is over {MAX_UPLOAD_BYTES} bytes")
    async for part in await request.multipart():
        if isinstance(part, BodyPartReader) and part.filename is not None:
            return await _read_part(part)
    raise ApiError(400, "no-file", "the form has no file in it")


async def _read_part(part: BodyPartReader) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data += chunk
        if len(data) > MAX_UPLOAD_BYTES:
            raise ApiError(
                413, "too-large", f"the file is over {MAX_UPLOAD_BYTES} bytes"
            )
    return bytes(data)


def _whole(raw: str, name: str, low: int, high: int) -> int:
    if raw.isascii() and raw.isdigit() and low <= int(raw) <= high:
        return int(raw)
    raise ApiError(
        400, f"invalid-{name}", f"{name} must be a number from {low} to {high}"
    )


def _flag(raw: str, name: str) -> bool:
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no", ""):
        return False
    raise ApiError(400, f"invalid-{name}", f"{name} must be true or false")


# Writing answers


def _entry_json(entry: FaqEntry) -> dict[str, Any]:
    return {**entry.to_dict(), "audio": f"/api/faq/{entry.id}/audio.ogg"}


def _hit_json(hit: Hit) -> dict[str, Any]:
    entry = hit.entry
    return {
        "id": entry.id,
        "question": entry.question,
        "answer": entry.answer,
        "tags": list(entry.tags),
        "snippet": hit.snippet,
        "score": round(hit.score, 3),
        "audio": f"/api/faq/{entry.id}/audio.ogg",
    }


def _prompt_json(prompt: Prompt) -> dict[str, Any]:
    return {
        "key": prompt.key,
        "duration_s": prompt.duration_s,
        "fallback": prompt.fallback,
        "error": prompt.error,
        "urls": _urls(prompt),
    }


def _urls(prompt: Prompt) -> dict[str, str]:
    return {fmt: f"/api/prompts/{prompt.key}.{fmt}" for fmt in FORMATS}

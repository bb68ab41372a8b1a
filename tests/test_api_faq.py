"""The FAQ and prompt REST API on real Helpline nodes and real Redis:
public search, operators' editing, import and export, prompt audio."""

from __future__ import annotations

import io
import math
import struct
import wave
from dataclasses import dataclass
from typing import Any

import aiohttp
import av
import pytest
import yaml
from yarl import URL

from gateway.accounts import Accounts, Role
from gateway.api_faq import FAQ
from gateway.faq import FaqStore
from ivr.faq import MAX_ENTRIES
from tests.fixtures.app import NodeFactory, RunningHelpline

PASSWORD = "operator-password-1"


@dataclass
class Api:
    """An HTTP client on one node, signed in or not."""

    base: str
    http: aiohttp.ClientSession
    token: str = ""

    async def call(
        self, method: str, path: str, body: Any = None, **kw: Any
    ) -> tuple[int, Any]:
        if body is not None:
            kw["json"] = body
        async with self.http.request(
            method, self.base + path, headers=self.headers(kw), **kw
        ) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    def headers(self, kw: dict[str, Any]) -> dict[str, str]:
        headers: dict[str, str] = kw.pop("headers", {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    async def raw(
        self, method: str, path: str | URL, **kw: Any
    ) -> aiohttp.ClientResponse:
        if isinstance(path, str):
            path = URL(self.base + path)
        response = await self.http.request(method, path, headers=self.headers(kw), **kw)
        await response.read()
        return response


async def sign_in(
    node: RunningHelpline, http: aiohttp.ClientSession, role: Role
) -> Api:
    username = f"{role}-1"
    await Accounts(node.store).add_user(username, PASSWORD, role, f"Test {role}")
    login = {"username": username, "password": PASSWORD}
    async with http.post(node.url + "/api/login", json=login) as response:
        assert response.status == 200
        token = (await response.json())["token"]
    return Api(node.url, http, token)


@pytest.fixture
async def http() -> Any:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def operator(helpline: RunningHelpline, http: aiohttp.ClientSession) -> Api:
    return await sign_in(helpline, http, "operator")


@pytest.fixture
def public(helpline: RunningHelpline, http: aiohttp.ClientSession) -> Api:
    return Api(helpline.url, http)


def faq(node: RunningHelpline) -> FaqStore:
    return node.runner.app[FAQ]


def entry(faq_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "id": faq_id,
        "question": f"Question {faq_id}?",
        "answer": f"The answer about {faq_id}.",
        "tags": ["test"],
    } | changes


def sine_wav(seconds: float, amplitude: float = 0.3) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16000)
        samples = [
            int(amplitude * 32767 * math.sin(2 * math.pi * 330 * i / 16000))
            for i in range(int(seconds * 16000))
        ]
        writer.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return out.getvalue()


# Public search


async def test_search_ranks_the_demo_faq(
    helpline: RunningHelpline, public: Api
) -> None:
    assert await faq(helpline).seed_demo() is True
    response = await public.raw("GET", "/api/faq/search", params={"q": "refund"})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    results = (await response.json())["results"]
    assert results[0]["id"] == "faq-billing-refund-time"
    first = results[0]
    assert set(first) == {
        "id",
        "question",
        "answer",
        "tags",
        "snippet",
        "score",
        "audio",
    }
    assert first["snippet"] and first["score"] > 0
    assert first["audio"] == "/api/faq/faq-billing-refund-time/audio.ogg"
    assert [r["score"] for r in results] == sorted(
        (r["score"] for r in results), reverse=True
    )


async def test_search_as_the_customer_types(
    helpline: RunningHelpline, public: Api
) -> None:
    await faq(helpline).seed_demo()
    for typed in ("tr", "trac", "track my ord"):
        status, body = await public.call("GET", "/api/faq/search", params={"q": typed})
        assert status == 200
        assert body["results"][0]["id"] == "faq-shipping-tracking", typed


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"q": "x" * 201}, 400, "query-too-long"),
        ({"q": "refund", "limit": "0"}, 400, "invalid-limit"),
        ({"q": "refund", "limit": "21"}, 400, "invalid-limit"),
        ({"q": "refund", "limit": "two"}, 400, "invalid-limit"),
        ({"q": "refund", "limit": "-1"}, 400, "invalid-limit"),
    ],
)
async def test_bad_search_requests_are_refused(
    public: Api, params: dict[str, str], status: int, code: str
) -> None:
    got, body = await public.call("GET", "/api/faq/search", params=params)
    assert (got, body["error"]["code"]) == (status, code)


async def test_search_limit_and_empty_queries(
    helpline: RunningHelpline, public: Api
) -> None:
    await faq(helpline).seed_demo()
    _, body = await public.call(
        "GET", "/api/faq/search", params={"q": "ship", "limit": "2"}
    )
    assert len(body["results"]) == 2
    for query in ("", "   ", "the of and "):
        _, body = await public.call("GET", "/api/faq/search", params={"q": query})
        assert body == {"results": []}


async def test_one_entry_is_public(helpline: RunningHelpline, public: Api) -> None:
    await faq(helpline).seed_demo()
    status, body = await public.call("GET", "/api/faq/faq-opening-hours")
    assert status == 200
    assert body["question"] == "When are you open?"
    assert body["audio"] == "/api/faq/faq-opening-hours/audio.ogg"
    status, body = await public.call("GET", "/api/faq/no-such-entry")
    assert (status, body["error"]["code"]) == (404, "faq-not-found")


# Operators: entries


async def test_operator_creates_changes_and_deletes_an_entry(
    operator: Api, public: Api
) -> None:
    status, made = await operator.call("POST", "/api/faq", entry("gift-cards"))
    assert status == 201
    assert made["id"] == "gift-cards" and made["updated"] > 0

    status, body = await operator.call("POST", "/api/faq", entry("gift-cards"))
    assert (status, body["error"]["code"]) == (409, "faq-exists")

    changed = entry("gift-cards", answer="Gift cards never expire, zeppelin.")
    status, body = await operator.call("PUT", "/api/faq/gift-cards", changed)
    assert status == 200 and body["answer"] == changed["answer"]
    _, found = await public.call("GET", "/api/faq/search", params={"q": "zeppelin"})
    assert [r["id"] for r in found["results"]] == ["gift-cards"]

    status, listed = await operator.call("GET", "/api/faq")
    assert [e["id"] for e in listed["entries"]] == ["gift-cards"]

    status, _ = await operator.call("DELETE", "/api/faq/gift-cards")
    assert status == 200
    status, body = await operator.call("DELETE", "/api/faq/gift-cards")
    assert (status, body["error"]["code"]) == (404, "faq-not-found")
    _, found = await public.call("GET", "/api/faq/search", params={"q": "zeppelin"})
    assert found == {"results": []}


async def test_put_takes_the_id_from_the_path(operator: Api) -> None:
    await operator.call("POST", "/api/faq", entry("one"))
    body = entry("one")
    del body["id"]
    status, saved = await operator.call("PUT", "/api/faq/one", body)
    assert (status, saved["id"]) == (200, "one")

    status, refused = await operator.call("PUT", "/api/faq/one", entry("two"))
    assert status == 422
    assert refused["problems"] == [
        {"path": "id", "sentence": "must be 'one', as in the path"}
    ]

    status, missing = await operator.call("PUT", "/api/faq/three", entry("three"))
    assert (status, missing["error"]["code"]) == (404, "faq-not-found")


async def test_a_bad_entry_is_refused_with_every_place(operator: Api) -> None:
    bad = {"id": "Bad Id", "question": "", "answer": "ok", "tags": ["x" * 40], "x": 1}
    status, body = await operator.call("POST", "/api/faq", bad)
    assert status == 422
    assert body["error"]["code"] == "invalid-faq"
    assert body["problems"] == [
        {"path": "x", "sentence": "unknown field"},
        {"path": "id", "sentence": "must be an id: 1-64 of a-z, 0-9, '-' and '_'"},
        {"path": "question", "sentence": "must be non-empty text"},
        {"path": "tags.0", "sentence": "40 characters, at most 32"},
    ]
    status, body = await operator.call("POST", "/api/faq", data=b"{not json")
    assert (status, body["error"]["code"]) == (400, "invalid-json")
    _, listed = await operator.call("GET", "/api/faq")
    assert listed["entries"] == []


async def test_an_entry_a_published_menu_plays_cannot_be_deleted(
    helpline: RunningHelpline, operator: Api
) -> None:
    await operator.call("POST", "/api/faq", entry("played"))
    await operator.call("POST", "/api/faq", entry("free"))

    async def in_use(faq_id: str) -> list[str]:
        return ["northwind-main"] if faq_id == "played" else []

    faq(helpline).in_use = in_use
    status, body = await operator.call("DELETE", "/api/faq/played")
    assert (status, body["error"]["code"]) == (409, "faq-in-use")
    assert body["menus"] == {"played": ["northwind-main"]}

    status, body = await operator.call(
        "POST", "/api/faq/import", params={"replace": "true"}, data="[]"
    )
    assert (status, body["menus"]) == (409, {"played": ["northwind-main"]})
    assert (await operator.call("DELETE", "/api/faq/free"))[0] == 200
    _, listed = await operator.call("GET", "/api/faq")
    assert [e["id"] for e in listed["entries"]] == ["played"]


OPERATOR_ONLY = [
    ("GET", "/api/faq"),
    ("POST", "/api/faq"),
    ("PUT", "/api/faq/x"),
    ("DELETE", "/api/faq/x"),
    ("POST", "/api/faq/import"),
    ("GET", "/api/faq/export"),
    ("POST", "/api/faq/x/recording"),
    ("POST", "/api/prompts/preview"),
    ("POST", "/api/prompts/upload"),
]


@pytest.mark.parametrize(("method", "path"), OPERATOR_ONLY)
async def test_operator_endpoints_refuse_others(
    helpline: RunningHelpline,
    http: aiohttp.ClientSession,
    public: Api,
    method: str,
    path: str,
) -> None:
    status, body = await public.call(method, path, entry("x"))
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    stranger = Api(helpline.url, http, "not-a-token")
    status, body = await stranger.call(method, path, entry("x"))
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    agent = await sign_in(helpline, http, "agent")
    status, body = await agent.call(method, path, entry("x"))
    assert (status, body["error"]["code"]) == (403, "forbidden")


# Import and export


GOOD = """\
- id: alpha
  question: Alpha?
  answer: The first.
  tags: [a]
- id: beta
  question: Beta?
  answer: The second.
"""


async def test_import_is_all_or_nothing(operator: Api) -> None:
    await operator.call("POST", "/api/faq", entry("kept"))
    bad = (
        GOOD
        + "- id: gamma\n  question: Gamma?\n"
        + "- id: delta\n  question: D?\n  answer: D.\n"
    )
    for replace in ("false", "true"):
        status, body = await operator.call(
            "POST", "/api/faq/import", params={"replace": replace}, data=bad
        )
        assert status == 422
        assert body["problems"] == [
            {"path": "2.answer", "sentence": "must be non-empty text"}
        ]
        _, listed = await operator.call("GET", "/api/faq")
        assert [e["id"] for e in listed["entries"]] == ["kept"]

    status, body = await operator.call("POST", "/api/faq/import", data=GOOD)
    assert (status, body) == (200, {"imported": 2, "ids": ["alpha", "beta"]})
    _, listed = await operator.call("GET", "/api/faq")
    assert [e["id"] for e in listed["entries"]] == ["alpha", "beta", "kept"]

    status, body = await operator.call(
        "POST", "/api/faq/import", params={"replace": "true"}, data=GOOD
    )
    assert status == 200
    _, listed = await operator.call("GET", "/api/faq")
    assert [e["id"] for e in listed["entries"]] == ["alpha", "beta"]


@pytest.mark.parametrize(
    ("kw", "status", "code"),
    [
        ({"data": b"- id: a\n  question: \xff\n"}, 400, "invalid-yaml"),
        ({"data": "- {id: a", "params": {"replace": "maybe"}}, 400, "invalid-replace"),
        ({"data": "id: a\n"}, 422, "invalid-faq"),
        ({"data": "- " + "x" * (2 * 1024 * 1024)}, 413, "too-large"),
    ],
)
async def test_bad_imports_are_refused(
    operator: Api, kw: dict[str, Any], status: int, code: str
) -> None:
    got, body = await operator.call("POST", "/api/faq/import", **kw)
    assert (got, body["error"]["code"]) == (status, code)


async def test_an_import_past_the_limit_saves_nothing(operator: Api) -> None:
    many = [entry(f"e{i}") for i in range(MAX_ENTRIES)]
    status, _ = await operator.call(
        "POST", "/api/faq/import", data=yaml.safe_dump(many)
    )
    assert status == 200
    status, body = await operator.call("POST", "/api/faq", entry("one-more"))
    assert (status, body["error"]["code"]) == (409, "faq-full")
    status, body = await operator.call(
        "POST", "/api/faq/import", data=yaml.safe_dump([entry("another")])
    )
    assert (status, body["error"]["code"]) == (409, "faq-full")
    status, _ = await operator.call(
        "POST",
        "/api/faq/import",
        params={"replace": "1"},
        data=yaml.safe_dump(many[:3]),
    )
    assert status == 200
    _, listed = await operator.call("GET", "/api/faq")
    assert len(listed["entries"]) == 3


async def test_export_reads_back_to_the_same_faq(
    helpline: RunningHelpline, operator: Api
) -> None:
    await faq(helpline).seed_demo()
    await operator.call(
        "POST", "/api/faq", entry("unicode", answer="Où ? 日本 — “quotes”: yes")
    )
    _, before = await operator.call("GET", "/api/faq")

    response = await operator.raw("GET", "/api/faq/export")
    assert response.status == 200
    assert response.content_type == "application/yaml"
    assert "attachment" in response.headers["Content-Disposition"]
    exported = await response.text()

    status, _ = await operator.call(
        "POST", "/api/faq/import", params={"replace": "true"}, data="[]"
    )
    assert status == 200
    assert (await operator.call("GET", "/api/faq"))[1]["entries"] == []

    status, body = await operator.call(
        "POST", "/api/faq/import", data=exported.encode()
    )
    assert status == 200 and body["imported"] == len(before["entries"])
    _, after = await operator.call("GET", "/api/faq")
    assert after == before


# Prompts


async def test_preview_renders_and_serves_the_files(operator: Api, public: Api) -> None:
    status, prompt = await operator.call(
        "POST", "/api/prompts/preview", {"text": "Press 1 for billing."}
    )
    assert status == 200
    assert prompt["fallback"] is False and prompt["error"] is None
    assert prompt["duration_s"] > 0.5
    key = prompt["key"]
    assert prompt["urls"] == {
        "ogg": f"/api/prompts/{key}.ogg",
        "8k.wav": f"/api/prompts/{key}.8k.wav",
        "16k.wav": f"/api/prompts/{key}.16k.wav",
    }
    for fmt, content_type in (
        ("ogg", "audio/ogg"),
        ("8k.wav", "audio/wav"),
        ("16k.wav", "audio/wav"),
    ):
        response = await public.raw("GET", prompt["urls"][fmt])
        assert response.status == 200, fmt
        assert response.content_type == content_type
        assert "immutable" in response.headers["Cache-Control"]
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        body = await response.read()
        with av.open(io.BytesIO(body), "r") as container:
            audio = container.streams.audio[0]
            assert audio.rate == {"ogg": 48000, "8k.wav": 8000, "16k.wav": 16000}[fmt]


async def test_preview_of_unspeakable_text_gives_the_fallback(operator: Api) -> None:
    status, prompt = await operator.call(
        "POST", "/api/prompts/preview", {"text": "日本語"}
    )
    assert status == 200
    assert prompt["fallback"] is True
    assert "cannot speak CJK text" in prompt["error"]
    status, body = await operator.call("POST", "/api/prompts/preview", {"words": "hi"})
    assert (status, body["error"]["code"]) == (400, "invalid-message")


async def test_uploads_raw_and_as_a_form(operator: Api, public: Api) -> None:
    wav = sine_wav(1.0)
    status, raw = await operator.call(
        "POST", "/api/prompts/upload", data=wav, headers={"Content-Type": "audio/wav"}
    )
    assert status == 201 and raw["duration_s"] == pytest.approx(1.0, abs=0.01)

    form = aiohttp.FormData()
    form.add_field("file", wav, filename="hello.wav", content_type="audio/wav")
    status, formed = await operator.call("POST", "/api/prompts/upload", data=form)
    assert (status, formed["key"]) == (201, raw["key"])
    response = await public.raw("GET", raw["urls"]["8k.wav"])
    with wave.open(io.BytesIO(await response.read()), "rb") as reader:
        assert (reader.getframerate(), reader.getnchannels()) == (8000, 1)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"plain text, not audio" * 10, 422, "not-audio"),
        (sine_wav(1.0, amplitude=0.0), 422, "silent"),
        (sine_wav(121.0), 422, "too-long"),
        (b"\0" * (5 * 1024 * 1024 + 1), 413, "too-large"),
    ],
    ids=["not-audio", "silent", "too-long", "too-big"],
)
async def test_bad_uploads_are_refused(
    operator: Api, body: bytes, status: int, code: str
) -> None:
    got, answer = await operator.call("POST", "/api/prompts/upload", data=body)
    assert (got, answer["error"]["code"]) == (status, code)
    assert answer["error"]["message"]


async def test_a_form_without_a_file_is_refused(operator: Api) -> None:
    form = aiohttp.FormData()
    form.add_field("note", "no file here")
    form.add_field("other", "RIFF....WAVE", content_type="audio/wav")  # no filename
    status, body = await operator.call("POST", "/api/prompts/upload", data=form)
    assert (status, body["error"]["code"]) == (400, "no-file")


async def test_an_entry_plays_its_recording_or_its_answer(
    operator: Api, public: Api
) -> None:
    await operator.call("POST", "/api/faq", entry("hours", answer="Eight to eight."))
    _, uploaded = await operator.call("POST", "/api/prompts/upload", data=sine_wav(1.0))

    status, saved = await operator.call(
        "POST", "/api/faq/hours/recording", {"key": uploaded["key"]}
    )
    assert (status, saved["recording"]) == (200, uploaded["key"])
    response = await public.raw(
        "GET", "/api/faq/hours/audio.ogg", allow_redirects=False
    )
    assert response.status == 302
    assert response.headers["Location"] == uploaded["urls"]["ogg"]

    status, saved = await operator.call(
        "POST", "/api/faq/hours/recording", {"key": None}
    )
    assert (status, saved["recording"]) == (200, None)
    response = await public.raw("GET", "/api/faq/hours/audio.ogg")
    assert response.status == 200 and response.content_type == "audio/ogg"
    assert str(response.url.path) != uploaded["urls"]["ogg"]

    for key in ("0" * 32, "../../etc/passwd", 7):
        status, body = await operator.call(
            "POST", "/api/faq/hours/recording", {"key": key}
        )
        assert (status, body["error"]["code"]) == (422, "prompt-not-found")
    status, body = await operator.call(
        "POST", "/api/faq/nobody/recording", {"key": uploaded["key"]}
    )
    assert (status, body["error"]["code"]) == (404, "faq-not-found")
    response = await public.raw("GET", "/api/faq/nobody/audio.ogg")
    assert response.status == 404


@pytest.mark.parametrize(
    "path",
    [
        "/api/prompts/" + "0" * 32 + ".ogg",
        "/api/prompts/" + "0" * 32 + ".mp3",
        "/api/prompts/..%2F..%2Fgateway%2Fapp.py",
        "/api/prompts/%2e%2e%2f%2e%2e%2fpyproject.toml",
        "/api/prompts/" + "0" * 32 + ".ogg%2F..%2F..%2F..%2Fpyproject.toml",
        "/api/prompts/..%5c..%5cpyproject.toml",
        "/api/prompts/preview",
        "/api/prompts/%00.ogg",
    ],
)
async def test_unknown_prompt_files_are_404_and_nothing_else_is_served(
    public: Api, path: str
) -> None:
    response = await public.raw("GET", URL(public.base + path, encoded=True))
    assert response.status == 404
    body = await response.json()
    assert body["error"]["code"] == "prompt-not-found"


async def test_dot_segments_do_not_leave_the_prompts(public: Api) -> None:
    response = await public.raw(
        "GET", URL(public.base + "/api/prompts/../../pyproject.toml", encoded=True)
    )
    assert response.status == 404
    assert "[project]" not in await response.text()


# Several nodes


async def test_a_second_node_sees_an_edit_made_through_the_first(
    helpline_factory: NodeFactory, http: aiohttp.ClientSession
) -> None:
    first = await helpline_factory()
    second = await helpline_factory()
    editor = await sign_in(first, http, "operator")
    reader = Api(second.url, http)
    await editor.call(
        "POST", "/api/faq", entry("fridge", answer="Keep it at 4 degrees.")
    )

    _, found = await reader.call("GET", "/api/faq/search", params={"q": "degrees"})
    assert [r["id"] for r in found["results"]] == ["fridge"]

    changed = entry("fridge", answer="Keep it cold, like a zeppelin in winter.")
    await editor.call("PUT", "/api/faq/fridge", changed)
    _, found = await reader.call("GET", "/api/faq/search", params={"q": "zeppelin"})
    assert [r["id"] for r in found["results"]] == ["fridge"]
    _, gone = await reader.call("GET", "/api/faq/search", params={"q": "degrees"})
    assert gone == {"results": []}

    await editor.call("DELETE", "/api/faq/fridge")
    _, gone = await reader.call("GET", "/api/faq/search", params={"q": "zeppelin"})
    assert gone == {"results": []}


async def test_the_openapi_document_describes_the_faq_api(public: Api) -> None:
    _, doc = await public.call("GET", "/openapi.json")
    paths = doc["paths"]
    for path in (
        "/api/faq/search",
        "/api/faq",
        "/api/faq/{id}",
        "/api/faq/{id}/audio.ogg",
        "/api/faq/{id}/recording",
        "/api/faq/import",
        "/api/faq/export",
        "/api/prompts/preview",
        "/api/prompts/upload",
        "/api/prompts/{file}",
    ):
        assert path in paths, path
    assert paths["/api/faq"]["post"]["security"] == [{"bearer": []}]
    assert {"FaqEntry", "FaqHit", "Prompt", "FaqRefused"} <= set(
        doc["components"]["schemas"]
    )
    for ref in _refs(doc):
        assert _resolve(doc, ref) is not None, ref


def _resolve(doc: Any, ref: str) -> Any:
    """What a local ``$ref`` (a JSON pointer) points at, or None."""
    node = doc
    for part in ref.removeprefix("#/").split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _refs(tree: Any) -> set[str]:
    if isinstance(tree, dict):
        found = {tree["$ref"]} if "$ref" in tree else set()
        return found.union(*(_refs(v) for v in tree.values()))
    if isinstance(tree, list):
        return set().union(*(_refs(v) for v in tree))
    return set()

"""The HTTP side of a running node: health, metrics, API descriptions,
sign-in, and the pages."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.fixtures.app import ClientFactory, NodeFactory, RunningHelpline
from tests.fixtures.redis import RedisServer
from tests.test_signaling import agent, customer, place


async def get_json(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json()


async def test_healthz_reports_each_component(helpline: RunningHelpline) -> None:
    status, body = await get_json(helpline.url + "/healthz")
    assert status == 200 and body["ok"] is True
    components = body["components"]
    assert components["redis"]["ok"] is True
    assert {"redis", "signaling", "routing", "ivr", "sip"} <= set(components)
    assert components["ivr"] == {"ok": True, "entry_menu": None, "tts": "espeak-ng"}


async def test_healthz_says_503_when_redis_is_gone(
    private_redis_server: RedisServer, helpline_factory: NodeFactory
) -> None:
    node = await helpline_factory(redis_url=private_redis_server.url)
    private_redis_server.kill()
    status, body = await get_json(node.url + "/healthz")
    assert status == 503 and body["ok"] is False
    assert body["components"]["redis"]["error"]

    private_redis_server.restart()
    status, body = await get_json(node.url + "/healthz")
    assert status == 200 and body["ok"] is True


async def test_openapi_and_protocol_documents(helpline: RunningHelpline) -> None:
    status, doc = await get_json(helpline.url + "/openapi.json")
    assert status == 200 and doc["openapi"] == "3.1.0"
    assert {"/api/login", "/healthz", "/metrics", "/ws"} <= set(doc["paths"])
    status, protocol = await get_json(helpline.url + "/api/protocol.json")
    assert "call.place" in protocol["requests"]


async def test_metrics_count_calls_and_errors(
    helpline: RunningHelpline, ws_clients: ClientFactory
) -> None:
    grace = await agent(helpline, ws_clients, "Grace")
    ada = await customer(helpline, ws_clients)
    call_id = await place(ada)
    await grace.call_state("ringing")
    await ada.ws.send_str("{broken")
    await ada.expect("error")

    async with aiohttp.ClientSession() as http:
        async with http.get(helpline.url + "/metrics") as response:
            text = await response.text()
    assert response.status == 200
    assert 'helpline_ws_errors_total{code="invalid-json"} 1.0' in text
    assert 'helpline_ws_requests_total{type="call.place"} 1.0' in text
    assert 'helpline_agents{status="ringing"} 1.0' in text
    assert call_id  # the call that is ringing


async def test_login_me_logout(helpline: RunningHelpline) -> None:
    await helpline.create_agent("grace", "correct horse", "Grace")
    async with aiohttp.ClientSession() as http:
        bad = await http.post(
            helpline.url + "/api/login", json={"username": "grace", "password": "nope"}
        )
        assert bad.status == 401
        assert (await bad.json())["error"]["code"] == "unauthorized"

        ok = await http.post(
            helpline.url + "/api/login",
            json={"username": "grace", "password": "correct horse"},
        )
        body = await ok.json()
        assert ok.status == 200 and body["user"]["role"] == "agent"
        auth = {"Authorization": "Bearer " + body["token"]}

        me = await http.get(helpline.url + "/api/me", headers=auth)
        assert (await me.json())["user"]["name"] == "Grace"
        await http.post(helpline.url + "/api/logout", headers=auth)
        again = await http.get(helpline.url + "/api/me", headers=auth)
        assert again.status == 401


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"username": 1, "password": 2}', b"[]", b"{}", b"x" * 10_000],
)
async def test_login_refuses_bad_bodies_clearly(
    helpline: RunningHelpline, body: bytes
) -> None:
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            helpline.url + "/api/login",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        payload = await response.json()
    assert response.status in (400, 413)
    assert payload["error"]["message"]


@pytest.mark.parametrize(
    ("path", "marker"),
    [
        ("/", "Helpline"),
        ("/demo", "widget.js"),
        ("/agent", "softphone"),
        ("/widget.js", "import"),
        ("/static/client.js", "export"),
        ("/console", "console"),
    ],
)
async def test_pages_are_served(
    helpline: RunningHelpline, path: str, marker: str
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(helpline.url + path) as response:
            text = await response.text()
    assert response.status == 200
    assert marker in text
    embeddable = path == "/widget.js" or path.startswith("/static/")
    assert (response.headers.get("Access-Control-Allow-Origin") == "*") == embeddable
    assert response.headers["Cache-Control"] == "no-cache"


async def test_static_modules_are_revalidated(helpline: RunningHelpline) -> None:
    async with aiohttp.ClientSession() as http:
        url = helpline.url + "/static/widget-ivr.js"
        async with http.get(url) as first:
            modified = first.headers["Last-Modified"]
        headers = {"If-Modified-Since": modified}
        async with http.get(url, headers=headers) as again:
            assert again.status == 304


async def test_static_files_stay_inside_the_web_folder(
    helpline: RunningHelpline,
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(helpline.url + "/static/../gateway/app.py") as response:
            assert response.status in (403, 404)
        async with http.get(helpline.url + "/static/%2e%2e/pyproject.toml") as response:
            assert response.status in (403, 404)

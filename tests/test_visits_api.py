"""POST /api/visits/events: the widget's FAQ views, on a running node and a
real Redis. A good event lands in the event log; every bad one gets its
JSON error and leaves nothing."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from gateway.api_visits import EVENTS_PER_MINUTE
from tests.fixtures.app import RunningHelpline

VISIT = "page-visit_0123456789"
PATH = "/api/visits/events"


async def logged(node: RunningHelpline) -> list[dict[str, str]]:
    return [f async for _, f in node.node.events.read(0, time.time() + 60)]


async def post(
    http: aiohttp.ClientSession, node: RunningHelpline, body: Any
) -> tuple[int, dict[str, Any], str]:
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    # As the widget sends it: text/plain, so another site's page needs no
    # preflight.
    headers = {"Content-Type": "text/plain;charset=UTF-8", "Origin": "https://shop"}
    async with http.post(node.url + PATH, data=data, headers=headers) as response:
        cors = response.headers.get("Access-Control-Allow-Origin", "")
        return response.status, await response.json(), cors


def view(**changes: Any) -> dict[str, Any]:
    return {
        "visit": VISIT,
        "kind": "faq.viewed",
        "detail": "faq-opening-hours",
        **changes,
    }


async def test_an_opened_answer_is_recorded_for_the_visit(
    helpline: RunningHelpline,
) -> None:
    await helpline.node.faq.seed_demo()
    async with aiohttp.ClientSession() as http:
        status, body, cors = await post(http, helpline, view())
        async with http.options(helpline.url + PATH) as preflight:
            assert preflight.status == 204
            assert preflight.headers["Access-Control-Allow-Origin"] == "*"
            assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert (status, body, cors) == (202, {"ok": True}, "*")
    assert await logged(helpline) == [
        {
            "kind": "faq.viewed",
            "visit": VISIT,
            "channel": "web",
            "detail": "faq-opening-hours",
        }
    ]


BAD = [
    # (body, status, code)
    (b"{not json", 400, "invalid-json"),
    (b"\xff\xfe", 400, "invalid-json"),
    ([VISIT], 400, "invalid-message"),
    (view(extra=1), 400, "invalid-message"),
    (view(visit="short"), 400, "invalid-visit"),
    (view(visit="v" * 65), 400, "invalid-visit"),
    (view(visit="has spaces in the id"), 400, "invalid-visit"),
    (view(visit=1234567890123456789), 400, "invalid-visit"),
    ({"kind": "faq.viewed", "detail": "faq-opening-hours"}, 400, "invalid-visit"),
    (view(kind="answered"), 400, "invalid-kind"),
    (view(kind=None), 400, "invalid-kind"),
    (view(detail="../etc/passwd"), 400, "invalid-detail"),
    (view(detail="x" * 65), 400, "invalid-detail"),
    (view(detail=["faq-opening-hours"]), 400, "invalid-detail"),
    (view(detail="faq-nobody-wrote"), 404, "unknown-faq"),
    (view(detail="faq-opening-hours " + "x" * 2100), 413, "too-large"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD)
async def test_a_bad_event_is_refused_and_nothing_is_stored(
    helpline: RunningHelpline, body: Any, status: int, code: str
) -> None:
    await helpline.node.faq.seed_demo()
    async with aiohttp.ClientSession() as http:
        got, answer, cors = await post(http, helpline, body)
    assert (got, answer["error"]["code"]) == (status, code)
    assert answer["error"]["message"]
    assert cors == "*"  # the page may read why
    assert await logged(helpline) == []


async def test_one_address_sending_too_many_is_slowed_down(
    helpline: RunningHelpline,
) -> None:
    await helpline.node.faq.seed_demo()
    # The count is per clock minute: the burst must fit in one.
    if time.time() % 60 > 50:
        await asyncio.sleep(60 - time.time() % 60)
    minute = int(time.time() // 60)
    async with aiohttp.ClientSession() as http:
        answers = [
            (await post(http, helpline, view()))[0]
            for _ in range(EVENTS_PER_MINUTE + 3)
        ]
    assert int(time.time() // 60) == minute, "the burst took over ten seconds"
    assert answers[:EVENTS_PER_MINUTE] == [202] * EVENTS_PER_MINUTE
    assert answers[EVENTS_PER_MINUTE:] == [429] * 3
    assert len(await logged(helpline)) == EVENTS_PER_MINUTE
    # The node still serves everyone else.
    async with aiohttp.ClientSession() as http:
        async with http.get(helpline.url + "/healthz") as health:
            assert health.status == 200

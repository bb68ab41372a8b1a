"""The menus, hours and simulator API on a real Helpline node: who may use
it, YAML in and out, publishing refused with each failing path, bodies that
save nothing, rollback and the entry menu, and the simulator walking the
demo menu to a queue and to a callback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import aiohttp
import pytest
from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gateway.accounts import Accounts, Role
from gateway.api_menus import FAQ
from ivr.menu import Menu
from ivr.simulator import FaqText
from tests.fixtures.app import NodeFactory, RunningHelpline
from tests.test_menus_store import GOOD

DEMO_YAML = resources.files("ivr").joinpath("demo_menu.yaml").read_text("utf-8")
DEMO_FAQ = {
    "faq-opening-hours": "When are you open?",
    "faq-billing-payment-methods": "How can I pay?",
    "faq-billing-invoice-copy": "How do I get a copy of my invoice?",
    "faq-shipping-times": "How long does delivery take?",
    "faq-shipping-tracking": "How do I track my order?",
    "faq-returns-policy": "Can I return an appliance?",
    "faq-returns-label": "How do I get a return label?",
    "faq-repairs-warranty": "Is my repair under warranty?",
}
QUESTIONS = {**DEMO_FAQ, "faq-a": "What is the first answer?"}
SMALL = GOOD
# Two ways to the toll-free line before the offers: option 9 goes straight
# there, option 8 after an FAQ answer but before the callback offer.
EARLY = SMALL.replace('"2": agents}', '"2": agents, "8": quick, "9": free}') + (
    "  quick: {kind: faq, answers: [faq-a], next: free}\n"
)
YAML = {"Content-Type": "application/yaml"}


@dataclass
class Api:
    """An HTTP client signed in as someone (or no one)."""

    http: aiohttp.ClientSession
    base: str
    token: str = ""

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = dict(kwargs.pop("headers", {}))
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        async with self.http.request(
            method, self.base + path, headers=headers, **kwargs
        ) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()


async def signed_in(helpline: RunningHelpline, role: Role) -> str:
    accounts = Accounts(helpline.store)
    await accounts.add_user(role + "1", "correct horse battery", role, role.title())
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            helpline.url + "/api/login",
            json={"username": role + "1", "password": "correct horse battery"},
        )
        body = await response.json()
    token: str = body["token"]
    return token


@pytest.fixture
async def api(helpline: RunningHelpline) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(http, helpline.url, await signed_in(helpline, "operator"))


def with_faq(helpline: RunningHelpline, questions: Mapping[str, str]) -> None:
    """Stand a FAQ of the test's own in for the node's FAQ store."""

    async def lookup(ids: list[str]) -> Mapping[str, FaqText]:
        return {
            i: FaqText(questions[i], f"The answer to '{questions[i]}'.")
            for i in ids
            if i in questions
        }

    helpline.runner.app[FAQ].lookup = lookup


async def create(api: Api, text: str) -> dict[str, Any]:
    status, body = await api.call("POST", "/api/menus", data=text, headers=YAML)
    assert status == 201, body
    return dict(body)


ROUTES = [
    ("GET", "/api/menus"),
    ("POST", "/api/menus"),
    ("GET", "/api/menus/entry"),
    ("PUT", "/api/menus/entry"),
    ("GET", "/api/menus/help/versions"),
    ("GET", "/api/menus/help/versions/1"),
    ("PUT", "/api/menus/help/versions/1"),
    ("POST", "/api/menus/help/versions/1/validate"),
    ("POST", "/api/menus/help/versions/1/publish"),
    ("POST", "/api/menus/help/rollback"),
    ("GET", "/api/hours"),
    ("PUT", "/api/hours"),
    ("POST", "/api/simulate"),
]


async def test_operators_only(helpline: RunningHelpline) -> None:
    agent = await signed_in(helpline, "agent")
    async with aiohttp.ClientSession() as http:
        for method, path in ROUTES:
            status, body = await Api(http, helpline.url).call(method, path, json={})
            assert (status, body["error"]["code"]) == (401, "unauthorized"), path
            status, body = await Api(http, helpline.url, agent).call(
                method, path, json={}
            )
            assert (status, body["error"]["code"]) == (403, "forbidden"), path
            status, _ = await Api(http, helpline.url, "forged").call(method, path)
            assert status == 401


async def test_yaml_import_export_round_trip(api: Api) -> None:
    first = await create(api, DEMO_YAML)
    assert (first["id"], first["version"], first["status"]) == (
        "northwind-main",
        1,
        "draft",
    )
    status, exported = await api.call(
        "GET", "/api/menus/northwind-main/versions/1", params={"format": "yaml"}
    )
    assert status == 200 and exported.startswith("id: northwind-main")

    second = await create(api, exported)
    assert second["version"] == 2
    assert {**second, "version": 1} == first

    status, as_json = await api.call("GET", "/api/menus/northwind-main/versions/2")
    assert status == 200 and as_json == second
    status, body = await api.call("POST", "/api/menus", json=as_json)
    assert status == 201 and body["version"] == 3

    status, listed = await api.call("GET", "/api/menus")
    assert listed == {
        "menus": [
            {"id": "northwind-main", "latest": 3, "published": None, "entry": False}
        ],
        "entry": None,
    }
    status, versions = await api.call("GET", "/api/menus/northwind-main/versions")
    assert [v["status"] for v in versions["versions"]] == ["draft"] * 3


async def test_tollfree_before_the_offers_is_refused_with_each_path(
    api: Api, helpline: RunningHelpline
) -> None:
    with_faq(helpline, QUESTIONS)
    await create(api, EARLY)

    status, report = await api.call("POST", "/api/menus/help/versions/1/validate")
    assert status == 200 and report["ok"] is False

    status, body = await api.call("POST", "/api/menus/help/versions/1/publish")
    assert status == 422
    assert body["error"]["code"] == "publish-refused" and body["ok"] is False
    assert body["failures"] == report["failures"]
    found = {f["text"]: (f["sentence"], f["path"]) for f in body["failures"]}
    assert found == {
        "main --9--> free": (
            "reaches the toll-free line without an FAQ answer or the callback offer",
            [{"node": "main", "via": "9", "to": "free"}],
        ),
        "main --8--> quick --next--> free": (
            "reaches the toll-free line without the callback offer",
            [
                {"node": "main", "via": "8", "to": "quick"},
                {"node": "quick", "via": "next", "to": "free"},
            ],
        ),
    }
    assert {f["kind"] for f in body["failures"]} == {"tollfree-without-offers"}

    status, versions = await api.call("GET", "/api/menus/help/versions")
    assert versions["published"] is None
    assert [v["status"] for v in versions["versions"]] == ["draft"]
    assert (await api.call("GET", "/api/menus/entry"))[1]["menu_id"] is None


async def test_faq_entries_must_exist_to_publish(
    api: Api, helpline: RunningHelpline
) -> None:
    await create(api, SMALL)
    status, body = await api.call("POST", "/api/menus/help/versions/1/publish")
    assert status == 422  # no FAQ store plugged in: no entry exists
    [failure] = body["failures"]
    assert failure["kind"] == "unknown-faq" and failure["node"] == "answers"
    assert failure["text"] == "main --1--> answers"

    with_faq(helpline, QUESTIONS)
    status, body = await api.call("POST", "/api/menus/help/versions/1/publish")
    assert status == 200 and body["status"] == "published"


BAD_BODIES = [
    pytest.param(
        b'{"id": "help", "start": ',
        "application/json",
        422,
        "invalid-json",
        "",
        id="truncated-json",
    ),
    pytest.param(
        b"id: help\nstart: [main\n", "application/yaml", 422, "invalid-yaml", "",
        id="yaml",
    ),
    pytest.param(
        b"id: help\nid: other\n", "application/yaml", 422, "invalid-yaml", "(top)",
        id="duplicate-key",
    ),
    pytest.param(
        b"a: &x 1\nb: *x\n", "application/yaml", 422, "invalid-yaml", "b", id="alias"
    ),
    pytest.param(
        SMALL.replace("kind: hangup", "kind: teleport").encode(),
        "application/yaml",
        422,
        "invalid-menu",
        "nodes.bye.kind",
        id="unknown-kind",
    ),
    pytest.param(
        SMALL.replace("next: bye", "next: byebye").encode(),
        "application/yaml",
        422,
        "invalid-menu",
        "nodes.offer.next",
        id="dangling-target",
    ),
    pytest.param(
        SMALL.replace("Goodbye.", "Goodbye. " * 200).encode(),
        "application/yaml",
        422,
        "invalid-menu",
        "nodes.bye.prompt",
        id="oversized-prompt",
    ),
    pytest.param(
        b"[1, 2]", "application/json", 422, "invalid-menu", "(top)", id="list"
    ),
    pytest.param(
        b"x" * (600 * 1024), "application/json", 413, "too-large", None, id="oversized"
    ),
    pytest.param(
        b"\xff\xfe not text", "application/json", 400, "invalid-encoding", None,
        id="not-utf8",
    ),
    pytest.param(
        SMALL.encode(), "text/plain", 415, "unsupported-media-type", None, id="type"
    ),
]  # fmt: skip


@pytest.mark.parametrize(("body", "kind", "status", "code", "path"), BAD_BODIES)
async def test_bad_menu_bodies_are_refused_clearly_and_save_nothing(
    api: Api, body: bytes, kind: str, status: int, code: str, path: str | None
) -> None:
    got, answer = await api.call(
        "POST", "/api/menus", data=body, headers={"Content-Type": kind}
    )
    assert got == status, answer
    assert answer["error"]["code"] == code and answer["error"]["message"]
    if path is not None:
        assert path in [p["path"] for p in answer["problems"]], answer
        assert all(p["sentence"] for p in answer["problems"])
    assert (await api.call("GET", "/api/menus"))[1]["menus"] == []


async def test_only_drafts_are_edited(api: Api, helpline: RunningHelpline) -> None:
    with_faq(helpline, QUESTIONS)
    await create(api, SMALL)
    edited = SMALL.replace("Goodbye.", "Thanks and goodbye.")
    status, body = await api.call(
        "PUT", "/api/menus/help/versions/1", data=edited, headers=YAML
    )
    assert status == 200 and body["nodes"]["bye"]["prompt"] == "Thanks and goodbye."

    other = edited.replace("id: help", "id: sales")
    status, body = await api.call(
        "PUT", "/api/menus/help/versions/1", data=other, headers=YAML
    )
    assert status == 422 and body["problems"][0]["path"] == "id"
    status, body = await api.call(
        "PUT", "/api/menus/help/versions/1", data="id: [", headers=YAML
    )
    assert status == 422 and body["error"]["code"] == "invalid-yaml"
    status, body = await api.call(
        "PUT", "/api/menus/help/versions/7", data=edited, headers=YAML
    )
    assert status == 404 and body["error"]["code"] == "not-found"

    assert (await api.call("POST", "/api/menus/help/versions/1/publish"))[0] == 200
    status, body = await api.call(
        "PUT", "/api/menus/help/versions/1", data=SMALL, headers=YAML
    )
    assert status == 409 and body["error"]["code"] == "not-draft"
    status, exported = await api.call("GET", "/api/menus/help/versions/1")
    assert exported["nodes"]["bye"]["prompt"] == "Thanks and goodbye."


async def test_publish_rollback_and_the_entry_menu(
    api: Api, helpline: RunningHelpline
) -> None:
    with_faq(helpline, QUESTIONS)
    await create(api, SMALL)
    await create(api, SMALL.replace("Goodbye.", "Bye now."))
    await create(api, DEMO_YAML)
    assert (await api.call("POST", "/api/menus/help/versions/1/publish"))[0] == 200
    assert (await api.call("GET", "/api/menus/entry"))[1] == {
        "menu_id": "help",
        "version": 1,
    }
    assert (await api.call("POST", "/api/menus/help/versions/2/publish"))[0] == 200

    status, body = await api.call(
        "POST", "/api/menus/help/rollback", json={"version": 1}
    )
    assert status == 200 and (body["version"], body["status"]) == (3, "published")
    assert body["nodes"]["bye"]["prompt"] == "Goodbye."
    _, versions = await api.call("GET", "/api/menus/help/versions")
    assert [v["status"] for v in versions["versions"]] == [
        "archived",
        "archived",
        "published",
    ]
    assert (await api.call("GET", "/api/menus/entry"))[1]["version"] == 3

    status, body = await api.call(
        "PUT", "/api/menus/entry", json={"menu_id": "northwind-main"}
    )
    assert status == 409 and body["error"]["code"] == "not-published"
    path = "/api/menus/northwind-main/versions/1/publish"
    assert (await api.call("POST", path))[0] == 200
    status, body = await api.call(
        "PUT", "/api/menus/entry", json={"menu_id": "northwind-main"}
    )
    assert status == 200 and body == {"menu_id": "northwind-main", "version": 1}

    bad: dict[str, Any]
    for bad in ({}, {"menu_id": "Not An Id"}, {"menu_id": 3}):
        status, body = await api.call("PUT", "/api/menus/entry", json=bad)
        assert status == 422 and body["problems"][0]["path"] == "menu_id"
    for bad in ({}, {"version": "1"}, {"version": 0}, {"version": True}):
        status, body = await api.call("POST", "/api/menus/help/rollback", json=bad)
        assert status == 422 and body["problems"][0]["path"] == "version"
    status, _ = await api.call("POST", "/api/menus/help/rollback", json={"version": 9})
    assert status == 404


async def test_a_publish_on_one_node_is_seen_by_another(
    helpline_factory: NodeFactory,
) -> None:
    first, second = await helpline_factory(), await helpline_factory()
    for node in (first, second):
        with_faq(node, QUESTIONS)
    token = await signed_in(first, "operator")
    async with aiohttp.ClientSession() as http:
        a, b = Api(http, first.url, token), Api(http, second.url, token)
        await create(a, DEMO_YAML)
        path = "/api/menus/northwind-main/versions/1/publish"
        assert (await b.call("POST", path))[0] == 200
        assert (await a.call("GET", "/api/menus/entry"))[1]["version"] == 1
        status, run = await b.call(
            "POST",
            "/api/simulate",
            json={"menu_id": "northwind-main", "events": [{"type": "start"}]},
        )
        assert status == 200 and run["steps"][0]["actions"]


# The simulator.


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, **fields}


def digits(keys: str) -> list[dict[str, Any]]:
    return [event("digit", digit=k) for k in keys]


def done(times: int = 1) -> list[dict[str, Any]]:
    return [event("prompt_done")] * times


async def simulate(api: Api, events: list[dict[str, Any]], **more: Any) -> Any:
    body = {"menu_id": "northwind-main", "version": 1, "events": events, **more}
    status, run = await api.call("POST", "/api/simulate", json=body)
    assert status == 200, run
    return run


def actions(step: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [a for a in step["actions"] if a["type"] == kind]


@pytest.fixture
async def demo(api: Api, helpline: RunningHelpline) -> Api:
    with_faq(helpline, QUESTIONS)
    await create(api, DEMO_YAML)
    return api


async def test_simulator_walks_the_demo_menu_to_a_queue(demo: Api) -> None:
    events = [
        event("start"),
        *done(),  # the welcome menu
        *digits("3"),  # returns and repairs
        *done(4),  # its prompt, then three answers
        *digits("3"),  # wait for a returns specialist
        event("agent_answered"),
    ]
    run = await simulate(demo, events, hours="open")

    steps = run["steps"]
    assert [s["phase"] for s in steps] == [
        "prompting", "waiting", "announcing", "announcing", "announcing",
        "announcing", "prompting", "queued", "ended",
    ]  # fmt: skip
    menu = actions(steps[0], "show_menu")[0]
    assert {"digits": "3", "label": "Returns and repairs"} in menu["options"]
    answer = actions(steps[3], "play_prompt")[0]
    assert answer["faq"] == {
        "id": "faq-returns-policy",
        "question": "Can I return an appliance?",
        "answer": "The answer to 'Can I return an appliance?'.",
    }
    [queue] = actions(steps[7], "route_to_queue")
    assert (queue["skill"], queue["max_wait_seconds"]) == ("returns", 120)
    assert run["phase"] == "ended"
    assert run["journey"] == {
        "nodes": ["office-hours", "welcome", "returns-answers", "returns-next"]
        + ["returns-queue"],
        "faq_answers": [
            "faq-returns-policy", "faq-returns-label", "faq-repairs-warranty"
        ],
        "offers": ["faq"],
        "outcome": "agent",
        "tollfree_refused": 0,
        "choices": [
            {"node": "welcome", "digits": "3", "label": "Returns and repairs"},
            {"node": "returns-next", "digits": "3", "label": "Wait for an agent"},
        ],
    }  # fmt: skip


async def test_simulator_walks_the_demo_menu_to_a_callback(demo: Api) -> None:
    events = [
        event("start"),
        *digits("2"),  # shipping, typed during the welcome prompt
        *done(3),  # its prompt and two answers
        *digits("2"),  # ask for a callback
        *digits("1"),  # yes
        *digits("911#"),  # refused: a service code; asked again
        *digits("2125550123#"),  # read back: "You entered", 2, 1, 2...
        *digits("1"),  # confirmed, typed over the read-back
        *digits("2"),  # the afternoon
        *done(),  # "Thank you. We will call you back..."
    ]
    run = await simulate(demo, events, hours="open")
    steps = run["steps"]

    again = steps[10]  # the "#" after 911
    prompts = [a["text"] for a in actions(again, "play_prompt")]
    assert prompts == ["Please enter your phone number, then press hash."]
    read_back = steps[21]  # the "#" after the number
    assert [a["text"] for a in actions(read_back, "play_prompt")] == ["You entered"]
    assert actions(steps[22], "stop_prompt")  # "1" stops the read-back
    [callback] = [a for s in steps for a in actions(s, "request_callback")]
    assert callback == {
        "type": "request_callback",
        "node": "shipping-callback",
        "number": "+12125550123",
        "window": "12:00-17:00",
    }
    assert actions(steps[-1], "hang_up") == [{"type": "hang_up", "reason": "menu"}]
    assert run["journey"]["offers"] == ["faq", "callback"]
    assert run["journey"]["outcome"] == "hangup"


async def test_simulator_callback_form_with_a_refused_number(demo: Api) -> None:
    start = [event("start"), *digits("2"), *done(3), *digits("2")]
    wrong = event(
        "form", form="callback", fields={"number": "+44 20 7946 0000", "window": ""}
    )
    right = event(
        "form",
        form="callback",
        fields={"number": "(212) 555-0123", "window": "09:00-12:00"},
    )
    run = await simulate(demo, [*start, wrong, right], hours="open")

    refused, accepted = run["steps"][-2:]
    assert refused["error"]["code"] == "invalid-number"
    assert "GB" in refused["error"]["message"] and refused["actions"] == []
    [callback] = actions(accepted, "request_callback")
    assert (callback["number"], callback["window"]) == ("+12125550123", "09:00-12:00")

    declined = event("form", form="callback", fields={"decline": True})
    run = await simulate(demo, [*start, declined], hours="open")
    [queue] = actions(run["steps"][-1], "route_to_queue")
    assert queue["skill"] == "shipping"


async def test_simulator_takes_the_hours_from_the_calendar(demo: Api) -> None:
    status, _ = await demo.call(
        "PUT",
        "/api/hours",
        json={
            "time_zone": "America/New_York",
            "weekly": {"mon": [["08:00", "20:00"]]},
            "holidays": [{"date": "2026-12-07", "name": "A day off"}],
        },
    )
    assert status == 200
    cases = {
        "2026-12-14T09:00:00-05:00": "welcome",  # a Monday, open
        "2026-12-14T21:00:00-05:00": "closed-answers",  # after hours
        "2026-12-07T14:00:00Z": "holiday-answers",  # 09:00 in New York
        "2026-12-15T02:00:00+01:00": "closed-answers",  # Monday 20:00 there
    }
    for at, node in cases.items():
        run = await simulate(demo, [event("start")], at=at)
        assert run["journey"]["nodes"][1] == node, at
    run = await simulate(demo, [event("start")], at=next(iter(cases)), hours="closed")
    assert run["journey"]["nodes"][1] == "closed-answers"


async def test_simulator_runs_a_draft_document_and_its_guard(demo: Api) -> None:
    status, document = await demo.call("GET", "/api/menus/northwind-main/versions/1")
    document["nodes"]["welcome"]["options"]["9"] = "tollfree"
    run = await simulate(
        demo,
        [event("start"), *done(), *digits("9"), event("timer"), event("timer")],
        menu=document,
        menu_id=None,
        version=None,
        hours="open",
    )
    journey = run["journey"]
    assert journey["tollfree_refused"] == 1
    assert journey["nodes"][2:4] == ["tollfree", "general-answers"]  # FAQ first
    assert run["steps"][-1]["note"] == "no timer is running"


SIM_ERRORS = [
    ({"events": "start"}, "events"),
    ({"events": [{"type": "start"}, {"type": "digit", "digit": "1#"}]},
     "events.1.digit"),
    ({"events": [{"type": "fly"}]}, "events.0"),
    ({"events": [{"type": "start", "extra": 1}]}, "events.0.extra"),
    ({"events": [{"type": "timer", "name": "later"}]}, "events.0.name"),
    ({"events": [{"type": "form", "form": "menu", "fields": []}]}, "events.0.fields"),
    ({"events": [{"type": "form", "form": "x"}]}, "events.0.form"),
    ({"events": [{"type": "prompt_done", "play": "1"}]}, "events.0.play"),
    ({"events": [{"type": "start"}] * 501}, "events"),
    ({"events": [], "hours": "lunch"}, "hours"),
    ({"events": [], "at": "tomorrow"}, "at"),
    ({"events": [], "at": "2026-12-04T10:00:00"}, "at"),
    ({"events": [], "menu_id": 5}, "menu_id"),
    ({"events": [], "menu_id": "northwind-main", "version": "1"}, "version"),
    ({"events": [], "menu": {"id": "x"}}, "start"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "path"), SIM_ERRORS)
async def test_simulator_refuses_bad_requests_with_the_place(
    demo: Api, change: dict[str, Any], path: str
) -> None:
    body = {"menu_id": "northwind-main", "version": 1, **change}
    status, answer = await demo.call("POST", "/api/simulate", json=body)
    assert status == 422, answer
    assert path in [p["path"] for p in answer["problems"]], answer


async def test_simulator_unknown_menu_and_bad_json(demo: Api) -> None:
    body: dict[str, Any] = {"menu_id": "nothing", "events": []}
    status, answer = await demo.call("POST", "/api/simulate", json=body)
    assert status == 404 and answer["error"]["code"] == "not-found"
    body = {"menu_id": "northwind-main", "version": 5, "events": []}
    assert (await demo.call("POST", "/api/simulate", json=body))[0] == 404
    status, answer = await demo.call("POST", "/api/simulate", data=b"{")
    assert status == 400 and answer["error"]["code"] == "invalid-json"


async def test_hours_get_and_put(api: Api) -> None:
    status, calendar = await api.call("GET", "/api/hours")
    assert status == 200 and calendar["time_zone"] == "UTC"
    assert calendar["weekly"]["sun"] == [["00:00", "24:00"]]

    london: dict[str, Any] = {
        "time_zone": "Europe/London",
        "weekly": {
            "fri": [["09:00", "17:00"]],
            "mon": [["13:00", "17:00"], ["08:00", "12:00"]],
        },
        "holidays": [{"date": "2026-12-25", "name": "Christmas Day"}],
    }
    status, saved = await api.call("PUT", "/api/hours", json=london)
    assert status == 200
    assert saved["weekly"]["mon"] == [["08:00", "12:00"], ["13:00", "17:00"]]
    assert (await api.call("GET", "/api/hours"))[1] == saved

    bad = {
        **london,
        "time_zone": "Atlantis/Capital",
        "weekly": {"fri": [["22:00", "02:00"]]},
    }
    status, answer = await api.call("PUT", "/api/hours", json=bad)
    assert status == 422 and answer["error"]["code"] == "invalid-hours"
    assert [p["path"] for p in answer["problems"]] == [
        "time_zone",
        "weekly.fri.0.close",
    ]
    status, answer = await api.call("PUT", "/api/hours", data=b"not json")
    assert status == 400
    status, answer = await api.call("PUT", "/api/hours", data=b" " * 70_000)
    assert status == 413
    assert (await api.call("GET", "/api/hours"))[1] == saved


async def test_the_openapi_document_describes_what_is_served(demo: Api) -> None:
    status, doc = await demo.call("GET", "/openapi.json")
    assert status == 200
    registry = Registry().with_resource(
        "urn:helpline", Resource.from_contents(doc, default_specification=DRAFT202012)
    )

    def check(name: str, value: Any) -> None:
        schema = {"$ref": f"urn:helpline#/components/schemas/{name}"}
        Draft202012Validator(schema, registry=registry).validate(value)

    for name in doc["components"]["schemas"]:
        Draft202012Validator.check_schema(doc["components"]["schemas"][name])
    check(
        "MenuDocument",
        (await demo.call("GET", "/api/menus/northwind-main/versions/1"))[1],
    )
    check("Calendar", (await demo.call("GET", "/api/hours"))[1])
    run = await simulate(demo, [event("start"), *digits("1"), *done(2)], hours="open")
    check("SimulationResult", run)
    await create(demo, EARLY)
    status, body = await demo.call("POST", "/api/menus/help/versions/1/publish")
    assert status == 422
    check("PublishRefused", body)
    check("Problems", (await demo.call("PUT", "/api/hours", json={}))[1])
    with pytest.raises(ValidationError):
        check("MenuNode", {"kind": "teleport"})


async def test_a_json_body_that_arrives_in_pieces_is_read_whole(
    api: Api, helpline: RunningHelpline
) -> None:
    document = json.dumps(Menu.from_yaml(DEMO_YAML).to_dict()).encode()

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(document), 20):
            yield document[start : start + 20]

    headers = {"Authorization": f"Bearer {api.token}"}
    async with api.http.post(
        helpline.url + "/api/menus", data=pieces(), headers=headers
    ) as response:
        assert response.status == 201, await response.text()
        assert (await response.json())["id"] == "northwind-main"

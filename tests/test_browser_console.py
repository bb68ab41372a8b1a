"""The operator console in a real Chromium, against a real Helpline node.

Each test signs an operator in at /console and works the page as an
operator would (labels, roles, the keyboard), then checks what the REST API
says was saved in Redis. Data the page needs first (the demo FAQ and menu)
goes in through the same REST API. Screenshots of each step are saved in
``test-artifacts/``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import (
    BrowserContext,
    Dialog,
    FilePayload,
    Locator,
    Page,
    expect,
)

from gateway.accounts import Accounts
from tests.fixtures.app import RunningHelpline
from tests.test_api_faq import sine_wav

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
WAIT_MS = 15_000
OPERATOR = {"username": "olga", "password": "a long operator secret", "name": "Olga"}
MENU_ID = "northwind-main"
WELCOME = "Welcome to Northwind Appliances. For billing, press 1."


@dataclass
class OperatorApi:
    """The REST API as a signed-in operator, to seed data and check it."""

    base: str
    token: str
    http: aiohttp.ClientSession

    async def call(
        self, method: str, path: str, body: Any = None, *, yaml: str | None = None
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        if yaml is not None:
            headers["Content-Type"] = "application/yaml"
        async with self.http.request(
            method,
            self.base + path,
            json=body,
            data=None if yaml is None else yaml.encode(),
            headers=headers,
        ) as response:
            payload = await response.json()
            assert response.status < 300, (method, path, response.status, payload)
            return payload

    async def version(self, version: int, menu_id: str = MENU_ID) -> dict[str, Any]:
        body = await self.call("GET", f"/api/menus/{menu_id}/versions/{version}")
        menu: dict[str, Any] = body.get("menu", body)
        return menu

    async def statuses(self, menu_id: str = MENU_ID) -> dict[int, str]:
        body = await self.call("GET", f"/api/menus/{menu_id}/versions")
        versions = body["versions"] if isinstance(body, dict) else body
        return {v["version"]: v["status"] for v in versions}

    async def faq(self) -> dict[str, dict[str, Any]]:
        body = await self.call("GET", "/api/faq")
        return {entry["id"]: entry for entry in body["entries"]}


@pytest.fixture
async def operator(helpline: RunningHelpline) -> AsyncIterator[OperatorApi]:
    accounts = Accounts(helpline.store)
    user = await accounts.add_user(
        OPERATOR["username"], OPERATOR["password"], "operator", OPERATOR["name"]
    )
    token = await accounts.issue_token(user)
    async with aiohttp.ClientSession() as http:
        yield OperatorApi(helpline.url, token, http)


@pytest.fixture
async def demo(operator: OperatorApi) -> OperatorApi:
    """The demo FAQ, and the demo menu published as version 1."""
    faq = (ROOT / "ivr" / "demo_faq.yaml").read_text()
    await operator.call("POST", "/api/faq/import", yaml=faq)
    menu = (ROOT / "ivr" / "demo_menu.yaml").read_text()
    created = await operator.call("POST", "/api/menus", yaml=menu)
    version = created.get("menu", created)["version"]
    await operator.call("POST", f"/api/menus/{MENU_ID}/versions/{version}/publish", {})
    return operator


async def screenshot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


async def open_console(
    chromium: BrowserContext, helpline: RunningHelpline, tab: str
) -> Page:
    """/console with the operator signed in and `tab` chosen."""
    page = await chromium.new_page()
    await page.goto(f"{helpline.url}/console")
    await page.get_by_label("User name").fill(OPERATOR["username"])
    await page.get_by_label("Password").fill(OPERATOR["password"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#operator-name")).to_have_text(
        OPERATOR["name"], timeout=WAIT_MS
    )
    await page.get_by_role("tab", name=tab).click()
    await expect(page.get_by_role("tab", name=tab)).to_have_attribute(
        "aria-selected", "true"
    )
    return page


@dataclass
class Confirmations:
    """Every confirm() a page asks, answered OK when `accept`, else Cancel."""

    accept: bool = True
    asked: asyncio.Queue[str] = field(default_factory=asyncio.Queue)

    def watch(self, page: Page) -> Confirmations:
        page.on("dialog", self._answer)
        return self

    async def next(self) -> str:
        """The next dialog the page opened ("confirm: QUESTION"), waiting for it
        if needed."""
        async with asyncio.timeout(WAIT_MS / 1000):
            return await self.asked.get()

    async def _answer(self, dialog: Dialog) -> None:
        self.asked.put_nowait(f"{dialog.type}: {dialog.message}")
        await (dialog.accept() if self.accept else dialog.dismiss())


def button(page: Page | Locator, name: str) -> Locator:
    return page.get_by_role("button", name=name, exact=True)


def tree_item(page: Page, node: str) -> Locator:
    """The tree item where `node` is drawn in full (not a reference to it)."""
    return page.locator(f'#tree-view [role=treeitem][data-node="{node}"]:not(.ref)')


async def open_node(page: Page, node: str) -> Locator:
    """Opens `node` in the node form; returns the form."""
    await tree_item(page, node).locator(".node-row").first.click()
    form = page.get_by_role("form", name=re.compile(rf"^{node}:"))
    await expect(form).to_be_visible()
    return form


async def new_draft(page: Page) -> None:
    """From the published version 1, a draft version 2, opened."""
    await expect(page.locator("#version-title")).to_have_text(
        f"{MENU_ID}, version 1", timeout=WAIT_MS
    )
    await button(page, "New draft from this version").click()
    await expect(page.locator("#version-title")).to_have_text(
        f"{MENU_ID}, version 2", timeout=WAIT_MS
    )
    await expect(page.locator("#version-status")).to_have_text("Draft")


async def test_operator_edits_a_node_and_publishes(
    helpline: RunningHelpline, demo: OperatorApi, chromium: BrowserContext
) -> None:
    page = await open_console(chromium, helpline, "Menus")
    confirmations = Confirmations(accept=False).watch(page)
    await new_draft(page)
    message = page.locator("#version-message")
    await expect(message).to_have_text(
        "Version 2 is a new draft, copied from version 1."
    )

    # The keyboard walks the tree: down from the start node, Enter opens.
    await tree_item(page, "office-hours").focus()
    await page.keyboard.press("ArrowDown")
    await expect(tree_item(page, "welcome")).to_be_focused()
    await page.keyboard.press("Enter")
    form = page.get_by_role("form", name="welcome: menu")
    await expect(form).to_be_visible()
    await form.get_by_label("Prompt", exact=True).fill(WELCOME)
    await form.get_by_label("Attempts").fill("9")
    await button(form, "Save node").click()

    # Refused: the error sits under Attempts, and the edit is all still there.
    attempts = form.locator('[data-path="attempts"]')
    await expect(attempts.locator(".field-error")).to_contain_text(
        "1 to 5", timeout=WAIT_MS
    )
    await expect(form.get_by_label("Attempts")).to_have_attribute(
        "aria-invalid", "true"
    )
    await expect(form.get_by_label("Prompt", exact=True)).to_have_value(WELCOME)
    await expect(page.locator("#unsaved")).to_be_visible()
    await expect(message).to_be_hidden()
    await screenshot(page, "node-refused")
    assert (await demo.version(2))["nodes"]["welcome"]["prompt"] != WELCOME

    await form.get_by_label("Attempts").fill("2")
    await button(form, "Save node").click()
    await expect(form.get_by_role("alert")).to_have_text("Saved.", timeout=WAIT_MS)
    await expect(page.locator("#unsaved")).to_be_hidden()
    await expect(tree_item(page, "welcome").locator(".excerpt").first).to_have_text(
        WELCOME
    )
    assert (await demo.version(2))["nodes"]["welcome"]["prompt"] == WELCOME
    # The item the node was opened by stays the one selected.
    await expect_selected(page, "office-hours open")

    # A callback node's read-back: its own words before the digits, and
    # other keys to confirm the number and to type it again.
    form = await open_node(page, "billing-callback")
    await form.get_by_label(
        "Before a keyed number is read back (optional)", exact=True
    ).fill("I heard")
    await form.get_by_label("Key that confirms the number").select_option("#")
    await form.get_by_label("Key that asks for the number again").select_option("*")
    await button(form, "Save node").click()
    await expect(form.get_by_role("alert")).to_have_text("Saved.", timeout=WAIT_MS)
    saved = (await demo.version(2))["nodes"]["billing-callback"]
    assert (saved["confirm_digit"], saved["reenter_digit"]) == ("#", "*")
    assert saved["readback_prompt"] == "I heard" and "confirm_prompt" not in saved

    # Publishing asks first; "Cancel" leaves the draft as it is.
    question = (
        "confirm: Publish version 2 of northwind-main?\n\n"
        "Version 2 becomes what callers hear now. Version 1 is archived."
    )
    await button(page, "Publish").click()
    assert await confirmations.next() == question
    await expect(page.locator("#version-status")).to_have_text("Draft")
    assert await demo.statuses() == {1: "published", 2: "draft"}

    confirmations.accept = True
    await button(page, "Publish").click()
    assert await confirmations.next() == question
    await expect(message).to_have_text("Version 2 is published.", timeout=WAIT_MS)
    await expect(page.locator("#version-status")).to_have_text("Published")
    assert await demo.statuses() == {1: "archived", 2: "published"}
    await screenshot(page, "published")


async def test_tree_selection_stays_and_each_action_replaces_the_last_message(
    helpline: RunningHelpline, demo: OperatorApi, chromium: BrowserContext
) -> None:
    page = await open_console(chromium, helpline, "Menus")
    await new_draft(page)

    # welcome opened by a branch that leads back to it, and saved as it is.
    back = page.locator('#tree [data-step="billing-next *"]')
    await expect(back).to_have_class(re.compile(r"\bref\b"))
    await back.locator(".node-row").first.click()
    form = page.get_by_role("form", name="welcome: menu")
    await expect(form).to_be_visible()
    await expect_selected(page, "billing-next *")
    await button(form, "Save node").click()
    status = page.locator("#node-status")
    await expect(status).to_have_text("Saved.", timeout=WAIT_MS)
    await expect_selected(page, "billing-next *")
    await expect(page.locator("#version-message")).to_be_hidden()

    # Validate: its report replaces the save's message.
    await button(page, "Validate").click()
    await expect(page.locator("#report-title")).to_contain_text(
        "No problems", timeout=WAIT_MS
    )
    await expect(status).to_be_hidden()
    await expect(page.locator("#version-message")).to_be_hidden()


async def expect_selected(page: Page, step: str) -> None:
    """The one tree item selected, and the tree's tab stop, is `step`'s."""
    selected = page.locator('#tree-view [role=treeitem][aria-selected="true"]')
    await expect(selected).to_have_count(1)
    await expect(selected).to_have_attribute("data-step", step)
    await expect(selected).to_have_attribute("tabindex", "0")


async def test_menu_reaching_tollfree_early_is_refused_with_its_path(
    helpline: RunningHelpline, demo: OperatorApi, chromium: BrowserContext
) -> None:
    page = await open_console(chromium, helpline, "Menus")
    Confirmations().watch(page)
    await new_draft(page)

    # Key 9 of the first menu goes straight to the toll-free line.
    form = await open_node(page, "welcome")
    await button(form, "Add an option").click()
    row = form.locator(".option-row").last
    await row.get_by_label("Keys").fill("9")
    await row.get_by_label("Label").fill("Call the toll-free line")
    await row.get_by_label("Go to").select_option("tollfree")
    await button(form, "Save node").click()
    await expect(form.get_by_role("alert")).to_have_text("Saved.", timeout=WAIT_MS)

    await button(page, "Publish").click()
    report = page.locator("#report")
    await expect(report.get_by_role("heading")).to_contain_text(
        "Publishing refused", timeout=WAIT_MS
    )
    # The shortest path, which offered neither an FAQ answer nor a callback.
    failure = report.locator('.failure[data-node="tollfree"]').filter(
        has_text="without an FAQ answer or the callback offer"
    )
    await expect(failure).to_have_count(1)
    steps = failure.get_by_role("list", name="The path, step by step")
    await expect(steps.locator("li")).to_have_text(
        [
            re.compile(r"office-hours\s*— open →\s*welcome"),
            re.compile(r"welcome\s*— 9 →\s*tollfree"),
        ]
    )
    await expect(tree_item(page, "tollfree")).to_have_class(re.compile(r"\bfailing\b"))

    await button(failure, "Show the path in the tree").click()
    step = page.locator('#tree [data-step="welcome 9"]')
    await expect(step).to_have_class(re.compile(r"\bon-path\b"))
    await expect(step).to_be_focused()
    await screenshot(page, "publish-refused")
    assert await demo.statuses() == {1: "published", 2: "draft"}


def journey_value(page: Page, term: str) -> Locator:
    """What the simulator's journey says for `term`."""
    journey = page.locator("#sim-journey")
    return journey.locator("dt", has_text=re.compile(rf"^{term}$")).locator("+ dd")


async def test_simulator_walks_a_menu(
    helpline: RunningHelpline, demo: OperatorApi, chromium: BrowserContext
) -> None:
    page = await open_console(chromium, helpline, "Simulator")
    panel = page.get_by_role("tabpanel", name="Simulator")
    await panel.get_by_label("Menu version").select_option(f"{MENU_ID}@1")
    await panel.get_by_label("Opening hours").select_option("open")
    await button(page, "Start a call").click()

    # Prompts finish at once: the first menu waits for a key.
    options = page.get_by_role("group", name="Menu options")
    await expect(button(options, "1 · Billing and payments")).to_be_visible(
        timeout=WAIT_MS
    )
    await expect(page.locator("#sim-prompt")).to_contain_text("Northwind")
    await (
        page.get_by_role("group", name="Keypad").get_by_role("button", name="1").click()
    )

    steps = page.locator("#sim-steps")
    await expect(steps).to_contain_text("Waits for a key", timeout=WAIT_MS)
    await expect(steps).not_to_contain_text("up to 1 keys")
    billing = (await demo.faq())["faq-billing-payment-methods"]
    await expect(steps.locator(".faq-card").first).to_contain_text(
        billing["question"], timeout=WAIT_MS
    )
    await expect(steps).to_contain_text(billing["answer"])
    journey = page.locator("#sim-journey")
    await expect(journey).to_contain_text("office-hours → welcome → billing-answers")

    await button(options, "2 · Ask for a callback").click()
    callback = page.get_by_role("form", name="Callback form")
    await expect(callback).to_be_visible(timeout=WAIT_MS)
    await callback.get_by_label("Phone number").fill("+12025550143")
    await callback.get_by_label("Time window").select_option("12:00-17:00")
    await button(callback, "Ask for the callback").click()

    await expect(steps).to_contain_text("Requests a callback", timeout=WAIT_MS)
    await expect(page.locator("#sim-phase")).to_have_text("ended", timeout=WAIT_MS)
    # The choices and the offers in the softphone's words (web/journey.js).
    await expect(journey_value(page, "Menu choices")).to_have_text(
        "Billing and payments (1) at welcome, Ask for a callback (2) at billing-next"
    )
    await expect(journey_value(page, "Offers made")).to_have_text(
        "FAQ answers and a callback"
    )
    await screenshot(page, "simulator")

    # Undo takes the call back to the callback offer; 1 on the keypad
    # accepts it, and the number is typed key by key.
    await button(page, "Undo last event").click()
    await expect(callback).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#sim-phase")).not_to_have_text("ended")
    await (
        page.get_by_role("group", name="Keypad").get_by_role("button", name="1").click()
    )
    accepted = steps.locator(".step", has_text="The caller presses 1").last
    await expect(accepted).to_contain_text(
        re.compile(r"Waits for up to \d+ keys, ended by #"), timeout=WAIT_MS
    )


async def test_simulator_follows_the_hours_and_the_keyboard(
    helpline: RunningHelpline, demo: OperatorApi, chromium: BrowserContext
) -> None:
    page = await open_console(chromium, helpline, "Simulator")
    panel = page.get_by_role("tabpanel", name="Simulator")
    await panel.get_by_label("Opening hours").select_option("closed")
    await panel.get_by_label("Finish each prompt at once").uncheck()
    await button(page, "Start a call").click()

    # Closed: the opening hours answer plays, one prompt at a time.
    prompt_done = button(page, "Prompt finished")
    await expect(page.locator("#sim-prompt")).to_contain_text(
        "Our offices are closed now.", timeout=WAIT_MS
    )
    await prompt_done.click()
    hours = (await demo.faq())["faq-opening-hours"]
    await expect(page.locator("#sim-prompt")).to_contain_text(
        hours["answer"], timeout=WAIT_MS
    )
    await prompt_done.click()

    # The callback offer: the keyboard's 2 declines it, as on a phone.
    await expect(page.locator("#sim-prompt")).to_contain_text(
        "To have us call you back", timeout=WAIT_MS
    )
    await (
        page.get_by_role("group", name="Keypad").get_by_role("button", name="5").focus()
    )
    await page.keyboard.press("2")
    await expect(page.locator("#sim-steps")).to_contain_text(
        "The caller presses 2", timeout=WAIT_MS
    )
    await expect(page.locator("#sim-prompt")).to_contain_text(
        "Thank you for calling Northwind Appliances. Goodbye.", timeout=WAIT_MS
    )
    await expect(page.locator("#sim-journey")).to_contain_text("closed-answers")


async def test_faq_add_edit_search_and_delete(
    helpline: RunningHelpline, operator: OperatorApi, chromium: BrowserContext
) -> None:
    page = await open_console(chromium, helpline, "FAQ")
    form = page.locator("#faq-form")
    await button(page, "Add an entry").click()
    await form.get_by_label("Id").fill("faq-gift-cards")
    await form.get_by_label("Question").fill("Do you sell gift cards?")
    await form.get_by_label("Answer").fill("Yes, from 10 to 500 dollars, online.")
    await form.get_by_label("Tags").fill("billing, gifts")
    await button(form, "Save").click()
    await expect(form.get_by_role("alert")).to_have_text(
        "Entry added.", timeout=WAIT_MS
    )
    entries = page.get_by_role("list", name="FAQ entries")
    await expect(entries).to_contain_text("Do you sell gift cards?")
    saved = (await operator.faq())["faq-gift-cards"]
    assert saved["tags"] == ["billing", "gifts"]

    # An empty question is refused next to the field; the answer stays.
    await form.get_by_label("Question").fill("")
    await form.get_by_label("Answer").fill("Yes, from 5 to 500 dollars.")
    await button(form, "Save").click()
    question = form.locator('[data-path="question"]')
    await expect(question.locator(".field-error")).not_to_be_empty(timeout=WAIT_MS)
    await expect(form.get_by_label("Answer")).to_have_value(
        "Yes, from 5 to 500 dollars."
    )
    await screenshot(page, "faq-refused")

    await form.get_by_label("Question").fill("Can I buy a gift card?")
    await button(form, "Save").click()
    await expect(form.get_by_role("alert")).to_have_text("Saved.", timeout=WAIT_MS)
    saved = (await operator.faq())["faq-gift-cards"]
    assert saved["question"] == "Can I buy a gift card?"
    assert saved["answer"] == "Yes, from 5 to 500 dollars."

    await page.get_by_label("Search").fill("gift card")
    await expect(entries.get_by_role("button")).to_have_count(1, timeout=WAIT_MS)
    await expect(page.locator("#faq-count")).to_have_text("1 found")

    await button(form, "Hear the answer").click()
    audio = form.locator("#faq-audio audio")
    await expect(audio).to_have_attribute("src", re.compile(r"\.ogg$"), timeout=WAIT_MS)
    source = await audio.get_attribute("src")
    assert source is not None
    async with operator.http.get(helpline.url + source) as got:
        assert got.status == 200
        assert len(await got.read()) > 1000

    # A file that is not audio is refused at the recording; a tone is taken.
    upload = form.get_by_label("Upload a recording…")
    await upload.set_input_files(
        files=FilePayload(name="notes.txt", mimeType="text/plain", buffer=b"hi" * 500)
    )
    recording = form.locator('[data-path="recording"]')
    await expect(recording.locator("#faq-audio")).to_have_attribute(
        "data-kind", "error", timeout=WAIT_MS
    )
    await upload.set_input_files(
        files=FilePayload(name="answer.wav", mimeType="audio/wav", buffer=sine_wav(1.0))
    )
    await expect(recording).to_contain_text(
        "Callers hear the uploaded recording.", timeout=WAIT_MS
    )
    assert (await operator.faq())["faq-gift-cards"]["recording"]
    await button(form, "Remove the recording").click()
    await expect(recording).to_contain_text("None: callers hear", timeout=WAIT_MS)
    assert not (await operator.faq())["faq-gift-cards"]["recording"]

    await button(form, "Delete").click()
    await button(page, "Delete for good").click()
    await expect(page.locator("#faq-list-status")).to_have_text(
        "Deleted “faq-gift-cards”.", timeout=WAIT_MS
    )
    assert "faq-gift-cards" not in await operator.faq()


async def test_faq_delete_refused_replaces_the_last_delete_message(
    helpline: RunningHelpline, demo: OperatorApi, chromium: BrowserContext
) -> None:
    page = await open_console(chromium, helpline, "FAQ")
    entries = page.get_by_role("list", name="FAQ entries")
    list_status = page.locator("#faq-list-status")
    form = page.locator("#faq-form")

    async def delete(faq_id: str) -> None:
        await entries.get_by_role("button").filter(has_text=faq_id).click()
        await button(form, "Delete").click()
        await button(page, "Delete for good").click()

    await delete("faq-installation")
    await expect(list_status).to_have_text(
        "Deleted “faq-installation”.", timeout=WAIT_MS
    )

    # The published menu plays this one: refused, and only the refusal shows.
    await delete("faq-opening-hours")
    await expect(form.locator("#faq-status")).to_have_attribute(
        "data-kind", "error", timeout=WAIT_MS
    )
    await expect(form.locator("#faq-status")).to_contain_text(MENU_ID)
    await expect(list_status).to_be_hidden()
    await screenshot(page, "faq-delete-refused")
    assert "faq-opening-hours" in await demo.faq()
    assert "faq-installation" not in await demo.faq()


async def test_hours_edit(
    helpline: RunningHelpline, operator: OperatorApi, chromium: BrowserContext
) -> None:
    page = await open_console(chromium, helpline, "Hours")
    monday = page.get_by_role("group", name="Monday")
    await expect(page.get_by_label("Time zone")).not_to_have_value("", timeout=WAIT_MS)
    await page.get_by_label("Time zone").fill("Europe/Paris")
    while await monday.get_by_role("button", name="Remove these hours").count():
        await monday.get_by_role("button", name="Remove these hours").first.click()
    await button(monday, "Add hours on Monday").click()
    opens = monday.get_by_label("Monday opens at")
    closes = monday.get_by_label("Monday closes at")
    await opens.fill("21:00")
    await closes.fill("20:00")
    await button(page, "Add a holiday").click()
    holiday = page.locator("#hours-holidays li").last
    await holiday.get_by_label("Name of the holiday").fill("Bastille Day")
    await holiday.locator("input[type=date]").fill("2026-07-14")
    await button(page, "Save hours").click()

    # Closing before opening is refused at Monday's "closes at", in the
    # server's sentence (no field name before it); nothing is lost.
    sentence = "Closes at 20:00, not after it opens at 21:00; write hours past midnight"
    message = monday.locator(".field-error")
    await expect(message).to_have_text(re.compile(f"^{sentence}"), timeout=WAIT_MS)
    await expect(closes).to_have_attribute("aria-invalid", "true")
    # The stylesheet's warning sign comes first in what a screen reader says.
    await expect(closes).to_have_accessible_description(re.compile(rf"^\W*{sentence}"))
    await expect(opens).not_to_have_attribute("aria-invalid", "true")
    under, box = await message.bounding_box(), await closes.bounding_box()
    assert under and box
    assert under["x"] == box["x"] and under["y"] >= box["y"] + box["height"]
    await expect(closes).to_have_value("20:00")
    await expect(page.get_by_label("Time zone")).to_have_value("Europe/Paris")
    await screenshot(page, "hours-refused")

    await opens.fill("09:00")
    await closes.fill("17:30")
    await button(page, "Save hours").click()
    await expect(page.locator("#hours-status")).to_contain_text(
        "Saved.", timeout=WAIT_MS
    )
    body = await operator.call("GET", "/api/hours")
    calendar = body.get("calendar", body)
    assert calendar["time_zone"] == "Europe/Paris"
    assert calendar["weekly"]["mon"] == [["09:00", "17:30"]]
    assert {"date": "2026-07-14", "name": "Bastille Day"} in calendar["holidays"]


async def test_sign_in_keyboard_and_sign_out(
    helpline: RunningHelpline, operator: OperatorApi, chromium: BrowserContext
) -> None:
    await helpline.create_agent("ann", "an agent's secret", "Ann")
    page = await chromium.new_page()
    await page.goto(f"{helpline.url}/console")
    await page.get_by_label("User name").fill("ann")
    await page.get_by_label("Password").fill("an agent's secret")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text(
        "not an operator", timeout=WAIT_MS
    )
    await expect(page.locator("#desk")).to_be_hidden()

    await page.get_by_label("User name").fill(OPERATOR["username"])
    await page.get_by_label("Password").fill(OPERATOR["password"])
    await page.keyboard.press("Enter")
    faq_tab = page.get_by_role("tab", name="FAQ")
    await expect(faq_tab).to_have_attribute("aria-selected", "true", timeout=WAIT_MS)

    # Arrow keys move between the tabs; the address keeps the tab chosen.
    await faq_tab.focus()
    await page.keyboard.press("ArrowRight")
    await expect(page.get_by_role("tab", name="Menus")).to_be_focused()
    await page.keyboard.press("End")
    await expect(page.get_by_role("tab", name="Floor")).to_have_attribute(
        "aria-selected", "true"
    )
    await expect(page.get_by_role("tabpanel", name="Floor")).to_be_visible()
    await page.keyboard.press("ArrowLeft")
    await expect(page.get_by_role("tab", name="Reports")).to_have_attribute(
        "aria-selected", "true"
    )
    await expect(page.get_by_role("tabpanel", name="Reports")).to_be_visible()
    await page.reload()
    await expect(page.get_by_role("tabpanel", name="Reports")).to_be_visible(
        timeout=WAIT_MS
    )

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.reload()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


async def test_console_page_is_served(helpline: RunningHelpline) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(helpline.url + "/console") as response:
            assert response.status == 200
            assert "/static/console.js" in await response.text()
        async with http.get(helpline.url + "/") as response:
            assert 'href="/console"' in await response.text()


async def test_versions_yaml_rollback_and_entry_menu(
    helpline: RunningHelpline, demo: OperatorApi, chromium: BrowserContext
) -> None:
    page = await open_console(chromium, helpline, "Menus")
    confirmations = Confirmations().watch(page)
    await new_draft(page)

    # The draft as YAML: a bad kind is refused with its place, the text kept.
    await page.get_by_role("tab", name="YAML").click()
    yaml_text = page.get_by_label("The version as YAML")
    await expect(yaml_text).to_have_value(re.compile("office-hours"), timeout=WAIT_MS)
    text = await yaml_text.input_value()
    broken = text.replace("kind: hangup", "kind: hang-up", 1)
    await yaml_text.fill(broken)
    await button(page, "Save YAML").click()
    status = page.locator("#yaml-status")
    await expect(status).to_contain_text(
        re.compile("unknown node kind", re.I), timeout=WAIT_MS
    )
    await expect(status.locator("code").first).to_contain_text("nodes.")
    await expect(yaml_text).to_have_value(broken)

    goodbye = "Thank you for calling Northwind Appliances. Goodbye."
    await yaml_text.fill(text.replace(goodbye, "Goodbye, and thank you."))
    await button(page, "Save YAML").click()
    await expect(status).to_have_text("Saved.", timeout=WAIT_MS)
    saved = await demo.version(2)
    assert saved["nodes"]["goodbye"]["prompt"] == "Goodbye, and thank you."

    # Publish version 2, then roll back to version 1: version 3 is its copy.
    await page.get_by_role("tab", name="Tree").click()
    await button(page, "Publish").click()
    await expect(page.locator("#version-status")).to_have_text(
        "Published", timeout=WAIT_MS
    )
    versions = page.get_by_role("region", name=MENU_ID)
    await versions.get_by_role("button", name=re.compile("^Version 1")).click()
    await expect(page.locator("#version-status")).to_have_text(
        "Archived", timeout=WAIT_MS
    )
    await button(page, "Roll back to this version").click()
    await expect(page.locator("#version-title")).to_have_text(
        f"{MENU_ID}, version 3", timeout=WAIT_MS
    )
    await confirmations.next()  # version 2's publishing
    assert await confirmations.next() == (
        f"confirm: Roll back {MENU_ID} to version 1?\n\n"
        "Version 3, a copy of version 1, becomes what callers hear now. "
        "Version 2 is archived."
    )
    assert await demo.statuses() == {1: "archived", 2: "archived", 3: "published"}
    copy = await demo.version(3)
    assert copy["nodes"]["goodbye"]["prompt"] == goodbye

    # A second menu, published and made the one callers enter.
    await button(page, "New menu").click()
    await page.get_by_label("Id of the new menu").fill("spare")
    await button(page, "Create draft").click()
    await expect(page.locator("#version-title")).to_have_text(
        "spare, version 1", timeout=WAIT_MS
    )
    await button(page, "Publish").click()
    await expect(page.locator("#version-status")).to_have_text(
        "Published", timeout=WAIT_MS
    )
    assert await confirmations.next() == (
        "confirm: Publish version 1 of spare?\n\n"
        "Version 1 becomes the published version of spare; callers hear it once "
        "spare is the entry menu."
    )
    await button(page, "Make it the entry menu").click()
    await expect(page.locator("#version-entry")).to_be_visible(timeout=WAIT_MS)
    entry = await demo.call("GET", "/api/menus/entry")
    assert entry["menu_id"] == "spare"
    await screenshot(page, "entry-menu")


def wav(name: str, seconds: float) -> FilePayload:
    return FilePayload(name=name, mimeType="audio/wav", buffer=sine_wav(seconds))


async def upload(form: Locator, prompt: str, file: FilePayload) -> None:
    """Uploads `file` as the recording of the prompt field labelled `prompt`."""
    await form.get_by_label(f"{prompt}: upload a recording").set_input_files(file)


async def test_recordings_of_prompts_are_uploaded_published_and_dropped(
    helpline: RunningHelpline, demo: OperatorApi, chromium: BrowserContext
) -> None:
    page = await open_console(chromium, helpline, "Menus")
    Confirmations().watch(page)
    await new_draft(page)

    # A file that is not audio is refused at the goodbye's recording.
    form = await open_node(page, "goodbye")
    recording = form.locator('[data-path="prompt.recording"]')
    notes = FilePayload(name="notes.txt", mimeType="text/plain", buffer=b"hi" * 500)
    await upload(form, "Goodbye", notes)
    await expect(recording.locator(".status")).to_have_attribute(
        "data-kind", "error", timeout=WAIT_MS
    )
    await expect(recording.locator(".status")).to_contain_text("audio")
    await expect(recording.locator("audio")).to_have_count(0)
    await screenshot(page, "recording-refused")

    # A tone is taken: it plays at the field, the tree marks the node.
    await upload(form, "Goodbye", wav("goodbye.wav", 1.5))
    player = form.get_by_label("Goodbye: the recording")
    await expect(player).to_have_attribute(
        "src", re.compile(r"^/api/prompts/[0-9a-f]+\.ogg$"), timeout=WAIT_MS
    )
    await expect(recording).to_contain_text("Callers hear this recording")
    await expect(tree_item(page, "goodbye").locator(".tag.recorded")).to_be_visible()
    await expect(page.locator("#unsaved")).to_be_visible()
    await screenshot(page, "recording-uploaded")
    source = await player.get_attribute("src")
    assert source is not None
    key = source.removeprefix("/api/prompts/").removesuffix(".ogg")
    async with demo.http.get(helpline.url + source) as got:
        assert got.status == 200
        assert len(await got.read()) > 1000

    # One more on another node, then the draft is saved and published.
    form = await open_node(page, "goodbye-callback")
    await upload(form, "Goodbye", wav("callback.wav", 1.0))
    await expect(form.get_by_label("Goodbye: the recording")).to_be_visible(
        timeout=WAIT_MS
    )
    await button(form, "Save node").click()
    await expect(form.get_by_role("alert")).to_have_text("Saved.", timeout=WAIT_MS)
    await button(page, "Publish").click()
    await expect(page.locator("#version-message")).to_have_text(
        "Version 2 is published.", timeout=WAIT_MS
    )
    published = await demo.version(2)
    assert published["status"] == "published"
    assert published["recordings"]["goodbye.prompt"] == key
    assert set(published["recordings"]) == {"goodbye.prompt", "goodbye-callback.prompt"}
    await expect(tree_item(page, "goodbye").locator(".tag.recorded")).to_be_visible()
    await page.get_by_role("tab", name="YAML").click()
    await expect(page.get_by_label("The version as YAML")).to_have_value(
        re.compile(rf"recordings:\n  goodbye\.prompt: {key}\n"), timeout=WAIT_MS
    )
    await page.get_by_role("tab", name="Tree").click()

    # In a new draft: the goodbye's recording removed, the other prompt's
    # text cleared; each save drops that recording.
    await button(page, "New draft from this version").click()
    await expect(page.locator("#version-title")).to_have_text(
        f"{MENU_ID}, version 3", timeout=WAIT_MS
    )
    form = await open_node(page, "goodbye")
    await button(form, "Goodbye: remove the recording").click()
    await expect(form.get_by_label("Goodbye: the recording")).to_have_count(0)
    await button(form, "Save node").click()
    await expect(form.get_by_role("alert")).to_have_text("Saved.", timeout=WAIT_MS)
    assert (await demo.version(3))["recordings"] == {
        "goodbye-callback.prompt": published["recordings"]["goodbye-callback.prompt"]
    }
    await expect(tree_item(page, "goodbye").locator(".tag.recorded")).to_have_count(0)

    form = await open_node(page, "goodbye-callback")
    await form.get_by_label("Goodbye (optional)").fill("")
    await expect(form.locator('[data-path="prompt.recording"]')).to_contain_text(
        "saving drops it"
    )
    await button(form, "Save node").click()
    await expect(form.get_by_role("alert")).to_have_text("Saved.", timeout=WAIT_MS)
    assert "recordings" not in await demo.version(3)

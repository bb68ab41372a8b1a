"""The menu and hours stores on real Redis servers (redis-server and the
embedded one): versions, drafts, publishing and what a refusal leaves,
rollback, the entry menu, and clients that publish at the same moment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis

import gateway.menus
from gateway.menus import (
    UNKNOWN_FAQ,
    HoursStore,
    MenuConflict,
    MenuNotFound,
    MenuStore,
    check,
    demo_menu,
    encode,
)
from gateway.store import Store
from ivr.hours import Calendar, always_open, demo_calendar
from ivr.menu import Menu, MenuError, MenuStatus
from ivr.validator import TOLLFREE_WITHOUT_OFFERS, MenuRefused, validate

DRAFT, PUBLISHED, ARCHIVED = MenuStatus.DRAFT, MenuStatus.PUBLISHED, MenuStatus.ARCHIVED
FAQ = {"faq-a", "faq-b"}

GOOD = """\
id: help
start: main
faq_ids: [faq-a]
nodes:
  main:
    kind: menu
    prompt: Press 1 for answers, 2 for an agent.
    options: {"1": answers, "2": agents}
    on_timeout: answers
    on_invalid: answers
  answers: {kind: faq, answers: [faq-a], next: offer}
  offer:
    kind: callback
    prompt: Press 1 for a callback, 2 to wait.
    next: bye
    declined: last-queue
  agents: {kind: queue, skill: general, max_wait_seconds: 60, overflow: answers}
  last-queue: {kind: queue, skill: general, max_wait_seconds: 60, overflow: free}
  free: {kind: tollfree, prompt: Transferring you.}
  bye: {kind: hangup, prompt: Goodbye.}
"""
# The agents' queue overflows straight to the toll-free line.
EARLY_TOLLFREE = GOOD.replace("overflow: answers", "overflow: free")


def menu(text: str = GOOD, **changes: Any) -> Menu:
    data = Menu.from_yaml(text).to_dict()
    data.update(changes)
    return Menu.from_dict(data)


def prompt_of(menu: Menu, node_id: str) -> str:
    prompt: str = menu.to_dict()["nodes"][node_id]["prompt"]
    return prompt


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Store]:
    opened = Store(redis_url, mode="external")
    yield opened
    await opened.close()


@pytest.fixture
def menus(store: Store) -> MenuStore:
    return MenuStore(store)


async def snapshot(store: Store) -> dict[str, Any]:
    """Every key under the prefix with its value, to show nothing changed."""
    out: dict[str, Any] = {}
    async for key in store.redis.scan_iter("helpline:*"):
        kind = await store.redis.type(key)
        if kind == "hash":
            out[key] = await store.redis.hgetall(key)
        elif kind == "set":
            out[key] = sorted(await store.redis.smembers(key))
        else:
            out[key] = await store.redis.get(key)
    return out


async def statuses(menus: MenuStore, menu_id: str) -> list[MenuStatus]:
    return [v.status for v in await menus.versions(menu_id)]


async def test_create_numbers_versions_and_get_reads_them_back(
    menus: MenuStore,
) -> None:
    first = await menus.create(menu(version=7, status="published"))
    second = await menus.create(menu())
    assert (first.version, first.status) == (1, DRAFT)  # numbered, never published
    assert (second.version, second.status) == (2, DRAFT)
    again = await menus.get("help", 1)
    assert again.to_dict() == first.to_dict()
    assert await statuses(menus, "help") == [DRAFT, DRAFT]
    infos = await menus.list_menus()
    assert [(i.id, i.latest, i.published, i.entry) for i in infos] == [
        ("help", 2, None, False)
    ]
    assert await menus.published("help") is None and await menus.entry() is None


async def test_unknown_menus_and_versions(menus: MenuStore) -> None:
    with pytest.raises(MenuNotFound):
        await menus.get("nothing", 1)
    with pytest.raises(MenuNotFound):
        await menus.versions("nothing")
    await menus.create(menu())
    with pytest.raises(MenuNotFound):
        await menus.get("help", 2)
    with pytest.raises(MenuNotFound):
        await menus.publish("help", 2, FAQ)
    with pytest.raises(MenuNotFound):
        await menus.update_draft("help", 2, menu())


async def test_only_drafts_are_edited(menus: MenuStore) -> None:
    await menus.create(menu())
    edited = menu(GOOD.replace("Goodbye.", "Thank you and goodbye."))
    saved = await menus.update_draft("help", 1, edited)
    assert saved.version == 1 and saved.status is DRAFT
    assert prompt_of(await menus.get("help", 1), "bye") == "Thank you and goodbye."

    with pytest.raises(MenuError) as caught:
        await menus.update_draft("help", 1, menu(id="other"))
    assert caught.value.problems[0].path == "id"

    await menus.publish("help", 1, FAQ)
    with pytest.raises(MenuConflict) as conflict:
        await menus.update_draft("help", 1, menu())
    assert conflict.value.code == "not-draft" and "published" in str(conflict.value)


async def test_a_refused_publish_changes_nothing(
    store: Store, menus: MenuStore
) -> None:
    await menus.create(menu())
    await menus.publish("help", 1, FAQ)
    await menus.create(menu(EARLY_TOLLFREE))
    before = await snapshot(store)

    with pytest.raises(MenuRefused) as caught:
        await menus.publish("help", 2, FAQ)

    failure = caught.value.report.failures[0]
    assert failure.kind == TOLLFREE_WITHOUT_OFFERS
    assert failure.path_text() == "main --2--> agents --overflow--> free"
    assert await snapshot(store) == before
    assert await statuses(menus, "help") == [PUBLISHED, DRAFT]


async def test_publish_refuses_faq_entries_that_do_not_exist(
    store: Store, menus: MenuStore
) -> None:
    await menus.create(menu())
    before = await snapshot(store)
    with pytest.raises(MenuRefused) as caught:
        await menus.publish("help", 1, {"faq-b"})
    [failure] = caught.value.report.failures
    assert failure.kind == UNKNOWN_FAQ and failure.node == "answers"
    assert "nodes.answers.answers.0" in failure.sentence
    assert failure.path_text() == "main --1--> answers"
    assert await snapshot(store) == before


def test_faq_ids_listed_but_never_played_are_checked_too() -> None:
    report = check(menu(faq_ids=["faq-a", "faq-gone"]), {"faq-a"})
    assert [f.sentence for f in report.failures] == [
        "faq_ids.1: the FAQ has no entry 'faq-gone'"
    ]


async def test_publish_archives_the_one_before(menus: MenuStore) -> None:
    for _ in range(3):
        await menus.create(menu())
    await menus.publish("help", 1, FAQ)
    published = await menus.publish("help", 3, FAQ)
    assert published.status is PUBLISHED and published.version == 3
    assert await statuses(menus, "help") == [ARCHIVED, DRAFT, PUBLISHED]
    assert (await menus.published("help")).version == 3  # type: ignore[union-attr]
    assert (await menus.get("help", 1)).status is ARCHIVED

    again = await menus.publish("help", 3, FAQ)  # publishing twice is harmless
    assert again.version == 3
    assert await statuses(menus, "help") == [ARCHIVED, DRAFT, PUBLISHED]
    with pytest.raises(MenuConflict) as caught:
        await menus.publish("help", 1, FAQ)  # archived: roll back instead
    assert caught.value.code == "not-draft"


async def test_rollback_publishes_a_copy_of_an_earlier_version(
    menus: MenuStore,
) -> None:
    await menus.create(menu())
    await menus.publish("help", 1, FAQ)
    changed = menu(GOOD.replace("Goodbye.", "Bye now."))
    await menus.create(changed)
    await menus.publish("help", 2, FAQ)

    rolled = await menus.rollback("help", 1, FAQ)

    assert (rolled.version, rolled.status) == (3, PUBLISHED)
    assert prompt_of(rolled, "bye") == "Goodbye."
    assert await statuses(menus, "help") == [ARCHIVED, ARCHIVED, PUBLISHED]
    assert (await menus.entry()).version == 3  # type: ignore[union-attr]


async def test_rollback_goes_through_the_checks(store: Store, menus: MenuStore) -> None:
    await menus.create(menu(EARLY_TOLLFREE))
    await menus.create(menu())
    await menus.publish("help", 2, FAQ)
    before = await snapshot(store)
    with pytest.raises(MenuRefused):
        await menus.rollback("help", 1, FAQ)
    with pytest.raises(MenuRefused):
        await menus.rollback("help", 2, set())  # its FAQ entry went away
    assert await snapshot(store) == before


async def test_the_entry_menu(menus: MenuStore) -> None:
    await menus.create(menu())
    await menus.create(menu(id="sales"))
    with pytest.raises(MenuConflict) as caught:
        await menus.set_entry("help")
    assert caught.value.code == "not-published"

    await menus.publish("sales", 1, FAQ)  # the first published is the entry
    await menus.publish("help", 1, FAQ)
    entry = await menus.entry()
    assert entry is not None and (entry.id, entry.version) == ("sales", 1)
    assert entry.status is PUBLISHED

    await menus.set_entry("help")
    assert (await menus.entry()).id == "help"  # type: ignore[union-attr]
    assert await menus.entry_id() == "help"
    infos = {i.id: i.entry for i in await menus.list_menus()}
    assert infos == {"help": True, "sales": False}
    with pytest.raises(MenuConflict):
        await menus.set_entry("nothing")


async def test_two_clients_publishing_at_once_stay_consistent(
    redis_url: str,
) -> None:
    stores = [Store(redis_url, mode="external") for _ in range(2)]
    try:
        a, b = (MenuStore(s) for s in stores)
        for _ in range(6):
            await a.create(menu())

        async def publish_all(client: MenuStore, versions: list[int]) -> None:
            for version in versions:
                await client.publish("help", version, FAQ)

        await asyncio.gather(publish_all(a, [1, 3, 5]), publish_all(b, [2, 4, 6]))

        found = await statuses(a, "help")
        assert sorted(found) == sorted([ARCHIVED] * 5 + [PUBLISHED])
        current = await b.published("help")
        assert current is not None and current.version in (5, 6)
        assert found[current.version - 1] is PUBLISHED
        assert (await a.entry()).version == current.version  # type: ignore[union-attr]
    finally:
        for store in stores:
            await store.close()


async def test_two_clients_creating_at_once_get_distinct_versions(
    redis_url: str,
) -> None:
    stores = [Store(redis_url, mode="external") for _ in range(2)]
    try:
        a, b = (MenuStore(s) for s in stores)
        made = await asyncio.gather(
            *(client.create(menu()) for client in (a, b) for _ in range(5))
        )
        assert sorted(m.version for m in made) == list(range(1, 11))
        for made_menu in made:
            stored = await b.get("help", made_menu.version)
            assert stored.version == made_menu.version
    finally:
        for store in stores:
            await store.close()


async def test_a_draft_edited_while_published_is_published_only_as_checked(
    menus: MenuStore,
) -> None:
    """Edits race with publish: whatever gets published passed the checks."""
    await menus.create(menu())

    async def edit() -> None:
        for i in range(30):
            text = EARLY_TOLLFREE if i % 2 else GOOD
            try:
                await menus.update_draft("help", 1, menu(text))
            except MenuConflict:
                return  # published meanwhile
            await asyncio.sleep(0)

    async def publish() -> Menu | None:
        for _ in range(30):
            try:
                return await menus.publish("help", 1, FAQ)
            except MenuRefused:
                await asyncio.sleep(0)
        return None

    _, published = await asyncio.gather(edit(), publish())
    stored = await menus.get("help", 1)
    if published is not None:
        assert stored.status is PUBLISHED
        assert validate(stored).ok
        assert stored.to_dict() == published.to_dict()


async def test_an_edit_between_check_and_publish_is_checked_again(
    store: Store, redis_url: str
) -> None:
    """Another node's edit lands after the checks passed and before the
    publish script runs (the clock is read right then): the script sees
    the document changed, and the new one is checked and refused."""
    armed = False
    bad = encode(menu(EARLY_TOLLFREE))

    def clock() -> float:
        nonlocal armed
        if armed:
            armed = False
            with redis.Redis.from_url(redis_url, protocol=2) as other:
                other.hset("helpline:menu:help", "v:1", bad)
        return 1_000.0

    menus = MenuStore(store, clock=clock)
    await menus.create(menu())
    armed = True
    with pytest.raises(MenuRefused) as caught:
        await menus.publish("help", 1, FAQ)
    assert caught.value.report.failures[0].kind == TOLLFREE_WITHOUT_OFFERS
    assert await statuses(menus, "help") == [DRAFT]


async def test_limits_on_versions_and_menus(
    menus: MenuStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gateway.menus, "MAX_VERSIONS", 2)
    monkeypatch.setattr(gateway.menus, "MAX_MENUS", 2)
    await menus.create(menu())
    await menus.create(menu())
    with pytest.raises(MenuConflict) as caught:
        await menus.create(menu())
    assert caught.value.code == "too-many-versions"
    await menus.create(menu(id="two"))
    with pytest.raises(MenuConflict) as more:
        await menus.create(menu(id="three"))
    assert more.value.code == "too-many-menus"
    assert [i.id for i in await menus.list_menus()] == ["help", "two"]


async def test_seed_demo_once_and_only_with_its_faq(
    store: Store, menus: MenuStore
) -> None:
    demo = demo_menu()
    with pytest.raises(MenuRefused) as caught:
        await menus.seed_demo(set(demo.faq_ids[1:]))
    assert {f.kind for f in caught.value.report.failures} == {UNKNOWN_FAQ}
    assert await snapshot(store) == {}

    assert await menus.seed_demo(set(demo.faq_ids)) is True
    assert await menus.seed_demo(set(demo.faq_ids)) is False
    entry = await menus.entry()
    assert entry is not None and entry.id == "northwind-main"
    assert (entry.version, entry.status) == (1, PUBLISHED)
    assert await menus.using_faq("faq-returns-label") == ["northwind-main"]
    assert await menus.using_faq("faq-unused") == []


async def test_hours_store(store: Store) -> None:
    hours = HoursStore(store)
    assert await hours.calendar() == always_open()
    assert await hours.seed_demo() is True
    assert await hours.calendar() == demo_calendar()
    assert await hours.seed_demo() is False

    london = Calendar("Europe/London", {"mon": (("09:00", "17:00"),)})
    await hours.set_calendar(london)
    assert await HoursStore(store).calendar() == london
    assert await hours.seed_demo() is False
    assert await hours.calendar() == london

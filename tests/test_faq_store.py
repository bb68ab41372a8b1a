"""The FAQ store on real Redis (both servers): what is saved, all or
nothing, under races, and what two nodes see."""

from __future__ import annotations

import asyncio

import pytest

from gateway.api_faq import FAQ
from gateway.faq import FaqExists, FaqInUse, FaqNotFound, FaqStore
from ivr.faq import FaqEntry, FaqError
from tests.fixtures.app import NodeFactory, RunningHelpline


def faq(node: RunningHelpline) -> FaqStore:
    return node.runner.app[FAQ]


async def test_seeding_happens_once(helpline: RunningHelpline) -> None:
    store = faq(helpline)
    assert await store.seed_demo() is True
    before = await store.version()
    assert await store.seed_demo() is False
    assert await store.version() == before
    assert "faq-opening-hours" in await store.ids()


async def test_get_many_and_an_unreadable_entry(helpline: RunningHelpline) -> None:
    store = faq(helpline)
    await store.put(FaqEntry("a", "A?", "A."))
    await store.put(FaqEntry("b", "B?", "B."))
    await helpline.store.redis.set("helpline:faq:b", "{broken")
    assert set(await store.get_many(["a", "b", "c"])) == {"a"}
    assert [e.id for e in await store.all()] == ["a"]
    assert await store.get_many([]) == {}


async def test_concurrent_creates_all_land(helpline_factory: NodeFactory) -> None:
    nodes = [await helpline_factory(), await helpline_factory()]
    stores = [faq(n) for n in nodes]
    await asyncio.gather(
        *(
            stores[i % 2].put(FaqEntry(f"e{i}", "Q?", "A."), create=True)
            for i in range(20)
        )
    )
    assert await stores[0].ids() == {f"e{i}" for i in range(20)}
    assert await stores[1].version() == "20"


async def test_create_update_and_delete_check_existence(
    helpline: RunningHelpline,
) -> None:
    store = faq(helpline)
    saved = await store.put(FaqEntry("a", "A?", "A."), create=True)
    assert saved.updated > 0 and await store.get("a") == saved
    with pytest.raises(FaqExists):
        await store.put(FaqEntry("a", "A?", "Again."), create=True)
    with pytest.raises(FaqNotFound):
        await store.put(FaqEntry("b", "B?", "B."), create=False)
    with pytest.raises(FaqNotFound):
        await store.delete("b")
    assert await store.ids() == {"a"}
    assert (await store.get("a")) == saved


async def test_every_change_moves_the_version(helpline: RunningHelpline) -> None:
    store = faq(helpline)
    assert await store.version() == "0"
    await store.put(FaqEntry("a", "A?", "A."))
    await store.import_yaml("- {id: b, question: B, answer: B.}\n", replace=False)
    await store.delete("a")
    assert await store.version() == "3"
    with pytest.raises(FaqError):
        await store.import_yaml("- {id: c}\n", replace=True)
    assert await store.version() == "3"
    assert await store.ids() == {"b"}


async def test_a_used_entry_stays(helpline: RunningHelpline) -> None:
    asked: list[str] = []

    async def in_use(faq_id: str) -> list[str]:
        asked.append(faq_id)
        return ["menu-a", "menu-b"] if faq_id == "used" else []

    store = FaqStore(helpline.store, in_use=in_use)
    await store.put(FaqEntry("used", "U?", "U."))
    await store.put(FaqEntry("spare", "S?", "S."))
    with pytest.raises(FaqInUse) as caught:
        await store.delete("used")
    assert caught.value.menus == {"used": ["menu-a", "menu-b"]}
    assert "'used' by menu-a, menu-b" in str(caught.value)
    with pytest.raises(FaqInUse):
        await store.import_yaml("- {id: spare, question: S, answer: S.}\n", True)
    assert await store.ids() == {"used", "spare"}
    await store.import_yaml("- {id: used, question: U, answer: U.}\n", True)
    assert await store.ids() == {"used"}
    assert asked == ["used", "used", "spare"]


async def test_an_index_follows_edits_made_by_another_store(
    helpline_factory: NodeFactory,
) -> None:
    one, two = faq(await helpline_factory()), faq(await helpline_factory())
    assert await two.search("kettle", 5) == []
    await one.put(FaqEntry("kettle", "Do you sell kettles?", "Yes."))
    assert [h.entry.id for h in await two.search("kettle", 5)] == ["kettle"]
    index = await two.index()
    assert await two.index() is index  # no change, no rebuild
    await one.delete("kettle")
    assert await two.search("kettle", 5) == []

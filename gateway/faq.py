"""The FAQ in Redis, and the search index every node keeps of it.

Each entry is a JSON document at ``helpline:faq:<id>``; the set
``helpline:faq-ids`` lists them and ``helpline:faq-version`` counts changes.
Every change (a put, a delete, an import) is one MULTI/EXEC transaction
that also bumps the version, WATCHing the version, so a change is saved whole
or not at all and two changes never interleave.

Searching runs on an in-process `FaqIndex`. Before each search the node
reads the version (one GET) and rebuilds its index when the version moved,
so an edit made through any node is found through every node at the next
search.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Final

from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from gateway.store import Store
from ivr.faq import (
    MAX_ENTRIES,
    FaqEntry,
    FaqError,
    entries_from_yaml,
    entries_to_yaml,
)
from ivr.search import FaqIndex, Hit
from signaling.errors import IvrError

logger = logging.getLogger(__name__)

DEMO_FAQ: Final = Path(__file__).resolve().parent.parent / "ivr" / "demo_faq.yaml"
IDS_KEY: Final = Store.key("faq-ids")
VERSION_KEY: Final = Store.key("faq-version")
#: Times a transaction is tried again when another change got in first.
ATTEMPTS: Final = 20

#: Given an FAQ id, the ids of the published menus that play it.
InUse = Callable[[str], Awaitable[list[str]]]


class FaqNotFound(IvrError):
    code = "faq-not-found"
    recoverable = True


class FaqExists(IvrError):
    code = "faq-exists"
    recoverable = True


class FaqFull(IvrError):
    code = "faq-full"
    recoverable = True


class FaqBusy(IvrError):
    code = "faq-busy"
    recoverable = True


class FaqInUse(IvrError):
    """An entry a published menu plays; `menus` maps entry id -> menu ids."""

    code = "faq-in-use"
    recoverable = True

    def __init__(self, menus: dict[str, list[str]]) -> None:
        uses = "; ".join(f"'{f}' by {', '.join(m)}" for f, m in sorted(menus.items()))
        super().__init__(f"published menus play these entries: {uses}")
        self.menus = menus


class FaqStore:
    """FAQ entries shared by every node, and a search index of them.

    `in_use`, when set, says which published menus play an entry, so that
    one is not deleted (or dropped by an import that replaces) under them.
    """

    def __init__(self, store: Store, in_use: InUse | None = None) -> None:
        self.store = store
        self.in_use = in_use
        self._index = FaqIndex([])
        self._index_version: str | None = None
        self._reload = asyncio.Lock()

    # Reading

    async def all(self) -> list[FaqEntry]:
        """Every entry, ordered by id."""
        found = await self.get_many(await self.ids())
        return [found[i] for i in sorted(found)]

    async def get(self, faq_id: str) -> FaqEntry | None:
        return (await self.get_many([faq_id])).get(faq_id)

    async def get_many(self, ids: Iterable[str]) -> dict[str, FaqEntry]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        raw = await self.store.redis.mget([_key(i) for i in wanted])
        found = (_decode(i, r) for i, r in zip(wanted, raw, strict=True))
        return {e.id: e for e in found if e is not None}

    async def ids(self) -> set[str]:
        return {str(i) for i in await self.store.redis.smembers(IDS_KEY)}

    async def version(self) -> str:
        return str(await self.store.redis.get(VERSION_KEY) or "0")

    async def export_yaml(self) -> str:
        return entries_to_yaml(await self.all())

    # Changing

    async def put(self, entry: FaqEntry, *, create: bool | None = None) -> FaqEntry:
        """Save `entry` (its `updated` set to now) and return what was saved.

        `create` True refuses an id that exists (FaqExists), False one that
        does not (FaqNotFound); None saves either way. FaqFull when a new
        entry would pass MAX_ENTRIES.
        """
        saved = dataclasses.replace(entry, updated=round(time.time(), 3))

        async def change(pipe: Pipeline) -> None:
            exists = bool(await pipe.sismember(IDS_KEY, entry.id))
            if create is True and exists:
                raise FaqExists(f"an FAQ entry '{entry.id}' exists already")
            if create is False and not exists:
                raise FaqNotFound(f"there is no FAQ entry '{entry.id}'")
            if not exists and await pipe.scard(IDS_KEY) >= MAX_ENTRIES:
                raise FaqFull(f"the FAQ holds {MAX_ENTRIES} entries, the most it can")
            _begin(pipe)
            _write(pipe, [saved])

        await self._transaction(change)
        logger.info("FAQ entry saved", extra={"faq_id": entry.id})
        return saved

    async def delete(self, faq_id: str) -> None:
        """Remove an entry; FaqNotFound, or FaqInUse when a menu plays it."""
        await self._check_unused([faq_id])

        async def change(pipe: Pipeline) -> None:
            if not await pipe.sismember(IDS_KEY, faq_id):
                raise FaqNotFound(f"there is no FAQ entry '{faq_id}'")
            _begin(pipe)
            pipe.delete(_key(faq_id))
            pipe.srem(IDS_KEY, faq_id)
            pipe.incr(VERSION_KEY)

        await self._transaction(change)
        logger.info("FAQ entry deleted", extra={"faq_id": faq_id})

    async def import_yaml(
        self, text: str, replace: bool, *, only_if_empty: bool = False
    ) -> list[FaqEntry]:
        """Save every entry of a YAML list, or none (FaqError, FaqFull...).

        `replace` drops the entries the list does not have. With
        `only_if_empty` nothing is saved when any entry exists; the result
        is then empty.
        """
        entries = entries_from_yaml(text)
        return await self.import_entries(entries, replace, only_if_empty=only_if_empty)

    async def import_entries(
        self, entries: list[FaqEntry], replace: bool, *, only_if_empty: bool = False
    ) -> list[FaqEntry]:
        now = round(time.time(), 3)
        saved = [_stamped(e, now) for e in entries]
        new_ids = {e.id for e in saved}
        if replace:
            await self._check_unused(await self.ids() - new_ids)

        async def change(pipe: Pipeline) -> None:
            current = {str(i) for i in await pipe.smembers(IDS_KEY)}
            if only_if_empty and current:
                saved.clear()
                return
            kept = set() if replace else current - new_ids
            if len(kept) + len(new_ids) > MAX_ENTRIES:
                total = len(kept) + len(new_ids)
                raise FaqFull(
                    f"the FAQ would hold {total} entries, at most {MAX_ENTRIES}"
                )
            _begin(pipe)
            dropped = sorted(current - new_ids) if replace else []
            if dropped:
                pipe.delete(*[_key(i) for i in dropped])
                pipe.srem(IDS_KEY, *dropped)
            _write(pipe, saved)

        await self._transaction(change)
        logger.info("FAQ imported: %d entries, replace %s", len(saved), replace)
        return saved

    async def seed_demo(self) -> bool:
        """Load the demo FAQ when there is no entry yet; True if it did."""
        text = await asyncio.to_thread(DEMO_FAQ.read_text, encoding="utf-8")
        seeded = await self.import_yaml(text, replace=False, only_if_empty=True)
        return bool(seeded)

    # Searching

    async def search(self, query: str, limit: int = 5) -> list[Hit]:
        index = await self.index()
        return index.search(query, limit)

    async def index(self) -> FaqIndex:
        """The search index, rebuilt when another change has been saved."""
        version = await self.version()
        if version == self._index_version:
            return self._index
        async with self._reload:
            version = await self.version()
            if version != self._index_version:
                # Read after the version: a change made meanwhile bumps it
                # again, and the next search reloads.
                entries = await self.all()
                self._index = await asyncio.to_thread(FaqIndex, entries)
                self._index_version = version
                logger.debug("FAQ index rebuilt: %d entries", len(entries))
        return self._index

    # Helpers

    async def _check_unused(self, ids: Iterable[str]) -> None:
        if self.in_use is None:
            return
        menus = {i: await self.in_use(i) for i in sorted(ids)}
        used = {i: m for i, m in menus.items() if m}
        if used:
            raise FaqInUse(used)

    async def _transaction(self, change: Callable[[Pipeline], Awaitable[None]]) -> None:
        """Run `change` in MULTI/EXEC, WATCHing the ids; again on a race.

        `change` reads through the pipe (immediate while watching), calls
        `pipe.multi()` and queues its writes, or returns without `multi()`
        to write nothing.
        """
        for _ in range(ATTEMPTS):
            async with self.store.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(IDS_KEY, VERSION_KEY)
                    await change(pipe)
                    if pipe.explicit_transaction:
                        await pipe.execute()
                    return
                except WatchError:
                    continue
        raise FaqBusy("the FAQ changed too often meanwhile; try again")


def _begin(pipe: Pipeline) -> None:
    """Queue what follows; redis-py leaves `multi` without annotations."""
    pipe.multi()  # type: ignore[no-untyped-call]


def _key(faq_id: str) -> str:
    return Store.key("faq", faq_id)


def _write(pipe: Pipeline, entries: list[FaqEntry]) -> None:
    if entries:
        pipe.mset({_key(e.id): json.dumps(e.to_dict()) for e in entries})
        pipe.sadd(IDS_KEY, *[e.id for e in entries])
    pipe.incr(VERSION_KEY)


def _stamped(entry: FaqEntry, now: float) -> FaqEntry:
    return entry if entry.updated else dataclasses.replace(entry, updated=now)


def _decode(faq_id: str, raw: str | bytes | None) -> FaqEntry | None:
    if raw is None:
        return None
    try:
        return FaqEntry.from_dict(json.loads(raw))
    except (ValueError, FaqError):
        logger.warning("an FAQ entry in Redis is unreadable", extra={"faq_id": faq_id})
        return None

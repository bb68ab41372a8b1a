"""The callback desk's two streams and their consumer groups.

``callbacks`` holds one entry per request. Each node's desk reads it in
the group ``desk`` as a consumer named after the node; an entry stays
pending until the script that records the callback's outcome acknowledges
it (``gateway.callbacks``). ``callbacks:dials`` holds one entry per claim
dialled over the trunk; media workers read it in the group ``workers``
and acknowledge an entry once the attempt's outcome is told.

A consumer whose node no longer beats (``node:<id>:alive``) holds entries
nobody else reads. A live node takes them over, requests to handle again
and dials to record as lost, and only then deletes that consumer:
deleting it drops whatever it still holds.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from gateway.callback_scripts import ATTACH, Script
from signaling.bus import text, text_fields

logger = logging.getLogger(__name__)

DESK_GROUP: Final = "desk"
DIALS_GROUP: Final = "workers"
#: Pending entries read (and taken over) in one command.
PENDING_PAGE: Final = 1000

#: A stream entry: its id and its fields ({} if the stream lost it).
Entry = tuple[str, dict[str, str]]
#: Writes a request's record again from its entry if Redis lost it.
Restore = Callable[[str, Mapping[str, str]], Awaitable[None]]


@dataclass(frozen=True)
class Dial:
    """One trunk dial for a media worker (an entry of ``callbacks:dials``)."""

    entry: str
    callback: str
    call_id: str
    attempt: int
    number: str

    @classmethod
    def from_entry(cls, entry: str, fields: Mapping[str, str]) -> Dial:
        return cls(
            entry=entry,
            callback=fields.get("callback", ""),
            call_id=fields.get("call_id", ""),
            attempt=int(fields.get("attempt", "0") or 0),
            number=fields.get("number", ""),
        )


class CallbackStreams:
    """The desk's consumer groups: new requests, a dead node's requests
    and the trunk dials of media workers (the ``DialDesk`` they use)."""

    def __init__(self, redis: Redis, key: Callable[..., str], restore: Restore) -> None:
        self.redis = redis
        self.key = key
        self._restore = restore
        self._attach = Script(redis, ATTACH)
        self._groups_made = False

    @property
    def stream(self) -> str:
        return self.key("callbacks")

    @property
    def dials_stream(self) -> str:
        return self.key("callbacks", "dials")

    async def ensure_groups(self) -> None:
        if self._groups_made:
            return
        for stream, group in (
            (self.stream, DESK_GROUP),
            (self.dials_stream, DIALS_GROUP),
        ):
            try:
                await self.redis.xgroup_create(stream, group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._groups_made = True

    # Requests

    async def read_new(self, consumer: str) -> int:
        """Take new requests on as `consumer` (a node): each stays pending
        until its outcome. A request whose record is missing (a Redis that
        lost it) is written again, waiting, from its entry."""
        await self.ensure_groups()
        replies: Any = await self.redis.xreadgroup(
            DESK_GROUP, consumer, {self.stream: ">"}, count=100
        )
        taken = 0
        for _, entries in replies or []:
            for entry_id, raw in entries:
                await self._restore(text(entry_id), text_fields(raw))
                taken += 1
        return taken

    async def reclaim(self, consumer: str) -> int:
        """Take over the pending requests of desks whose node died, and
        delete those consumers. Never this node's own: if its heartbeat
        lapsed, it is still here, running this."""
        await self.ensure_groups()
        moved = 0
        async for dead, entries in self.held_by_dead(
            self.stream, DESK_GROUP, taker=consumer
        ):
            for entry, fields in entries:
                if fields:
                    await self._restore(entry, fields)
            moved += len(entries)
            logger.info(
                "took over %d pending callback requests of a dead node",
                len(entries),
                extra={"call_id": "", "node": dead},
            )
        return moved

    # Trunk dials (media workers)

    async def take_dial(self, consumer: str, block_ms: int) -> Dial | None:
        """The next trunk dial for `consumer` (a media worker's node id)."""
        await self.ensure_groups()
        replies: Any = await self.redis.xreadgroup(
            DIALS_GROUP, consumer, {self.dials_stream: ">"}, count=1, block=block_ms
        )
        for _, entries in replies or []:
            for entry_id, raw in entries:
                return Dial.from_entry(text(entry_id), text_fields(raw))
        return None

    async def attach_dialler(self, call_id: str, session_id: str) -> bool:
        attached = await self._attach(
            keys=[self.key("call", call_id)], args=[session_id]
        )
        return bool(attached)

    async def dial_done(self, dial: Dial) -> None:
        await self.redis.xack(self.dials_stream, DIALS_GROUP, dial.entry)

    async def lost_dials(self) -> list[Dial]:
        """Trunk dials held by workers that died: taken off their consumer
        (and the consumer deleted) for the caller to end their calls."""
        await self.ensure_groups()
        lost: list[Dial] = []
        async for _, entries in self.held_by_dead(self.dials_stream, DIALS_GROUP):
            lost += [Dial.from_entry(entry, fields) for entry, fields in entries]
        return lost

    # Consumers whose node died

    async def dead_consumers(self, stream: str, group: str) -> list[str]:
        """Consumers of `group` whose node no longer beats."""
        try:
            consumers: Any = await self.redis.xinfo_consumers(stream, group)
        except ResponseError:
            return []
        names = [text(c["name"]) for c in consumers]
        if not names:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.exists(self.key("node", name, "alive"))
            alive = await pipe.execute()
        return [name for name, up in zip(names, alive, strict=True) if not up]

    async def held_by_dead(
        self, stream: str, group: str, *, taker: str = ""
    ) -> AsyncIterator[tuple[str, list[Entry]]]:
        """Each consumer of `group` whose node died, with every entry it
        still holds, read a page at a time. With `taker` (a live node;
        never itself) the entries are claimed for it; without, they are
        acknowledged once the caller has them. The dead consumer is
        deleted after the caller has its entries."""
        for dead in await self.dead_consumers(stream, group):
            if dead == taker:
                continue
            entries: list[Entry] = []
            async for page in self._pending_pages(stream, group, dead):
                if taker:
                    entries += await self._claim(stream, group, taker, page)
                else:
                    entries += await self._read(stream, page)
            yield dead, entries
            if not taker and entries:
                await self.redis.xack(stream, group, *(e for e, _ in entries))
            await self.redis.xgroup_delconsumer(stream, group, dead)

    async def _pending_pages(
        self, stream: str, group: str, consumer: str
    ) -> AsyncIterator[list[str]]:
        """The ids pending for `consumer`, a page at a time. The next page
        starts after the last id, so it holds whether the caller took the
        page's entries off the consumer or left them pending."""
        start = "-"
        while True:
            rows: Any = await self.redis.xpending_range(
                stream,
                group,
                min=start,
                max="+",
                count=PENDING_PAGE,
                consumername=consumer,
            )
            page = [text(row["message_id"]) for row in rows]
            if page:
                yield page
            if len(page) < PENDING_PAGE:
                return
            start = "(" + page[-1]

    async def _claim(
        self, stream: str, group: str, taker: str, ids: list[str]
    ) -> list[Entry]:
        claimed: Any = await self.redis.xclaim(stream, group, taker, 0, list[Any](ids))
        found = {
            text(entry): text_fields(raw) for entry, raw in claimed if entry and raw
        }
        return [(entry, found.get(entry, {})) for entry in ids]

    async def _read(self, stream: str, ids: list[str]) -> list[Entry]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for entry in ids:
                pipe.xrange(stream, entry, entry)
            replies: Any = await pipe.execute()
        return [
            (entry, text_fields(rows[0][1]) if rows else {})
            for entry, rows in zip(ids, replies, strict=True)
        ]

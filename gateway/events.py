"""The event log: every step of every journey, one entry of a Redis stream.

Nodes append with ``XADD ... MINID ~`` so the stream keeps itself to the
retention. Writing never fails the caller: an entry that cannot be written
(Redis down) waits in a bounded buffer and goes out, in order, with the
next write that succeeds, or with the flush the node's sweep runs. Reading
is by time: entry ids are milliseconds, so a period is one ``XRANGE``
paged through. The fields and kinds are in ``docs/reports.md``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Final

from redis.asyncio import Redis

from signaling.bus import text, text_fields

logger = logging.getLogger(__name__)

STREAM: Final = "events"
#: Every field an entry may have, in the export's column order.
FIELDS: Final = (
    "kind",
    "call",
    "visit",
    "channel",
    "node",
    "menu",
    "detail",
    "reason",
    "agent",
    "wait_ms",
    "duration_ms",
)
KINDS: Final = frozenset(
    {
        "faq.viewed",
        "ivr.node",
        "ivr.offer",
        "callback.requested",
        "callback.done",
        "queued",
        "answered",
        "transferred",
        "tollfree",
        "abandoned",
        "ended",
    }
)
#: Entries read from Redis per XRANGE page.
PAGE: Final = 2000
DAY_MS: Final = 86_400_000


class EventLog:
    """Appends events for one node; reads them for reports and exports."""

    def __init__(
        self,
        redis: Redis,
        key: Callable[..., str],
        *,
        retention_days: float = 90.0,
        buffer: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.stream = key(STREAM)
        self.retention_ms = int(retention_days * DAY_MS)
        self.clock = clock
        self._waiting: collections.deque[dict[str, str]] = collections.deque(
            maxlen=buffer
        )
        self.dropped = 0
        self._lock = asyncio.Lock()

    async def record(self, kind: str, call_id: str = "", **fields: Any) -> None:
        """Append one event now; never raises (see the module's doc)."""
        if kind not in KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        entry = {"kind": kind, "call": call_id}
        for name, value in fields.items():
            if name not in FIELDS:
                raise ValueError(f"unknown event field {name!r}")
            if value not in (None, ""):
                entry[name] = str(int(value) if isinstance(value, float) else value)
        entry = {name: value for name, value in entry.items() if value}
        if len(self._waiting) == self._waiting.maxlen:
            self.dropped += 1
        self._waiting.append(entry)
        await self.flush()

    async def flush(self) -> int:
        """Write what waits, oldest first; how many are still waiting."""
        if not self._waiting or self._lock.locked():
            return len(self._waiting)
        async with self._lock:
            while self._waiting:
                entry = self._waiting[0]
                try:
                    await self._add(entry)
                except Exception as exc:
                    logger.warning(
                        "event log not written (%d waiting): %s",
                        len(self._waiting),
                        exc,
                        extra={"call_id": entry.get("call", "-") or "-"},
                    )
                    break
                self._waiting.popleft()
        return len(self._waiting)

    async def _add(self, entry: Mapping[str, str]) -> None:
        oldest = int(self.clock() * 1000) - self.retention_ms
        await self.redis.xadd(
            self.stream,
            dict(entry),  # type: ignore[arg-type]
            minid=max(oldest, 0),
            approximate=True,
        )

    async def read(
        self, start_s: float, end_s: float, limit: int | None = None
    ) -> AsyncIterator[tuple[float, dict[str, str]]]:
        """The events from `start_s` (included) to `end_s` (excluded), oldest
        first, as (time in seconds, fields)."""
        async for entry_id, fields in self.entries(start_s, end_s, limit):
            yield int(entry_id.partition("-")[0]) / 1000, fields

    async def entries(
        self, start_s: float, end_s: float, limit: int | None = None
    ) -> AsyncIterator[tuple[str, dict[str, str]]]:
        """As :meth:`read`, with each entry's stream id (``<ms>-<seq>``)."""
        low = str(int(start_s * 1000))
        high = str(int(end_s * 1000) - 1)  # the whole last millisecond
        count = 0
        while limit is None or count < limit:
            page = PAGE if limit is None else min(PAGE, limit - count)
            entries = await self.redis.xrange(self.stream, low, high, count=page) or []
            for raw_id, raw in entries:
                yield text(raw_id), text_fields(raw or {})
            count += len(entries)
            if len(entries) < page:
                return
            low = "(" + text(entries[-1][0])

"""Callback requests: kept in the ``callbacks`` stream within daily limits.

Whoever may give a number for a callback could make the callback desk ring
the same number again and again, or ring many numbers. So besides the
number policy (``ivr.numbers``: countries, no premium-rate numbers), a
request is kept only while its number has had fewer than ``per_number``
requests that day and all numbers together fewer than ``per_day`` (days in
UTC). One Lua script checks both counts, counts the request and appends it
to the stream: two nodes keeping requests at the same moment never go over
a limit, and a refused request leaves nothing in the stream.

The per-number counter's key holds the SHA-256 of the number in E.164, so
key names do not show phone numbers. (Phone numbers are few enough to be
found from their digest by trying them all: this keeps numbers out of
sight in key listings, it does not make them secret.)
"""

from __future__ import annotations

import enum
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from redis.asyncio import Redis

STREAM_MAX: Final = 100_000
#: Counters outlive their day by one (a day in UTC is in the key's name).
COUNTER_TTL_S: Final = 2 * 86_400
#: The code a refused request is reported with, whichever limit refused it.
LIMIT_CODE: Final = "callback-limit"

# KEYS: the number's counter, the day's counter, the stream.
# ARGV: per-number limit, per-day limit, counter TTL, stream length, fields.
_KEEP: Final = """
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[1]) then
  return 'number-limit'
end
if tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[2]) then
  return 'day-limit'
end
for i = 1, 2 do
  redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[3]))
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', unpack(ARGV, 5))
return 'kept'
"""


class Verdict(enum.StrEnum):
    KEPT = "kept"
    NUMBER_LIMIT = "number-limit"
    DAY_LIMIT = "day-limit"

    @property
    def sentence(self) -> str:
        """What the caller is told; never the number or its digits."""
        return _SENTENCES.get(self, "")


_SENTENCES: Final = {
    Verdict.NUMBER_LIMIT: (
        "We cannot take another callback request for this number today"
    ),
    Verdict.DAY_LIMIT: "We cannot take more callback requests today",
}


@dataclass(frozen=True)
class CallbackLimits:
    per_number: int = 3  # requests per number and day
    per_day: int = 500  # requests per day, all numbers together


class CallbackBook:
    """Keeps callback requests in the stream, within `limits`."""

    def __init__(
        self,
        redis: Redis,
        key: Callable[..., str],
        limits: CallbackLimits,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key = key
        self.limits = limits
        self.clock = clock
        self._keep = redis.register_script(_KEEP)

    @property
    def stream(self) -> str:
        return self.key("callbacks")

    def counter_keys(self, number: str) -> tuple[str, str]:
        """The keys that count today's requests: `number`'s, and all."""
        day = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%d")
        digest = hashlib.sha256(number.encode()).hexdigest()
        return self.key("callbacks", day, digest), self.key("callbacks", day)

    async def keep(self, number: str, fields: Mapping[str, str]) -> Verdict:
        """Append a request for `number` (E.164) with `fields`, unless a
        limit refuses it."""
        keys = [*self.counter_keys(number), self.stream]
        args: list[str | int] = [
            self.limits.per_number,
            self.limits.per_day,
            COUNTER_TTL_S,
            STREAM_MAX,
        ]
        for name, value in fields.items():
            args += [name, value]
        answer = await self._keep(keys=keys, args=args)
        return Verdict(answer.decode() if isinstance(answer, bytes) else answer)

"""Menus and opening hours in Redis: versioned menu documents, the menu
callers enter, and the calendar the ``hours`` nodes branch on.

Keys (under the store's prefix):

- ``menus`` set of menu ids
- ``menu:<id>`` hash: ``last`` (highest version), ``published`` (the
  published version, if any), and per version ``v:<n>`` (the document as
  JSON), ``s:<n>`` (draft, published or archived), ``u:<n>`` (when it last
  changed, epoch seconds) and ``t:<n>`` (the token of the request that made
  it, so a retried write does not make a second version)
- ``menu-entry`` string: the id of the menu callers enter
- ``hours`` string: the calendar as JSON

Every change is one Lua script, so a version, its status, the published
pointer and the entry menu move together or not at all. Publishing checks
the document in Python first (the validator, then the FAQ entries it
plays), then the script publishes only if the draft is still what was
checked (its SHA-1), archiving the version published before. A published
or archived document never changes again, so parsed ones are cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Set
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any, Final

from gateway.store import KEY_PREFIX, Store
from ivr.hours import Calendar, HoursError, always_open, demo_calendar
from ivr.menu import MAX_DOCUMENT_CHARS, FaqNode, Menu, MenuError, MenuStatus, Problem
from ivr.validator import Failure, MenuRefused, Report, Step, validate
from signaling.errors import IvrError

logger = logging.getLogger(__name__)

MAX_MENUS: Final = 100
MAX_VERSIONS: Final = 1_000
UNKNOWN_FAQ: Final = "unknown-faq"
_ATTEMPTS: Final = 20
_CACHED: Final = 64

# Writes version n of a menu unless another one took that number; with
# publish set, publishes it too (archiving the one before, and making the
# menu the entry menu if there is none); with if_empty set, only when no
# menu exists at all. Answers {'ok'}, or what stopped it.
_SAVE: Final = """
local menus, menu, entry = KEYS[1], KEYS[2], KEYS[3]
local id, n, doc, token, now, publish, if_empty, max_menus, max_versions =
  unpack(ARGV)
if redis.call('HGET', menu, 't:' .. n) == token then return {'ok'} end
if if_empty == '1' and redis.call('SCARD', menus) > 0 then return {'exists'} end
local last = tonumber(redis.call('HGET', menu, 'last') or '0')
if last + 1 ~= tonumber(n) then return {'moved'} end
if last + 1 > tonumber(max_versions) then return {'too-many-versions'} end
if redis.call('SISMEMBER', menus, id) == 0
    and redis.call('SCARD', menus) >= tonumber(max_menus) then
  return {'too-many-menus'}
end
local status = 'draft'
if publish == '1' then
  local old = redis.call('HGET', menu, 'published')
  if old then redis.call('HSET', menu, 's:' .. old, 'archived', 'u:' .. old, now) end
  redis.call('HSET', menu, 'published', n)
  redis.call('SETNX', entry, id)
  status = 'published'
end
redis.call('HSET', menu, 'last', n, 'v:' .. n, doc, 's:' .. n, status,
           'u:' .. n, now, 't:' .. n, token)
redis.call('SADD', menus, id)
return {'ok'}
"""

# Publishes draft n if its document is still the one checked (by SHA-1).
_PUBLISH: Final = """
local menu, entry = KEYS[1], KEYS[2]
local id, n, sha, now = unpack(ARGV)
local status = redis.call('HGET', menu, 's:' .. n)
if not status then return {'missing'} end
if status == 'published' then return {'ok'} end
if status ~= 'draft' then return {'status', status} end
if redis.sha1hex(redis.call('HGET', menu, 'v:' .. n)) ~= sha then
  return {'changed'}
end
local old = redis.call('HGET', menu, 'published')
if old then redis.call('HSET', menu, 's:' .. old, 'archived', 'u:' .. old, now) end
redis.call('HSET', menu, 'published', n, 's:' .. n, 'published', 'u:' .. n, now)
redis.call('SETNX', entry, id)
return {'ok'}
"""

_UPDATE: Final = """
local status = redis.call('HGET', KEYS[1], 's:' .. ARGV[1])
if not status then return {'missing'} end
if status ~= 'draft' then return {'status', status} end
redis.call('HSET', KEYS[1], 'v:' .. ARGV[1], ARGV[2], 'u:' .. ARGV[1], ARGV[3])
return {'ok'}
"""

_SET_ENTRY: Final = """
if not redis.call('HGET', KEYS[1], 'published') then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""

# The entry menu's id, its published version and that document, at once.
_ENTRY: Final = """
local id = redis.call('GET', KEYS[1])
if not id then return false end
local menu = ARGV[1] .. id
local n = redis.call('HGET', menu, 'published')
if not n then return false end
return {id, n, redis.call('HGET', menu, 'v:' .. n)}
"""


class MenuNotFound(IvrError):
    code = "not-found"
    recoverable = True
    status = 404


class MenuConflict(IvrError):
    """A change that the menu's current state does not allow (HTTP 409)."""

    code = "conflict"
    recoverable = True
    status = 409

    def __init__(self, message: str, *, code: str = "conflict") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class VersionInfo:
    version: int
    status: MenuStatus
    updated: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "status": str(self.status),
            "updated": self.updated,
        }


@dataclass(frozen=True, slots=True)
class MenuInfo:
    id: str
    latest: int
    published: int | None
    entry: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "latest": self.latest,
            "published": self.published,
            "entry": self.entry,
        }


def check(menu: Menu, faq_ids: Set[str]) -> Report:
    """The validator's report, plus each FAQ entry the menu plays that the
    FAQ store does not have, at the node that plays it."""
    return Report(validate(menu).failures + tuple(faq_failures(menu, faq_ids)))


def faq_failures(menu: Menu, faq_ids: Set[str]) -> list[Failure]:
    out, played = [], set()
    for node in menu.nodes.values():
        if not isinstance(node, FaqNode):
            continue
        for i, answer in enumerate(node.answers):
            played.add(answer)
            if answer not in faq_ids:
                sentence = (
                    f"nodes.{node.id}.answers.{i}: the FAQ has no entry '{answer}'"
                )
                path = _path_to(menu, node.id)
                out.append(Failure(UNKNOWN_FAQ, node.id, sentence, path))
    for i, listed in enumerate(menu.faq_ids):
        if listed not in faq_ids and listed not in played:
            sentence = f"faq_ids.{i}: the FAQ has no entry '{listed}'"
            out.append(Failure(UNKNOWN_FAQ, menu.start, sentence))
    return out


def _path_to(menu: Menu, target: str) -> tuple[Step, ...]:
    """The shortest way from the start to `target` (none if unreachable)."""
    came: dict[str, tuple[str, str] | None] = {menu.start: None}
    todo = deque([menu.start])
    while todo and target not in came:
        node_id = todo.popleft()
        for via, to in menu.node(node_id).edges():
            if to not in came:
                came[to] = (node_id, via)
                todo.append(to)
    steps, at = [], target
    while (link := came.get(at)) is not None:
        steps.append(Step(link[0], link[1], at))
        at = link[0]
    return tuple(reversed(steps))


def demo_menu() -> Menu:
    text = resources.files("ivr").joinpath("demo_menu.yaml").read_text("utf-8")
    return Menu.from_yaml(text)


class MenuStore:
    """Versioned menu documents; see the module docstring for the keys."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.redis = store.redis
        self._clock = clock
        self._menus = Store.key("menus")
        self._entry = Store.key("menu-entry")
        self._cache: OrderedDict[tuple[str, int], Menu] = OrderedDict()
        self._save = self.redis.register_script(_SAVE)
        self._publish = self.redis.register_script(_PUBLISH)
        self._update = self.redis.register_script(_UPDATE)
        self._set_entry = self.redis.register_script(_SET_ENTRY)
        self._read_entry = self.redis.register_script(_ENTRY)

    def _key(self, menu_id: str) -> str:
        return Store.key("menu", menu_id)

    async def _fields(self, menu_id: str, *names: str) -> list[str | None]:
        values = await self.redis.hmget(self._key(menu_id), list(names))
        return [None if v is None else str(v) for v in values]

    async def create(self, menu: Menu) -> Menu:
        """A new draft of `menu.id`, numbered one above its highest version."""
        return await self._add(menu, MenuStatus.DRAFT)

    async def get(self, menu_id: str, version: int) -> Menu:
        raw, status = await self._fields(menu_id, f"v:{version}", f"s:{version}")
        if raw is None or status is None:
            raise MenuNotFound(f"menu '{menu_id}' has no version {version}")
        return self._parse(menu_id, version, raw, MenuStatus(status))

    async def versions(self, menu_id: str) -> list[VersionInfo]:
        last = int(await self.redis.hget(self._key(menu_id), "last") or 0)
        if not last:
            raise MenuNotFound(f"there is no menu '{menu_id}'")
        numbers = range(1, last + 1)
        fields = [f for n in numbers for f in (f"s:{n}", f"u:{n}")]
        values = [str(v) for v in await self._fields(menu_id, *fields)]
        return [
            VersionInfo(n, MenuStatus(values[2 * i]), float(values[2 * i + 1]))
            for i, n in enumerate(numbers)
        ]

    async def list_menus(self) -> list[MenuInfo]:
        ids = sorted(str(i) for i in await self.redis.smembers(self._menus))
        entry = await self.redis.get(self._entry)
        async with self.redis.pipeline(transaction=False) as pipe:
            for menu_id in ids:
                pipe.hmget(self._key(menu_id), ["last", "published"])
            rows = await pipe.execute()
        return [
            MenuInfo(
                menu_id, int(last or 0), int(pub) if pub else None, menu_id == entry
            )
            for menu_id, (last, pub) in zip(ids, rows, strict=True)
        ]

    async def update_draft(self, menu_id: str, version: int, menu: Menu) -> Menu:
        """Replace draft `version` of `menu_id` with `menu` (only drafts)."""
        if menu.id != menu_id:
            raise MenuError([Problem("id", f"must be '{menu_id}', the menu edited")])
        menu = replace(menu, version=version, status=MenuStatus.DRAFT)
        result = await self._update(
            keys=[self._key(menu_id)],
            args=[version, encode(menu), self._clock()],
        )
        self._raise_for(result, menu_id, version)
        return menu

    async def publish(self, menu_id: str, version: int, faq_ids: Set[str]) -> Menu:
        """Publish draft `version`: checked by the validator and against
        `faq_ids` (the FAQ entries that exist), or MenuRefused."""
        for _ in range(_ATTEMPTS):
            raw, status = await self._fields(menu_id, f"v:{version}", f"s:{version}")
            if raw is None or status is None:
                raise MenuNotFound(f"menu '{menu_id}' has no version {version}")
            if status == MenuStatus.PUBLISHED:
                return self._parse(menu_id, version, raw, MenuStatus.PUBLISHED)
            menu = self._parse(menu_id, version, raw, MenuStatus(status))
            report = check(menu, faq_ids)
            if not report.ok:
                raise MenuRefused(report)
            result = await self._publish(
                keys=[self._key(menu_id), self._entry],
                args=[menu_id, version, _sha1(raw), self._clock()],
            )
            if result[0] != "changed":
                self._raise_for(result, menu_id, version)
                logger.info("menu %s version %d published", menu_id, version)
                return menu.with_status(MenuStatus.PUBLISHED)
        raise MenuConflict("the draft kept changing while it was checked; try again")

    async def rollback(
        self, menu_id: str, version: int, faq_ids: Set[str] | None = None
    ) -> Menu:
        """Publish a new version copied from `version`, through the
        validator (and the FAQ check when `faq_ids` is given)."""
        earlier = await self.get(menu_id, version)
        report = check(earlier, faq_ids) if faq_ids is not None else validate(earlier)
        if not report.ok:
            raise MenuRefused(report)
        menu = await self._add(earlier, MenuStatus.PUBLISHED)
        logger.info("menu %s rolled back to version %d", menu_id, version)
        return menu

    async def published(self, menu_id: str) -> Menu | None:
        version = await self.redis.hget(self._key(menu_id), "published")
        if version is None:
            return None
        return await self.get(menu_id, int(version))

    async def entry(self) -> Menu | None:
        """The published menu callers enter, if any."""
        found = await self._read_entry(keys=[self._entry], args=[f"{KEY_PREFIX}menu:"])
        if not found:
            return None
        menu_id, version, raw = found
        return self._parse(menu_id, int(version), raw, MenuStatus.PUBLISHED)

    async def set_entry(self, menu_id: str) -> None:
        if not await self._set_entry(
            keys=[self._key(menu_id), self._entry], args=[menu_id]
        ):
            raise MenuConflict(
                f"menu '{menu_id}' has no published version to enter",
                code="not-published",
            )

    async def entry_id(self) -> str | None:
        value = await self.redis.get(self._entry)
        return None if value is None else str(value)

    async def using_faq(self, faq_id: str) -> list[str]:
        """Ids of the menus whose published version plays FAQ entry `faq_id`."""
        out = []
        for info in await self.list_menus():
            menu = await self.published(info.id) if info.published else None
            if menu is not None and faq_id in played_faq(menu):
                out.append(menu.id)
        return out

    async def seed_demo(self, faq_ids: Set[str]) -> bool:
        """Publish the demo menu when there is no menu yet; True if it did."""
        menu = demo_menu()
        report = check(menu, faq_ids)
        if not report.ok:
            raise MenuRefused(report)
        try:
            await self._add(menu, MenuStatus.PUBLISHED, if_empty=True)
        except MenuConflict as exc:
            if exc.code == "exists":
                return False
            raise
        logger.info("demo menu %s published", menu.id)
        return True

    async def _add(
        self, menu: Menu, status: MenuStatus, *, if_empty: bool = False
    ) -> Menu:
        key, token = self._key(menu.id), secrets.token_hex(8)
        for _ in range(_ATTEMPTS):
            version = int(await self.redis.hget(key, "last") or 0) + 1
            new = replace(menu, version=version, status=status)
            publish = status is MenuStatus.PUBLISHED
            result = await self._save(
                keys=[self._menus, key, self._entry],
                args=[
                    menu.id, version, encode(new), token, self._clock(),
                    int(publish), int(if_empty), MAX_MENUS, MAX_VERSIONS,
                ],
            )  # fmt: skip
            if result[0] != "moved":
                self._raise_for(result, menu.id, version)
                return new
        raise MenuConflict("too many versions were saved at once; try again")

    def _parse(self, menu_id: str, version: int, raw: str, status: MenuStatus) -> Menu:
        cached = self._cache.get((menu_id, version))
        if cached is None or status is MenuStatus.DRAFT:
            try:
                cached = Menu.from_dict(json.loads(raw))
            except (ValueError, MenuError) as exc:
                logger.error("menu %s version %d unreadable: %s", menu_id, version, exc)
                raise MenuNotFound(
                    f"menu '{menu_id}' version {version} is unreadable"
                ) from None
        if status is not MenuStatus.DRAFT:
            self._cache[(menu_id, version)] = cached
            self._cache.move_to_end((menu_id, version))
            while len(self._cache) > _CACHED:
                self._cache.popitem(last=False)
        return replace(cached, status=status)

    def _raise_for(self, result: list[str], menu_id: str, version: int) -> None:
        what = result[0]
        if what == "ok":
            return
        if what == "missing":
            raise MenuNotFound(f"menu '{menu_id}' has no version {version}")
        if what == "status":
            raise MenuConflict(
                f"version {version} of menu '{menu_id}' is {result[1]}, not a draft",
                code="not-draft",
            )
        messages = {
            "too-many-versions": f"a menu keeps at most {MAX_VERSIONS} versions",
            "too-many-menus": f"there can be at most {MAX_MENUS} menus",
            "exists": "a menu exists already",
        }
        raise MenuConflict(messages.get(what, what), code=what)


def encode(menu: Menu) -> str:
    """The document as stored: compact JSON, refused when oversized."""
    text = json.dumps(menu.to_dict(), ensure_ascii=False, separators=(",", ":"))
    if len(text) > MAX_DOCUMENT_CHARS:
        sentence = f"over {MAX_DOCUMENT_CHARS} characters as JSON"
        raise MenuError([Problem("(top)", sentence)])
    return text


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def played_faq(menu: Menu) -> set[str]:
    """The FAQ entries `menu` plays or lists in faq_ids."""
    answers = (n.answers for n in menu.nodes.values() if isinstance(n, FaqNode))
    return {a for group in answers for a in group} | set(menu.faq_ids)


class HoursStore:
    """The calendar; until one is set, lines are always open (UTC)."""

    def __init__(self, store: Store) -> None:
        self.redis = store.redis
        self._key = Store.key("hours")

    async def calendar(self) -> Calendar:
        raw = await self.redis.get(self._key)
        if raw is None:
            return always_open()
        try:
            return Calendar.from_dict(json.loads(raw))
        except (ValueError, HoursError) as exc:
            logger.error("stored calendar unreadable, taken as always open: %s", exc)
            return always_open()

    async def set_calendar(self, calendar: Calendar) -> None:
        await self.redis.set(self._key, json.dumps(calendar.to_dict()))
        logger.info("calendar set (%s)", calendar.time_zone)

    async def seed_demo(self) -> bool:
        """Set the demo calendar when none is set; True if it did."""
        done = await self.redis.set(
            self._key, json.dumps(demo_calendar().to_dict()), nx=True
        )
        return bool(done)

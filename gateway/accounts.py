"""Agents' and operators' accounts, and the tokens they sign in with.

Keys (under the store's prefix):

- ``user:<username>`` hash: id, username, role, name, hash (argon2id), gen
- ``users`` set of usernames
- ``token:<sha256 of the token>`` string: JSON ``{"user", "id", "gen"}``,
  expiring with the token

``gen`` counts password changes: a token remembers the ``gen`` it was issued
under, so setting a new password signs every old token out. Hashing runs in
a thread, since argon2id is made to be slow.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Final, Literal, cast, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.store import Store
from signaling.errors import HelplineError

logger = logging.getLogger(__name__)

Role = Literal["agent", "operator"]
ROLES: Final = frozenset(get_args(Role))
TOKEN_TTL_S: Final = 12 * 3600
MIN_PASSWORD: Final = 8
MAX_PASSWORD: Final = 1024
MAX_NAME: Final = 100
_USERNAME: Final = re.compile(r"[a-z0-9._-]{1,64}")
_SKILL: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
MAX_SKILLS: Final = 16
_MAX_TOKEN: Final = 256
#: (username, role, display name) of the users the demo mode seeds.
DEMO_USERS: Final[tuple[tuple[str, Role, str], ...]] = (
    ("agent", "agent", "Demo Agent"),
    ("operator", "operator", "Demo Operator"),
)

# Writes the user unless it exists and `replace` is 0; keeps the id of an
# existing user and bumps its gen. Returns the id, or false when refused.
_PUT_USER: Final = """
local key, users = KEYS[1], KEYS[2]
local username, role, name, hash, new_id, replace, skills = unpack(ARGV)
local id = redis.call('HGET', key, 'id')
if id and replace == '0' then return false end
if not id then id = new_id end
redis.call('HSET', key, 'id', id, 'username', username, 'role', role,
           'name', name, 'hash', hash, 'skills', skills)
redis.call('HINCRBY', key, 'gen', 1)
redis.call('SADD', users, username)
return id
"""

# Replaces the hash only if it is still the one that was checked, so a
# password set meanwhile is not overwritten by an upgrade of the old one.
_SWAP_HASH: Final = """
if redis.call('HGET', KEYS[1], 'hash') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'hash', ARGV[2])
return 1
"""


class AccountError(HelplineError):
    """A username, password, role or name that cannot be used."""

    code = "invalid-account"
    recoverable = True


@dataclass(frozen=True)
class User:
    id: str
    username: str
    role: Role
    name: str
    #: Queue skills an agent takes calls for; none means every skill.
    skills: tuple[str, ...] = ()


def check_skills(skills: tuple[str, ...]) -> None:
    if len(skills) > MAX_SKILLS or not all(_SKILL.fullmatch(s) for s in skills):
        raise AccountError(
            f"skills are up to {MAX_SKILLS} names of a-z, 0-9, dash, underscore"
        )


def check_username(username: str) -> None:
    if not _USERNAME.fullmatch(username):
        raise AccountError(
            "a username is 1 to 64 characters of a-z, 0-9, dot, dash, underscore"
        )


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(
            f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters long"
        )


def _check_name(name: str) -> None:
    if not 1 <= len(name) <= MAX_NAME or not name.isprintable():
        raise AccountError(f"a name is 1 to {MAX_NAME} printable characters")


def _token_key(store: Store, token: str) -> str:
    return store.key("token", hashlib.sha256(token.encode()).hexdigest())


class Accounts:
    """Users and sign-in tokens, kept in Redis."""

    def __init__(self, store: Store, hasher: PasswordHasher | None = None) -> None:
        self.store = store
        self.hasher = hasher or PasswordHasher()
        self._put_user = store.redis.register_script(_PUT_USER)
        self._swap_hash = store.redis.register_script(_SWAP_HASH)
        self._dummy_hash: str | None = None

    async def add_user(
        self,
        username: str,
        password: str,
        role: Role,
        name: str | None = None,
        *,
        replace: bool = True,
        skills: tuple[str, ...] = (),
    ) -> User:
        """Create the user, or set a new password, role and name for it.

        With ``replace=False`` an existing user is left alone and
        ``AccountError`` is raised. A new password signs out old tokens.
        """
        check_username(username)
        check_password(password)
        if role not in ROLES:
            raise AccountError(f"a role is agent or operator, not {role!r}")
        name = name if name is not None else username
        _check_name(name)
        check_skills(skills)

        hashed = await asyncio.to_thread(self.hasher.hash, password)
        keys = [self.store.key("user", username), self.store.key("users")]
        new_id = f"u-{secrets.token_hex(8)}"
        flag = "1" if replace else "0"
        args = [username, role, name, hashed, new_id, flag, ",".join(skills)]
        user_id = await self._put_user(keys=keys, args=args)
        if user_id is None:
            raise AccountError(f"the user {username} exists already")
        logger.info("user %s saved (%s, %s)", username, user_id, role)
        return User(str(user_id), username, role, name, skills)

    async def get_user(self, username: str) -> User | None:
        fields = await self._fields(username)
        return _user(fields) if fields else None

    async def list_users(self) -> list[User]:
        names = await self.store.redis.smembers(self.store.key("users"))
        found = [await self.get_user(str(name)) for name in sorted(names)]
        return [user for user in found if user is not None]

    async def _fields(self, username: str) -> dict[str, str]:
        if not _USERNAME.fullmatch(username):
            return {}
        key = self.store.key("user", username)
        raw = await self.store.redis.hgetall(key)
        fields = {str(k): str(v) for k, v in raw.items()}
        return fields if "hash" in fields else {}

    async def verify(self, username: str, password: str) -> User | None:
        """The user when the password is right, else None.

        An unknown user costs one hash as a known one does, so timing does
        not tell which usernames exist.
        """
        fields = await self._fields(username)
        stored = fields.get("hash") or await self._dummy()
        if not await asyncio.to_thread(self._matches, stored, password):
            return None
        if not fields:
            return None
        if self.hasher.check_needs_rehash(stored):
            await self._rehash(username, stored, password)
        return _user(fields)

    def _matches(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except VerificationError:
            return False
        except InvalidHashError:
            logger.warning("stored password hash is not argon2; sign-in refused")
            return False

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            filler = secrets.token_urlsafe(16)
            self._dummy_hash = await asyncio.to_thread(self.hasher.hash, filler)
        return self._dummy_hash

    async def _rehash(self, username: str, old: str, password: str) -> None:
        """Store the hash again under the hasher's current parameters."""
        new = await asyncio.to_thread(self.hasher.hash, password)
        key = self.store.key("user", username)
        if await self._swap_hash(keys=[key], args=[old, new]):
            logger.info("password hash of %s upgraded", username)

    async def issue_token(self, user: User, ttl_s: int = TOKEN_TTL_S) -> str:
        """A new sign-in token for ``user``; only its SHA-256 is stored."""
        fields = await self._fields(user.username)
        if fields.get("id") != user.id:
            raise AccountError(f"the user {user.username} no longer exists")
        token = secrets.token_urlsafe(32)
        value = json.dumps({"user": user.username, "id": user.id, "gen": fields["gen"]})
        await self.store.redis.set(_token_key(self.store, token), value, ex=ttl_s)
        return token

    async def user_for_token(self, token: str) -> User | None:
        """The user a live token belongs to, else None."""
        if not token or len(token) > _MAX_TOKEN:
            return None
        raw = await self.store.redis.get(_token_key(self.store, token))
        if raw is None:
            return None
        claim = json.loads(raw)
        fields = await self._fields(claim["user"])
        if fields.get("id") != claim["id"] or fields.get("gen") != claim["gen"]:
            return None
        return _user(fields)

    async def revoke(self, token: str) -> None:
        if token and len(token) <= _MAX_TOKEN:
            await self.store.redis.delete(_token_key(self.store, token))

    async def ensure_demo_users(self) -> list[tuple[str, str, str]]:
        """Create the demo users that do not exist, with random passwords.

        Returns (username, role, password) of those created now; on later
        runs they exist and their passwords are not known any more.
        """
        created: list[tuple[str, str, str]] = []
        for username, role, name in DEMO_USERS:
            if await self.get_user(username) is not None:
                continue
            password = secrets.token_urlsafe(12)
            try:
                await self.add_user(username, password, role, name, replace=False)
            except AccountError:
                continue
            created.append((username, role, password))
        return created


def demo_users_notice(created: list[tuple[str, str, str]]) -> str:
    """Lines for the console about the demo users, after ensure_demo_users."""
    if created:
        lines = ["demo users created (their passwords are shown only now):"]
        lines += [f"  {u} ({r}): {p}" for u, r, p in created]
        return "\n".join(lines)
    names = ", ".join(username for username, _, _ in DEMO_USERS)
    return (
        f"demo users ({names}) exist; to set a new password run "
        "helpline add-user USERNAME --role agent|operator"
    )


def _user(fields: dict[str, str]) -> User:
    role = fields["role"]
    if role not in ROLES:
        raise AccountError(f"stored role {role!r} is not agent or operator")
    skills = tuple(s for s in fields.get("skills", "").split(",") if s)
    return User(
        fields["id"], fields["username"], cast(Role, role), fields["name"], skills
    )

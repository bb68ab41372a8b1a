"""The shared fixtures start real servers and a real browser that work."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from pathlib import Path

import pytest
import redis
import redis.asyncio
from aioice import Connection
from playwright.async_api import BrowserContext

from tests.fixtures.browser import save_screenshots
from tests.fixtures.network import loopback_only, network_interfaces
from tests.fixtures.redis import EmbeddedRedis, RedisServer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_then_read_after_kill(server: RedisServer | EmbeddedRedis) -> None:
    """Write, kill the server with SIGKILL, restart it, read the data back."""
    with redis.Redis.from_url(server.url, protocol=2) as client:
        client.set("call:c-1:state", "ringing")
        client.rpush("queue:general", "c-1", "c-2")
        assert client.get("call:c-1:state") == b"ringing"
        before = client.info("server")["process_id"]

    server.kill()
    with (
        pytest.raises(redis.ConnectionError),
        redis.Redis.from_url(server.url, protocol=2, socket_timeout=1) as client,
    ):
        client.ping()

    server.restart()
    with redis.Redis.from_url(server.url, protocol=2) as client:
        assert client.info("server")["process_id"] != before
        assert client.get("call:c-1:state") == b"ringing"
        assert client.lrange("queue:general", 0, -1) == [b"c-1", b"c-2"]


def test_redis_server_keeps_data_across_kill(
    private_redis_server: RedisServer,
) -> None:
    write_then_read_after_kill(private_redis_server)
    aof_dir = private_redis_server.directory / "appendonlydir"
    assert any(aof_dir.glob("*.aof")), "redis-server wrote no append-only file"


def test_embedded_redis_keeps_data_across_kill(
    private_embedded_redis: EmbeddedRedis,
) -> None:
    write_then_read_after_kill(private_embedded_redis)
    assert (private_embedded_redis.directory / "appendonly.aof").stat().st_size > 0


def test_restart_keeps_the_address(private_redis_server: RedisServer) -> None:
    url = private_redis_server.url
    private_redis_server.restart()
    assert private_redis_server.url == url
    with redis.Redis.from_url(url, protocol=2) as client:
        assert client.ping()


async def test_redis_client_round_trip(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    assert await redis_client.dbsize() == 0, "redis_url must start empty"

    await redis_client.hset("agent:a-1", mapping={"name": "Grace", "status": "away"})
    assert await redis_client.hgetall("agent:a-1") == {
        "name": "Grace",
        "status": "away",
    }
    assert (await redis_client.config_get("appendonly"))["appendonly"] == "yes"


async def test_redis_url_covers_both_servers(
    redis_url: str, redis_server_url: str, embedded_redis_url: str
) -> None:
    assert redis_url in (redis_server_url, embedded_redis_url)
    scheme = "redis" if redis_url == redis_server_url else "unix"
    assert redis_url.startswith(f"{scheme}://")


async def test_loopback_ice_connects_two_agents(loopback_ice: None) -> None:
    """Two ICE agents pair on 127.0.0.1 and carry data."""
    controlling = Connection(ice_controlling=True)
    controlled = Connection(ice_controlling=False)
    try:
        await asyncio.gather(
            controlling.gather_candidates(), controlled.gather_candidates()
        )
        hosts = {c.host for c in controlling.local_candidates}
        assert hosts == {"127.0.0.1"}

        for local, remote in ((controlling, controlled), (controlled, controlling)):
            for candidate in remote.local_candidates:
                await local.add_remote_candidate(candidate)
            await local.add_remote_candidate(None)
            local.remote_username = remote.local_username
            local.remote_password = remote.local_password

        await asyncio.wait_for(
            asyncio.gather(controlling.connect(), controlled.connect()), 10
        )
        await controlling.send(b"hello over loopback")
        received = await asyncio.wait_for(controlled.recv(), 5)
        assert received == b"hello over loopback"
    finally:
        await controlling.close()
        await controlled.close()


def test_suite_runs_in_loopback_only_namespace() -> None:
    if os.environ.get("HELPLINE_TEST_NETNS") != "1":
        pytest.skip("not started by scripts/test, so not in a private namespace")

    assert network_interfaces() == ["lo"]
    assert loopback_only()

    # Choosing a route for a UDP socket sends nothing; with only lo up, no
    # route leads off this machine.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        with pytest.raises(OSError) as error:
            probe.connect(("192.0.2.1", 9))
    assert error.value.errno == errno.ENETUNREACH


async def test_chromium_runs_javascript(chromium: BrowserContext) -> None:
    page = await chromium.new_page()
    await page.goto("data:text/html,<title>Helpline</title><p id=greeting>hi</p>")

    assert await page.title() == "Helpline"
    assert await page.evaluate("document.getElementById('greeting').textContent") == (
        "hi"
    )
    assert await page.evaluate("() => [1, 2, 3].map((n) => n * 7)") == [7, 14, 21]
    assert await page.evaluate("typeof RTCPeerConnection") == "function"


async def test_chromium_screenshots_open_pages(
    chromium: BrowserContext, tmp_path: Path
) -> None:
    page = await chromium.new_page()
    await page.goto("data:text/html,<h1>Saved on failure</h1>")

    saved = await save_screenshots(chromium, tmp_path, "example")

    # A persistent context opens with one blank page of its own.
    assert len(chromium.pages) == 2
    assert [path.name for path in saved] == ["example-page0.png", "example-page1.png"]
    assert all(path.read_bytes().startswith(PNG_MAGIC) for path in saved)

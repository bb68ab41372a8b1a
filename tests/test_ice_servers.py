"""TURN credentials per session: the sans-I/O issuer, then how a running node
hands them out (welcome, ice.servers) and keeps them from anonymous HTTP,
and how a page renews them."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import aiohttp
import pytest
from aiortc import RTCIceServer
from playwright.async_api import BrowserContext

from gateway.config import Settings
from gateway.ice_servers import (
    aiortc_ice_servers,
    browser_ice_servers,
    public_ice_servers,
    session_ice_fields,
    turn_credential,
    turn_username,
)
from tests.fixtures.app import (
    ClientFactory,
    NodeFactory,
    make_settings,
    start_node,
    stop_node,
)

SECRET = "north-wind"
TURN = "turn:turn.example.com:3478?transport=udp"
TURNS = "turns:turn.example.com:5349?transport=tcp"
STUN = "stun:stun.example.com:3478"
SETTINGS = Settings(turn_urls=(STUN, TURN, TURNS), turn_secret=SECRET, turn_ttl_s=600)
NOW = 1_700_003_000.7


def test_credential_is_coturns_rest_api_scheme() -> None:
    """Known answer, from `openssl dgst -sha1 -hmac north-wind -binary | base64`."""
    username = turn_username("s-0011223344556677", 1_700_003_600)
    assert username == "1700003600:s-0011223344556677"
    assert turn_credential(SECRET, username) == "Uo4bYD8BmPx0u4mUSh15HD5A2Gg="


def test_browser_servers_for_one_session() -> None:
    servers = browser_ice_servers(SETTINGS, "s-0011223344556677", NOW)
    username = "1700003600:s-0011223344556677"  # int(NOW) + 600
    assert servers == [
        {"urls": [STUN]},
        {
            "urls": [TURN, TURNS],
            "username": username,
            "credential": turn_credential(SECRET, username),
        },
    ]


def test_credentials_differ_by_session_and_time() -> None:
    def credential(label: str, now: float) -> str:
        return str(browser_ice_servers(SETTINGS, label, now)[1]["credential"])

    first = credential("s-01", NOW)
    assert credential("s-02", NOW) != first
    assert credential("s-01", NOW + 1) != first
    assert credential("s-01", NOW) == first


def test_stun_only_and_nothing_set() -> None:
    stun_only = Settings(turn_urls=(STUN,))
    assert browser_ice_servers(stun_only, "s-01", NOW) == [{"urls": [STUN]}]
    assert session_ice_fields(stun_only, "s-01", NOW) == {
        "ice_servers": [{"urls": [STUN]}]
    }
    assert browser_ice_servers(Settings(), "s-01", NOW) == []


def test_turn_without_a_secret_is_left_out() -> None:
    """A browser throws on a TURN server with no username."""
    settings = Settings(turn_urls=(TURN, STUN))
    assert browser_ice_servers(settings, "s-01", NOW) == [{"urls": [STUN]}]


def test_public_servers_hold_no_credentials() -> None:
    assert public_ice_servers(SETTINGS) == [{"urls": [STUN]}]
    assert public_ice_servers(Settings(turn_urls=(TURN,), turn_secret=SECRET)) == []


def test_session_fields_carry_the_lifetime() -> None:
    fields = session_ice_fields(SETTINGS, "s-01", NOW)
    assert fields["ice_ttl_s"] == 600
    assert fields["ice_servers"] == browser_ice_servers(SETTINGS, "s-01", NOW)


@pytest.mark.parametrize("label", ["", "a:b", "s 1", "x" * 65, "ada@example.com"])
def test_labels_are_plain_ids(label: str) -> None:
    with pytest.raises(ValueError, match="TURN label"):
        browser_ice_servers(SETTINGS, label, NOW)


def test_aiortc_servers_for_a_server_side_peer() -> None:
    servers = aiortc_ice_servers(SETTINGS, "c-0123456789abcdef", NOW)
    username = "1700003600:c-0123456789abcdef"
    assert servers == [
        RTCIceServer(urls=[STUN]),
        RTCIceServer(
            urls=[TURN, TURNS],
            username=username,
            credential=turn_credential(SECRET, username),
        ),
    ]


# A running node


async def test_welcome_brings_credentials_for_the_session(
    helpline_factory: NodeFactory, ws_clients: ClientFactory
) -> None:
    helpline = await helpline_factory(
        turn_urls=(STUN, TURN), turn_secret=SECRET, turn_ttl_s=900
    )
    before = int(time.time())
    ada = await ws_clients(helpline.ws_url, {"role": "customer", "name": "Ada"})
    after = int(time.time())

    welcome = ada.welcome
    stun, turn = welcome["ice_servers"]
    assert stun == {"urls": [STUN]}
    expiry, _, label = turn["username"].partition(":")
    assert label == welcome["session_id"]
    assert before + 900 <= int(expiry) <= after + 900
    assert turn["credential"] == turn_credential(SECRET, turn["username"])
    assert welcome["ice_ttl_s"] == 900


async def test_ice_servers_request_renews_the_credentials(
    helpline_factory: NodeFactory, ws_clients: ClientFactory
) -> None:
    helpline = await helpline_factory(turn_urls=(TURN,), turn_secret=SECRET)
    grace = await helpline.create_agent("grace", "a long enough secret", "Grace")
    agent = await ws_clients(helpline.ws_url, {"role": "agent", "token": grace})
    first = agent.welcome["ice_servers"][0]["username"]

    await agent.send({"type": "ice.servers", "id": "i1"})
    renewed = await agent.expect("ice.servers")

    assert renewed["ref"] == "i1" and "seq" not in renewed
    assert renewed["ice_ttl_s"] == 3600
    (server,) = renewed["ice_servers"]
    assert server["username"].endswith(":" + agent.welcome["session_id"])
    assert int(server["username"].partition(":")[0]) >= int(first.partition(":")[0])
    assert server["credential"] == turn_credential(SECRET, server["username"])


async def test_no_credentials_without_a_session(
    helpline_factory: NodeFactory, ws_clients: ClientFactory
) -> None:
    helpline = await helpline_factory(turn_urls=(STUN, TURN), turn_secret=SECRET)
    stranger = await ws_clients(helpline.ws_url)
    await stranger.send({"type": "ice.servers", "id": "i1"})
    refused = await stranger.expect("error")
    assert (refused["code"], refused["ref"]) == ("no-session", "i1")

    async with aiohttp.ClientSession() as http:
        async with http.get(helpline.url + "/api/ice") as response:
            assert response.status == 200
            assert await response.json() == {"iceServers": [{"urls": [STUN]}]}


async def test_the_secret_and_credentials_are_never_logged(
    helpline_factory: NodeFactory,
    ws_clients: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    helpline = await helpline_factory(turn_urls=(TURN,), turn_secret=SECRET)
    ada = await ws_clients(helpline.ws_url, {"role": "customer", "name": "Ada"})
    await ada.send({"type": "ice.servers", "id": "i1"})
    renewed = await ada.expect("ice.servers")

    credentials = {
        server["credential"]
        for server in (*ada.welcome["ice_servers"], *renewed["ice_servers"])
    }
    logged = "\n".join(
        f"{record.getMessage()} {record.__dict__}" for record in caplog.records
    )
    assert any("ICE servers renewed" in r.getMessage() for r in caplog.records)
    for secret in (SECRET, *credentials):
        assert secret not in logged


# Waits in the page for client.js to renew its session's credentials.
RENEWAL = """
async () => {
  const { HelplineClient, signalingUrl } = await import('/static/client.js');
  const client = new HelplineClient({
    url: signalingUrl(location.href), role: 'customer', name: 'Ada',
  });
  const welcome = await client.connect();
  const first = client.iceServers[0].username;
  const started = performance.now();
  const renewed = await new Promise((resolve) => {
    client.addEventListener('ice.servers', (event) => resolve(event.detail));
  });
  const result = {
    session: welcome.session_id,
    ttl: welcome.ice_ttl_s,
    first,
    renewed: client.iceServers[0].username,
    ref: renewed.ref,
    waitedMs: performance.now() - started,
  };
  client.close();
  return result;
}
"""


async def test_pages_renew_credentials_before_they_expire(
    tmp_path: Path, redis_server_url: str, chromium: BrowserContext
) -> None:
    settings = make_settings(
        tmp_path,
        redis_server_url,
        turn_urls=("turn:127.0.0.1:3478",),
        turn_secret="north-wind",
        turn_ttl_s=4,  # below what the setting accepts, so the test is short
    )
    running = await start_node(settings)
    try:
        page = await chromium.new_page()
        await page.goto(running.url + "/")
        result = await page.evaluate(RENEWAL)
    finally:
        await stop_node(running)

    assert result["ttl"] == 4 and result["ref"]
    assert result["renewed"] != result["first"]
    for username in (result["first"], result["renewed"]):
        assert username.endswith(":" + result["session"])
    assert 2_500 <= result["waitedMs"] <= 4_000  # three quarters of 4 s

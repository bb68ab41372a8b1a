"""TURN through coturn on loopback, with the credentials Helpline issues.

A page gets its ICE servers in the ``welcome`` of its signaling session; so
do these tests, from a running node, and hand them to real aiortc peers and
to Chromium. coturn checks them against the shared secret
(tests/fixtures/turn.py).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCIceServer
from playwright.async_api import BrowserContext

from gateway.config import Settings
from gateway.ice_servers import aiortc_ice_servers
from gateway.webrtc import Peer
from signaling.ice import Candidate, parse_candidate
from tests.fixtures.app import (
    ClientFactory,
    RunningHelpline,
    make_settings,
    start_node,
    stop_node,
)
from tests.fixtures.turn import RELAY_PORTS, Coturn
from tests.fixtures.webrtc import PeerFactory, connect_and_hear, only_candidates
from tests.test_browser_call import answered_call

TTL_S = 600


@pytest.fixture
async def turn_helpline(
    coturn: Coturn, tmp_path: Path, redis_server_url: str
) -> AsyncIterator[RunningHelpline]:
    """A node that hands out credentials for the test's coturn."""
    settings = make_settings(
        tmp_path,
        redis_server_url,
        turn_urls=(coturn.url,),
        turn_secret=coturn.secret,
        turn_ttl_s=TTL_S,
    )
    running = await start_node(settings)
    yield running
    await stop_node(running)


async def session_servers(
    helpline: RunningHelpline, ws_clients: ClientFactory, name: str
) -> list[RTCIceServer]:
    """The ICE servers a page gets: those of its session's ``welcome``."""
    page = await ws_clients(helpline.ws_url, {"role": "customer", "name": name})
    return [RTCIceServer(**server) for server in page.welcome["ice_servers"]]


def offered(peer: Peer, kind: str) -> list[Candidate]:
    """The candidates of one type in the peer's local description."""
    found = [parse_candidate(init) for init in peer.local_candidates()]
    return [c for c in found if isinstance(c, Candidate) and c.type == kind]


def selected_pair(peer: Peer) -> Any:
    """The candidate pair aioice nominated for the peer's audio."""
    transport = peer.pc.getTransceivers()[0].receiver.transport.transport
    return transport._connection._nominated[1]


def in_relay_range(candidate: Candidate) -> bool:
    low, high = RELAY_PORTS
    return candidate.address == "127.0.0.1" and low <= candidate.port <= high


async def test_session_credentials_open_a_relay(
    turn_helpline: RunningHelpline, ws_clients: ClientFactory, peers: PeerFactory
) -> None:
    servers = await session_servers(turn_helpline, ws_clients, "Ada")
    peer = peers("relay", ice_servers=servers)
    peer.add_audio()
    await peer.create_offer()

    relays = offered(peer, "relay")
    assert len(relays) == 1 and in_relay_range(relays[0])


async def test_audio_flows_with_relay_candidates_only(
    turn_helpline: RunningHelpline,
    ws_clients: ClientFactory,
    peers: PeerFactory,
    coturn: Coturn,
) -> None:
    """Each end learns only the other's relayed address, so every path runs
    through coturn: each end's selected pair touches a relay, and coturn
    bound a channel for each session's credential."""
    servers = {
        name: await session_servers(turn_helpline, ws_clients, name)
        for name in ("caller", "callee")
    }
    caller = peers("caller", ice_servers=servers["caller"])
    callee = peers("callee", ice_servers=servers["callee"])
    caller.add_audio()
    callee.add_audio()

    offer = only_candidates(await caller.create_offer(), "relay")
    answer = only_candidates(await callee.accept_offer(offer), "relay")
    assert " typ host" not in offer + answer and offer.count(" typ relay") == 1
    await caller.accept_answer(answer)
    await connect_and_hear(caller, callee)

    for end in (caller, callee):
        pair = selected_pair(end)
        assert "relay" in (pair.local_candidate.type, pair.remote_candidate.type)
        assert await end.audio_packets_received() > 0
    log = coturn.log_text()
    for (server,) in servers.values():
        bound = f"user <{server.username}>: incoming packet CHANNEL_BIND processed"
        assert bound + ", success" in log


@pytest.mark.parametrize(
    ("issued_s_ago", "secret", "relayed"),
    [
        pytest.param(0, None, True, id="fresh"),
        pytest.param(TTL_S + 60, None, False, id="expired"),
        pytest.param(0, "not-the-secret", False, id="other secret"),
    ],
)
async def test_only_a_live_credential_gets_a_relay(
    coturn: Coturn,
    peers: PeerFactory,
    issued_s_ago: int,
    secret: str | None,
    relayed: bool,
) -> None:
    settings = Settings(
        turn_urls=(coturn.url,), turn_secret=secret or coturn.secret, turn_ttl_s=TTL_S
    )
    servers = aiortc_ice_servers(settings, "s-0123456789", time.time() - issued_s_ago)
    peer = peers("peer", ice_servers=servers)
    peer.add_audio()
    await peer.create_offer()

    assert bool(offered(peer, "relay")) is relayed
    assert offered(peer, "host"), "the host candidates are gathered all the same"


# Gathers in the page with the ICE servers of its session (client.js keeps
# them from `welcome`), relay only; returns every candidate line.
GATHER_RELAY = """
async () => {
  const { HelplineClient, signalingUrl } = await import('/static/client.js');
  const client = new HelplineClient({
    url: signalingUrl(location.href), role: 'customer', name: 'Ada',
  });
  await client.connect();
  const pc = new RTCPeerConnection({
    iceServers: client.iceServers, iceTransportPolicy: 'relay',
  });
  const lines = [];
  const complete = new Promise((resolve) => {
    pc.addEventListener('icecandidate', (event) => {
      if (event.candidate && event.candidate.candidate) {
        lines.push(event.candidate.candidate);
      } else {
        resolve();
      }
    });
  });
  pc.addTransceiver('audio');
  await pc.setLocalDescription(await pc.createOffer());
  await Promise.race([complete, new Promise((r) => setTimeout(r, 10000))]);
  pc.close();
  client.close();
  return { lines, servers: client.iceServers };
}
"""


async def test_chromium_gathers_a_relay_with_the_session_credentials(
    turn_helpline: RunningHelpline, chromium: BrowserContext, coturn: Coturn
) -> None:
    page = await chromium.new_page()
    await page.goto(turn_helpline.url + "/")
    gathered = await page.evaluate(GATHER_RELAY)

    (server,) = gathered["servers"]
    assert server["urls"] == [coturn.url] and ":s-" in server["username"]
    candidates = [
        parse_candidate({"candidate": line, "sdpMid": "0"})
        for line in gathered["lines"]
    ]
    relays = [c for c in candidates if isinstance(c, Candidate) and c.type == "relay"]
    assert relays and all(in_relay_range(c) for c in relays)
    assert len(relays) == len(candidates), "relay policy: nothing else"


async def test_widget_and_softphone_call_with_their_sessions_credentials(
    turn_helpline: RunningHelpline, chromium: BrowserContext, coturn: Coturn
) -> None:
    """The pages hand their own session's credential to the call's peer
    connection, and the call carries audio. (On loopback Chromium stops
    gathering once the host pair works, before its relay step, so relay
    gathering is shown by the test above.)"""
    agent, customer = await answered_call(chromium, turn_helpline)

    labels = set()
    for page, name in ((agent, "softphone"), (customer, "helplineWidget")):
        servers = await page.evaluate(
            f"window.{name}.media.pc.getConfiguration().iceServers"
        )
        session = await page.evaluate(f"window.{name}.client.sessionId")
        (server,) = servers
        assert server["urls"] == [coturn.url]
        assert server["username"].endswith(":" + session)
        labels.add(session)
    assert len(labels) == 2

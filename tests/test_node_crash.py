"""A Helpline node killed with SIGKILL: its customers resume on another
node, and sessions whose clients never return still end their calls."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.fixtures.app import ClientFactory, RunningHelpline
from tests.fixtures.redis import free_tcp_port
from tests.test_signaling import OFFER, agent, connect_call


@dataclass
class Doomed:
    url: str
    process: asyncio.subprocess.Process

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"

    async def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.process.wait(), 10)


@pytest.fixture
async def doomed_node(
    helpline: RunningHelpline, tmp_path: Path
) -> AsyncIterator[Doomed]:
    """A second node as a real process on the same Redis."""
    port = free_tcp_port()
    env = {
        **os.environ,
        "HELPLINE_REDIS_URL": helpline.settings.redis_url,
        "HELPLINE_DEMO": "false",
        "HELPLINE_LOG_LEVEL": "WARNING",
        "HELPLINE_SIP_WORKERS": "0",
    }
    command = [sys.executable, "-m", "gateway", "run", "--http", f"127.0.0.1:{port}"]
    process = await asyncio.create_subprocess_exec(
        *command, "--data-dir", str(tmp_path / "doomed"), env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_healthy(url)
        yield Doomed(url, process)
    finally:
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.wait(), 10)


async def _wait_healthy(url: str) -> None:
    async with aiohttp.ClientSession() as http, asyncio.timeout(30):
        while True:
            try:
                async with http.get(url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)


async def test_customer_resumes_on_another_node_after_a_kill(
    helpline: RunningHelpline, doomed_node: Doomed, ws_clients: ClientFactory
) -> None:
    grace = await agent(helpline, ws_clients, "Grace")
    ada = await ws_clients(doomed_node.ws_url, {"role": "customer", "name": "Ada"})
    call_id = await connect_call(grace, ada)

    await doomed_node.kill()
    back = await ws_clients(helpline.ws_url)
    resume = {
        "session_id": ada.welcome["session_id"],
        "resume_token": ada.welcome["resume_token"],
        "last_seq": ada.last_seq,
    }
    await back.send({"type": "hello", "v": 1, "role": "customer", "resume": resume})
    assert (await back.expect("welcome"))["resumed"] is True
    await back.send({"type": "sdp.offer", "call_id": call_id, "sdp": OFFER})
    assert (await grace.expect("sdp.offer"))["call_id"] == call_id


async def test_sessions_of_a_killed_node_expire_when_nobody_returns(
    helpline: RunningHelpline, doomed_node: Doomed, ws_clients: ClientFactory
) -> None:
    grace = await agent(helpline, ws_clients, "Grace")
    ada = await ws_clients(doomed_node.ws_url, {"role": "customer", "name": "Ada"})
    await connect_call(grace, ada)

    await doomed_node.kill()
    # Heartbeat expiry (5 s) + grace period (3 s) + a sweep.
    ended = await grace.call_state("ended", within=25)
    assert ended["reason"] == "customer-lost"

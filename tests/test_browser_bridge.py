"""The media bridge in Chromium: the widget's call put through to the
toll-free line by a media worker, and a phone caller answered in the
softphone.

Helpline runs in-process, a media worker as its own process, SIPp as the
phone caller or the toll-free line; the SIP side's audio is a socket of
the test's own (``RtpPeer``), so the test sees what crossed the bridge:
Chromium's fake microphone arrives there as PCMU, and a tone sent from
there reaches the page (its RTP statistics count it).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from playwright.async_api import BrowserContext, expect

from tests.fixtures.app import NodeFactory
from tests.fixtures.demo import DemoRun
from tests.fixtures.sip import caller_scenario, fields, ulaw_decode
from tests.test_bridge import ON_LOOPBACK, QUEUE_MENU, start_line
from tests.test_browser_call import (
    WAIT_MS,
    expect_audio,
    open_softphone,
    press,
    sign_in_softphone,
    wait_for,
    widget_status,
)
from tests.test_browser_ivr import WIDGET, Frames, of_type, open_customer, voice_off
from tests.test_ivr_calls import publish
from tests.test_sip_ivr import publish_phone_menu

pytestmark = [pytest.mark.browser, pytest.mark.sip]


@pytest.fixture
def redis_url(sip_redis_url: str) -> str:
    return sip_redis_url


def loudness(payloads: list[bytes]) -> float:
    """Mean absolute sample of PCMU payloads (0 for silence)."""
    samples = [abs(ulaw_decode(b)) for p in payloads for b in p]
    return sum(samples) / len(samples) if samples else 0.0


async def test_the_widget_reaches_the_toll_free_line_through_a_media_worker(
    helpline_factory: NodeFactory,
    chromium: BrowserContext,
    sip_workers: Any,
    rtp_peer: Any,
    sipp: Any,
    redis_url: str,
) -> None:
    the_line = await start_line(sipp, rtp_peer)
    line, media, trunk = the_line.uri, the_line.media, the_line.trunk
    node = await helpline_factory(tollfree_uri=line)
    await publish_phone_menu(node)
    sip_workers(tollfree_uri=line, **ON_LOOPBACK)

    customer, frames = await open_customer(chromium, node)
    await press(customer, "Call us")
    await wait_for(customer, f"{WIDGET}.state === 'ivr'")
    await voice_off(customer)
    await customer.get_by_role("button", name=re.compile("^Hours")).click()
    await press(customer, "No thanks")
    await customer.get_by_role("button", name=re.compile("^Phone line")).click()

    tollfree = await frames.wait(frames.received, of_type("ivr.tollfree"))
    assert tollfree["bridged"] is True
    await wait_for(customer, f"{WIDGET}.state === 'answered'")
    await expect(widget_status(customer)).to_have_text(
        "On the line with our toll-free number.", timeout=WAIT_MS
    )
    # The page's microphone reaches the line, through the worker...
    stats = await expect_audio(customer, "helplineWidget")
    await media.wait_audio(packets=50)
    assert set(media.received) == {0}, "PCMU on the line"
    assert loudness(media.payloads[-50:]) > 0, "only silence reached the line"
    # ...and the line's voice reaches the page.
    await media.send_tone(1000.0, 1.0)
    after = await expect_audio(customer, "helplineWidget", stats)
    assert after["packetsReceived"] >= stats["packetsReceived"] + 40

    # The keypad during the call: RFC 4733 events on the line.
    keypad = customer.get_by_role("group", name="Keypad")
    if not await keypad.is_visible():
        await press(customer, "Keypad")
    await keypad.get_by_role("button", name="7", exact=True).click()
    await frames.wait(frames.sent, of_type("call.dtmf", digits="7"))
    deadline = time.monotonic() + 5
    while not media.received[120]:
        assert time.monotonic() < deadline, media.received
        await customer.wait_for_timeout(50)

    await press(customer, "Hang up")
    await wait_for(customer, f"{WIDGET}.state === 'ended'")
    assert await trunk.wait(10) == 0, trunk.messages()[-2000:]  # its BYE came
    call_id = tollfree["call_id"]
    with redis.Redis.from_url(redis_url, protocol=2) as client:
        record = fields(client.hgetall(f"helpline:call:{call_id}"))
    assert record["reason"] == "customer-hangup"
    assert '"how": "put through"' in record["escalation"]


async def test_a_phone_caller_is_answered_in_the_softphone(
    helpline_factory: NodeFactory,
    chromium: BrowserContext,
    sip_workers: Any,
    rtp_peer: Any,
    sipp: Any,
    tmp_path: Path,
) -> None:
    node = await helpline_factory()
    await publish(node, QUEUE_MENU)
    worker = sip_workers(**ON_LOOPBACK)
    agent = await open_softphone(chromium, node)
    media = await rtp_peer()
    scenario = caller_scenario(
        tmp_path / "queue.xml",
        [
            ("pause", 1500),
            ("info", "Signal=1\nDuration=160", "application/dtmf-relay"),
            ("wait_bye", 60000),
        ],
        media.port,
    )
    caller = await sipp(str(scenario), f"127.0.0.1:{worker.sip_port}")

    await expect(agent.locator("#call-title")).to_have_text(
        "Incoming call", timeout=WAIT_MS
    )
    await press(agent, "Answer")
    await wait_for(agent, "window.softphone.callState === 'answered'")
    # The agent hears the caller: packets from the worker, with the tone
    # the caller sends in them...
    stats = await expect_audio(agent, "softphone")
    await media.wait_audio(packets=25)
    await media.send_tone(1000.0, 1.0)
    after = await expect_audio(agent, "softphone", stats)
    assert after["packetsReceived"] >= stats["packetsReceived"] + 40
    # ...and the caller hears the agent's microphone.
    since = len(media.payloads)
    await agent.wait_for_timeout(1500)
    assert loudness(media.payloads[since:]) > 0, "only silence reached the caller"

    await press(agent, "Hang up")
    await wait_for(agent, "window.softphone.callState === 'ended'")
    assert await caller.wait(20) == 0, caller.messages()[-3000:]
    await wait_for(agent, "window.softphone.agentStatus === 'available'")


# The demo, as `./scripts/run` starts it


async def test_the_demo_widget_reaches_its_toll_free_line_with_audio_both_ways(
    demo_run: DemoRun, chromium: BrowserContext
) -> None:
    frames = Frames()
    customer = await chromium.new_page()
    customer.on("websocket", frames.watch)
    await customer.goto(demo_run.url + "/demo")
    await customer.wait_for_function(f"{WIDGET} !== undefined", polling=100)
    await press(customer, "Call us")
    await wait_for(customer, f"{WIDGET}.state === 'ivr'")
    await voice_off(customer)
    await customer.get_by_role(
        "button", name=re.compile("^Billing and payments")
    ).click()
    line = customer.get_by_role("button", name=re.compile("^Our toll-free line"))
    await expect(line).to_be_visible(timeout=60_000)  # after the answers
    await line.click()
    await press(customer, "No thanks")  # the callback, offered once more

    tollfree = await frames.wait(frames.received, of_type("ivr.tollfree"))
    assert tollfree["bridged"] is True
    await wait_for(customer, f"{WIDGET}.state === 'answered'")
    # The demo's line (SIPp) echoes: audio goes out and comes back.
    stats = await expect_audio(customer, "helplineWidget")
    later = await expect_audio(customer, "helplineWidget", stats)
    assert later["packetsReceived"] > stats["packetsReceived"]
    await press(customer, "Hang up")
    await wait_for(customer, f"{WIDGET}.state === 'ended'")
    trunk_log = (demo_run.data / "demo-trunk.log").read_text(errors="replace")
    assert demo_run.process.poll() is None, trunk_log


async def test_the_demo_softphone_answers_a_phone_caller_with_audio_both_ways(
    demo_run: DemoRun,
    chromium: BrowserContext,
    sipp: Any,
    rtp_peer: Any,
    tmp_path: Path,
) -> None:
    user, password = demo_run.account("agent")
    agent = await sign_in_softphone(chromium, demo_run.url, user, password)
    media = await rtp_peer()
    # Billing (1), its answers, then "wait for a billing specialist" (3).
    scenario = caller_scenario(
        tmp_path / "to-an-agent.xml",
        [
            ("pause", 2000),
            ("info", "Signal=1\nDuration=160", "application/dtmf-relay"),
            ("pause", 45000),
            ("info", "Signal=3\nDuration=160", "application/dtmf-relay"),
            ("wait_bye", 60000),
        ],
        media.port,
    )
    caller = await sipp(str(scenario), f"127.0.0.1:{demo_run.sip}", timeout_s=120)
    await expect(agent.locator("#call-title")).to_have_text(
        "Incoming call", timeout=70_000
    )
    await press(agent, "Answer")
    await wait_for(agent, "window.softphone.callState === 'answered'")
    stats = await expect_audio(agent, "softphone")
    await media.send_tone(1000.0, 1.0)
    after = await expect_audio(agent, "softphone", stats)
    assert after["packetsReceived"] >= stats["packetsReceived"] + 40
    since = len(media.payloads)
    await agent.wait_for_timeout(1500)
    assert loudness(media.payloads[since:]) > 0, "only silence reached the caller"
    await press(agent, "Hang up")
    assert await caller.wait(20) == 0, caller.messages()[-3000:]

"""The demo as a user runs it: ``helpline run`` on its embedded defaults
answers SIP on loopback, and a SIPp caller keys through the demo menu's
answers and its callback offer to the demo's toll-free line (SIPp too)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.fixtures.demo import DemoRun
from tests.fixtures.sip import call_ids, caller_scenario, fields

pytestmark = pytest.mark.sip

RELAY = "application/dtmf-relay"


async def test_the_demo_answers_sip_and_reaches_its_toll_free_line_after_both_offers(
    demo_run: DemoRun, tmp_path: Path, sipp: Any, rtp_peer: Any
) -> None:
    process, sip = demo_run.process, demo_run.sip
    media = await rtp_peer()
    # Billing (1) during the welcome, the answers, then the phone line
    # (0), the callback offered once more and declined (2).
    scenario = caller_scenario(
        tmp_path / "demo.xml",
        [
            ("pause", 2000),
            ("info", "Signal=1\nDuration=160", RELAY),
            ("pause", 45000),
            ("info", "Signal=0\nDuration=160", RELAY),
            ("pause", 3000),
            ("info", "Signal=2\nDuration=160", RELAY),
            ("pause", 8000),
            ("bye",),
        ],
        media.port,
    )
    caller = await sipp(str(scenario), f"127.0.0.1:{sip}", timeout_s=90)
    assert await caller.wait(90) == 0, caller.messages()[-3000:]
    url = f"unix://{tmp_path}/redis/redis.sock?db=0"
    with redis.Redis.from_url(url, protocol=2) as client:
        (call_id,) = call_ids(client)
        record = fields(client.hgetall(f"helpline:call:{call_id}"))
    assert record["channel"] == "phone"
    assert record["reason"] == "tollfree", record
    escalation = json.loads(record["escalation"])
    assert escalation["offers"] == ["faq", "callback"]
    assert escalation["node"] == "tollfree"
    trunk_log = (tmp_path / "demo-trunk.log").read_text(errors="replace")
    assert process.poll() is None, trunk_log
    assert media.received[0] > 500  # the menu, the answers, the line

"""Redis dies in the middle of a call: the events a node records while it
is down wait in the node's buffer and reach the stream, in order, once
Redis is back (the switchboard's sweep flushes them). A redis-server of the
test's own, fsync on every write, so the restart itself loses nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.app import ClientFactory, NodeFactory
from tests.fixtures.redis import RedisServer
from tests.test_event_log import VISIT, kinds, logged, ringing


@pytest.fixture
def outage_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", appendfsync="always")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(outage_redis: RedisServer) -> str:
    return outage_redis.url


async def test_events_recorded_while_redis_is_down_reach_the_stream(
    outage_redis: RedisServer,
    helpline_factory: NodeFactory,
    ws_clients: ClientFactory,
) -> None:
    helpline = await helpline_factory()
    bill, ada, call_id = await ringing(helpline, ws_clients, "Bill")
    await bill.send({"type": "call.accept", "call_id": call_id})
    await ada.call_state("answered")

    # Redis dies the moment the hang-up is applied, before its events are
    # written: the node's writes fail (after its retries) and the events
    # wait in memory; the customer is told to try again.
    board = helpline.node.switchboard
    counted = board.observe_state

    def die_on_end(state: str) -> None:
        counted(state)
        if state == "ended":
            outage_redis.kill()

    board.observe_state = die_on_end
    await ada.send({"type": "call.hangup", "id": "h", "call_id": call_id})
    error = await ada.expect("error", within=90)
    assert (error["code"], error["ref"]) == ("unavailable", "h")
    assert await helpline.node.events.flush() == 1  # "ended" waits
    await asyncio.to_thread(outage_redis.start)

    deadline = time.monotonic() + 60
    while helpline.node.events.dropped == 0 and (
        kinds(await logged(helpline, call_id)) != ["queued", "answered", "ended"]
    ):
        assert time.monotonic() < deadline, await logged(helpline, call_id)
        await asyncio.sleep(0.1)
    events = await logged(helpline, call_id)
    assert events[-1]["detail"] == "customer-hangup"
    assert all(e["visit"] == VISIT for e in events)
    assert helpline.node.events.dropped == 0

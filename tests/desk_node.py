"""A node's callback desk as a process of its own, for tests that kill it.

It does for callbacks what a web node's sweep does, and nothing else: it
says it is alive (``Bus.beat``) and takes new requests on as the consumer
named after it (``CallbackStreams.read_new``), printing how many it holds
each time that grows. Run as ``python -m tests.desk_node URL NODE_ID``.
"""

from __future__ import annotations

import asyncio
import sys

from gateway.callbacks import CallbackDesk
from gateway.store import Store, connect
from gateway.switchboard import SWEEP_INTERVAL_S
from signaling.bus import Bus


async def main(url: str, node_id: str) -> None:
    redis = connect(url)
    bus = Bus(redis)
    bus.node_id = node_id
    desk = CallbackDesk(redis, Store.key)
    held = 0
    while True:
        await bus.beat()
        taken = await desk.streams.read_new(node_id)
        if taken:
            held += taken
            print(held, flush=True)
        else:
            await asyncio.sleep(SWEEP_INTERVAL_S)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))

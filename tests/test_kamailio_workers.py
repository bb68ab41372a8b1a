"""Kamailio in front of two of Helpline's own media workers (real
``gateway.media_worker`` processes on one Redis): calls spread over both,
a caller beyond both workers' limits gets 503 from Kamailio, and a SIP
INFO ``application/dtmf`` is rewritten by Kamailio into ``dtmf-relay`` so
the caller gets 200 and the IVR gets the key."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.fixtures.app import RunningHelpline
from tests.fixtures.kamailio import KamailioFactory, kamailio_binary
from tests.fixtures.sip import WorkerProcess, caller_scenario, fields
from tests.sipp import Calls, Sipp
from tests.test_sip_ivr import digits_heard, publish_phone_menu, the_call

pytestmark = [
    pytest.mark.sip,
    pytest.mark.skipif(
        kamailio_binary() is None or shutil.which("sipp") is None,
        reason="kamailio or sipp is not installed (scripts/setup installs them)",
    ),
]


@pytest.fixture
def redis_url(sip_redis_url: str) -> str:
    return sip_redis_url


class Listed:
    """A media worker as the dispatcher list names it."""

    def __init__(self, worker: WorkerProcess) -> None:
        self.worker = worker

    @property
    def uri(self) -> str:
        return f"sip:127.0.0.1:{self.worker.sip_port}"


def in_use(url: str) -> dict[str, int]:
    with redis.Redis.from_url(url, protocol=2) as client:
        return {
            w: int(fields(client.hgetall(f"helpline:worker:{w}")).get("in_use", 0))
            for w in ("w0", "w1")
        }


async def test_two_workers_share_the_calls_and_the_ninth_gets_503(
    helpline: RunningHelpline,
    sip_workers: Any,
    kamailio_factory: KamailioFactory,
    sipp_calls: Sipp,
    redis_url: str,
) -> None:
    await publish_phone_menu(helpline)
    workers = [sip_workers(0), sip_workers(1)]
    edge = kamailio_factory([Listed(w) for w in workers], maxload=4)
    started = sipp_calls.start(
        Calls("uac_rr.xml", edge.target, 9, hold_ms=6000, extra=("-s", "helpline"))
    )
    deadline = time.monotonic() + 15
    while in_use(redis_url) != {"w0": 4, "w1": 4}:
        assert time.monotonic() < deadline, in_use(redis_url)
        await asyncio.sleep(0.2)
    run = await asyncio.to_thread(started.finish)
    assert sorted(run.codes("INVITE")) == [200] * 8 + [503]
    for worker in workers:
        assert worker.stop() == 0


async def test_info_application_dtmf_is_rewritten_for_the_worker(
    helpline: RunningHelpline,
    sip_workers: Any,
    kamailio_factory: KamailioFactory,
    sipp: Any,
    rtp_peer: Any,
    tmp_path: Path,
    redis_url: str,
) -> None:
    await publish_phone_menu(helpline)
    worker = sip_workers()
    edge = kamailio_factory([Listed(worker)], maxload=4)
    media = await rtp_peer()
    scenario = caller_scenario(
        tmp_path / "dtmf.xml",
        [("pause", 1500), ("info", "1", "application/dtmf", 200), ("pause", 500),
         ("bye",)],
        media.port,
    )  # fmt: skip
    run = await sipp(str(scenario), edge.target)
    call_id = await the_call(redis_url)
    assert await run.wait(30) == 0, run.messages()[-3000:]
    await digits_heard(redis_url, call_id, ["1"], within=5)
    assert worker.stop() == 0


async def test_a_call_to_a_full_worker_goes_to_the_other(
    helpline: RunningHelpline,
    sip_workers: Any,
    kamailio_factory: KamailioFactory,
    sipp_calls: Sipp,
    redis_url: str,
) -> None:
    await publish_phone_menu(helpline)
    workers = [sip_workers(0), sip_workers(1)]
    edge = kamailio_factory([Listed(w) for w in workers], maxload=4)
    service = ("-s", "helpline")
    uris = [Listed(w).uri for w in workers]
    # Which worker Kamailio picks when both are idle (call load ties).
    first = await asyncio.to_thread(
        sipp_calls.run, Calls("uac_rr.xml", edge.target, 1, 200, extra=service)
    )
    assert first.codes("INVITE") == [200]
    (line,) = edge.log_lines("call dispatched to worker")
    chosen = next(i for i, uri in enumerate(uris) if uri in line)
    # Four calls straight at it, behind Kamailio's back: it is full.
    direct = f"127.0.0.1:{workers[chosen].sip_port}"
    sipp_calls.start(Calls("uac_rr.xml", direct, 4, 8000, extra=service))
    deadline = time.monotonic() + 10
    while in_use(redis_url)[f"w{chosen}"] != 4:
        assert time.monotonic() < deadline, in_use(redis_url)
        await asyncio.sleep(0.2)
    run = await asyncio.to_thread(
        sipp_calls.run, Calls("uac_rr.xml", edge.target, 1, 1000, extra=service)
    )
    assert run.codes("INVITE") == [200]
    # Kamailio tried the full worker, got 486, and went on to the other.
    assert edge.log_lines(rf"worker {uris[chosen]}\S* answered 486; failing over")
    last = edge.log_lines("call dispatched to worker")[-1]
    assert uris[1 - chosen] in last
    for worker in workers:
        assert worker.stop() == 0

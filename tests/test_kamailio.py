"""Kamailio's dispatcher in front of two SIP workers.

Kamailio 5.6 runs deploy/kamailio/kamailio.cfg on 127.0.0.1 in front of two
workers (the ``worker_launcher`` fixture; today pjsua2 user agents that
answer every call, each holding at most 4 calls), listed with maxload=4.
SIPp calls through it with the scenarios in tests/sipp/, and each test
checks what the callers were answered (SIPp's message trace), what the
workers saw (their reports) and, where the proxy decides, its log.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.kamailio import (
    KAMAILIO_CFG,
    Kamailio,
    KamailioFactory,
    SipWorker,
    WorkerLauncher,
    kamailio_binary,
    sip_exchange,
    sip_request,
    wait_for_report,
    wait_until,
)
from tests.sipp import Calls, SipMessage, Sipp, SippRun

pytestmark = pytest.mark.skipif(
    kamailio_binary() is None or shutil.which("sipp") is None,
    reason="kamailio or sipp is not installed "
    "(scripts/setup installs the Debian packages kamailio and sip-tester)",
)

MAXLOAD = 4
SIP_INFO = 1  # pjsua's PJSUA_DTMF_METHOD_SIP_INFO


@pytest.fixture
def workers(worker_launcher: WorkerLauncher) -> tuple[SipWorker, SipWorker]:
    return worker_launcher(), worker_launcher()


@pytest.fixture
def edge(
    kamailio_factory: KamailioFactory, workers: tuple[SipWorker, SipWorker]
) -> Kamailio:
    return kamailio_factory(workers, maxload=MAXLOAD)


def ended(workers: tuple[SipWorker, ...], calls: int) -> None:
    """Wait until the workers have seen ``calls`` calls end in all."""
    wait_until(
        lambda: sum(w.report().ended for w in workers) == calls,
        f"{calls} calls to end on the workers",
        10.0,
    )


def answers(run: SippRun, method: str) -> dict[int, SipMessage]:
    """Final answers to ``method`` by SIPp call number (Call-ID "N-pid@ip")."""
    return {
        int(call_id.split("-", 1)[0]): message
        for call_id, message in run.final_answers(method).items()
    }


def test_config_parses_with_its_own_defaults() -> None:
    binary = kamailio_binary()
    assert binary is not None
    result = subprocess.run(
        [binary, "-c", "-f", str(KAMAILIO_CFG)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "config file ok" in result.stderr


def test_calls_are_spread_over_both_workers(
    edge: Kamailio, workers: tuple[SipWorker, SipWorker], sipp_calls: Sipp
) -> None:
    run = sipp_calls.run(Calls("uac_rr.xml", edge.target, 4, hold_ms=2000))

    assert run.returncode == 0, run.output
    assert run.codes("INVITE") == [200] * 4
    ended(workers, 4)
    for worker in workers:
        report = worker.report()
        assert (report.incoming, report.confirmed, report.most_active) == (2, 2, 2)


def test_kamailio_answers_503_when_every_worker_is_full(
    edge: Kamailio, workers: tuple[SipWorker, SipWorker], sipp_calls: Sipp
) -> None:
    run = sipp_calls.run(
        Calls("uac_rr.xml", edge.target, 2 * MAXLOAD + 1, hold_ms=3000)
    )

    assert run.returncode == 1, "the refused call counts as failed"
    assert run.codes("INVITE") == [200] * 2 * MAXLOAD + [503]
    (refused,) = [m for m in run.final_answers("INVITE").values() if m.status == 503]
    assert refused.reason == "No worker free"
    assert refused.headers["server"] == "Helpline edge"
    ended(workers, 2 * MAXLOAD)
    for worker in workers:
        report = worker.report()
        assert (report.incoming, report.most_active) == (MAXLOAD, MAXLOAD)
    assert len(edge.log_lines("no worker free")) == 1

    # The BYEs gave the load back: a second round fills both workers again.
    again = sipp_calls.run(Calls("uac_rr.xml", edge.target, 2 * MAXLOAD, hold_ms=1000))
    assert again.returncode == 0, again.output
    assert again.codes("INVITE") == [200] * 2 * MAXLOAD


def test_call_to_a_full_worker_fails_over_to_the_other(
    edge: Kamailio, workers: tuple[SipWorker, SipWorker], sipp_calls: Sipp
) -> None:
    """The full worker holds 4 calls that did not come through Kamailio
    (as after a restart, or with maxload above the worker's real limit), so
    Kamailio still picks it; pjsua answers 486 and the call goes on."""
    full, other = workers
    direct = sipp_calls.start(Calls("uac_rr.xml", f"127.0.0.1:{full.port}", 4, 6000))
    wait_for_report(full, lambda r: r.active == MAXLOAD, "the worker to be full")

    run = sipp_calls.run(Calls("uac_rr.xml", edge.target, 3, hold_ms=1000))

    assert run.returncode == 0, run.output
    assert run.codes("INVITE") == [200] * 3
    # Kamailio's count for the full worker stays 0 (each failover moves the
    # load to the other), so from the second call on it is tried first;
    # every call tried there was answered 486 and failed over.
    full_uri = re.escape(full.uri)
    tried = edge.log_lines(rf"call dispatched to worker {full_uri}$")
    failovers = edge.log_lines(rf"worker {full_uri} answered 486; failing over")
    assert len(tried) >= 2, edge.log()
    assert len(failovers) == len(tried), edge.log()
    ended((other,), 3)
    assert other.report().incoming == 3
    assert full.report().incoming == MAXLOAD, "pjsua refused the rest itself"
    assert direct.finish().returncode == 0


def test_call_refused_by_every_worker_gets_503_and_leaves_no_load(
    edge: Kamailio, workers: tuple[SipWorker, SipWorker], sipp_calls: Sipp
) -> None:
    fillers = [
        sipp_calls.start(Calls("uac_rr.xml", f"127.0.0.1:{w.port}", MAXLOAD, 3000))
        for w in workers
    ]
    for worker in workers:
        wait_for_report(worker, lambda r: r.active == MAXLOAD, "the worker to be full")

    refused = sipp_calls.run(Calls("uac_rr.xml", edge.target, 1))

    assert refused.codes("INVITE") == [503]
    # Each worker was tried once, whichever came first.
    tried = [edge.log_lines(rf"{re.escape(w.uri)} answered 486; ") for w in workers]
    assert [len(lines) for lines in tried] == [1, 1], edge.log()
    outcomes = sorted(lines[0].rsplit("; ", 1)[1] for lines in tried)
    assert outcomes == ["failing over", "no worker left"]
    for filler in fillers:
        assert filler.finish().returncode == 0
    # The refused call's load was dropped: both workers take 4 calls again.
    again = sipp_calls.run(Calls("uac_rr.xml", edge.target, 2 * MAXLOAD, hold_ms=1000))
    assert again.codes("INVITE") == [200] * 2 * MAXLOAD


def test_cancelled_calls_give_their_load_back(
    worker_launcher: WorkerLauncher, kamailio_factory: KamailioFactory, sipp_calls: Sipp
) -> None:
    ringing = (worker_launcher(ring_ms=1000), worker_launcher(ring_ms=1000))
    edge = kamailio_factory(ringing, maxload=MAXLOAD)

    cancelled = sipp_calls.run(Calls("uac_cancel.xml", edge.target, 2 * MAXLOAD))

    assert cancelled.returncode == 0, cancelled.output
    assert cancelled.codes("INVITE") == [487] * 2 * MAXLOAD
    ended(ringing, 2 * MAXLOAD)
    assert [w.report().confirmed for w in ringing] == [0, 0]
    again = sipp_calls.run(Calls("uac_rr.xml", edge.target, 2 * MAXLOAD, hold_ms=500))
    assert again.codes("INVITE") == [200] * 2 * MAXLOAD


def test_dtmf_info_reaches_the_worker_as_dtmf_relay(
    edge: Kamailio,
    workers: tuple[SipWorker, SipWorker],
    sipp_calls: Sipp,
    tmp_path: Path,
) -> None:
    # One line per call; field0 is a placeholder because SIPp skips lines
    # that start with "#".
    sent = ["7", "#", "*", "b", "12", "x"]
    injection = tmp_path / "digits.csv"
    injection.write_text("SEQUENTIAL\n" + "".join(f"d;{d};\n" for d in sent))
    extra = ("-inf", str(injection))

    run = sipp_calls.run(
        Calls("uac_info_dtmf.xml", edge.target, len(sent), extra=extra)
    )

    assert run.returncode == 0, run.output
    codes = {n: m.status for n, m in answers(run, "INFO").items()}
    assert codes == {1: 200, 2: 200, 3: 200, 4: 200, 5: 400, 6: 400}
    ended(workers, len(sent))
    reports = [w.report() for w in workers]
    relayed = "7#*B"
    infos = sorted((i.content_type, i.body) for r in reports for i in r.infos)
    assert infos == sorted(
        ("application/dtmf-relay", f"Signal={d}\r\nDuration=160\r\n") for d in relayed
    )
    digits = sorted((d.digit, d.method) for r in reports for d in r.digits)
    assert digits == sorted((d, SIP_INFO) for d in relayed)


def test_refer_from_a_caller_is_refused(
    edge: Kamailio, workers: tuple[SipWorker, SipWorker], sipp_calls: Sipp
) -> None:
    run = sipp_calls.run(Calls("uac_refer.xml", edge.target, 1))

    assert run.returncode == 0, run.output
    (refused,) = run.final_answers("REFER").values()
    assert (refused.status, refused.reason) == (403, "Transfer not allowed")
    assert refused.headers["server"] == "Helpline edge"
    ended(workers, 1)  # the dialog went on: the BYE after the REFER got through
    assert sum(w.report().transfers for w in workers) == 0


def test_worker_that_stops_answering_probes_gets_no_calls(
    edge: Kamailio, workers: tuple[SipWorker, SipWorker], sipp_calls: Sipp
) -> None:
    alive, gone = workers
    gone.stop()
    down = rf"worker {re.escape(gone.uri)} stopped answering probes"
    wait_until(lambda: bool(edge.log_lines(down)), "the probes to mark it down", 10)

    run = sipp_calls.run(Calls("uac_rr.xml", edge.target, MAXLOAD, hold_ms=1000))

    assert run.returncode == 0, run.output
    assert run.codes("INVITE") == [200] * MAXLOAD
    ended((alive,), MAXLOAD)
    assert alive.report().incoming == MAXLOAD
    assert not edge.log_lines("failing over|did not answer"), edge.log()


def test_max_forwards_zero_is_refused(edge: Kamailio) -> None:
    uri = f"sip:service@{edge.target}"
    request = sip_request("INVITE", edge.port, uri, max_forwards=0)

    answer = sip_exchange(edge.port, request)

    assert answer.startswith("SIP/2.0 483 Too Many Hops"), answer

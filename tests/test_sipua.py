"""The pjsua2 user agent that stands in for a media worker (tests/sipua.py).

Its shutdown follows docs/sip-notes.md section 1; a mistake there aborts
the process (exit 134) instead of exiting 0, so the exit code is the check.
"""

from __future__ import annotations

import shutil

import pytest

from tests.fixtures.kamailio import WorkerLauncher, wait_for_report
from tests.sipp import Calls, Sipp

pytestmark = pytest.mark.skipif(
    shutil.which("sipp") is None,
    reason="sipp is not installed (scripts/setup installs sip-tester)",
)


def test_stops_cleanly_with_calls_up(
    worker_launcher: WorkerLauncher, sipp_calls: Sipp
) -> None:
    worker = worker_launcher()
    callers = sipp_calls.start(
        Calls("uac_rr.xml", f"127.0.0.1:{worker.port}", 4, 20000)
    )
    wait_for_report(worker, lambda r: r.active == 4, "4 calls to be up")

    worker.stop()  # fails unless the process exits 0

    report = worker.report()
    assert (report.confirmed, report.ended, report.active) == (4, 4, 0)
    # The callers' calls were hung up by the worker, not by themselves.
    run = callers.finish()
    byes = [m for m in run.messages if m.received and m.start_line.startswith("BYE ")]
    assert len({m.call_id for m in byes}) == 4


def test_fifth_call_is_refused_by_pjsua(
    worker_launcher: WorkerLauncher, sipp_calls: Sipp
) -> None:
    worker = worker_launcher()

    run = sipp_calls.run(Calls("uac_rr.xml", f"127.0.0.1:{worker.port}", 5, 2000))

    assert run.codes("INVITE") == [200] * 4 + [486]
    assert worker.report().incoming == 4, "the fifth never reached the account"

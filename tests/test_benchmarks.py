"""The benchmarks still run: a quick pass of each, as a real process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.ivr_walks import EVENTS_PER_WALK
from benchmarks.sip_calls import DIGITS_PER_CALL
from tests.fixtures.network import loopback_only

REPO = Path(__file__).resolve().parent.parent


def quick_run(
    module: str, out: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m module --quick --json out``; fail with its output."""
    done = subprocess.run(
        [sys.executable, "-m", module, "--quick", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_signaling_benchmark_quick_run(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = quick_run("benchmarks.signaling", out, timeout=90)

    results = json.loads(out.read_text())
    assert [r["workers"] for r in results] == [1, 2]
    for result in results:
        assert result["nodes"] == result["workers"]
        held = result["sessions"][-1]
        assert held["held"] == held["target"] > 0
        assert result["setups"]["completed"] > 0
        assert result["setups"]["place_to_answered"]["count"] > 0
        assert result["relay"]["relayed"] > 0
    assert "| workers | sessions held | set-ups/s" in done.stdout


def test_faq_search_benchmark_quick_run(tmp_path: Path) -> None:
    out = tmp_path / "faq.json"
    done = quick_run("benchmarks.faq_search", out, timeout=60)

    result = json.loads(out.read_text())
    assert result["entries"] == 500
    for name in ("index", "naive"):
        assert result[name]["searches"] > 0
        assert result[name]["per_second"] > 0
    assert result["ratio"] > 0
    assert "| index |" in done.stdout and "index / naive: x" in done.stdout


def test_dtmf_benchmark_quick_run(tmp_path: Path) -> None:
    out = tmp_path / "dtmf.json"
    done = quick_run("benchmarks.dtmf", out, timeout=60)

    result = json.loads(out.read_text())
    inband = result["inband"]
    assert list(inband) == ["silence", "white noise", "digits"]
    assert inband["silence"]["detector"]["digits"] == ""
    assert inband["white noise"]["detector"]["digits"] == ""
    assert inband["digits"]["detector"]["digits"].startswith("1234567890*#" * 2)
    for r in inband.values():
        assert r["detector"]["cpu_ms_per_audio_s"] > 0 and r["ratio"] > 0
    assert result["events"]["rtp_packet_us"] > 0
    assert "| white noise | 0 |" in done.stdout


def test_ivr_benchmark_quick_run(tmp_path: Path) -> None:
    out = tmp_path / "ivr.json"
    done = quick_run("benchmarks.ivr", out, timeout=90)

    result = json.loads(out.read_text())
    replays = result["in_process"]
    assert [r["length"] for r in replays] == [10, 50, 200, 1000]
    for r in replays:
        assert r["runs"] >= 20
        assert r["replay_path"]["p50_us"] > r["in_memory"]["p50_us"] > 0
    # Each event replays the log before it: the cost grows with the log.
    assert replays[-1]["replay_path"]["cpu_us"] > replays[0]["replay_path"]["cpu_us"]
    assert result["whole_call"]["replayed_cpu_s"] > 0

    cells = result["through_redis"]
    assert [(c["length"], c["concurrency"]) for c in cells] == [
        (10, 1),
        (10, 50),
        (200, 1),
        (200, 50),
    ]
    for c in cells:
        assert c["events"] > 0 and c["per_second"] > 0
        for name in ("hgetall", "lrange", "evalsha"):
            assert c["round_trips"][name] == 1
        assert c["in_script"] == {"expire": 1, "llen": 1, "rpush": 1}
    assert "| log length | calls at once | events/s" in done.stdout
    check_walks(result["end_to_end"])
    assert "| workers | walks/s | requests/s (events/s)" in done.stdout


def check_walks(results: list[dict[str, Any]]) -> None:
    """Phase 3: pages walked the demo menu on a real Helpline, open path."""
    assert [r["workers"] for r in results] == [1, 2]
    for r in results:
        assert r["nodes"] == r["workers"]
        assert r["alone"]["request_to_event"]["count"] > 0
        run = r["walks"]
        walks = run["walks"]
        assert walks > 0 and run["failures"] == {}
        # welcome -> billing answers (two FAQ prompts) -> billing-next ->
        # callback form -> goodbye: the page's requests and the call's log.
        assert run["requests"] == {
            "ivr.prompt_done": 8 * walks,
            "ivr.digit": 2 * walks,
            "ivr.callback": walks,
        }
        assert run["events"] == EVENTS_PER_WALK * walks
        assert run["request_to_event"]["count"] == 8 * walks
        assert run["helpline_cpu_ms_per_walk"] > 0
        assert run["redis_commands_per_event"] > 0
        # Only the session's grace timer outlives a walk: the IVR takes its
        # own out when the call ends.
        assert run["timers_left_per_walk"].get("ivr", 0) == 0
    # One node keeps every call's interpreter: its only LRANGE is the
    # start's, of an empty log.
    assert results[0]["walks"]["lrange_per_walk"] == 1.0
    assert results[0]["walks"]["replays"] == 0


@pytest.mark.sip
@pytest.mark.timeout(320)
def test_sip_ivr_benchmark_quick_run(tmp_path: Path) -> None:
    out = tmp_path / "sip.json"
    done = quick_run("benchmarks.sip_ivr", out, timeout=300)

    results = json.loads(out.read_text())
    assert [r["workers"] for r in results] == [1, 2]
    for result in results:
        assert not result["restarted"]
        levels = result["levels"]
        assert [r["dtmf"] for r in levels] == ["info", "rfc4733"]
        for r in levels:
            calls = r["successful"]
            assert r["failed"] == 0 and calls == r["created"] == r["calls"] > 0
            # Every key SIPp sent reached a worker and the call's IVR log,
            # and each call's keys are its own whole walk.
            sent = DIGITS_PER_CALL * calls
            assert r["digits_sent"] == r["digits_at_workers"] == sent
            assert r["digits_logged"] == sent
            assert r["whole_walks"] == r["callbacks"] == calls
            assert r["numbers_match"] and r["trouble"] == {}
            assert r["worker_cpu_ms_per_call"] > 0 and r["rss_mb_per_worker"] > 0
        base = result["baseline"]
        assert base["successful"] == base["calls"] > 0 and base["failed"] == 0
    assert "| workers | keys | calls at once (peak)" in done.stdout
    assert "a SIPp UAS" in done.stdout and "beyond idle" in done.stdout


def janus_missing() -> str:
    """Why the Janus benchmark cannot run here; empty when it can."""
    if shutil.which("janus") is None:
        return "janus is not installed (scripts/setup installs the Debian package)"
    if shutil.which("gcc") is None:
        return "gcc is not installed (scripts/setup installs it)"
    if not loopback_only():
        return "Janus runs only in a network namespace with only lo (scripts/test)"
    return ""


@pytest.mark.sip
@pytest.mark.timeout(200)
@pytest.mark.skipif(bool(janus_missing()), reason=janus_missing() or "-")
def test_janus_sip_benchmark_quick_run(tmp_path: Path) -> None:
    out = tmp_path / "janus.json"
    done = quick_run("benchmarks.janus_sip", out, timeout=180)

    result = json.loads(out.read_text())
    levels = result["levels"]
    assert [r["calls"] for r in levels] == [1, 2]
    for r in levels:
        # The SIP side is G.711: Janus answered the peer with PCMU.
        assert r["codecs"] == ["PCMU/8000"]
        # The tone went out through Janus to SIPp's echo and came back.
        expected = r["expected_frames_per_call"]
        assert expected > 0 and min(r["loud_frames_per_call"]) >= 0.8 * expected
        assert r["janus_cpu_s"] > 0 and r["janus_cpu_ms_per_call_s"] > 0
        assert r["hung_up"] == r["calls"]
    assert result["sipp"] == {"byes": 3, "calls": 3}
    assert "| calls | window | Janus CPU per call-second (beyond" in done.stdout


@pytest.mark.sip
@pytest.mark.timeout(320)
def test_bridge_benchmark_quick_run(tmp_path: Path) -> None:
    out = tmp_path / "bridge.json"
    done = quick_run("benchmarks.bridge", out, timeout=300)

    result = json.loads(out.read_text())
    for key, codec in (("pcmu", "pcmu"), ("opus", "opus"), ("long_road", "pcmu")):
        r = result[key]
        # Every call was put through, carried audio both ways and closed.
        assert r["log"]["closed"] == r["calls"] > 0
        assert r["log"]["codecs"] == [codec]
        assert r["packets_back_per_call_s"] > 40
        assert r["cpu_per_call_s"] > 0
    assert result["pcmu"]["log"]["passed_through"] == result["pcmu"]["calls"]
    assert result["long_road"]["log"]["passed_through"] == 0
    # The bursts came back through the line's echo on both PCMU legs.
    for key in ("pcmu", "long_road"):
        trip = result[key]["round_trip_ms"]
        assert trip["count"] > 0 and 0 < trip["p50"] < 1000
    levels = result["ramp"]["levels"]
    assert levels and levels[0]["calls"] == 4
    assert "| PCMU, passthrough |" in done.stdout and "ramp:" in done.stdout


def test_reports_benchmark_quick_run(tmp_path: Path) -> None:
    out = tmp_path / "reports.json"
    done = quick_run("benchmarks.reports", out, timeout=90)

    result = json.loads(out.read_text())
    fold = result["in_process"]
    assert fold["events"] >= 2000 and fold["fold_per_s"] > 0 and fold["ratio"] > 0
    redis = result["redis"]
    assert redis["read"] == fold["events"]
    assert 0 < redis["interactions"] < redis["read"]
    assert redis["record_per_s"] > 0 and redis["report_ratio"] > 0
    assert "| fold (Books) |" in done.stdout

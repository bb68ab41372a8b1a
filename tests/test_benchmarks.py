"""The benchmarks still run: a quick pass of each, as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


def test_ivr_benchmark_quick_run(tmp_path: Path) -> None:
    out = tmp_path / "ivr.json"
    done = quick_run("benchmarks.ivr", out, timeout=60)

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

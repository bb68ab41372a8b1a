"""The media workers' shared WAVs (hold music, silence, ringback): made
once on a fresh data folder, even when every worker starts at once."""

from __future__ import annotations

import multiprocessing
import wave
from multiprocessing.synchronize import Barrier
from pathlib import Path

from gateway.media_worker import media_files

WORKERS = 6


def make_after(barrier: Barrier, folder: Path) -> None:
    barrier.wait(10)
    media_files(folder)


def test_workers_starting_together_all_get_the_files(tmp_path: Path) -> None:
    folder = tmp_path / "sip"
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(WORKERS)
    workers = [
        context.Process(target=make_after, args=(barrier, folder))
        for _ in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert [w.exitcode for w in workers] == [0] * WORKERS
    made = sorted(p.name for p in folder.iterdir())
    assert made == ["hold.8k.wav", "ringback.8k.wav", "silence.8k.wav"]
    with wave.open(str(folder / "silence.8k.wav"), "rb") as silence:
        assert (silence.getframerate(), silence.getnframes()) == (8000, 8000)

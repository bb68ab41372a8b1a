"""The supervisor's pool of media workers: start, watch, restart, drain.

Each media worker is a process of its own (``gateway.media_worker``), since
the pjsua2 library holds a handful of calls per process. The pool starts
them, restarts one that exits unasked (after a short, growing pause, so a
worker that cannot start does not spin), and on shutdown sends every
worker SIGTERM and waits for it to hang up its calls and destroy its
endpoint. A restarted worker ends, on the Helpline side, the calls its
predecessor left behind.

In the demo, with no toll-free line configured, the pool also runs SIPp as
a stand-in for the trunk and the toll-free line: it answers, and echoes
the caller's audio back.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import replace
from multiprocessing.process import BaseProcess
from typing import Final

from gateway.config import Settings
from gateway.logs import setup_logging

logger = logging.getLogger(__name__)

RESTART_PAUSE_S: Final = (0.5, 1.0, 2.0, 5.0, 10.0)
#: A worker that ran this long before it died starts the pauses again.
STABLE_S: Final = 30.0
STOP_WAIT_S: Final = 15.0
DEMO_TRUNK_PORT_OFFSET: Final = 90  # the demo trunk listens on sip port + 90
DEMO_TOLLFREE_USER: Final = "+18005550100"
#: Where the demo sends callback numbers (through its SIPp trunk).
DEMO_TRUNK_DOMAIN: Final = "trunk.example.net"


def _run(settings: Settings, url: str, index: int) -> None:
    import asyncio

    from gateway.app import pin_to_core
    from gateway.media_worker import run_worker

    pin_to_core(index)
    setup_logging(settings.log_level, settings.log_format, digits=settings.log_digits)
    asyncio.run(run_worker(settings, url, index, parent=os.getppid()))


class MediaPool:
    """Runs ``settings.sip_workers`` media workers until `stop`."""

    def __init__(self, settings: Settings, url: str) -> None:
        self.settings = settings
        self.url = url
        self._context = multiprocessing.get_context("spawn")
        self._workers: dict[int, BaseProcess] = {}
        self._started: dict[int, float] = {}
        self._failures: dict[int, int] = {}
        self._stopping = threading.Event()
        self._watch: threading.Thread | None = None
        self._trunk: subprocess.Popen[bytes] | None = None

    def start(self) -> Settings:
        """Start the workers (and the demo trunk); the settings they run
        with (the demo's toll-free URI filled in)."""
        self.settings = self._with_demo_trunk(self.settings)
        for index in range(self.settings.sip_workers):
            self._spawn(index)
        self._watch = threading.Thread(
            target=self._watch_forever, name="media-pool", daemon=True
        )
        self._watch.start()
        return self.settings

    def stop(self) -> None:
        self._stopping.set()
        if self._watch is not None:
            self._watch.join()
        for process in self._workers.values():
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
        for index, process in self._workers.items():
            process.join(STOP_WAIT_S)
            if process.is_alive():
                logger.error("media worker w%d did not stop; killed", index)
                process.kill()
                process.join()
        if self._trunk is not None:
            self._trunk.terminate()
            try:
                self._trunk.wait(5)
            except subprocess.TimeoutExpired:
                self._trunk.kill()
                self._trunk.wait()

    def describe(self) -> str:
        """One line for the banner: where phones call."""
        if not self.settings.sip_workers:
            return "SIP is off (sip.workers = 0)"
        first = self.settings.sip_port
        ports = ", ".join(str(first + 2 * i) for i in range(self.settings.sip_workers))
        line = (
            f"phones call sip:{self.settings.sip_numbers[0]}@"
            f"{self.settings.sip_host}:{first} ({self.settings.sip_workers} media "
            f"worker(s) on port(s) {ports})"
        )
        if self._trunk is not None:
            line += f"; demo toll-free line {self.settings.tollfree_uri} (SIPp)"
        return line

    def _spawn(self, index: int) -> None:
        process = self._context.Process(
            target=_run,
            args=(self.settings, self.url, index),
            name=f"helpline-media-{index}",
        )
        process.start()
        self._workers[index] = process
        self._started[index] = time.monotonic()

    def _watch_forever(self) -> None:
        while not self._stopping.wait(0.5):
            for index, process in list(self._workers.items()):
                if process.is_alive() or self._stopping.is_set():
                    continue
                ran = time.monotonic() - self._started[index]
                failures = 0 if ran > STABLE_S else self._failures.get(index, 0)
                pause = RESTART_PAUSE_S[min(failures, len(RESTART_PAUSE_S) - 1)]
                self._failures[index] = failures + 1
                logger.error(
                    "media worker w%d exited (%s) after %.1f s; restart in %.1f s",
                    index,
                    process.exitcode,
                    ran,
                    pause,
                )
                if self._stopping.wait(pause):
                    return
                self._spawn(index)

    def _with_demo_trunk(self, settings: Settings) -> Settings:
        if not settings.demo or settings.tollfree_uri or not settings.sip_workers:
            return settings
        sipp = shutil.which("sipp")
        if sipp is None:
            logger.warning("no sipp: the demo runs without a toll-free line")
            return settings
        port = settings.sip_port + DEMO_TRUNK_PORT_OFFSET
        host = settings.sip_host
        log = settings.data_dir / "demo-trunk.log"
        with log.open("ab") as out:
            self._trunk = subprocess.Popen(
                [
                    sipp,
                    "-sn",
                    "uas",
                    "-i",
                    host,
                    "-p",
                    str(port),
                    "-mi",
                    host,
                    "-rtp_echo",
                    "-nostdin",
                    "-nr",
                ],  # fmt: skip
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=settings.data_dir,
            )
        uri = f"sip:{DEMO_TOLLFREE_USER}@{host}:{port}"
        # The same SIPp is the trunk for callbacks: numbers go to a
        # fictional termination domain through it as the outbound proxy.
        return replace(
            settings,
            tollfree_uri=uri,
            trunk_proxy=settings.trunk_proxy or f"sip:{host}:{port};lr",
            trunk_domain=settings.trunk_domain or DEMO_TRUNK_DOMAIN,
        )

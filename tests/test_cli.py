"""The ``helpline`` command, run in-process and as a real process."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import pty
import select
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from gateway.accounts import Accounts, User
from gateway.cli import main
from gateway.config import SPECS, Settings
from gateway.store import open_store, start_embedded
from tests.fixtures.redis import free_tcp_port

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No HELPLINE_* setting leaks in from the shell that runs the suite, and
    no log handler that ``main`` installs outlives the test."""
    for name in list(os.environ):
        if name.startswith("HELPLINE_") and not name.startswith("HELPLINE_TEST_"):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


def child_env(**settings: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HELPLINE_") or k.startswith("HELPLINE_TEST_")
    }
    # No media worker unless a test asks: SIP tests choose free ports.
    return env | {"HELPLINE_SIP_WORKERS": "0"} | settings


def helpline(
    *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    """``python -m gateway ARGS`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=REPO,
        env=child_env(**env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def verify(settings: Settings, username: str, password: str) -> User | None:
    async def check() -> User | None:
        store = await open_store(settings)
        try:
            return await Accounts(store).verify(username, password)
        finally:
            await store.close()

    return asyncio.run(check())


def test_help_explains_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["run", "--help"], ["check-config", "--help"]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 0
        out = capsys.readouterr().out
        for spec in SPECS:
            assert spec.env in out and spec.toml in out


def test_subcommand_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    for option in (
        "--config FILE",
        "--data-dir DIR",
        "--http HOST:PORT",
        "--workers N",
    ):
        assert option in out
    with pytest.raises(SystemExit):
        main(["add-user", "--help"])
    out = capsys.readouterr().out
    assert "--role {agent,operator}" in out and "--password-stdin" in out


def test_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "run" in capsys.readouterr().err


def test_check_config_prints_settings_with_secrets_masked(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "helpline.toml"
    config.write_text('[turn]\nurls = "turn:t.example"\nsecret = "s3cr3t-value"\n')
    monkeypatch.setenv("HELPLINE_REDIS_URL", "redis://:pa55@127.0.0.1:6390/0")
    monkeypatch.setenv("HELPLINE_WORKERZ", "2")

    assert main(["check-config", "--config", str(config), "--workers", "3"]) == 0
    out, err = capsys.readouterr()
    assert f"config file: {config}" in out
    assert "s3cr3t-value" not in out and "pa55" not in out
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(rows) == {spec.toml for spec in SPECS}
    assert rows["turn.secret"].split()[1:] == ["********", "(file)"]
    assert rows["http.workers"].split()[1:] == ["3", "(command", "line)"]
    assert rows["redis.url"].split()[2] == "(env)"
    assert rows["routing.ring_timeout_s"].split()[1:] == ["15", "(default)"]
    assert "HELPLINE_WORKERZ is not a Helpline setting" in err


def test_config_file_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "helpline.toml"
    config.write_text("[routing]\nring_timeout_s = 25\n")
    monkeypatch.setenv("HELPLINE_CONFIG", str(config))
    assert main(["check-config"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["routing.ring_timeout_s", "25", "(file)"] in rows


@pytest.mark.parametrize(
    ("argv", "env", "says"),
    [
        (["check-config"], {"HELPLINE_HTTP": "localhost"},
         "helpline: error: HELPLINE_HTTP='localhost' is not HOST:PORT; "
         "write it like 127.0.0.1:8080"),
        (["check-config", "--workers", "0"], {}, "--workers '0' is out of range"),
        (["run", "--http", "nowhere"], {}, "--http 'nowhere' is not HOST:PORT"),
        (["check-config", "--config", "/nonexistent.toml"], {},
         "cannot read config file /nonexistent.toml"),
        (["add-user", "Bad Name", "--role", "agent"], {}, "username"),
        (["check-config"], {"HELPLINE_TTS_VOICE": "klingon-x"},
         "HELPLINE_TTS_VOICE='klingon-x' is not a voice espeak-ng has"),
        (["run", "--http", "127.0.0.1:0"], {"HELPLINE_TTS_VOICE": "klingon-x"},
         "choose one that espeak-ng --voices lists"),
    ],
)  # fmt: skip
def test_mistakes_exit_2_without_a_traceback(
    argv: list[str], env: dict[str, str], says: str
) -> None:
    done = helpline(*argv, **env)
    assert done.returncode == 2
    assert says in done.stderr
    assert done.stderr.startswith("helpline: error: ")
    assert "Traceback" not in done.stderr


def test_run_with_an_unreachable_redis_exits_1() -> None:
    url = f"redis://127.0.0.1:{free_tcp_port()}/0"
    done = helpline("run", "--http", "127.0.0.1:0", HELPLINE_REDIS_URL=url)
    assert done.returncode == 1
    assert f"helpline: error: cannot reach Redis at {url}" in done.stderr
    assert "HELPLINE_REDIS_URL" in done.stderr and "Traceback" not in done.stderr


def test_add_user_from_stdin_into_the_embedded_redis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = helpline(
        "add-user", "grace", "--role", "agent", "--name", "Grace H.",
        "--password-stdin", "--data-dir", str(tmp_path),
        stdin="long enough password\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "user grace (agent) saved" in done.stdout

    user = verify(Settings(data_dir=tmp_path), "grace", "long enough password")
    assert user is not None and user.name == "Grace H." and user.role == "agent"


def test_add_user_into_an_external_redis(
    redis_server_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HELPLINE_REDIS_URL", redis_server_url)
    monkeypatch.setattr(sys, "stdin", io.StringIO("op-password-1\r\n"))
    code = main(["add-user", "olive", "--role", "operator", "--password-stdin"])
    assert code == 0, capsys.readouterr().err
    user = verify(Settings(redis_url=redis_server_url), "olive", "op-password-1")
    assert user is not None and user.role == "operator" and user.name == "olive"


def test_add_user_while_helpline_runs(tmp_path: Path) -> None:
    """The embedded Redis of a running Helpline is used, not restarted."""
    running = start_embedded(tmp_path)
    try:
        done = helpline(
            "add-user", "ada", "--role", "agent", "--password-stdin",
            "--data-dir", str(tmp_path), stdin="password-for-ada\n",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert running.process is not None and running.process.poll() is None
        user = verify(Settings(data_dir=tmp_path), "ada", "password-for-ada")
        assert user is not None
    finally:
        running.stop()


def test_add_user_short_password(tmp_path: Path) -> None:
    done = helpline(
        "add-user", "ada", "--role", "agent", "--password-stdin",
        "--data-dir", str(tmp_path), stdin="short\n",
    )  # fmt: skip
    assert done.returncode == 2 and "password is 8 to" in done.stderr
    assert not (tmp_path / "redis").exists()  # refused before touching Redis


class Terminal:
    """``python -m gateway ARGS`` on a pseudo-terminal, as a person runs it."""

    def __init__(self, *args: str, **env: str) -> None:
        argv = [sys.executable, "-m", "gateway", *args]
        environment = child_env(**env)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: becomes the command
            os.chdir(REPO)
            os.execve(sys.executable, argv, environment)
        self.seen = b""

    def expect(self, text: str, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while text.encode() not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} in {self.seen!r}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                self.seen += os.read(self.fd, 4096)

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\n")

    def exit_code(self) -> int:
        try:
            while chunk := os.read(self.fd, 4096):
                self.seen += chunk
        except OSError:  # EIO once the child has closed the terminal
            pass
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


def test_add_user_asks_twice_on_a_terminal(redis_server_url: str) -> None:
    term = Terminal("add-user", "tess", "--role", "agent",
                    HELPLINE_REDIS_URL=redis_server_url)  # fmt: skip
    term.expect("Password: ")
    term.type("terminal-pass")
    term.expect("Password again: ")
    term.type("terminal-pass")
    assert term.exit_code() == 0
    assert b"terminal-pass" not in term.seen  # no echo
    user = verify(Settings(redis_url=redis_server_url), "tess", "terminal-pass")
    assert user is not None


def test_add_user_refuses_two_different_passwords(redis_server_url: str) -> None:
    term = Terminal("add-user", "tess2", "--role", "agent",
                    HELPLINE_REDIS_URL=redis_server_url)  # fmt: skip
    term.expect("Password: ")
    term.type("first-password")
    term.expect("Password again: ")
    term.type("other-password")
    assert term.exit_code() == 2
    assert b"the two passwords differ" in term.seen


def test_run_serves_until_sigterm(tmp_path: Path) -> None:
    port = free_tcp_port()
    process = start_run(tmp_path, port)
    try:
        body = _get_when_up(f"http://127.0.0.1:{port}/healthz", process)
        assert b"embedded" in body
        search = f"http://127.0.0.1:{port}/api/faq/search?q=return+label"
        with urllib.request.urlopen(search, timeout=5) as response:
            results = json.loads(response.read())["results"]
        assert results[0]["id"] == "faq-returns-label"  # the demo FAQ is seeded
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            pytest.fail(f"helpline run ignored SIGTERM; it said:\n{err.decode()}")
    assert process.returncode == 0, err.decode()
    assert not (tmp_path / "redis" / "redis.sock").exists()  # Redis stopped too
    assert b"demo content seeded; callers get menu northwind-main v1" in out
    assert f"127.0.0.1:{port}/console".encode() in out


def start_run(data: Path, port: int, **env: str) -> subprocess.Popen[bytes]:
    """``helpline run`` as a real process on a loopback port."""
    return subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", "--data-dir", str(data),
         "--http", f"127.0.0.1:{port}"],
        cwd=REPO, env=child_env(**env),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _get_when_up(url: str, process: subprocess.Popen[bytes]) -> bytes:
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, "helpline run exited early"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                body: bytes = response.read()
                return body
        except OSError:
            assert time.monotonic() < deadline, f"{url} never answered"
            time.sleep(0.1)


async def test_sigterm_closes_open_sockets_and_exits_at_once(tmp_path: Path) -> None:
    port = free_tcp_port()
    process = await asyncio.to_thread(start_run, tmp_path, port, HELPLINE_DEMO="0")
    try:
        health = f"http://127.0.0.1:{port}/healthz"
        await asyncio.to_thread(_get_when_up, health, process)
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"ws://127.0.0.1:{port}/ws")
            await ws.send_json({"type": "hello", "v": 1, "role": "customer"})
            assert (await ws.receive_json(timeout=5))["type"] == "welcome"

            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            closed = await ws.receive(timeout=10)
            assert closed.type == aiohttp.WSMsgType.CLOSE
            assert closed.data == aiohttp.WSCloseCode.GOING_AWAY
        returncode = await asyncio.to_thread(process.wait, 10)
        assert returncode == 0
        assert time.monotonic() - started < 5  # not the heartbeat's timeout
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()

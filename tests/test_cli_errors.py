"""Mistakes a new user makes with the command, each with a clear refusal."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

HELPLINE = [sys.executable, "-m", "gateway"]


async def run(*args: str, stdin: int | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *HELPLINE,
        *args,
        stdin=stdin,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_run_on_a_busy_port_stops_with_the_setting_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, output = await run(
            "run",
            "--http",
            f"127.0.0.1:{port}",
            "--data-dir",
            str(tmp_path),
            stdin=asyncio.subprocess.DEVNULL,
        )
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in output
    assert "Traceback" not in output
    assert "embedded Redis stopped" in output  # nothing left running


async def test_add_user_without_a_terminal_says_how(tmp_path: Path) -> None:
    code, output = await run(
        "add-user",
        "alice",
        "--role",
        "agent",
        "--data-dir",
        str(tmp_path),
        stdin=asyncio.subprocess.DEVNULL,
    )
    assert code == 2
    assert "--password-stdin" in output
    assert "Traceback" not in output

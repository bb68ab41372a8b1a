"""SIPp as the caller in tests: run a scenario, read its message trace.

SIPp's exit code only says whether every call reached the end of its
scenario. What each call was answered is read from the trace SIPp writes
with ``-trace_msg``: one block per message sent or received, each opened by
a line of dashes and a line such as ``UDP message received [300] bytes :``.
The scenarios live in tests/sipp/.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SCENARIOS = Path(__file__).resolve().parent / "sipp"
BLOCK_RULE = "-" * 40


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class SipMessage:
    """One SIP message of a trace, as SIPp sent or received it."""

    received: bool
    start_line: str
    headers: dict[str, str]
    body: str

    @property
    def status(self) -> int | None:
        """The response's status code; None for a request."""
        if not self.start_line.startswith("SIP/2.0 "):
            return None
        return int(self.start_line.split()[1])

    @property
    def reason(self) -> str:
        return self.start_line.split(" ", 2)[2] if self.status else ""

    @property
    def cseq_method(self) -> str:
        return self.headers.get("cseq", "").split()[-1]

    @property
    def call_id(self) -> str:
        return self.headers.get("call-id", "")


def parse_message(text: str, received: bool) -> SipMessage:
    head, _, body = text.partition("\n\n")
    lines = head.splitlines()
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return SipMessage(received, lines[0], headers, body)


def parse_trace(text: str) -> list[SipMessage]:
    """Every message sent or received, in order; SIPp's repeated copies of
    unexpected messages are left out."""
    messages = []
    for block in text.split("\n" + BLOCK_RULE)[1:]:
        lines = block.split("\n", 2)
        if len(lines) < 3:
            continue
        what = lines[1]
        if " message received " in what or " message sent " in what:
            content = lines[2].strip("\n").replace("\r\n", "\n")
            messages.append(parse_message(content, " received " in what))
    return messages


@dataclass(frozen=True)
class SippRun:
    """A finished SIPp process and the messages it exchanged."""

    returncode: int
    messages: list[SipMessage]
    output: str

    def final_answers(self, method: str) -> dict[str, SipMessage]:
        """The first final response received per Call-ID to ``method``."""
        answers: dict[str, SipMessage] = {}
        for message in self.messages:
            if (
                message.received
                and (message.status or 0) >= 200
                and message.cseq_method == method
            ):
                answers.setdefault(message.call_id, message)
        return answers

    def codes(self, method: str) -> list[int]:
        """The final status codes to ``method``, sorted."""
        return sorted(m.status or 0 for m in self.final_answers(method).values())


def sipp_binary() -> str:
    binary = shutil.which("sipp")
    if binary is None:
        pytest.skip("sipp is not installed (scripts/setup installs sip-tester)")
    return binary


@dataclass(frozen=True)
class Calls:
    """What one SIPp run does: ``count`` calls of ``scenario`` to ``target``,
    all at once (at ``rate`` per second), each held ``hold_ms``."""

    scenario: str
    target: str
    count: int
    hold_ms: int = 1000
    rate: int = 20
    extra: tuple[str, ...] = ()


class Sipp:
    """Runs SIPp in a directory of its own; each run is bounded in time."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.runs = 0
        self.started: list[Started] = []

    def command(self, calls: Calls) -> tuple[list[str], Path]:
        """The command line and the path of its message trace."""
        self.runs += 1
        trace = self.directory / f"sipp{self.runs}_messages.log"
        command = [
            sipp_binary(), "-sf", str(SCENARIOS / calls.scenario), calls.target,
            "-i", "127.0.0.1",
            "-p", str(free_udp_port()),
            "-mp", str(free_udp_port()),
            "-cp", str(free_udp_port()),
            "-m", str(calls.count), "-l", str(calls.count),
            "-r", str(calls.rate), "-d", str(calls.hold_ms),
            "-timeout", "30s", "-timeout_error", "-max_retrans", "3",
            "-nostdin", "-trace_msg", "-message_file", str(trace),
            *calls.extra,
        ]  # fmt: skip
        return command, trace

    def start(self, calls: Calls) -> Started:
        command, trace = self.command(calls)
        process = subprocess.Popen(
            command,
            cwd=self.directory,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started = Started(process, trace)
        self.started.append(started)
        return started

    def run(self, calls: Calls) -> SippRun:
        return self.start(calls).finish()

    def kill_all(self) -> None:
        for started in self.started:
            started.kill()


@dataclass
class Started:
    """A SIPp process that is running."""

    process: subprocess.Popen[str]
    trace: Path

    def finish(self, timeout_s: float = 45.0) -> SippRun:
        try:
            output, _ = self.process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"sipp did not end within {timeout_s} s") from None
        text = self.trace.read_text(errors="replace") if self.trace.exists() else ""
        return SippRun(self.process.returncode, parse_trace(text), output)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()

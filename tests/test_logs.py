"""Logging: ids from context on every record, text and JSON, redaction."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from gateway.logs import REDACTED, bind, setup_logging

TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (?P<level>[A-Z]+) (?P<logger>\S+)"
    r"(?: \[(?P<ids>[^\]]*)\])? (?P<rest>.*)$"
)


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A stream that setup_logging writes to; the root logger is restored."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    buffer = io.StringIO()
    yield buffer
    for handler in list(root.handlers):
        if handler not in saved[1]:
            root.removeHandler(handler)
    root.setLevel(saved[0])


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_text_format_carries_the_bound_ids(stream: io.StringIO) -> None:
    setup_logging("INFO", "text", stream=stream)
    log = logging.getLogger("signaling.ws")

    with bind(call_id="c-1", session_id="s-2"):
        log.info("call %s", "answered")
        with bind(leg="a"):
            log.info("leg up")
        log.info("after the leg")
    log.info("no call")

    parsed = [TEXT_LINE.match(line) for line in lines(stream)]
    assert all(parsed)
    ids = [m["ids"] for m in parsed if m]
    assert ids == ["call=c-1 session=s-2", "call=c-1 session=s-2 leg=a",
                   "call=c-1 session=s-2", None]  # fmt: skip
    first = parsed[0]
    assert first and first["level"] == "INFO" and first["logger"] == "signaling.ws"
    assert first["rest"] == "call answered"


def test_an_empty_call_id_reads_as_none(stream: io.StringIO) -> None:
    setup_logging("INFO", "text", stream=stream)
    log = logging.getLogger("gateway.callbacks")
    with bind(session_id="s-3"):
        log.info("kept", extra={"call_id": ""})
    with bind(call_id="c-4"):
        log.info("on a call", extra={"call_id": ""})  # the bound id stays
    ids = [m["ids"] for m in map(TEXT_LINE.match, lines(stream)) if m]
    assert ids == ["session=s-3", "call=c-4"]


def test_text_never_shows_numbers_or_digits(stream: io.StringIO) -> None:
    setup_logging("DEBUG", "text", stream=stream)
    logging.getLogger("ivr").info(
        "digits received",
        extra={"digits": "4711", "number": "+15550100", "node": "menu-1"},
    )
    (line,) = lines(stream)
    assert line.endswith("digits received node=menu-1")
    assert "4711" not in line and "15550100" not in line


def test_json_format(stream: io.StringIO) -> None:
    setup_logging("INFO", "json", stream=stream)
    with bind(call_id="c-9", leg="sip"):
        logging.getLogger("gateway.media").warning(
            "dtmf %s", "relayed", extra={"digits": "12#", "agent": "a-1"}
        )
    entry = json.loads(stream.getvalue())
    assert entry == {
        "ts": entry["ts"],
        "level": "WARNING",
        "logger": "gateway.media",
        "msg": "dtmf relayed",
        "call_id": "c-9",
        "session_id": "-",
        "leg": "sip",
        "digits": REDACTED,
        "agent": "a-1",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["ts"])


def test_json_shows_digits_only_when_allowed(stream: io.StringIO) -> None:
    setup_logging("INFO", "json", digits=True, stream=stream)
    logging.getLogger("ivr").info("digits", extra={"digits": "12#", "number": "+1"})
    entry = json.loads(stream.getvalue())
    assert (entry["digits"], entry["number"]) == ("12#", "+1")


def test_extra_wins_over_the_bound_id(stream: io.StringIO) -> None:
    setup_logging("INFO", "json", stream=stream)
    with bind(call_id="c-outer"):
        logging.getLogger("x").info("m", extra={"call_id": "c-given"})
    assert json.loads(stream.getvalue())["call_id"] == "c-given"


def test_exceptions_are_kept(stream: io.StringIO) -> None:
    setup_logging("INFO", "text", stream=stream)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("x").exception("failed")
    text = stream.getvalue()
    assert "failed\nTraceback" in text and "RuntimeError: boom" in text

    setup_logging("INFO", "json", stream=stream)
    stream.seek(0)
    stream.truncate()
    try:
        raise ValueError("bad")
    except ValueError:
        logging.getLogger("x").exception("failed")
    assert "ValueError: bad" in json.loads(stream.getvalue())["exc"]


async def test_concurrent_tasks_keep_their_own_ids(stream: io.StringIO) -> None:
    setup_logging("INFO", "json", stream=stream)
    log = logging.getLogger("signaling.calls")
    turn = asyncio.Event()

    async def call(call_id: str, first: bool) -> None:
        with bind(call_id=call_id, session_id=f"s-{call_id}"):
            if not first:
                turn.set()
            await turn.wait()
            log.info("ringing")
            await asyncio.sleep(0)
            log.info("answered")

    await asyncio.gather(call("c-a", True), call("c-b", False))
    entries = [json.loads(line) for line in lines(stream)]
    assert len(entries) == 4
    for entry in entries:
        assert entry["session_id"] == f"s-{entry['call_id']}"
    assert sorted(entry["call_id"] for entry in entries) == ["c-a"] * 2 + ["c-b"] * 2


def test_level_and_a_second_setup(stream: io.StringIO) -> None:
    setup_logging("WARNING", "text", stream=stream)
    setup_logging("warning", "text", stream=stream)
    log = logging.getLogger("x")
    log.info("hidden")
    log.warning("shown")
    assert lines(stream) == [line for line in lines(stream) if "shown" in line]
    assert len(lines(stream)) == 1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="log format"):
        setup_logging("INFO", "xml")
    with pytest.raises(ValueError, match="unknown log level"):
        setup_logging("LOUD", "text")

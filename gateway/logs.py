"""Logging for Helpline: call and session ids on every record, two formats.

Many calls run at once in one process, so every record carries the ids of
the call, the session and the leg it is about, taken from context variables
that ``bind`` sets for the current task (and the tasks it starts)::

    with bind(call_id=call.id, session_id=session.id):
        logger.info("call answered")

Text format, for people::

    2026-12-04T16:00:00.123Z INFO signaling.ws [call=c-1 session=s-2] call answered

JSON format, one object a line: ``ts``, ``level``, ``logger``, ``msg``,
``call_id``, ``session_id``, ``leg``, then every ``extra`` field.

Redaction: phone numbers and typed digits never go into the message text.
Pass them as structured fields named ``number`` or ``digits``::

    logger.info("digits received", extra={"digits": digits})

The text format drops those fields; the JSON format shows them as
``"<redacted>"`` unless ``setup_logging(..., digits=True)`` (the setting
``log.digits``) lets them through for debugging.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final, TextIO

UNSET: Final = "-"
PERSONAL_FIELDS: Final = frozenset({"number", "digits"})
REDACTED: Final = "<redacted>"

call_id: contextvars.ContextVar[str] = contextvars.ContextVar("call_id", default=UNSET)
session_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "session_id", default=UNSET
)
leg: contextvars.ContextVar[str] = contextvars.ContextVar("leg", default=UNSET)

_CONTEXT: Final = {"call_id": call_id, "session_id": session_id, "leg": leg}
# Attributes every LogRecord has; anything else on a record came from `extra`.
_STANDARD: Final = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName", *_CONTEXT}


@contextmanager
def bind(
    *,
    call_id: str | None = None,
    session_id: str | None = None,
    leg: str | None = None,
) -> Iterator[None]:
    """Tag the records logged inside the block; ``None`` keeps the outer id."""
    given = {"call_id": call_id, "session_id": session_id, "leg": leg}
    tokens = [
        (_CONTEXT[name], _CONTEXT[name].set(value))
        for name, value in given.items()
        if value is not None
    ]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Put ``call_id``, ``session_id`` and ``leg`` on every record.

    A value given through ``extra`` wins over the bound one; an empty one
    (a callback not yet on a call, say) reads as no id.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _CONTEXT.items():
            if not getattr(record, name, ""):
                setattr(record, name, var.get() or UNSET)
        return True


def extra_fields(record: logging.LogRecord) -> dict[str, object]:
    """The fields a caller passed with ``extra=``."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


def _timestamp(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


class TextFormatter(logging.Formatter):
    """``<ts> <LEVEL> <logger> [call=… session=… leg=…] <msg> key=value …``."""

    def format(self, record: logging.LogRecord) -> str:
        ids = [
            f"{label}={value}"
            for label, value in (
                ("call", getattr(record, "call_id", UNSET)),
                ("session", getattr(record, "session_id", UNSET)),
                ("leg", getattr(record, "leg", UNSET)),
            )
            if value != UNSET
        ]
        where = f" [{' '.join(ids)}]" if ids else ""
        extras = "".join(
            f" {key}={value}"
            for key, value in extra_fields(record).items()
            if key not in PERSONAL_FIELDS
        )
        line = (
            f"{_timestamp(record.created)} {record.levelname} {record.name}"
            f"{where} {record.getMessage()}{extras}"
        )
        return self._with_traceback(line, record)

    def _with_traceback(self, line: str, record: logging.LogRecord) -> str:
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line = f"{line}\n{record.exc_text}"
        if record.stack_info:
            line = f"{line}\n{self.formatStack(record.stack_info)}"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object a line; personal fields redacted unless allowed."""

    def __init__(self, *, digits: bool = False) -> None:
        super().__init__()
        self.digits = digits

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in _CONTEXT:
            entry[name] = getattr(record, name, UNSET)
        for key, value in extra_fields(record).items():
            hidden = key in PERSONAL_FIELDS and not self.digits
            entry[key] = REDACTED if hidden else value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class _HelplineHandler(logging.StreamHandler[TextIO]):
    """Marks the handler ``setup_logging`` installed, so a second call swaps it."""


_CHATTY: Final = ("aioice", "aiortc")


def setup_logging(
    level: str, fmt: str, *, digits: bool = False, stream: TextIO | None = None
) -> logging.Handler:
    """Send every logger's records to ``stream`` (stderr) in ``fmt``.

    ``level`` is a level name (``INFO``); ``fmt`` is ``text`` or ``json``.
    Calling it again replaces the handler it installed before.
    """
    if fmt not in ("text", "json"):
        raise ValueError(f"log format must be text or json, not {fmt!r}")
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")

    handler = _HelplineHandler(stream or sys.stderr)
    formatter = TextFormatter() if fmt == "text" else JsonFormatter(digits=digits)
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter())

    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _HelplineHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    # aiortc's and aioice's own INFO lines (each ICE check) carry no call id
    # and drown a media worker's log; at DEBUG they are wanted.
    quiet = max(numeric, logging.WARNING) if numeric > logging.DEBUG else 0
    for library in _CHATTY:
        logging.getLogger(library).setLevel(quiet)
    return handler

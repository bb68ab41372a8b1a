"""Captured inputs that broke WebRTC, SIP and IVR systems, one folder each.

Each folder holds `input.txt` (the bytes to replay), `kind.txt` (the kind of
fault) and `source.md` (where it was seen and what the right behaviour is).
The helpers below pull the part a test needs out of an input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def case_bytes(name: str) -> bytes:
    return (HERE / name / "input.txt").read_bytes()


def case_text(name: str) -> str:
    return case_bytes(name).decode("utf-8")


def case_json_lines(name: str) -> list[dict[str, Any]]:
    """The messages of a JSON Lines input, in order."""
    return [json.loads(line) for line in case_text(name).splitlines() if line]


def case_sdp(name: str) -> str:
    """The SDP of a case: the file itself, a SIP body, or an offer message."""
    text = case_text(name)
    if text.startswith("v=0"):
        return text
    if text.startswith("{"):
        offers = [m for m in case_json_lines(name) if m.get("type") == "offer"]
        return str(offers[0]["sdp"])
    _, _, body = text.partition("\r\n\r\n")  # a SIP message: the body
    return body

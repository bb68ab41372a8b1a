"""What a test SIP worker reports about itself, as JSON in a status file.

tests/sipua.py writes it after every change; tests/fixtures/sip.py reads
it back. Kept apart from both so that reading it needs neither pjsua2 nor
pytest.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class InfoRequest:
    """An in-dialog INFO as the worker received it."""

    content_type: str
    body: str


@dataclass(frozen=True, order=True)
class Digit:
    """A digit reported by pjsua; method 1 is SIP INFO, 0 is RFC 4733."""

    digit: str
    method: int


@dataclass
class WorkerReport:
    """Counts of calls and what arrived within them."""

    pid: int = 0
    port: int = 0
    ready: bool = False
    incoming: int = 0
    confirmed: int = 0
    active: int = 0
    most_active: int = 0
    ended: int = 0
    infos: list[InfoRequest] = field(default_factory=list)
    digits: list[Digit] = field(default_factory=list)
    transfers: int = 0
    stopped: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerReport:
        data: dict[str, Any] = json.loads(text)
        data["infos"] = [InfoRequest(**i) for i in data["infos"]]
        data["digits"] = [Digit(**d) for d in data["digits"]]
        return cls(**data)

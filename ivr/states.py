"""The interpreter's states and its record of a call: phases, what keyed
digits mean, the journey, and the names of its timers (sans-I/O)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, TypeAlias

MAX_NUMBER_DIGITS: Final = 15
TRANSFER_FAILED_PROMPT: Final = (
    "We could not reach our team on the phone line just now. "
    "We can call you back instead."
)


class Phase(enum.StrEnum):
    IDLE = "idle"
    ANNOUNCING = "announcing"
    PROMPTING = "prompting"
    WAITING = "waiting"
    COLLECTING = "collecting"
    QUEUED = "queued"
    REQUESTING = "requesting"
    ENDED = "ended"


class Mode(enum.StrEnum):
    """What the digits being collected mean."""

    MENU = "menu"  # an option of a menu node
    OFFER = "offer"  # accept or decline the callback
    NUMBER = "number"  # the callback number
    CONFIRM = "confirm"  # the number read back: keep it or enter it again
    WINDOW = "window"  # the preferred time window


FAQ, CALLBACK = "faq", "callback"
INPUT, INTERDIGIT, QUEUE = "input", "interdigit", "queue"


@dataclass(frozen=True, slots=True)
class Journey:
    nodes: tuple[str, ...]
    faq_answers: tuple[str, ...]
    offers: tuple[str, ...]
    outcome: str | None
    tollfree_refused: int = 0  # transfers the run-time guard turned away
    choices: tuple[tuple[str, str], ...] = ()  # (menu node, digits chosen)


HoursFunction: TypeAlias = Callable[[datetime], str]
#: Checks a callback number: the number to dial, or an IvrError.
NumberCheck: TypeAlias = Callable[[str], str]

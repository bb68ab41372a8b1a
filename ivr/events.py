"""What goes into the IVR interpreter (events) and what comes out of it
(actions): plain frozen dataclasses, shared by the interpreter, the web
adapter (gateway.ivr_calls), the simulator and, later, the SIP side."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

# Events.


@dataclass(frozen=True, slots=True)
class CallStarted:
    pass


@dataclass(frozen=True, slots=True)
class Digit:
    digit: str


@dataclass(frozen=True, slots=True)
class PromptFinished:
    play: int


@dataclass(frozen=True, slots=True)
class TimerFired:
    name: str


@dataclass(frozen=True, slots=True)
class FormSubmitted:
    """A form in the page: ``menu`` with ``choice``, or ``callback`` with
    ``number`` and ``window`` (or ``decline``)."""

    form: str
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AgentAnswered:
    pass


@dataclass(frozen=True, slots=True)
class SentToLine:
    """The agent who answered sent the caller to the toll-free line; if the
    line fails, the caller comes back here as from a toll-free node."""


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The caller hung up."""


@dataclass(frozen=True, slots=True)
class TransferFailed:
    """The toll-free line could not be reached (busy, refused, no answer)."""

    reason: str


@dataclass(frozen=True, slots=True)
class CallbackKept:
    """The last :class:`RequestCallback` was kept: the call moves on, after
    telling the caller `when` ("today between 12:00 and 17:00") if given."""

    when: str = ""


@dataclass(frozen=True, slots=True)
class CallbackRefused:
    """The last :class:`RequestCallback` was refused by the callback policy
    (``code``, e.g. ``number-limit``): the call takes the declined path."""

    code: str


Event: TypeAlias = (
    CallStarted
    | Digit
    | PromptFinished
    | TimerFired
    | FormSubmitted
    | AgentAnswered
    | SentToLine
    | CallEnded
    | TransferFailed
    | CallbackKept
    | CallbackRefused
)

# Actions.


@dataclass(frozen=True, slots=True)
class PlayPrompt:
    """Play `text`, or the FAQ answer `faq_id`; `play` numbers the prompt."""

    play: int
    node: str
    text: str | None = None
    faq_id: str | None = None
    interruptible: bool = False


@dataclass(frozen=True, slots=True)
class StopPrompt:
    play: int


@dataclass(frozen=True, slots=True)
class ShowMenu:
    node: str
    options: tuple[tuple[str, str], ...]  # (digits, label)


@dataclass(frozen=True, slots=True)
class ShowCallbackForm:
    node: str
    windows: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StartTimer:
    name: str
    seconds: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    name: str


@dataclass(frozen=True, slots=True)
class CollectDigits:
    node: str
    max_digits: int
    terminator: str | None = "#"


@dataclass(frozen=True, slots=True)
class RouteToQueue:
    node: str
    skill: str
    max_wait_seconds: float


@dataclass(frozen=True, slots=True)
class LeaveQueue:
    node: str


@dataclass(frozen=True, slots=True)
class RequestCallback:
    """Keep a callback request, then feed back :class:`CallbackKept` or
    :class:`CallbackRefused`; the call waits for one of them."""

    node: str
    number: str
    window: str | None


@dataclass(frozen=True, slots=True)
class TransferToTollFree:
    node: str


@dataclass(frozen=True, slots=True)
class HangUp:
    reason: str


Action: TypeAlias = (
    PlayPrompt
    | StopPrompt
    | ShowMenu
    | ShowCallbackForm
    | StartTimer
    | CancelTimer
    | CollectDigits
    | RouteToQueue
    | LeaveQueue
    | RequestCallback
    | TransferToTollFree
    | HangUp
)

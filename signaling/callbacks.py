"""The callback state machine (sans-I/O).

Theory of operation. A kept request *waits* until it is due. Routing may
*offer* a due callback to an available agent, who claims it or gives it
back (skip, or the offer times out). A claim starts an attempt: the
callback is *dialling* while its call rings the customer, *connected* once
the customer picks up, and in *wrap-up* after the call, until the agent
records the outcome (*done*). An attempt nobody answered (no answer, busy,
a failed dial, a lost worker or page) puts the callback back to *waiting*
after a backoff, or makes it *failed* once every attempt is used. The
customer may cancel a callback that is not yet being dialled, and declining
the ring in the page cancels it too.

``TRANSITIONS`` is the whole machine: one row per (state, event). The Redis
adapter (``gateway.callbacks``) applies a row in one Lua script, with a
compare-and-set on the state, and acknowledges the request's stream entry
in the same script when the row ends in a final state.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from signaling.errors import SignalingError


class CallbackState(enum.StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    DIALLING = "dialling"
    CONNECTED = "connected"
    WRAP_UP = "wrap-up"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class CallbackEvent(enum.StrEnum):
    OFFER = "offer"  # routing offers it to an agent
    SKIP = "skip"  # the agent gives the offer back, or it timed out
    CLAIM = "claim"  # an agent takes it: an attempt starts
    ANSWERED = "answered"  # the customer picked up
    UNREACHED = "unreached"  # the attempt ended before anyone picked up
    CALL_ENDED = "call-ended"  # the answered call is over
    OUTCOME = "outcome"  # the agent says how it went
    CALL_AGAIN = "call-again"  # the agent wants another attempt
    CANCEL = "cancel"  # the customer does not want it any more
    EXPIRE = "expire"  # wrap-up ran out: the outcome is "reached"


#: States a callback never leaves; reaching one acknowledges its entry.
FINAL: Final = frozenset(
    {CallbackState.DONE, CallbackState.FAILED, CallbackState.CANCELLED}
)

#: How an unreached attempt ended (the call's end reason), as recorded.
UNREACHED_REASONS: Final = {
    "no-answer": "no-answer",
    "busy": "busy",
    "dial-failed": "failed",
    "customer-lost": "lost",
    "bridge-lost": "lost",
    "agent-hangup": "abandoned",
    "agent-lost": "abandoned",
    "callback-declined": "declined",
}

#: What an agent may record after the call.
OUTCOMES: Final = ("resolved", "not-resolved", "wrong-number", "call-again")


@dataclass(frozen=True, slots=True)
class Transition:
    next_state: CallbackState
    #: With attempts left the callback waits again; with none it fails.
    retry: bool = False


class BadCallbackTransition(SignalingError):
    """An event that does not fit the callback's state."""

    code = "bad-state"
    recoverable = True

    def __init__(self, state: CallbackState, event: CallbackEvent) -> None:
        super().__init__(f"a callback that is {state} cannot take {event}")
        self.state = state
        self.event = event


W, OF, D, C, U, DONE, F, X = (
    CallbackState.WAITING,
    CallbackState.OFFERED,
    CallbackState.DIALLING,
    CallbackState.CONNECTED,
    CallbackState.WRAP_UP,
    CallbackState.DONE,
    CallbackState.FAILED,
    CallbackState.CANCELLED,
)
Ev = CallbackEvent

TRANSITIONS: Final[dict[tuple[CallbackState, CallbackEvent], Transition]] = {
    (W, Ev.OFFER): Transition(OF),
    (OF, Ev.SKIP): Transition(W),
    (W, Ev.CLAIM): Transition(D),
    (OF, Ev.CLAIM): Transition(D),
    (W, Ev.CANCEL): Transition(X),
    (OF, Ev.CANCEL): Transition(X),
    (D, Ev.ANSWERED): Transition(C),
    (D, Ev.UNREACHED): Transition(W, retry=True),
    (D, Ev.CANCEL): Transition(X),  # declined in the page while it rang
    (C, Ev.CALL_ENDED): Transition(U),
    (U, Ev.OUTCOME): Transition(DONE),
    (U, Ev.EXPIRE): Transition(DONE),
    (U, Ev.CALL_AGAIN): Transition(W, retry=True),
}


def step(state: CallbackState, event: CallbackEvent) -> Transition:
    """The row for ``event`` in ``state``, or :class:`BadCallbackTransition`."""
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise BadCallbackTransition(state, event) from None


def after_attempt(
    transition: Transition, attempts: int, max_attempts: int
) -> CallbackState:
    """Where a row with ``retry`` leads once `attempts` were made."""
    if transition.retry and attempts >= max_attempts:
        return CallbackState.FAILED
    return transition.next_state


def retry_delay(attempts: int, base_s: float, cap_s: float = 3600.0) -> float:
    """The wait before the next attempt, doubling with each one made."""
    return float(min(cap_s, base_s * 2 ** max(0, attempts - 1)))

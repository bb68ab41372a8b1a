"""The consult call of an attended transfer (sans-I/O).

Theory of operation. An agent on a customer's call asks to consult a
colleague: the customer's call goes to *consulting* (held) and a consult
call rings the colleague. The colleague accepts (*answered*: the two agents
talk, browser to browser), declines, or lets it ring out. The consulting
agent completes (the colleague takes the customer's call) or cancels; the
colleague may hang up; either agent may be lost. Every way a consult ends
but completion gives the customer back to the consulting agent
(``consult-end`` on the customer's call). When the customer's call itself
leaves *consulting* (the customer hung up, the consulting agent was lost)
the consult ends with it (``call-left``).

``CONSULT_TRANSITIONS`` is the whole machine, as ``signaling.calls`` is for
customers' calls: each row names the consult's next state, what becomes of
the consulted agent, and the event it raises on the customer's call. The
Redis adapter (``gateway.transfer_store``) applies both in one script.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from signaling.calls import AgentAfter, CallEvent, CallState
from signaling.errors import SignalingError


class ConsultEvent(enum.StrEnum):
    ACCEPT = "accept"  # the consulted agent answers
    DECLINE = "decline"
    RING_TIMEOUT = "ring-timeout"
    CANCEL = "cancel"  # the consulting agent cancels or hangs up
    COMPLETE = "complete"  # the consulting agent hands the call over
    HANGUP = "hangup"  # the consulted agent hangs up
    AGENT_LOST = "agent-lost"  # the consulted agent's session is gone
    CALL_LEFT = "call-left"  # the customer's call left consulting


@dataclass(frozen=True, slots=True)
class ConsultRow:
    next_state: CallState
    #: What becomes of the consulted agent.
    agent: AgentAfter = AgentAfter.KEEP
    #: The event this raises on the customer's call, if any.
    parent: CallEvent | None = None
    end_reason: str | None = None


class BadConsult(SignalingError):
    """An event that does not fit the consult's state."""

    code = "bad-state"
    recoverable = True

    def __init__(self, state: CallState, event: ConsultEvent) -> None:
        super().__init__(f"a consult call that is {state} cannot take {event}")
        self.state = state
        self.event = event


R, A, E = CallState.RINGING, CallState.ANSWERED, CallState.ENDED
Ev = ConsultEvent
Ag = AgentAfter
_BACK: Final = CallEvent.CONSULT_END


def _end(
    reason: str, agent: AgentAfter, parent: CallEvent | None = _BACK
) -> ConsultRow:
    return ConsultRow(E, agent, parent, reason)


CONSULT_TRANSITIONS: Final[dict[tuple[CallState, ConsultEvent], ConsultRow]] = {
    (R, Ev.ACCEPT): ConsultRow(A, Ag.BUSY),
    (R, Ev.DECLINE): _end("declined", Ag.AVAILABLE_KEEP_IDLE),
    (R, Ev.RING_TIMEOUT): _end("no-answer", Ag.AWAY),
    (R, Ev.CANCEL): _end("cancelled", Ag.AVAILABLE_KEEP_IDLE),
    (R, Ev.AGENT_LOST): _end("agent-lost", Ag.OFFLINE),
    (R, Ev.CALL_LEFT): _end("call-left", Ag.AVAILABLE_KEEP_IDLE, None),
    (A, Ev.COMPLETE): _end("completed", Ag.BUSY, CallEvent.CONSULT_COMPLETE),
    (A, Ev.CANCEL): _end("cancelled", Ag.AVAILABLE),
    (A, Ev.HANGUP): _end("agent-hangup", Ag.AVAILABLE),
    (A, Ev.AGENT_LOST): _end("agent-lost", Ag.OFFLINE),
    (A, Ev.CALL_LEFT): _end("call-left", Ag.AVAILABLE, None),
}

#: System events of customers' calls, as they reach a consult call.
FROM_CALL_EVENT: Final = {
    CallEvent.RING_TIMEOUT: Ev.RING_TIMEOUT,
    CallEvent.AGENT_LOST: Ev.AGENT_LOST,
}


def consult_step(state: CallState, event: ConsultEvent) -> ConsultRow:
    """The row for ``event`` in ``state``, or :class:`BadConsult`."""
    try:
        return CONSULT_TRANSITIONS[state, event]
    except KeyError:
        raise BadConsult(state, event) from None

"""The call state machine (sans-I/O).

Theory of operation. A customer's call starts in the *ivr* when a menu is
published (the IVR offers FAQ answers and a callback first), and joins the
queue when the menu routes it there; without a menu it starts *queued*. A
queued call that waits past its queue node's maximum goes back to the IVR
(overflow), which takes it on to the overflow node. A call is *queued*
until routing picks an agent; it then *rings* that agent. The agent accepts
(*answered*), declines or lets the ring time out; both put the call back at
the head of the queue, and a timeout also sets the agent away, so a missing
agent is not rung again and again. An answered call may be put on hold and
taken off it. At the toll-free step a web caller may be *bridged*: a
media worker answers for the toll-free line (the call is *answered* with
no agent) and dials it; if the line fails the call goes back to the IVR,
which offers the callback again. A call *ends* when either side hangs up,
when the customer's session is lost for good, or when no agent can take
it. An agent lost for good mid-call does not end the call: it goes back to
the head of the queue.

Callbacks. When an agent claims a callback (``gateway.callbacks``), the
attempt is a call that starts *dialling*: the agent is already busy on it
and the customer is rung, in their open page or over the trunk. The
customer picking up answers it; no answer, a busy or failed line, or a
declined ring in the page end it, and the callback keeps the attempt's
result.

Transfers. The agent of an answered or held call may hand it to another
agent. A blind *transfer* releases the first agent at once and rings the
second (``retarget``); if that agent declines or lets it ring out, the call
goes to the head of the queue as any declined call does. A *consult*
holds the customer (*consulting*) while the agent rings a colleague on a
consult call (``signaling.consult``); *consult-complete* hands the call to
the colleague (``retarget``, the first agent released), *consult-end* gives
it back to the first agent, off hold.

``TRANSITIONS`` is the whole machine: one row per (state, event) that is
allowed. Anything else is out of order and raises :class:`BadTransition`.
Each row names the next state, what must happen to the agent, and whether
the call goes back to the queue; the Redis adapter applies a row
atomically, and the WebSocket layer tells both ends.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from signaling.errors import SignalingError


class CallState(enum.StrEnum):
    IVR = "ivr"
    QUEUED = "queued"
    RINGING = "ringing"
    ANSWERED = "answered"
    HELD = "held"
    CONSULTING = "consulting"  # held while its agent consults a colleague
    DIALLING = "dialling"  # an agent's callback rings the customer
    ENDED = "ended"


class CallEvent(enum.StrEnum):
    QUEUE = "queue"  # the IVR routes the call to the agents
    OVERFLOW = "overflow"  # waited too long: back to the IVR
    CALLBACK = "callback-requested"  # the IVR took a callback request
    IVR_HANGUP = "ivr-hangup"  # the menu ended the call
    TOLLFREE = "tollfree"  # the menu sent the caller to the toll-free line
    RING = "ring"  # routing picked an agent
    ACCEPT = "accept"
    DECLINE = "decline"
    RING_TIMEOUT = "ring-timeout"
    HOLD = "hold"
    UNHOLD = "unhold"
    CUSTOMER_HANGUP = "customer-hangup"
    AGENT_HANGUP = "agent-hangup"
    CUSTOMER_LOST = "customer-lost"
    AGENT_LOST = "agent-lost"
    REJECT = "rejected"
    BRIDGE = "bridge"  # a media worker puts the caller through to the line
    BRIDGE_FAILED = "bridge-failed"  # the line failed: back to the IVR
    LINE_HANGUP = "line-hangup"  # the toll-free line hung up
    BRIDGE_LOST = "bridge-lost"  # the media worker that carried it died
    MEDIA_FAILED = "media-failed"  # a bridged browser leg never connected
    TRANSFER_LINE = "transfer-line"  # the agent sends the caller to the line
    TRANSFER = "transfer"  # blind: ring another agent, release this one
    CONSULT = "consult"  # hold the customer, ring a colleague
    CONSULT_COMPLETE = "consult-complete"  # the colleague takes the call
    CONSULT_END = "consult-end"  # the consult is over: back to its agent
    # A callback's call (gateway.callbacks), which starts in "dialling".
    CALLBACK_ANSWERED = "callback-answered"  # the customer picked up
    NO_ANSWER = "no-answer"  # nobody picked up (the ring timer, or the trunk)
    LINE_BUSY = "busy"  # the trunk said busy
    DIAL_FAILED = "dial-failed"  # the trunk refused the number or failed


class AgentAfter(enum.StrEnum):
    """What becomes of the call's agent once the row is applied."""

    KEEP = "keep"  # unchanged
    RINGING = "ringing"
    BUSY = "busy"
    AVAILABLE = "available"  # released; idle from now
    AVAILABLE_KEEP_IDLE = "available-keep-idle"  # released; keeps its place
    AWAY = "away"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Transition:
    next_state: CallState
    agent: AgentAfter = AgentAfter.KEEP
    requeue: bool = False  # back to the head of the queue, agent cleared
    enqueue: bool = False  # joins the tail of the queue (from the IVR)
    end_reason: str | None = None
    retarget: bool = False  # the call moves to the agent the request names
    release: bool = False  # the agent leaves; a media worker keeps the call


class BadTransition(SignalingError):
    """An event that does not fit the call's state: an out-of-order request."""

    code = "bad-state"
    recoverable = True

    def __init__(self, state: CallState, event: CallEvent) -> None:
        super().__init__(f"a call that is {state} cannot take {event}")
        self.state = state
        self.event = event


V, Q, R, A, H, C, D, E = (
    CallState.IVR,
    CallState.QUEUED,
    CallState.RINGING,
    CallState.ANSWERED,
    CallState.HELD,
    CallState.CONSULTING,
    CallState.DIALLING,
    CallState.ENDED,
)
Ev = CallEvent
Ag = AgentAfter


def _end(reason: str, agent: AgentAfter = Ag.KEEP) -> Transition:
    return Transition(E, agent, end_reason=reason)


TRANSITIONS: Final[dict[tuple[CallState, CallEvent], Transition]] = {
    (V, Ev.QUEUE): Transition(Q, enqueue=True),
    (V, Ev.CALLBACK): _end("callback-requested"),
    (V, Ev.IVR_HANGUP): _end("ivr-hangup"),
    (V, Ev.TOLLFREE): _end("tollfree"),
    (V, Ev.CUSTOMER_HANGUP): _end("customer-hangup"),
    (V, Ev.CUSTOMER_LOST): _end("customer-lost"),
    (Q, Ev.OVERFLOW): Transition(V),
    (Q, Ev.RING): Transition(R, Ag.RINGING),
    (Q, Ev.CUSTOMER_HANGUP): _end("customer-hangup"),
    (Q, Ev.CUSTOMER_LOST): _end("customer-lost"),
    (Q, Ev.REJECT): _end("rejected"),
    (R, Ev.ACCEPT): Transition(A, Ag.BUSY),
    (R, Ev.DECLINE): Transition(Q, Ag.AVAILABLE_KEEP_IDLE, requeue=True),
    (R, Ev.RING_TIMEOUT): Transition(Q, Ag.AWAY, requeue=True),
    (R, Ev.AGENT_LOST): Transition(Q, Ag.OFFLINE, requeue=True),
    (R, Ev.CUSTOMER_HANGUP): _end("customer-hangup", Ag.AVAILABLE_KEEP_IDLE),
    (R, Ev.CUSTOMER_LOST): _end("customer-lost", Ag.AVAILABLE_KEEP_IDLE),
    (A, Ev.HOLD): Transition(H),
    (A, Ev.CUSTOMER_HANGUP): _end("customer-hangup", Ag.AVAILABLE),
    (A, Ev.AGENT_HANGUP): _end("agent-hangup", Ag.AVAILABLE),
    (A, Ev.CUSTOMER_LOST): _end("customer-lost", Ag.AVAILABLE),
    (A, Ev.AGENT_LOST): Transition(Q, Ag.OFFLINE, requeue=True),
    (H, Ev.UNHOLD): Transition(A),
    (H, Ev.CUSTOMER_HANGUP): _end("customer-hangup", Ag.AVAILABLE),
    (H, Ev.AGENT_HANGUP): _end("agent-hangup", Ag.AVAILABLE),
    (H, Ev.CUSTOMER_LOST): _end("customer-lost", Ag.AVAILABLE),
    (H, Ev.AGENT_LOST): Transition(Q, Ag.OFFLINE, requeue=True),
    # Bridged to the toll-free line (no agent): the media worker is the
    # other end.
    (V, Ev.BRIDGE): Transition(A),
    (A, Ev.BRIDGE_FAILED): Transition(V),
    (A, Ev.LINE_HANGUP): _end("line-hangup"),
    (A, Ev.BRIDGE_LOST): _end("bridge-lost"),
    # A media worker's browser leg failed ICE or DTLS: nothing can be heard.
    (A, Ev.MEDIA_FAILED): _end("media-failed", Ag.AVAILABLE),
    (H, Ev.MEDIA_FAILED): _end("media-failed", Ag.AVAILABLE),
    # An agent sends the caller to the toll-free line: the agent is free at
    # once; a media worker dials (and, for a web caller, answers the page).
    (A, Ev.TRANSFER_LINE): Transition(A, Ag.AVAILABLE, release=True),
    (H, Ev.TRANSFER_LINE): Transition(A, Ag.AVAILABLE, release=True),
    (A, Ev.TOLLFREE): _end("tollfree"),
    (A, Ev.TRANSFER): Transition(R, Ag.AVAILABLE, retarget=True),
    (H, Ev.TRANSFER): Transition(R, Ag.AVAILABLE, retarget=True),
    (A, Ev.CONSULT): Transition(C),
    (H, Ev.CONSULT): Transition(C),
    (C, Ev.CONSULT_COMPLETE): Transition(A, Ag.AVAILABLE, retarget=True),
    (C, Ev.CONSULT_END): Transition(A),
    (C, Ev.CUSTOMER_HANGUP): _end("customer-hangup", Ag.AVAILABLE),
    (C, Ev.AGENT_HANGUP): _end("agent-hangup", Ag.AVAILABLE),
    (C, Ev.CUSTOMER_LOST): _end("customer-lost", Ag.AVAILABLE),
    (C, Ev.AGENT_LOST): Transition(Q, Ag.OFFLINE, requeue=True),
    # A callback's call rings the customer (in the page, or over the trunk
    # through a media worker) with its agent already busy on it. A customer
    # who declines in the page hangs up; an agent may give up the dial.
    (D, Ev.CALLBACK_ANSWERED): Transition(A),
    (D, Ev.NO_ANSWER): _end("no-answer", Ag.AVAILABLE),
    (D, Ev.RING_TIMEOUT): _end("no-answer", Ag.AVAILABLE),
    (D, Ev.LINE_BUSY): _end("busy", Ag.AVAILABLE),
    (D, Ev.DIAL_FAILED): _end("dial-failed", Ag.AVAILABLE),
    (D, Ev.CUSTOMER_HANGUP): _end("callback-declined", Ag.AVAILABLE),
    (D, Ev.CUSTOMER_LOST): _end("customer-lost", Ag.AVAILABLE),
    (D, Ev.AGENT_HANGUP): _end("agent-hangup", Ag.AVAILABLE),
    (D, Ev.AGENT_LOST): _end("agent-lost", Ag.OFFLINE),
    (D, Ev.BRIDGE_LOST): _end("bridge-lost", Ag.AVAILABLE),
}

#: States in which the two ends may exchange SDP and candidates.
MEDIA_STATES: Final = frozenset({A, H, C})


def step(state: CallState, event: CallEvent) -> Transition:
    """The row for ``event`` in ``state``, or :class:`BadTransition`."""
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise BadTransition(state, event) from None

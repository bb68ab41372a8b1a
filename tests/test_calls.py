"""Every transition of the call state machine, walked from a table.

The table below is written out by hand, independently of
``signaling.calls.TRANSITIONS``: each row says what must happen to a call
in a state when an event arrives. ``-`` means the event is out of order.
"""

from __future__ import annotations

import pytest

from signaling.calls import (
    TRANSITIONS,
    AgentAfter,
    BadTransition,
    CallEvent,
    CallState,
    step,
)

# event             ivr     queue   ring    answer  held    consult dial    end
EXPECTED = """
queue               queue   -       -       -       -       -       -       -
overflow            -       ivr     -       -       -       -       -       -
callback-requested  end     -       -       -       -       -       -       -
ivr-hangup          end     -       -       -       -       -       -       -
tollfree            end     -       -       end     -       -       -       -
ring                -       ring    -       -       -       -       -       -
accept              -       -       answer  -       -       -       -       -
decline             -       -       queue   -       -       -       -       -
ring-timeout        -       -       queue   -       -       -       end     -
hold                -       -       -       held    -       -       -       -
unhold              -       -       -       -       answer  -       -       -
customer-hangup     end     end     end     end     end     end     end     -
agent-hangup        -       -       -       end     end     end     end     -
customer-lost       end     end     end     end     end     end     end     -
agent-lost          -       -       queue   queue   queue   queue   end     -
rejected            -       end     -       -       -       -       -       -
transfer            -       -       -       ring    ring    -       -       -
consult             -       -       -       consult consult -       -       -
consult-complete    -       -       -       -       -       answer  -       -
consult-end         -       -       -       -       -       answer  -       -
bridge              answer  -       -       -       -       -       -       -
bridge-failed       -       -       -       ivr     -       -       -       -
line-hangup         -       -       -       end     -       -       -       -
bridge-lost         -       -       -       end     -       -       end     -
media-failed        -       -       -       end     end     -       -       -
transfer-line       -       -       -       answer  answer  -       -       -
callback-answered   -       -       -       -       -       -       answer  -
no-answer           -       -       -       -       -       -       end     -
busy                -       -       -       -       -       -       end     -
dial-failed         -       -       -       -       -       -       end     -
"""

#: The table's short names for states.
SHORT = {
    "queue": "queued",
    "ring": "ringing",
    "answer": "answered",
    "consult": "consulting",
    "dial": "dialling",
    "end": "ended",
}

STATES = [
    CallState(s)
    for s in (
        "ivr",
        "queued",
        "ringing",
        "answered",
        "held",
        "consulting",
        "dialling",
        "ended",
    )
]


def _rows() -> list[tuple[CallState, CallEvent, str]]:
    rows = []
    for line in EXPECTED.strip().splitlines():
        event, *cells = line.split()
        for state, cell in zip(STATES, cells, strict=True):
            rows.append((state, CallEvent(event), SHORT.get(cell, cell)))
    return rows


@pytest.mark.parametrize(("state", "event", "expected"), _rows())
def test_every_state_and_event(
    state: CallState, event: CallEvent, expected: str
) -> None:
    if expected == "-":
        with pytest.raises(BadTransition) as caught:
            step(state, event)
        assert caught.value.code == "bad-state"
        assert caught.value.recoverable
    else:
        assert step(state, event).next_state == CallState(expected)


def test_table_covers_every_event() -> None:
    events = {row[1] for row in _rows()}
    assert events == set(CallEvent)
    assert len(TRANSITIONS) == sum(1 for *_, cell in _rows() if cell != "-")


@pytest.mark.parametrize(
    ("state", "event", "agent", "requeue"),
    [
        (CallState.RINGING, CallEvent.DECLINE, AgentAfter.AVAILABLE_KEEP_IDLE, True),
        (CallState.RINGING, CallEvent.RING_TIMEOUT, AgentAfter.AWAY, True),
        (CallState.ANSWERED, CallEvent.AGENT_LOST, AgentAfter.OFFLINE, True),
        (CallState.ANSWERED, CallEvent.CUSTOMER_HANGUP, AgentAfter.AVAILABLE, False),
        (CallState.RINGING, CallEvent.ACCEPT, AgentAfter.BUSY, False),
        (CallState.QUEUED, CallEvent.RING, AgentAfter.RINGING, False),
        (CallState.ANSWERED, CallEvent.TRANSFER, AgentAfter.AVAILABLE, False),
        (CallState.HELD, CallEvent.CONSULT, AgentAfter.KEEP, False),
        (CallState.CONSULTING, CallEvent.CONSULT_END, AgentAfter.KEEP, False),
        (CallState.CONSULTING, CallEvent.AGENT_LOST, AgentAfter.OFFLINE, True),
    ],
)
def test_what_becomes_of_the_agent(
    state: CallState, event: CallEvent, agent: AgentAfter, requeue: bool
) -> None:
    row = step(state, event)
    assert row.agent == agent
    assert row.requeue == requeue


def test_ended_calls_say_why() -> None:
    for (state, event), row in TRANSITIONS.items():
        if row.next_state == CallState.ENDED:
            assert row.end_reason, (state, event)
        else:
            assert row.end_reason is None, (state, event)


def test_only_transfers_move_a_call_to_another_agent() -> None:
    retargeting = {key for key, row in TRANSITIONS.items() if row.retarget}
    assert retargeting == {
        (CallState.ANSWERED, CallEvent.TRANSFER),
        (CallState.HELD, CallEvent.TRANSFER),
        (CallState.CONSULTING, CallEvent.CONSULT_COMPLETE),
    }
    for key in retargeting:
        assert TRANSITIONS[key].agent == AgentAfter.AVAILABLE, key

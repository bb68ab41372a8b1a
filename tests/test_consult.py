"""Every transition of the consult call of an attended transfer, walked
from a table written out by hand (see ``signaling.consult``)."""

from __future__ import annotations

import pytest

from signaling.calls import AgentAfter, CallEvent, CallState, step
from signaling.consult import (
    CONSULT_TRANSITIONS,
    BadConsult,
    ConsultEvent,
    consult_step,
)

# Each cell: next state / the consulted agent after / the event raised on
# the customer's call ("." for none); "-" is out of order.
# event         ringing                              answered
EXPECTED = """
accept          answered/busy/.                      -
decline         ended/available-keep-idle/consult-end -
ring-timeout    ended/away/consult-end               -
cancel          ended/available-keep-idle/consult-end ended/available/consult-end
complete        -                                    ended/busy/consult-complete
hangup          -                                    ended/available/consult-end
agent-lost      ended/offline/consult-end            ended/offline/consult-end
call-left       ended/available-keep-idle/.          ended/available/.
"""

STATES = [CallState.RINGING, CallState.ANSWERED, CallState.ENDED]


def _rows() -> list[tuple[CallState, ConsultEvent, str]]:
    rows = []
    for line in EXPECTED.strip().splitlines():
        event, *cells = line.split()
        cells.append("-")  # an ended consult takes nothing
        for state, cell in zip(STATES, cells, strict=True):
            rows.append((state, ConsultEvent(event), cell))
    return rows


@pytest.mark.parametrize(("state", "event", "expected"), _rows())
def test_every_state_and_event(
    state: CallState, event: ConsultEvent, expected: str
) -> None:
    if expected == "-":
        with pytest.raises(BadConsult) as caught:
            consult_step(state, event)
        assert caught.value.code == "bad-state"
        return
    next_state, agent, parent = expected.split("/")
    row = consult_step(state, event)
    assert row.next_state == CallState(next_state)
    assert row.agent == AgentAfter(agent)
    assert row.parent == (None if parent == "." else CallEvent(parent))


def test_table_covers_every_event() -> None:
    assert {row[1] for row in _rows()} == set(ConsultEvent)
    assert len(CONSULT_TRANSITIONS) == sum(1 for *_, cell in _rows() if cell != "-")


def test_ended_consults_say_why() -> None:
    for key, row in CONSULT_TRANSITIONS.items():
        assert bool(row.end_reason) == (row.next_state == CallState.ENDED), key


def test_every_raised_event_fits_a_consulting_call() -> None:
    for row in CONSULT_TRANSITIONS.values():
        if row.parent is not None:
            step(CallState.CONSULTING, row.parent)

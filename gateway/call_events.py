"""What the event log records for a row of the call state machine.

Sans-I/O: a row applied to a call (``gateway.routing.Applied``) and the
time in, event kinds and fields out; ``Switchboard`` writes them. The
kinds and fields are in ``docs/reports.md``. Steps that are not rows of the
call's own machine are recorded where they happen: the IVR's nodes, offers
and FAQ answers (``gateway.ivr_calls``), the toll-free line (the IVR, when
the caller reaches it), transfers (``gateway.transfers``), callbacks
(``gateway.callbacks``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from gateway.routing import Applied, Call
from ivr.menu import HoursNode, Menu, QueueNode
from signaling.calls import CallState

#: A call's record fields that every one of its events carries.
IDENTITY: Final = ("visit", "channel", "menu")
#: End reasons that mean the customer left (hung up, or the page was lost).
_LEFT: Final = frozenset({"customer-hangup", "customer-lost"})
_WAITING: Final = frozenset({CallState.QUEUED, CallState.RINGING})

Entry = tuple[str, dict[str, Any]]


def identity(fields: Mapping[str, str]) -> dict[str, str]:
    """The visit, channel and menu of a call, from its record."""
    return {name: fields.get(name, "") for name in IDENTITY}


def is_attempt(call: Call) -> bool:
    """Whether the call is a callback's attempt: ``callback.done`` stands
    for it, its steps are not an interaction of their own."""
    return call.fields.get("callback", "").startswith("cb-")


def left_menu(applied: Applied) -> bool:
    """Whether the customer left while the call was in the IVR (the event
    then names the node, which only the IVR knows)."""
    return (
        applied.before.state == CallState.IVR and applied.transition.end_reason in _LEFT
    )


def row_events(applied: Applied, now: float, node: str = "") -> list[Entry]:
    """The entries for one row: ``queued``, ``answered`` (the first answer
    only: a transferred call's next agent is a ``transferred``),
    ``abandoned`` and ``ended``; `node` is where a caller left the menu."""
    call, row = applied.before, applied.transition
    base = identity(call.fields)
    waited = {"wait_ms": _ms(now - call.queued_at)}
    entries: list[Entry] = []
    if row.next_state == CallState.QUEUED and row.enqueue:
        entries.append(("queued", base))
    elif (
        row.next_state == CallState.ANSWERED
        and call.state == CallState.RINGING
        and call.answered_at is None
    ):
        entries.append(("answered", {**base, "agent": call.agent, **waited}))
    if row.next_state != CallState.ENDED:
        return entries

    if row.end_reason in _LEFT and call.state in _WAITING:
        entries.append(("abandoned", {**base, **waited}))
    elif left_menu(applied):
        entries.append(("abandoned", {**base, "node": node}))
    started = float(call.fields.get("started_at") or call.queued_at)
    ended = {"detail": row.end_reason or "", "duration_ms": _ms(now - started)}
    entries.append(("ended", {**base, **ended}))
    return entries


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def tollfree_reason(menu: Menu, nodes: Sequence[str], hours: str, by: str) -> str:
    """Why a call went to the toll-free line: ``agent`` (an agent sent it),
    ``overflow`` (it left a queue that waited too long), ``closed`` (the
    hours node took the closed or holiday branch) or ``menu`` (the caller's
    choices led there); the latest of these on the call's path counts."""
    if by == "agent":
        return "agent"
    reason = "menu"
    for here, there in zip(nodes, nodes[1:], strict=False):
        node = menu.node(here)
        if isinstance(node, QueueNode) and there == node.overflow:
            reason = "overflow"
        elif isinstance(node, HoursNode) and hours != "open" and there != node.open:
            reason = "closed"
    return reason

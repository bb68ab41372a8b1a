"""Callbacks over the trunk: a media worker dials the customer back.

An agent's claim of a callback whose customer has no page open puts a dial
entry in the stream ``callbacks:dials`` (``gateway.callbacks``). While its
worker has a free call, :class:`CallbackDials` reads one entry at a time as
a consumer of group ``workers`` named after the worker's bus node, and for
each becomes the call's customer, as a phone caller's session is: a bus
session at ``sip:<worker>`` that the desk makes the call's customer.

The number is checked again against the number policy before anything is
dialled (the policy may have narrowed since the request was kept): the
trunk only ever dials a number that passes it. The dial goes to the trunk
as the toll-free line does (``MediaWorker.dial_line``). When the customer
picks up, the session sends ``call.accept``; from then on the leg is a
phone caller answered by a web agent (the agent's softphone is offered the
worker's audio, holds and hang-ups as for any phone caller). A line that is
busy, that nobody answers within ``trunk.answer_s`` or that fails is told
to the switchboard as ``call.unreached``, which records the attempt.

The entry is acknowledged once the attempt's outcome reached the
switchboard; a worker that dies mid-dial leaves it pending, and the node
that notices records the attempt as lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from gateway.callback_streams import Dial
from gateway.sip_owner import SipError, SipEvent
from gateway.sip_target import SipTargetError
from ivr.numbers import NumberError, check_callback_number
from signaling.bus import cancel_task

if TYPE_CHECKING:
    from gateway.media_worker import Leg, MediaWorker

logger = logging.getLogger(__name__)

#: How long one read of the stream waits for an entry (and so, at most,
#: how long a stopping worker waits for the reading loop).
TAKE_BLOCK_MS: Final = 1000
#: After a failed read (Redis away), the next one waits this long.
RETRY_S: Final = 1.0
#: A full worker looks again this often, besides whenever a leg ends (a
#: toll-free leg that failed frees a call without ending a leg).
RECHECK_S: Final = 1.0
BUSY_CODES: Final = frozenset({486, 600, 603})
NO_ANSWER_CODES: Final = frozenset({408, 480})


def unreached_reason(code: int, gave_up: bool) -> str:
    """What a dial that ended unanswered with SIP `code` tells the
    switchboard; `gave_up`: the worker cancelled it after the answer
    timeout."""
    if gave_up or code in NO_ANSWER_CODES:
        return "no-answer"
    if code in BUSY_CODES:
        return "busy"
    return "failed"


class DialDesk(Protocol):
    """What a worker uses of the callback desk (``CallbackStreams``)."""

    async def take_dial(self, consumer: str, block_ms: int) -> Dial | None: ...

    async def attach_dialler(self, call_id: str, session_id: str) -> bool: ...

    async def dial_done(self, dial: Dial) -> None: ...


@dataclass(eq=False)
class Outbound:
    """One dial of a callback and the leg that carries it."""

    dial: Dial
    leg: Leg
    answered: bool = False  # the customer picked up
    gave_up: bool = False  # cancelled after the answer timeout
    acked: bool = False  # the desk was told the entry is done

    def extra(self) -> dict[str, Any]:
        return {
            **self.leg.extra(),
            "callback": self.dial.callback,
            "attempt": self.dial.attempt,
        }


class CallbackDials:
    """The dials of one worker: the reading loop and each dial's steps,
    run in the order of its leg's inbox."""

    def __init__(self, worker: MediaWorker, desk: DialDesk) -> None:
        self.worker = worker
        self.desk = desk
        self.by_leg: dict[int, Outbound] = {}
        #: Set when one of the worker's calls ended: a slot may be free.
        self.freed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._take_forever(), name="callback-dials")

    async def stop(self) -> None:
        """Stop reading; a dial still ringing is given back as failed (the
        attempt counts, the callback waits again)."""
        self._stopping = True
        self.freed.set()
        if self._task is not None:
            await cancel_task(self._task)
            self._task = None
        for out in list(self.by_leg.values()):
            if not out.answered and not out.leg.hung_up:
                logger.warning(
                    "worker stops: callback dial given up", extra=out.extra()
                )
                await self._unreached(out, "failed")

    # Reading the stream

    async def _take_forever(self) -> None:
        consumer = self.worker.node.bus.node_id
        while not self._stopping:
            while not self.worker.has_free_call() and not self._stopping:
                self.freed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.freed.wait(), RECHECK_S)
            if self._stopping:
                break
            try:
                dial = await self.desk.take_dial(consumer, TAKE_BLOCK_MS)
            except Exception:
                logger.warning("callback dials not read", exc_info=True)
                await asyncio.sleep(RETRY_S)
                continue
            if dial is not None and not self._stopping:
                self._begin(dial)

    def _begin(self, dial: Dial) -> None:
        """A leg for the dial, counted as a call from now on."""
        worker = self.worker
        leg = worker.new_leg(worker.owner.new_leg(), dial.call_id)
        out = Outbound(dial, leg)
        self.by_leg[leg.leg] = out
        worker.queue(leg, lambda: self._dial(out))

    # One dial

    async def _dial(self, out: Outbound) -> None:
        try:
            await self._place(out)
        except Exception:
            # The leg must end (it counts as a call) and the entry be done.
            logger.exception("callback dial failed", extra=out.extra())
            await self._unreached(out, "failed")

    async def _place(self, out: Outbound) -> None:
        worker, dial, leg = self.worker, out.dial, out.leg
        await worker.open_session(leg)
        assert leg.session is not None
        if not await self.desk.attach_dialler(dial.call_id, leg.session.id):
            logger.info("callback's call no longer dialling", extra=out.extra())
            leg.hung_up = True
            await self._finish(out)
            return
        try:
            number = check_callback_number(
                dial.number, worker.settings.callback_countries
            )
        except NumberError as refused:
            logger.warning(
                "callback number refused by the number policy: %s",
                refused,
                extra={**out.extra(), "number": dial.number},
            )
            await self._unreached(out, "failed")
            return
        try:
            await worker.dial_line(number, leg.leg)
        except (SipError, SipTargetError) as err:
            logger.warning("callback not dialled: %s", err, extra=out.extra())
            await self._unreached(out, "failed")
            return
        logger.info("dialling a callback", extra={**out.extra(), "number": number})
        asyncio.get_running_loop().call_later(
            worker.settings.trunk_answer_s,
            lambda: worker.queue(leg, lambda: self._no_answer(out)),
        )

    def takes(self, event: SipEvent) -> bool:
        """Whether `event` is a dial's to handle (its answer, or its end
        before an answer), queued in its leg's order; other events of the
        leg are a phone caller's, for the worker."""
        out = self.by_leg.get(event.leg)
        if out is None:
            return False
        queue = self.worker.queue
        if event.kind == "connected":
            queue(out.leg, lambda: self._answered(out))
        elif event.kind == "progress":
            logger.debug("callback rings (%s)", event.info["code"], extra=out.extra())
        elif event.kind == "ended" and not out.answered:
            queue(out.leg, lambda: self._ended_unanswered(out, event))
        else:
            if event.kind == "ended":
                self.by_leg.pop(event.leg, None)
            return False
        return True

    async def _answered(self, out: Outbound) -> None:
        leg = out.leg
        out.answered = True
        if leg.hung_up or leg.ended:
            # The call ended in Helpline while the phone rang.
            with contextlib.suppress(SipError):
                await self.worker.owner.hangup(leg.leg)
        else:
            logger.info("callback answered", extra=out.extra())
            await self.worker.request(
                leg, {"type": "call.accept", "call_id": leg.call_id}
            )
            await self._carried(out)
        await self._ack(out)

    async def _carried(self, out: Outbound) -> None:
        """The answered call is this worker's as a phone caller's is: the
        end of its session, or of the worker, ends it. (While it rings, a
        dead worker's dial is the desk's to record as lost.)

        TODO(outbound dialogs in gateway.sip_dialog): a successor sends no
        BYE for it, so the customer's phone holds a dead call until it or
        the trunk gives up."""
        leg = out.leg
        assert leg.session is not None
        await self.worker.node.bus.add_call(leg.session.id, leg.call_id)
        await self.worker.track_call(leg.call_id)

    async def _no_answer(self, out: Outbound) -> None:
        if out.answered or out.leg.ended or out.leg.hung_up:
            return
        logger.info("callback not answered in time", extra=out.extra())
        out.gave_up = True
        with contextlib.suppress(SipError):
            await self.worker.owner.hangup(out.leg.leg, 487)

    async def _ended_unanswered(self, out: Outbound, event: SipEvent) -> None:
        if out.leg.hung_up:
            # Helpline ended the call first (its ring timer, the agent).
            await self._finish(out)
            return
        code = int(event.info.get("code", 0))
        await self._unreached(out, unreached_reason(code, out.gave_up), code)

    async def _unreached(self, out: Outbound, reason: str, code: int = 0) -> None:
        leg = out.leg
        logger.info(
            "callback not reached: %s (SIP %d)", reason, code, extra=out.extra()
        )
        leg.hung_up = True  # the session's end is no hang-up by the customer
        try:
            await self.worker.request(
                leg,
                {"type": "call.unreached", "call_id": leg.call_id, "reason": reason},
            )
        finally:
            await self._finish(out)

    async def _finish(self, out: Outbound) -> None:
        """The dial is over unanswered: acknowledged, its session gone,
        its leg free."""
        leg = out.leg
        leg.ended = True
        self.by_leg.pop(leg.leg, None)
        try:
            await self._ack(out)
        finally:
            with contextlib.suppress(SipError):
                await self.worker.owner.hangup(leg.leg)
            await self.worker.untrack_call(leg.call_id)
            await self.worker.end_session(leg, "dialler")

    async def _ack(self, out: Outbound) -> None:
        if not out.acked:
            out.acked = True
            await self.desk.dial_done(out.dial)

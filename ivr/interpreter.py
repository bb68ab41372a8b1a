"""The IVR interpreter: one state machine per call (sans-I/O).

Theory of operation. Events come in (the call started, a digit, a prompt
finished, a timer fired, a form was submitted in the page, an agent
answered, the caller hung up); actions go out (play or stop a prompt, show
a menu or the callback form, start or cancel a timer, collect digits, route
to a queue, request a callback, transfer to the toll-free line, hang up).
Timers are actions and fire as events, so nothing here sleeps or reads a
clock except through the injected ``clock``.

The call is in one *phase* at a time:

- ``idle``: not started yet;
- ``announcing``: a prompt that cannot be interrupted plays (FAQ answers,
  the prompt of a queue, toll-free or hang-up node); digits are dropped;
- ``prompting``: the prompts of a menu or of a callback question play; the
  first digit stops them (barge-in) and is kept, as are the ones after it;
- ``waiting``: the prompt ended; a no-input timer runs;
- ``collecting``: some digits are in; an inter-digit timer runs;
- ``queued``: the call waits for an agent; an overflow timer runs;
- ``requesting``: a callback request went out; the call waits to hear
  whether it was kept (``CallbackKept``) or refused (``CallbackRefused``);
- ``ended``: the IVR is done with the call; every event is ignored.

``TABLE`` maps (phase, event type) to the handler; a pair not in it is
ignored. Digits typed during a non-interruptible prompt are discarded, the
one rule for them: they never reach a later, unrelated menu.

The journey of each call (nodes visited, FAQ answers given, offers made)
is kept. A transfer to the toll-free line is refused unless the journey
shows both an FAQ answer and the callback offer: the call is then sent to
the first faq node, then the first callback node, whichever offer is
missing; if the menu has neither, to its first queue node once; failing
all that it hangs up. A published menu never needs this (the validator
refuses such menus); a draft under test may.

Callback numbers go through ``check_number`` when one is given (e.g.
``ivr.numbers.check_callback_number``): the number it returns is the one
requested, and one it refuses counts as an invalid entry (keypad) or is
ignored (form). Without it a keyed number is taken as typed and a form's
only if it looks like digits.

A keyed number that passes is read back before it is used (``confirm``
mode): the node's read-back prompt, then each digit as typed as a prompt
of its own (so no prompt, nor its cached audio, holds a whole number),
then the question; the confirm digit goes on to the window or the request,
the re-enter digit asks for the number again. The read-back prompts can be
interrupted: a digit stops them and is the answer. Each question (offer,
number, confirmation, window) has the node's attempts; asking for the
number again counts too, and after the last attempt the call takes the
declined path. A number from the page's form is not read back.

``RequestCallback`` hands the request to whoever keeps it (the callback
policy may refuse it, e.g. over a daily limit). The call waits for the
answer: kept, it goes on to the node's ``next``; refused, it hears the
node's refused prompt and takes the declined path.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Final, TypeAlias

from ivr.events import (
    Action,
    AgentAnswered,
    CallbackKept,
    CallbackRefused,
    CallEnded,
    CallStarted,
    CancelTimer,
    CollectDigits,
    Digit,
    Event,
    FormSubmitted,
    HangUp,
    LeaveQueue,
    PlayPrompt,
    PromptFinished,
    RequestCallback,
    RouteToQueue,
    SentToLine,
    ShowCallbackForm,
    ShowMenu,
    StartTimer,
    StopPrompt,
    TimerFired,
    TransferFailed,
    TransferToTollFree,
)
from ivr.menu import (
    DIGITS,
    MAX_NODES,
    CallbackNode,
    FaqNode,
    HangupNode,
    HoursNode,
    HoursState,
    Menu,
    MenuNode,
    Node,
    QueueNode,
    TollFreeNode,
)
from ivr.states import (
    CALLBACK,
    FAQ,
    INPUT,
    INTERDIGIT,
    MAX_NUMBER_DIGITS,
    QUEUE,
    TRANSFER_FAILED_PROMPT,
    HoursFunction,
    Journey,
    Mode,
    NumberCheck,
    Phase,
)
from signaling.errors import IvrError

logger = logging.getLogger(__name__)

#: What a caller hears once the callback request is kept.
CALLBACK_CONFIRMATION: Final = "Thank you. We will call you back {when}."

#: The events and actions live in ivr.events; importable from here too.
__all__ = [
    "Action",
    "AgentAnswered",
    "CALLBACK",
    "CallbackKept",
    "CallbackRefused",
    "CallEnded",
    "CallStarted",
    "CancelTimer",
    "CollectDigits",
    "Digit",
    "ENTER",
    "Event",
    "FAQ",
    "FormSubmitted",
    "HangUp",
    "HoursFunction",
    "INPUT",
    "INTERDIGIT",
    "Interpreter",
    "Journey",
    "LeaveQueue",
    "MAX_NUMBER_DIGITS",
    "Mode",
    "NumberCheck",
    "Phase",
    "PlayPrompt",
    "PromptFinished",
    "QUEUE",
    "RequestCallback",
    "RouteToQueue",
    "ShowCallbackForm",
    "ShowMenu",
    "StartTimer",
    "StopPrompt",
    "TABLE",
    "TimerFired",
    "SentToLine",
    "TransferFailed",
    "TransferToTollFree",
]

_FORM_NUMBER = re.compile(r"\+?[0-9]{3,20}")


class Interpreter:
    """Runs one call through `menu`: feed it events, carry out its actions."""

    def __init__(
        self,
        menu: Menu,
        *,
        call_id: str,
        hours_state: HoursFunction,
        clock: Callable[[], datetime],
        check_number: NumberCheck | None = None,
    ) -> None:
        self.menu = menu
        self.call_id = call_id
        self.phase = Phase.IDLE
        self._hours_state = hours_state
        self._clock = clock
        self._check_number = check_number
        self._extra = {"call_id": call_id}
        self._out: list[Action] = []
        self._node: Node | None = None
        self._mode = Mode.MENU
        self._choices: dict[str, str] = {}
        self._buffer = ""
        self._number = ""
        self._captured = ""
        self._keyed = ""  # the captured number as typed, for the read-back
        self._timeouts = 0
        self._invalids = 0
        self._reentries = 0
        self._plays = 0
        self._playing: int | None = None
        self._pending: list[tuple[str | None, str | None]] = []
        self._then: Callable[[], None] = self._noop
        self._timers: set[str] = set()
        self._hops = 0
        self._hours_now: HoursState | None = None
        self._fallback_queued = False
        self._nodes: list[str] = []
        self._answers: list[str] = []
        self._offers: list[str] = []
        self._outcome: str | None = None
        self._refused = 0
        self._chose: list[tuple[str, str]] = []

    @property
    def journey(self) -> Journey:
        return Journey(
            tuple(self._nodes),
            tuple(self._answers),
            tuple(self._offers),
            self._outcome,
            self._refused,
            tuple(self._chose),
        )

    @property
    def node_id(self) -> str:
        """The node the call is at ("" before it starts)."""
        return self._node_id()

    def handle(self, event: Event) -> list[Action]:
        """The actions that `event` calls for, in order."""
        self._out, self._hops, self._hours_now = [], 0, None
        if self._accepts(event):
            handler = TABLE.get((self.phase, type(event)))
            if handler is not None:
                handler(self, event)
        return self._out

    def _accepts(self, event: Event) -> bool:
        """Whether `event` is current: no stale prompt or timer, no bad key."""
        if isinstance(event, Digit):
            return self._digit_ok(event.digit)
        if isinstance(event, PromptFinished):
            if event.play != self._playing:
                return False
            self._playing = None
        if isinstance(event, TimerFired):
            if event.name not in self._timers:
                return False
            self._timers.discard(event.name)
        return True

    def _digit_ok(self, digit: str) -> bool:
        shown = digit[:8] if isinstance(digit, str) else type(digit).__name__
        extra = {**self._extra, "digit": shown}
        if not isinstance(digit, str) or len(digit) != 1 or digit not in DIGITS:
            logger.info("ignored a key that is not a DTMF digit", extra=extra)
            return False
        if self.phase in (Phase.ENDED, Phase.IDLE):
            logger.info(
                "ignored a digit outside the call (%s)", self.phase, extra=extra
            )
            return False
        return True

    # Moving between nodes.

    def _enter(self, node_id: str) -> None:
        self._hops += 1
        if self._hops > MAX_NODES:
            logger.error("menu loops without waiting; hanging up", extra=self._extra)
            self._finish(HangUp("menu-loop"), "menu-loop")
            return
        self._leave()
        node = self.menu.node(node_id)
        self._node = node
        self._nodes.append(node_id)
        self._timeouts = self._invalids = self._reentries = 0
        logger.info("call entered node %s (%s)", node_id, node.kind, extra=self._extra)
        ENTER[node.kind](self, node)

    def _leave(self) -> None:
        self._stop_prompt()
        for name in sorted(self._timers):
            self._out.append(CancelTimer(name))
        self._timers.clear()

    def _enter_menu(self, node: Node) -> None:
        assert isinstance(node, MenuNode)  # ENTER is keyed by kind
        self._out.append(
            ShowMenu(node.id, tuple((o.digits, o.label) for o in node.options))
        )
        self._ask(Mode.MENU)

    def _enter_faq(self, node: Node) -> None:
        assert isinstance(node, FaqNode)
        self._offer(FAQ)
        items: list[tuple[str | None, str | None]] = [(None, a) for a in node.answers]
        if node.prompt:
            items.insert(0, (node.prompt, None))
        self._announce(items, lambda: self._enter(node.next))

    def _enter_callback(self, node: Node) -> None:
        assert isinstance(node, CallbackNode)
        self._offer(CALLBACK)
        self._out.append(ShowCallbackForm(node.id, node.windows))
        self._ask(Mode.OFFER)

    def _enter_queue(self, node: Node) -> None:
        assert isinstance(node, QueueNode)
        self._out.append(RouteToQueue(node.id, node.skill, node.max_wait_seconds))
        self._start_timer(QUEUE, node.max_wait_seconds)
        if node.prompt:
            self._play(node.prompt, None, interruptible=False)
        self.phase = Phase.QUEUED

    def _enter_hours(self, node: Node) -> None:
        assert isinstance(node, HoursNode)
        raw = self._hours_state(self._clock())
        try:
            state = HoursState(raw)
        except ValueError:
            logger.warning(
                "hours state %r unknown; taken as closed", raw, extra=self._extra
            )
            state = HoursState.CLOSED
        self._enter({"open": node.open, "closed": node.closed}.get(state, node.holiday))

    def _hours(self) -> HoursState:
        """The hours state, asked once per event: one instant, one answer."""
        if self._hours_now is None:
            raw = self._hours_state(self._clock())
            try:
                self._hours_now = HoursState(raw)
            except ValueError:
                logger.warning("hours state %r unknown: closed", raw, extra=self._extra)
                self._hours_now = HoursState.CLOSED
        return self._hours_now

    def _enter_tollfree(self, node: Node) -> None:
        assert isinstance(node, TollFreeNode)
        if FAQ in self._offers and CALLBACK in self._offers:
            self._announce_then(node.prompt, TransferToTollFree(node.id), "tollfree")
            return
        logger.warning("toll-free refused before both offers", extra=self._extra)
        self._refused += 1
        self._fallback()

    def _enter_hangup(self, node: Node) -> None:
        assert isinstance(node, HangupNode)
        self._announce_then(node.prompt, HangUp("menu"), "hangup")

    def _fallback(self) -> None:
        missing = [k for k in (FAQ, CALLBACK) if k not in self._offers]
        for kind in missing:
            target = self._first(kind)
            if target is not None:
                self._enter(target)
                return
        queue = self._first("queue")
        if queue is not None and not self._fallback_queued:
            self._fallback_queued = True
            self._enter(queue)
            return
        self._finish(HangUp("tollfree-refused"), "tollfree-refused")

    def _sent_to_line(self, event: Event) -> None:
        """The agent sent the caller on to the toll-free line (the journey
        was checked for both offers before): its failure is handled as the
        menu's own toll-free node's."""
        if self._outcome == "agent":
            self._outcome = "tollfree"

    def _transfer_failed(self, event: Event) -> None:
        """The line the caller was sent to failed: say so, and offer the
        callback again (or end the call if the menu has none)."""
        assert isinstance(event, TransferFailed)
        if self._outcome != "tollfree":
            return
        logger.warning(
            "toll-free transfer failed (%s)", event.reason, extra=self._extra
        )
        self._outcome = None
        target = self._first(CALLBACK)
        if target is None:
            self._announce_then(
                TRANSFER_FAILED_PROMPT, HangUp("tollfree-failed"), "tollfree-failed"
            )
            return
        self._announce([(TRANSFER_FAILED_PROMPT, None)], lambda: self._enter(target))

    def _first(self, kind: str) -> str | None:
        return next((n.id for n in self.menu.nodes.values() if n.kind == kind), None)

    def _offer(self, kind: str) -> None:
        if kind not in self._offers:
            self._offers.append(kind)

    def _finish(self, action: Action, outcome: str) -> None:
        self._leave()
        self._out.append(action)
        self._outcome = outcome
        self.phase = Phase.ENDED

    # Prompts that cannot be interrupted, one after another.

    def _announce(
        self, items: list[tuple[str | None, str | None]], then: Callable[[], None]
    ) -> None:
        self._pending, self._then = items, then
        self.phase = Phase.ANNOUNCING
        self._next_announcement()

    def _announce_then(self, prompt: str | None, action: Action, outcome: str) -> None:
        def act() -> None:
            self._finish(action, outcome)

        if prompt:
            self._announce([(prompt, None)], act)
        else:
            act()

    def _next_announcement(self) -> None:
        if not self._pending:
            self._then()
            return
        text, faq_id = self._pending.pop(0)
        if faq_id is not None:
            self._answers.append(faq_id)
        self._play(text, faq_id, interruptible=False)

    def _announced(self, event: Event) -> None:
        self._next_announcement()

    def _discard(self, event: Event) -> None:
        logger.debug(
            "digit dropped during a prompt that cannot be interrupted",
            extra=self._extra,
        )

    def _play(
        self, text: str | None, faq_id: str | None, *, interruptible: bool
    ) -> None:
        self._plays += 1
        self._playing = self._plays
        node = self._node.id if self._node else ""
        self._out.append(PlayPrompt(self._plays, node, text, faq_id, interruptible))

    def _queue_prompt_done(self, event: Event) -> None:
        pass  # the hold prompt ended; the call stays queued

    # Asking for digits.

    def _step(self, mode: Mode) -> None:
        """The next question of a callback node, with attempts of its own."""
        self._timeouts = self._invalids = 0
        self._ask(mode)

    def _ask(self, mode: Mode) -> None:
        """Start collecting for `mode`: its prompts, or straight to waiting."""
        self._mode, self._buffer, self._number = mode, "", ""
        self._choices = self._choices_for(mode)
        longest = max((len(k) for k in self._choices), default=MAX_NUMBER_DIGITS)
        self._out.append(CollectDigits(self._node_id(), longest, "#"))
        prompts = self._prompts_for(mode)
        if prompts:
            self._pending = [(text, None) for text in prompts[1:]]
            self._play(prompts[0], None, interruptible=True)
            self.phase = Phase.PROMPTING
        else:
            self._await_input(None)

    def _prompted(self, event: Event) -> None:
        """A prompt of the question ended: the next one, or wait for a key."""
        if self._pending:
            text, _ = self._pending.pop(0)
            self._play(text, None, interruptible=True)
        else:
            self._await_input(event)

    def _choices_for(self, mode: Mode) -> dict[str, str]:
        node = self._node
        if isinstance(node, MenuNode):
            return {o.digits: o.target for o in node.options}
        assert isinstance(node, CallbackNode)
        if mode is Mode.OFFER:
            return {node.accept_digit: "accepted", node.decline_digit: "declined"}
        if mode is Mode.CONFIRM:
            return {node.confirm_digit: "confirmed", node.reenter_digit: "reenter"}
        if mode is Mode.WINDOW:
            return {str(i): w for i, w in enumerate(node.windows, start=1)}
        return {}

    def _prompts_for(self, mode: Mode) -> list[str]:
        node = self._node
        if isinstance(node, CallbackNode):
            if mode is Mode.CONFIRM:
                return node.readback(self._keyed)
            prompt = {
                Mode.NUMBER: node.number_prompt,
                Mode.WINDOW: node.window_prompt,
            }.get(mode, node.prompt)
        else:
            assert isinstance(node, MenuNode)
            prompt = node.prompt
        return [prompt] if prompt else []

    def _node_id(self) -> str:
        return self._node.id if self._node else ""

    def _await_input(self, event: Event | None) -> None:
        self.phase = Phase.WAITING
        self._start_timer(INPUT, self._limits()[0])

    def _limits(self) -> tuple[float, float, int]:
        node = self._node
        assert isinstance(node, MenuNode | CallbackNode)
        return node.timeout_seconds, node.interdigit_seconds, node.attempts

    def _barge_in(self, event: Event) -> None:
        self._stop_prompt()
        self._first_digit(event)

    def _stop_prompt(self) -> None:
        """Stop the prompt playing, and those that were to follow it."""
        self._pending = []
        if self._playing is not None:
            self._out.append(StopPrompt(self._playing))
            self._playing = None

    def _first_digit(self, event: Event) -> None:
        self._cancel_timer(INPUT)
        self._more_digit(event)

    def _more_digit(self, event: Event) -> None:
        assert isinstance(event, Digit)
        self._cancel_timer(INTERDIGIT)
        if self._mode is Mode.NUMBER:
            self._number_digit(event.digit)
        else:
            self._choice_digit(event.digit)

    def _choice_digit(self, digit: str) -> None:
        entry = self._buffer + digit
        longer = any(k.startswith(entry) and k != entry for k in self._choices)
        if digit == "#" and self._buffer and not longer and entry not in self._choices:
            self._resolve(self._buffer)  # '#' ends an entry
        elif longer:
            self._buffer = entry
            self._wait_for_more()
        else:
            self._resolve(entry)

    def _number_digit(self, digit: str) -> None:
        if digit == "#":
            self._number_done()
        elif digit != "*":
            self._number += digit
            if len(self._number) >= MAX_NUMBER_DIGITS:
                self._number_done()
            else:
                self._wait_for_more()

    def _wait_for_more(self) -> None:
        self.phase = Phase.COLLECTING
        self._start_timer(INTERDIGIT, self._limits()[1])

    def _interdigit(self, event: Event) -> None:
        if self._mode is Mode.NUMBER:
            self._number_done()
        else:
            self._resolve(self._buffer)

    def _resolve(self, entry: str) -> None:
        result = self._choices.get(entry)
        if result is None:
            self._retry(timed_out=False)
            return
        if isinstance(self._node, MenuNode):
            self._chose.append((self._node.id, entry))
        self._chosen(result)

    def _number_done(self) -> None:
        if not self._number:
            self._retry(timed_out=False)
            return
        node = self._node
        assert isinstance(node, CallbackNode)
        number = self._valid_number(self._number, form=False)
        keyed, self._number = self._number, ""
        if number is None:
            self._retry(timed_out=False)
        else:
            self._captured, self._keyed = number, keyed
            self._step(Mode.CONFIRM)

    def _confirmed(self, node: CallbackNode, result: str) -> None:
        if result == "confirmed" and node.windows:
            self._step(Mode.WINDOW)
        elif result == "confirmed":
            self._request(self._captured, None)
        elif self._reentries + 1 < node.attempts:
            self._reentries += 1
            self._step(Mode.NUMBER)
        else:
            self._enter(node.declined)  # the number never came out right

    def _no_input(self, event: Event) -> None:
        self._retry(timed_out=True)

    def _retry(self, *, timed_out: bool) -> None:
        if timed_out:
            self._timeouts += 1
        else:
            self._invalids += 1
        if max(self._timeouts, self._invalids) < self._limits()[2]:
            self._ask(self._mode)
        else:
            self._exhausted(timed_out)

    def _exhausted(self, timed_out: bool) -> None:
        node = self._node
        if isinstance(node, MenuNode):
            self._enter(node.on_timeout if timed_out else node.on_invalid)
        elif self._mode is Mode.WINDOW:
            self._request(self._captured, None)
        else:
            assert isinstance(node, CallbackNode)
            self._enter(node.declined)

    def _chosen(self, result: str) -> None:
        node = self._node
        if isinstance(node, MenuNode):
            self._enter(result)
            return
        assert isinstance(node, CallbackNode)
        if self._mode is Mode.WINDOW:
            self._request(self._captured, result)
        elif self._mode is Mode.CONFIRM:
            self._confirmed(node, result)
        elif result == "accepted":
            self._step(Mode.NUMBER)
        else:
            self._enter(node.declined)

    def _request(self, number: str, window: str | None) -> None:
        node = self._node
        assert isinstance(node, CallbackNode)
        self._leave()
        self._out.append(RequestCallback(node.id, number, window))
        logger.info("callback requested", extra={**self._extra, "number": number})
        self.phase = Phase.REQUESTING

    def _callback_kept(self, event: Event) -> None:
        assert isinstance(event, CallbackKept)
        node = self._node
        assert isinstance(node, CallbackNode)
        if event.when:
            confirmation = CALLBACK_CONFIRMATION.format(when=event.when)
            self._announce([(confirmation, None)], lambda: self._enter(node.next))
        else:
            self._enter(node.next)

    def _callback_refused(self, event: Event) -> None:
        assert isinstance(event, CallbackRefused)
        node = self._node
        assert isinstance(node, CallbackNode)
        logger.info("callback request refused: %s", event.code, extra=self._extra)
        self._announce([(node.refusal(), None)], lambda: self._enter(node.declined))

    # Forms from the page.

    def _form(self, event: Event) -> None:
        assert isinstance(event, FormSubmitted)
        node = self._node
        if event.form == "menu" and isinstance(node, MenuNode):
            choice = _field(event.fields, "choice")
            target = self._choices.get(choice)
            if target is not None:
                self._chose.append((node.id, choice))
                self._enter(target)
                return
        if event.form == "callback" and isinstance(node, CallbackNode):
            if self._callback_form(node, event.fields):
                return
        logger.info("ignored a form that does not fit the node", extra=self._extra)

    def _callback_form(self, node: CallbackNode, fields: Mapping[str, str]) -> bool:
        if "decline" in fields:
            self._enter(node.declined)
            return True
        window = _field(fields, "window") or None
        number = self._valid_number(_field(fields, "number"), form=True)
        if number is None:
            return False
        if window is not None and window not in node.windows:
            return False
        self._stop_prompt()
        self._request(number, window)
        return True

    def _valid_number(self, raw: str, *, form: bool) -> str | None:
        """The number to call back, or None; without a `check_number`, a
        keyed number as typed and a form's if it looks like digits."""
        if self._check_number is None:
            return raw if not form or _FORM_NUMBER.fullmatch(raw) else None
        try:
            return self._check_number(raw)
        except IvrError as exc:
            extra = {**self._extra, "number": raw, "code": exc.code}
            logger.info("callback number refused: %s", exc, extra=extra)
            return None

    # The queue and the end of the call.

    def _overflow(self, event: Event) -> None:
        node = self._node
        assert isinstance(node, QueueNode)
        self._out.append(LeaveQueue(node.id))
        self._enter(node.overflow)

    def _answered(self, event: Event) -> None:
        self._leave()
        self._outcome = "agent"
        self.phase = Phase.ENDED

    def _caller_gone(self, event: Event) -> None:
        self._leave()
        if self._outcome is None:
            self._outcome = "caller-hung-up"
        self.phase = Phase.ENDED

    def _start(self, event: Event) -> None:
        self._enter(self.menu.start)

    # Timers.

    def _start_timer(self, name: str, seconds: float) -> None:
        self._timers.add(name)
        self._out.append(StartTimer(name, seconds))

    def _cancel_timer(self, name: str) -> None:
        if name in self._timers:
            self._timers.discard(name)
            self._out.append(CancelTimer(name))

    def _noop(self) -> None:
        pass


def _field(fields: Mapping[str, object], name: str) -> str:
    """A form field as text; anything else the page sent counts as empty."""
    value = fields.get(name, "")
    return value if isinstance(value, str) and len(value) <= 64 else ""


_Handler: TypeAlias = Callable[[Interpreter, Event], None]
P = Phase
I_ = Interpreter

#: The machine: what each event does in each phase; other pairs are ignored.
TABLE: Final[dict[tuple[Phase, type], _Handler]] = {
    (P.IDLE, CallStarted): I_._start,
    (P.ANNOUNCING, PromptFinished): I_._announced,
    (P.ANNOUNCING, Digit): I_._discard,
    (P.ANNOUNCING, CallEnded): I_._caller_gone,
    (P.PROMPTING, Digit): I_._barge_in,
    (P.PROMPTING, PromptFinished): I_._prompted,
    (P.PROMPTING, FormSubmitted): I_._form,
    (P.PROMPTING, CallEnded): I_._caller_gone,
    (P.WAITING, Digit): I_._first_digit,
    (P.WAITING, TimerFired): I_._no_input,
    (P.WAITING, FormSubmitted): I_._form,
    (P.WAITING, CallEnded): I_._caller_gone,
    (P.COLLECTING, Digit): I_._more_digit,
    (P.COLLECTING, TimerFired): I_._interdigit,
    (P.COLLECTING, FormSubmitted): I_._form,
    (P.COLLECTING, CallEnded): I_._caller_gone,
    (P.QUEUED, TimerFired): I_._overflow,
    (P.QUEUED, PromptFinished): I_._queue_prompt_done,
    (P.QUEUED, AgentAnswered): I_._answered,
    (P.QUEUED, CallEnded): I_._caller_gone,
    (P.ENDED, SentToLine): I_._sent_to_line,
    (P.ENDED, TransferFailed): I_._transfer_failed,
    (P.REQUESTING, CallbackKept): I_._callback_kept,
    (P.REQUESTING, CallbackRefused): I_._callback_refused,
    (P.REQUESTING, CallEnded): I_._caller_gone,
}

#: What entering a node of each kind does.
ENTER: Final[dict[str, Callable[[Interpreter, Node], None]]] = {
    "menu": I_._enter_menu,
    "faq": I_._enter_faq,
    "callback": I_._enter_callback,
    "queue": I_._enter_queue,
    "hours": I_._enter_hours,
    "tollfree": I_._enter_tollfree,
    "hangup": I_._enter_hangup,
}

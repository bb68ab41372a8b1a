"""A SIP user agent for tests: one pjsua2 endpoint in a process of its own.

It stands in for a Helpline media worker behind Kamailio: it answers every
INVITE with 200, answers in-dialog INFO, refuses REFER, and writes what it
saw to a JSON status file (calls, INFO bodies, digits) after each change.

    python -m tests.sipua --port 5070 --status ua.json --log ua.log

The endpoint lives in this process's main thread, which is its owner
thread: no pjsua2 worker threads, every callback runs inside
``libHandleEvents``. SIGTERM, SIGINT or ``--lifetime`` seconds end it with
the shutdown order of docs/sip-notes.md section 1. pjsua's own limit on
simultaneous calls (4 in the pjsua2-python wheel) applies: a fifth INVITE
is answered 486 by pjsua before any callback runs.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Any

import pjsua2 as pj

from tests.worker_report import Digit, InfoRequest, WorkerReport

logger = logging.getLogger(__name__)

EVENT_TURN_MS = 10
DISCONNECT_WAIT_S = 2.0
SETTLE_S = 0.3


def split_message(whole: str) -> tuple[dict[str, str], str]:
    """Header fields (lower-case names, compact forms expanded) and body."""
    head, _, body = whole.partition("\r\n\r\n")
    compact = {"c": "content-type", "l": "content-length", "i": "call-id"}
    headers: dict[str, str] = {}
    for line in head.split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep:
            key = name.strip().lower()
            headers[compact.get(key, key)] = value.strip()
    return headers, body


class AnsweringCall(pj.Call):  # type: ignore[misc]  # pjsua2 ships no types
    """An incoming call; reports its events to the owning ``UserAgent``."""

    def __init__(self, agent: UserAgent, account: Any, call_id: int) -> None:
        super().__init__(account, call_id)
        self.agent = agent
        self.confirmed = False

    def onCallState(self, prm: Any) -> None:
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and not self.confirmed:
            self.confirmed = True
            self.agent.call_confirmed(info.callIdString)
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.agent.call_ended(self, info.callIdString, info.lastStatusCode)

    def onDtmfDigit(self, prm: Any) -> None:
        self.agent.record(digit=Digit(str(prm.digit), int(prm.method)))

    def onCallTsxState(self, prm: Any) -> None:
        event = prm.e.body.tsxState
        tsx = event.tsx
        if (
            tsx.role == pj.PJSIP_ROLE_UAS
            and tsx.method == "INFO"
            and event.type == pj.PJSIP_EVENT_RX_MSG
        ):
            headers, body = split_message(event.src.rdata.wholeMsg)
            info = InfoRequest(headers.get("content-type", ""), body)
            self.agent.record(info=info)

    def onCallTransferRequest(self, prm: Any) -> None:
        prm.statusCode = 403
        self.agent.record(transfer=True)


def answer(call: AnsweringCall, code: int) -> None:
    prm = pj.CallOpParam()
    prm.statusCode = code
    call.answer(prm)


class AnsweringAccount(pj.Account):  # type: ignore[misc]  # pjsua2 ships no types
    """The local account: every incoming call is answered (or rung first)."""

    def __init__(self, agent: UserAgent) -> None:
        super().__init__()
        self.agent = agent

    def onIncomingCall(self, prm: Any) -> None:
        call = AnsweringCall(self.agent, self, prm.callId)
        self.agent.call_offered(call)


class UserAgent:
    """The endpoint, its account and its calls, all owned by one thread."""

    def __init__(
        self, port: int, status_path: Path, log_path: Path | None, ring_s: float
    ) -> None:
        self.status_path = status_path
        self.log_path = log_path
        self.ring_s = ring_s
        self.ringing: dict[str, float] = {}  # call id -> when to answer
        self.status = WorkerReport(pid=os.getpid(), port=port)
        self.calls: dict[str, AnsweringCall] = {}
        self.grave: list[AnsweringCall] = []
        self.stop = False
        self.dirty = True
        self.endpoint: Any = None
        self.account: Any = None

    # Callbacks from pjsua2 (always in the owner thread).

    def call_offered(self, call: AnsweringCall) -> None:
        info = call.getInfo()
        self.calls[info.callIdString] = call
        self.status.incoming += 1
        self.status.active = len(self.calls)
        self.status.most_active = max(self.status.most_active, self.status.active)
        self.dirty = True
        logger.info("call offered", extra={"call_id": info.callIdString})
        if self.ring_s > 0:
            answer(call, 180)
            self.ringing[info.callIdString] = time.monotonic() + self.ring_s
        else:
            answer(call, 200)

    def answer_due(self) -> None:
        now = time.monotonic()
        for call_id, due in list(self.ringing.items()):
            if due <= now:
                del self.ringing[call_id]
                answer(self.calls[call_id], 200)

    def call_confirmed(self, call_id: str) -> None:
        self.status.confirmed += 1
        self.dirty = True
        logger.info("call confirmed", extra={"call_id": call_id})

    def call_ended(self, call: AnsweringCall, call_id: str, code: int) -> None:
        self.calls.pop(call_id, None)
        self.ringing.pop(call_id, None)
        self.grave.append(call)
        self.status.active = len(self.calls)
        self.status.ended += 1
        self.dirty = True
        logger.info("call ended", extra={"call_id": call_id, "code": code})

    def record(
        self,
        digit: Digit | None = None,
        info: InfoRequest | None = None,
        transfer: bool = False,
    ) -> None:
        if digit is not None:
            self.status.digits.append(digit)
        if info is not None:
            self.status.infos.append(info)
        if transfer:
            self.status.transfers += 1
        self.dirty = True

    # The owner thread's life.

    def start(self) -> None:
        self.endpoint = pj.Endpoint()
        self.endpoint.libCreate()
        self.endpoint.libInit(self.endpoint_config())
        self.endpoint.audDevManager().setNullDev()

        transport = pj.TransportConfig()
        transport.port = self.status.port
        transport.boundAddress = "127.0.0.1"
        transport.publicAddress = "127.0.0.1"
        self.endpoint.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
        self.endpoint.libStart()

        self.account = AnsweringAccount(self)
        self.account.create(self.account_config())
        self.status.ready = True

    def endpoint_config(self) -> Any:
        config = pj.EpConfig()
        config.uaConfig.threadCnt = 0
        config.uaConfig.mainThreadOnly = True
        config.medConfig.clockRate = 8000
        config.medConfig.sndClockRate = 8000
        config.logConfig.consoleLevel = 1
        if self.log_path is not None:
            config.logConfig.filename = str(self.log_path)
            config.logConfig.level = 4
        return config

    def account_config(self) -> Any:
        config = pj.AccountConfig()
        config.idUri = f"sip:worker@127.0.0.1:{self.status.port}"
        media = config.mediaConfig.transportConfig
        media.boundAddress = "127.0.0.1"
        media.publicAddress = "127.0.0.1"
        media.port = 0
        return config

    def run(self, lifetime_s: float) -> None:
        deadline = time.monotonic() + lifetime_s
        while not self.stop and time.monotonic() < deadline:
            self.endpoint.libHandleEvents(EVENT_TURN_MS)
            self.grave.clear()
            self.answer_due()
            self.write_status()

    def handle_events_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.endpoint.libHandleEvents(EVENT_TURN_MS)

    def shutdown(self) -> None:
        """Hang up, let the calls end, then destroy pjsua in this thread."""
        try:
            if self.endpoint is not None and self.status.ready:
                self.endpoint.hangupAllCalls()
                end = time.monotonic() + DISCONNECT_WAIT_S
                while self.calls and time.monotonic() < end:
                    self.endpoint.libHandleEvents(EVENT_TURN_MS)
                self.calls.clear()
                self.ringing.clear()
                self.grave.clear()
                self.handle_events_for(SETTLE_S)
            if self.account is not None:
                self.account.shutdown()
                self.account = None
            gc.collect()
        finally:
            if self.endpoint is not None:
                self.endpoint.libDestroy()
                self.endpoint = None
            self.status.stopped = True
            self.dirty = True
            self.write_status()

    def write_status(self) -> None:
        if not self.dirty:
            return
        self.dirty = False
        partial = self.status_path.with_suffix(".tmp")
        partial.write_text(self.status.to_json())
        os.replace(partial, self.status_path)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="SIP UDP port")
    parser.add_argument("--status", type=Path, required=True, help="JSON file")
    parser.add_argument("--log", type=Path, help="pjsua's log file")
    parser.add_argument("--lifetime", type=float, default=120.0, help="seconds")
    parser.add_argument(
        "--ring-ms", type=int, default=0, help="answer 180, then 200 this much later"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
    agent = UserAgent(args.port, args.status, args.log, args.ring_ms / 1000)

    def request_stop(signum: int, frame: FrameType | None) -> None:
        agent.stop = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        agent.start()
        agent.run(args.lifetime)
    finally:
        agent.shutdown()


if __name__ == "__main__":
    main()

# ruff: noqa: E501  (SIP message templates keep their lines whole)
"""The phone side of the SIP IVR benchmark: SIPp callers and a SIPp UAS.

One SIPp process is every caller. Its injection file gives each call the
SIP port of the media worker it dials (call `k` goes to worker `k mod N`,
round robin, as a dispatcher in front of the workers would) and the
digits of the callback number it keys. Each call walks the benchmark's
menu by pauses and keys: the menu digit, the FAQ answer, the callback
offer accepted, the number and ``#``, the number confirmed during its
read-back; then it waits for the IVR to hang up. Keys go as SIP INFO (``application/dtmf-relay``) or as RFC 4733
telephone-events that SIPp replays from pcap files made here with
`ivr.dtmf.encode_event_packets`, to the media address of the worker's
answer. The caller's own media address is SIPp's media port, which takes
the worker's prompt audio.

The baseline callee is a SIPp UAS that answers the same calls and INFOs
and hangs up as the IVR would: the cost of the SIP messages alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import shutil
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ivr.dtmf import encode_event_packets

#: Each call keys: the menu digit, the callback accepted, the number, '#',
#: and the number confirmed while the IVR reads it back.
MENU_DIGIT: Final = "1"
ACCEPT_DIGIT: Final = "1"
CONFIRM_DIGIT: Final = "1"
DIGITS_PER_CALL: Final = 14
#: After the answer: the main menu's prompt is playing (barge-in).
FIRST_KEY_MS: Final = 1500
#: After the menu digit: the FAQ answer plays, then the callback offer.
OFFER_KEY_MS: Final = 4500
#: Between telephone-events (a press lasts 100 ms).
EVENT_GAP_MS: Final = 200
PRESS_MS: Final = 100
#: How long a caller waits for the IVR to hang up after its '#'.
BYE_WAIT_MS: Final = 15000
#: How long the baseline UAS waits after the '#' before its BYE: about the
#: IVR's "Goodbye." and the callback kept.
UAS_BYE_MS: Final = 1000
RELAY: Final = "application/dtmf-relay"


#: The pjsua2 wheel's call limit: what each media worker takes at once.
CALLS_PER_WORKER: Final = 4


@dataclass(frozen=True)
class Load:
    """How SIPp calls: `calls` in all at `rate` a second, at most `limit`
    at once, each to the worker its turn gives."""

    calls: int
    rate: float
    limit: int

    @classmethod
    def filling(cls, workers: int, fill: float, hold_s: float, call_s: float) -> Load:
        """The rate that keeps `fill` of the workers' slots busy with calls
        of `call_s`, for `hold_s`."""
        slots = CALLS_PER_WORKER * workers
        rate = fill * slots / call_s
        return cls(max(1, round(rate * hold_s)), rate, slots)

    def argv(self) -> list[str]:
        return ["-m", str(self.calls), "-l", str(self.limit),
                "-r", f"{self.rate:.3f}", "-rp", "1000"]  # fmt: skip

    @property
    def seconds(self) -> float:
        return self.calls / self.rate


def callback_number(call: int) -> str:
    """A US number in the range kept for fiction, one of 100 in turn."""
    return f"212555{100 + call % 100:04}"


def keyed(number: str) -> str:
    """Every digit one call keys, in order."""
    return MENU_DIGIT + ACCEPT_DIGIT + number + "#" + CONFIRM_DIGIT


# Scenarios

_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="{name}">
"""

#: The session description both ends send: audio at SIPp's media port,
#: PCMU and telephone-events.
_SDP = """      v=0
      o=bench 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=sendrecv"""

_DIAL = """
  <nop>
    <action>
      <setdest host="127.0.0.1" port="[field0]" protocol="UDP"/>
    </action>
  </nop>
  <send retrans="500">
    <![CDATA[
      INVITE sip:helpline@127.0.0.1:[field0] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Bench" <sip:+15550100@[local_ip]:[local_port]>;tag=[pid]B[call_number]
      To: <sip:helpline@127.0.0.1:[field0]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:bench@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

[SDP]
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true" rtd="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Bench" <sip:+15550100@[local_ip]:[local_port]>;tag=[pid]B[call_number]
      To: <sip:helpline@127.0.0.1:[field0]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:bench@[local_ip]:[local_port]>
      [routes]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
""".replace("[SDP]", _SDP)

_KEY_INFO = """
  <send>
    <![CDATA[
      INFO [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Bench" <sip:+15550100@[local_ip]:[local_port]>;tag=[pid]B[call_number]
      To: <sip:helpline@127.0.0.1:[field0]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} INFO
      Contact: <sip:bench@[local_ip]:[local_port]>
      [routes]
      Max-Forwards: 70
      Content-Type: {relay}
      Content-Length: [len]

      Signal={digit}
      Duration={press}
    ]]>
  </send>
  <recv response="200"/>
"""

_PLAY = """
  <nop>
    <action>
      <exec play_pcap_audio="{pcap}"/>
    </action>
  </nop>
"""
_KEY_EVENT = (
    _PLAY
    + """  <pause milliseconds="{gap}"/>
"""
)

#: The 200 to the request just received.
_OK = """  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
"""

_HUNG_UP = (
    """
  <recv request="BYE" timeout="{timeout}"/>
"""
    + _OK
    + "</scenario>\n"
)

_ANSWER = """
  <recv request="INVITE">
    <action>
      <ereg regexp="sip:[^&gt;]*" search_in="hdr" header="Contact:" assign_to="peer"/>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="caller"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]U[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:helpline@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

[SDP]
    ]]>
  </send>
  <recv request="ACK"/>
""".replace("[SDP]", _SDP)

_TAKE_INFO = (
    """
  <recv request="INFO"/>
"""
    + _OK
)

_HANG_UP = """
  <pause milliseconds="{pause}"/>
  <send retrans="500">
    <![CDATA[
      BYE [$peer] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:helpline@[local_ip]:[local_port]>;tag=[pid]U[call_number]
      To: [$caller]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""


def info_caller(path: Path) -> Path:
    """The caller that keys by SIP INFO; its number comes from the
    injection file (fields 1 to 10)."""
    number = [f"[field{i}]" for i in range(1, 11)]
    digits = [MENU_DIGIT, ACCEPT_DIGIT, *number, "#", CONFIRM_DIGIT]
    waits = {0: FIRST_KEY_MS, 1: OFFER_KEY_MS}
    parts = [_HEAD.format(name="helpline bench caller (INFO)"), _DIAL]
    for n, digit in enumerate(digits):
        if n in waits:
            parts.append(f'  <pause milliseconds="{waits[n]}"/>\n')
        parts.append(
            _KEY_INFO.format(cseq=n + 2, relay=RELAY, digit=digit, press=PRESS_MS)
        )
    parts.append(_HUNG_UP.format(timeout=BYE_WAIT_MS))
    path.write_text("".join(parts))
    return path


def event_caller(path: Path, pcaps: Path) -> Path:
    """The caller that keys by RFC 4733: one pcap per press, in order (made
    in the folder `pcaps`); the number's last two digits come from the
    injection file, each picked from ten pcaps by a branch."""
    waits = {0: FIRST_KEY_MS, 1: OFFER_KEY_MS - EVENT_GAP_MS}
    parts = [_HEAD.format(name="helpline bench caller (RFC 4733)"), _DIAL, _choices()]
    for n, digit in enumerate(keyed(callback_number(0))):
        if n in waits:
            parts.append(f'  <pause milliseconds="{waits[n]}"/>\n')
        if n in VARYING:
            parts.append(_branches(pcaps, n))
        else:
            pcap = press_pcap(pcaps, n, digit)
            parts.append(_KEY_EVENT.format(pcap=pcap, gap=EVENT_GAP_MS))
    parts.append(_HUNG_UP.format(timeout=BYE_WAIT_MS))
    path.write_text("".join(parts))
    return path


#: The presses whose digit changes from call to call (the number's last
#: two, `callback_number`) and the injection field each comes from.
VARYING: Final = {10: 9, 11: 10}


def _choices() -> str:
    """Flags set once a call: ``k<n>is<d>`` when press `n` is digit `d`."""
    lines = []
    for n, column in VARYING.items():
        lines.append(f'      <assignstr assign_to="k{n}" value="[field{column}]"/>')
        lines += [
            f'      <ereg regexp="^{d}$" search_in="var" variable="k{n}" '
            f'assign_to="k{n}is{d}"/>'
            for d in range(10)
        ]
    return "  <nop>\n    <action>\n" + "\n".join(lines) + "\n    </action>\n  </nop>\n"


def _branches(pcaps: Path, n: int) -> str:
    """Press `n`: a jump to the pcap of the call's digit, then on."""
    parts = [f'  <nop next="k{n}d{d}" test="k{n}is{d}"/>\n' for d in range(10)]
    for d in range(10):
        pcap = press_pcap(pcaps, n, str(d))
        parts.append(f'  <label id="k{n}d{d}"/>\n')
        parts.append(_PLAY.format(pcap=pcap))
        parts.append(f'  <nop next="k{n}end"/>\n')
    parts.append(f'  <label id="k{n}end"/>\n')
    parts.append(f'  <pause milliseconds="{EVENT_GAP_MS}"/>\n')
    return "".join(parts)


def baseline_callee(path: Path) -> Path:
    """A SIPp UAS that takes the caller's INVITE and INFOs and hangs up."""
    parts = [_HEAD.format(name="helpline bench baseline UAS"), _ANSWER]
    parts += [_TAKE_INFO] * DIGITS_PER_CALL
    parts.append(_HANG_UP.format(pause=UAS_BYE_MS))
    path.write_text("".join(parts))
    return path


def injection(path: Path, ports: Sequence[int], calls: int) -> list[str]:
    """One line per call: the worker port (round robin) and the number's
    digits; returns the numbers in call order."""
    numbers = [callback_number(k) for k in range(calls)]
    lines = ["SEQUENTIAL"]
    for k, number in enumerate(numbers):
        lines.append(";".join([str(ports[k % len(ports)]), *number]))
    path.write_text("\n".join(lines) + "\n")
    return numbers


# RFC 4733 presses as pcap files

_PCAP_HEAD: Final = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
_ETHERNET: Final = b"\x00" * 12 + b"\x08\x00"


def press_pcap(folder: Path, n: int, digit: str) -> Path:
    """Press `n` of a walk as a pcap, made once: each press has its own RTP
    timestamp (one second apart) and sequence numbers above the press
    before it, as one phone sends them."""
    name = "hash" if digit == "#" else "star" if digit == "*" else digit
    path = folder / f"press{n:02}-{name}.pcap"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        packets = encode_event_packets(
            digit, PRESS_MS, seq=1000 + 16 * n, timestamp=8000 * (n + 1), ssrc=0x5EB0
        )
        path.write_bytes(_pcap(packets))
    return path


def _pcap(payloads: Sequence[bytes]) -> bytes:
    """Ethernet/IPv4/UDP frames, 20 ms apart; SIPp rewrites the addresses
    to the call's media addresses when it replays them."""
    out = [_PCAP_HEAD]
    for n, payload in enumerate(payloads):
        udp = struct.pack("!HHHH", 6000, 6000, 8 + len(payload), 0) + payload
        ip = struct.pack(
            "!BBHHHBBH4s4s",
            0x45, 0, 20 + len(udp), n, 0, 64, 17, 0,
            bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]),
        )  # fmt: skip
        frame = _ETHERNET + ip + udp
        usec = 20_000 * min(n, len(payloads) - 3)  # the end goes three times
        out.append(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000,
                               len(frame), len(frame)) + frame)  # fmt: skip
    return b"".join(out)


# Running SIPp and reading its figures


@dataclass
class SippFigures:
    """What one SIPp run counted, from its statistics and counts files."""

    created: int = 0
    successful: int = 0
    failed: int = 0
    peak: int = 0
    call_length_s: float = 0.0
    retransmissions: int = 0
    infos_sent: int = 0
    reached_end: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    unexpected: dict[str, int] = field(default_factory=dict)


@dataclass
class Sipp:
    """One SIPp process, bounded in time, and its files."""

    process: asyncio.subprocess.Process
    folder: Path
    name: str
    scenario: str  # -trace_counts names its file after it and the pid

    async def wait(self, within: float) -> int:
        try:
            return await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            self.kill()
            await self.process.wait()
            return -9

    def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()

    @property
    def pid(self) -> int:
        return self.process.pid

    def figures(self) -> SippFigures:
        stats = _last_rows(self.folder / f"{self.name}_stat.csv")
        counts = _last_rows(self.folder / f"{self.scenario}_{self.pid}_counts.csv")
        figures = SippFigures()
        if stats:
            last = stats[-1]
            figures.created = int(last.get("OutgoingCall(C)", 0))
            figures.successful = int(last.get("SuccessfulCall(C)", 0))
            figures.failed = int(last.get("FailedCall(C)", 0))
            figures.retransmissions = int(last.get("Retransmissions(C)", 0))
            figures.call_length_s = _seconds(last.get("CallLength(C)", ""))
            figures.peak = max(int(row.get("CurrentCall", 0)) for row in stats)
            figures.failures = {
                name.removeprefix("Failed").removesuffix("(C)"): int(value)
                for name, value in last.items()
                if name.startswith("Failed") and name.endswith("(C)") and value != "0"
                and name != "FailedCall(C)"
            }  # fmt: skip
        if counts:
            last = counts[-1]
            figures.infos_sent = sum(
                int(v) for k, v in last.items() if k.endswith("_INFO_Sent")
            )
            figures.reached_end = sum(
                int(v)
                for k, v in last.items()
                if k.endswith(("_BYE_Recv", "_BYE_Timeout"))
            )
            figures.unexpected = {
                k: int(v) for k, v in last.items() if k.endswith("_Unexp") and v != "0"
            }
        return figures

    def errors(self, lines: int = 12) -> str:
        """The last lines SIPp wrote about failed calls."""
        path = self.folder / f"{self.name}_errors.log"
        with contextlib.suppress(OSError):
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def _last_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f, delimiter=";"))


def _seconds(text: str) -> float:
    """SIPp's ``hh:mm:ss:uuuuuu`` in seconds (0 for anything else)."""
    parts = text.split(":")
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        return 0.0
    h, m, s, us = (int(p) for p in parts)
    return h * 3600 + m * 60 + s + us / 1e6


def sipp_binary() -> str:
    binary = shutil.which("sipp")
    if binary is None:
        raise SystemExit("benchmark: sipp is not installed (Debian sip-tester)")
    return binary


async def start_sipp(
    folder: Path,
    name: str,
    scenario: Path | str,
    port: int,
    media_port: int,
    *args: str,
) -> Sipp:
    """SIPp on 127.0.0.1:`port` with its statistics every second, its
    message counts and its errors in files named after `name`. A
    `scenario` given as a string names one built into SIPp (``uas``)."""
    if isinstance(scenario, str):
        source, stem = ["-sn", scenario], scenario
    else:
        source, stem = ["-sf", str(scenario)], scenario.stem
    argv = [
        sipp_binary(), *source,
        "-i", "127.0.0.1", "-p", str(port),
        "-mi", "127.0.0.1", "-mp", str(media_port),
        "-nostdin", "-trace_stat", "-stf", f"{name}_stat.csv", "-fd", "1",
        "-trace_counts", "-trace_err", "-error_file", f"{name}_errors.log",
        *args,
    ]  # fmt: skip
    with (folder / f"{name}.log").open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            cwd=folder,
        )
    return Sipp(process, folder, name, stem)

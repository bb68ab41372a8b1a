"""DTMF benchmark: what listening for keypad tones costs a SIP media worker.

A worker gets a call's audio as 20 ms frames of 8 kHz 16-bit PCM, 50 a
second, and runs `ivr.inband.InbandDetector` on every frame. This feeds it
such frames for `--duration` seconds of CPU per signal and reports the CPU
time per second of audio, against a baseline: the same detector whose
tone powers come from Goertzel's recurrence, sample by sample in Python.
The signals:

- silence (digital zero: the detector skips a block with too little energy);
- white noise (every block is measured: the worst case);
- keypad digits, 45 ms tones and 50 ms gaps, over quiet noise.

Then what the other two paths cost per event: a telephone-event packet
read and assembled (`parse_rtp`, `parse_event_payload`,
`EventAssembler.feed`) and an INFO body read (`parse_info`). Nothing here
opens a socket or starts a process.

    .venv/bin/python -m benchmarks.dtmf
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from ivr.dtmf import (
    EventAssembler,
    encode_event_packets,
    parse_event_payload,
    parse_info,
    parse_rtp,
)
from ivr.inband import COLUMNS, ROWS, InbandDetector, dtmf_tone

RATE: Final = 8000
FRAME_BYTES: Final = 2 * RATE // 50  # 20 ms
DIGITS_SENT: Final = "1234567890*#"
SIGNAL_S: Final = 10


def say(text: str) -> None:
    print(text, flush=True)


def goertzel_powers(block: Sequence[float], rate: int = RATE) -> list[float]:
    """The power of each DTMF frequency by Goertzel's recurrence."""
    powers = []
    for frequency in (*ROWS, *COLUMNS):
        k = 2 * math.cos(2 * math.pi * frequency / rate)
        s1 = s2 = 0.0
        for x in block:
            s1, s2 = x + k * s1 - s2, s1
        powers.append(s1 * s1 + s2 * s2 - k * s1 * s2)
    return powers


class RecurrenceDetector(InbandDetector):
    """The detector with its powers from the recurrence: the baseline."""

    def _powers(self, block: tuple[float, ...], energy: float) -> list[float]:
        return goertzel_powers(block, self.rate)


def noise(seconds: float, sigma: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(0, sigma) for _ in range(int(seconds * RATE))]


def pcm(samples: Sequence[float]) -> bytes:
    return array("h", (max(-32768, min(32767, round(x))) for x in samples)).tobytes()


def signals() -> dict[str, bytes]:
    digits = b"".join(dtmf_tone(d, 45) + bytes(2 * 400) for d in DIGITS_SENT)
    digits = digits * (SIGNAL_S * RATE * 2 // len(digits))
    hiss = pcm(noise(len(digits) / 2 / RATE, 100, seed=2))
    mixed = array("h", digits)
    for n, x in enumerate(array("h", hiss)):
        mixed[n] += x
    return {
        "silence": bytes(SIGNAL_S * RATE * 2),
        "white noise": pcm(noise(SIGNAL_S, 3000, seed=1)),
        "digits": mixed.tobytes(),
    }


def detect(make: Callable[[], InbandDetector], audio: bytes) -> list[str]:
    detector = make()
    digits = []
    for start in range(0, len(audio), FRAME_BYTES):
        digits += detector.feed(audio[start : start + FRAME_BYTES])
    return digits


def measure(
    make: Callable[[], InbandDetector], audio: bytes, duration_s: float
) -> dict[str, Any]:
    """Detect in `audio` over and over for `duration_s` s of CPU."""
    runs = 0
    started = time.process_time()
    while runs == 0 or time.process_time() - started < duration_s:
        digits = detect(make, audio)
        runs += 1
    cpu = time.process_time() - started
    audio_s = runs * len(audio) / 2 / RATE
    ms_per_s = cpu / audio_s * 1000
    return {
        "digits": "".join(digits),
        "audio_s": round(audio_s, 1),
        "cpu_ms_per_audio_s": round(ms_per_s, 3),
        "core_share_pct": round(ms_per_s / 10, 3),
        "calls_per_core": int(1000 / ms_per_s),
    }


def per_event_us(action: Callable[[], object], duration_s: float) -> float:
    count = 0
    started = time.process_time()
    while count == 0 or time.process_time() - started < duration_s:
        for _ in range(1000):
            action()
        count += 1000
    return round((time.process_time() - started) / count * 1e6, 2)


def events(duration_s: float) -> dict[str, float]:
    packets = encode_event_packets("5", 100, seq=1, timestamp=8000, ssrc=7)
    assembler = EventAssembler()

    def read_packets() -> None:
        for packet in packets:
            header = parse_rtp(packet)
            event = parse_event_payload(header.payload)
            assembler.feed(
                header.timestamp, event.event, event.end, event.duration, header.marker
            )

    body = b"Signal= #\r\nDuration= 120\r\n"
    rtp_us = per_event_us(read_packets, duration_s) / len(packets)
    return {
        "rtp_packet_us": round(rtp_us, 2),
        "info_body_us": per_event_us(
            lambda: parse_info("application/dtmf-relay", body), duration_s
        ),
    }


def run(duration_s: float) -> dict[str, Any]:
    result: dict[str, Any] = {"inband": {}}
    for name, audio in signals().items():
        fast = measure(InbandDetector, audio, duration_s)
        slow = measure(RecurrenceDetector, audio, duration_s)
        if fast["digits"] != slow["digits"]:
            raise SystemExit(f"{name}: the two detectors disagree")
        ratio = slow["cpu_ms_per_audio_s"] / fast["cpu_ms_per_audio_s"]
        result["inband"][name] = {
            "detector": fast,
            "baseline": slow,
            "ratio": round(ratio, 2),
        }
    result["events"] = events(duration_s)
    return result


def table(result: dict[str, Any]) -> str:
    lines = [
        "| signal | digits found | detector CPU per s of audio "
        "| calls a core could listen to | baseline (recurrence) "
        "| baseline / detector |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in result["inband"].items():
        fast, slow = r["detector"], r["baseline"]
        lines.append(
            f"| {name} | {len(fast['digits'])} | {fast['cpu_ms_per_audio_s']} ms "
            f"({fast['core_share_pct']} % of a core) | {fast['calls_per_core']} "
            f"| {slow['cpu_ms_per_audio_s']} ms | x{r['ratio']} |"
        )
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.dtmf",
        description="DTMF: in-band detection per second of audio, RTP and INFO.",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 0.2 s each")
    parser.add_argument(
        "--duration",
        metavar="S",
        type=float,
        help="seconds of CPU for each measurement, up to 30 (default 2)",
    )
    parser.add_argument(
        "--json", metavar="FILE", type=Path, help="also write results here"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    duration = min(30.0, max(0.05, args.duration or (0.2 if args.quick else 2.0)))
    say(f"8 kHz audio in 20 ms frames; {duration:g} s of CPU per measurement")
    result = run(duration)
    say(table(result))
    say(
        f"telephone-event packet read and assembled: "
        f"{result['events']['rtp_packet_us']} µs; "
        f"INFO body read: {result['events']['info_body_us']} µs"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

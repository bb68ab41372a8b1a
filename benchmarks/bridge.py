"""Media bridge benchmark: web callers put through to a toll-free line.

``helpline run`` starts with N media workers on a fresh data folder, the
toll-free line set to a SIPp UAS on loopback that echoes every RTP packet
back (``-rtp_echo``), and the workers offering browsers a 127.0.0.1 host
candidate. Every customer lives in this process: a protocol client walks
a short menu (an FAQ answer, the callback declined, the line) and an
aiortc peer offers its audio to the worker that takes the call, which
dials the line and joins the two in pjsua2's conference bridge
(`gateway.bridge`). Calls are placed one after the other, each once the
one before shows in the workers' heartbeats (a web node picks the worker
by them).

With every call up, one window (``--duration``) measures the workers'
CPU from ``/proc``, the frames the bridge trimmed or played as silence
(counters in each worker's heartbeat, ``helpline:worker:w<i>``, read as a
change between two beats), and the round trip of tone bursts: each
customer sends 100 ms of 1 kHz now and then, SIPp echoes it, and the
customer notes when the first loud packet comes back (at the RTP packet,
before aiortc's jitter buffer). The phases: a PCMU leg with passthrough
(the default), an Opus leg (the customer offers Opus only), calls added
up to ``--levels`` until frames are lost or the CPU is used up, and then,
on a second Helpline with ``bridge.passthrough`` off, the PCMU leg
through aiortc's decoder and resampler.

    unshare --net --pid --fork --mount-proc --kill-child \\
      sh -c 'ip link set lo up && .venv/bin/python -m benchmarks.bridge'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
from aiortc import RTCRtpSender
from av import AudioFrame

from benchmarks import signaling, sip_calls
from benchmarks.harness import (
    Event,
    Helpline,
    call_state,
    client_cpu,
    cpu_seconds,
    in_temp_folder,
    machine_busy,
    of_type,
    percentile,
    serving,
)
from benchmarks.harness import (
    Peer as Socket,
)
from benchmarks.signaling import numbers, pin_client, within
from benchmarks.sip_calls import CALLS_PER_WORKER
from benchmarks.sip_figures import say
from benchmarks.sip_ivr import media_workers, publish_menu
from gateway.audio import decode_g711, rms
from gateway.routing import Routing
from gateway.webrtc import Peer, ToneTrack, limit_host_addresses
from ivr.faq import FaqEntry

MENU: Final = """
id: bench-line
version: 1
start: hours
faq_ids: [bench-line-hours]
nodes:
  hours:
    kind: faq
    prompt: Our hours.
    answers: [bench-line-hours]
    next: offer
  offer:
    kind: callback
    prompt: For a call back, press 1.
    number_prompt: Your number, then hash.
    next: bye
    declined: line
    timeout_seconds: 30
  line:
    kind: tollfree
    prompt: Connecting you.
  bye:
    kind: hangup
    prompt: Goodbye.
"""
FAQ: Final = FaqEntry("bench-line-hours", "When are you open?", "Eight to eight.")
SIP_PORT: Final = 21000  # worker i: 21000 + 2i
RTP_PORT: Final = 30000
TRUNK_PORT: Final = 22000
TRUNK_MEDIA: Final = 6200
TOLLFREE: Final = f"sip:+18005550100@127.0.0.1:{TRUNK_PORT}"
#: A burst: 5 frames of 1 kHz, one every BURST_EVERY_S per call.
BURST_FRAMES: Final = 5
BURST_EVERY_S: Final = 1.0
LOUD: Final = 1000  # RMS of a packet that carries the burst's echo
#: Frames trimmed or silent per call-second above which a level is lossy.
LOSSY: Final = 0.5
#: Share of the machine's cores in use above which a level saturates it.
SATURATED: Final = 0.9
PLACE_S: Final = 30.0
LEVELS: Final = (4, 8, 12, 16, 20, 24)
IDLE_S: Final = 2.0
SETTLE_S: Final = 1.0
CLOSED_LINE: Final = re.compile(
    r"web caller's audio closed: (\S+), (\d+) packets in, (\d+) frames out, "
    r"(\d+) trimmed, (\d+) silent"
)


@dataclass(frozen=True)
class Options:
    workers: int
    calls: int
    levels: tuple[int, ...]
    duration: float
    long_road: bool
    client_core: int | None
    keep: bool
    json_path: Path | None


# The customer's audio


class BurstTrack(ToneTrack):
    """Silence with a 1 kHz burst on demand; notes when the first frame of
    each burst is handed to aiortc to send."""

    def __init__(self) -> None:
        super().__init__(1000.0, level=0.3)
        self._left = 0
        self.sent_at: float | None = None

    def fire(self) -> None:
        self._left = BURST_FRAMES

    async def recv(self) -> AudioFrame:
        frame = await super().recv()
        if not self._left:
            frame.planes[0].update(bytes(2 * frame.samples))
            return frame
        if self._left == BURST_FRAMES:
            self.sent_at = asyncio.get_running_loop().time()
        self._left -= 1
        return frame


@dataclass(eq=False)
class Customer:
    """One web caller: its socket, its peer, what came back."""

    socket: Socket
    call_id: str
    peer: Peer
    track: BurstTrack
    codec: str
    packets: int = 0
    round_trips: list[float] = field(default_factory=list)
    lost_bursts: int = 0
    waiting: float | None = None  # when the burst waiting for its echo left

    def tap(self) -> None:
        """See every RTP packet from the worker before aiortc's jitter
        buffer and decoder (which this customer does not need)."""
        receiver = next(t.receiver for t in self.peer.pc.getTransceivers())

        async def handle(packet: Any, arrival_time_ms: int) -> None:
            self.packets += 1
            if self.waiting is None or packet.payload_type != 0:
                return
            if rms(decode_g711(packet.payload, "pcmu")) >= LOUD:
                now = asyncio.get_running_loop().time()
                self.round_trips.append(now - self.waiting)
                self.waiting = None

        receiver._handle_rtp_packet = handle  # type: ignore[method-assign]

    async def bursts(self, offset: float) -> None:
        """A burst every BURST_EVERY_S, starting `offset` s in."""
        await asyncio.sleep(offset)
        while True:
            if self.waiting is not None:
                self.lost_bursts += 1
            self.waiting = None
            self.track.fire()
            await asyncio.sleep(0.1)  # the frame went out meanwhile
            self.waiting = self.track.sent_at
            await asyncio.sleep(BURST_EVERY_S - 0.1)

    async def hang_up(self) -> None:
        with contextlib.suppress(Exception):
            await self.socket.send({"type": "call.hangup", "call_id": self.call_id})
            await self.socket.expect(call_state("ended", self.call_id))
        await self.peer.close()
        await self.socket.close()


async def walk(sock: Socket, until: Any) -> Event:
    """Report every prompt finished at once, until `until` matches."""
    while True:
        _, event = await sock.expect(
            lambda e: until(e) or e.get("type") == "ivr.prompt"
        )
        if until(event):
            return event
        await sock.send(
            {"type": "ivr.prompt_done", "call_id": event["call_id"],
             "play": event["play"]}
        )  # fmt: skip


def opus_only() -> list[Any]:
    codecs = RTCRtpSender.getCapabilities("audio").codecs
    return [c for c in codecs if c.mimeType.lower() == "audio/opus"]


async def place(
    http: aiohttp.ClientSession, server: Helpline, n: int, codec: str
) -> Customer:
    """A caller walks to the line and offers its audio; returns once its
    peer is connected."""
    hello = {"role": "customer", "name": f"Bench {n}"}
    sock, _ = await Socket.open(http, server.ws_url, hello)
    try:
        await sock.send({"type": "call.place", "caller": {"topic": "web"}})
        _, state = await sock.expect(call_state("ivr"))
        call_id = str(state["call_id"])
        form = await walk(sock, of_type("ivr.callback_form"))
        await sock.send(
            {"type": "ivr.callback", "call_id": call_id, "node": form["node"],
             "decline": True}
        )  # fmt: skip
        tollfree = await walk(sock, of_type("ivr.tollfree"))
        if not tollfree.get("bridged"):
            raise RuntimeError("no media worker took the call")
        await sock.expect(call_state("answered", call_id))
        track = BurstTrack()
        peer = Peer(f"customer-{n}")
        peer.add_audio(track)
        if codec == "opus":
            peer.pc.getTransceivers()[0].setCodecPreferences(opus_only())
        customer = Customer(sock, call_id, peer, track, codec)
        customer.tap()
        offer = await peer.create_offer()
        await sock.send({"type": "sdp.offer", "call_id": call_id, "sdp": offer})
        _, answer = await sock.expect(of_type("sdp.answer", call_id))
        await peer.accept_answer(answer["sdp"])
        await asyncio.wait_for(peer.wait_connected(), 10)
        return customer
    except BaseException:
        await sock.close()
        raise


# The workers' side


@dataclass(frozen=True)
class Beat:
    at: float
    in_use: int
    trimmed: int
    silent: int


async def beats(server: Helpline, count: int) -> dict[int, Beat]:
    redis = server.shared_store.redis
    routing = Routing(redis)
    out = {}
    for index in range(count):
        raw = await redis.hgetall(routing.key("worker", f"w{index}"))
        out[index] = Beat(
            float(raw.get("beat") or 0),
            int(raw.get("in_use") or 0),
            int(raw.get("bridge_trimmed") or 0),
            int(raw.get("bridge_silent") or 0),
        )
    return out


async def next_beats(server: Helpline, count: int) -> dict[int, Beat]:
    """The first beat of every worker after now."""
    old = await beats(server, count)
    while True:
        await asyncio.sleep(0.1)
        new = await beats(server, count)
        if all(new[i].at != old[i].at for i in new):
            return new


async def slots_in_use(server: Helpline, count: int, want: int) -> None:
    """Wait until the heartbeats show `want` calls in all."""
    deadline = time.monotonic() + PLACE_S
    while sum(b.in_use for b in (await beats(server, count)).values()) != want:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the workers never showed {want} calls")
        await asyncio.sleep(0.1)


async def bridged(server: Helpline, want: int) -> None:
    """Wait until the workers counted `want` calls put through in all."""
    redis = server.shared_store.redis
    key = Routing(redis).key("sip", "stats")
    deadline = time.monotonic() + PLACE_S
    while int(await redis.hget(key, "tollfree:web-bridged") or 0) < want:
        if time.monotonic() > deadline:
            raise RuntimeError("the line never answered")
        await asyncio.sleep(0.1)


@dataclass
class Run:
    """One Helpline, its worker pids, and the calls it holds now."""

    server: Helpline
    http: aiohttp.ClientSession
    workers: dict[int, int]
    customers: list[Customer] = field(default_factory=list)
    placed: int = 0
    bridged: int = 0
    idle_rate: float = 0.0

    def cpu(self) -> dict[str, float]:
        return {
            "workers": sum(cpu_seconds(p) for p in self.workers.values()),
            "helpline": sum(
                cpu_seconds(p)
                for p in self.server.pids
                if p not in self.workers.values()
            ),
            "customers": client_cpu(),
            "machine": machine_busy(),
            "wall": time.monotonic(),
        }

    async def add(self, codec: str) -> None:
        self.placed += 1
        customer = await place(self.http, self.server, self.placed, codec)
        self.customers.append(customer)
        self.bridged += 1
        await bridged(self.server, self.bridged)
        await slots_in_use(self.server, len(self.workers), len(self.customers))

    async def hang_up_all(self) -> None:
        await asyncio.gather(*(c.hang_up() for c in self.customers))
        self.customers.clear()
        await slots_in_use(self.server, len(self.workers), 0)


async def window(run: Run, seconds: float) -> dict[str, Any]:
    """Every call up: CPU, frames lost and round trips over `seconds`."""
    calls = len(run.customers)
    await asyncio.sleep(SETTLE_S)
    for c in run.customers:
        c.round_trips.clear()
        c.lost_bursts = 0
    count = len(run.workers)
    start = await next_beats(run.server, count)
    before = run.cpu()
    packets = sum(c.packets for c in run.customers)
    # Bursts are timed on PCMU legs only (their echo is read undecoded).
    tasks = [
        asyncio.create_task(c.bursts(BURST_EVERY_S * k / calls))
        for k, c in enumerate(run.customers)
        if c.codec == "pcmu"
    ]
    try:
        await asyncio.sleep(seconds)
        end = await next_beats(run.server, count)
        after = run.cpu()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    used = {k: after[k] - before[k] for k in after}
    wall = used["wall"]
    call_s = calls * wall
    beat_s = sum(end[i].at - start[i].at for i in end) / count
    frames_s = calls * beat_s
    trimmed = sum(end[i].trimmed - start[i].trimmed for i in end)
    silent = sum(end[i].silent - start[i].silent for i in end)
    trips = [t * 1000 for c in run.customers for t in c.round_trips]
    back = sum(c.packets for c in run.customers) - packets
    cores = os.cpu_count() or 1
    return {
        "calls": calls,
        "seconds": round(wall, 2),
        "worker_cpu_s": round(used["workers"], 3),
        "cpu_per_call_s": round(used["workers"] / call_s, 4),
        "beyond_idle_per_call_s": round(
            (used["workers"] - run.idle_rate * wall) / call_s, 4
        ),
        "helpline_cpu_pct": round(100 * used["helpline"] / wall, 1),
        "customers_cpu_pct": round(100 * used["customers"] / wall, 1),
        "machine_pct": round(100 * used["machine"] / wall),
        "machine_share": round(used["machine"] / wall / cores, 2),
        "others_pct": round(
            100
            * max(
                0.0,
                used["machine"]
                - used["workers"]
                - used["helpline"]
                - used["customers"],
            )
            / wall
        ),  # fmt: skip
        "trimmed_per_call_s": round(trimmed / frames_s, 3) if frames_s else math.nan,
        "silent_per_call_s": round(silent / frames_s, 3) if frames_s else math.nan,
        "packets_back_per_call_s": round(back / call_s, 1),
        "round_trip_ms": {
            "count": len(trips),
            "p50": round(percentile(trips, 0.5), 1),
            "p99": round(percentile(trips, 0.99), 1),
            "min": round(min(trips), 1) if trips else math.nan,
        },
        "bursts_lost": sum(c.lost_bursts for c in run.customers),
    }


def closed_lines(log: Path, since: int) -> dict[str, Any]:
    """The workers' per-call close lines since byte `since`, summed."""
    with log.open("rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    found = CLOSED_LINE.findall(text)
    codecs = sorted({m[0] for m in found})
    return {
        "closed": len(found),
        "codecs": codecs,
        "passed_through": text.count("(G.711 passed through)"),
        "packets_in": sum(int(m[1]) for m in found),
        "trimmed": sum(int(m[3]) for m in found),
        "silent": sum(int(m[4]) for m in found),
    }


async def phase(run: Run, name: str, codec: str, calls: int, seconds: float) -> Event:
    """`calls` calls of `codec`, one window, all hung up."""
    at = run.server.log.stat().st_size
    try:
        for _ in range(calls):
            await run.add(codec)
        result = await window(run, seconds)
    finally:
        await run.hang_up_all()
    result |= {"name": name, "codec": codec, "log": closed_lines(run.server.log, at)}
    report(result)
    return result


async def ramp(run: Run, levels: Sequence[int], seconds: float) -> Event:
    """PCMU calls added level by level, each level measured, until frames
    are lost, the machine is busy or a call is not put through."""
    out: Event = {"levels": [], "stopped": "levels done"}
    at = run.server.log.stat().st_size
    try:
        for level in levels:
            try:
                while len(run.customers) < level:
                    await run.add("pcmu")
            except (RuntimeError, TimeoutError, OSError) as err:
                out["stopped"] = f"call {len(run.customers) + 1} failed: {err}"
                break
            result = await window(run, seconds)
            result["name"] = f"ramp {level}"
            out["levels"].append(report(result))
            lost = result["trimmed_per_call_s"] + result["silent_per_call_s"]
            if lost > LOSSY:
                out["stopped"] = f"{lost:.2f} frames lost a call-second"
                break
            if result["machine_share"] >= SATURATED:
                out["stopped"] = f"machine {result['machine_pct']}% busy"
                break
    finally:
        await run.hang_up_all()
    out["log"] = closed_lines(run.server.log, at)
    clean = [
        r for r in out["levels"]
        if r["trimmed_per_call_s"] + r["silent_per_call_s"] <= LOSSY
    ]  # fmt: skip
    top = clean[-1]["calls"] if clean else 0
    out["clean_calls"] = top
    out["slots"] = CALLS_PER_WORKER * len(run.workers)
    out["per_core"] = round(top / (os.cpu_count() or 1), 2)
    return out


# Running


def trunk(folder: Path) -> Path:
    """SIPp's own UAS scenario (answers with PCMU, waits for the BYE)."""
    path = folder / "uas.xml"
    # SIPp exits with 99 after dumping a scenario.
    text = subprocess.run(
        [sip_calls.sipp_binary(), "-sd", "uas"], capture_output=True, text=True
    ).stdout
    if "<scenario" not in text:
        raise SystemExit("benchmark: SIPp gave no uas scenario")
    path.write_text(text)
    return path


async def on_helpline(
    folder: Path, opts: Options, passthrough: bool, plan: Any
) -> list[Event]:
    name = "passthrough" if passthrough else "long-road"
    sub = folder / name
    sub.mkdir()
    env = {
        "HELPLINE_SIP": f"127.0.0.1:{SIP_PORT}",
        "HELPLINE_RTP_PORT": str(RTP_PORT),
        "HELPLINE_TOLLFREE_URI": TOLLFREE,
        "HELPLINE_ICE_INTERFACES": "127.0.0.1",
        "HELPLINE_BRIDGE_PASSTHROUGH": "1" if passthrough else "0",
    }
    line = await sip_calls.start_sipp(
        sub, "trunk", trunk(sub), TRUNK_PORT, TRUNK_MEDIA, "-rtp_echo"
    )
    server = Helpline(
        1, sub, "embedded", "INFO", sip_workers=opts.workers, env_changes=env
    )
    try:
        async with serving(server), aiohttp.ClientSession() as http:
            await server.wait_ready(http)
            pids = await media_workers(server, opts.workers)
            await publish_menu(server, MENU, FAQ)
            run = Run(server, http, pids)
            before = run.cpu()
            await asyncio.sleep(IDLE_S)
            after = run.cpu()
            run.idle_rate = (after["workers"] - before["workers"]) / (
                after["wall"] - before["wall"]
            )
            say(
                f"{name}: {opts.workers} media worker(s), idle "
                f"{100 * run.idle_rate:.1f}% of a core in all"
            )
            results = []
            for step in plan:
                result = await step(run)
                result["helpline"] = name
                result["idle_worker_pct"] = round(100 * run.idle_rate, 1)
                results.append(result)
            return results
    finally:
        line.kill()
        await line.process.wait()


def report(r: Event) -> Event:
    trip = r["round_trip_ms"]
    say(
        f"   {r['name']}: {r['calls']} calls, {r['seconds']} s; workers "
        f"{r['cpu_per_call_s']} CPU-s a call-second ({r['beyond_idle_per_call_s']} "
        f"beyond idle); trimmed {r['trimmed_per_call_s']}, silent "
        f"{r['silent_per_call_s']} frames a call-second; packets back "
        f"{r['packets_back_per_call_s']} a call-second; round trip p50/p99 "
        f"{trip['p50']}/{trip['p99']} ms ({trip['count']} bursts, "
        f"{r['bursts_lost']} lost); customers {r['customers_cpu_pct']}% of a "
        f"core, web node {r['helpline_cpu_pct']}%, machine {r['machine_pct']}% "
        f"(others {r['others_pct']}%)"
    )
    return r


def table(results: Event) -> str:
    head = ("leg", "calls", "CPU-s a call-second (beyond idle)", "ratio",
            "trimmed / silent a call-second", "round trip p50 / p99",
            "customers' CPU")  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    base = results["pcmu"]["cpu_per_call_s"]
    for key in ("pcmu", "opus", "long_road"):
        r = results.get(key)
        if r is None:
            continue
        trip = r["round_trip_ms"]
        cells = [
            r["name"],
            r["calls"],
            f"{r['cpu_per_call_s']} ({r['beyond_idle_per_call_s']})",
            f"x{r['cpu_per_call_s'] / base:.2f}" if base else "-",
            f"{r['trimmed_per_call_s']} / {r['silent_per_call_s']}",
            f"{trip['p50']} / {trip['p99']} ms" if trip["count"] else "-",
            f"{r['customers_cpu_pct']}%",
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def check_ports(workers: int) -> None:
    wanted = [SIP_PORT + 2 * i for i in range(workers)] + [TRUNK_PORT, TRUNK_MEDIA]
    for port in wanted:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                raise SystemExit(
                    f"benchmark: UDP port {port} is taken; run it in a fresh "
                    "network namespace (see the module's docstring)"
                ) from None


async def bench(opts: Options, folder: Path) -> Event:
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    check_ports(opts.workers)
    limit_host_addresses(("127.0.0.1",))
    say(f"machine: {os.cpu_count()} cores; {pin_client(opts.client_core)}")
    seconds, calls = opts.duration, opts.calls
    out: Event = {"workers": opts.workers}
    passthrough = await on_helpline(
        folder, opts, True,
        [lambda run: phase(run, "PCMU, passthrough", "pcmu", calls, seconds),
         lambda run: phase(run, "Opus", "opus", calls, seconds),
         lambda run: ramp(run, opts.levels, seconds)],
    )  # fmt: skip
    out["pcmu"], out["opus"], out["ramp"] = passthrough
    if opts.long_road:
        (out["long_road"],) = await on_helpline(
            folder, opts, False,
            [lambda run: phase(run, "PCMU, long road", "pcmu", calls, seconds)],
        )  # fmt: skip
    return out


#: The options it shares with the signaling benchmark, as there.
SHARED: Final = dict(signaling.OPTIONS)
OPTIONS: Final[list[tuple[str, dict[str, Any]]]] = [
    ("--quick", dict(action="store_true",
                     help="a smoke run: 1 worker, 2 calls, 2 s windows")),
    ("--workers", dict(metavar="N", type=within(int, 1, 16),
                       help="media workers (default 6)")),
    ("--calls", dict(metavar="N", type=within(int, 1, 64),
                     help="calls in the cost phases (default 4)")),
    ("--levels", dict(metavar="N,N", type=numbers(1, 64),
                      help="calls at once in the ramp, in turn (4,8,...,24)")),
    ("--duration", dict(metavar="S", type=within(float, 1, 120),
                        help="seconds of each measured window (default 10)")),
    ("--no-long-road", dict(action="store_true",
                            help="skip the run with bridge.passthrough off")),
    ("--client-core", dict(metavar="N", type=int, default=-1,
                           help="core to pin the customers to (the last)")),
    ("--no-pin", dict(action="store_true", help="do not pin the customers")),
    ("--json", SHARED["--json"]),
    ("--keep", SHARED["--keep"]),
]  # fmt: skip


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bridge",
        description="Web callers bridged to a SIP line that echoes: the cost.",
    )
    for flag, settings in OPTIONS:
        parser.add_argument(flag, **settings)
    args = parser.parse_args(argv)
    quick = args.quick
    workers = args.workers or (1 if quick else 6)
    return Options(
        workers=workers,
        calls=args.calls or (2 if quick else 4),
        levels=args.levels or ((CALLS_PER_WORKER,) if quick else LEVELS),
        duration=args.duration or (2.0 if quick else 10.0),
        long_road=not args.no_long_road,
        client_core=None if args.no_pin else args.client_core,
        keep=args.keep,
        json_path=args.json,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse(argv)
    result = in_temp_folder(
        "helpline-bench-bridge-", opts.keep, lambda f: bench(opts, f)
    )
    if result is None:
        return 130
    say("\n" + table(result))
    ramp_result = result["ramp"]
    say(
        f"ramp: {ramp_result['clean_calls']} calls at once without lost frames "
        f"(of {ramp_result['slots']} slots; {ramp_result['per_core']} a core of "
        f"the machine, customers included); stopped: "
        f"{ramp_result['stopped']}"
    )
    if opts.json_path is not None:
        opts.json_path.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

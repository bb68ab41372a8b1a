"""The reference figure: Janus's SIP plugin bridging WebRTC peers to SIP.

Helpline's media worker (an aiortc leg and a pjsua2 conference bridge, in
Python) is compared with a bridge written in C on the same machine: Janus
(Debian's ``janus``) with its SIP plugin. Each call is an aiortc peer in
this process that opens a Janus session over the WebSocket transport,
attaches the SIP plugin, takes a guest identity (no registrar) and calls a
SIPp UAS that echoes RTP, offering PCMU first as the SIP side is G.711. The
peer sends a tone and counts the frames that come back, so audio went
through Janus both ways. With every call up, Janus's CPU time is read from
``/proc`` over a steady window: CPU per call-second.

Janus runs on loopback only from a configuration folder of its own: the
SIP plugin and the WebSocket transport, nothing else loaded; no STUN or
TURN server; ICE gathers 127.0.0.1 only. It has to run where the network
namespace holds only ``lo`` (``unshare -n``), which is checked first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
from aiortc import RTCRtpSender
from av import AudioFrame

from benchmarks import sip_calls
from benchmarks.harness import (
    START_TIMEOUT_S,
    TIMEOUT_S,
    all_cores,
    client_cpu,
    cpu_seconds,
    free_port,
    machine_busy,
    rss_mb,
    stop_process,
)
from gateway.webrtc import Peer, ToneTrack, limit_host_addresses

#: Where Debian puts Janus's plugins and transports (multiarch folders).
LIBRARY_GLOBS: Final = ("/usr/lib/*/janus", "/usr/lib/janus", "/usr/local/lib/janus")
PLUGIN: Final = "janus.plugin.sip"
#: Janus's own ICE ports and the SIP plugin's RTP ports: below Linux's
#: ephemeral range, so no client socket of another program takes them.
ICE_PORTS: Final = "20000-24999"
SIP_RTP_PORTS: Final = "25000-29999"
KEEPALIVE_S: Final = 20.0
#: A frame of the echoed tone: its loudest sample is well above silence.
LOUD: Final = 2000
FRAME_S: Final = 0.020
#: The share of a window's frames each call must hear back.
HEARD_SHARE: Final = 0.8
SHIM: Final = Path(__file__).resolve().parent / "janus_loopback.c"


def say(text: str) -> None:
    print(text, flush=True)


# Janus: its configuration folder and its process


def janus_binary() -> str:
    binary = shutil.which("janus")
    if binary is None:
        raise SystemExit(
            "benchmark: janus is not installed (scripts/setup installs the "
            "Debian package janus)"
        )
    return binary


def janus_library() -> Path:
    """The folder that holds Janus's ``plugins`` and ``transports``."""
    for pattern in LIBRARY_GLOBS:
        for folder in sorted(Path("/").glob(pattern.lstrip("/"))):
            if (folder / "plugins" / "libjanus_sip.so").exists():
                return folder
    raise SystemExit("benchmark: Janus's SIP plugin (libjanus_sip.so) is missing")


def loopback_shim(folder: Path) -> Path:
    """Build ``janus_loopback.c``: Janus skips loopback interfaces when it
    gathers, and here lo is the only one (see the file)."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise SystemExit("benchmark: a C compiler (gcc) is needed for Janus's shim")
    library = folder / "janus_loopback.so"
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-o", str(library), str(SHIM), "-ldl"],
        check=True, timeout=60,
    )  # fmt: skip
    return library


def janus_version(binary: str) -> str:
    done = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10
    )
    found = re.search(r"Janus version: \d+ \(([^)]+)\)", done.stdout + done.stderr)
    return found.group(1) if found else "unknown"


def only_loopback() -> bool:
    """True when this network namespace has no interface but ``lo``."""
    with contextlib.suppress(OSError):
        return [name for _, name in socket.if_nameindex()] == ["lo"]
    return False


def write_configs(folder: Path, library: Path, ws_port: int) -> Path:
    """Janus's configuration folder; its plugin and transport folders hold
    links to the SIP plugin and the WebSocket transport only."""
    configs, plugins, transports, empty = (
        folder / name for name in ("configs", "plugins", "transports", "empty")
    )
    for made in (configs, plugins, transports, empty):
        made.mkdir(parents=True)
    (plugins / "libjanus_sip.so").symlink_to(library / "plugins" / "libjanus_sip.so")
    (transports / "libjanus_websockets.so").symlink_to(
        library / "transports" / "libjanus_websockets.so"
    )
    (configs / "janus.jcfg").write_text(
        f"""general: {{
	configs_folder = "{configs}"
	plugins_folder = "{plugins}"
	transports_folder = "{transports}"
	events_folder = "{empty}"
	loggers_folder = "{empty}"
	debug_level = 4
	debug_colors = false
	interface = "127.0.0.1"
	session_timeout = 60
	hide_dependencies = true
}}
media: {{
	rtp_port_range = "{ICE_PORTS}"
}}
nat: {{
	# No stun_server and no turn_server: Janus asks nobody for its address.
	nice_debug = false
	ignore_mdns = true
	ice_enforce_list = "127.0.0.1"
}}
events: {{
	broadcast = false
}}
"""
    )
    (configs / "janus.plugin.sip.jcfg").write_text(
        f"""general: {{
	local_ip = "127.0.0.1"
	local_media_ip = "127.0.0.1"
	sdp_ip = "127.0.0.1"
	keepalive_interval = 0
	behind_nat = false
	register_ttl = 3600
	rtp_port_range = "{SIP_RTP_PORTS}"
	events = false
}}
"""
    )
    (configs / "janus.transport.websockets.jcfg").write_text(
        f"""general: {{
	events = false
	json = "compact"
	ws = true
	ws_port = {ws_port}
	ws_ip = "127.0.0.1"
	wss = false
}}
admin: {{
	admin_ws = false
	admin_wss = false
}}
"""
    )
    return configs


class Janus:
    """Janus started from its own configuration folder, answering on a
    loopback WebSocket port."""

    def __init__(self, folder: Path) -> None:
        self.binary = janus_binary()
        self.version = janus_version(self.binary)
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}/"
        configs = write_configs(folder / "janus", janus_library(), self.port)
        env = {**os.environ, "LD_PRELOAD": str(loopback_shim(folder))}
        self.log = folder / "janus.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [self.binary, "-F", str(configs), "-o"],
                cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=all_cores,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"janus exited; see {self.log}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"janus never listened; see {self.log}")
            time.sleep(0.1)

    def stop(self) -> None:
        stop_process(self.process, {})

    def tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


# The Janus API over its WebSocket transport


class JanusError(Exception):
    pass


_transactions = itertools.count(1)


class JanusSession:
    """One Janus session on a WebSocket of its own, with one handle on the
    SIP plugin: what a browser page holds for a call."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.reader = asyncio.create_task(self._read())
        self.session_id = 0
        self.handle_id = 0
        self.keepalive: asyncio.Task[None] | None = None
        #: Janus API messages seen, by their ``janus`` field.
        self.seen: dict[str, int] = {}

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, url: str) -> JanusSession:
        ws = await http.ws_connect(url, protocols=("janus-protocol",))
        janus = cls(ws)
        try:
            created = await janus.request({"janus": "create"})
            janus.session_id = created["data"]["id"]
            janus.keepalive = asyncio.create_task(janus._keep_alive())
            attached = await janus.request({"janus": "attach", "plugin": PLUGIN})
            janus.handle_id = attached["data"]["id"]
        except BaseException:
            await janus.close()
            raise
        return janus

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                data = json.loads(message.data)
                kind = str(data.get("janus"))
                self.seen[kind] = self.seen.get(kind, 0) + 1
                self.inbox.put_nowait(data)
        self.inbox.put_nowait({"janus": "_closed"})

    async def send(self, message: dict[str, Any]) -> str:
        transaction = f"t{next(_transactions)}"
        message = {**message, "transaction": transaction}
        if self.session_id:
            message["session_id"] = self.session_id
        if self.handle_id:
            message["handle_id"] = self.handle_id
        await self.ws.send_str(json.dumps(message))
        return transaction

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send; the reply to it (``success``), within ``TIMEOUT_S``."""
        transaction = await self.send(message)
        reply = await self.next(lambda m: m.get("transaction") == transaction)
        if reply.get("janus") != "success":
            raise JanusError(f"{message['janus']}: {reply}")
        return reply

    async def next(self, match: Any) -> dict[str, Any]:
        """The next message that matches, within ``TIMEOUT_S``; Janus's
        errors and a closed socket raise."""
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                data = await self.inbox.get()
                kind = data.get("janus")
                if kind == "_closed":
                    self.inbox.put_nowait(data)
                    raise JanusError("the WebSocket closed")
                if kind == "error":
                    raise JanusError(str(data.get("error")))
                if kind == "ack":
                    continue
                if match(data):
                    return data

    async def plugin_event(self, *wanted: str) -> dict[str, Any]:
        """The SIP plugin's next event among `wanted` (``result.event``),
        with its ``jsep`` if any; its errors, or a hang-up, raise."""
        while True:
            data = await self.next(lambda m: m.get("janus") == "event")
            body = data.get("plugindata", {}).get("data", {})
            if "error" in body:
                raise JanusError(f"{body.get('error_code')}: {body['error']}")
            event = body.get("result", {}).get("event")
            if event in wanted:
                return data
            if event == "hangup":
                raise JanusError(f"hung up: {body['result'].get('reason')}")

    async def message(
        self, body: dict[str, Any], jsep: dict[str, Any] | None = None
    ) -> None:
        message: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            message["jsep"] = jsep
        await self.send(message)

    async def _keep_alive(self) -> None:
        """Janus ends a session it hears nothing from for 60 s."""
        while True:
            await asyncio.sleep(KEEPALIVE_S)
            await self.ws.send_str(
                json.dumps({"janus": "keepalive", "session_id": self.session_id,
                            "transaction": f"t{next(_transactions)}"})
            )  # fmt: skip

    async def close(self) -> None:
        if self.keepalive is not None:
            self.keepalive.cancel()
        with contextlib.suppress(Exception):
            if self.session_id:
                self.handle_id = 0
                async with asyncio.timeout(TIMEOUT_S):
                    await self.send({"janus": "destroy"})
                    await self.next(lambda m: m.get("janus") == "success")
        with contextlib.suppress(Exception):
            async with asyncio.timeout(TIMEOUT_S):
                await self.ws.close()
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)
        if self.keepalive is not None:
            await asyncio.gather(self.keepalive, return_exceptions=True)


# One call: an aiortc peer, through Janus, to the SIPp UAS


@dataclass
class Call:
    """A peer whose call Janus bridged to SIP, and what came back."""

    number: int
    peer: Peer
    janus: JanusSession | None = None
    codec: str = ""
    loud_frames: int = 0
    setup_s: float = 0.0
    events: list[str] = field(default_factory=list)

    def hear(self, frame: AudioFrame) -> None:
        samples = array("h", bytes(frame.planes[0])[: frame.samples * 2])
        if samples and max(max(samples), -min(samples)) >= LOUD:
            self.loud_frames += 1


def prefer_pcmu(peer: Peer) -> None:
    """Offer PCMU first, then aiortc's other audio codecs."""
    codecs = RTCRtpSender.getCapabilities("audio").codecs
    ordered = sorted(codecs, key=lambda c: c.mimeType.lower() != "audio/pcmu")
    for transceiver in peer.pc.getTransceivers():
        transceiver.setCodecPreferences(ordered)


def answered_codec(sdp: str) -> str:
    """The first codec of the answer's audio section, as ``NAME/RATE``."""
    payloads: list[str] = []
    names: dict[str, str] = {}
    for line in sdp.splitlines():
        if line.startswith("m=audio "):
            payloads = line.split()[3:]
        elif line.startswith("a=rtpmap:"):
            number, _, name = line[len("a=rtpmap:") :].partition(" ")
            names[number] = name.strip()
    return names.get(payloads[0], payloads[0]) if payloads else ""


async def place(
    http: aiohttp.ClientSession, janus_url: str, target: str, number: int
) -> Call:
    """Set up one call and wait until the tone comes back."""
    started = time.perf_counter()
    call = Call(number, Peer(f"janus-{number}"))
    call.peer.on_frame = call.hear
    try:
        call.peer.add_audio(ToneTrack())
        prefer_pcmu(call.peer)
        offer = await call.peer.create_offer()
        call.janus = janus = await JanusSession.open(http, janus_url)
        await janus.message(
            {"request": "register", "type": "guest",
             "username": f"sip:peer{number}@127.0.0.1"}
        )  # fmt: skip
        await janus.plugin_event("registered")
        await janus.message(
            {"request": "call", "uri": target, "autoaccept_reinvites": False},
            {"type": "offer", "sdp": offer},
        )
        accepted = await janus.plugin_event("accepted")
        answer = accepted["jsep"]["sdp"]
        call.codec = answered_codec(answer)
        await call.peer.accept_answer(answer)
        async with asyncio.timeout(TIMEOUT_S):
            await call.peer.wait_connected()
            while call.loud_frames < 10:
                await call.peer.wait_audio(call.peer.frames_received + 1)
    except BaseException:
        await hang_up(call)
        raise
    call.setup_s = time.perf_counter() - started
    return call


async def hang_up(call: Call) -> bool:
    """Hang up through Janus (a BYE to the UAS), then close both ends;
    True when Janus reported the call hung up."""
    janus = call.janus
    confirmed = False
    if janus is not None:
        with contextlib.suppress(JanusError, TimeoutError, ConnectionError):
            await janus.message({"request": "hangup"})
            await janus.plugin_event("hangup")
            confirmed = True
        await janus.close()
    await call.peer.close()
    return confirmed


# Figures


@dataclass
class Snapshot:
    wall: float
    janus_cpu: float
    sipp_cpu: float
    client_cpu: float
    machine_cpu: float
    frames: list[int]
    loud: list[int]

    @classmethod
    def take(cls, janus: Janus, sipp_pid: int, calls: Sequence[Call]) -> Snapshot:
        return cls(
            time.perf_counter(), cpu_seconds(janus.pid), cpu_seconds(sipp_pid),
            client_cpu(), machine_busy(),
            [c.peer.frames_received for c in calls], [c.loud_frames for c in calls],
        )  # fmt: skip


def per_call_second(cpu_s: float, calls: int, window_s: float) -> float:
    """CPU milliseconds per second of one call."""
    return round(1000 * cpu_s / (calls * window_s), 3) if calls else math.nan


def figures(before: Snapshot, after: Snapshot, calls: int) -> dict[str, Any]:
    window = after.wall - before.wall
    janus_cpu = after.janus_cpu - before.janus_cpu
    sipp_cpu = after.sipp_cpu - before.sipp_cpu
    client = after.client_cpu - before.client_cpu
    machine = after.machine_cpu - before.machine_cpu
    frames = [b - a for a, b in zip(before.frames, after.frames, strict=True)]
    loud = [b - a for a, b in zip(before.loud, after.loud, strict=True)]
    others = max(0.0, machine - janus_cpu - sipp_cpu - client)
    return {
        "calls": calls,
        "window_s": round(window, 2),
        "janus_cpu_s": round(janus_cpu, 3),
        "janus_cpu_s_per_call_s": round(janus_cpu / (calls * window), 5),
        "janus_cpu_ms_per_call_s": per_call_second(janus_cpu, calls, window),
        "sipp_cpu_ms_per_call_s": per_call_second(sipp_cpu, calls, window),
        "client_cpu_ms_per_call_s": per_call_second(client, calls, window),
        "others_pct": round(100 * others / window),
        "frames_per_call": frames,
        "loud_frames_per_call": loud,
        "expected_frames_per_call": round(window / FRAME_S),
    }


def heard_enough(result: dict[str, Any]) -> bool:
    least = HEARD_SHARE * result["expected_frames_per_call"]
    return bool(min(result["loud_frames_per_call"]) >= least)


async def level(
    http: aiohttp.ClientSession,
    janus: Janus,
    sipp: sip_calls.Sipp,
    target: str,
    calls: int,
    window_s: float,
    first: int,
    idle_ms_per_s: float,
) -> dict[str, Any]:
    """`calls` calls at once, held for a measured window, then hung up."""
    placed = await asyncio.gather(
        *(place(http, janus.url, target, first + n) for n in range(calls)),
        return_exceptions=True,
    )
    up = [c for c in placed if isinstance(c, Call)]
    failed = [c for c in placed if not isinstance(c, Call)]
    try:
        if failed:
            raise RuntimeError(f"{len(failed)} of {calls} calls failed: {failed[0]!r}")
        await asyncio.sleep(min(1.0, window_s))  # every call past its start
        before = Snapshot.take(janus, sipp.pid, up)
        await asyncio.sleep(window_s)
        after = Snapshot.take(janus, sipp.pid, up)
        result = figures(before, after, calls)
        beyond = result["janus_cpu_s"] - idle_ms_per_s / 1000 * result["window_s"]
        result["janus_cpu_ms_per_call_s_beyond_idle"] = per_call_second(
            beyond, calls, result["window_s"]
        )
        result["janus_rss_mb"] = round(rss_mb(janus.pid), 1)
        result["codecs"] = sorted({c.codec for c in up})
        result["setup_s_max"] = round(max(c.setup_s for c in up), 3)
    finally:
        hung_up = await asyncio.gather(*(hang_up(c) for c in up))
    result["hung_up"] = sum(hung_up)
    if not heard_enough(result):
        raise RuntimeError(f"{calls} calls: too little audio came back: {result}")
    return result


async def idle(janus: Janus, sipp: sip_calls.Sipp, window_s: float) -> dict[str, Any]:
    """What Janus and SIPp burn with no call."""
    before = Snapshot.take(janus, sipp.pid, [])
    await asyncio.sleep(window_s)
    after = Snapshot.take(janus, sipp.pid, [])
    wall = after.wall - before.wall
    return {
        "window_s": round(wall, 2),
        "janus_cpu_ms_per_s": round(
            1000 * (after.janus_cpu - before.janus_cpu) / wall, 3
        ),
        "sipp_cpu_ms_per_s": round(1000 * (after.sipp_cpu - before.sipp_cpu) / wall, 3),
    }


@contextlib.asynccontextmanager
async def running(folder: Path) -> AsyncIterator[tuple[Janus, sip_calls.Sipp, str]]:
    """Janus and a SIPp UAS that echoes RTP, both stopped however the
    block ends; on a failure, the end of Janus's log is printed."""
    sip_port, media_port = free_port(), free_port()
    sipp = await sip_calls.start_sipp(
        folder, "uas", "uas", sip_port, media_port, "-rtp_echo"
    )
    janus: Janus | None = None
    try:
        janus = Janus(folder)
        await asyncio.to_thread(janus.wait_ready)
        yield janus, sipp, f"sip:line@127.0.0.1:{sip_port}"
    except Exception:
        if janus is not None:
            say(f"   janus log ({janus.log}), last lines:\n{janus.tail()}")
        raise
    finally:
        if janus is not None:
            await asyncio.to_thread(janus.stop)
        sipp.kill()
        await sipp.wait(TIMEOUT_S)


async def run(levels: Sequence[int], window_s: float, folder: Path) -> dict[str, Any]:
    limit_host_addresses(["127.0.0.1"])
    result: dict[str, Any] = {"load_before": [round(x, 2) for x in os.getloadavg()]}
    async with (
        running(folder) as (janus, sipp, target),
        aiohttp.ClientSession() as http,
    ):
        result["janus_version"] = janus.version
        result["idle"] = await idle(janus, sipp, window_s)
        idle_rate = result["idle"]["janus_cpu_ms_per_s"]
        result["levels"] = []
        first = 0
        for calls in levels:
            say(f"   {calls} call(s) through Janus for {window_s:g} s ...")
            result["levels"].append(
                await level(
                    http, janus, sipp, target, calls, window_s, first, idle_rate
                )
            )
            first += calls
        await asyncio.sleep(1.5)  # SIPp writes its counts every second
        # SIPp's own uas scenario counts a call as done 4 s after its BYE.
        result["sipp"] = {"byes": sipp.figures().reached_end, "calls": first}
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


def table(result: dict[str, Any]) -> str:
    lines = [
        "| calls | window | Janus CPU per call-second (beyond idle) "
        "| Janus % of a core per call | SIPp echo per call-second "
        "| this process per call-second | echoed frames per call (expected) "
        "| others |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["levels"]:
        ms = r["janus_cpu_ms_per_call_s"]
        lines.append(
            f"| {r['calls']} | {r['window_s']} s | {ms} ms "
            f"({r['janus_cpu_ms_per_call_s_beyond_idle']} ms) "
            f"| {round(ms / 10, 2)} % | {r['sipp_cpu_ms_per_call_s']} ms "
            f"| {r['client_cpu_ms_per_call_s']} ms "
            f"| {min(r['loud_frames_per_call'])} ({r['expected_frames_per_call']}) "
            f"| {r['others_pct']} % |"
        )
    return "\n".join(lines)


def parse_levels(text: str) -> list[int]:
    levels = [int(n) for n in text.split(",") if n.strip()]
    if not levels or not all(1 <= n <= 32 for n in levels):
        raise argparse.ArgumentTypeError("call counts from 1 to 32, e.g. 1,4,8")
    return levels


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.janus_sip",
        description="Janus's SIP plugin bridging aiortc peers to a SIPp echo: "
        "Janus's CPU per call-second.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 1 and 2 calls, 2 s each"
    )
    parser.add_argument(
        "--calls", type=parse_levels, metavar="N,N",
        help="calls at once, one level after the other (default 1,4,8)",
    )  # fmt: skip
    parser.add_argument(
        "--window", type=float, metavar="S",
        help="seconds measured at each level, up to 60 (default 10)",
    )  # fmt: skip
    parser.add_argument(
        "--json", metavar="FILE", type=Path, help="also write results here"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the folder of logs and configs"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    levels = args.calls or ([1, 2] if args.quick else [1, 4, 8])
    window = min(60.0, max(1.0, args.window or (2.0 if args.quick else 10.0)))
    if not only_loopback():
        raise SystemExit(
            "benchmark: run inside a network namespace with only lo, e.g. "
            "unshare -n sh -c 'ip link set lo up && python -m benchmarks.janus_sip'"
        )
    folder = Path(tempfile.mkdtemp(prefix="janus-bench-"))
    try:
        say(f"Janus SIP plugin: levels {levels}, {window:g} s each; files in {folder}")
        result = asyncio.run(run(levels, window, folder))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    say(
        f"Janus {result['janus_version']}; idle: Janus "
        f"{result['idle']['janus_cpu_ms_per_s']} ms of CPU a second; load average "
        f"before {result['load_before']}, after {result['load_after']}"
    )
    say(table(result))
    sipp = result["sipp"]
    say(f"SIPp UAS: {sipp['byes']} of {sipp['calls']} calls ended with a BYE")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

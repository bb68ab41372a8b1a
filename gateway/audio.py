"""Audio between two clocks, without I/O: G.711 and a bounded frame buffer.

A bridged call moves 20 ms frames of 8 kHz audio between a browser's
WebRTC leg (paced by packets and by asyncio's clock) and pjsua2's
conference bridge (paced by its own clock thread). The two clocks drift
apart, and either side may stall, so each direction goes through a
:class:`FrameBuffer`: it holds a few frames, drops the oldest when a burst
would make it hold more (the delay stays bounded; every dropped frame is
counted), and answers "nothing" when it is empty (the reader then plays
silence; every such frame is counted as an underrun).

The buffer is shared by two threads. Its state is a ``deque`` and plain
integers, changed only by ``append``, ``popleft`` and ``+=`` on a single
attribute by the thread that owns that counter, which the GIL keeps whole.
"""

from __future__ import annotations

import warnings
from collections import deque
from dataclasses import dataclass
from typing import Final, Literal

with warnings.catch_warnings():
    # The C codec of the standard library (3.11, 3.12; the audioop-lts
    # package from 3.13): G.711 at about a microsecond a frame.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

RATE: Final = 8000
FRAME_MS: Final = 20
SAMPLES: Final = RATE * FRAME_MS // 1000
#: One frame of 16-bit linear PCM, as the conference bridge takes it.
PCM_BYTES: Final = SAMPLES * 2
SILENCE: Final = bytes(PCM_BYTES)
#: Frames a buffer holds before it drops the oldest: 120 ms.
DEFAULT_CAP: Final = 6

Law = Literal["pcmu", "pcma"]


def decode_g711(payload: bytes, law: Law) -> bytes:
    """G.711 bytes to 16-bit little-endian PCM."""
    if law == "pcmu":
        return audioop.ulaw2lin(payload, 2)
    return audioop.alaw2lin(payload, 2)


def encode_g711(pcm: bytes, law: Law) -> bytes:
    """16-bit little-endian PCM to G.711 bytes."""
    if law == "pcmu":
        return audioop.lin2ulaw(pcm, 2)
    return audioop.lin2alaw(pcm, 2)


def rms(pcm: bytes) -> int:
    """The loudness of 16-bit PCM (0 for silence)."""
    return int(audioop.rms(pcm, 2)) if pcm else 0


@dataclass(frozen=True, slots=True)
class BufferStats:
    pushed: int
    popped: int
    trimmed: int
    underruns: int
    held: int


class FrameBuffer:
    """At most `cap` frames between a writer and a reader on two clocks."""

    def __init__(self, cap: int = DEFAULT_CAP, prefetch: int = 2) -> None:
        if cap < 1 or not 0 <= prefetch <= cap:
            raise ValueError("a buffer holds at least one frame, prefetch <= cap")
        self.cap = cap
        #: Frames to gather before the reader gets the first one (and again
        #: after it ran dry), so one late packet does not make a gap.
        self.prefetch = prefetch
        self._frames: deque[bytes] = deque()
        self._primed = False
        # The writer's counters.
        self.pushed = 0
        self.trimmed = 0
        # The reader's counters.
        self.popped = 0
        self.underruns = 0

    def push(self, frame: bytes) -> None:
        """Add one frame (writer side); the oldest goes if it is full."""
        self._frames.append(frame)
        self.pushed += 1
        while len(self._frames) > self.cap:
            try:
                self._frames.popleft()
            except IndexError:  # the reader took it meanwhile
                break
            self.trimmed += 1

    def pop(self) -> bytes | None:
        """The next frame (reader side), or None: play silence."""
        if not self._primed:
            if len(self._frames) < max(self.prefetch, 1):
                self.underruns += 1
                return None
            self._primed = True
        try:
            frame = self._frames.popleft()
        except IndexError:
            self._primed = False
            self.underruns += 1
            return None
        self.popped += 1
        return frame

    def clear(self) -> None:
        self._frames.clear()
        self._primed = False

    def __len__(self) -> int:
        return len(self._frames)

    def stats(self) -> BufferStats:
        return BufferStats(
            self.pushed, self.popped, self.trimmed, self.underruns, len(self._frames)
        )


def seq_newer(seq: int, last: int) -> bool:
    """Whether RTP sequence number `seq` comes after `last` (mod 2**16)."""
    return 0 < (seq - last) & 0xFFFF < 0x8000

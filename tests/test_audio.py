"""The bridge's audio helpers without I/O: G.711 both ways, the bounded
buffer between two clocks (what it trims, when it runs dry), and RTP
sequence order across the wrap."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.audio import (
    PCM_BYTES,
    SAMPLES,
    FrameBuffer,
    decode_g711,
    encode_g711,
    rms,
    seq_newer,
)


def tone(freq: float = 1000.0, level: int = 8000) -> bytes:
    return struct.pack(
        f"<{SAMPLES}h",
        *(
            round(level * math.sin(2 * math.pi * freq * n / 8000))
            for n in range(SAMPLES)
        ),
    )


@pytest.mark.parametrize("law", ["pcmu", "pcma"])
def test_g711_keeps_a_tone(law: str) -> None:
    pcm = tone()
    coded = encode_g711(pcm, law)  # type: ignore[arg-type]
    assert len(coded) == SAMPLES
    back = decode_g711(coded, law)  # type: ignore[arg-type]
    assert len(back) == PCM_BYTES
    error = [
        a - b
        for a, b in zip(
            struct.unpack(f"<{SAMPLES}h", pcm),
            struct.unpack(f"<{SAMPLES}h", back),
            strict=True,
        )
    ]
    assert max(abs(e) for e in error) < 300  # G.711's step at this level
    assert abs(rms(back) - rms(pcm)) < 100


def test_silence_is_quiet() -> None:
    assert rms(bytes(PCM_BYTES)) == 0
    assert rms(b"") == 0


def test_a_full_buffer_drops_the_oldest_and_counts_it() -> None:
    buffer = FrameBuffer(cap=3, prefetch=1)
    for n in range(5):
        buffer.push(bytes([n]) * PCM_BYTES)
    assert len(buffer) == 3
    assert buffer.stats().trimmed == 2
    assert buffer.pop() == bytes([2]) * PCM_BYTES  # 0 and 1 were trimmed


def test_the_reader_waits_for_the_prefetch_then_plays_silence_when_dry() -> None:
    buffer = FrameBuffer(cap=6, prefetch=2)
    buffer.push(b"a" * PCM_BYTES)
    assert buffer.pop() is None  # one frame is not enough to start
    buffer.push(b"b" * PCM_BYTES)
    assert buffer.pop() == b"a" * PCM_BYTES
    assert buffer.pop() == b"b" * PCM_BYTES
    assert buffer.pop() is None  # ran dry: it gathers again
    buffer.push(b"c" * PCM_BYTES)
    assert buffer.pop() is None
    stats = buffer.stats()
    assert (stats.pushed, stats.popped, stats.underruns) == (3, 2, 3)


@pytest.mark.parametrize(("cap", "prefetch"), [(0, 0), (2, 3), (2, -1)])
def test_a_buffer_that_cannot_work_is_refused(cap: int, prefetch: int) -> None:
    with pytest.raises(ValueError):
        FrameBuffer(cap=cap, prefetch=prefetch)


@given(st.lists(st.booleans(), max_size=200))
def test_the_buffer_never_holds_more_than_its_cap(ops: list[bool]) -> None:
    buffer = FrameBuffer(cap=4, prefetch=2)
    for push in ops:
        if push:
            buffer.push(b"x" * PCM_BYTES)
        else:
            buffer.pop()
        assert len(buffer) <= 4
    stats = buffer.stats()
    assert stats.pushed == stats.popped + stats.trimmed + stats.held


@pytest.mark.parametrize(
    ("seq", "last", "newer"),
    [(5, 4, True), (4, 5, False), (5, 5, False), (0, 65535, True), (65535, 0, False)],
)
def test_sequence_numbers_compare_across_the_wrap(
    seq: int, last: int, newer: bool
) -> None:
    assert seq_newer(seq, last) is newer

"""In-band DTMF: keypad tones heard in a call's audio.

For trunks and phones that send neither telephone-events nor INFO. The
detector takes 16-bit signed little-endian mono PCM in frames of any size
and returns each digit once, as soon as it is sure of it.

Theory of operation. The audio is cut into blocks of 102 samples at
8 kHz (12.75 ms). In each block the power of the eight DTMF frequencies
is measured (the Goertzel power; see `_powers`), and the block holds a
digit when the strongest row and the strongest column tone:

- are each loud enough (`MIN_AMPLITUDE`);
- are within the twist limits of each other: the low tone at most 8 dB
  above the high one, the high tone at most 4 dB above the low one;
- each stand 8 dB above every other tone of their group;
- together carry most of the block's energy (`MIN_TONE_SHARE`), which is
  what speech and music, whose energy is spread, rarely do.

A digit counts once two blocks in a row hold it (25.5 ms), and the
detector re-arms after three blocks without it (38 ms). Two blocks, not
the 40 ms of the standard's shortest tone: a 40 ms tone fills only two
whole blocks when it does not line up with them, and it must be heard.
A break of up to 10 ms inside a tone spoils at most two blocks, so it
does not make the digit count twice.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Callable
from itertools import chain
from typing import Final

ROWS: Final = (697.0, 770.0, 852.0, 941.0)
COLUMNS: Final = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD: Final = ("123A", "456B", "789C", "*0#D")
#: Samples a block at 8 kHz; other rates scale it to the same 12.75 ms.
BLOCK_8K: Final = 102
HITS_TO_START: Final = 2
MISSES_TO_REARM: Final = 3
#: The quietest tone heard, as a sine's amplitude (about -36 dBm0).
MIN_AMPLITUDE: Final = 360.0
MAX_LOW_OVER_HIGH: Final = 10 ** (8 / 10)  # twist limits, as power ratios
MAX_HIGH_OVER_LOW: Final = 10 ** (4 / 10)
RELATIVE_PEAK: Final = 10 ** (8 / 10)
MIN_TONE_SHARE: Final = 0.8


class InbandDetector:
    """Digits in one call's audio, one detector per call and direction."""

    def __init__(self, rate: int = 8000) -> None:
        if rate < 8000:
            raise ValueError("rate must be at least 8000 Hz")
        self.rate = rate
        self.block = round(BLOCK_8K * rate / 8000)
        self._tables = [
            _table(math.cos, f, rate, self.block) for f in chain(ROWS, COLUMNS)
        ] + [_table(math.sin, f, rate, self.block) for f in chain(ROWS, COLUMNS)]
        self._norms = [math.fsum(v * v for v in table) for table in self._tables]
        # A sine of amplitude A at a table's frequency has power (A*N/2)**2.
        self._min_power = (MIN_AMPLITUDE * self.block / 2) ** 2
        self._samples = array("h")
        self._odd = b""
        self._last: str | None = None  # what the last block held
        self._run = 0  # blocks in a row that held it
        self._held: str | None = None  # the digit reported, until re-armed
        self._misses = 0

    def feed(self, pcm: bytes) -> list[str]:
        """Take the next audio; return the digits recognised in it."""
        data = self._odd + pcm
        whole = len(data) & ~1
        self._odd = data[whole:]
        samples = array("h", data[:whole])
        if sys.byteorder == "big":
            samples.byteswap()
        self._samples.extend(samples)

        digits = []
        n = self.block
        count = len(self._samples) // n
        for start in range(0, count * n, n):
            block = tuple(map(float, self._samples[start : start + n]))
            digit = self._step(self._classify(block))
            if digit is not None:
                digits.append(digit)
        del self._samples[: count * n]
        return digits

    def _step(self, found: str | None) -> str | None:
        """Move on by one block that held `found`; a digit to report or None."""
        self._run = self._run + 1 if found == self._last else 1
        self._last = found

        if self._held is not None:
            self._misses = 0 if found == self._held else self._misses + 1
            if self._misses < MISSES_TO_REARM:
                return None
            self._held = None

        if found is not None and self._run >= HITS_TO_START:
            self._held, self._misses = found, 0
            return found
        return None

    def _classify(self, block: tuple[float, ...]) -> str | None:
        """The digit one block holds, or None."""
        energy = math.hypot(*block) ** 2
        # No tone's power exceeds N times the block's energy (Cauchy-Schwarz).
        if energy * len(block) < self._min_power:
            return None

        powers = self._powers(block, energy)
        rows, columns = powers[:4], powers[4:]
        row = max(range(4), key=rows.__getitem__)
        column = max(range(4), key=columns.__getitem__)
        low, high = rows[row], columns[column]

        if low < self._min_power or high < self._min_power:
            return None
        if low > high * MAX_LOW_OVER_HIGH or high > low * MAX_HIGH_OVER_LOW:
            return None
        if sum(p * RELATIVE_PEAK > low for p in rows) > 1:
            return None
        if sum(p * RELATIVE_PEAK > high for p in columns) > 1:
            return None
        # A sine's energy in the block is 2/N of its power.
        if 2 * (low + high) < MIN_TONE_SHARE * energy * len(block):
            return None
        return KEYPAD[row][column]

    def _powers(self, block: tuple[float, ...], energy: float) -> list[float]:
        """The power of each DTMF frequency in `block`, rows then columns.

        The Goertzel power of a frequency w is |sum x[n] e^(-jwn)|^2, the
        squares of two dot products: x.cos(wn) and x.sin(wn). Each dot product
        comes from a distance, x.t = (|x|^2 + |t|^2 - |x - t|^2) / 2, as
        `math.dist` runs in C where Goertzel's recurrence would run sample
        by sample in Python (about half as fast: benchmarks/dtmf.py).
        """
        dots = [
            (energy + norm - math.dist(block, table) ** 2) / 2
            for table, norm in zip(self._tables, self._norms, strict=True)
        ]
        return [c * c + s * s for c, s in zip(dots[:8], dots[8:], strict=True)]


def _table(
    wave: Callable[[float], float], frequency: float, rate: int, size: int
) -> tuple[float, ...]:
    return tuple(wave(2 * math.pi * frequency * n / rate) for n in range(size))


def dtmf_tone(
    digit: str,
    duration_ms: int,
    *,
    rate: int = 8000,
    amplitude: float = 6000.0,
    twist_db: float = 0.0,
) -> bytes:
    """PCM of one keypad tone: `amplitude` for the low tone, the high one
    `twist_db` louder (16-bit signed little-endian mono)."""
    for row, keys in enumerate(KEYPAD):
        if len(digit) == 1 and digit.upper() in keys:
            low, high = ROWS[row], COLUMNS[keys.index(digit.upper())]
            break
    else:
        raise ValueError(f"not a keypad digit: {digit!r}")

    high_amplitude = amplitude * 10 ** (twist_db / 20)
    samples = array(
        "h",
        (
            max(
                -32768,
                min(
                    32767,
                    round(
                        amplitude * math.sin(2 * math.pi * low * n / rate)
                        + high_amplitude * math.sin(2 * math.pi * high * n / rate)
                    ),
                ),
            )
            for n in range(duration_ms * rate // 1000)
        ),
    )
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()

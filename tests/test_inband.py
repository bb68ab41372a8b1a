"""ivr.inband: keypad tones in call audio, and no digits from anything else."""

from __future__ import annotations

import math
import random
import shutil
import subprocess
import wave
from array import array
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.dtmf import goertzel_powers
from ivr.inband import (
    BLOCK_8K,
    COLUMNS,
    KEYPAD,
    ROWS,
    InbandDetector,
    dtmf_tone,
)

SEQUENCE = "1234567890*#"
FRAME = 320  # bytes in 20 ms at 8 kHz


def detect(pcm: bytes, chunk: int = FRAME, rate: int = 8000) -> list[str]:
    detector = InbandDetector(rate)
    digits = []
    for start in range(0, len(pcm), chunk):
        digits += detector.feed(pcm[start : start + chunk])
    return digits


def silence(ms: int) -> bytes:
    return bytes(ms * 16)


def samples(pcm: bytes) -> list[float]:
    return [float(x) for x in array("h", pcm)]


def to_pcm(values: Sequence[float]) -> bytes:
    return array("h", (max(-32768, min(32767, round(x))) for x in values)).tobytes()


def sine(frequency: float, ms: int, amplitude: float = 6000.0) -> bytes:
    return to_pcm(
        [
            amplitude * math.sin(2 * math.pi * frequency * n / 8000)
            for n in range(ms * 8)
        ]
    )


def mix(*signals: bytes) -> bytes:
    length = max(len(s) for s in signals) // 2
    total = [0.0] * length
    for signal in signals:
        for n, x in enumerate(samples(signal)):
            total[n] += x
    return to_pcm(total)


def white_noise(ms: int, sigma: float, seed: int) -> bytes:
    rng = random.Random(seed)
    return to_pcm([rng.gauss(0, sigma) for _ in range(ms * 8)])


def sequence(
    tone_ms: int, gap_ms: int, offset: int = 0, amplitude: float = 6000.0
) -> bytes:
    """SEQUENCE as tones, `offset` samples after the start."""
    keyed = b"".join(
        dtmf_tone(d, tone_ms, amplitude=amplitude) + silence(gap_ms) for d in SEQUENCE
    )
    return bytes(2 * offset) + keyed


@pytest.mark.parametrize("digit", "0123456789*#ABCD")
def test_every_key(digit: str) -> None:
    assert detect(dtmf_tone(digit, 100)) == [digit]
    assert detect(silence(30) + dtmf_tone(digit.lower(), 60) + silence(30)) == [digit]


@pytest.mark.parametrize("tone_ms", [40, 45, 50])
def test_sequence_at_every_alignment_with_the_blocks(tone_ms: int) -> None:
    for offset in range(0, BLOCK_8K, 3):
        assert detect(sequence(tone_ms, 50, offset)) == list(SEQUENCE), offset


@pytest.mark.parametrize("chunk", [1, 7, 160, 320, 4000])
def test_any_frame_size(chunk: int) -> None:
    assert detect(sequence(45, 50, offset=11), chunk) == list(SEQUENCE)


@pytest.mark.parametrize(("snr_db", "seed"), [(20, 1), (15, 2), (12, 3)])
def test_sequence_over_noise(snr_db: int, seed: int) -> None:
    amplitude = 2000.0
    sigma = amplitude / 10 ** (snr_db / 20)  # two tones of amplitude^2 / 2 each
    for offset in (0, 37, 80):
        keyed = sequence(40, 50, offset, amplitude=amplitude)
        noisy = mix(keyed, white_noise(len(keyed) // 16, sigma, seed + offset))
        assert detect(noisy) == list(SEQUENCE), offset


def test_silence_and_white_noise_give_no_digits() -> None:
    assert detect(silence(5000)) == []
    for sigma, seed in ((30, 1), (1000, 2), (8000, 3)):
        assert detect(white_noise(5000, sigma, seed)) == []


@pytest.mark.parametrize("frequency", [1000.0, 440.0, 2000.0, *ROWS, *COLUMNS])
def test_single_tones_give_no_digits(frequency: float) -> None:
    assert detect(sine(frequency, 1000)) == []


def test_dial_tone_and_a_tone_pair_off_the_grid_give_no_digits() -> None:
    assert detect(mix(sine(350, 1000), sine(440, 1000))) == []
    assert detect(mix(sine(1000, 1000), sine(1100, 1000))) == []


@pytest.mark.parametrize(("below_db", "heard"), [(7.0, False), (10.0, True)])
def test_a_second_row_tone(below_db: float, heard: bool) -> None:
    """Two rows at once are no key, unless one stands 8 dB above the other."""
    second = 6000 * 10 ** (-below_db / 20)
    chord = mix(sine(697, 100), sine(770, 100, second), sine(1209, 100))

    assert detect(chord) == (["1"] if heard else [])


def test_one_digit_per_tone_however_long() -> None:
    assert detect(dtmf_tone("5", 2000)) == ["5"]


def test_a_10_ms_break_inside_a_tone_is_still_one_digit() -> None:
    for offset in range(0, BLOCK_8K, 17):
        broken = (
            bytes(2 * offset) + dtmf_tone("8", 200) + silence(10) + dtmf_tone("8", 200)
        )
        assert detect(broken) == ["8"], offset


def test_the_same_key_twice_after_a_50_ms_gap() -> None:
    for offset in range(0, BLOCK_8K, 17):
        twice = (
            bytes(2 * offset) + dtmf_tone("3", 60) + silence(50) + dtmf_tone("3", 60)
        )
        assert detect(twice) == ["3", "3"], offset


def test_a_20_ms_tone_is_too_short() -> None:
    for offset in range(0, BLOCK_8K, 7):
        assert detect(bytes(2 * offset) + dtmf_tone("1", 20) + silence(100)) == []


@pytest.mark.parametrize(
    ("twist_db", "heard"),
    [(0.0, True), (3.5, True), (-7.5, True), (6.0, False), (-10.0, False)],
)
def test_twist_limits(twist_db: float, heard: bool) -> None:
    """High tone up to 4 dB above the low one, low tone up to 8 dB above."""
    assert detect(dtmf_tone("9", 100, twist_db=twist_db)) == (["9"] if heard else [])


@pytest.mark.parametrize(("amplitude", "heard"), [(500.0, True), (200.0, False)])
def test_quietest_tone(amplitude: float, heard: bool) -> None:
    assert detect(dtmf_tone("6", 100, amplitude=amplitude)) == (["6"] if heard else [])


@pytest.mark.parametrize(
    ("detune", "heard"), [(1.015, True), (0.985, True), (1.035, False), (0.965, False)]
)
def test_tones_off_frequency(detune: float, heard: bool) -> None:
    """Heard 1.5 % off, not 3.5 % off, as ITU-T Q.24 asks."""
    for row, keys in enumerate(KEYPAD):
        for column, digit in enumerate(keys):
            tone = mix(
                sine(ROWS[row] * detune, 100), sine(COLUMNS[column] * detune, 100)
            )
            assert detect(tone) == ([digit] if heard else []), digit


def test_other_rates() -> None:
    keyed = b"".join(dtmf_tone(d, 45, rate=16000) + bytes(1600) for d in SEQUENCE)

    assert detect(keyed, 640, rate=16000) == list(SEQUENCE)
    with pytest.raises(ValueError):
        InbandDetector(rate=4000)


def test_dtmf_tone_refuses_other_characters() -> None:
    for digit in ("E", "", "12", " "):
        with pytest.raises(ValueError):
            dtmf_tone(digit, 50)


def test_powers_are_goertzels() -> None:
    """The dot products give the recurrence's powers on any block."""
    detector = InbandDetector()
    rng = random.Random(4)
    blocks = [
        samples(dtmf_tone("7", 13)[: 2 * BLOCK_8K]),
        samples(white_noise(13, 3000, 5)[: 2 * BLOCK_8K]),
        [32767.0, -32768.0] * (BLOCK_8K // 2),
        [rng.choice((32767.0, -32768.0, 0.0)) for _ in range(BLOCK_8K)],
        [1.0] * BLOCK_8K,
    ]
    for values in blocks:
        block = tuple(values)
        energy = math.fsum(x * x for x in block)

        fast = detector._powers(block, energy)
        slow = goertzel_powers(block)

        bound = energy * len(block)  # no power exceeds it
        assert all(abs(f - s) <= 1e-9 * bound for f, s in zip(fast, slow, strict=True))


@given(st.lists(st.binary(max_size=700), max_size=20))
def test_any_bytes_in_any_chunks(chunks: list[bytes]) -> None:
    detector = InbandDetector()
    for chunk in chunks:
        assert set(detector.feed(chunk)) <= set("0123456789*#ABCD")


# Talk-off: speech must not dial. espeak-ng renders it, sox makes it 8 kHz.

SPEECH = (
    "Thank you for calling. For billing, press one. For deliveries, press two. "
    "Please hold while we connect you; your call is important to us. "
    "Zero one two three four five six seven eight nine, hash, star. "
    "Hello? My washing machine arrived broken and I would like a refund."
)
VOICES = ["en", "en-us+f3", "en+f5", "en+m3", "fr"]


def speak(text: str, voice: str, folder: Path) -> bytes:
    """`text` said by espeak-ng, as 8 kHz 16-bit mono PCM."""
    wide, narrow = folder / f"{voice}.wav", folder / f"{voice}-8k.wav"
    resample = ["sox", str(wide), "-r", "8000", "-c", "1", "-b", "16"]
    for command in (
        ["espeak-ng", "-v", voice, "-w", str(wide), text],
        [*resample, "-e", "signed-integer", str(narrow)],
    ):
        subprocess.run(command, check=True, capture_output=True, timeout=60)
    with wave.open(str(narrow)) as audio:
        shape = (audio.getframerate(), audio.getsampwidth(), audio.getnchannels())
        assert shape == (8000, 2, 1)
        pcm: bytes = audio.readframes(audio.getnframes())
    return pcm


@pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("sox")),
    reason="needs espeak-ng and sox",
)
@pytest.mark.parametrize("voice", VOICES)
def test_speech_gives_no_digits(voice: str, tmp_path: Path) -> None:
    speech = speak(SPEECH, voice, tmp_path)

    assert len(speech) > 16000 * 10  # over ten seconds of it
    assert detect(speech) == []
    assert detect(speech + dtmf_tone("5", 60) + speech) == ["5"]

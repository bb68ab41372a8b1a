"""Prompt audio made by the real espeak-ng and FFmpeg (PyAV): the files,
their formats and loudness, the cache, the fallback for text that cannot be
spoken, and operators' uploads."""

from __future__ import annotations

import asyncio
import io
import math
import os
import shutil
import stat
import struct
import wave
from collections.abc import Callable
from pathlib import Path

import av
import pytest

from gateway.prompts import Prompts
from ivr.faq import FaqEntry
from ivr.prompts import (
    FALLBACK_TEXT,
    FALLBACK_VOICE,
    MAX_UPLOAD_BYTES,
    Prompt,
    PromptError,
    check_text,
    rms_dbfs,
)


@pytest.fixture(autouse=True)
def espeak_installed() -> None:
    if shutil.which("espeak-ng") is None:
        pytest.fail(
            "espeak-ng is not installed: run ./scripts/setup as root "
            "(it installs the Debian package espeak-ng)"
        )


FALLBACK_KEY = check_text(FALLBACK_TEXT, FALLBACK_VOICE).key
Wrapper = Callable[..., str]


@pytest.fixture
def wrapper(tmp_path: Path) -> Wrapper:
    """A stand-in for espeak-ng: counts its runs in ``runs``, then does
    what `body` says (a shell snippet that ends by exec'ing espeak-ng)."""

    def make(body: str = 'exec espeak-ng "$@"') -> str:
        script = tmp_path / "espeak-wrapper"
        script.write_text(
            "#!/bin/sh\n"
            f"echo run >> '{tmp_path / 'runs'}'\n"
            f"echo $$ >> '{tmp_path / 'pids'}'\n"
            f"{body}\n"
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        return str(script)

    return make


def runs(tmp_path: Path) -> int:
    path = tmp_path / "runs"
    return len(path.read_text().splitlines()) if path.exists() else 0


def alive(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


def prompts(tmp_path: Path, espeak: str = "espeak-ng", **kw: float) -> Prompts:
    return Prompts(tmp_path / "prompts", "en-us", espeak=espeak, **kw)


def decode_pcm(path: Path) -> tuple[bytes, int]:
    """Mono 16-bit PCM of any file PyAV reads, and its sample rate."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.rate
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        pcm = bytearray()
        for frame in [*container.decode(stream), None]:
            for out in resampler.resample(frame):
                pcm += bytes(out.planes[0])[: out.samples * 2]
    return bytes(pcm), rate


def assert_good_files(p: Prompts, prompt: Prompt) -> None:
    """All three files there, in their formats, as long as said, not silent."""
    for fmt, rate in (("8k.wav", 8000), ("16k.wav", 16000)):
        path = p.path(prompt.key, fmt)
        assert path is not None, fmt
        with wave.open(str(path), "rb") as reader:
            assert reader.getnchannels() == 1
            assert reader.getsampwidth() == 2
            assert reader.getframerate() == rate
            assert reader.getcomptype() == "NONE"
            frames = reader.getnframes()
            assert frames / rate == pytest.approx(prompt.duration_s, abs=0.01)
            assert rms_dbfs(reader.readframes(frames)) > -40
    ogg = p.path(prompt.key, "ogg")
    assert ogg is not None
    with av.open(str(ogg)) as container:
        assert container.format.name == "ogg"
        assert container.streams.audio[0].codec_context.name == "opus"
    pcm, rate = decode_pcm(ogg)
    assert rate == 48000
    assert len(pcm) / 2 / rate == pytest.approx(prompt.duration_s, abs=0.05)
    assert rms_dbfs(pcm) > -40


async def test_text_renders_to_three_good_files(tmp_path: Path) -> None:
    p = prompts(tmp_path)
    prompt = await p.render("Thank you for calling Northwind Appliances.")
    assert prompt.fallback is False
    assert prompt.error is None
    assert 1.0 < prompt.duration_s < 5.0
    assert (
        prompt.key
        == check_text("Thank you for calling Northwind Appliances.", "en-us").key
    )
    assert_good_files(p, prompt)


async def test_a_cached_text_is_not_rendered_again(
    tmp_path: Path, wrapper: Wrapper
) -> None:
    p = prompts(tmp_path, wrapper())
    one = await p.render("Press 1 for billing.")
    two = await p.render("  Press 1   for billing. ")  # same text once normalized
    assert runs(tmp_path) == 1
    assert two == one

    # Another node on the same folder finds the files too.
    other = prompts(tmp_path, wrapper())
    assert await other.render("Press 1 for billing.") == one
    assert runs(tmp_path) == 1

    await p.render("Press 2 for shipping.")
    assert runs(tmp_path) == 2


async def test_concurrent_renders_of_one_text_run_the_renderer_once(
    tmp_path: Path, wrapper: Wrapper
) -> None:
    p = prompts(tmp_path, wrapper())
    results = await asyncio.gather(*(p.render("All at once.") for _ in range(8)))
    assert runs(tmp_path) == 1
    assert len(set(results)) == 1
    assert_good_files(p, results[0])


@pytest.mark.parametrize(
    "text",
    [
        "Café crème, à bientôt.",
        "Señor Muñoz, your naïve façade order is ready.",
        "Grüße aus Köln: 20 °C, 5 € — that's it™.",
        "Déjà vu\nover two lines.",
    ],
)
async def test_accented_latin_text_is_spoken(tmp_path: Path, text: str) -> None:
    p = prompts(tmp_path)
    prompt = await p.render(text)
    assert (prompt.fallback, prompt.error) == (False, None)
    assert prompt.key != FALLBACK_KEY
    assert_good_files(p, prompt)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("営業時間は何時ですか", "cannot speak CJK text (U+55B6"),
        ("안녕하세요", "cannot speak Hangul text"),
        ("שלום, מה שלומך", "cannot speak Hebrew text (U+05E9"),
        ("مرحبا بكم", "cannot speak Arabic text"),
        ("Привет", "cannot speak Cyrillic text"),
        ("Thanks 😀", "emoji or pictograph (U+1F600 GRINNING FACE)"),
        ("Press ☎ now", "emoji or pictograph (U+260E"),
        ("Bell\x07 here", "control or invisible character (U+0007"),
        (
            "left\u200fright",
            "control or invisible character (U+200F RIGHT-TO-LEFT MARK",
        ),
        ("zero\u200bwidth", "control or invisible character (U+200B"),
        ("a\u2028b", "line or paragraph separator"),
        ("", "the text is empty"),
        ("   \n ", "the text is empty"),
        ("... ?!", "no letters or digits"),
        ("x" * 2001, "2001 characters, at most 2000"),
    ],
)
async def test_unspeakable_text_gives_the_fallback_and_why(
    tmp_path: Path, text: str, error: str
) -> None:
    p = prompts(tmp_path)
    prompt = await p.render(text)
    assert prompt.fallback is True
    assert prompt.error is not None and error in prompt.error
    assert prompt.key == FALLBACK_KEY
    assert_good_files(p, prompt)


async def test_a_renderer_that_fails_gives_the_fallback(
    tmp_path: Path, wrapper: Wrapper
) -> None:
    body = (
        'text=$(cat); case "$text" in *BOOM*) echo broken >&2; exit 3;; esac\n'
        'printf %s "$text" | exec espeak-ng "$@"'
    )
    p = prompts(tmp_path, wrapper(body))
    prompt = await p.render("This will go BOOM.")
    assert prompt.fallback is True
    assert prompt.error is not None
    assert "exit code 3" in prompt.error and "broken" in prompt.error
    assert_good_files(p, prompt)
    assert p.path(check_text("This will go BOOM.", "en-us").key, "8k.wav") is None


async def test_a_renderer_that_hangs_is_killed_and_the_fallback_plays(
    tmp_path: Path, wrapper: Wrapper
) -> None:
    body = (
        'text=$(cat); case "$text" in *HANG*) exec sleep 60;; esac\n'
        'printf %s "$text" | exec espeak-ng "$@"'
    )
    p = prompts(tmp_path, wrapper(body), timeout_s=1.0)
    prompt = await p.render("Now HANG forever.")
    assert prompt.fallback is True
    assert prompt.error is not None and "took over 1 s" in prompt.error
    assert_good_files(p, prompt)

    # The hung run, then the fallback's; the hung one is gone, not left over.
    hung, fallback = (int(pid) for pid in (tmp_path / "pids").read_text().split())
    assert not alive(hung)
    assert not alive(fallback)


async def test_a_voice_espeak_does_not_have_gives_the_english_fallback(
    tmp_path: Path,
) -> None:
    p = Prompts(tmp_path / "prompts", "xx-nosuchvoice")
    prompt = await p.render("Hello there.")
    assert prompt.fallback is True
    assert prompt.error is not None and "exit code" in prompt.error
    assert prompt.key == FALLBACK_KEY
    assert_good_files(p, prompt)


async def test_without_any_renderer_render_raises(tmp_path: Path) -> None:
    p = prompts(tmp_path, str(tmp_path / "no-such-espeak"))
    with pytest.raises(PromptError) as caught:
        await p.render("Hello.")
    assert caught.value.code == "tts-failed"
    assert not (tmp_path / "prompts").exists() or not any(
        (tmp_path / "prompts").iterdir()
    )


@pytest.mark.parametrize(
    ("key", "fmt"),
    [
        ("0" * 32, "ogg"),
        ("../../etc/passwd", "ogg"),
        ("0" * 31 + "/", "ogg"),
        ("A" * 32, "ogg"),
    ],
)
async def test_path_finds_only_existing_well_formed_keys(
    tmp_path: Path, key: str, fmt: str
) -> None:
    p = prompts(tmp_path)
    assert p.path(key, fmt) is None


async def test_path_refuses_unknown_formats(tmp_path: Path) -> None:
    p = prompts(tmp_path)
    prompt = await p.render("Hello.")
    assert p.path(prompt.key, "ogg") is not None
    for fmt in ("mp3", "wav", "../ogg", ""):
        assert p.path(prompt.key, fmt) is None


# Uploads


def sine_wav(
    seconds: float, rate: int = 44100, channels: int = 2, amplitude: float = 0.3
) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        frames = bytearray()
        for i in range(int(seconds * rate)):
            value = int(amplitude * 32767 * math.sin(2 * math.pi * 440 * i / rate))
            frames += struct.pack("<h", value) * channels
        writer.writeframes(bytes(frames))
    return out.getvalue()


def silent_wav(seconds: float, rate: int = 8000, level: int = 0) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        samples = [level if i % 2 else -level for i in range(int(seconds * rate))]
        writer.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return out.getvalue()


def opus_ogg(wav: bytes) -> bytes:
    """The WAV re-encoded as Ogg Opus, as Firefox's recorder makes it."""
    out = io.BytesIO()
    with (
        av.open(io.BytesIO(wav), "r") as source,
        av.open(out, "w", format="ogg") as sink,
    ):
        stream = sink.add_stream("libopus", rate=48000)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        for frame in [*source.decode(audio=0), None]:
            for piece in resampler.resample(frame):
                piece.pts = None
                sink.mux(stream.encode(piece))
        sink.mux(stream.encode(None))
    return out.getvalue()


async def test_a_good_wav_upload_is_converted(tmp_path: Path) -> None:
    p = prompts(tmp_path)
    prompt = await p.save_upload(sine_wav(1.5))
    assert prompt.fallback is False and prompt.error is None
    assert prompt.duration_s == pytest.approx(1.5, abs=0.01)
    assert_good_files(p, prompt)
    assert await p.save_upload(sine_wav(1.5)) == prompt


async def test_an_ogg_opus_upload_is_converted(tmp_path: Path) -> None:
    p = prompts(tmp_path)
    prompt = await p.save_upload(opus_ogg(sine_wav(2.0, rate=16000, channels=1)))
    assert prompt.duration_s == pytest.approx(2.0, abs=0.05)
    assert_good_files(p, prompt)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "not-audio"),
        (b"hello, this is not audio at all\n" * 10, "not-audio"),
        (b"\x89PNG\r\n\x1a\n" + os.urandom(2000), "not-audio"),
        (sine_wav(0.5)[:44], "not-audio"),
        (silent_wav(2.0), "silent"),
        (silent_wav(2.0, level=20), "silent"),
        (silent_wav(121.0), "too-long"),
        (b"\0" * (MAX_UPLOAD_BYTES + 1), "too-large"),
    ],
    ids=["empty", "text", "png", "header-only", "zeros", "hiss", "too-long", "too-big"],
)
async def test_bad_uploads_are_refused_with_a_code(
    tmp_path: Path, data: bytes, code: str
) -> None:
    p = prompts(tmp_path)
    with pytest.raises(PromptError) as caught:
        await p.save_upload(data)
    assert caught.value.code == code
    assert str(caught.value)
    folder = tmp_path / "prompts"
    assert not folder.exists() or not any(folder.iterdir())


async def test_a_faq_entry_plays_its_recording_else_its_answer(tmp_path: Path) -> None:
    p = prompts(tmp_path)
    recorded = await p.save_upload(sine_wav(1.0))
    entry = FaqEntry("hours", "When?", "Eight to eight.", recording=recorded.key)
    assert await p.for_faq(entry) == recorded

    spoken = await p.for_faq(FaqEntry("hours", "When?", "Eight to eight."))
    assert spoken.key == check_text("Eight to eight.", "en-us").key
    assert spoken.fallback is False

    lost = FaqEntry("hours", "When?", "Eight to eight.", recording="e" * 32)
    assert await p.for_faq(lost) == spoken

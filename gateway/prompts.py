"""Prompt audio: espeak-ng renderings and operators' recordings, on disk.

Every prompt is three files in the cache folder, named by its key
(`ivr.prompts`): ``<key>.8k.wav`` (8 kHz mono 16-bit PCM, what a SIP leg
plays), ``<key>.16k.wav`` (16 kHz, wideband) and ``<key>.ogg`` (Opus, what
the page plays). Files are written under a temporary name and renamed, the
8 kHz one last, so a prompt whose 8 kHz file exists is complete; nodes that
share the folder may render the same text at the same moment and simply
write the same files.

espeak-ng runs as a subprocess with the text on its standard input (never
in argv, where it could read as an option) and a deadline. Decoding,
resampling and encoding go through PyAV (FFmpeg) in a worker thread, off
the event loop. A text the voice cannot speak, a renderer that fails or
says nothing audible all give the fallback prompt with the reason in
`Prompt.error`; only when the fallback cannot be made either does
`render` raise, and the caller shows the text without audio.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import shutil
import subprocess
import wave
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import av

from ivr.faq import FaqEntry
from ivr.prompts import (
    FALLBACK_TEXT,
    FALLBACK_VOICE,
    FORMATS,
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_SECONDS,
    Prompt,
    PromptError,
    check_text,
    is_key,
    is_silent,
    upload_key,
)
from signaling.errors import ConfigError

logger = logging.getLogger(__name__)

ESPEAK: Final = "espeak-ng"
RENDER_TIMEOUT_S: Final = 30.0
#: Containers an upload may come in: what browsers record (WebM, Ogg, MP4)
#: and the usual files (WAV, MP3, FLAC). Anything else is refused before
#: any decoder runs.
UPLOAD_CONTAINERS: Final = frozenset(
    {"wav", "ogg", "matroska,webm", "mp3", "flac", "mov,mp4,m4a,3gp,3g2,mj2", "aiff"}
)
OPUS_RATE: Final = 48_000
_KNOWN_LIMIT: Final = 4096

__all__ = ["Prompt", "PromptError", "Prompts"]


@dataclass(frozen=True, slots=True)
class _Pcm:
    """Decoded audio as signed 16-bit mono PCM at three rates."""

    pcm8k: bytes
    pcm16k: bytes
    frames48k: list[av.AudioFrame]
    silent: bool

    @property
    def duration_s(self) -> float:
        return len(self.pcm8k) / 2 / 8000


def check_voice(voice: str, espeak: str = ESPEAK) -> None:
    """Refuse at start-up a voice espeak-ng does not have, rather than fall
    back on every prompt at run time."""
    if shutil.which(espeak) is None:
        logger.warning("%s is not installed: prompts show as text only", espeak)
        return
    done = subprocess.run(
        [espeak, "-v", voice, "--stdout", "."], capture_output=True, timeout=30
    )
    if done.returncode != 0:
        fix = "choose one that espeak-ng --voices lists, such as en-us"
        raise ConfigError(
            f"HELPLINE_TTS_VOICE={voice!r} is not a voice espeak-ng has; {fix} "
            "(TOML key ivr.tts_voice)",
            setting="ivr.tts_voice",
            fix=fix,
        )


class Prompts:
    """Renders, stores and finds prompt audio under `cache_dir`."""

    def __init__(
        self,
        cache_dir: Path,
        voice: str,
        *,
        espeak: str = ESPEAK,
        timeout_s: float = RENDER_TIMEOUT_S,
    ) -> None:
        self.cache_dir = cache_dir
        self.voice = voice
        self.espeak = espeak
        self.timeout_s = timeout_s
        self._pending: dict[str, asyncio.Task[Prompt]] = {}
        self._durations: dict[str, float] = {}

    # Public API

    async def render(self, text: str) -> Prompt:
        """`text` spoken by the voice, or the fallback prompt and the reason."""
        checked = check_text(text, self.voice)
        error = checked.error
        if error is None:
            try:
                return await self._once(
                    checked.key,
                    lambda: self._speak(checked.text, self.voice, checked.key),
                )
            except PromptError as err:
                error = str(err)
        logger.warning("prompt falls back: %s", error, extra={"prompt": checked.key})
        fallback = await self._fallback()
        return replace(fallback, fallback=True, error=error)

    async def save_upload(self, data: bytes) -> Prompt:
        """An operator's recording, checked and stored as the three files.

        Raises PromptError (codes ``too-large``, ``not-audio``, ``too-long``,
        ``silent``) when it is refused.
        """
        if len(data) > MAX_UPLOAD_BYTES:
            raise PromptError(
                "too-large", f"the recording is over {MAX_UPLOAD_BYTES} bytes"
            )
        key = upload_key(data)
        return await self._once(key, lambda: self._store_upload(data, key))

    def path(self, key: str, fmt: str) -> Path | None:
        """The file of prompt `key` in `fmt` (a key of FORMATS), if it exists."""
        if not is_key(key) or fmt not in FORMATS:
            return None
        path = self.cache_dir / f"{key}.{fmt}"
        return path if path.is_file() else None

    def cached(self, key: str) -> Prompt | None:
        """The prompt `key` if all its files are there."""
        duration = self._durations.get(key)
        if duration is not None and self.path(key, "8k.wav"):
            return Prompt(key, duration)
        wav = self.path(key, "8k.wav")
        if wav is None or not all(self.path(key, f) for f in FORMATS):
            return None
        with wave.open(str(wav), "rb") as reader:
            duration = round(reader.getnframes() / reader.getframerate(), 3)
        self._remember(key, duration)
        return Prompt(key, duration)

    async def for_faq(self, entry: FaqEntry) -> Prompt:
        """The entry's recording if it has one on disk, else its answer spoken."""
        if entry.recording is not None:
            recorded = self.cached(entry.recording)
            if recorded is not None:
                return recorded
            logger.warning(
                "the recording of an FAQ entry is missing; speaking the answer",
                extra={"faq_id": entry.id, "prompt": entry.recording},
            )
        return await self.render(entry.answer)

    async def close(self) -> None:
        """Cancel renders still running (at shutdown) and wait for them."""
        pending = list(self._pending.values())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # One render per key

    async def _once(self, key: str, make: Callable[[], Awaitable[Prompt]]) -> Prompt:
        """Run `make` for `key` unless it already runs; everyone shares it.

        The work is a task of its own, so one waiter that gives up (a client
        that went away) does not cancel it for the others.
        """
        cached = self.cached(key)
        if cached is not None:
            return cached
        task = self._pending.get(key)
        if task is None:
            task = asyncio.ensure_future(make())
            self._pending[key] = task
            task.add_done_callback(lambda _: self._pending.pop(key, None))
        return await asyncio.shield(task)

    async def _fallback(self) -> Prompt:
        checked = check_text(FALLBACK_TEXT, FALLBACK_VOICE)
        try:
            return await self._once(
                checked.key,
                lambda: self._speak(checked.text, FALLBACK_VOICE, checked.key),
            )
        except PromptError as err:
            logger.error("the fallback prompt cannot be rendered: %s", err)
            raise PromptError(
                "tts-failed", f"no prompt audio can be made: {err}"
            ) from None

    # Text to speech

    async def _speak(self, text: str, voice: str, key: str) -> Prompt:
        wav = await self._espeak(text, voice)
        pcm = await asyncio.to_thread(_decode_speech, wav)
        if pcm.silent:
            raise PromptError("silent", "the voice made no audible sound for the text")
        return await self._write(key, pcm)

    async def _espeak(self, text: str, voice: str) -> bytes:
        """WAV bytes of espeak-ng speaking `text` (UTF-8, on standard input)."""
        argv = [self.espeak, "-b", "1", "-v", voice, "--stdin", "--stdout"]
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as err:
            raise PromptError(
                "tts-failed", f"cannot run {self.espeak}: {err}"
            ) from None
        try:
            out, errors = await asyncio.wait_for(
                process.communicate(text.encode()), self.timeout_s
            )
        except TimeoutError:
            raise PromptError(
                "tts-failed", f"{self.espeak} took over {self.timeout_s:g} s"
            ) from None
        finally:
            await _reap(process)
        if process.returncode != 0 or not out:
            reason = errors.decode(errors="replace").strip()[:200] or "no output"
            raise PromptError(
                "tts-failed",
                f"{self.espeak} failed with exit code {process.returncode}: {reason}",
            )
        return out

    # Recordings

    async def _store_upload(self, data: bytes, key: str) -> Prompt:
        pcm = await asyncio.to_thread(_decode_upload, data)
        if pcm.silent:
            raise PromptError("silent", "the recording is silent")
        prompt = await self._write(key, pcm)
        logger.info("recording stored", extra={"prompt": key})
        return prompt

    # Files

    async def _write(self, key: str, pcm: _Pcm) -> Prompt:
        await asyncio.to_thread(_write_files, self.cache_dir, key, pcm)
        duration = round(pcm.duration_s, 3)
        self._remember(key, duration)
        return Prompt(key, duration)

    def _remember(self, key: str, duration: float) -> None:
        if len(self._durations) >= _KNOWN_LIMIT:
            self._durations.clear()
        self._durations[key] = duration


async def _reap(process: asyncio.subprocess.Process) -> None:
    """Kill the renderer if it still runs, and wait for it either way."""
    if process.returncode is None:
        try:
            process.kill()
        except ProcessLookupError:
            pass
    await process.wait()


# Audio work, run in a worker thread


def _decode_speech(wav: bytes) -> _Pcm:
    try:
        with av.open(io.BytesIO(wav), format="wav") as container:
            return _convert(_frames(container, None))
    except av.FFmpegError as err:
        raise PromptError(
            "tts-failed", f"the voice's audio is unreadable: {err}"
        ) from None


def _decode_upload(data: bytes) -> _Pcm:
    try:
        with av.open(io.BytesIO(data), metadata_errors="ignore") as container:
            if container.format.name not in UPLOAD_CONTAINERS:
                raise PromptError(
                    "not-audio",
                    f"{container.format.long_name} files are not taken; "
                    "send WAV, Ogg, WebM, MP3, MP4 or FLAC",
                )
            pcm = _convert(_frames(container, MAX_UPLOAD_SECONDS))
    except (av.FFmpegError, ValueError, EOFError, OSError):
        raise PromptError("not-audio", "the upload is not an audio recording") from None
    if not pcm.pcm8k:
        raise PromptError("not-audio", "the upload holds no sound")
    return pcm


def _frames(container: Any, limit_s: float | None) -> Iterator[av.AudioFrame]:
    """The decoded frames of the first audio stream, up to `limit_s`."""
    if not container.streams.audio:
        raise PromptError("not-audio", "the upload has no audio track")
    stream = container.streams.audio[0]
    seconds = 0.0
    for frame in container.decode(stream):
        seconds += frame.samples / frame.sample_rate
        if limit_s is not None and seconds > limit_s:
            raise PromptError(
                "too-long", f"the recording is over {limit_s:g} seconds long"
            )
        yield frame


def _convert(frames: Iterator[av.AudioFrame]) -> _Pcm:
    """Mono 16-bit PCM at 8 and 16 kHz, and 48 kHz frames for Opus.

    Every frame goes to 48 kHz first and the narrower rates are made from
    that: FFmpeg's buffer source refuses a frame that an earlier graph with
    the frame's own rate has taken, so no frame feeds two graphs of which
    one keeps its rate.
    """
    to48k = av.AudioResampler(format="s16", layout="mono", rate=OPUS_RATE)
    to16k = av.AudioResampler(format="s16", layout="mono", rate=16000)
    to8k = av.AudioResampler(format="s16", layout="mono", rate=8000)
    pcm8k, pcm16k = bytearray(), bytearray()
    frames48k: list[av.AudioFrame] = []
    for frame in [*frames, None]:
        wide = to48k.resample(frame)
        frames48k += wide
        for piece in [*wide, None] if frame is None else wide:
            pcm16k += _pcm(to16k.resample(piece))
            pcm8k += _pcm(to8k.resample(piece))
    narrow = bytes(pcm8k)
    return _Pcm(narrow, bytes(pcm16k), frames48k, is_silent(narrow))


def _pcm(frames: list[av.AudioFrame]) -> bytes:
    return b"".join(bytes(f.planes[0])[: f.samples * 2] for f in frames)


def _write_files(folder: Path, key: str, pcm: _Pcm) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    suffix = f".{os.getpid()}.{id(pcm):x}.tmp"
    parts = {
        "ogg": _ogg(pcm.frames48k),
        "16k.wav": _wav(pcm.pcm16k, 16000),
        "8k.wav": _wav(pcm.pcm8k, 8000),
    }
    for fmt, body in parts.items():
        temporary = folder / f"{key}.{fmt}{suffix}"
        temporary.write_bytes(body)
        os.replace(temporary, folder / f"{key}.{fmt}")


def _wav(pcm: bytes, rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(pcm)
    return out.getvalue()


def _ogg(frames: list[av.AudioFrame]) -> bytes:
    out = io.BytesIO()
    with av.open(out, "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=OPUS_RATE)
        stream.layout = "mono"
        for frame in frames:
            frame.pts = None
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()

"""Prompts: what decides whether a text can be spoken, and where its audio
lives (sans-I/O; `gateway.prompts` renders and stores the files).

A prompt is known by a key: the first 32 hex digits of a SHA-256 over the
renderer's version, the voice and the text as normalized here, so the same
words in the same voice are rendered once and cached for good. A recording
an operator uploads gets a key from its bytes instead.

Text is checked before any renderer sees it. espeak-ng says *something* for
almost any input, often not what was meant: a Chinese character becomes
"Chinese letter", an emoji its English name, a control character a pause.
So a text with characters of a script the voice does not speak, emoji and
other pictographs, control or invisible formatting characters, or none at
all, is refused with a sentence naming the first offending character; the
caller then plays the fallback prompt, a fixed English sentence, so a
caller never hears silence.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from array import array
from dataclasses import dataclass
from typing import Final

from signaling.errors import IvrError

#: Bump when the rendering changes, so cached files are rendered again.
RENDERER_VERSION: Final = "espeak-ng/1"
KEY_PATTERN: Final = r"[0-9a-f]{32}"
#: File suffixes of the three renderings, by their name in the API.
FORMATS: Final = {
    "8k.wav": "audio/wav",
    "16k.wav": "audio/wav",
    "ogg": "audio/ogg",
}
MAX_TEXT_CHARS: Final = 2_000
MAX_UPLOAD_BYTES: Final = 5 * 1024 * 1024
MAX_UPLOAD_SECONDS: Final = 120.0
#: Below this RMS (dBFS) a rendering or a recording counts as silence.
SILENCE_DBFS: Final = -50.0
FALLBACK_VOICE: Final = "en-us"
FALLBACK_TEXT: Final = (
    "Sorry, this message cannot be played. Please read it on your screen, "
    "or stay on the line for the next step."
)

_KEY: Final = re.compile(KEY_PATTERN)
#: White space to fold into one space; the control characters and
#: separators that Python also counts as white space are left to refuse.
_SPACE: Final = re.compile(r"[^\S\x1c-\x1f\x85\u2028\u2029]+")
#: Scripts (the first word of a character's Unicode name) each voice's
#: language speaks, besides Latin, which every espeak-ng voice reads.
_SCRIPTS: Final[dict[str, frozenset[str]]] = {
    "ar": frozenset({"ARABIC"}),
    "fa": frozenset({"ARABIC"}),
    "ur": frozenset({"ARABIC"}),
    "he": frozenset({"HEBREW"}),
    "el": frozenset({"GREEK"}),
    "ru": frozenset({"CYRILLIC"}),
    "uk": frozenset({"CYRILLIC"}),
    "bg": frozenset({"CYRILLIC"}),
    "sr": frozenset({"CYRILLIC"}),
    "mk": frozenset({"CYRILLIC"}),
    "be": frozenset({"CYRILLIC"}),
    "cmn": frozenset({"CJK"}),
    "yue": frozenset({"CJK"}),
    "zh": frozenset({"CJK"}),
    "ja": frozenset({"CJK", "HIRAGANA", "KATAKANA"}),
    "ko": frozenset({"HANGUL"}),
    "hi": frozenset({"DEVANAGARI"}),
    "mr": frozenset({"DEVANAGARI"}),
    "ne": frozenset({"DEVANAGARI"}),
    "bn": frozenset({"BENGALI"}),
    "ta": frozenset({"TAMIL"}),
    "th": frozenset({"THAI"}),
    "ka": frozenset({"GEORGIAN"}),
    "hy": frozenset({"ARMENIAN"}),
}
#: Arrows, technical symbols, dingbats, emoji: characters a voice would
#: read out by name, if at all. Letter-like symbols below it (™, °) are
#: spoken as words.
_PICTOGRAPHS_FROM: Final = 0x2190


class PromptError(IvrError):
    """A prompt that cannot be made; `code` says why, for the API."""

    recoverable = True

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Prompt:
    """Rendered audio: three files under its `key`.

    `fallback` is True when the text could not be spoken and the fallback
    sentence stands in for it; `error` then says why.
    """

    key: str
    duration_s: float
    fallback: bool = False
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CheckedText:
    """A text as it will be spoken, its key, or why it cannot be."""

    text: str
    key: str
    error: str | None


def normalize(text: str) -> str:
    """NFC, runs of white space as one space, no leading or trailing space."""
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip(" ")


def text_key(text: str, voice: str) -> str:
    """The cache key of `text` (already normalized) spoken by `voice`."""
    material = f"{RENDERER_VERSION}\0{voice}\0{text}".encode()
    return hashlib.sha256(material).hexdigest()[:32]


def upload_key(data: bytes) -> str:
    return hashlib.sha256(b"upload\0" + data).hexdigest()[:32]


def is_key(value: str) -> bool:
    return _KEY.fullmatch(value) is not None


def check_text(raw: str, voice: str) -> CheckedText:
    """Normalize `raw` and decide whether `voice` can speak it."""
    text = normalize(raw)
    return CheckedText(text, text_key(text, voice), _problem(text, voice))


def _problem(text: str, voice: str) -> str | None:
    if not text:
        return "the text is empty"
    if len(text) > MAX_TEXT_CHARS:
        return f"the text has {len(text)} characters, at most {MAX_TEXT_CHARS}"
    if not any(c.isalnum() for c in text):
        return "the text has no letters or digits to speak"
    scripts = voice_scripts(voice)
    for char in text:
        sentence = _refusal(char, scripts, voice)
        if sentence is not None:
            return sentence
    return None


def voice_scripts(voice: str) -> frozenset[str]:
    """The scripts `voice` (``en-us``, ``ru``, ``cmn-latn-pinyin``) reads."""
    language = voice.split("-")[0].split("+")[0].lower()
    return _SCRIPTS.get(language, frozenset()) | {"LATIN"}


def _refusal(char: str, scripts: frozenset[str], voice: str) -> str | None:
    """Why `voice` cannot speak `char`, or None when it can."""
    if char.isascii() and (char.isprintable() or char == " "):
        return None
    category = unicodedata.category(char)
    label = _describe(char)
    if category[0] == "C":
        return f"the text holds a control or invisible character ({label})"
    if category in ("Zl", "Zp"):
        return f"the text holds a line or paragraph separator ({label})"
    if category == "So" and ord(char) >= _PICTOGRAPHS_FROM:
        return f"the text holds an emoji or pictograph ({label})"
    if category[0] in "LM" or category == "Nd":
        script = unicodedata.name(char, "UNKNOWN").split()[0]
        if script not in scripts and category != "Mn":
            name = script if script == "CJK" else script.title()
            return f"the voice {voice} cannot speak {name} text ({label})"
    return None


def _describe(char: str) -> str:
    name = unicodedata.name(char, "unnamed")
    return f"U+{ord(char):04X} {name}"


def rms_dbfs(pcm: bytes) -> float:
    """Loudness of signed 16-bit native-endian PCM, in dB full scale."""
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if not samples:
        return -math.inf
    mean_square = sum(s * s for s in samples) / len(samples)
    if mean_square == 0:
        return -math.inf
    return 10 * math.log10(mean_square / 32768**2)


def is_silent(pcm: bytes) -> bool:
    return rms_dbfs(pcm) < SILENCE_DBFS

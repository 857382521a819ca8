"""Prompts and music on hold: text to speech with a cache, and uploaded audio files, all stored as
8 kHz mono 16-bit WAV (what rtpengine plays into a G.711 leg without resampling).

Text to speech and storage are extension points (`TextToSpeech`, `PromptStorage`); the real ones are
espeak-ng and the local disk, the fakes here serve unit tests. Piper is not used: see docs/media.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from tongdai.core.errors import InvalidInput
from tongdai.media.settings import MediaSettings

RATE = 8000
#: peak below this (16-bit full scale 32767) counts as silence: about -50 dBFS
SILENCE_PEAK = 100
MIN_SECONDS = 0.1
UPLOAD_KINDS = ("prompt", "moh")


class PromptInvalid(InvalidInput):
    """An uploaded or synthesised prompt was refused; `message` says why."""

    error_id = "prompt_invalid"


@dataclass(frozen=True)
class PromptInfo:
    """A stored prompt: where rtpengine can read it and what it holds."""

    key: str
    path: Path
    seconds: float
    bytes: int


class TextToSpeech(Protocol):
    """Renders text to a WAV file (any rate; the library converts)."""

    name: str

    def voice_for(self, language: str) -> str:
        """The default voice of a language; raise PromptInvalid when there is none."""

    async def synthesize(self, text: str, *, voice: str, out: Path) -> None:
        """Write `text` spoken by `voice` to `out` as WAV."""


class PromptStorage(Protocol):
    """Where prompt files live; `path` must be a local file rtpengine can open."""

    def path(self, key: str) -> Path:
        """The local file of `key` (it may not exist yet)."""

    def exists(self, key: str) -> bool:
        """Is `key` stored?"""

    def put(self, key: str, wav: Path) -> Path:
        """Store the WAV file at `wav` under `key`; returns its local path."""

    def keys(self, prefix: str = "") -> list[str]:
        """Stored keys under `prefix`, sorted."""


class LocalPromptStorage:
    """Prompts as files under one directory (default <data_dir>/media/prompts)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.wav"

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def put(self, key: str, wav: Path) -> Path:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(wav.read_bytes())
        tmp.replace(target)  # readers never see half a file
        return target

    def keys(self, prefix: str = "") -> list[str]:
        if not self.root.is_dir():
            return []
        found = (str(p.relative_to(self.root).with_suffix("")) for p in self.root.rglob("*.wav"))
        return sorted(k for k in found if k.startswith(prefix))


class EspeakTts:
    """espeak-ng (Debian): English, Vietnamese and Mandarin Chinese among its voices."""

    name = "espeak-ng"
    VOICES = {"en": "en-us", "vi": "vi", "zh": "cmn"}

    def __init__(self, program: str = "espeak-ng") -> None:
        self.program = program

    def voice_for(self, language: str) -> str:
        try:
            return self.VOICES[language.split("-")[0].lower()]
        except KeyError:
            raise PromptInvalid(f"no text-to-speech voice for language {language!r}",
                                details={"languages": sorted(self.VOICES)}) from None

    async def available_voices(self) -> set[str]:
        """Voice names espeak-ng reports (to check that en, vi and zh are installed)."""
        out = await _run(self.program, "--voices")
        return {line.split()[1] for line in out.decode().splitlines()[1:] if len(line.split()) > 1}

    async def synthesize(self, text: str, *, voice: str, out: Path) -> None:
        # text on stdin: never parsed as options, any length
        await _run(self.program, "-v", voice, "-w", str(out), "--stdin", stdin=text.encode())


class FakeTts:
    """Unit-test text to speech: a tone whose length follows the text; counts its calls."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def voice_for(self, language: str) -> str:
        return f"fake-{language}"

    async def synthesize(self, text: str, *, voice: str, out: Path) -> None:
        self.calls.append((text, voice))
        seconds = 0.2 + 0.05 * len(text)
        t = np.arange(int(seconds * RATE)) / RATE
        write_wav(out, (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16))


class PromptLibrary:
    """Text-to-speech prompts (cached by text, voice and language) and uploaded prompt/MOH files."""

    def __init__(self, storage: PromptStorage, tts: TextToSpeech, *, max_bytes: int = 50_000_000,
                 max_seconds: float = 1800.0) -> None:
        self.storage = storage
        self.tts = tts
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self._locks: dict[str, asyncio.Lock] = {}

    @classmethod
    def from_settings(cls, settings: MediaSettings, data_dir: Path) -> PromptLibrary:
        """The library `tongdai run` uses: local files and espeak-ng, limits from the settings."""
        root = Path(settings.prompts_dir) if settings.prompts_dir else Path(data_dir) / "media" / "prompts"
        return cls(LocalPromptStorage(root), EspeakTts(), max_bytes=settings.prompt_max_bytes,
                   max_seconds=settings.prompt_max_seconds)

    @staticmethod
    def tts_key(engine: str, text: str, voice: str, language: str) -> str:
        """The cache key of a spoken text."""
        digest = hashlib.sha256("\x00".join((engine, voice, language, text)).encode()).hexdigest()
        return f"tts/{digest[:32]}"

    async def speak(self, text: str, *, language: str = "en", voice: str | None = None) -> PromptInfo:
        """The prompt file of `text`, rendered once and then served from the cache."""
        if not text.strip():
            raise PromptInvalid("the prompt text is empty")
        voice = voice or self.tts.voice_for(language)
        key = self.tts_key(self.tts.name, text, voice, language)
        async with self._locks.setdefault(key, asyncio.Lock()):  # one rendering per key at a time
            if not self.storage.exists(key):
                with tempfile.TemporaryDirectory(prefix="tongdai-tts-") as tmp:
                    raw = Path(tmp) / "raw.wav"
                    await self.tts.synthesize(text, voice=voice, out=raw)
                    await self._convert_and_store(key, raw, Path(tmp))
        return self.info(key)

    async def upload(self, name: str, data: bytes, *, kind: str = "prompt") -> PromptInfo:
        """Store an uploaded WAV/MP3/FLAC as 8 kHz mono 16-bit WAV under `<kind>/<name>`; validated."""
        if kind not in UPLOAD_KINDS:
            raise PromptInvalid(f"kind must be one of {', '.join(UPLOAD_KINDS)}")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,99})?", name):
            raise PromptInvalid("name: letters, digits, '.', '_', '-' (one '/' for a playlist), up to 100")
        if len(data) > self.max_bytes:
            raise PromptInvalid(f"the file is {len(data)} bytes; the limit is {self.max_bytes}")
        if not data:
            raise PromptInvalid("the file is empty")
        with tempfile.TemporaryDirectory(prefix="tongdai-upload-") as tmp:
            src = Path(tmp) / "upload"
            src.write_bytes(data)
            return await self._convert_and_store(f"{kind}/{name.removesuffix('.wav')}", src, Path(tmp))

    def playlist(self, name: str) -> list[Path]:
        """The music-on-hold files of playlist `name` (uploaded as `moh/<name>/<file>`), in name order."""
        return [self.storage.path(k) for k in self.storage.keys(f"moh/{name}/")]

    def info(self, key: str) -> PromptInfo:
        """Size and duration of a stored prompt."""
        path = self.storage.path(key)
        seconds, _ = read_wav_stats(path)
        return PromptInfo(key=key, path=path, seconds=seconds, bytes=path.stat().st_size)

    async def _convert_and_store(self, key: str, src: Path, tmp: Path) -> PromptInfo:
        out = tmp / "converted.wav"
        await convert_to_prompt_wav(src, out)
        seconds, peak = read_wav_stats(out)
        if seconds < MIN_SECONDS:
            raise PromptInvalid(f"the audio is {seconds:.2f} s long; at least {MIN_SECONDS} s is needed")
        if seconds > self.max_seconds:
            raise PromptInvalid(f"the audio is {seconds:.0f} s long; the limit is {self.max_seconds:.0f} s")
        if peak < SILENCE_PEAK:
            raise PromptInvalid("the audio is silent")
        self.storage.put(key, out)
        return self.info(key)


async def convert_to_prompt_wav(src: Path, out: Path) -> None:
    """Any audio ffmpeg reads (WAV, MP3, FLAC...) -> 8 kHz mono signed 16-bit WAV."""
    try:
        await _run("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src),
                   "-vn", "-ac", "1", "-ar", str(RATE), "-sample_fmt", "s16", "-f", "wav", str(out))
    except ToolFailed as exc:
        raise PromptInvalid("not an audio file that can be read (WAV, MP3 or FLAC expected)",
                            details={"decoder": exc.stderr[-300:]}) from exc


def read_wav_stats(path: Path) -> tuple[float, int]:
    """(seconds, peak sample) of an 8 kHz mono 16-bit WAV; PromptInvalid when it is not one."""
    try:
        with wave.open(str(path), "rb") as w:
            if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
                raise PromptInvalid("prompt files must be 8 kHz mono 16-bit WAV")
            samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    except (wave.Error, EOFError) as exc:
        raise PromptInvalid(f"not a readable WAV file: {exc}") from exc
    peak = int(np.abs(samples.astype(np.int32)).max()) if len(samples) else 0
    return len(samples) / RATE, peak


def write_wav(path: Path, samples: np.ndarray) -> None:
    """Write int16 samples as an 8 kHz mono WAV."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.astype("<i2").tobytes())


class ToolFailed(RuntimeError):
    """An external program (espeak-ng, ffmpeg) failed."""

    def __init__(self, program: str, code: int, stderr: str) -> None:
        super().__init__(f"{program} exited with {code}: {stderr[-300:]}")
        self.stderr = stderr


async def _run(program: str, *args: str, stdin: bytes | None = None, timeout: float = 120.0) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        program, *args, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise ToolFailed(program, -1, f"timed out after {timeout} s") from None
    if proc.returncode != 0:
        raise ToolFailed(program, proc.returncode or -1, err.decode(errors="replace"))
    return out

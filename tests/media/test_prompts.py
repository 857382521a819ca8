"""Prompts: text to speech cached by text, voice and language; uploads converted to 8 kHz mono WAV
and validated; a TTS prompt played through rtpengine arrives at the leg."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tongdai.media.probe import RtpProbe, sdp_media_address
from tongdai.media.prompts import (
    EspeakTts,
    FakeTts,
    LocalPromptStorage,
    PromptInvalid,
    PromptLibrary,
    read_wav_stats,
    write_wav,
)
from tongdai.media.session import RtpengineAnchor

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


@pytest.fixture
def library(tmp_path) -> PromptLibrary:
    return PromptLibrary(LocalPromptStorage(tmp_path / "prompts"), FakeTts(), max_bytes=2_000_000, max_seconds=30)


def tone_file(path: Path, seconds: float, rate: int = 44100, channels: int = 2, amplitude: float = 0.5) -> Path:
    subprocess.run(["sox", "-n", "-r", str(rate), "-c", str(channels), "-b", "16", str(path), "synth",
                    str(seconds), "sine", "440", "vol", str(amplitude)], check=True)
    return path


@needs_ffmpeg
async def test_same_text_voice_and_language_is_synthesised_once_then_served_from_cache(library):
    first = await library.speak("Press one for sales", language="en")
    again = await library.speak("Press one for sales", language="en")
    assert first == again and len(library.tts.calls) == 1
    other_voice = await library.speak("Press one for sales", language="en", voice="other")
    other_language = await library.speak("Press one for sales", language="vi")
    assert len({first.key, other_voice.key, other_language.key}) == 3 and len(library.tts.calls) == 3
    assert first.path.is_file() and read_wav_stats(first.path)[0] == pytest.approx(first.seconds)


@needs_ffmpeg
async def test_concurrent_requests_for_one_text_render_it_once(library):
    results = await asyncio.gather(*(library.speak("Please hold") for _ in range(5)))
    assert len({r.key for r in results}) == 1 and len(library.tts.calls) == 1


async def test_empty_text_is_refused(library):
    with pytest.raises(PromptInvalid):
        await library.speak("  ")


@needs_espeak
@needs_ffmpeg
@pytest.mark.parametrize("language,text", [
    ("en", "Thank you for calling. Please hold."),
    ("vi", "Xin chào, vui lòng giữ máy."),
    ("zh", "您好，请稍候。"),
])
async def test_espeak_speaks_english_vietnamese_and_chinese_as_8khz_mono_wav(tmp_path, language, text):
    tts = EspeakTts()
    assert tts.voice_for(language) in await tts.available_voices()
    library = PromptLibrary(LocalPromptStorage(tmp_path), tts)
    info = await library.speak(text, language=language)
    seconds, peak = read_wav_stats(info.path)
    assert 0.8 < seconds < 10 and peak > 1000


def test_library_from_settings_keeps_prompts_under_the_data_dir_with_the_configured_limits(tmp_path):
    from tongdai.media.settings import MediaSettings

    library = PromptLibrary.from_settings(MediaSettings(prompt_max_bytes=5000, prompt_max_seconds=9), tmp_path)
    assert isinstance(library.storage, LocalPromptStorage) and isinstance(library.tts, EspeakTts)
    assert library.storage.root == tmp_path / "media" / "prompts"
    assert (library.max_bytes, library.max_seconds) == (5000, 9)


def test_language_without_a_voice_is_a_clear_error():
    with pytest.raises(PromptInvalid, match="no text-to-speech voice for language 'xx'"):
        EspeakTts().voice_for("xx")


@needs_ffmpeg
@pytest.mark.parametrize("suffix", ["wav", "mp3", "flac"])
async def test_upload_of_wav_mp3_flac_is_converted_to_8khz_mono_16bit(library, tmp_path, suffix):
    src = tone_file(tmp_path / "in.wav", 2.0)
    if suffix != "wav":
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), str(tmp_path / f"in.{suffix}")],
                       check=True)
    info = await library.upload("welcome", (tmp_path / f"in.{suffix}").read_bytes())
    assert info.key == "prompt/welcome"
    seconds, peak = read_wav_stats(info.path)
    assert seconds == pytest.approx(2.0, abs=0.06) and peak > 5000


@needs_ffmpeg
async def test_music_on_hold_playlist_lists_its_uploaded_files_in_order(library, tmp_path):
    for name in ("02-strings", "01-piano"):
        await library.upload(f"lobby/{name}", tone_file(tmp_path / f"{name}.wav", 0.5).read_bytes(), kind="moh")
    assert [p.stem for p in library.playlist("lobby")] == ["01-piano", "02-strings"]


@needs_ffmpeg
@pytest.mark.parametrize("case,message", [
    ("garbage", "not an audio file"),
    ("silent", "silent"),
    ("too_long", "the limit is 30 s"),
    ("too_big", "the limit is 2000000"),
    ("too_short", "at least"),
    ("empty", "empty"),
])
async def test_bad_uploads_are_refused_with_a_clear_reason(library, tmp_path, case, message):
    if case == "garbage":
        data = b"this is not audio at all" * 100
    elif case == "silent":
        write_wav(tmp_path / "s.wav", np.zeros(16000, np.int16))
        data = (tmp_path / "s.wav").read_bytes()
    elif case == "too_long":
        data = tone_file(tmp_path / "l.wav", 31, rate=8000, channels=1).read_bytes()
    elif case == "too_big":
        data = b"\0" * 2_000_001
    elif case == "too_short":
        data = tone_file(tmp_path / "t.wav", 0.05, rate=8000, channels=1).read_bytes()
    else:
        data = b""
    with pytest.raises(PromptInvalid, match=message) as info:
        await library.upload("bad", data)
    assert info.value.error_id == "prompt_invalid" and info.value.status == 422
    assert not (tmp_path / "prompts" / "prompt" / "bad.wav").exists()


def test_upload_names_cannot_escape_the_prompt_directory(library):
    with pytest.raises(PromptInvalid):
        asyncio.run(library.upload("../etc/passwd", b"x"))


@pytest.mark.e2e
@needs_espeak
@needs_ffmpeg
async def test_tts_prompt_played_through_rtpengine_arrives_at_the_leg_for_its_duration(rtpengine, tmp_path):
    library = PromptLibrary(LocalPromptStorage(tmp_path), EspeakTts())
    prompt = await library.speak("Welcome to tong dai. Your call is important to us.", language="en")
    ng = rtpengine.client()
    anchor = RtpengineAnchor(ng)
    caller, other = await RtpProbe.open(), await RtpProbe.open()
    other.remote = sdp_media_address(await anchor.offer("prompt-1", "caller", caller.sdp()))
    caller.remote = sdp_media_address(await anchor.answer("prompt-1", "caller", "ivr", other.sdp()))
    duration_ms = await anchor.play("prompt-1", "caller", str(prompt.path))
    assert duration_ms == pytest.approx(prompt.seconds * 1000, abs=25)
    await asyncio.sleep(prompt.seconds + 0.5)
    expected = prompt.seconds / 0.02
    assert abs(caller.received.packets - expected) <= 3
    assert caller.received.payload_bytes == pytest.approx(expected * 160, abs=3 * 160)
    assert other.received.packets == 0
    await anchor.delete("prompt-1")
    await ng.close()

"""Spoken test words: espeak-ng at its own rate, then sox to 16-bit mono 8 kHz (the telephone band)."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

needs_espeak_and_sox = pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")),
                                          reason="espeak-ng and sox are Debian packages of the test dependencies")


def spoken(text: str, directory: Path, voice: str = "en") -> npt.NDArray[np.int16]:
    """`text` said by espeak-ng, as 8 kHz 16-bit samples."""
    raw, out = directory / f"{text}-{voice}.raw.wav", directory / f"{text}-{voice}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True, timeout=60)
    subprocess.run(["sox", "-D", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(out)], check=True, timeout=60)
    with wave.open(str(out)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").copy()


def wav_file(text: str, directory: Path, voice: str = "en") -> Path:
    """`text` said by espeak-ng, as an 8 kHz mono WAV file (for SIPp or the project's RTP sender)."""
    spoken(text, directory, voice)
    return directory / f"{text}-{voice}.wav"

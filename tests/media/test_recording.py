"""Call recording: stereo WAV, metadata, pause/resume, storage layout and recovery after SIGKILL."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import wave
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from tongdai.media import g711
from tongdai.media.dtmf import goertzel_power
from tongdai.media.g711 import Codec
from tongdai.media.recording import (
    CallRecorder,
    Channel,
    LocalRecordingStorage,
    RecordingInfo,
    recordings_root,
    recover_interrupted,
)

RATE = 8000
REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def _info(call_id: str = "call-1") -> RecordingInfo:
    return RecordingInfo(call_id, "acme", START, agent="1001", queue="sales")


def _tone(freq: float, seconds: float, amplitude: float = 3000) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def _read(path: Path) -> tuple[np.ndarray, wave.Wave_read]:
    with wave.open(str(path), "rb") as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
        return frames, w


def _sox_seconds(path: Path) -> float:
    return float(subprocess.run(["sox", "--i", "-D", str(path)], capture_output=True, text=True,
                                check=True, timeout=30).stdout)


def _info_chunk(path: Path) -> dict[str, str]:
    """The LIST/INFO fields of a WAV, read chunk by chunk."""
    raw = path.read_bytes()
    assert raw[:4] == b"RIFF" and struct.unpack_from("<I", raw, 4)[0] == len(raw) - 8
    offset, fields = 12, {}
    while offset + 8 <= len(raw):
        cid, size = raw[offset:offset + 4], struct.unpack_from("<I", raw, offset + 4)[0]
        if cid == b"LIST" and raw[offset + 8:offset + 12] == b"INFO":
            pos = offset + 12
            while pos < offset + 8 + size:
                key, n = raw[pos:pos + 4].decode(), struct.unpack_from("<I", raw, pos + 4)[0]
                fields[key] = raw[pos + 8:pos + 8 + n].rstrip(b"\0").decode()
                pos += 8 + n + (n % 2)
        offset += 8 + size + (size % 2)
    return fields


def _record_two_tones(storage: LocalRecordingStorage, seconds: float = 2.0, codec: Codec = Codec.PCMU):
    rec = CallRecorder(_info(), storage)
    rec.start(now=100.0)
    caller, agent = _tone(400, seconds), _tone(1000, seconds)
    for i in range(int(seconds / 0.02)):
        at = 100.0 + i * 0.02
        part = slice(i * 160, (i + 1) * 160)
        rec.feed(Channel.CALLER, at, g711.encode(codec, caller[part]).tobytes(), codec)
        rec.feed(Channel.AGENT, at + 0.001, agent[part])  # linear PCM, slightly different clock phase
        rec.flush(at + 0.02)
    return rec, rec.stop(100.0 + seconds)


def test_caller_is_left_and_agent_is_right_in_a_wav_that_wave_and_sox_read(tmp_path):
    storage = LocalRecordingStorage(tmp_path)
    _, stored = _record_two_tones(storage)
    path = tmp_path / stored.location
    assert stored.location == "acme/2026/11/23/call-1.wav"
    frames, w = _read(path)
    assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 8000, 2)
    assert len(frames) == 16000 and _sox_seconds(path) == pytest.approx(2.0)
    windows = frames[:15840].reshape(-1, 160, 2)
    left = np.median(goertzel_power(windows[:, :, 0], (400.0, 1000.0)), axis=0)
    right = np.median(goertzel_power(windows[:, :, 1], (400.0, 1000.0)), axis=0)
    assert left[0] > 1e6 > 1e3 > left[1] and right[1] > 1e6 > 1e3 > right[0]


def test_metadata_is_in_the_info_chunk_and_the_sidecar_with_the_audio_checksum(tmp_path):
    storage = LocalRecordingStorage(tmp_path)
    _, stored = _record_two_tones(storage)
    path = tmp_path / stored.location
    frames, _ = _read(path)
    digest = hashlib.sha256(frames.astype("<i2").tobytes()).hexdigest()
    fields = _info_chunk(path)
    assert fields["INAM"] == "call call-1" and fields["ISFT"] == "tongdai"
    assert fields["ICRD"] == START.isoformat()
    comment = dict(line.split("=", 1) for line in fields["ICMT"].splitlines())
    assert comment == {"call_id": "call-1", "tenant": "acme", "agent": "1001", "queue": "sales",
                       "start": START.isoformat(), "duration": "2.000", "audio_sha256": digest,
                       "channels": "caller,agent"}
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["audio_sha256"] == digest == stored.audio_sha256
    assert (sidecar["call_id"], sidecar["tenant"], sidecar["agent"], sidecar["queue"]) == ("call-1", "acme", "1001", "sales")
    assert sidecar["started_at"] == START.isoformat() and sidecar["duration"] == 2.0
    assert sidecar["recovered"] is False
    assert not list(tmp_path.rglob("*.part*"))
    with storage.open(stored.location) as f:
        assert f.read(4) == b"RIFF"


def test_a_pause_leaves_silence_of_the_right_length_not_a_gap(tmp_path):
    storage = LocalRecordingStorage(tmp_path)
    rec = CallRecorder(_info(), storage)
    rec.start(now=0.0)
    tone = _tone(600, 5.0)
    for i in range(250):
        at = i * 0.02
        if i == 50:
            rec.pause(at)  # pause at 1.0 s
        if i == 125:
            rec.resume(at)  # resume at 2.5 s
        rec.feed(Channel.CALLER, at, tone[i * 160:(i + 1) * 160])
        rec.feed(Channel.AGENT, at, tone[i * 160:(i + 1) * 160])
        rec.flush(at)
    stored = rec.stop(5.0)
    frames, _ = _read(tmp_path / stored.location)
    assert len(frames) == 5 * RATE and _sox_seconds(tmp_path / stored.location) == pytest.approx(5.0)
    assert not frames[8000:20000].any()
    assert np.abs(frames[:8000]).max() > 2000 and np.abs(frames[20000:]).max() > 2000
    assert json.loads((tmp_path / stored.location).with_suffix(".json").read_text())["pauses"] == [[1.0, 2.5]]


def test_missing_packets_become_silence_and_channels_stay_aligned(tmp_path):
    storage = LocalRecordingStorage(tmp_path)
    rec = CallRecorder(_info(), storage, delay=0.2)
    rec.start(now=0.0)
    click = np.zeros(160, dtype=np.int16)
    click[0] = 10000
    for i in range(200):  # 4 s; the caller sends nothing between 1 s and 2 s
        at = i * 0.02
        frame = click if i == 150 else np.full(160, 50, dtype=np.int16)
        if not 50 <= i < 100:
            rec.feed(Channel.CALLER, at, frame)
        rec.feed(Channel.AGENT, at, frame)
        rec.flush(at)
    stored = rec.stop(4.0)
    frames, _ = _read(tmp_path / stored.location)
    assert len(frames) == 32000
    assert not frames[8000:16000, 0].any() and (frames[8000:16000, 1] == 50).all()
    assert frames[24000, 0] == frames[24000, 1] == 10000


def test_frames_later_than_the_delay_are_dropped_but_within_it_are_placed(tmp_path):
    rec = CallRecorder(_info(), LocalRecordingStorage(tmp_path), delay=0.2)
    rec.start(now=0.0)
    rec.flush(0.5)  # 0.3 s written
    rec.feed(Channel.CALLER, 0.2, np.full(160, 7, dtype=np.int16))  # too late
    rec.feed(Channel.CALLER, 0.35, np.full(160, 9, dtype=np.int16))  # late, but not yet written
    stored = rec.stop(1.0)
    frames, _ = _read(tmp_path / stored.location)
    assert not (frames[:, 0] == 7).any() and (frames[2800:2960, 0] == 9).all()
    assert rec.timeline.late_samples == 160


def test_storage_paths_cannot_escape_the_root(tmp_path):
    storage = LocalRecordingStorage(tmp_path)
    info = RecordingInfo("../../etc/passwd", "../evil", START)
    part = storage.part_path(info)
    assert part.is_relative_to(tmp_path) and ".." not in part.relative_to(tmp_path).parts
    with pytest.raises(ValueError):
        storage.open("../outside.wav")
    assert recordings_root(Path("/data")) == Path("/data/recordings")
    assert recordings_root(Path("/data"), "/srv/rec") == Path("/srv/rec")


WRITER = textwrap.dedent("""
    import sys, time
    from datetime import datetime, timezone
    from pathlib import Path
    import numpy as np
    from tongdai.media.recording import CallRecorder, Channel, LocalRecordingStorage, RecordingInfo

    root, mode = Path(sys.argv[1]), sys.argv[2]
    info = RecordingInfo("crash-1", "acme", datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc), "1002", "support")
    rec = CallRecorder(info, LocalRecordingStorage(root), delay=0.2)
    t = np.arange(160) / 8000
    frame = (2000 * np.sin(2 * np.pi * 500 * t)).astype(np.int16)
    if mode == "fixed":
        rec.start(0.0)
        for i in range(150):  # 3 s of media time, fed and flushed at once
            rec.feed(Channel.CALLER, i * 0.02, frame)
            rec.feed(Channel.AGENT, i * 0.02, frame)
        rec.flush(3.2)
        print("READY", flush=True)
        time.sleep(60)
    else:
        start = time.monotonic()
        rec.start(start)
        print("READY", flush=True)
        for i in range(3000):  # real time, 20 ms frames, until killed
            now = start + i * 0.02
            time.sleep(max(0.0, now - time.monotonic()))
            rec.feed(Channel.CALLER, now, frame)
            rec.feed(Channel.AGENT, now, frame)
            rec.flush(now)
""")


def _run_and_kill(root: Path, mode: str, after: float) -> None:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root), mode], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
        time.sleep(after)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.timeout(60)
def test_recording_killed_with_sigkill_is_recovered_into_a_valid_wav_of_the_written_length(tmp_path):
    _run_and_kill(tmp_path, "fixed", 0.1)
    [part] = list(tmp_path.rglob("*.wav.part"))
    assert struct.unpack_from("<I", part.read_bytes(), 40)[0] == 0  # the header was never fixed
    with pytest.raises((wave.Error, EOFError, AssertionError)):
        frames, _ = _read(part)
        assert len(frames) > 0
    [wav] = recover_interrupted(tmp_path)
    assert wav == tmp_path / "acme/2026/11/23/crash-1.wav"
    frames, w = _read(wav)
    assert len(frames) == 3 * RATE and _sox_seconds(wav) == pytest.approx(3.0)
    assert np.abs(frames).max() > 1500
    sidecar = json.loads(wav.with_suffix(".json").read_text())
    assert sidecar["recovered"] is True and sidecar["agent"] == "1002" and sidecar["duration"] == 3.0
    assert sidecar["audio_sha256"] == hashlib.sha256(frames.astype("<i2").tobytes()).hexdigest()
    assert _info_chunk(wav)["ICMT"].startswith("call_id=crash-1\ntenant=acme")
    assert not list(tmp_path.rglob("*.part*"))
    assert recover_interrupted(tmp_path) == []  # nothing left to do on the next start


@pytest.mark.timeout(60)
def test_recording_killed_mid_stream_in_real_time_recovers_what_reached_the_disk(tmp_path):
    _run_and_kill(tmp_path, "realtime", 1.5)
    [part] = list(tmp_path.rglob("*.wav.part"))
    on_disk = (part.stat().st_size - 44) // 4 / RATE
    [wav] = recover_interrupted(tmp_path)
    frames, _ = _read(wav)
    assert 0.8 <= len(frames) / RATE <= 1.6
    assert len(frames) / RATE == pytest.approx(on_disk)
    assert _sox_seconds(wav) == pytest.approx(len(frames) / RATE, abs=1e-3)


def test_recovery_without_metadata_or_with_a_torn_last_sample_still_makes_a_valid_file(tmp_path):
    folder = tmp_path / "acme" / "2026" / "11" / "23"
    folder.mkdir(parents=True)
    part = folder / "lost.wav.part"
    part.write_bytes(b"RIFF\0\0\0\0WAVE" + bytes(32) + np.full(1001, 300, "<i2").tobytes() + b"\x01")
    [wav] = recover_interrupted(tmp_path)
    frames, w = _read(wav)
    assert len(frames) == 500 and w.getnchannels() == 2
    sidecar = json.loads(wav.with_suffix(".json").read_text())
    assert (sidecar["call_id"], sidecar["tenant"], sidecar["recovered"]) == ("lost", "acme", True)
    empty = folder / "empty.wav.part"
    empty.write_bytes(b"RIF")
    [wav] = recover_interrupted(tmp_path)
    assert _read(wav)[0].size == 0 and _sox_seconds(wav) == 0.0


async def test_recovery_service_finalises_parts_at_start_and_reports_ready(tmp_path):
    from tongdai.media.recording import RecordingRecoveryService

    rec = CallRecorder(_info("left-over"), LocalRecordingStorage(tmp_path))
    rec.start(0.0)
    rec.feed(Channel.CALLER, 0.0, _tone(400, 1.0))
    rec.flush(1.2)
    os.close(rec._fd)  # the process "dies" here: no stop(), the part file stays as it is
    service = RecordingRecoveryService(tmp_path)
    assert not service.ready()
    await service.start()
    assert service.ready() and service.recovered == [tmp_path / "acme/2026/11/23/left-over.wav"]
    frames, _ = _read(service.recovered[0])
    assert len(frames) == RATE
    missing = RecordingRecoveryService(tmp_path / "nothing-here")
    await missing.start()
    assert missing.ready() and missing.recovered == []

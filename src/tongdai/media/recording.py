"""Call recording to stereo WAV (caller left, agent right) with metadata, pause/resume and crash recovery.

A recording streams into `<name>.wav.part`: a 44-byte header with placeholder sizes, then interleaved
16-bit samples written straight to the kernel (no user-space buffer), so a crash loses at most what
was not yet flushed. `stop` appends a LIST/INFO chunk with the metadata, fixes the RIFF and data
sizes, renames the file to `.wav` and writes a JSON sidecar. `recover_interrupted` does the same for
`.part` files a crash left behind, from the `.part.json` written when the recording started.

The timeline is the media clock, not the packets: a pause, a muted leg or lost packets leave silence
of the right length, never a gap, so the two channels stay aligned with each other and with the call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import hashlib
import json
import logging
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
import numpy.typing as npt

from tongdai.media import g711
from tongdai.media.g711 import Codec, Pcm

log = logging.getLogger(__name__)

RATE = 8000
CHANNELS = 2
BYTES_PER_FRAME = 2 * CHANNELS  # one 16-bit sample per channel
HEADER_SIZE = 44
PART_SUFFIX = ".wav.part"
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


class Channel(enum.IntEnum):
    """Stereo channel of each party."""

    CALLER = 0
    """Left."""
    AGENT = 1
    """Right."""


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    """What a recording is of; `started_at` is wall-clock time supplied by the caller."""

    call_id: str
    tenant: str
    started_at: datetime
    agent: str | None = None
    queue: str | None = None

    def to_json(self) -> dict[str, str | None]:
        """A JSON-ready dict (ISO 8601 start)."""
        return {**dataclasses.asdict(self), "started_at": self.started_at.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, str | None]) -> RecordingInfo:
        """The inverse of `to_json`."""
        started = data.get("started_at")
        if not started or not data.get("call_id") or not data.get("tenant"):
            raise ValueError("recording info needs call_id, tenant and started_at")
        return cls(str(data["call_id"]), str(data["tenant"]), datetime.fromisoformat(started),
                   data.get("agent"), data.get("queue"))


@dataclass(frozen=True, slots=True)
class StoredRecording:
    """A finished recording: where it is and what the sidecar says."""

    location: str
    info: RecordingInfo
    duration: float
    audio_sha256: str
    recovered: bool = False


# ---------------------------------------------------------------------------------------------- storage


class RecordingStorage(Protocol):
    """Where recordings are spooled while they run and kept once finished."""

    def part_path(self, info: RecordingInfo) -> Path:
        """The local file a running recording streams into (ending in `.wav.part`)."""
        ...

    def commit(self, part: Path, wav: Path, sidecar: dict[str, object]) -> str:
        """Take a finished WAV (already renamed from its part) and its sidecar; return its location."""
        ...

    def open(self, location: str) -> BinaryIO:
        """Read a stored recording back."""
        ...


class LocalRecordingStorage:
    """Recordings on local disk under `<root>/<tenant>/<yyyy>/<mm>/<dd>/<call id>.wav` (+ `.json`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def part_path(self, info: RecordingInfo) -> Path:
        """`<root>/<tenant>/<yyyy>/<mm>/<dd>/<call id>.wav.part`, directories created."""
        day = info.started_at
        folder = self.root / _safe(info.tenant) / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / (_safe(info.call_id) + PART_SUFFIX)

    def commit(self, part: Path, wav: Path, sidecar: dict[str, object]) -> str:
        """The WAV already sits in its final folder: write the sidecar next to it."""
        _write_json(wav.with_suffix(".json"), sidecar)
        return wav.relative_to(self.root).as_posix()

    def open(self, location: str) -> BinaryIO:
        """Open `<root>/<location>` for reading; refuse paths that leave the root."""
        path = (self.root / location).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"{location!r} is outside the recordings directory")
        return path.open("rb")


def recordings_root(data_dir: Path, configured: str = "") -> Path:
    """The recordings directory from the settings (`media.recordings_dir`, else `<data_dir>/recordings`)."""
    return Path(configured) if configured else Path(data_dir) / "recordings"


def _safe(name: str) -> str:
    """A path component from an identifier (no separators, no dot-dot)."""
    cleaned = _SAFE.sub("_", name).lstrip(".")
    return cleaned or "_"


def _write_json(path: Path, data: dict[str, object]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------- timeline


class StereoTimeline:
    """Places timestamped frames of two channels on one sample timeline; pure, no I/O.

    `take_until(position)` returns the interleaved frames from where it last stopped to `position`,
    zeros where a channel had nothing or a pause covered it; frames for samples already taken are
    dropped (they came too late).
    """

    def __init__(self, *, max_ahead: int = 10 * RATE) -> None:
        self.max_ahead = max_ahead
        self.base = 0  # first sample not yet taken
        self._pending = np.zeros((0, CHANNELS), dtype=np.int16)
        self.pauses: list[list[int | None]] = []  # [start, end) in samples; end None while paused
        self.late_samples = 0

    @property
    def paused(self) -> bool:
        """Whether a pause is in progress."""
        return bool(self.pauses) and self.pauses[-1][1] is None

    def pause(self, position: int) -> None:
        """Silence from `position` on."""
        if not self.paused:
            self.pauses.append([max(position, self.base), None])

    def resume(self, position: int) -> None:
        """Sound again from `position` on."""
        if self.paused:
            start = self.pauses[-1][0]
            assert start is not None
            self.pauses[-1][1] = max(position, start)

    def add(self, channel: Channel, position: int, samples: Pcm) -> None:
        """Place `samples` of one channel starting at sample `position`."""
        offset = position - self.base
        if offset < 0:
            self.late_samples += min(-offset, len(samples))
            samples, offset = samples[-offset:], 0
        end = offset + len(samples)
        if len(samples) == 0 or end > self.max_ahead:
            return
        if end > len(self._pending):
            grow = np.zeros((end - len(self._pending), CHANNELS), dtype=np.int16)
            self._pending = np.concatenate([self._pending, grow])
        self._pending[offset:end, int(channel)] = samples

    def take_until(self, position: int) -> npt.NDArray[np.int16]:
        """Interleaved (n, 2) frames for samples [base, position)."""
        count = position - self.base
        if count <= 0:
            return np.zeros((0, CHANNELS), dtype=np.int16)
        out = np.zeros((count, CHANNELS), dtype=np.int16)
        have = min(count, len(self._pending))
        out[:have] = self._pending[:have]
        self._pending = self._pending[have:]
        for start, end in self.pauses:
            assert start is not None
            lo, hi = max(start, self.base), min(end if end is not None else position, position)
            if hi > lo:
                out[lo - self.base:hi - self.base] = 0
        self.base = position
        return out


# ---------------------------------------------------------------------------------------------- WAV


def _wav_header(data_bytes: int, riff_extra: int = 0) -> bytes:
    """A canonical PCM WAV header for 8 kHz stereo 16-bit; `riff_extra`: chunks after the data."""
    return (b"RIFF" + struct.pack("<I", min(36 + data_bytes + riff_extra, 0xFFFFFFFF)) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, CHANNELS, RATE, RATE * BYTES_PER_FRAME, BYTES_PER_FRAME, 16)
            + b"data" + struct.pack("<I", min(data_bytes, 0xFFFFFFFF)))


def _info_chunk(fields: dict[str, str]) -> bytes:
    """A LIST/INFO chunk: each value NUL-terminated and padded to an even length."""
    body = b"INFO"
    for key, value in fields.items():
        raw = value.encode("utf-8") + b"\0"
        body += key.encode("ascii") + struct.pack("<I", len(raw)) + raw + (b"\0" if len(raw) % 2 else b"")
    return b"LIST" + struct.pack("<I", len(body)) + body


def _info_fields(info: RecordingInfo, duration: float, sha256: str) -> dict[str, str]:
    """Standard INFO ids: INAM title, ICRD start, ISFT software, ICMT the metadata as key=value lines."""
    comment = "\n".join([
        f"call_id={info.call_id}", f"tenant={info.tenant}", f"agent={info.agent or ''}",
        f"queue={info.queue or ''}", f"start={info.started_at.isoformat()}", f"duration={duration:.3f}",
        f"audio_sha256={sha256}", "channels=caller,agent",
    ])
    return {"INAM": f"call {info.call_id}", "ICRD": info.started_at.isoformat(), "ISFT": "tongdai",
            "ICMT": comment}


def _finalise(part: Path, info: RecordingInfo, data_bytes: int, sha256: str, *, recovered: bool,
              pauses: list[tuple[float, float]],
              marks: list[tuple[float, str]] | None = None) -> tuple[Path, dict[str, object]]:
    """Append the INFO chunk, fix the header, rename to `.wav`; return the path and sidecar."""
    duration = data_bytes / (RATE * BYTES_PER_FRAME)
    chunk = _info_chunk(_info_fields(info, duration, sha256))
    with part.open("r+b") as f:
        f.truncate(HEADER_SIZE + data_bytes)
        f.seek(0, os.SEEK_END)
        f.write(chunk)
        f.seek(0)
        f.write(_wav_header(data_bytes, len(chunk)))
        f.flush()
        os.fsync(f.fileno())
    wav = part.with_name(part.name[: -len(PART_SUFFIX)] + ".wav")
    os.replace(part, wav)
    part.with_name(part.name + ".json").unlink(missing_ok=True)
    sidecar: dict[str, object] = {
        **info.to_json(), "duration": round(duration, 3), "sample_rate": RATE, "channels": ["caller", "agent"],
        "format": "wav/pcm_s16le", "audio_sha256": sha256, "pauses": [list(p) for p in pauses],
        "recovered": recovered, "file": wav.name,
    }
    if marks:  # e.g. when the call became a conference: the agent channel holds every other voice from then
        sidecar["marks"] = [{"at": round(at, 3), "event": event} for at, event in marks]
    return wav, sidecar


# ---------------------------------------------------------------------------------------------- recorder


class CallRecorder:
    """Records one call. Methods take the media clock's `now` (seconds); I/O is plain file writes.

    Frames are fed with the media time of their first sample (`at`); `flush(now)` writes everything
    older than `now - delay`, leaving `delay` seconds for late packets to take their place.
    """

    def __init__(self, info: RecordingInfo, storage: RecordingStorage, *, delay: float = 0.2) -> None:
        self.info, self.storage, self.delay = info, storage, delay
        self.timeline = StereoTimeline()
        self.started: float | None = None
        self.part: Path | None = None
        self._fd: int | None = None
        self._hash = hashlib.sha256()
        self._data_bytes = 0
        self.result: StoredRecording | None = None
        #: (seconds into the recording, what happened), listed in the sidecar
        self.marks: list[tuple[float, str]] = []

    def start(self, now: float) -> Path:
        """Open the `.part` file (header with placeholder sizes) and its `.part.json`."""
        self.started = now
        self.part = self.storage.part_path(self.info)
        _write_json(self.part.with_name(self.part.name + ".json"), dict(self.info.to_json()))
        self._fd = os.open(self.part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        os.write(self._fd, _wav_header(0))
        return self.part

    def feed(self, channel: Channel, at: float, frame: Pcm | bytes, codec: Codec | None = None) -> None:
        """Add one frame of one party: linear PCM, or G.711 bytes with their `codec`."""
        if self._fd is None:
            return
        if isinstance(frame, bytes):
            if codec is None:
                raise ValueError("G.711 bytes need their codec")
            frame = g711.decode(codec, np.frombuffer(frame, dtype=np.uint8))
        self.timeline.add(channel, self._position(at), frame)

    def mark(self, event: str, now: float) -> None:
        """Note that `event` happened at `now` (e.g. `mixed`: the call became a conference)."""
        if self.started is not None:
            self.marks.append((max(0.0, now - self.started), event))

    def pause(self, now: float) -> None:
        """Pause (e.g. while a card number is read out): silence from now until `resume`."""
        self.timeline.pause(self._position(now))

    def resume(self, now: float) -> None:
        """Resume after a pause."""
        self.timeline.resume(self._position(now))

    def flush(self, now: float) -> None:
        """Write what is older than `now - delay` to the part file."""
        self._write(self.timeline.take_until(self._position(now - self.delay)))

    def stop(self, now: float) -> StoredRecording:
        """Write everything up to `now`, finalise the WAV and hand it to the storage."""
        if self.part is None or self._fd is None:
            raise RuntimeError("recording was not started")
        if self.timeline.paused:
            self.timeline.resume(self._position(now))
        self._write(self.timeline.take_until(self._position(now)))
        os.close(self._fd)
        self._fd = None
        pauses = [(float(s) / RATE, float(e) / RATE) for s, e in self.timeline.pauses if s is not None and e is not None]
        wav, sidecar = _finalise(self.part, self.info, self._data_bytes, self._hash.hexdigest(),
                                 recovered=False, pauses=pauses, marks=self.marks)
        location = self.storage.commit(self.part, wav, sidecar)
        self.result = StoredRecording(location, self.info, self._data_bytes / (RATE * BYTES_PER_FRAME),
                                      self._hash.hexdigest())
        return self.result

    @property
    def duration(self) -> float:
        """Seconds written so far."""
        return self._data_bytes / (RATE * BYTES_PER_FRAME)

    def _position(self, at: float) -> int:
        if self.started is None:
            raise RuntimeError("recording was not started")
        return round((at - self.started) * RATE)

    def _write(self, frames: npt.NDArray[np.int16]) -> None:
        if self._fd is None or len(frames) == 0:
            return
        raw = frames.astype("<i2").tobytes()
        self._hash.update(raw)
        view = memoryview(raw)
        while view:
            view = view[os.write(self._fd, view):]
        self._data_bytes += len(raw)


# ---------------------------------------------------------------------------------------------- recovery


def _interrupted(directory: Path) -> Iterator[Path]:
    yield from sorted(Path(directory).rglob("*" + PART_SUFFIX))


def recover_part(part: Path) -> tuple[Path, dict[str, object]]:
    """Finalise one `.part` file left by a crash into a valid WAV with metadata and sidecar."""
    meta = part.with_name(part.name + ".json")
    try:
        info = RecordingInfo.from_json(json.loads(meta.read_text()))
    except (OSError, ValueError):
        # No readable metadata: keep the audio and say what is known from the path and the file.
        tenant = part.parents[3].name if len(part.parents) > 4 else "unknown"
        info = RecordingInfo(part.name[: -len(PART_SUFFIX)], tenant,
                             datetime.fromtimestamp(part.stat().st_mtime).astimezone())
    size = part.stat().st_size
    data_bytes = max(0, size - HEADER_SIZE) // BYTES_PER_FRAME * BYTES_PER_FRAME
    digest = hashlib.sha256()
    with part.open("rb") as f:
        f.seek(HEADER_SIZE)
        left = data_bytes
        while left:
            block = f.read(min(left, 1 << 20))
            if not block:
                break
            digest.update(block)
            left -= len(block)
    wav, sidecar = _finalise(part, info, data_bytes, digest.hexdigest(), recovered=True, pauses=[])
    _write_json(wav.with_suffix(".json"), sidecar)
    return wav, sidecar


def recover_interrupted(directory: Path) -> list[Path]:
    """At start-up: finalise every `.part` recording under `directory`; return the WAVs made."""
    return [recover_part(part)[0] for part in _interrupted(directory)]


class RecordingRecoveryService:
    """Start-up step for the composition root: finalise recordings a crash left as `.part` files."""

    name = "recording-recovery"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.recovered: list[Path] = []
        self._done = False

    async def start(self) -> None:
        """Recover in a worker thread (files can be large) before calls start."""
        self.recovered = await asyncio.to_thread(recover_interrupted, self.root) if self.root.exists() else []
        if self.recovered:
            log.warning("recovered %d interrupted recordings under %s",
                                                len(self.recovered), self.root)
        self._done = True

    async def stop(self) -> None:
        """Nothing to stop."""

    def ready(self) -> bool:
        """Whether recovery has run."""
        return self._done

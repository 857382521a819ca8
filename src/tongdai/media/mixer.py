"""Conference mixing, pure: one 20 ms frame per participant in, one mixed frame per participant out.

Who hears whom is a matrix built from each participant's mode, so supervisor listen, whisper and
barge are rows and columns of the same matrix product rather than special cases in the mixing code.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tongdai.media.g711 import FRAME_SAMPLES, Pcm

ParticipantId = Hashable


class Mode(enum.Enum):
    """How a participant takes part."""

    NORMAL = "normal"
    """A caller, agent or conference member: hears and is heard by the others."""
    LISTEN = "listen"
    """A supervisor listening in: hears everyone, heard by no one."""
    WHISPER = "whisper"
    """A supervisor coaching: hears everyone, heard only by the participant it whispers to."""
    BARGE = "barge"
    """A supervisor who has joined the call: hears and is heard by everyone."""


@dataclass(slots=True)
class Participant:
    """One member of a conference and how it takes part."""

    id: ParticipantId
    mode: Mode = Mode.NORMAL
    whisper_to: ParticipantId | None = None
    muted: bool = False
    """Heard by no one whatever the mode (a member on mute)."""


class MixerError(ValueError):
    """A participant or frame the mixer cannot take."""


class Mixer:
    """The N-party mix of one conference; no I/O, no clock."""

    def __init__(self, frame_samples: int = FRAME_SAMPLES) -> None:
        self.frame_samples = frame_samples
        self._members: dict[ParticipantId, Participant] = {}
        self._matrix: npt.NDArray[np.float32] | None = None

    @property
    def participants(self) -> list[Participant]:
        """The members, in the order they joined."""
        return list(self._members.values())

    def add(self, pid: ParticipantId, mode: Mode = Mode.NORMAL, whisper_to: ParticipantId | None = None) -> None:
        """Add a participant."""
        if pid in self._members:
            raise MixerError(f"{pid!r} is already in the conference")
        self._members[pid] = Participant(pid)
        self.set_mode(pid, mode, whisper_to)

    def set_mode(self, pid: ParticipantId, mode: Mode, whisper_to: ParticipantId | None = None) -> None:
        """Change how a participant takes part (listen -> whisper -> barge, ...)."""
        member = self._member(pid)
        if mode is Mode.WHISPER and (whisper_to is None or whisper_to == pid):
            raise MixerError("whisper needs another participant to whisper to")
        member.mode, member.whisper_to = mode, whisper_to if mode is Mode.WHISPER else None
        self._matrix = None

    def set_muted(self, pid: ParticipantId, muted: bool) -> None:
        """Mute or unmute a participant (it still hears)."""
        self._member(pid).muted = muted
        self._matrix = None

    def remove(self, pid: ParticipantId) -> None:
        """Remove a participant; whispers aimed at it go unheard until redirected."""
        del self._members[self._member(pid).id]
        self._matrix = None

    def hears(self, listener: ParticipantId, speaker: ParticipantId) -> bool:
        """Whether `listener` hears `speaker`."""
        if listener == speaker:
            return False  # nobody hears their own voice back
        s = self._member(speaker)
        self._member(listener)
        if s.muted or s.mode is Mode.LISTEN:
            return False
        if s.mode is Mode.WHISPER:
            return s.whisper_to == listener
        return True

    def matrix(self) -> npt.NDArray[np.float32]:
        """H[i, j] = 1 when participant i hears participant j (order of `participants`)."""
        if self._matrix is None:
            ids = list(self._members)
            self._matrix = np.array([[self.hears(a, b) for b in ids] for a in ids], dtype=np.float32)
            self._matrix = self._matrix.reshape(len(ids), len(ids))
        return self._matrix

    def mix(self, frames: Mapping[ParticipantId, Pcm | None]) -> dict[ParticipantId, Pcm]:
        """Each participant's mixed frame from everyone's input frame (missing or None is silence)."""
        mixed = self.mix_rows(frames)
        return {pid: mixed[row] for row, pid in enumerate(self._members)}

    def mix_rows(self, frames: Mapping[ParticipantId, Pcm | None]) -> npt.NDArray[np.int16]:
        """The mixed frames as one (participants, samples) array, rows in `participants` order.

        One array lets the caller encode every leg's frame with a single lookup.
        """
        ids = list(self._members)
        inputs = np.zeros((len(ids), self.frame_samples), dtype=np.float32)
        for row, pid in enumerate(ids):
            frame = frames.get(pid)
            if frame is not None:
                if len(frame) != self.frame_samples:
                    raise MixerError(f"frame of {len(frame)} samples from {pid!r}, expected {self.frame_samples}")
                inputs[row] = frame
        if not ids:
            return np.zeros((0, self.frame_samples), dtype=np.int16)
        # Mixing is one matrix product; clipping at the end keeps loud talkers from wrapping around.
        mixed: npt.NDArray[np.int16] = np.clip(self.matrix() @ inputs, -32768, 32767).astype(np.int16)
        return mixed

    def sides(self, frames: Mapping[ParticipantId, Pcm | None],
              caller: ParticipantId) -> tuple[Pcm | None, Pcm | None]:
        """A call recording's two channels from one tick's input frames: `caller`'s own frame, and the
        sum of every other voice anyone hears (agent, third parties, a whispering or barging supervisor;
        a listener or a muted member says nothing). None for a side with nothing to record."""
        others = [frames.get(pid) for pid, member in self._members.items()
                  if pid != caller and not member.muted and member.mode is not Mode.LISTEN]
        voiced = [frame for frame in others if frame is not None]
        if not voiced:
            return frames.get(caller), None
        total = np.clip(np.sum(np.asarray(voiced, dtype=np.int32), axis=0), -32768, 32767).astype(np.int16)
        return frames.get(caller), total

    def _member(self, pid: ParticipantId) -> Participant:
        try:
            return self._members[pid]
        except KeyError:
            raise MixerError(f"{pid!r} is not in the conference") from None

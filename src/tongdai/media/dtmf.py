"""DTMF, sans-I/O: an RFC 4733 event tracker and an in-band Goertzel detector for 8 kHz linear audio.

Both report a digit once, when it ends, with its start (in samples) and duration, so that an IVR sees
the same thing whether the caller's phone sends telephone-events or plain tones.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

from tongdai.media import rtp

ROWS = (697.0, 770.0, 852.0, 941.0)
COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    """A digit that was pressed and released."""

    digit: str
    start: int
    """Where it started, in samples (the RTP timestamp for RFC 4733, the stream position in-band)."""
    duration: int
    """How long it lasted, in samples."""
    source: str
    """`rfc4733` or `inband`."""


# ---------------------------------------------------------------------------------------------- RFC 4733


@dataclass(slots=True)
class _Event:
    key: tuple[int, int]
    digit: str | None
    duration: int
    last_seen: float


class Rfc4733Tracker:
    """Turns a stream of telephone-event packets into digits, once each.

    All packets of one event share an RTP timestamp (RFC 4733 2.5.1.2), and the end packet is sent
    three times: an event is reported at its first end packet, and its (SSRC, timestamp) is remembered
    so the retransmissions are ignored. An event whose end packets were all lost is reported when the
    next event starts or when `tick` finds it silent for `end_timeout` seconds.
    """

    def __init__(self, *, end_timeout: float = 0.5, remember: int = 64) -> None:
        self.end_timeout = end_timeout
        self._current: _Event | None = None
        self._done: deque[tuple[int, int]] = deque(maxlen=remember)

    def receive(self, packet: rtp.RtpPacket, now: float) -> list[DtmfDigit]:
        """Feed one telephone-event RTP packet; return the digits that ended."""
        event = rtp.parse_telephone_event(packet.payload)
        key = (packet.ssrc, packet.timestamp)
        if key in self._done:
            return []  # a retransmitted end packet, or a late packet of a reported event
        out: list[DtmfDigit] = []
        if self._current is not None and self._current.key != key:
            out += self._finish()  # a new event began before the old one's end arrived
        if self._current is None:
            self._current = _Event(key, event.digit, event.duration, now)
        self._current.duration = max(self._current.duration, event.duration)
        self._current.last_seen = now
        if event.end:
            out += self._finish()
        return out

    def tick(self, now: float) -> list[DtmfDigit]:
        """Report an event whose end never came."""
        if self._current is not None and now - self._current.last_seen >= self.end_timeout:
            return self._finish()
        return []

    def next_deadline(self) -> float | None:
        """When `tick` next has something to do."""
        return None if self._current is None else self._current.last_seen + self.end_timeout

    def _finish(self) -> list[DtmfDigit]:
        current, self._current = self._current, None
        if current is None:
            return []
        self._done.append(current.key)
        if current.digit is None:
            return []  # a non-DTMF event (flash, line tones): tracked for dedupe, not reported
        return [DtmfDigit(current.digit, current.key[1], current.duration, "rfc4733")]


# ---------------------------------------------------------------------------------------------- Goertzel


@cache
def _basis(n: int, freqs: tuple[float, ...], rate: int) -> npt.NDArray[np.complex128]:
    """exp(-j 2 pi f t) for each frequency: one row per frequency, one column per sample."""
    t = np.arange(n) / rate
    basis: npt.NDArray[np.complex128] = np.exp(-2j * np.pi * np.outer(freqs, t))
    return basis


def goertzel_power(samples: npt.ArrayLike, freqs: tuple[float, ...], rate: int = 8000) -> npt.NDArray[np.float64]:
    """Mean power of each frequency component (A**2/2 for a sine of amplitude A), per frequency.

    This is the Goertzel filter's output evaluated at exactly `f` (not the nearest DFT bin), computed
    as one matrix product so that many windows and frequencies cost one numpy call. The last axis of
    `samples` is time; any leading axes (windows) are kept.
    """
    x = np.asarray(samples, dtype=np.float64)
    n = x.shape[-1]
    spectrum = x @ _basis(n, freqs, rate).T
    power: npt.NDArray[np.float64] = 2.0 * np.abs(spectrum) ** 2 / (n * n)
    return power


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    """Thresholds of the in-band detector (ITU-T Q.24 style)."""

    window: int = 160
    """Samples per analysis window (20 ms at 8 kHz: 50 Hz resolution for tones >= 73 Hz apart)."""
    hop: int = 80
    """Window advance (10 ms), so that a 40 ms tone or gap always covers two whole windows."""
    min_tone_power: float = 200.0**2 / 2
    """Each tone's mean power floor: a sine of amplitude 200 (about -41 dBm0 in 16-bit PCM)."""
    normal_twist_db: float = 8.0
    """How much louder the row (low) tone may be than the column tone."""
    reverse_twist_db: float = 4.0
    """How much louder the column (high) tone may be than the row tone."""
    relative_peak_db: float = 6.0
    """How far the chosen tone must stand above the other tones of its group."""
    tone_share: float = 0.6
    """The two tones' share of the window's power: speech and noise spread theirs wide."""
    min_windows: int = 2
    """Consecutive windows that must agree before a digit starts, and that must miss before it ends."""


class InbandDtmfDetector:
    """Detects DTMF digits in 8 kHz 16-bit linear audio fed in frames of any size."""

    def __init__(self, settings: DetectorSettings | None = None, *, rate: int = 8000) -> None:
        self.settings = settings or DetectorSettings()
        self.rate = rate
        self._buffer = np.zeros(0, dtype=np.float64)
        self._position = 0  # stream position of _buffer[0]
        self._candidate: str | None = None
        self._candidate_count = 0
        self._digit: str | None = None
        self._digit_start = 0
        self._misses = 0

    def feed(self, samples: npt.ArrayLike) -> list[DtmfDigit]:
        """Feed the next samples of the stream; return the digits that ended."""
        s = self.settings
        self._buffer = np.concatenate([self._buffer, np.asarray(samples, dtype=np.float64)])
        count = 0 if self._buffer.size < s.window else 1 + (self._buffer.size - s.window) // s.hop
        if count == 0:
            return []
        windows = np.lib.stride_tricks.sliding_window_view(self._buffer, s.window)[::s.hop][:count]
        hits = self._classify(windows)
        out: list[DtmfDigit] = []
        for i, hit in enumerate(hits):
            out += self._step(hit, self._position + i * s.hop)
        self._buffer = self._buffer[count * s.hop:]
        self._position += count * s.hop
        return out

    def _classify(self, windows: npt.NDArray[np.float64]) -> list[str | None]:
        """The key each window holds, or None."""
        s = self.settings
        power = goertzel_power(windows, ROWS + COLUMNS, self.rate)
        rows, cols = power[:, :4], power[:, 4:]
        r, c = rows.argmax(axis=1), cols.argmax(axis=1)
        idx = np.arange(len(windows))
        pr, pc = rows[idx, r], cols[idx, c]
        total = np.mean(windows * windows, axis=1)
        ok = (pr >= s.min_tone_power) & (pc >= s.min_tone_power)
        ok &= (pr <= pc * _db(s.normal_twist_db)) & (pc <= pr * _db(s.reverse_twist_db))
        ok &= _stands_out(rows, r, s.relative_peak_db) & _stands_out(cols, c, s.relative_peak_db)
        ok &= (pr + pc) >= s.tone_share * np.maximum(total, 1e-9)
        return [KEYPAD[int(r[i])][int(c[i])] if ok[i] else None for i in idx]

    def _step(self, hit: str | None, position: int) -> list[DtmfDigit]:
        """Advance the on/off state by one window (debounced both ways)."""
        s = self.settings
        if hit is not None and hit == self._candidate:
            self._candidate_count += 1
        else:
            self._candidate, self._candidate_count = hit, 1 if hit is not None else 0
        if self._digit is not None:
            if hit == self._digit:
                self._misses = 0
                return []
            self._misses += 1
            if self._misses < s.min_windows:
                return []
            ended = DtmfDigit(self._digit, self._digit_start, position - self._digit_start, "inband")
            self._digit = None
            return [ended] + self._step_start(position)
        return self._step_start(position)

    def _step_start(self, position: int) -> list[DtmfDigit]:
        s = self.settings
        if self._candidate is not None and self._candidate_count >= s.min_windows:
            self._digit, self._misses = self._candidate, 0
            self._digit_start = position - (s.min_windows - 1) * s.hop
        return []


def _db(db: float) -> float:
    return float(10 ** (db / 10))


def _stands_out(group: npt.NDArray[np.float64], best: npt.NDArray[np.intp], db: float) -> npt.NDArray[np.bool_]:
    """Whether the best tone of each window beats every other tone of its group by `db`."""
    others = group.copy()
    others[np.arange(len(group)), best] = 0.0
    peak = group[np.arange(len(group)), best]
    result: npt.NDArray[np.bool_] = others.max(axis=1) * _db(db) <= peak
    return result

"""Time sources. Pure cores take `now` as an argument; only I/O shells read a clock."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...


class MonotonicClock:
    """Seconds from an arbitrary origin, for timers."""

    def now(self) -> float:
        return time.monotonic()


class WallClock:
    """Seconds since the Unix epoch, for records."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock advanced by hand, for tests of pure cores and their shells."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        self._now += seconds
        return self._now

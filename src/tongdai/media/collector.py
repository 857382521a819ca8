"""Digit collection for IVR input, sans-I/O: digits and `now` in, one result out."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class CollectEnd(enum.Enum):
    """Why a collection finished."""

    MAX_DIGITS = "max_digits"
    TERMINATOR = "terminator"
    FIRST_DIGIT_TIMEOUT = "first_digit_timeout"
    INTER_DIGIT_TIMEOUT = "inter_digit_timeout"
    TOTAL_TIMEOUT = "total_timeout"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class CollectResult:
    """What the caller entered (without the terminator) and why collection stopped."""

    digits: str
    end: CollectEnd
    terminator: str | None = None
    at: float = 0.0
    """When it finished (the `now` of the call that finished it)."""


@dataclass(frozen=True, slots=True)
class CollectSpec:
    """How to collect: limits in digits and seconds; `total_timeout` None means no overall limit."""

    max_digits: int = 1
    first_digit_timeout: float = 5.0
    inter_digit_timeout: float = 3.0
    total_timeout: float | None = None
    terminators: str = "#"
    min_digits: int = 0
    """A terminator pressed before this many digits is ignored (collection goes on)."""

    def __post_init__(self) -> None:
        if self.max_digits < 1 or self.min_digits < 0 or self.min_digits > self.max_digits:
            raise ValueError("need 0 <= min_digits <= max_digits and max_digits >= 1")


class DigitCollector:
    """Collects digits for one prompt: call `digit` as digits arrive and `tick` at `next_deadline`.

    Every method returns the `CollectResult` once, when the collection finishes, and None otherwise;
    after that the collector ignores input.
    """

    def __init__(self, spec: CollectSpec, now: float) -> None:
        self.spec = spec
        self.started = now
        self.digits = ""
        self._last_digit_at: float | None = None
        self.result: CollectResult | None = None

    def digit(self, digit: str, now: float) -> CollectResult | None:
        """Take one digit pressed at `now`."""
        if self.result is not None:
            return None
        expired = self.tick(now)
        if expired is not None:
            return expired  # the digit came after a deadline the owner had not yet ticked
        self._last_digit_at = now
        if digit in self.spec.terminators:
            if len(self.digits) >= self.spec.min_digits:
                return self._finish(CollectEnd.TERMINATOR, now, digit)
            return None  # too early for a terminator: ignore it, keep collecting
        self.digits += digit
        if len(self.digits) >= self.spec.max_digits:
            return self._finish(CollectEnd.MAX_DIGITS, now)
        return None

    def tick(self, now: float) -> CollectResult | None:
        """Finish on a timeout whose deadline has passed."""
        if self.result is not None:
            return None
        total = self._total_deadline()
        if total is not None and now >= total:
            return self._finish(CollectEnd.TOTAL_TIMEOUT, total)
        deadline, reason = self._digit_deadline()
        if now >= deadline:
            return self._finish(reason, deadline)
        return None

    def cancel(self, now: float) -> CollectResult | None:
        """Stop collecting (the caller hung up, the flow moved on)."""
        return None if self.result is not None else self._finish(CollectEnd.CANCELLED, now)

    def next_deadline(self) -> float | None:
        """When `tick` must next be called, or None once finished."""
        if self.result is not None:
            return None
        total = self._total_deadline()
        deadline = self._digit_deadline()[0]
        return deadline if total is None else min(total, deadline)

    def _digit_deadline(self) -> tuple[float, CollectEnd]:
        if self._last_digit_at is None:
            return self.started + self.spec.first_digit_timeout, CollectEnd.FIRST_DIGIT_TIMEOUT
        return self._last_digit_at + self.spec.inter_digit_timeout, CollectEnd.INTER_DIGIT_TIMEOUT

    def _total_deadline(self) -> float | None:
        return None if self.spec.total_timeout is None else self.started + self.spec.total_timeout

    def _finish(self, end: CollectEnd, at: float, terminator: str | None = None) -> CollectResult:
        self.result = CollectResult(self.digits, end, terminator, at)
        return self.result

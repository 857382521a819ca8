"""The pure core of scheduled callbacks: which are due, what a crash left behind, and what an attempt's
result makes of a callback (done, retried later, failed). No clock, no database: `now` (seconds since
the epoch) comes in, decisions go out; the asyncio shell (`placer.py`) carries them out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: states a callback never leaves
FINAL = frozenset({Status.DONE, Status.FAILED, Status.CANCELLED})


class Result(StrEnum):
    """How one attempt ended."""

    ANSWERED = "answered"  # the customer answered and talked with the agent
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"  # the number could not be reached (no route, refused)
    INTERRUPTED = "interrupted"  # tongdai stopped during the attempt
    NO_AGENT = "no_agent"  # no agent took it within the queue's maximum wait


#: results after which another attempt may reach the customer
RETRIABLE = frozenset({Result.NO_ANSWER, Result.BUSY, Result.FAILED, Result.INTERRUPTED, Result.NO_AGENT})


@dataclass(frozen=True)
class Entry:
    """What the core needs of one stored callback."""

    id: str
    status: Status
    due_at: float
    attempts: int = 0


@dataclass(frozen=True)
class Policy:
    """Retries: at most `max_attempts` placements, the n-th retry `retry_after_s[n-1]` seconds after the
    failed attempt (the last spacing repeats)."""

    max_attempts: int = 3
    retry_after_s: tuple[float, ...] = (300.0, 900.0)

    def spacing(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt."""
        if not self.retry_after_s:
            return 0.0
        return self.retry_after_s[min(attempts, len(self.retry_after_s)) - 1]


@dataclass(frozen=True)
class Outcome:
    """A callback after an attempt: its new status, due time and attempt count, and the result kept."""

    status: Status
    due_at: float
    attempts: int
    result: str


def due(entries: Iterable[Entry], now: float, *, limit: int = 100) -> list[str]:
    """Ids of the scheduled callbacks whose time has come, earliest first (at most `limit`)."""
    ready = sorted((e for e in entries if e.status is Status.SCHEDULED and e.due_at <= now),
                   key=lambda e: (e.due_at, e.id))
    return [e.id for e in ready[:limit]]


def next_wake(entries: Iterable[Entry]) -> float | None:
    """When the next scheduled callback falls due (None: nothing scheduled)."""
    times = [e.due_at for e in entries if e.status is Status.SCHEDULED]
    return min(times) if times else None


def recover(entries: Iterable[Entry], now: float, policy: Policy) -> dict[str, Outcome]:
    """At start: callbacks a crash left in progress count as an interrupted attempt (retried at once
    while attempts remain); nothing else changes."""
    return {e.id: after_attempt(e, Result.INTERRUPTED, now, policy, retry_at_once=True)
            for e in entries if e.status is Status.IN_PROGRESS}


def after_attempt(entry: Entry, result: Result, now: float, policy: Policy, *,
                  retry_at_once: bool = False) -> Outcome:
    """What `result` of an attempt makes of the callback: done when answered, retried after the
    policy's spacing while attempts remain, else failed."""
    attempts = entry.attempts + 1
    if result is Result.ANSWERED:
        return Outcome(Status.DONE, entry.due_at, attempts, result.value)
    if result in RETRIABLE and attempts < policy.max_attempts:
        at = now if retry_at_once else now + policy.spacing(attempts)
        return Outcome(Status.SCHEDULED, at, attempts, result.value)
    return Outcome(Status.FAILED, entry.due_at, attempts, result.value)


def may_place(entry: Entry, now: float) -> bool:
    """A callback may start an attempt only when scheduled and due (so it is never placed twice at once)."""
    return entry.status is Status.SCHEDULED and entry.due_at <= now


def may_change(status: Status) -> bool:
    """Cancel and reschedule apply only to a callback not being placed and not finished."""
    return status is Status.SCHEDULED

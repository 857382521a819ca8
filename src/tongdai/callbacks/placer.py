"""The asyncio shell of scheduled callbacks: wakes at the next due time (or a poll), claims each due
callback in the database (scheduled -> in_progress, a conditional update: one placement at a time),
hands it to the contact centre's calls as a callback task in its queue, and stores what the attempt
made of it (done, retried later, failed). At start, callbacks a crash left in progress are retried."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from tongdai.callbacks import scheduler as core
from tongdai.callbacks.models import ScheduledCallback
from tongdai.core.db import Database
from tongdai.crm.models import Customer

log = logging.getLogger(__name__)
#: the longest sleep between two looks at the table (callbacks booked by another process, missed pokes)
POLL_S = 5.0


def epoch(value: datetime) -> float:
    """A naive UTC time from the table as seconds since the epoch."""
    return value.replace(tzinfo=UTC).timestamp()


def naive(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)


def entry_of(row: ScheduledCallback) -> core.Entry:
    return core.Entry(row.id, core.Status(row.status), epoch(row.due_at), row.attempts)


def whisper_text(name: str, number: str, note: str) -> str:
    """What the agent hears before the customer is dialled."""
    who = name or " ".join(number)
    return f"Scheduled callback to {who}. {note}".strip()


class CallbackScheduler:
    """Places scheduled callbacks when due; `calls()` gives the contact centre's calls (None: no SIP)."""

    name = "callbacks"

    def __init__(self, db: Database, calls: Callable[[], Any], *, policy: core.Policy = core.Policy(),
                 poll_s: float = POLL_S, clock: Callable[[], float] = time.time) -> None:
        self.db, self.calls, self.policy, self.poll_s, self.clock = db, calls, policy, poll_s, clock
        self.placing: set[str] = set()  # ids of callbacks with an attempt under way in this process
        self._wake = asyncio.Event()
        self._hint: float | None = None
        self._loop: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Retry what a crash left in progress, then run the loop."""
        await self.recover()
        self._loop = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the loop; callbacks still waiting for an agent go back to scheduled (no attempt counted):
        only a crash leaves them in progress, and that counts as an attempt at the next start."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        if self.placing:
            async with self.db.session() as session:
                await session.execute(update(ScheduledCallback).where(
                    ScheduledCallback.id.in_(list(self.placing)),
                    ScheduledCallback.status == core.Status.IN_PROGRESS.value,
                ).values(status=core.Status.SCHEDULED.value, updated_at=naive(self.clock())))
            self.placing.clear()

    def ready(self) -> bool:
        return self._loop is not None and not self._loop.done()

    def poke(self, due_at: datetime) -> None:
        """A callback was booked or moved: look again at its time (and a moment after the booking commits)."""
        at = epoch(due_at)
        self._hint = at if self._hint is None else min(self._hint, at)
        self._wake.set()

    async def recover(self) -> None:
        """Callbacks in progress at start were interrupted: an attempt counted, retried at once."""
        now = self.clock()
        async with self.db.session() as session:
            rows = (await session.execute(select(ScheduledCallback).where(
                ScheduledCallback.status == core.Status.IN_PROGRESS.value))).scalars().all()
            outcomes = core.recover([entry_of(r) for r in rows], now, self.policy)
            for row in rows:
                self._apply(row, outcomes[row.id], now)
        if rows:
            log.info("callbacks interrupted by a stop are retried", extra={"count": len(rows)})

    async def _run(self) -> None:
        while True:
            try:
                wake_at = await self.tick()
            except Exception:
                log.exception("callback scheduler failed; trying again")
                wake_at = self.clock() + self.poll_s
            await self._sleep_until(wake_at)

    async def _sleep_until(self, wake_at: float) -> None:
        delay = max(0.0, min(wake_at - self.clock(), self.poll_s))
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)
        if self._wake.is_set():  # a booking: its transaction commits just after the poke
            await asyncio.sleep(0.2)

    async def tick(self) -> float:
        """Start every due callback; when to look next."""
        now = self.clock()
        async with self.db.sessionmaker() as session:
            rows = (await session.execute(select(ScheduledCallback).where(
                ScheduledCallback.status == core.Status.SCHEDULED.value).order_by(ScheduledCallback.due_at)
                .limit(200))).scalars().all()
        entries = [entry_of(r) for r in rows]
        by_id = {r.id: r for r in rows}
        if self.calls() is not None:
            for cid in core.due(entries, now):
                await self._claim_and_place(by_id[cid], now)
        nxt = core.next_wake(e for e in entries if e.due_at > now)
        hint, self._hint = self._hint, None
        candidates = [t for t in (nxt, hint) if t is not None and t > now]
        return min(candidates, default=now + self.poll_s)

    async def _claim_and_place(self, row: ScheduledCallback, now: float) -> None:
        """scheduled -> in_progress only if nobody changed it meanwhile; then place it."""
        if row.id in self.placing:
            return
        async with self.db.session() as session:
            claimed = await session.execute(update(ScheduledCallback).where(
                ScheduledCallback.id == row.id, ScheduledCallback.status == core.Status.SCHEDULED.value,
                ScheduledCallback.due_at <= naive(now)).values(status=core.Status.IN_PROGRESS.value,
                                                                updated_at=naive(now)))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return  # cancelled or moved meanwhile
        self.placing.add(row.id)
        task = asyncio.get_running_loop().create_task(self._place(row))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _place(self, row: ScheduledCallback) -> None:
        try:
            name = await self._customer_name(row)
            await self.calls().schedule_callback(
                task_id=f"cb-{row.id}-{row.attempts + 1}", tenant_id=row.tenant_id, queue=row.queue,
                number=row.number, whisper=whisper_text(name, row.number, row.note), agent_id=row.agent_id or "",
                on_done=lambda result, call_id: self.finished(row.id, result, call_id))
        except Exception:
            log.exception("callback could not be placed", extra={"callback_id": row.id})
            await self.finished(row.id, core.Result.FAILED.value, "")

    async def _customer_name(self, row: ScheduledCallback) -> str:
        if not row.customer_id:
            return ""
        async with self.db.sessionmaker() as session:
            name = (await session.execute(select(Customer.name).where(Customer.id == row.customer_id))).scalar()
        return str(name or "")

    async def finished(self, callback_id: str, result: str, call_id: str) -> None:
        """An attempt ended with `result`: done, retried after the policy's spacing, or failed."""
        self.placing.discard(callback_id)
        now = self.clock()
        async with self.db.session() as session:
            row = await session.get(ScheduledCallback, callback_id)
            if row is None or row.status != core.Status.IN_PROGRESS.value:
                return
            outcome = core.after_attempt(entry_of(row), core.Result(result), now, self.policy)
            self._apply(row, outcome, now)
            row.call_id = call_id or row.call_id
        log.info("callback attempt ended", extra={"callback_id": callback_id, "result": result,
                                                  "status": outcome.status.value})
        self._hint = outcome.due_at if outcome.status is core.Status.SCHEDULED else self._hint
        self._wake.set()

    @staticmethod
    def _apply(row: ScheduledCallback, outcome: core.Outcome, now: float) -> None:
        row.status, row.due_at, row.attempts = outcome.status.value, naive(outcome.due_at), outcome.attempts
        row.last_result, row.updated_at = outcome.result, naive(now)

"""The scheduler's asyncio shell on SQLite and PostgreSQL with a fake of the contact centre's calls (no
SIP): a due callback is handed over once even when two schedulers tick together, what an attempt made
of it is stored (done, retried after the spacing, failed after the last attempt), a crash's leftover is
retried at start, and a clean stop puts a waiting callback back without counting an attempt."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tongdai.callbacks.models import ScheduledCallback
from tongdai.callbacks.placer import CallbackScheduler, whisper_text
from tongdai.callbacks.scheduler import Policy
from tongdai.iam.models import Tenant

NOW = datetime(2026, 11, 23, 12, 0, 0)
POLICY = Policy(max_attempts=2, retry_after_s=(600.0,))


class FakeCalls:
    """Records each callback handed over; the test ends attempts through `on_done`."""

    def __init__(self) -> None:
        self.placed: list[dict[str, Any]] = []

    async def schedule_callback(self, **kwargs: Any) -> None:
        self.placed.append(kwargs)


@pytest.fixture
async def db(db_url: str):  # type: ignore[no-untyped-def]
    from tongdai.core.db import Database

    database = Database(db_url)
    await database.upgrade()
    async with database.session() as s:
        s.add(Tenant(id="t1", slug="t1", name="T1"))
    try:
        yield database
    finally:
        await database.dispose()


async def _add(db, *, due: datetime, status: str = "scheduled", attempts: int = 0) -> str:  # type: ignore[no-untyped-def]
    async with db.session() as s:
        row = ScheduledCallback(tenant_id="t1", number="+84901234567", queue="sales", due_at=due, note="Refund",
                                status=status, attempts=attempts)
        s.add(row)
        await s.flush()
        return row.id


async def _row(db, cid: str) -> ScheduledCallback:  # type: ignore[no-untyped-def]
    async with db.sessionmaker() as s:
        return await s.get(ScheduledCallback, cid)  # type: ignore[return-value]


def _clock(at: datetime):  # type: ignore[no-untyped-def]
    return lambda: at.replace(tzinfo=UTC).timestamp()


async def test_given_two_schedulers_when_both_tick_then_a_due_callback_is_handed_over_once(db):
    cid = await _add(db, due=NOW - timedelta(seconds=1))
    later = await _add(db, due=NOW + timedelta(minutes=5))
    calls = FakeCalls()
    a, b = (CallbackScheduler(db, lambda: calls, policy=POLICY, clock=_clock(NOW)) for _ in range(2))
    await asyncio.gather(a.tick(), b.tick())
    await asyncio.sleep(0.05)
    assert [c["task_id"] for c in calls.placed] == [f"cb-{cid}-1"]
    assert calls.placed[0]["whisper"] == whisper_text("", "+84901234567", "Refund")
    assert (await _row(db, cid)).status == "in_progress" and (await _row(db, later)).status == "scheduled"
    assert await a.tick() == (NOW + timedelta(minutes=5)).replace(tzinfo=UTC).timestamp()  # wakes for the next


async def test_given_no_answer_then_retried_after_spacing_then_failed_after_the_last_attempt(db):
    cid = await _add(db, due=NOW)
    calls = FakeCalls()
    sched = CallbackScheduler(db, lambda: calls, policy=POLICY, clock=_clock(NOW))
    await sched.tick()
    await asyncio.sleep(0.05)
    await calls.placed[0]["on_done"]("no_answer", "call-1")
    row = await _row(db, cid)
    assert (row.status, row.attempts, row.last_result, row.call_id) == ("scheduled", 1, "no_answer", "call-1")
    assert row.due_at == NOW + timedelta(seconds=600)
    sched.clock = _clock(NOW + timedelta(seconds=600))
    await sched.tick()
    await asyncio.sleep(0.05)
    assert calls.placed[1]["task_id"] == f"cb-{cid}-2"
    await calls.placed[1]["on_done"]("busy", "call-2")
    row = await _row(db, cid)
    assert (row.status, row.attempts, row.last_result) == ("failed", 2, "busy")


async def test_given_answered_then_done(db):
    cid = await _add(db, due=NOW)
    calls = FakeCalls()
    sched = CallbackScheduler(db, lambda: calls, policy=POLICY, clock=_clock(NOW))
    await sched.tick()
    await asyncio.sleep(0.05)
    await calls.placed[0]["on_done"]("answered", "call-1")
    row = await _row(db, cid)
    assert (row.status, row.attempts, row.last_result) == ("done", 1, "answered")


async def test_given_no_telephony_then_nothing_is_claimed(db):
    cid = await _add(db, due=NOW)
    sched = CallbackScheduler(db, lambda: None, policy=POLICY, clock=_clock(NOW))
    await sched.tick()
    assert (await _row(db, cid)).status == "scheduled"


async def test_given_crash_leftover_then_retried_at_start_and_clean_stop_counts_no_attempt(db):
    crashed = await _add(db, due=NOW - timedelta(hours=1), status="in_progress")
    calls = FakeCalls()
    sched = CallbackScheduler(db, lambda: calls, policy=POLICY, clock=_clock(NOW))
    await sched.start()
    try:
        assert await asyncio.wait_for(_until(lambda: len(calls.placed) == 1), 5)
    finally:
        await sched.stop()
    row = await _row(db, crashed)
    assert (row.status, row.attempts, row.last_result) == ("scheduled", 1, "interrupted")  # stop gave it back


async def _until(predicate) -> bool:  # type: ignore[no-untyped-def]
    while not predicate():
        await asyncio.sleep(0.02)
    return True

"""Writes call records as calls end and queue events happen: each in its own committed transaction,
so a crash loses none that were written (a service of the composition root)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from tongdai.calls.events import CallEnded
from tongdai.calls.models import CallLegRecord, CallRecord
from tongdai.core.db import Database
from tongdai.core.events import EventBus

log = logging.getLogger(__name__)


def disposition(event: CallEnded) -> str:
    """How the call ended, in the words of a report: answered, busy, no_answer, cancelled, failed."""
    if event.answered:
        return "answered"
    cause = event.cause
    if cause == "cancelled":
        return "cancelled"
    if event.kind == "inbound" and event.queue:
        return "abandoned"
    if cause.startswith("failed "):
        status = cause.removeprefix("failed ")
        if status in ("486", "600"):
            return "busy"
        if status in ("408", "480", "487"):
            return "no_answer"
        if status in ("603",):
            return "declined"
    return "failed"


def _at(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)


class CallRecords:
    """Subscribes to call events and stores the CDR of every call with its legs."""

    name = "call-records"

    def __init__(self, db: Database, bus: EventBus) -> None:
        self.db, self.bus = db, bus
        self.written = 0
        self._unsubscribe: Callable[[], None] = lambda: None

    async def start(self) -> None:
        self._unsubscribe = self.bus.subscribe(CallEnded, self.call_ended)

    async def stop(self) -> None:
        self._unsubscribe()

    def ready(self) -> bool:
        return True

    async def call_ended(self, event: CallEnded) -> None:
        record = CallRecord(
            tenant_id=event.tenant_id, call_id=event.call_id, kind=event.kind, caller=event.caller,
            callee=event.callee, started_at=_at(event.started_at), answered_at=_at(event.answered_at),
            ended_at=_at(event.at), ring_s=event.ring_seconds, talk_s=event.talk_seconds,
            disposition=disposition(event), cause=event.cause[:200], transferred=event.transferred,
            queue=event.queue, agent=event.agent, wait_s=event.wait_seconds,
        )
        legs = [CallLegRecord(tenant_id=event.tenant_id, call_id=event.call_id, position=i, role=str(leg["role"]),
                              party=str(leg["party"])[:128], answered=bool(leg["answered"]),
                              status=int(str(leg["status"])))
                for i, leg in enumerate(event.legs)]
        async with self.db.sessionmaker() as session:
            session.add(record)
            session.add_all(legs)
            await session.commit()
        self.written += 1

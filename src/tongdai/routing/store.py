"""Durable routing state: non-voice tasks (chats, e-mails, SMS, callbacks) and each tenant's workflow.

Voice tasks live only in memory (a call does not survive a restart anyway); every other task is a row
that follows the engine's events, and the live ones are routed again when the engine is rebuilt.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from tongdai.core.db import Base, new_id, utcnow
from tongdai.routing import events as ev
from tongdai.routing.model import VOICE, Task

LIVE = ("pending", "reserved", "assigned", "wrapping")


class RoutingTask(Base):
    """A non-voice task and where it stands."""

    __tablename__ = "routing_tasks"
    __table_args__ = (Index("ix_routing_tasks_live", "tenant_id", "state"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    priority: Mapped[int] = mapped_column(default=0)
    timeout_s: Mapped[float | None] = mapped_column(default=None)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    queue: Mapped[str | None] = mapped_column(String(64), default=None)
    worker_id: Mapped[str | None] = mapped_column(String(64), default=None)
    end_reason: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoutingWorkflow(Base):
    """A tenant's workflow definition (JSON, checked when saved)."""

    __tablename__ = "routing_workflows"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64), default="default")
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


def to_epoch(value: datetime) -> float:
    return value.replace(tzinfo=UTC).timestamp() if value.tzinfo is None else value.timestamp()


def from_epoch(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)


def durable(task: Task) -> bool:
    """Is this task kept in the database?"""
    return task.channel != VOICE


def new_row(task: Task, tenant_id: str) -> RoutingTask:
    return RoutingTask(id=task.id, tenant_id=tenant_id, channel=task.channel, attributes=dict(task.attributes),
                       priority=task.priority, timeout_s=task.timeout_s, state="pending",
                       created_at=from_epoch(task.created_at or 0.0), updated_at=from_epoch(task.created_at or 0.0))


def task_of(row: RoutingTask) -> Task:
    """The engine task a stored row describes (routed again from its original creation time)."""
    return Task(row.id, channel=row.channel, attributes=dict(row.attributes), priority=row.priority,
                created_at=to_epoch(row.created_at), timeout_s=row.timeout_s, tenant_id=row.tenant_id)


#: How each event moves a stored task.
def apply(row: RoutingTask, event: ev.RoutingEvent) -> None:
    """Follow one engine event on the task's row."""
    row.updated_at = from_epoch(event.at)
    if isinstance(event, ev.TaskQueued):
        row.state, row.queue, row.worker_id = "pending", event.queue_id, None
    elif isinstance(event, ev.TaskReserved):
        row.state = "reserved"
    elif isinstance(event, ev.ReservationRejected | ev.ReservationTimedOut):
        row.state = "pending"
    elif isinstance(event, ev.TaskAssigned):
        row.state, row.worker_id, row.queue = "assigned", event.worker_id, event.queue_id
    elif isinstance(event, ev.TaskWrapping):
        row.state = "wrapping"
    elif isinstance(event, ev.TaskEnded):
        row.state, row.end_reason = event.state, event.reason


async def record(session: AsyncSession, events: list[ev.RoutingEvent], durable_ids: set[str]) -> None:
    """Write the events of durable tasks to their rows (in the caller's unit of work)."""
    ids = {e.task_id for e in events if e.task_id in durable_ids}
    if not ids:
        return
    rows = {r.id: r for r in (await session.execute(select(RoutingTask).where(RoutingTask.id.in_(ids)))).scalars()}
    for e in events:
        row = rows.get(e.task_id)
        if row is not None:
            apply(row, e)


async def live_tasks(session: AsyncSession, tenant_id: str) -> list[RoutingTask]:
    """Stored tasks that still wait for, or hold, an agent."""
    q = select(RoutingTask).where(RoutingTask.tenant_id == tenant_id, RoutingTask.state.in_(LIVE))
    return list((await session.execute(q.order_by(RoutingTask.created_at, RoutingTask.id))).scalars())


async def workflow_definition(session: AsyncSession, tenant_id: str) -> dict[str, Any] | None:
    row = (await session.execute(select(RoutingWorkflow).where(
        RoutingWorkflow.tenant_id == tenant_id, RoutingWorkflow.name == "default"))).scalar_one_or_none()
    return dict(row.definition) if row is not None else None


async def save_workflow(session: AsyncSession, tenant_id: str, definition: dict[str, Any]) -> None:
    row = (await session.execute(select(RoutingWorkflow).where(
        RoutingWorkflow.tenant_id == tenant_id, RoutingWorkflow.name == "default"))).scalar_one_or_none()
    if row is None:
        session.add(RoutingWorkflow(tenant_id=tenant_id, name="default", definition=definition))
    else:
        row.definition, row.updated_at = definition, utcnow()

"""Scheduled callbacks: booking, listing by role, cancelling and rescheduling. Plain functions that take
the request's session; the caller commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tongdai.callbacks import errors
from tongdai.callbacks.models import ScheduledCallback
from tongdai.callbacks.scheduler import Status, may_change
from tongdai.callbacks.schemas import CallbackIn, CallbackOut, CallbackPatch
from tongdai.crm import normalise
from tongdai.crm.models import Customer
from tongdai.crm.service import customer_id_for_phone
from tongdai.directory.models import Agent, Queue
from tongdai.iam.models import Tenant
from tongdai.iam.roles import Role

#: how far ahead a callback may be booked
MAX_AHEAD = timedelta(days=366)


@dataclass(frozen=True)
class Caller:
    """Who acts: their user id, role, and (for agents) their agent row's id and queues."""

    user_id: str | None
    role: str
    agent_id: str | None = None
    queues: tuple[str, ...] = ()

    @property
    def sees_all(self) -> bool:
        return self.role != Role.AGENT


async def caller_of(db: AsyncSession, *, tenant_id: str, user_id: str | None, role: str) -> Caller:
    """The acting user with their agent row (if any)."""
    agent = None
    if user_id is not None:
        agent = (await db.execute(select(Agent).where(Agent.tenant_id == tenant_id, Agent.user_id == user_id))
                 ).scalar_one_or_none()
    queues = tuple(str(q) for q in (agent.queues or [])) if agent is not None else ()
    return Caller(user_id, role, agent.id if agent is not None else None, queues)


async def zone_of(db: AsyncSession, tenant_id: str) -> tuple[ZoneInfo, str]:
    """The tenant's time zone and country."""
    row = (await db.execute(select(Tenant.timezone, Tenant.default_region).where(Tenant.id == tenant_id))).one()
    return ZoneInfo(row[0] or "UTC"), str(row[1] or "VN")


def as_utc(value: datetime, zone: ZoneInfo) -> datetime:
    """An API time (naive: in the tenant's zone) as the naive UTC the table stores."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=zone)
    try:
        return aware.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:  # years 1 or 9999 with an offset: out of any sensible range anyway
        raise errors.DueTooFar(details={"due_at": value.isoformat()}) from None


def check_due(due: datetime, now: datetime) -> None:
    """Refuse a time in the past or more than a year ahead (both naive UTC)."""
    if due < now:
        raise errors.DueInPast(details={"due_at": due.isoformat() + "Z", "now": now.isoformat() + "Z"})
    if due > now + MAX_AHEAD:
        raise errors.DueTooFar(details={"due_at": due.isoformat() + "Z"})


async def create(db: AsyncSession, *, tenant_id: str, caller: Caller, body: CallbackIn, now: datetime
                 ) -> ScheduledCallback:
    """Book a callback: the number in E.164, the queue and agent checked, the customer found by number."""
    zone, region = await zone_of(db, tenant_id)
    due = as_utc(body.due_at, zone)
    check_due(due, now)
    number = normalise.phone(body.number, region)
    if number is None:
        raise errors.InvalidNumber(details={"number": body.number})
    await _queue(db, tenant_id, body.queue)
    agent_id = await _assignee(db, tenant_id, caller, body)
    customer_id = await _customer(db, tenant_id, body.customer_id, number)
    row = ScheduledCallback(tenant_id=tenant_id, number=number, queue=body.queue, due_at=due, note=body.note,
                            customer_id=customer_id, created_by=caller.user_id, agent_id=agent_id,
                            status=Status.SCHEDULED.value, created_at=now, updated_at=now)
    db.add(row)
    await db.flush()
    return row


async def _queue(db: AsyncSession, tenant_id: str, name: str) -> None:
    found = (await db.execute(select(Queue.id).where(Queue.tenant_id == tenant_id, Queue.name == name))).scalar()
    if found is None:
        raise errors.QueueNotFound(details={"queue": name})


async def _assignee(db: AsyncSession, tenant_id: str, caller: Caller, body: CallbackIn) -> str | None:
    """The agent who is to make the call (None: anyone in the queue)."""
    if body.assign == "queue":
        return None
    if body.assign == "me":
        if caller.agent_id is None:
            raise errors.NotAnAgent()
        agent_id = caller.agent_id
    else:
        agent_id = body.agent_id or ""
    agent = (await db.execute(select(Agent).where(Agent.tenant_id == tenant_id, Agent.id == agent_id))
             ).scalar_one_or_none()
    if agent is None:
        raise errors.AgentNotFound(details={"agent_id": agent_id})
    if body.queue not in (agent.queues or []):
        raise errors.AgentNotInQueue(details={"agent_id": agent_id, "queue": body.queue})
    return agent.id


async def _customer(db: AsyncSession, tenant_id: str, customer_id: str | None, number: str) -> str | None:
    if customer_id is None:
        return await customer_id_for_phone(db, tenant_id, number)
    found = (await db.execute(select(Customer.id).where(Customer.tenant_id == tenant_id, Customer.id == customer_id))
             ).scalar()
    if found is None:
        raise errors.CustomerNotFound(details={"customer_id": customer_id})
    return str(found)


def _visible(stmt: Select[Any], caller: Caller) -> Select[Any]:
    """Agents see the callbacks they booked, those assigned to them and those of their queues."""
    if caller.sees_all:
        return stmt
    return stmt.where(or_(ScheduledCallback.created_by == caller.user_id,
                          ScheduledCallback.agent_id == caller.agent_id,
                          ScheduledCallback.queue.in_(caller.queues)))


async def get(db: AsyncSession, *, tenant_id: str, caller: Caller, callback_id: str) -> ScheduledCallback:
    """One callback the caller may see (404 otherwise, also for another tenant's)."""
    stmt = _visible(select(ScheduledCallback).where(ScheduledCallback.tenant_id == tenant_id,
                                                    ScheduledCallback.id == callback_id), caller)
    row: ScheduledCallback | None = (await db.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise errors.CallbackNotFound(details={"id": callback_id})
    return row


async def get_all(db: AsyncSession, *, tenant_id: str, caller: Caller, statuses: Sequence[str] = (),
                  mine: bool = False, limit: int = 50, offset: int = 0) -> tuple[list[ScheduledCallback], int]:
    """The callbacks the caller may see, earliest due first; `mine`: booked by or assigned to them."""
    stmt = _visible(select(ScheduledCallback).where(ScheduledCallback.tenant_id == tenant_id), caller)
    if statuses:
        stmt = stmt.where(ScheduledCallback.status.in_(list(statuses)))
    if mine:
        stmt = stmt.where(or_(ScheduledCallback.created_by == caller.user_id,
                              ScheduledCallback.agent_id == (caller.agent_id or "")))
    total = (await db.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
    rows = (await db.execute(stmt.order_by(ScheduledCallback.due_at, ScheduledCallback.id)
                             .limit(limit).offset(offset))).scalars().all()
    return list(rows), int(total)


async def update_one(db: AsyncSession, *, tenant_id: str, caller: Caller, callback_id: str, patch: CallbackPatch,
                     now: datetime) -> ScheduledCallback:
    """Cancel or reschedule; only while scheduled (not being placed), and for agents only their own."""
    row = await get(db, tenant_id=tenant_id, caller=caller, callback_id=callback_id)
    if not caller.sees_all and caller.user_id != row.created_by and (caller.agent_id is None
                                                                      or caller.agent_id != row.agent_id):
        raise errors.NotYours()
    values: dict[str, Any] = {"updated_at": now}
    if patch.due_at is not None:
        zone, _ = await zone_of(db, tenant_id)
        values["due_at"] = as_utc(patch.due_at, zone)
        check_due(values["due_at"], now)
    if patch.note is not None:
        values["note"] = patch.note
    if patch.status == "cancelled":
        values["status"] = Status.CANCELLED.value
    if not may_change(Status(row.status)):
        raise errors.NotScheduled(details={"status": row.status})
    # the scheduler may claim it meanwhile: change it only if it is still scheduled
    done = await db.execute(update(ScheduledCallback).where(
        ScheduledCallback.id == row.id, ScheduledCallback.status == Status.SCHEDULED.value).values(**values))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise errors.NotScheduled(details={"status": "in_progress"})
    await db.refresh(row)
    return row


async def out(db: AsyncSession, tenant_id: str, rows: Sequence[ScheduledCallback]) -> list[CallbackOut]:
    """Rows as the API shows them: times in the tenant's zone, the customer's name."""
    zone, _ = await zone_of(db, tenant_id)
    ids = {r.customer_id for r in rows if r.customer_id}
    names = {i: n for i, n in (await db.execute(select(Customer.id, Customer.name).where(Customer.id.in_(ids)))).all()} \
        if ids else {}
    return [CallbackOut(
        id=r.id, number=r.number, queue=r.queue, due_at=_local(r.due_at, zone), timezone=zone.key,
        customer_id=r.customer_id, customer_name=names.get(r.customer_id or "", ""), note=r.note,
        created_by=r.created_by, agent_id=r.agent_id, status=r.status,  # type: ignore[arg-type]
        attempts=r.attempts, last_result=r.last_result, call_id=r.call_id, created_at=_local(r.created_at, zone),
    ) for r in rows]


def _local(value: datetime, zone: ZoneInfo) -> str:
    return value.replace(tzinfo=UTC).astimezone(zone).isoformat(timespec="seconds")

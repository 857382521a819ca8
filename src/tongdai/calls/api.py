"""Routes for call records: the CDRs (with their legs) and the queue log, read-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongdai.api.crud import ERROR_RESPONSES, OutModel, Page, Timestamp, get_scoped
from tongdai.api.deps import Allow, session, tenant_of
from tongdai.calls.models import CallLegRecord, CallRecord, QueueLogEntry
from tongdai.core.errors import NotFound
from tongdai.directory.models import Agent
from tongdai.iam.roles import Role
from tongdai.iam.security import Principal

#: May read call records: the staff who report on calls.
RECORD_READERS = frozenset({Role.PROVIDER_ADMIN, Role.TENANT_ADMIN, Role.SUPERVISOR, Role.QUALITY_ANALYST,
                            Role.WORKFORCE_PLANNER, Role.REPORTING_VIEWER})
read = Allow(RECORD_READERS)
#: agents too, but only the calls they took (their own history on the desktop)
read_own = Allow(RECORD_READERS | {Role.AGENT})


class LegOut(OutModel):
    role: str
    party: str
    answered: bool
    status: int


class CallRecordOut(OutModel):
    id: str
    call_id: str
    kind: str
    caller: str
    callee: str
    queue: str
    agent: str
    started_at: Timestamp
    answered_at: Timestamp | None
    ended_at: Timestamp
    ring_s: float
    wait_s: float
    talk_s: float
    disposition: str
    cause: str
    transferred: bool
    recording: str | None = None


class CallRecordDetail(CallRecordOut):
    legs: list[LegOut]


class QueueLogOut(OutModel):
    id: str
    at: Timestamp
    call_id: str
    queue: str
    event: str
    agent: str
    position: int | None
    wait_s: float | None
    detail: str


router = APIRouter(tags=["call records"], responses=ERROR_RESPONSES)


@router.get("/call-records", response_model=Page[CallRecordOut])
async def list_call_records(
    request: Request,
    since: datetime | None = Query(None, description="calls started at or after (RFC 3339)"),
    until: datetime | None = Query(None, description="calls started before (RFC 3339)"),
    caller: str | None = None, callee: str | None = None, disposition: str | None = None,
    queue: str | None = None,
    agent: str | None = Query(None, max_length=64, description="the agent's extension, or `me`: the calls they took "
                                                              "or placed (an agent sees only their own)"),
    limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10_000_000),
    p: Principal = Depends(read_own), db: AsyncSession = Depends(session, scope="function"),
) -> dict[str, Any]:
    """The tenant's CDRs, newest first (filters: time range, caller, callee, disposition, queue, agent)."""
    tenant_id = tenant_of(request, p)
    where = [CallRecord.tenant_id == tenant_id]
    if agent == "me" or p.role == Role.AGENT:
        agent = await _own_extension(db, tenant_id, p)
    if agent is not None:  # the calls the agent answered, and those they placed from their extension
        where.append(or_(CallRecord.agent == agent, CallRecord.caller == agent) if agent else CallRecord.agent == "")
    if since is not None:
        where.append(CallRecord.started_at >= _naive(since))
    if until is not None:
        where.append(CallRecord.started_at < _naive(until))
    for col, value in ((CallRecord.caller, caller), (CallRecord.callee, callee),
                       (CallRecord.disposition, disposition), (CallRecord.queue, queue)):
        if value is not None:
            where.append(col == value)
    total = (await db.execute(select(func.count()).select_from(CallRecord).where(*where))).scalar_one()
    rows = (await db.execute(select(CallRecord).where(*where).order_by(CallRecord.started_at.desc(), CallRecord.id)
                             .limit(limit).offset(offset))).scalars()
    return {"items": [CallRecordOut.model_validate(r) for r in rows], "total": total, "limit": limit, "offset": offset}


@router.get("/call-records/{record_id}", response_model=CallRecordDetail)
async def get_call_record(record_id: str, request: Request, p: Principal = Depends(read_own),
                          db: AsyncSession = Depends(session, scope="function")) -> Any:
    """One CDR with its legs (an agent: one of their own calls)."""
    tenant_id = tenant_of(request, p)
    row = await get_scoped(db, CallRecord, tenant_id, record_id)
    if p.role == Role.AGENT and await _own_extension(db, tenant_id, p) not in (row.agent, row.caller):
        raise NotFound(f"call record {record_id} not found")
    legs = (await db.execute(select(CallLegRecord).where(CallLegRecord.call_id == row.call_id)
                             .order_by(CallLegRecord.position))).scalars()
    return CallRecordDetail.model_validate({**CallRecordOut.model_validate(row).model_dump(),
                                            "legs": [LegOut.model_validate(leg) for leg in legs]})


@router.get("/queue-log", response_model=Page[QueueLogOut])
async def list_queue_log(
    request: Request, call_id: str | None = None, queue: str | None = None, event: str | None = None,
    limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10_000_000),
    p: Principal = Depends(read), db: AsyncSession = Depends(session, scope="function"),
) -> dict[str, Any]:
    """The tenant's queue log, newest first (filters: call, queue, event)."""
    where = [QueueLogEntry.tenant_id == tenant_of(request, p)]
    for col, value in ((QueueLogEntry.call_id, call_id), (QueueLogEntry.queue, queue), (QueueLogEntry.event, event)):
        if value is not None:
            where.append(col == value)
    total = (await db.execute(select(func.count()).select_from(QueueLogEntry).where(*where))).scalar_one()
    rows = (await db.execute(select(QueueLogEntry).where(*where).order_by(QueueLogEntry.at.desc(), QueueLogEntry.id)
                             .limit(limit).offset(offset))).scalars()
    return {"items": [QueueLogOut.model_validate(r) for r in rows], "total": total, "limit": limit, "offset": offset}


async def _own_extension(db: AsyncSession, tenant_id: str, p: Principal) -> str:
    """The extension of the agent logged in (a user who is no agent matches no call: "")."""
    extension = (await db.execute(select(Agent.extension).where(
        Agent.tenant_id == tenant_id, Agent.user_id == p.subject_id))).scalar_one_or_none()
    return str(extension or "")


def _naive(value: datetime) -> datetime:
    """Stored times are naive UTC."""
    from datetime import UTC

    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value

"""Routes of scheduled callbacks: book, list, read, cancel or reschedule. Thin: parse, call the service,
serialise. Agents book and see their own and their queues'; supervisors and admins all of the tenant."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from tongdai.api.crud import ERROR_RESPONSES, Page
from tongdai.api.deps import Allow, session, tenant_of, utcnow
from tongdai.callbacks import schemas as s
from tongdai.callbacks import service as svc
from tongdai.callbacks.models import ScheduledCallback
from tongdai.iam.roles import Role
from tongdai.iam.security import Principal

#: may book, read and change callbacks (agents within their own and their queues')
CALLBACK_USERS = frozenset({Role.PROVIDER_ADMIN, Role.TENANT_ADMIN, Role.SUPERVISOR, Role.AGENT})
use = Allow(CALLBACK_USERS)
router = APIRouter(tags=["callbacks"], responses=ERROR_RESPONSES)
_STATUSES = r"^(scheduled|in_progress|done|failed|cancelled)(,(scheduled|in_progress|done|failed|cancelled))*$"


async def _caller(db: AsyncSession, tenant_id: str, p: Principal) -> svc.Caller:
    return await svc.caller_of(db, tenant_id=tenant_id, user_id=p.subject_id if p.kind == "user" else None,
                               role=p.role)


def _poke(request: Request, row: ScheduledCallback) -> None:
    """Tell the scheduler (when this process runs one) about a new due time."""
    scheduler = getattr(request.app.state, "callbacks", None)
    if scheduler is not None:
        scheduler.poke(row.due_at)


@router.post("/callbacks", response_model=s.CallbackOut, status_code=201)
async def book_callback(body: s.CallbackIn, request: Request, p: Principal = Depends(use),
                        db: AsyncSession = Depends(session, scope="function")) -> s.CallbackOut:
    """Book a callback for a time (in the future, within a year) through a queue or one agent."""
    tenant_id = tenant_of(request, p)
    row = await svc.create(db, tenant_id=tenant_id, caller=await _caller(db, tenant_id, p), body=body, now=utcnow())
    _poke(request, row)
    return (await svc.out(db, tenant_id, [row]))[0]


@router.get("/callbacks", response_model=Page[s.CallbackOut])
async def list_callbacks(request: Request, status: str = Query("", max_length=100, pattern=f"({_STATUSES})?"),
                         mine: bool = Query(False, description="Only those I booked or that are mine to make"),
                         limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10_000_000),
                         p: Principal = Depends(use), db: AsyncSession = Depends(session, scope="function"),
                         ) -> dict[str, Any]:
    """The callbacks the caller may see, earliest due first (status: comma-separated filter)."""
    tenant_id = tenant_of(request, p)
    rows, total = await svc.get_all(db, tenant_id=tenant_id, caller=await _caller(db, tenant_id, p),
                                    statuses=[x for x in status.split(",") if x], mine=mine, limit=limit,
                                    offset=offset)
    return {"items": await svc.out(db, tenant_id, rows), "total": total, "limit": limit, "offset": offset}


@router.get("/callbacks/{callback_id}", response_model=s.CallbackOut)
async def read_callback(callback_id: str, request: Request, p: Principal = Depends(use),
                        db: AsyncSession = Depends(session, scope="function")) -> s.CallbackOut:
    """One callback, with its attempts and last result."""
    tenant_id = tenant_of(request, p)
    row = await svc.get(db, tenant_id=tenant_id, caller=await _caller(db, tenant_id, p), callback_id=callback_id)
    return (await svc.out(db, tenant_id, [row]))[0]


@router.patch("/callbacks/{callback_id}", response_model=s.CallbackOut)
async def change_callback(callback_id: str, body: s.CallbackPatch, request: Request, p: Principal = Depends(use),
                          db: AsyncSession = Depends(session, scope="function")) -> s.CallbackOut:
    """Cancel ({"status": "cancelled"}) or reschedule ({"due_at": ..., "note": ...}) a scheduled callback."""
    tenant_id = tenant_of(request, p)
    row = await svc.update_one(db, tenant_id=tenant_id, caller=await _caller(db, tenant_id, p),
                               callback_id=callback_id, patch=body, now=utcnow())
    _poke(request, row)
    return (await svc.out(db, tenant_id, [row]))[0]

"""Routes for call flows: upload (YAML or JSON, validated), validate without saving, list, read,
activate a version, archive. Admins manage flows; supervisors read them."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tongdai.api.crud import ERROR_RESPONSES, OutModel, Page, Timestamp, get_scoped
from tongdai.api.deps import Allow, context, session, tenant_of
from tongdai.directory.events import DirectoryChanged
from tongdai.iam import audit
from tongdai.iam.roles import ADMINS, SUPERVISORS
from tongdai.iam.security import Principal
from tongdai.ivr.models import CallFlowVersion
from tongdai.ivr.validate import document as stored_document
from tongdai.ivr.validate import load, validate

router = APIRouter(prefix="/call-flows", tags=["call flows"], responses=ERROR_RESPONSES)
read, write = Allow(SUPERVISORS), Allow(ADMINS)


class FlowIn(BaseModel):
    """A flow document: YAML or JSON text, or the mapping itself."""

    model_config = ConfigDict(extra="forbid")
    document: str | dict[str, Any] = Field(..., description="The flow (see docs/call-flows.md).")


class FlowOut(OutModel):
    id: str
    name: str
    version: int
    status: str
    created_at: Timestamp
    document: dict[str, Any]


class Checked(BaseModel):
    valid: bool
    #: errors: each with the node and field it is at ("nodes.menu.choices.3: unknown target 'salse'")
    problems: list[str]
    #: what does not stop the flow (a node never reached)
    warnings: list[str] = []


@router.post("/validate", response_model=Checked)
async def validate_flow(body: FlowIn, p: Principal = Depends(read)) -> dict[str, Any]:
    """Check a flow without saving it: every problem with the node and field it is at."""
    _, report = validate(body.document)
    return {"valid": report.valid, "problems": [str(e) for e in report.errors],
            "warnings": [str(w) for w in report.warnings]}


@router.post("", response_model=FlowOut, status_code=201)
async def create_flow(body: FlowIn, request: Request, p: Principal = Depends(write),
                      db: AsyncSession = Depends(session, scope="function")) -> Any:
    """Store a new version of a flow (a draft; 422 `flow_invalid` with the problems when it is not valid)."""
    tenant_id = tenant_of(request, p)
    flow = load(body.document)
    last = (await db.execute(select(func.max(CallFlowVersion.version)).where(
        CallFlowVersion.tenant_id == tenant_id, CallFlowVersion.name == flow.name))).scalar_one_or_none()
    row = CallFlowVersion(tenant_id=tenant_id, name=flow.name, version=(last or 0) + 1, status="draft",
                          document=stored_document(flow), created_by=p.subject_id or "")
    db.add(row)
    await db.flush()
    audit.record(db, action="call_flow.created", principal=p, tenant_id=tenant_id, target_type="call_flow",
                 target_id=row.id, details={"name": row.name, "version": row.version})
    return row


@router.get("", response_model=Page[FlowOut])
async def list_flows(request: Request, name: str | None = None, limit: int = Query(50, ge=1, le=500),
                     offset: int = Query(0, ge=0, le=10_000_000), p: Principal = Depends(read),
                     db: AsyncSession = Depends(session, scope="function")) -> dict[str, Any]:
    """The tenant's flow versions, newest first (filter: name)."""
    where = [CallFlowVersion.tenant_id == tenant_of(request, p)]
    if name is not None:
        where.append(CallFlowVersion.name == name)
    total = (await db.execute(select(func.count()).select_from(CallFlowVersion).where(*where))).scalar_one()
    rows = (await db.execute(select(CallFlowVersion).where(*where).order_by(
        CallFlowVersion.created_at.desc(), CallFlowVersion.id).limit(limit).offset(offset))).scalars()
    return {"items": [FlowOut.model_validate(r) for r in rows], "total": total, "limit": limit, "offset": offset}


@router.get("/{flow_id}", response_model=FlowOut)
async def get_flow(flow_id: str, request: Request, p: Principal = Depends(read),
                   db: AsyncSession = Depends(session, scope="function")) -> Any:
    """One flow version."""
    return await get_scoped(db, CallFlowVersion, tenant_of(request, p), flow_id)


@router.post("/{flow_id}/activate", response_model=FlowOut)
async def activate_flow(flow_id: str, request: Request, p: Principal = Depends(write),
                        db: AsyncSession = Depends(session, scope="function")) -> Any:
    """Make this version the one callers hear (the previously active version of that name is archived)."""
    tenant_id = tenant_of(request, p)
    row = await get_scoped(db, CallFlowVersion, tenant_id, flow_id)
    await db.execute(update(CallFlowVersion).where(
        CallFlowVersion.tenant_id == tenant_id, CallFlowVersion.name == row.name,
        CallFlowVersion.status == "active").values(status="archived"))
    row.status = "active"
    audit.record(db, action="call_flow.activated", principal=p, tenant_id=tenant_id, target_type="call_flow",
                 target_id=row.id, details={"name": row.name, "version": row.version})
    await db.commit()
    await context(request).bus.publish(DirectoryChanged(tenant_id=tenant_id, at=time.time(), resource="call_flows",
                                                        object_id=row.id, op="activated"))
    return row


@router.post("/{flow_id}/archive", response_model=FlowOut)
async def archive_flow(flow_id: str, request: Request, p: Principal = Depends(write),
                       db: AsyncSession = Depends(session, scope="function")) -> Any:
    """Retire a version (an archived active version leaves its numbers on the built-in flow, if any)."""
    tenant_id = tenant_of(request, p)
    row = await get_scoped(db, CallFlowVersion, tenant_id, flow_id)
    row.status = "archived"
    await db.commit()
    await context(request).bus.publish(DirectoryChanged(tenant_id=tenant_id, at=time.time(), resource="call_flows",
                                                        object_id=row.id, op="archived"))
    return row

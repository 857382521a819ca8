"""GET /api/v1/softphone: what the agent desktop's browser phone needs to register the caller's own
extension over SIP over WebSocket (the same digest account a desk phone of that extension uses)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tongdai.api.crud import ERROR_RESPONSES
from tongdai.api.deps import Allow, session, tenant_of
from tongdai.core.errors import NotFound
from tongdai.directory.models import Agent
from tongdai.iam.models import Tenant
from tongdai.iam.roles import Role
from tongdai.iam.security import Principal

#: where the SIP WebSocket is served (by the HTTP server: ws://host:port/sip, wss:// with TLS)
WS_PATH = "/sip"

router = APIRouter(tags=["agent desktop"])


class SoftphoneOut(BaseModel):
    agent_id: str
    user_id: str
    """The user account the agent logs in with (whose `agent.call` events follow a desk phone's calls)."""
    name: str
    extension: str
    sip_uri: str
    """The address of record: the extension at the tenant's domain (its slug), as a desk phone uses it."""
    sip_password: str
    ws_path: str
    """The path of the SIP WebSocket on this server (RFC 7118, subprotocol "sip")."""


@router.get("/softphone", response_model=SoftphoneOut, responses=ERROR_RESPONSES)
async def softphone(request: Request, p: Principal = Depends(Allow({Role.AGENT, Role.SUPERVISOR})),
                    db: AsyncSession = Depends(session, scope="function")) -> dict[str, Any]:
    """The caller's own SIP account for the browser phone (404 when the user is no active agent with one)."""
    tenant_id = tenant_of(request, p)
    row = (await db.execute(select(Agent, Tenant.slug).join(Tenant, Tenant.id == Agent.tenant_id)
                            .where(Agent.tenant_id == tenant_id, Agent.user_id == p.subject_id,
                                   Agent.active.is_(True)))).first()
    if row is None or not row[0].sip_password:
        raise NotFound("no agent with a SIP account for this user", error_id="no_softphone")
    agent, slug = row
    return {"agent_id": agent.id, "user_id": p.subject_id, "name": agent.name, "extension": agent.extension,
            "sip_uri": f"sip:{agent.extension}@{slug}", "sip_password": agent.sip_password, "ws_path": WS_PATH}

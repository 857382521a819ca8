"""Routes of the wallboard: GET /api/v1/wallboard (the snapshot) and the WebSocket /api/v1/wallboard
(a snapshot, then coalesced deltas). Supervisors and admins of the tenant; a provider admin names the
tenant (X-Tenant-Id header, or ?tenant= on the socket)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, WebSocket, WebSocketDisconnect
from sqlalchemy.ext.asyncio import AsyncSession

from tongdai.api.crud import ERROR_RESPONSES
from tongdai.api.deps import Allow, session, tenant_of
from tongdai.api.state import ApiContext
from tongdai.core.errors import TongdaiError
from tongdai.iam.roles import SUPERVISORS
from tongdai.iam.security import Principal
from tongdai.routing.service import RoutingService
from tongdai.wallboard.service import Client, WallboardService

VIEWERS = SUPERVISORS


def service(app: FastAPI) -> WallboardService:
    """The app's wallboard service (the composition root builds it; tests of the API alone get one here)."""
    svc: WallboardService | None = getattr(app.state, "wallboard", None)
    if svc is None:
        ctx: ApiContext = app.state.ctx
        routing: RoutingService | None = getattr(app.state, "routing", None)
        if routing is None:
            routing = app.state.routing = RoutingService(
                ctx.db, ctx.bus, offer_timeout_s=ctx.settings.routing.offer_timeout_s)
        svc = app.state.wallboard = WallboardService(ctx.db, ctx.bus, routing)
    return svc


def router() -> APIRouter:
    r = APIRouter(tags=["wallboard"], responses=ERROR_RESPONSES)

    @r.get("/wallboard", response_model=dict[str, Any])
    async def snapshot(request: Request, p: Principal = Depends(Allow(VIEWERS)),
                       db: AsyncSession = Depends(session, scope="function")) -> dict[str, Any]:
        """Every queue's live figures (waiting, longest wait, service level and ASA today, abandoned, agents
        by state), every agent's state, time in it and current call, and the alerts."""
        svc, tenant_id = service(request.app), tenant_of(request, p)
        board = await svc.board(db, tenant_id)
        return board.snapshot(svc.clock())

    @r.websocket("/wallboard")
    async def stream(ws: WebSocket) -> None:
        """A full snapshot, then deltas (changed queues and agents, alerts) at most ~10 a second. Authenticate
        with ?token=... or an Authorization header; close codes 4401 (token), 4403 (role), 4400 (tenant)."""
        tenant_id = await _admit(ws)
        if tenant_id is None:
            return
        svc = service(ws.app)
        ctx: ApiContext = ws.app.state.ctx
        async with ctx.db.session() as db:
            await svc.board(db, tenant_id)
        await ws.accept()
        client = svc.attach(tenant_id)
        reader = asyncio.create_task(_drain(ws))
        try:
            await ws.send_text(svc.snapshot_wire(tenant_id))
            await _pump(ws, svc, client, reader)
        except (WebSocketDisconnect, RuntimeError, TimeoutError):
            pass
        finally:
            svc.detach(client)
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader

    return r


async def _admit(ws: WebSocket) -> str | None:
    """The tenant the socket may watch, or None after closing it with the reason."""
    token = ws.query_params.get("token") or ws.headers.get("authorization", "").removeprefix("Bearer ").strip()
    ctx: ApiContext = ws.app.state.ctx
    try:
        p = ctx.tokens.check(token)
    except TongdaiError as exc:
        await _refuse(ws, 4401, exc.error_id)
        return None
    tenant_id = p.tenant_id or ws.query_params.get("tenant")
    if p.role not in VIEWERS or not tenant_id:
        await _refuse(ws, 4403 if p.role not in VIEWERS else 4400,
                      "forbidden" if p.role not in VIEWERS else "tenant_required")
        return None
    return tenant_id


async def _refuse(ws: WebSocket, code: int, reason: str) -> None:
    await ws.accept()  # then close with a reason the browser can read
    await ws.close(code=code, reason=reason)


async def _pump(ws: WebSocket, svc: WallboardService, client: Client, reader: asyncio.Task[None]) -> None:
    """Send what the mailbox holds whenever it is woken, until the client goes away (the reader ending
    wakes it too). No task per frame: this runs ~10 times a second for every screen."""
    reader.add_done_callback(lambda _: client.wake.set())
    while True:
        await client.wake.wait()
        if reader.done():
            return
        delta, resync, oldest = client.take()
        wire = svc.catch_up_wire(client, oldest) if resync else delta
        if wire is not None:
            async with asyncio.timeout(svc.send_timeout_s):
                await ws.send_text(wire)


async def _drain(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice when it goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return


__all__ = ["router", "service"]

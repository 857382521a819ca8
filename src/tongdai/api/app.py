"""The FastAPI application: routers under /api/v1, health, metrics, one error handler."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

import tongdai
from tongdai.api import errors
from tongdai.api import events as event_stream
from tongdai.api.middleware import BodyLimit, RequestMetrics
from tongdai.api.state import ApiContext
from tongdai.callbacks import api as callbacks_api
from tongdai.calls import api as calls_api
from tongdai.calls import conference as calls_conference
from tongdai.calls import recording as calls_recording
from tongdai.core.metrics import Metrics
from tongdai.crm import api as crm_api
from tongdai.directory import api as directory_api
from tongdai.iam import api as iam_api
from tongdai.ivr import api as ivr_api
from tongdai.routing import api as routing_api
from tongdai.sip import softphone as softphone_api
from tongdai.wallboard import api as wallboard_api
from tongdai.web import mount as mount_screens

API_PREFIX = "/api/v1"


def create_app(ctx: ApiContext, metrics: Metrics, extra_routers: list[APIRouter] | None = None) -> FastAPI:
    """Build the HTTP application; `extra_routers` come from other domains (mounted under /api/v1)."""
    app = FastAPI(
        title="tongdai",
        version=tongdai.__version__,
        summary="Contact-centre platform API",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx
    errors.install(app)
    hub = event_stream.EventHub(ctx.bus, metrics)
    app.state.hub = hub

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(iam_api.router)
    api.include_router(directory_api.router())
    api.include_router(event_stream.router(hub, ctx.tokens))
    api.include_router(routing_api.router())
    api.include_router(wallboard_api.router())
    api.include_router(calls_api.router)
    api.include_router(calls_recording.router)
    api.include_router(calls_conference.router)
    api.include_router(ivr_api.router)
    api.include_router(crm_api.router)
    api.include_router(callbacks_api.router)
    api.include_router(softphone_api.router)
    for r in extra_routers or []:
        api.include_router(r)
    app.include_router(api)

    @app.get("/healthz", tags=["health"], include_in_schema=True)
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"description": "not ready"}})
    async def readyz(request: Request) -> Any:
        """Every part of tongdai is ready (database reachable, services started)."""
        checks: dict[str, bool] = {"database": await ctx.db.ping()}
        for name, check in ctx.readiness.items():
            checks[name] = bool(check())
        ready = all(checks.values())
        return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["health"], response_class=Response)
    async def prometheus_metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    mount_screens(app)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.add_middleware(BodyLimit, limit=ctx.settings.http.max_body_bytes)
    return app


def api_routes(app: FastAPI) -> Iterator[tuple[str, str, APIRoute]]:
    """Every HTTP route as (method, full path, route), looking inside included routers."""
    for route in app.routes:
        if isinstance(route, APIRoute):
            yield from ((m, route.path, route) for m in sorted(route.methods))
        elif hasattr(route, "effective_route_contexts"):
            for ctx in route.effective_route_contexts():
                original = ctx.original_route
                if isinstance(original, APIRoute):
                    yield from ((m, ctx.path, original) for m in sorted(original.methods))

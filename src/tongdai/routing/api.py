"""Routes of the routing engine under /api/v1/routing: tasks, offers, agent activity, explain, queues,
the workflow and expression checks. Ids travel in bodies and query strings (no path parameters)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from tongdai.api.crud import ERROR_RESPONSES
from tongdai.api.deps import Allow, context, session, tenant_of
from tongdai.core.db import new_id
from tongdai.core.errors import Conflict, Forbidden
from tongdai.iam.roles import ADMINS, DIRECTORY_READERS, SUPERVISORS, Role
from tongdai.iam.security import Principal
from tongdai.routing import store
from tongdai.routing.engine import Engine
from tongdai.routing.events import RoutingEvent
from tongdai.routing.expressions import FILTER_SCOPES, QUEUE_SCOPES, TARGET_SCOPES, compile_expression
from tongdai.routing.model import Activity, Task
from tongdai.routing.service import RoutingService
from tongdai.routing.workflow import load_workflow

WRITERS = SUPERVISORS
OPERATORS = SUPERVISORS | {Role.AGENT}
ANALYSTS = SUPERVISORS | {Role.REPORTING_VIEWER, Role.QUALITY_ANALYST, Role.WORKFORCE_PLANNER}

Channel = Literal["voice", "chat", "email", "sms", "callback"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskIn(_Body):
    id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
                           description="Your id for the task (default: a new one).")
    channel: Channel = "chat"
    attributes: dict[str, Any] = Field(default_factory=dict, description="Matched by workflow filters; "
                                       "`queue` names the queue when no workflow filter applies.")
    priority: int = Field(0, ge=-100, le=100)
    timeout_s: float | None = Field(None, gt=0, le=30 * 86400, description="Cancel if not assigned by then.")


class TaskOut(BaseModel):
    id: str
    channel: str
    state: str
    priority: int
    attributes: dict[str, Any]
    queue: str | None
    step: int
    worker_id: str | None
    reservation_id: str | None
    wait_s: float | None
    end_reason: str | None


class RoutingResult(BaseModel):
    task: TaskOut | None = None
    events: list[dict[str, Any]]


class TaskRef(_Body):
    task_id: str = Field(..., min_length=1, max_length=64)


class CancelIn(TaskRef):
    reason: str = Field("canceled", min_length=1, max_length=64)
    abandoned: bool = False


class OfferIn(_Body):
    reservation_id: str = Field(..., min_length=1, max_length=64)
    worker_id: str | None = Field(None, max_length=64, description="The agent answering (ring-all offers).")


class RejectIn(OfferIn):
    not_ready: bool = False


class ActivityIn(_Body):
    agent_id: str = Field(..., min_length=1, max_length=64)
    activity: Literal["available", "not_ready", "offline"]


class ExpressionIn(_Body):
    expression: str = Field(..., max_length=1000)
    kind: Literal["queue", "target", "filter"] = "queue"


class ExpressionOut(BaseModel):
    valid: bool
    skill: str | None = None
    uses_task: bool = False


class TargetDef(_Body):
    queue: str = Field(..., min_length=1, max_length=64)
    expression: str = Field("", max_length=1000)
    priority: int | None = Field(None, ge=-100, le=100)
    timeout_s: float | None = Field(None, gt=0, le=30 * 86400)
    skip_if_no_one_available: bool = False
    order_by: Literal["longest_idle", "least_occupied", "most_skilled", "least_skilled", "round_robin"] | None = None


class FilterDef(_Body):
    name: str = Field(..., min_length=1, max_length=64)
    expression: str = Field("", max_length=1000)
    targets: list[TargetDef] = Field(..., min_length=1, max_length=20)


class WorkflowDef(_Body):
    """Filters tried in order, each with a chain of targets; `default` for tasks matching none."""

    filters: list[FilterDef] = Field(default_factory=list, max_length=100)
    default: list[TargetDef] = Field(default_factory=list, max_length=20)
    on_exhausted: Literal["voicemail", "callback", "disconnect"] = "voicemail"


class WorkflowBody(_Body):
    definition: WorkflowDef


def _service(request: Request) -> RoutingService:
    svc: RoutingService | None = getattr(request.app.state, "routing", None)
    if svc is None:
        ctx = context(request)
        svc = RoutingService(ctx.db, ctx.bus, offer_timeout_s=ctx.settings.routing.offer_timeout_s)
        request.app.state.routing = svc
    return svc


def _events(events: list[RoutingEvent]) -> list[dict[str, Any]]:
    return [e.to_dict() for e in events]


def _own_agent(p: Principal, e: Engine, worker_ids: list[str]) -> None:
    """Agents act only for themselves."""
    if p.role != Role.AGENT:
        return
    for wid in worker_ids:
        w = e.workers.get(wid)
        if w is None or w.user_id != p.subject_id:
            raise Forbidden("agents act only on their own offers and activity", details={"agent_id": wid})


def router() -> APIRouter:
    r = APIRouter(prefix="/routing", tags=["routing"], responses=ERROR_RESPONSES)

    @r.post("/tasks", response_model=RoutingResult, status_code=201)
    async def create_task(body: TaskIn, request: Request, p: Principal = Depends(Allow(WRITERS)),
                          db: AsyncSession = Depends(session, scope="function")) -> dict[str, Any]:
        """Route a new task (chat, e-mail, SMS, callback, or a voice task for tests); stored unless voice."""
        tenant_id, svc = tenant_of(request, p), _service(request)
        e = await svc.engine(db, tenant_id)
        tid = body.id or new_id()
        if tid in e.tasks or tid in e.ended or await db.get(store.RoutingTask, tid) is not None:
            raise Conflict("a task with this id exists", error_id="task_exists")
        task = Task(tid, channel=body.channel, attributes=body.attributes, priority=body.priority,
                    timeout_s=body.timeout_s)
        events = await svc.submit(db, tenant_id, task)
        return {"task": svc.task_view(e, task, svc.clock()), "events": _events(events)}

    @r.get("/tasks", response_model=list[TaskOut])
    async def list_tasks(request: Request, queue: str | None = Query(None, max_length=64),
                         task_id: str | None = Query(None, max_length=64), p: Principal = Depends(Allow(ANALYSTS)),
                         db: AsyncSession = Depends(session, scope="function")) -> list[dict[str, Any]]:
        """Live tasks (or one task, live or recently ended, with `task_id`), optionally of one queue."""
        svc = _service(request)
        e = await svc.engine(db, tenant_of(request, p))
        now = svc.clock()
        if task_id is not None:
            return [svc.task_view(e, e.task(task_id), now)]
        return [svc.task_view(e, t, now) for t in e.tasks.values() if queue is None or t.queue_id == queue]

    @r.get("/explain", response_model=dict[str, Any])
    async def explain(request: Request, task_id: str = Query(..., max_length=64),
                      p: Principal = Depends(Allow(ANALYSTS)), db: AsyncSession = Depends(session, scope="function")) -> Any:
        """Why a task went (or did not go) to each agent: decisions with candidates, reasons and scores."""
        svc = _service(request)
        e = await svc.engine(db, tenant_of(request, p))
        return e.explain(task_id, svc.clock())

    @r.post("/tasks/complete", response_model=RoutingResult)
    async def complete_task(body: TaskRef, request: Request, p: Principal = Depends(Allow(OPERATORS)),
                            db: AsyncSession = Depends(session, scope="function")) -> dict[str, Any]:
        """The conversation ended: wrap-up (the queue's) or completed."""
        tenant_id, svc = tenant_of(request, p), _service(request)
        e = await svc.engine(db, tenant_id)
        _own_agent(p, e, [e.task(body.task_id).worker_id or ""])
        return {"events": _events(await svc.call(db, tenant_id, lambda eng, now: eng.complete(body.task_id, now)))}

    @r.post("/tasks/wrap-up-done", response_model=RoutingResult)
    async def wrap_up_done(body: TaskRef, request: Request, p: Principal = Depends(Allow(OPERATORS)),
                           db: AsyncSession = Depends(session, scope="function")) -> dict[str, Any]:
        """The agent finished wrap-up."""
        tenant_id, svc = tenant_of(request, p), _service(request)
        e = await svc.engine(db, tenant_id)
        _own_agent(p, e, [e.task(body.task_id).worker_id or ""])
        return {"events": _events(await svc.call(db, tenant_id, lambda eng, now: eng.wrap_up_done(body.task_id, now)))}

    @r.post("/tasks/cancel", response_model=RoutingResult)
    async def cancel_task(body: CancelIn, request: Request, p: Principal = Depends(Allow(WRITERS)),
                          db: AsyncSession = Depends(session, scope="function")) -> dict[str, Any]:
        """End a task without (more) service (chat closed by the customer, e-mail withdrawn, ...)."""
        tenant_id, svc = tenant_of(request, p), _service(request)
        events = await svc.call(db, tenant_id, lambda eng, now: eng.cancel(
            body.task_id, now, reason=body.reason, abandoned=body.abandoned))
        return {"events": _events(events)}

    @r.post("/reservations/accept", response_model=RoutingResult)
    async def accept(body: OfferIn, request: Request, p: Principal = Depends(Allow(OPERATORS)),
                     db: AsyncSession = Depends(session, scope="function")) -> dict[str, Any]:
        """An agent accepts an offer."""
        tenant_id, svc = tenant_of(request, p), _service(request)
        e = await svc.engine(db, tenant_id)
        res = e.reservation(body.reservation_id)
        _own_agent(p, e, [body.worker_id or res.worker_ids[0]])
        events = await svc.call(db, tenant_id, lambda eng, now: eng.accept(body.reservation_id, now, body.worker_id))
        return {"events": _events(events)}

    @r.post("/reservations/reject", response_model=RoutingResult)
    async def reject(body: RejectIn, request: Request, p: Principal = Depends(Allow(OPERATORS)),
                     db: AsyncSession = Depends(session, scope="function")) -> dict[str, Any]:
        """An agent declines an offer; the task goes back to its queue."""
        tenant_id, svc = tenant_of(request, p), _service(request)
        e = await svc.engine(db, tenant_id)
        res = e.reservation(body.reservation_id)
        _own_agent(p, e, [body.worker_id or res.worker_ids[0]])
        events = await svc.call(db, tenant_id, lambda eng, now: eng.reject(
            body.reservation_id, body.worker_id, now, not_ready=body.not_ready))
        return {"events": _events(events)}

    @r.post("/agents/activity", response_model=RoutingResult)
    async def set_activity(body: ActivityIn, request: Request, p: Principal = Depends(Allow(OPERATORS)),
                           db: AsyncSession = Depends(session, scope="function")) -> dict[str, Any]:
        """Log an agent in (available), on a break (not_ready) or out (offline)."""
        tenant_id, svc = tenant_of(request, p), _service(request)
        e = await svc.engine(db, tenant_id)
        _own_agent(p, e, [body.agent_id])
        events = await svc.call(db, tenant_id, lambda eng, now: eng.set_activity(
            body.agent_id, Activity(body.activity), now))
        return {"events": _events(events)}

    @r.get("/agents", response_model=list[dict[str, Any]])
    async def agents(request: Request, p: Principal = Depends(Allow(DIRECTORY_READERS)),
                     db: AsyncSession = Depends(session, scope="function")) -> list[dict[str, Any]]:
        """Each agent's routing state (agents see only their own)."""
        svc = _service(request)
        e = await svc.engine(db, tenant_of(request, p))
        mine = [w for w in e.workers.values() if p.role != Role.AGENT or w.user_id == p.subject_id]
        return [e.agent_state(w.id) for w in mine]

    @r.get("/queues", response_model=list[dict[str, Any]])
    async def queues(request: Request, p: Principal = Depends(Allow(DIRECTORY_READERS)),
                     db: AsyncSession = Depends(session, scope="function")) -> list[dict[str, Any]]:
        """Each queue now: waiting tasks, oldest wait, members, free members; queues skipped for a bad target."""
        tenant_id, svc = tenant_of(request, p), _service(request)
        e = await svc.engine(db, tenant_id)
        now = svc.clock()
        out = [e.queue_stats(q, now) | {"strategy": e.queues[q].strategy.value} for q in sorted(e.queues)]
        out += [{"queue_id": name, "error": msg} for name, msg in svc.skipped_queues.get(tenant_id, {}).items()]
        return out

    @r.get("/workflow", response_model=WorkflowBody)
    async def get_workflow(request: Request, p: Principal = Depends(Allow(ANALYSTS)),
                           db: AsyncSession = Depends(session, scope="function")) -> dict[str, Any]:
        """The tenant's workflow (empty: tasks name their queue in `attributes.queue`)."""
        return {"definition": await store.workflow_definition(db, tenant_of(request, p)) or WorkflowDef()}

    @r.put("/workflow", response_model=WorkflowBody)
    async def put_workflow(body: WorkflowBody, request: Request, p: Principal = Depends(Allow(ADMINS)),
                           db: AsyncSession = Depends(session, scope="function")) -> dict[str, Any]:
        """Replace the workflow; every expression is checked (errors give the position) and every queue must exist."""
        tenant_id, svc = tenant_of(request, p), _service(request)
        e = await svc.engine(db, tenant_id)
        definition = body.definition.model_dump(mode="json")
        wf = load_workflow(definition, known_queues=list(e.queues))
        await store.save_workflow(db, tenant_id, definition)
        e.set_workflow(wf)
        return {"definition": definition}

    @r.post("/expressions/check", response_model=ExpressionOut)
    async def check_expression(body: ExpressionIn, p: Principal = Depends(Allow(WRITERS))) -> dict[str, Any]:
        """Parse and type-check an expression: queue targets, workflow target expressions or filters."""
        scopes = {"queue": QUEUE_SCOPES, "target": TARGET_SCOPES, "filter": FILTER_SCOPES}[body.kind]
        expr = compile_expression(body.expression, scopes)
        return {"valid": True, "skill": expr.first_skill() if body.kind != "filter" else None,
                "uses_task": expr.uses_task()}

    return r

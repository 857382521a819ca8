"""The thin asyncio shell around the routing engine: one engine per tenant, built from the directory and
the stored tasks, its timers armed on the event loop, its events stored and published on the bus."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tongdai.core.db import Database
from tongdai.core.events import EventBus
from tongdai.directory import models as dm
from tongdai.directory.events import DirectoryChanged
from tongdai.routing import store
from tongdai.routing.engine import Engine
from tongdai.routing.events import RoutingEvent
from tongdai.routing.expressions import ExpressionError
from tongdai.routing.model import Activity, Queue, Task, TaskState, Worker
from tongdai.routing.strategies import Strategy
from tongdai.routing.workflow import load_workflow

log = logging.getLogger(__name__)
Clock = Callable[[], float]
#: Queue settings a directory change updates on the live queue (the rest rebuild its membership).
_LIVE_QUEUE_SETTINGS = ("service_level_s", "service_level_target", "max_size", "max_wait_s", "wrap_up_s",
                        "offer_timeout_s")


def worker_of(agent: dm.Agent) -> Worker:
    """A directory agent as a routing worker (skills, languages, site, team, capacity per channel)."""
    raw = dict(agent.capacity or {})
    total = raw.pop("total", None)
    capacity = {str(k): int(v) for k, v in raw.items() if isinstance(v, int)} or {"voice": 1}
    attrs = {"skills": dict(agent.skills or {}), "languages": list(agent.languages or []),
             "site": agent.site_id, "team": agent.team_id, "name": agent.name, "extension": agent.extension,
             "queues": list(agent.queues or []), "remote_number": agent.remote_number or ""}
    return Worker(agent.id, attrs, capacity=capacity,
                  total_capacity=int(total) if isinstance(total, int) else sum(capacity.values()),
                  tenant_id=agent.tenant_id, user_id=agent.user_id)


def queue_of(row: dm.Queue, offer_timeout_s: float) -> Queue:
    """A directory queue as a routing queue (named by its name); raises ExpressionError on a bad target."""
    strategy = row.strategy if row.strategy in set(Strategy) else Strategy.LONGEST_IDLE
    return Queue(row.name, target=row.target_expression or "", strategy=Strategy(strategy),
                 channels=tuple(row.channels or ()), service_level_s=float(row.service_level_threshold_s),
                 service_level_target=row.service_level_target_pct / 100, max_size=row.max_size,
                 max_wait_s=float(row.max_wait_s), wrap_up_s=float(row.wrap_up_s), priority=row.priority,
                 offer_timeout_s=offer_timeout_s, tenant_id=row.tenant_id)


class RoutingService:
    """Engines per tenant, loaded on first use (or at start for tenants with stored live tasks); every
    call returns the engine's events. Plugs into the composition root: `name`, `start`, `stop`, `ready`."""

    name = "routing"

    def __init__(self, db: Database, bus: EventBus, *, offer_timeout_s: float = 20.0,
                 clock: Clock = time.time) -> None:
        self.db = db
        self.bus = bus
        self.offer_timeout_s = offer_timeout_s
        self.clock = clock
        self.engines: dict[str, Engine] = {}
        self.skipped_queues: dict[str, dict[str, str]] = {}
        self._durable: dict[str, set[str]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._started = False
        bus.subscribe(DirectoryChanged, self._directory_changed)

    async def start(self) -> None:
        """Rebuild the engines of tenants with live stored tasks, so their timers run from the start."""
        async with self.db.session() as session:
            tenants = (await session.execute(select(store.RoutingTask.tenant_id).where(
                store.RoutingTask.state.in_(store.LIVE)).distinct())).scalars().all()
            for tenant_id in tenants:
                await self.engine(session, tenant_id)
        self._started = True

    def ready(self) -> bool:
        return self._started

    # -- engines

    async def engine(self, session: AsyncSession, tenant_id: str) -> Engine:
        """The tenant's engine, built from the directory and the stored tasks on first use."""
        e = self.engines.get(tenant_id)
        if e is not None:
            return e
        lock = self._locks.setdefault(tenant_id, asyncio.Lock())
        async with lock:
            if tenant_id not in self.engines:
                self.engines[tenant_id] = await self._build(session, tenant_id)
                self._arm(tenant_id)  # restored tasks' timers: `_build` ran before the engine was known
        return self.engines[tenant_id]

    async def _build(self, session: AsyncSession, tenant_id: str) -> Engine:
        now = self.clock()
        definition = await store.workflow_definition(session, tenant_id)
        e = Engine(workflow=load_workflow(definition) if definition else None, tenant_id=tenant_id)
        await self._load_directory(session, tenant_id, e, now)
        self._durable[tenant_id] = set()
        restored = await self._restore_tasks(session, tenant_id, e, now)
        log.info("routing engine built", extra={"tenant_id": tenant_id, "workers": len(e.workers),
                                                "queues": len(e.queues), "restored_tasks": restored})
        return e

    async def _load_directory(self, session: AsyncSession, tenant_id: str, e: Engine, now: float) -> None:
        skipped: dict[str, str] = {}
        for row in (await session.execute(select(dm.Queue).where(dm.Queue.tenant_id == tenant_id))).scalars():
            try:
                e.add_queue(queue_of(row, self.offer_timeout_s), now)
            except ExpressionError as exc:
                skipped[row.name] = exc.message
                log.warning("queue %s skipped: %s", row.name, exc.message)
        self.skipped_queues[tenant_id] = skipped
        agents = select(dm.Agent).where(dm.Agent.tenant_id == tenant_id, dm.Agent.active.is_(True))
        for agent in (await session.execute(agents)).scalars():
            e.add_worker(worker_of(agent), now)

    async def _restore_tasks(self, session: AsyncSession, tenant_id: str, e: Engine, now: float) -> int:
        rows = await store.live_tasks(session, tenant_id)
        for row in rows:
            task = store.task_of(row)
            self._durable[tenant_id].add(task.id)
            if row.state in ("assigned", "wrapping") and row.worker_id in e.workers:
                events = e.restore_assignment(task, row.worker_id, now, wrapping=row.state == "wrapping")
            else:
                events = e.submit(task, now)
            await store.record(session, events, self._durable[tenant_id])
        self._arm(tenant_id)
        return len(rows)

    # -- calls

    async def call(self, session: AsyncSession, tenant_id: str, fn: Callable[[Engine, float], list[RoutingEvent]]
                   ) -> list[RoutingEvent]:
        """Run one engine call at the current time; store and publish what it caused."""
        e = await self.engine(session, tenant_id)
        events = fn(e, self.clock())
        await store.record(session, events, self._durable[tenant_id])
        self._arm(tenant_id)
        await self._publish(events)
        return events

    async def submit(self, session: AsyncSession, tenant_id: str, task: Task) -> list[RoutingEvent]:
        """Route a new task; non-voice tasks are stored first so they survive a restart."""
        await self.engine(session, tenant_id)  # built (stored tasks restored) before this one is stored
        task.created_at = task.created_at or self.clock()
        task.tenant_id = tenant_id
        if store.durable(task):
            session.add(store.new_row(task, tenant_id))
            await session.flush()
            self._durable[tenant_id].add(task.id)
        return await self.call(session, tenant_id, lambda eng, now: eng.submit(task, now))

    async def _publish(self, events: list[RoutingEvent]) -> None:
        for event in events:
            await self.bus.publish(event)

    # -- timers: one call_later per tenant at the engine's next deadline

    def _arm(self, tenant_id: str) -> None:
        handle = self._timers.pop(tenant_id, None)
        if handle is not None:
            handle.cancel()
        deadline = self.engines[tenant_id].next_deadline() if tenant_id in self.engines else None
        if deadline is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        delay = max(0.0, deadline - self.clock())
        self._timers[tenant_id] = loop.call_later(delay, lambda: loop.create_task(self._fire(tenant_id)))

    async def _fire(self, tenant_id: str) -> None:
        try:
            async with self.db.session() as session:
                await self.call(session, tenant_id, lambda eng, now: eng.tick(now))
        except Exception:
            log.exception("routing timer failed for tenant %s", tenant_id)
            self._arm(tenant_id)

    async def stop(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    # -- directory changes follow live

    async def _directory_changed(self, event: DirectoryChanged) -> None:
        if event.tenant_id not in self.engines or event.resource not in ("agents", "queues", "skills"):
            return
        try:
            async with self.db.session() as session:
                await self._sync(session, event.tenant_id)
        except Exception:
            log.exception("routing could not follow a directory change")

    async def _sync(self, session: AsyncSession, tenant_id: str) -> None:
        e = self.engines[tenant_id]
        now = self.clock()
        events: list[RoutingEvent] = []
        for row in (await session.execute(select(dm.Queue).where(dm.Queue.tenant_id == tenant_id))).scalars():
            try:
                q = queue_of(row, self.offer_timeout_s)
            except ExpressionError as exc:
                self.skipped_queues[tenant_id][row.name] = exc.message
                continue
            old = e.queues.get(q.id)
            if old is None or (old.target, old.strategy, old.channels) != (q.target, q.strategy, q.channels):
                events += e.add_queue(q, now)
            else:  # settings read when used (service level, wrap-up, limits) follow in place
                for name in _LIVE_QUEUE_SETTINGS:
                    setattr(old, name, getattr(q, name))
        seen = set()
        for agent in (await session.execute(select(dm.Agent).where(dm.Agent.tenant_id == tenant_id))).scalars():
            seen.add(agent.id)
            events += self._sync_agent(e, agent, now)
        for wid in [w for w in e.workers if w not in seen and not e.workers[w].tasks]:
            events += e.remove_worker(wid, now)
        await store.record(session, events, self._durable[tenant_id])
        self._arm(tenant_id)
        await self._publish(events)

    def _sync_agent(self, e: Engine, agent: dm.Agent, now: float) -> list[RoutingEvent]:
        w = worker_of(agent)
        old = e.workers.get(agent.id)
        if old is None:
            return e.add_worker(w, now) if agent.active else []
        if not agent.active and not old.tasks:
            return e.remove_worker(agent.id, now)
        return e.update_worker(agent.id, now, attributes=w.attributes, capacity=w.capacity,
                               total_capacity=w.total_capacity)

    # -- views

    def task_view(self, e: Engine, task: Task, now: float) -> dict[str, Any]:
        return {"id": task.id, "channel": task.channel, "state": task.state.value, "priority": task.priority,
                "attributes": task.attributes, "queue": task.queue_id, "step": task.step,
                "worker_id": task.worker_id, "reservation_id": task.reservation_id,
                "wait_s": max(0.0, now - (task.created_at or now)) if task.state is TaskState.PENDING else None,
                "end_reason": task.end_reason}


__all__ = ["Activity", "RoutingService", "queue_of", "worker_of"]

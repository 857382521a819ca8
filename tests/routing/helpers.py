"""Small builders for routing tests (a hand-advanced clock is just the `now` argument)."""

from __future__ import annotations

from typing import Any

from tongdai.routing.engine import Engine
from tongdai.routing.events import RoutingEvent, TaskReserved
from tongdai.routing.model import Activity, Queue, Task, Worker


def agent(wid: str, *, skills: dict[str, int] | None = None, languages: list[str] | None = None,
          capacity: dict[str, int] | None = None, total: int | None = None, available: bool = True,
          **attrs: Any) -> Worker:
    """A worker with skills and languages, available unless told otherwise."""
    cap = capacity or {"voice": 1}
    return Worker(wid, {"skills": skills or {}, "languages": languages or [], **attrs}, capacity=cap,
                  total_capacity=total if total is not None else sum(cap.values()),
                  activity=Activity.AVAILABLE if available else Activity.NOT_READY)


def engine_with(queues: list[Queue], workers: list[Worker], now: float = 0.0, **kw: Any) -> Engine:
    e = Engine(**kw)
    for q in queues:
        e.add_queue(q, now)
    for w in workers:
        e.add_worker(w, now)
    return e


def task(tid: str, queue: str | None = None, *, channel: str = "voice", priority: int = 0, **attrs: Any) -> Task:
    a = dict(attrs)
    if queue is not None:
        a["queue"] = queue
    return Task(tid, channel=channel, attributes=a, priority=priority)


def reserved(events: list[RoutingEvent]) -> list[TaskReserved]:
    return [e for e in events if isinstance(e, TaskReserved)]


def offered_to(events: list[RoutingEvent]) -> list[tuple[str, ...]]:
    return [e.worker_ids for e in reserved(events)]

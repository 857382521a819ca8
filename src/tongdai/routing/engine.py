"""The routing engine (ACD): a pure core. Calls take `now` and return the events they caused.

    engine.submit(task, now)                  -> [TaskQueued, TaskReserved, ...]
    engine.accept(reservation_id, now, worker_id=None) / engine.reject(reservation_id, worker_id, now)
    engine.complete(task_id, now) / engine.wrap_up_done(task_id, now) / engine.cancel(task_id, now, ...)
    engine.set_activity(worker_id, activity, now)
    engine.tick(now)                          -> timers due by `now` (offer timeouts, escalations, ...)
    engine.next_deadline()                    -> when tick should next be called

Every public call first fires the timers due by its `now`, so a caller that forgets to tick still sees
a consistent world. The engine never reads a clock and does no I/O.

Indexes that keep a decision cheap at thousands of agents and tasks:
- queue membership (the queue's target expression) is computed when a worker or queue changes, not
  per decision;
- each queue keeps a lazy heap of its free workers on the strategy's key; an entry is valid while
  the worker's `version` is unchanged, so a change costs one push per queue the worker is in;
- each (queue, channel) keeps a heap of waiting tasks on the cross-queue score
  `created_at - priority * aging_s`: the same order as "wait + priority * aging_s, highest first"
  at any moment, so an agent that frees up compares the heads of its queues' heaps.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import random
from collections.abc import Callable, Iterable
from typing import Any

from tongdai.core.errors import Conflict, NotFound
from tongdai.routing import events as ev
from tongdai.routing.explain import Candidate, Decision, analyse, judge_members
from tongdai.routing.model import (
    HOLDING_STATES,
    LIVE_STATES,
    Activity,
    Queue,
    Reservation,
    ReservationState,
    Task,
    TaskState,
    Worker,
)
from tongdai.routing.strategies import Strategy, effective, weight, weighted_choice, worker_key
from tongdai.routing.workflow import Target, Workflow

WorkerEntry = tuple[tuple[float, ...], str, int]
TaskEntry = tuple[float, int, int, str]
Timer = tuple[float, int, str, str, Any]


class Engine:
    """Skills-based routing of tasks to workers through queues and a workflow."""

    def __init__(self, *, workflow: Workflow | None = None, aging_s: float = 60.0, seed: int = 0,
                 explain_limit: int = 16, explain_members: int = 20, keep_ended: int = 10_000,
                 tenant_id: str | None = None) -> None:
        self.workflow = workflow or Workflow()
        self.aging_s = aging_s
        """Seconds of waiting one priority level is worth in the cross-queue score."""
        self.tenant_id = tenant_id
        self.rng = random.Random(seed)
        self.workers: dict[str, Worker] = {}
        self.queues: dict[str, Queue] = {}
        self.tasks: dict[str, Task] = {}
        self.ended: collections.OrderedDict[str, Task] = collections.OrderedDict()
        self.reservations: dict[str, Reservation] = {}
        self.decisions: dict[str, collections.deque[Decision]] = {}
        self._keep_ended = keep_ended
        self._explain_limit = explain_limit
        self.explain_members = explain_members
        """Queues with at most this many members record every member's verdict at decision time."""
        self._chains: dict[str, list[Target]] = {}
        self._members: dict[str, set[str]] = {}
        self._wheaps: dict[str, list[WorkerEntry]] = {}
        self._theaps: dict[tuple[str, str], list[TaskEntry]] = {}
        self._waiting: dict[str, int] = {}
        self._rr: dict[str, dict[str, float]] = {}
        self._ordering: dict[str, tuple[str, str | None]] = {}
        self._timers: list[Timer] = []
        self._seq = itertools.count(1)
        self._out: list[ev.RoutingEvent] = []
        self._now = 0.0
        self.decision_count = 0

    # ------------------------------------------------------------------ configuration

    def add_queue(self, queue: Queue, now: float) -> list[ev.RoutingEvent]:
        """Add or replace a queue; membership is computed over every worker."""
        self._begin(now)
        if queue.id in self.queues:
            self._drop_membership(queue.id)
        self.queues[queue.id] = queue
        self._ordering[queue.id] = _ordering(queue)
        self._members[queue.id] = set()
        self._wheaps[queue.id] = []
        self._rr.setdefault(queue.id, {})
        self._waiting.setdefault(queue.id, 0)
        for w in self.workers.values():
            if queue.expression.matches(w.attributes, {}):
                self._members[queue.id].add(w.id)
                w.queues.append(queue.id)
                self._touch(w)
        for w in [self.workers[i] for i in self._members[queue.id]]:
            self._serve_worker(w, "queue_added")
        return self._end()

    def set_workflow(self, workflow: Workflow) -> None:
        """Replace the workflow; tasks already routed keep their chain."""
        self.workflow = workflow

    def add_worker(self, worker: Worker, now: float) -> list[ev.RoutingEvent]:
        """Add an agent (or replace one that holds no task)."""
        self._begin(now)
        old = self.workers.get(worker.id)
        if old is not None:
            if old.tasks:
                raise Conflict("the agent holds tasks; update it instead", error_id="worker_busy")
            self._forget_worker(old)
        worker.idle_since = worker.activity_since = now
        self.workers[worker.id] = worker
        self._join_queues(worker)
        self._touch(worker)
        self._serve_worker(worker, "worker_added")
        return self._end()

    def update_worker(self, worker_id: str, now: float, *, attributes: dict[str, Any] | None = None,
                      capacity: dict[str, int] | None = None, total_capacity: int | None = None) -> list[ev.RoutingEvent]:
        """Change an agent's attributes or capacities live; queue membership follows."""
        self._begin(now)
        w = self._worker(worker_id)
        if attributes is not None:
            w.attributes = {**attributes, "id": w.id}
        if capacity is not None:
            w.capacity = dict(capacity)
        if total_capacity is not None:
            w.total_capacity = total_capacity
        self._forget_membership(w)
        self._join_queues(w)
        self._touch(w)
        self._serve_worker(w, "worker_updated")
        return self._end()

    def remove_worker(self, worker_id: str, now: float) -> list[ev.RoutingEvent]:
        """Remove an agent who holds no task (pending offers are withdrawn and their tasks re-routed)."""
        self._begin(now)
        w = self._worker(worker_id)
        if any(self.tasks[t].state is not TaskState.RESERVED for t in w.tasks):
            raise Conflict("the agent holds assigned tasks", error_id="worker_busy")
        w.activity = Activity.OFFLINE  # so the withdrawn tasks cannot come straight back to it
        for rid in [r.id for r in self.reservations.values() if worker_id in r.worker_ids]:
            self._withdraw(self.reservations[rid], worker_id, "worker_removed")
        self._forget_worker(w)
        return self._end()

    # ------------------------------------------------------------------ agents

    def set_activity(self, worker_id: str, activity: Activity | str, now: float,
                     reason: str = "agent") -> list[ev.RoutingEvent]:
        """Change an agent's activity (available, not_ready, offline)."""
        self._begin(now)
        self._set_activity(self._worker(worker_id), Activity(activity), reason)
        return self._end()

    def agent_state(self, worker_id: str) -> dict[str, Any]:
        """An agent's routing state: activity, load per channel, tasks, queues."""
        w = self._worker(worker_id)
        return {"worker_id": w.id, "activity": w.activity.value, "activity_since": w.activity_since,
                "idle_since": w.idle_since, "load": dict(w.load), "capacity": dict(w.capacity),
                "total_capacity": w.total_capacity, "tasks": sorted(w.tasks), "queues": list(w.queues)}

    # ------------------------------------------------------------------ tasks

    def submit(self, task: Task, now: float) -> list[ev.RoutingEvent]:
        """A new task: the workflow picks its target chain and it looks for an agent at once."""
        self._begin(now)
        if task.id in self.tasks:
            raise Conflict("a task with this id is already routed", error_id="task_exists")
        if task.created_at is None:
            task.created_at = now
        task.state = TaskState.PENDING
        task.tenant_id = task.tenant_id or self.tenant_id
        self.tasks[task.id] = task
        name, chain = self.workflow.route(task.context())
        if not chain and "queue" in task.attributes:
            name, chain = "task.queue", [Target(queue=str(task.attributes["queue"]))]
        task.workflow_filter = name
        self._chains[task.id] = list(chain)
        if task.timeout_s is not None:
            self._timer(task.created_at + task.timeout_s, "task_timeout", task.id, None)
        self._enter_step(task, 0, "submitted")
        return self._end()

    def restore_assignment(self, task: Task, worker_id: str, now: float, *, wrapping: bool = False
                           ) -> list[ev.RoutingEvent]:
        """Rebuild after a restart: a stored task that an agent already holds takes its slot again."""
        return self.assign_directly(task, worker_id, now, wrapping=wrapping, reservation_id="restored")

    def assign_directly(self, task: Task, worker_id: str, now: float, *, wrapping: bool = False,
                        reservation_id: str = "direct") -> list[ev.RoutingEvent]:
        """A task an agent holds without an offer: a stored assignment after a restart, or a call another
        agent transferred straight to this one. It takes a slot of the agent like an accepted offer."""
        self._begin(now)
        w = self._worker(worker_id)
        if task.created_at is None:
            task.created_at = now
        task.tenant_id = task.tenant_id or self.tenant_id
        self.tasks[task.id] = task
        name, chain = self.workflow.route(task.context())
        if not chain and "queue" in task.attributes:
            name, chain = "task.queue", [Target(queue=str(task.attributes["queue"]))]
        task.workflow_filter, self._chains[task.id] = name, list(chain)
        task.queue_id = chain[0].queue if chain else None
        task.state, task.worker_id = TaskState.ASSIGNED, w.id
        w.load[task.channel] = w.load.get(task.channel, 0) + 1
        w.load_total += 1
        w.tasks.add(task.id)
        self._touch(w)
        self._emit(ev.TaskAssigned, task_id=task.id, reservation_id=reservation_id, worker_id=w.id,
                   queue_id=task.queue_id or "", wait_s=0.0, user_id=w.user_id)
        if wrapping:
            self._begin_wrap_up(task, self.queues[task.queue_id].wrap_up_s if task.queue_id in self.queues else 0.0)
        return self._end()

    def accept(self, reservation_id: str, now: float, worker_id: str | None = None) -> list[ev.RoutingEvent]:
        """An agent accepts an offer (for ring-all, name the agent)."""
        self._begin(now)
        r = self._reservation(reservation_id)
        wid = worker_id or r.worker_ids[0]
        if wid not in r.worker_ids or wid in r.declined:
            raise Conflict("this agent was not offered the task", error_id="not_offered")
        task = self.tasks[r.task_id]
        r.state, r.answered_by = ReservationState.ACCEPTED, wid
        del self.reservations[r.id]
        task.state, task.worker_id = TaskState.ASSIGNED, wid
        wait = now - (task.created_at or now)
        self._emit(ev.TaskAssigned, task_id=task.id, reservation_id=r.id, worker_id=wid,
                   queue_id=r.queue_id, wait_s=wait, user_id=self.workers[wid].user_id)
        losers = [w for w in r.worker_ids if w != wid and w not in r.declined]
        if losers:
            self._emit(ev.ReservationCanceled, task_id=task.id, reservation_id=r.id, worker_ids=tuple(losers),
                       reason="answered_elsewhere")
            for lw in losers:
                self._release(self.workers[lw], task)
            for lw in losers:
                self._serve_worker(self.workers[lw], "ring_all_lost")
        return self._end()

    def reject(self, reservation_id: str, worker_id: str | None, now: float, *,
               not_ready: bool = False) -> list[ev.RoutingEvent]:
        """An agent declines an offer; the task goes back to its queue and skips this agent a while."""
        self._begin(now)
        r = self._reservation(reservation_id)
        wid = worker_id or r.worker_ids[0]
        if wid not in r.worker_ids or wid in r.declined:
            raise Conflict("this agent was not offered the task", error_id="not_offered")
        task = self.tasks[r.task_id]
        self._emit(ev.ReservationRejected, task_id=task.id, reservation_id=r.id, worker_id=wid)
        self._exclude(task, wid)
        r.declined.add(wid)
        self._release(self.workers[wid], task)
        if not_ready:
            self._set_activity(self.workers[wid], Activity.NOT_READY, "rejected_offer")
        if len(r.declined) == len(r.worker_ids):
            r.state = ReservationState.REJECTED
            del self.reservations[r.id]
            self._return_task(task, "rejected")
        self._serve_worker(self.workers[wid], "rejected_offer")
        return self._end()

    def complete(self, task_id: str, now: float, *, wrap_up_s: float | None = None) -> list[ev.RoutingEvent]:
        """The conversation ended: wrap-up (queue's wrap_up_s unless given) or completed at once."""
        self._begin(now)
        task = self._task(task_id)
        if task.state is not TaskState.ASSIGNED:
            raise Conflict(f"the task is {task.state.value}, not assigned", error_id="task_not_assigned")
        queue = self.queues.get(task.queue_id or "")
        wrap = wrap_up_s if wrap_up_s is not None else (queue.wrap_up_s if queue else 0.0)
        if wrap > 0:
            self._begin_wrap_up(task, wrap)
        else:
            self._finish(task, TaskState.COMPLETED, "completed")
        return self._end()

    def _begin_wrap_up(self, task: Task, wrap: float) -> None:
        task.state = TaskState.WRAPPING
        task.stamp += 1
        self._emit(ev.TaskWrapping, task_id=task.id, worker_id=task.worker_id or "")
        self._timer(self._now + wrap, "wrap_up", task.id, task.stamp)

    def wrap_up_done(self, task_id: str, now: float) -> list[ev.RoutingEvent]:
        """The agent finished wrap-up early (or the wrap-up timer fired)."""
        self._begin(now)
        task = self._task(task_id)
        if task.state is not TaskState.WRAPPING:
            raise Conflict(f"the task is {task.state.value}, not wrapping", error_id="task_not_wrapping")
        self._finish(task, TaskState.COMPLETED, "completed")
        return self._end()

    def cancel(self, task_id: str, now: float, *, reason: str = "canceled",
               abandoned: bool = False) -> list[ev.RoutingEvent]:
        """The task ends without (more) service: caller hung up (abandoned), chat closed, ..."""
        self._begin(now)
        task = self._task(task_id)
        self._finish(task, TaskState.ABANDONED if abandoned else TaskState.CANCELED, reason)
        return self._end()

    def set_priority(self, task_id: str, priority: int, now: float) -> list[ev.RoutingEvent]:
        """Change a waiting task's priority (e.g. the IVR identified a VIP)."""
        self._begin(now)
        task = self._task(task_id)
        task.priority = priority
        if task.waiting:
            self._unwait(task)
            self._wait(task)
        return self._end()

    def tick(self, now: float) -> list[ev.RoutingEvent]:
        """Fire every timer due by `now`."""
        self._begin(now)
        return self._end()

    def next_deadline(self) -> float | None:
        """The earliest pending timer (some may turn out stale; tick handles that cheaply)."""
        return self._timers[0][0] if self._timers else None

    # ------------------------------------------------------------------ queries

    def task(self, task_id: str) -> Task:
        """A live or recently ended task."""
        return self._task(task_id, ended_ok=True)

    def reservation(self, reservation_id: str) -> Reservation:
        """A pending reservation (NotFound once answered, withdrawn or expired)."""
        return self._reservation(reservation_id)

    def current_target(self, task: Task) -> Target | None:
        chain = self._chains.get(task.id, [])
        return chain[task.step] if task.step < len(chain) else None

    def score_of(self, queue: Queue, worker: Worker) -> tuple[float, ...]:
        """The worker's strategy key in this queue (smaller is offered first)."""
        return worker_key(queue, worker, self._rr.get(queue.id, {}).get(worker.id, 0.0))

    def task_score(self, task: Task) -> float:
        """Cross-queue score (smaller is served first): created_at - effective priority * aging_s."""
        target = self.current_target(task)
        queue = self.queues.get(task.queue_id or "")
        prio = target.priority if target is not None and target.priority is not None else task.priority
        prio += queue.priority if queue is not None else 0
        return (task.created_at or 0.0) - prio * self.aging_s

    def explain(self, task_id: str, now: float, *, full: bool = True) -> dict[str, Any]:
        """Decisions taken about a task (candidates, reasons, scores) and, if live, every agent judged now."""
        task = self.task(task_id)
        out: dict[str, Any] = {
            "task_id": task.id, "state": task.state.value, "queue_id": task.queue_id, "step": task.step,
            "workflow_filter": task.workflow_filter, "priority": task.priority, "worker_id": task.worker_id,
            "score": self.task_score(task), "end_reason": task.end_reason,
            "decisions": [d.as_dict() for d in self.decisions.get(task.id, ())],
        }
        if full and task.state in LIVE_STATES:
            out["agents_now"] = [_cand(c) for c in analyse(self, task, now)]
        return out

    def queue_stats(self, queue_id: str, now: float) -> dict[str, Any]:
        """Waiting tasks, oldest wait, members and free members of a queue."""
        members = self._members.get(queue_id, set())
        waiting = [t for t in self.tasks.values() if t.queue_id == queue_id and t.waiting]
        oldest = max((now - (t.created_at or now) for t in waiting), default=0.0)
        free = sum(1 for w in members if self.workers[w].routable())
        return {"queue_id": queue_id, "waiting": len(waiting), "oldest_wait_s": oldest,
                "members": len(members), "available": free}

    def members(self, queue_id: str) -> set[str]:
        return set(self._members.get(queue_id, set()))

    def waiting_count(self, queue_id: str) -> int:
        return self._waiting.get(queue_id, 0)

    def preferred_allows(self, task: Task, queue: Queue, worker: Worker, now: float) -> bool:
        """During the preferred-agent window only that agent may take the task."""
        if task.preferred_until <= now:
            return True
        return bool(task.attributes.get(queue.preferred_attribute) == worker.id)

    # ------------------------------------------------------------------ call plumbing

    def _begin(self, now: float) -> None:
        self._now = now
        self._fire_timers(now)

    def _end(self) -> list[ev.RoutingEvent]:
        out, self._out = self._out, []
        return out

    def _emit(self, cls: type[ev.RoutingEvent], **fields: Any) -> None:
        self._out.append(cls(at=self._now, tenant_id=self.tenant_id, **fields))

    def _worker(self, worker_id: str) -> Worker:
        w = self.workers.get(worker_id)
        if w is None:
            raise NotFound(f"no agent {worker_id!r} in routing", error_id="worker_not_found")
        return w

    def _task(self, task_id: str, ended_ok: bool = False) -> Task:
        t = self.tasks.get(task_id) or (self.ended.get(task_id) if ended_ok else None)
        if t is None:
            raise NotFound(f"no live task {task_id!r}", error_id="task_not_found")
        return t

    def _reservation(self, reservation_id: str) -> Reservation:
        r = self.reservations.get(reservation_id)
        if r is None:
            raise NotFound("no pending reservation with this id (answered, withdrawn or expired)",
                           error_id="reservation_not_found")
        return r

    def _record(self, task: Task, decision: Decision) -> None:
        self.decision_count += 1
        log = self.decisions.get(task.id)
        if log is None:
            log = self.decisions[task.id] = collections.deque(maxlen=self._explain_limit)
        log.append(decision)

    # ------------------------------------------------------------------ membership and worker heaps

    def _join_queues(self, w: Worker) -> None:
        w.queues = []
        for q in self.queues.values():
            if q.expression.matches(w.attributes, {}):
                self._members[q.id].add(w.id)
                w.queues.append(q.id)

    def _forget_membership(self, w: Worker) -> None:
        for qid in w.queues:
            self._members[qid].discard(w.id)
        w.queues = []
        w.version += 1

    def _forget_worker(self, w: Worker) -> None:
        self._forget_membership(w)
        self.workers.pop(w.id, None)
        for rr in self._rr.values():
            rr.pop(w.id, None)

    def _drop_membership(self, queue_id: str) -> None:
        for wid in self._members.get(queue_id, set()):
            w = self.workers[wid]
            w.queues = [q for q in w.queues if q != queue_id]

    def _touch(self, w: Worker) -> None:
        """The worker's availability or keys changed: old heap entries become stale, push new ones."""
        w.version += 1
        self._publish(w)

    def _publish(self, w: Worker) -> None:
        """Push the worker's current entries into its queues' heaps if it can take work."""
        if w.heap_version == w.version or not w.routable():
            return
        w.heap_version = w.version
        keys: dict[tuple[str, str | None], tuple[float, ...]] = {}
        for qid in w.queues:
            q = self.queues[qid]
            kind = self._ordering[qid]
            key = keys.get(kind)
            if key is None:  # queues ordered the same way share the key (most are longest idle)
                key = keys[kind] = self.score_of(q, w)
            self._push_entry(q, (key, w.id, w.version))

    def _push_entry(self, q: Queue, entry: WorkerEntry) -> None:
        heap = self._wheaps[q.id]
        heapq.heappush(heap, entry)
        if len(heap) > 4 * len(self._members[q.id]) + 64:
            self._compact(q)

    def _compact(self, q: Queue) -> None:
        """Rebuild a queue's worker heap from its members (drops the stale entries)."""
        entries = [(self.score_of(q, w), w.id, w.version)
                   for w in (self.workers[i] for i in self._members[q.id])
                   if w.routable() and w.heap_version == w.version]
        heapq.heapify(entries)
        self._wheaps[q.id] = entries

    def _valid_worker(self, entry: WorkerEntry, qid: str) -> Worker | None:
        w = self.workers.get(entry[1])
        if w is None or w.version != entry[2] or not w.routable() or qid not in w.queues:
            return None
        return w

    # ------------------------------------------------------------------ finding workers for a task

    def _ineligible(self, w: Worker, task: Task, target: Target | None, queue: Queue,
                    ctx: dict[str, Any]) -> str | None:
        """Why this free queue member cannot take this task now (None: it can)."""
        why = w.why_not(task.channel)
        if why is not None:
            return why
        if task.excluded and task.excluded.get(w.id, -1.0) > self._now:
            return "rejected_offer"
        if task.preferred_until > self._now and not self.preferred_allows(task, queue, w, self._now):
            return "not_preferred"
        if task.narrowed and target is not None and not target.compiled.matches(w.attributes, ctx):
            return "expression_false"
        return None

    def _find_workers(self, task: Task, queue: Queue, target: Target | None,
                      limit: int) -> tuple[list[Worker], list[Candidate]]:
        """Up to `limit` workers for the task by the queue's strategy, and the candidates passed over."""
        ctx = task.context() if task.narrowed else {}
        if task.preferred_until > self._now:
            return self._preferred_worker(task, queue, target, ctx)
        if queue.strategy is Strategy.WEIGHTED_RANDOM:
            return self._weighted_worker(task, queue, target, ctx)
        if target is not None and target.order_by is not None and target.order_by is not effective(queue):
            return self._ordered_scan(task, queue, target, ctx, limit)
        heap = self._wheaps[queue.id]
        chosen: list[Worker] = []
        passed: list[Candidate] = []
        keep: list[WorkerEntry] = []
        while heap and len(chosen) < limit:
            entry = heapq.heappop(heap)
            w = self._valid_worker(entry, queue.id)
            if w is None:
                continue
            keep.append(entry)
            why = self._ineligible(w, task, target, queue, ctx)
            if why is None:
                if w not in chosen:
                    chosen.append(w)
            else:
                passed.append(Candidate(w.id, why, "", entry[0]))
        for entry in keep:
            heapq.heappush(heap, entry)
        return chosen, passed

    def _preferred_worker(self, task: Task, queue: Queue, target: Target | None,
                          ctx: dict[str, Any]) -> tuple[list[Worker], list[Candidate]]:
        w = self.workers.get(str(task.attributes.get(queue.preferred_attribute)))
        if w is None or queue.id not in w.queues:
            return [], []
        why = self._ineligible(w, task, target, queue, ctx)
        return ([w], []) if why is None else ([], [Candidate(w.id, why, "preferred agent")])

    def _weighted_worker(self, task: Task, queue: Queue, target: Target | None,
                         ctx: dict[str, Any]) -> tuple[list[Worker], list[Candidate]]:
        free = [w for w in (self.workers[i] for i in sorted(self._members[queue.id]))
                if w.routable() and self._ineligible(w, task, target, queue, ctx) is None]
        pick = weighted_choice(self.rng, [weight(queue, w) for w in free])
        if pick is None:
            return [], []
        others = [Candidate(w.id, "ranked_lower", "weighted draw", (weight(queue, w),))
                  for i, w in enumerate(free) if i != pick]
        return [free[pick]], others

    def _ordered_scan(self, task: Task, queue: Queue, target: Target, ctx: dict[str, Any],
                      limit: int) -> tuple[list[Worker], list[Candidate]]:
        """A target's own ordering: sort the queue's free eligible members by it (O(members))."""
        rr = self._rr.get(queue.id, {})
        free = []
        for wid in self._members[queue.id]:
            w = self.workers[wid]
            if w.routable() and self._ineligible(w, task, target, queue, ctx) is None:
                free.append((worker_key(queue, w, rr.get(wid, 0.0), target.order_by), wid, w))
        free.sort(key=lambda x: (x[0], x[1]))
        chosen = [w for _, _, w in free[:limit]]
        passed = [Candidate(w.id, "ranked_lower", f"order_by {target.order_by}", k) for k, _, w in free[limit:]]
        return chosen, passed

    def _anyone_available(self, task: Task, queue: Queue, target: Target) -> bool:
        found, _ = self._find_workers(task, queue, target, 1)
        return bool(found)

    # ------------------------------------------------------------------ task placement

    def _enter_step(self, task: Task, step: int, reason: str) -> None:
        """Put the task at `step` of its chain (skipping full queues and empty skip-if targets)."""
        chain = self._chains.get(task.id, [])
        previous = task.queue_id
        while step < len(chain):
            target = chain[step]
            queue = self.queues.get(target.queue)
            if queue is None or not queue.serves(task.channel):
                step, reason = step + 1, "queue_unavailable"
                continue
            if queue.max_size is not None and self._waiting[queue.id] >= queue.max_size:
                step, reason = step + 1, "queue_full"
                continue
            if target.skip_if_no_one_available and not self._anyone_available(task, queue, target):
                step, reason = step + 1, "no_one_available"
                continue
            break
        else:
            self._leave(task, reason if reason != "submitted" else "no_target", self.workflow.on_exhausted)
            return
        self._place(task, step, previous, reason)

    def _place(self, task: Task, step: int, previous: str | None, reason: str) -> None:
        target = self._chains[task.id][step]
        queue = self.queues[target.queue]
        now = self._now
        task.queue_id, task.step, task.step_since, task.queued_at = queue.id, step, now, now
        task.narrowed = not target.compiled.always
        task.preferred_until = 0.0
        pref = task.attributes.get(queue.preferred_attribute)
        if queue.strategy is Strategy.PREFERRED and pref is not None:
            pw = self.workers.get(str(pref))
            if pw is not None and pw.activity is not Activity.OFFLINE:
                task.preferred_until = now + queue.preferred_wait_s
                self._timer(task.preferred_until, "preferred", task.id, (step, now))
        if reason != "submitted":
            self._emit(ev.TaskEscalated, task_id=task.id, from_queue=previous, to_queue=queue.id, step=step,
                       reason=reason)
        self._emit(ev.TaskQueued, task_id=task.id, queue_id=queue.id, step=step, priority=task.priority)
        if target.timeout_s is not None:
            self._timer(now + target.timeout_s, "step", task.id, (step, now))
        if queue.max_wait_s is not None:
            self._timer(now + queue.max_wait_s, "max_wait", task.id, (step, now))
        self._route_task(task, "task_routed")

    def _route_task(self, task: Task, kind: str) -> None:
        """Look for free workers for a pending task; reserve or leave it waiting in its queue."""
        queue = self.queues[task.queue_id or ""]
        target = self.current_target(task)
        limit = queue.ring_all_max if queue.strategy is Strategy.RING_ALL else 1
        chosen, passed = self._find_workers(task, queue, target, limit)
        if len(self._members[queue.id]) <= self.explain_members:
            cands = judge_members(self, task, queue, {w.id for w in chosen}, self._now)
        else:  # large queues: the agents looked at; `explain` judges everyone on demand
            cands = [Candidate(w.id, "chosen", "", self.score_of(queue, w)) for w in chosen] + passed
        outcome = "reserved" if chosen else "waiting"
        self._record(task, Decision(self._now, kind, queue.id, queue.strategy.value, task.step, outcome,
                                    cands, self.task_score(task)))
        if chosen:
            self._reserve(task, queue, chosen)
        else:
            self._wait(task)

    def _wait(self, task: Task) -> None:
        task.stamp += 1
        task.waiting = True
        key = (task.queue_id or "", task.channel)
        heap = self._theaps.get(key)
        if heap is None:
            heap = self._theaps[key] = []
        heapq.heappush(heap, (self.task_score(task), next(self._seq), task.stamp, task.id))
        self._waiting[task.queue_id or ""] += 1

    def _unwait(self, task: Task) -> None:
        if task.waiting:
            task.waiting = False
            task.stamp += 1
            self._waiting[task.queue_id or ""] -= 1

    def _reserve(self, task: Task, queue: Queue, workers: list[Worker]) -> None:
        self._unwait(task)
        rid = f"R{next(self._seq)}"
        now = self._now
        r = Reservation(rid, task.id, tuple(w.id for w in workers), now, now + queue.offer_timeout_s, queue.id)
        self.reservations[rid] = r
        task.state, task.reservation_id = TaskState.RESERVED, rid
        task.offers += 1
        rr = self._rr[queue.id]
        for w in workers:
            rr[w.id] = float(next(self._seq))
            w.load[task.channel] = w.load.get(task.channel, 0) + 1
            w.load_total += 1
            w.tasks.add(task.id)
            self._touch(w)
        self._timer(r.expires_at, "reservation", rid, None)
        self._emit(ev.TaskReserved, task_id=task.id, reservation_id=rid, worker_ids=r.worker_ids,
                   queue_id=queue.id, expires_at=r.expires_at,
                   user_ids=tuple(w.user_id for w in workers if w.user_id is not None))

    def _return_task(self, task: Task, why: str) -> None:
        """A reservation ended without an answer: the task waits again (keeping its place) or escalates."""
        task.state, task.reservation_id = TaskState.PENDING, None
        target = self.current_target(task)
        queue = self.queues.get(task.queue_id or "")
        if queue is None:
            self._enter_step(task, task.step + 1, "queue_unavailable")
        elif target is not None and target.timeout_s is not None and \
                self._now >= task.step_since + target.timeout_s:
            self._enter_step(task, task.step + 1, "timeout")
        elif queue.max_wait_s is not None and self._now >= task.queued_at + queue.max_wait_s:
            self._max_wait(task, queue)
        else:
            self._route_task(task, f"returned_{why}")

    def _exclude(self, task: Task, wid: str) -> None:
        queue = self.queues.get(task.queue_id or "")
        until = self._now + (queue.reject_retry_s if queue else 10.0)
        task.excluded[wid] = until
        self._timer(until, "exclusion", task.id, wid)

    def _release(self, w: Worker, task: Task) -> None:
        """Free the slot the task held on the worker (and start their idle time if now fully free)."""
        if task.id not in w.tasks:
            return
        w.tasks.discard(task.id)
        w.load[task.channel] -= 1
        w.load_total -= 1
        if w.load_total == 0:
            w.idle_since = self._now
        # entries are pushed by _serve_worker, which every caller runs next: a worker that takes a
        # waiting task at once never touches the heaps
        w.version += 1

    def _withdraw(self, r: Reservation, wid: str, reason: str) -> None:
        """Take an offer back from one worker (removed, or the task ended)."""
        task = self.tasks[r.task_id]
        r.declined.add(wid)
        self._release(self.workers[wid], task)
        self._emit(ev.ReservationCanceled, task_id=task.id, reservation_id=r.id, worker_ids=(wid,), reason=reason)
        if len(r.declined) == len(r.worker_ids):
            r.state = ReservationState.CANCELED
            del self.reservations[r.id]
            self._return_task(task, "withdrawn")

    def _leave(self, task: Task, reason: str, destination: str) -> None:
        """The task leaves routing without an agent (call control sends it to `destination`)."""
        self._emit(ev.TaskLeftQueue, task_id=task.id, queue_id=task.queue_id, reason=reason, destination=destination)
        self._finish(task, TaskState.CANCELED, reason)

    def _finish(self, task: Task, state: TaskState, reason: str) -> None:
        """Final state: release whatever the task held and let the freed workers serve others."""
        self._unwait(task)
        freed: list[Worker] = []
        r = self.reservations.pop(task.reservation_id or "", None)
        if r is not None and task.state is TaskState.RESERVED:
            r.state = ReservationState.CANCELED
            holders = [w for w in r.worker_ids if w not in r.declined]
            self._emit(ev.ReservationCanceled, task_id=task.id, reservation_id=r.id, worker_ids=tuple(holders),
                       reason=reason)
            freed = [self.workers[w] for w in holders if w in self.workers]
        elif task.state in HOLDING_STATES and task.worker_id in self.workers:
            freed = [self.workers[task.worker_id]]
        task.state, task.end_reason = state, reason
        task.stamp += 1
        self._emit(ev.TaskEnded, task_id=task.id, state=state.value, reason=reason, worker_id=task.worker_id)
        del self.tasks[task.id]
        self._chains.pop(task.id, None)
        self.ended[task.id] = task
        while len(self.ended) > self._keep_ended:
            old, _ = self.ended.popitem(last=False)
            self.decisions.pop(old, None)
        for w in freed:
            self._release(w, task)
        for w in freed:
            self._serve_worker(w, "worker_freed")

    # ------------------------------------------------------------------ a worker looks for a task

    def _set_activity(self, w: Worker, activity: Activity, reason: str) -> None:
        if w.activity is activity:
            return
        w.activity, w.activity_since = activity, self._now
        if activity is Activity.AVAILABLE and w.load_total == 0:
            w.idle_since = self._now
        self._emit(ev.WorkerActivityChanged, task_id="", worker_id=w.id, activity=activity.value, reason=reason,
                   user_id=w.user_id)
        self._touch(w)
        if activity is Activity.AVAILABLE:
            self._serve_worker(w, "worker_available")

    def _serve_worker(self, w: Worker, kind: str) -> None:
        """While the worker has room, give it the best waiting task across its queues and channels."""
        while w.routable():
            best = self._best_task_for(w)
            if best is None:
                self._publish(w)
                return
            task, competing = best
            queue = self.queues[task.queue_id or ""]
            d = Decision(self._now, kind, queue.id, queue.strategy.value, task.step, "reserved",
                         [Candidate(w.id, "chosen", "", self.score_of(queue, w))], self.task_score(task), competing)
            self._record(task, d)
            self._reserve(task, queue, [w])

    def _best_task_for(self, w: Worker) -> tuple[Task, list[tuple[str, str, float]]] | None:
        best: tuple[float, int, Task] | None = None
        competing: list[tuple[str, str, float]] = []
        channels = [c for c in w.capacity if w.can_take(c)]
        theaps = self._theaps
        for qid in w.queues:
            for ch in channels:
                heap = theaps.get((qid, ch))
                if not heap:
                    continue
                head = heap[0]
                if best is not None and (head[0], head[1]) >= (best[0], best[1]):
                    continue  # a heap's head bounds every entry below it: this queue cannot win
                found = self._head_for(heap, w, self.queues[qid])
                if found is not None:
                    competing.append((qid, found[2].id, found[0]))
                    if best is None or (found[0], found[1]) < (best[0], best[1]):
                        best = found
        if best is None:
            return None
        return best[2], competing

    def _head_for(self, heap: list[TaskEntry], w: Worker, queue: Queue) -> tuple[float, int, Task] | None:
        """The best waiting task in this heap that the worker may take (stale entries are dropped)."""
        keep: list[TaskEntry] = []
        found: tuple[float, int, Task] | None = None
        while heap:
            entry = heap[0]
            task = self.tasks.get(entry[3])
            if task is None or task.stamp != entry[2] or not task.waiting:
                heapq.heappop(heap)
                continue
            if self._task_allows(task, w, queue):
                found = (entry[0], entry[1], task)
                break
            keep.append(heapq.heappop(heap))
        for entry in keep:
            heapq.heappush(heap, entry)
        return found

    def _task_allows(self, task: Task, w: Worker, queue: Queue) -> bool:
        if not (task.narrowed or task.excluded or task.preferred_until > self._now or queue.weighted):
            return True  # the common case: any member may take it
        if queue.strategy is Strategy.WEIGHTED_RANDOM and weight(queue, w) <= 0:
            return False  # weight 0 means "never from this queue", whichever side starts the match
        if task.excluded and task.excluded.get(w.id, -1.0) > self._now:
            return False
        if task.preferred_until > self._now and not self.preferred_allows(task, queue, w, self._now):
            return False
        target = self.current_target(task)
        return target is None or target.compiled.always or target.compiled.matches(w.attributes, task.context())

    # ------------------------------------------------------------------ timers

    def _timer(self, at: float, kind: str, ref: str, check: Any) -> None:
        heapq.heappush(self._timers, (at, next(self._seq), kind, ref, check))

    def _fire_timers(self, now: float) -> None:
        while self._timers and self._timers[0][0] <= now:
            at, _, kind, ref, check = heapq.heappop(self._timers)
            saved, self._now = self._now, at
            self._TIMER_HANDLERS[kind](self, ref, check)
            self._now = max(saved, now)
        self._now = now

    def _on_reservation(self, rid: str, _check: Any) -> None:
        r = self.reservations.pop(rid, None)
        if r is None:
            return
        r.state = ReservationState.TIMED_OUT
        task = self.tasks[r.task_id]
        holders = [w for w in r.worker_ids if w not in r.declined]
        self._emit(ev.ReservationTimedOut, task_id=task.id, reservation_id=rid, worker_ids=tuple(holders))
        queue = self.queues.get(r.queue_id)
        for wid in holders:
            self._exclude(task, wid)
            self._release(self.workers[wid], task)
            if queue is None or queue.not_ready_on_miss:
                self._set_activity(self.workers[wid], Activity.NOT_READY, "missed_offer")
        self._return_task(task, "timed_out")
        for wid in holders:
            self._serve_worker(self.workers[wid], "worker_freed")

    def _pending_at(self, task_id: str, check: Any) -> Task | None:
        """The task if it is still pending at the same step as when the timer was set."""
        task = self.tasks.get(task_id)
        if task is None or task.state is not TaskState.PENDING or (task.step, task.step_since) != check:
            return None
        return task

    def _on_step(self, task_id: str, check: Any) -> None:
        task = self._pending_at(task_id, check)
        if task is not None:
            self._unwait(task)
            self._enter_step(task, task.step + 1, "timeout")

    def _on_max_wait(self, task_id: str, check: Any) -> None:
        task = self._pending_at(task_id, check)
        if task is not None:
            self._max_wait(task, self.queues[task.queue_id or ""])

    def _max_wait(self, task: Task, queue: Queue) -> None:
        self._unwait(task)
        if queue.on_max_wait.startswith("queue:"):
            chain = self._chains[task.id]
            self._chains[task.id] = chain[:task.step + 1] + [Target(queue=queue.on_max_wait[6:])]
            self._enter_step(task, task.step + 1, "max_wait")
        else:
            self._leave(task, "max_wait", queue.on_max_wait)

    def _on_task_timeout(self, task_id: str, _check: Any) -> None:
        task = self.tasks.get(task_id)
        if task is not None and task.state is TaskState.PENDING:
            self._leave(task, "task_timeout", self.workflow.on_exhausted)

    def _on_preferred(self, task_id: str, check: Any) -> None:
        task = self._pending_at(task_id, check)
        if task is not None and task.waiting:
            self._unwait(task)
            self._route_task(task, "preferred_expired")

    def _on_exclusion(self, task_id: str, wid: str) -> None:
        task = self.tasks.get(task_id)
        if task is None or task.excluded.get(wid, 0.0) > self._now:
            return
        task.excluded.pop(wid, None)
        w = self.workers.get(wid)
        if task.waiting and w is not None:
            self._serve_worker(w, "exclusion_ended")

    def _on_wrap_up(self, task_id: str, stamp: Any) -> None:
        task = self.tasks.get(task_id)
        if task is not None and task.state is TaskState.WRAPPING and task.stamp == stamp:
            self._finish(task, TaskState.COMPLETED, "completed")

    _TIMER_HANDLERS: dict[str, Callable[[Engine, str, Any], None]] = {
        "reservation": _on_reservation, "step": _on_step, "max_wait": _on_max_wait,
        "task_timeout": _on_task_timeout, "preferred": _on_preferred, "exclusion": _on_exclusion,
        "wrap_up": _on_wrap_up,
    }


def _ordering(queue: Queue) -> tuple[str, str | None]:
    """Queues with the same ordering give a worker the same heap key (round robin is per queue)."""
    s = effective(queue)
    if s is Strategy.ROUND_ROBIN:
        return s.value, queue.id
    if s in (Strategy.MOST_SKILLED, Strategy.LEAST_SKILLED):
        return s.value, queue.skill
    return s.value, None


def _cand(c: Candidate) -> dict[str, Any]:
    return {"worker_id": c.worker_id, "verdict": c.verdict, "detail": c.detail, "score": c.score}


def events_of(events: Iterable[ev.RoutingEvent], cls: type[ev.RoutingEvent]) -> list[Any]:
    """The events of one class (handy for callers and tests)."""
    return [e for e in events if isinstance(e, cls)]

"""A naive scan-everything router: the baseline the engine is measured against.

Same rules as the engine for longest-idle queues (queue membership by the same compiled expressions,
the same cross-queue score `created_at - priority * aging_s`, the same tie-breaks), but no index: a
free agent scans every waiting task, a new task scans every agent. This is how many ACDs work.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from tongdai.routing.expressions import Expression, worker_expression


@dataclass
class NWorker:
    id: str
    attributes: dict[str, Any]
    idle_since: float
    busy: str | None = None


@dataclass
class NTask:
    id: str
    queue: str
    priority: int
    created_at: float
    seq: int
    worker: str | None = None


@dataclass
class NaiveRouter:
    aging_s: float = 60.0
    queues: dict[str, Expression] = field(default_factory=dict)
    workers: dict[str, NWorker] = field(default_factory=dict)
    waiting: dict[str, NTask] = field(default_factory=dict)
    assigned: dict[str, NTask] = field(default_factory=dict)
    _seq: Any = field(default_factory=itertools.count)

    def add_queue(self, qid: str, target: str) -> None:
        self.queues[qid] = worker_expression(target)

    def add_worker(self, wid: str, attributes: dict[str, Any], now: float) -> str | None:
        self.workers[wid] = NWorker(wid, {**attributes, "id": wid}, now)
        return self._serve(self.workers[wid])

    def submit(self, tid: str, queue: str, priority: int, now: float) -> str | None:
        """Returns the worker the task went to, if any."""
        task = NTask(tid, queue, priority, now, next(self._seq))
        expr = self.queues[queue]
        best: NWorker | None = None
        for w in self.workers.values():
            if w.busy is None and expr.matches(w.attributes, {}) and (
                    best is None or (w.idle_since, w.id) < (best.idle_since, best.id)):
                best = w
        if best is None:
            self.waiting[tid] = task
            return None
        self._assign(task, best)
        return best.id

    def complete(self, tid: str, now: float) -> str | None:
        """The agent finishes; returns the task they take next, if any."""
        task = self.assigned.pop(tid)
        w = self.workers[task.worker or ""]
        w.busy, w.idle_since = None, now
        return self._serve(w)

    def _serve(self, w: NWorker) -> str | None:
        best: NTask | None = None
        best_key = (0.0, 0)
        for t in self.waiting.values():
            key = (t.created_at - t.priority * self.aging_s, t.seq)
            if (best is None or key < best_key) and self.queues[t.queue].matches(w.attributes, {}):
                best, best_key = t, key
        if best is None:
            return None
        del self.waiting[best.id]
        self._assign(best, w)
        return best.id

    def _assign(self, task: NTask, w: NWorker) -> None:
        task.worker, w.busy = w.id, task.id
        self.assigned[task.id] = task

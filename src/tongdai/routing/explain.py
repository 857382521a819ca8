"""Why a task went (or did not go) to an agent: decision records kept by the engine, and a full
analysis of every worker against a task computed on demand."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from tongdai.routing.strategies import weight

if TYPE_CHECKING:
    from tongdai.routing.engine import Engine
    from tongdai.routing.model import Task

#: Reason codes of a candidate's verdict.
REASONS = {
    "chosen": "offered the task",
    "ranked_lower": "free and matching, but another agent came first by the queue's strategy",
    "state": "not available (activity)",
    "channel": "no capacity for this channel at all",
    "capacity": "capacity for this channel (or in total) is used up",
    "expression_false": "the target expression is false for this agent",
    "skill_missing": "lacks the skill the expression needs",
    "skill_too_low": "skill level below what the expression needs",
    "not_in_queue": "the queue's target expression does not select this agent",
    "rejected_offer": "declined or missed this task a moment ago",
    "not_preferred": "only the preferred agent may take it yet",
    "zero_weight": "weight 0 in a weighted-random queue",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    worker_id: str
    verdict: str
    """A key of REASONS."""
    detail: str = ""
    score: tuple[float, ...] | None = None


@dataclasses.dataclass(slots=True)
class Decision:
    """One routing decision about a task."""

    at: float
    kind: str
    """task_routed (a task looked for an agent), worker_freed (an agent looked for a task), timer, ..."""
    queue_id: str | None
    strategy: str | None
    step: int
    outcome: str
    candidates: list[Candidate] = dataclasses.field(default_factory=list)
    task_score: float | None = None
    competing: list[tuple[str, str, float]] = dataclasses.field(default_factory=list)
    """For decisions an agent started: (queue, head task, score) of each of the agent's queues."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at, "kind": self.kind, "queue_id": self.queue_id, "strategy": self.strategy,
            "step": self.step, "outcome": self.outcome, "task_score": self.task_score,
            "candidates": [dataclasses.asdict(c) for c in self.candidates],
            "competing": [{"queue_id": q, "task_id": t, "score": s} for q, t, s in self.competing],
        }


def analyse(engine: Engine, task: Task, now: float) -> list[Candidate]:
    """Every worker judged against the task where it stands now, best first (on demand; O(workers))."""
    queue = engine.queues.get(task.queue_id or "")
    if queue is None:
        return []
    ctx = task.context()
    target = engine.current_target(task)
    out: list[Candidate] = []
    for worker in engine.workers.values():
        out.append(_judge(engine, task, queue, target, worker, ctx, now))
    order = {"chosen": 0, "ranked_lower": 1}
    out.sort(key=lambda c: (order.get(c.verdict, 2), c.score or (), c.worker_id))
    return out


def judge_members(engine: Engine, task: Task, queue: Any, chosen: set[str], now: float) -> list[Candidate]:
    """At decision time, every member of the queue with its verdict (small queues only: O(members))."""
    ctx = task.context()
    target = engine.current_target(task)
    out = []
    for wid in sorted(engine.members(queue.id)):
        w = engine.workers[wid]
        if wid in chosen:
            out.append(Candidate(wid, "chosen", "", engine.score_of(queue, w)))
        else:
            out.append(_judge(engine, task, queue, target, w, ctx, now))
    order = {"chosen": 0, "ranked_lower": 1}
    out.sort(key=lambda c: (order.get(c.verdict, 2), c.score or (), c.worker_id))
    return out


def _judge(engine: Engine, task: Task, queue: Any, target: Any, worker: Any, ctx: dict[str, Any],
           now: float) -> Candidate:
    score = engine.score_of(queue, worker)
    if task.id in worker.tasks:
        return Candidate(worker.id, "chosen", task.state.value, score)
    if queue.id not in worker.queues:
        code, text = queue.expression.why_false(worker.attributes, ctx)
        return Candidate(worker.id, "not_in_queue" if code == "expression_false" else code, text)
    why = worker.why_not(task.channel)
    if why is not None:
        return Candidate(worker.id, why, f"{worker.activity.value}, load {dict(worker.load)}", score)
    if target is not None and not target.compiled.matches(worker.attributes, ctx):
        code, text = target.compiled.why_false(worker.attributes, ctx)
        return Candidate(worker.id, code, text, score)
    if task.excluded.get(worker.id, -1.0) > now:
        return Candidate(worker.id, "rejected_offer", f"until {task.excluded[worker.id]}", score)
    if queue.strategy.value == "weighted_random" and weight(queue, worker) <= 0:
        return Candidate(worker.id, "zero_weight", "", score)
    if not engine.preferred_allows(task, queue, worker, now):
        return Candidate(worker.id, "not_preferred", "", score)
    return Candidate(worker.id, "ranked_lower", "", score)

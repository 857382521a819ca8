"""Agent-selection strategies: which free agent of a queue gets a task.

Each ordering strategy is a sort key over workers (smallest first). The engine keeps one lazy heap
per queue on that key, so the best free agent is found without scanning the queue.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tongdai.routing.model import Queue, Worker


class Strategy(StrEnum):
    """How a queue picks among its free agents."""

    LONGEST_IDLE = "longest_idle"
    """The agent free for the longest time (since the last task ended or since becoming available)."""
    LEAST_OCCUPIED = "least_occupied"
    """The agent using the smallest share of their capacity (multi-channel), then longest idle."""
    MOST_SKILLED = "most_skilled"
    """The highest level in the queue's skill, then longest idle."""
    LEAST_SKILLED = "least_skilled"
    """The lowest level that still matches (keeps experts free), then longest idle."""
    ROUND_ROBIN = "round_robin"
    """The agent offered a task of this queue least recently."""
    RING_ALL = "ring_all"
    """Offer to every free matching agent at once; the first to accept gets it."""
    PREFERRED = "preferred"
    """Only the task's preferred (e.g. last) agent for `preferred_wait_s`, then the fallback strategy."""
    WEIGHTED_RANDOM = "weighted_random"
    """A random free agent, each weighted by the queue's weight attribute (default `weight`, 1)."""


#: Strategies whose choice is an ordering (heap-backed).
ORDERED = frozenset(set(Strategy) - {Strategy.WEIGHTED_RANDOM})


def effective(queue: Queue) -> Strategy:
    """The ordering a queue uses for its heap (preferred orders by its fallback)."""
    if queue.strategy is Strategy.PREFERRED:
        return queue.fallback
    if queue.strategy is Strategy.RING_ALL:
        return Strategy.LONGEST_IDLE
    return queue.strategy


def skill_level(worker: Worker, skill: str | None) -> float:
    if skill is None:
        return 0.0
    skills = worker.attributes.get("skills")
    level = skills.get(skill) if isinstance(skills, dict) else None
    return float(level) if isinstance(level, int | float) and not isinstance(level, bool) else 0.0


def worker_key(queue: Queue, worker: Worker, last_offer: float, order_by: Strategy | None = None
               ) -> tuple[float, ...]:
    """Sort key of a worker in a queue (smaller is better); `last_offer` feeds round robin; `order_by`
    (a workflow target's ordering) replaces the queue's."""
    s = effective(queue) if order_by is None else order_by
    if s is Strategy.LEAST_OCCUPIED:
        return (worker.occupancy(), worker.idle_since)
    if s is Strategy.MOST_SKILLED:
        return (-skill_level(worker, queue.skill), worker.idle_since)
    if s is Strategy.LEAST_SKILLED:
        return (skill_level(worker, queue.skill), worker.idle_since)
    if s is Strategy.ROUND_ROBIN:
        return (last_offer, worker.idle_since)
    return (worker.idle_since,)


def weight(queue: Queue, worker: Worker) -> float:
    value: Any = worker.attributes.get(queue.weight_attribute, 1)
    return float(value) if isinstance(value, int | float) and value > 0 else 0.0


def weighted_choice(rng: random.Random, weights: Sequence[float]) -> int | None:
    """Index drawn with probability proportional to its weight; None when all weights are 0."""
    total = sum(weights)
    if total <= 0:
        return None
    x = rng.random() * total
    for i, w in enumerate(weights):
        x -= w
        if x < 0:
            return i
    return len(weights) - 1

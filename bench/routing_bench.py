"""Routing decision latency and throughput: the engine beside a naive scan-everything router.

World: N agents with 4 of 50 skills (levels 1-10) and 1-3 of 3 languages; 500 queues, each
`skills.sK >= L` (and half of them `AND languages HAS 'vi'`); 10,000 tasks waiting, spread over the
queues with priorities 0-2. Every agent is busy. Then, in a steady loop, a random agent finishes (the
engine picks that agent's next task across all its queues: one decision) and a new task arrives (it
looks for a free agent, finds none and waits: one decision). Both routers run the same sequence in the
same process, one after the other; each figure is the median of `--runs` runs.

    python -m bench.routing_bench [--agents 1000,5000,20000] [--runs 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.routing_naive import NaiveRouter, NTask, NWorker
from tongdai.routing.engine import Engine
from tongdai.routing.events import TaskReserved
from tongdai.routing.model import Activity, Queue, Task, Worker

SKILLS = 50
QUEUES = 500
WAITING = 10_000
LANGS = ("vi", "en", "zh")


@dataclass
class World:
    queues: list[tuple[str, str]]
    agents: list[tuple[str, dict[str, Any]]]
    arrivals: list[tuple[str, str, int]]
    """(task id, queue, priority) in arrival order; the first ones fill the agents and the queues."""
    finishing: random.Random


def make_world(n_agents: int, n_queues: int = QUEUES, n_skills: int = SKILLS, seed: int = 1,
               arrivals: int = 200_000) -> World:
    """A random but reproducible contact centre."""
    rng = random.Random(seed)
    queues = []
    for j in range(n_queues):
        target = f"skills.s{j % n_skills} >= {1 + (j // n_skills) % 5}"
        if (j // n_skills) % 2:
            target += " AND languages HAS 'vi'"
        queues.append((f"q{j}", target))
    agents = []
    for i in range(n_agents):
        skills = {f"s{k}": rng.randint(1, 10) for k in rng.sample(range(n_skills), 4)}
        langs = sorted(rng.sample(LANGS, rng.randint(1, 3)))
        agents.append((f"a{i}", {"skills": skills, "languages": langs}))
    tasks = [(f"t{i}", f"q{rng.randrange(n_queues)}", rng.choice((0, 0, 0, 0, 0, 0, 0, 1, 1, 2)))
             for i in range(arrivals)]
    return World(queues, agents, tasks, random.Random(seed + 1))


class EngineDriver:
    """Runs the world through the engine (offers accepted at once)."""

    name = "engine"

    def __init__(self, world: World) -> None:
        self.e = Engine(explain_limit=4, keep_ended=1000)
        for qid, target in world.queues:
            self.e.add_queue(Queue(qid, target=target), 0.0)
        for wid, attrs in world.agents:
            self.e.add_worker(Worker(wid, dict(attrs), activity=Activity.AVAILABLE), 0.0)
        self.assigned: list[str] = []

    def _accept(self, events: list[Any], now: float) -> tuple[str, str] | None:
        got = None
        for ev in events:
            if isinstance(ev, TaskReserved):
                self.e.accept(ev.reservation_id, now)
                self.assigned.append(ev.task_id)
                got = (ev.task_id, ev.worker_ids[0])
        return got

    def submit(self, tid: str, queue: str, priority: int, now: float) -> tuple[str, str] | None:
        """(task, agent) when the new task went to an agent at once."""
        return self._accept(self.e.submit(Task(tid, attributes={"queue": queue}, priority=priority), now), now)

    def complete(self, tid: str, now: float) -> tuple[str, str] | None:
        """(task, agent) when the freed agent took a waiting task."""
        return self._accept(self.e.complete(tid, now), now)

    def waiting(self) -> int:
        return sum(self.e.waiting_count(q) for q in self.e.queues)


class NaiveDriver:
    name = "naive"

    def __init__(self, world: World) -> None:
        self.r = NaiveRouter()
        for qid, target in world.queues:
            self.r.add_queue(qid, target)
        for wid, attrs in world.agents:
            self.r.add_worker(wid, dict(attrs), 0.0)
        self.assigned: list[str] = []

    @classmethod
    def like(cls, ed: EngineDriver, world: World) -> NaiveDriver:
        """The naive router in the state the engine reached (filling 20,000 agents by scanning every
        agent per arrival would take minutes; the decisions are the same, as a test checks)."""
        self = cls.__new__(cls)
        self.r = NaiveRouter()
        for qid, target in world.queues:
            self.r.add_queue(qid, target)
        for wid, attrs in world.agents:
            w = ed.e.workers[wid]
            self.r.workers[wid] = NWorker(wid, {**attrs, "id": wid}, w.idle_since)
        for heap in ed.e._theaps.values():
            for _score, seq, stamp, tid in heap:
                t = ed.e.tasks.get(tid)
                if t is not None and t.waiting and t.stamp == stamp:
                    self.r.waiting[tid] = NTask(tid, t.queue_id or "", t.priority, t.created_at or 0.0, seq)
        for tid in ed.assigned:
            t = ed.e.tasks[tid]
            nt = NTask(tid, t.queue_id or "", t.priority, t.created_at or 0.0, 0, t.worker_id)
            self.r.assigned[tid] = nt
            self.r.workers[t.worker_id or ""].busy = tid
        self.r.waiting = dict(sorted(self.r.waiting.items(), key=lambda kv: kv[1].seq))
        self.r._seq = iter(range(10**9, 10**10))
        self.assigned = list(ed.assigned)
        return self

    def submit(self, tid: str, queue: str, priority: int, now: float) -> tuple[str, str] | None:
        w = self.r.submit(tid, queue, priority, now)
        if w is not None:
            self.assigned.append(tid)
            return tid, w
        return None

    def complete(self, tid: str, now: float) -> tuple[str, str] | None:
        worker = self.r.assigned[tid].worker or ""
        got = self.r.complete(tid, now)
        if got is not None:
            self.assigned.append(got)
            return got, worker
        return None

    def waiting(self) -> int:
        return len(self.r.waiting)


def fill(driver: Any, world: World, waiting: int, busy_share: float | None = None) -> int:
    """Submit arrivals until every agent is busy and `waiting` tasks wait (or, with `busy_share`,
    until that share of the agents is busy); returns the arrivals used."""
    i = 0
    now = 0.0
    n_agents = len(world.agents)
    while (driver.waiting() < waiting if busy_share is None else len(driver.assigned) < busy_share * n_agents):
        tid, q, p = world.arrivals[i]
        driver.submit(tid, q, p, now)
        now += 0.01
        i += 1
    return i


def steady(driver: Any, world: World, start: int, ops: int, now: float = 1000.0,
           trace: list[tuple[str, tuple[str, str] | None]] | None = None) -> dict[str, list[int]]:
    """`ops` rounds of (a random agent finishes, a new task arrives); latencies in ns per call."""
    rng = random.Random(7)
    lat: dict[str, list[int]] = {"agent_freed": [], "task_arrived": []}
    clock = time.perf_counter_ns
    for k in range(ops):
        now += 0.5
        j = rng.randrange(len(driver.assigned))
        driver.assigned[j], driver.assigned[-1] = driver.assigned[-1], driver.assigned[j]
        tid = driver.assigned.pop()
        t0 = clock()
        got = driver.complete(tid, now)
        t1 = clock()
        new_id, q, p = world.arrivals[start + k]
        placed = driver.submit(new_id, q, p, now)
        t2 = clock()
        lat["agent_freed"].append(t1 - t0)
        lat["task_arrived"].append(t2 - t1)
        if trace is not None:
            trace.append((tid, got))
            trace.append((new_id, placed))
    return lat


def _pct(xs: list[int], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))] / 1000.0


def measure(make: Callable[[World], Any], world: World, ops: int, regime: str = "loaded") -> dict[str, float]:
    driver = EngineDriver(world)
    used = fill(driver, world, WAITING) if regime == "loaded" else fill(driver, world, 0, busy_share=0.8)
    if make is NaiveDriver:
        driver = NaiveDriver.like(driver, world)
    gc.collect()
    gc.disable()
    try:
        lat = steady(driver, world, used, ops)
    finally:
        gc.enable()
    both = lat["agent_freed"] + lat["task_arrived"]
    return {
        "agent_freed_p50_us": _pct(lat["agent_freed"], 0.5), "agent_freed_p99_us": _pct(lat["agent_freed"], 0.99),
        "task_arrived_p50_us": _pct(lat["task_arrived"], 0.5),
        "task_arrived_p99_us": _pct(lat["task_arrived"], 0.99),
        "decision_p50_us": _pct(both, 0.5), "decision_p99_us": _pct(both, 0.99),
        "decisions_per_s": len(both) / (sum(both) / 1e9), "waiting": driver.waiting(),
        "busy": len(driver.assigned) + 1,
    }


def run(agent_counts: list[int], runs: int, ops: int, naive_ops: int,
        regimes: tuple[str, ...] = ("loaded", "mixed")) -> dict[str, Any]:
    results = []
    for regime in regimes:
        for n in agent_counts:
            results.append(_row(regime, n, runs, ops, naive_ops))
    return {"date": time.strftime("%Y-%m-%d"), "runs": runs, "ops": ops, "naive_ops": naive_ops,
            "results": results}


def _row(regime: str, n: int, runs: int, ops: int, naive_ops: int) -> dict[str, Any]:
    world = make_world(n)
    per_run: dict[str, list[dict[str, float]]] = {"engine": [], "naive": []}
    for _ in range(runs):
        per_run["engine"].append(measure(EngineDriver, world, ops, regime))
        per_run["naive"].append(measure(NaiveDriver, world, naive_ops, regime))
    row: dict[str, Any] = {"regime": regime, "agents": n, "queues": QUEUES, "skills": SKILLS}
    for name, rs in per_run.items():
        row[name] = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
    row["speedup_p50"] = row["naive"]["decision_p50_us"] / row["engine"]["decision_p50_us"]
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--agents", default="1000,5000,20000")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--ops", type=int, default=20_000)
    p.add_argument("--naive-ops", type=int, default=300)
    p.add_argument("--json")
    args = p.parse_args(argv)
    out = run([int(x) for x in args.agents.split(",")], args.runs, args.ops, args.naive_ops)
    text = json.dumps(out, indent=2)
    if args.json:
        Path(args.json).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

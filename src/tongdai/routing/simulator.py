"""A discrete-event simulator driving the routing engine itself (not a copy of it).

Arrivals (Poisson streams or replayed records), caller patience, handle times, wrap-up and agent shifts
are simulated events; the engine's own timers (offer timeouts, escalations, maximum waits) are honoured
through `engine.next_deadline()`. Offers are answered at once (or after `answer_delay_s`). The report
gives, per queue and per arrival stream: offered, answered, abandoned, service level (answered within
the queue's threshold over all arrivals that ended), average speed of answer, abandonment and occupancy.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tongdai.core.errors import InvalidInput
from tongdai.routing import events as ev
from tongdai.routing.engine import Engine
from tongdai.routing.model import Activity, Queue, Task, Worker
from tongdai.routing.workflow import load_workflow

# ---------------------------------------------------------------- scenario

@dataclasses.dataclass(frozen=True)
class Distribution:
    """exponential (mean_s), fixed (mean_s), lognormal (mean_s, cv), none (infinite) or empirical (values)."""

    dist: str = "exponential"
    mean_s: float = 0.0
    cv: float = 1.0
    values: tuple[float, ...] = ()

    def draw(self, rng: random.Random) -> float:
        if self.dist == "exponential":
            return rng.expovariate(1 / self.mean_s)
        if self.dist == "fixed":
            return self.mean_s
        if self.dist == "lognormal":
            sigma2 = math.log(1 + self.cv ** 2)
            return rng.lognormvariate(math.log(self.mean_s) - sigma2 / 2, math.sqrt(sigma2))
        if self.dist == "empirical":
            return rng.choice(self.values)
        return math.inf

    @classmethod
    def of(cls, raw: Mapping[str, Any] | None) -> Distribution:
        if raw is None:
            return cls(dist="none")
        return cls(dist=str(raw.get("dist", "exponential")), mean_s=float(raw.get("mean_s", 0.0)),
                   cv=float(raw.get("cv", 1.0)), values=tuple(float(v) for v in raw.get("values", ())))


@dataclasses.dataclass(frozen=True)
class Stream:
    """A Poisson arrival stream; `rates` is a list of (from_s, per_minute) for a piecewise-constant rate."""

    name: str
    rates: tuple[tuple[float, float], ...]
    handle: Distribution
    patience: Distribution
    attributes: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    channel: str = "voice"
    priority: int = 0
    wrap_up_s: float = 0.0


@dataclasses.dataclass(frozen=True)
class Arrival:
    """A replayed contact: when, what, how long it takes, how long the caller would wait."""

    at: float
    stream: str
    handle_s: float
    patience_s: float = math.inf
    attributes: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    channel: str = "voice"
    priority: int = 0
    wrap_up_s: float = 0.0


@dataclasses.dataclass(frozen=True)
class AgentGroup:
    """`count` identical agents; `staffing` is (from_s, how many work) steps, default all from 0."""

    name: str
    count: int
    attributes: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    capacity: Mapping[str, int] = dataclasses.field(default_factory=lambda: {"voice": 1})
    total_capacity: int | None = None
    staffing: tuple[tuple[float, int], ...] = ()


@dataclasses.dataclass
class Scenario:
    queues: list[Queue]
    agents: list[AgentGroup]
    streams: list[Stream] = dataclasses.field(default_factory=list)
    replay: list[Arrival] = dataclasses.field(default_factory=list)
    workflow: Mapping[str, Any] | None = None
    duration_s: float = 8 * 3600
    warmup_s: float = 0.0
    seed: int = 1
    answer_delay_s: float = 0.0
    aging_s: float = 60.0


def scenario_from_dict(raw: Mapping[str, Any]) -> Scenario:
    """Build a scenario from its YAML/JSON form (see docs/routing.md)."""
    try:
        queues = [Queue(**q) for q in raw["queues"]]
        agents = [AgentGroup(name=str(a.get("name", f"group{i}")), count=int(a["count"]),
                             attributes=a.get("attributes", {}), capacity=a.get("capacity", {"voice": 1}),
                             total_capacity=a.get("total_capacity"),
                             staffing=tuple((float(s), int(n)) for s, n in a.get("staffing", ())))
                  for i, a in enumerate(raw["agents"])]
        streams = [_stream(s) for s in raw.get("arrivals", [])]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"scenario: {exc}", error_id="invalid_scenario") from None
    return Scenario(queues=queues, agents=agents, streams=streams, workflow=raw.get("workflow"),
                    duration_s=float(raw.get("duration_s", 8 * 3600)), warmup_s=float(raw.get("warmup_s", 0)),
                    seed=int(raw.get("seed", 1)), answer_delay_s=float(raw.get("answer_delay_s", 0)),
                    aging_s=float(raw.get("aging_s", 60)))


def _stream(s: Mapping[str, Any]) -> Stream:
    if "rates" in s:
        rates = tuple((float(a), float(b)) for a, b in s["rates"])
    else:
        rates = ((0.0, float(s["rate_per_min"])),)
    return Stream(name=str(s.get("name", "calls")), rates=rates, handle=Distribution.of(s["handle_time"]),
                  patience=Distribution.of(s.get("patience")), attributes=s.get("attributes", {}),
                  channel=str(s.get("channel", "voice")), priority=int(s.get("priority", 0)),
                  wrap_up_s=float(s.get("wrap_up_s", 0)))


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file (YAML or JSON)."""
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not YAML: {exc}".splitlines()[0], error_id="invalid_scenario") from None
    if not isinstance(raw, dict):
        raise InvalidInput(f"{path}: a scenario is a mapping", error_id="invalid_scenario")
    return scenario_from_dict(raw)


# ---------------------------------------------------------------- statistics

@dataclasses.dataclass
class Tally:
    """Outcomes of the contacts of one queue or stream."""

    offered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    abandoned_in_sl: int = 0
    left: int = 0
    waited: int = 0
    wait_answered_s: float = 0.0
    wait_abandoned_s: float = 0.0
    handle_s: float = 0.0
    threshold_s: float = 20.0

    def add(self, outcome: str, wait: float, handle: float) -> None:
        self.offered += 1
        self.waited += wait > 0
        if outcome == "answered":
            self.answered += 1
            self.wait_answered_s += wait
            self.handle_s += handle
            self.answered_in_sl += wait <= self.threshold_s
        elif outcome == "abandoned":
            self.abandoned += 1
            self.wait_abandoned_s += wait
            self.abandoned_in_sl += wait <= self.threshold_s
        else:
            self.left += 1

    def report(self, staffed_s: float | None = None) -> dict[str, float]:
        n = max(self.offered, 1)
        out = {
            "offered": self.offered, "answered": self.answered, "abandoned": self.abandoned, "left": self.left,
            "service_level": self.answered_in_sl / n,
            "p_wait": self.waited / n,
            "asa_s": self.wait_answered_s / max(self.answered, 1),
            "mean_wait_s": (self.wait_answered_s + self.wait_abandoned_s) / n,
            "abandonment": self.abandoned / n,
            "aht_s": self.handle_s / max(self.answered, 1),
        }
        if staffed_s:
            out["occupancy"] = self.handle_s / staffed_s
        return out


@dataclasses.dataclass
class _Contact:
    task: Task
    stream: str
    handle_s: float
    patience_s: float
    wrap_up_s: float
    counted: bool
    assigned_at: float | None = None
    queue_id: str | None = None
    done: bool = False


@dataclasses.dataclass
class Report:
    queues: dict[str, dict[str, float]]
    streams: dict[str, dict[str, float]]
    overall: dict[str, float]
    decisions: int
    events: int

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------- the simulation

class Simulation:
    """One run of a scenario through a fresh engine."""

    def __init__(self, scenario: Scenario, seed: int | None = None) -> None:
        self.sc = scenario
        self.rng = random.Random(scenario.seed if seed is None else seed)
        wf = load_workflow(scenario.workflow) if scenario.workflow else None
        self.engine = Engine(workflow=wf, aging_s=scenario.aging_s, seed=self.rng.randrange(1 << 30))
        self.contacts: dict[str, _Contact] = {}
        self.by_queue: dict[str, Tally] = {q.id: Tally(threshold_s=q.service_level_s) for q in scenario.queues}
        self.by_stream: dict[str, Tally] = {}
        self.overall = Tally(threshold_s=min((q.service_level_s for q in scenario.queues), default=20.0))
        self.staffed_s: dict[str, float] = {}
        self._heap: list[tuple[float, int, str, Any]] = []
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self._busy_handle_s = 0.0
        self.event_count = 0
        self._on_since: dict[str, float] = {}

    def _at(self, t: float, kind: str, payload: Any) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), kind, payload))

    def run(self) -> Report:
        """Simulate until every arrival of the horizon has been answered, has abandoned or left."""
        for q in self.sc.queues:
            self.engine.add_queue(q, 0.0)
        self._schedule_agents()
        for s in self.sc.streams:
            self._next_poisson(s, 0.0)
        for a in self.sc.replay:
            self._at(a.at, "replay", a)
        while self._heap or self.engine.tasks:
            t_event = self._heap[0][0] if self._heap else math.inf
            t_engine = self.engine.next_deadline()
            if t_engine is not None and t_engine < t_event:
                self._handle(self.engine.tick(t_engine), t_engine)
                continue
            if not self._heap:
                break
            t, _, kind, payload = heapq.heappop(self._heap)
            getattr(self, f"_on_{kind}")(payload, t)
        return self._report()

    # -- agents

    def _schedule_agents(self) -> None:
        for g in self.sc.agents:
            for i in range(g.count):
                wid = f"{g.name}-{i}"
                attrs = {**g.attributes}
                self.engine.add_worker(Worker(wid, attrs, capacity=dict(g.capacity),
                                              total_capacity=g.total_capacity or sum(g.capacity.values()),
                                              activity=Activity.OFFLINE), 0.0)
            steps = g.staffing or ((0.0, g.count),)
            for start, n in steps:
                self._at(start, "staff", (g, n))
            self._at(self.sc.duration_s, "staff_end", g)

    def _on_staff(self, payload: tuple[AgentGroup, int], t: float) -> None:
        g, n = payload
        for i in range(g.count):
            self._set(f"{g.name}-{i}", Activity.AVAILABLE if i < n else Activity.OFFLINE, t)

    def _on_staff_end(self, g: AgentGroup, t: float) -> None:
        # agents stay on after the horizon until the queues drain (nothing is counted after it)
        for i in range(g.count):
            wid = f"{g.name}-{i}"
            if wid in self._on_since:
                self.staffed_s[g.name] = self.staffed_s.get(g.name, 0.0) + t - self._on_since.pop(wid)

    def _set(self, wid: str, activity: Activity, t: float) -> None:
        group = wid.rsplit("-", 1)[0]
        if activity is Activity.AVAILABLE and wid not in self._on_since and t < self.sc.duration_s:
            self._on_since[wid] = max(t, self.sc.warmup_s)
        elif activity is Activity.OFFLINE and wid in self._on_since:
            self.staffed_s[group] = self.staffed_s.get(group, 0.0) + max(0.0, t - self._on_since.pop(wid))
        self._handle(self.engine.set_activity(wid, activity, t, reason="shift"), t)

    # -- arrivals

    def _rate_at(self, s: Stream, t: float) -> tuple[float, float]:
        """(per-second rate at t, end of that piece)."""
        rate, end = 0.0, math.inf
        for i, (start, per_min) in enumerate(s.rates):
            if start <= t:
                rate = per_min / 60
                end = s.rates[i + 1][0] if i + 1 < len(s.rates) else math.inf
        return rate, end

    def _next_poisson(self, s: Stream, t: float) -> None:
        while t < self.sc.duration_s:
            rate, end = self._rate_at(s, t)
            nxt = t + self.rng.expovariate(rate) if rate > 0 else math.inf
            if nxt < end:
                if nxt < self.sc.duration_s:
                    self._at(nxt, "poisson", s)
                return
            t = end  # memoryless: restart the draw at the next piece

    def _on_poisson(self, s: Stream, t: float) -> None:
        self._arrive(s.name, t, s.handle.draw(self.rng), s.patience.draw(self.rng), s.attributes,
                     s.channel, s.priority, s.wrap_up_s)
        self._next_poisson(s, t)

    def _on_replay(self, a: Arrival, t: float) -> None:
        self._arrive(a.stream, t, a.handle_s, a.patience_s, a.attributes, a.channel, a.priority, a.wrap_up_s)

    def _arrive(self, stream: str, t: float, handle: float, patience: float, attrs: Mapping[str, Any],
                channel: str, priority: int, wrap: float) -> None:
        tid = f"c{next(self._ids)}"
        task = Task(tid, channel=channel, attributes=dict(attrs), priority=priority, created_at=t)
        c = _Contact(task, stream, handle, patience, wrap, counted=t >= self.sc.warmup_s)
        self.contacts[tid] = c
        if math.isfinite(patience):
            self._at(t + patience, "patience", tid)
        self._handle(self.engine.submit(task, t), t)

    def _on_patience(self, tid: str, t: float) -> None:
        c = self.contacts.get(tid)
        if c is not None and c.assigned_at is None and tid in self.engine.tasks:
            self._handle(self.engine.cancel(tid, t, reason="caller_hung_up", abandoned=True), t)

    # -- service

    def _on_accept(self, rid: str, t: float) -> None:
        if rid in self.engine.reservations:
            self._handle(self.engine.accept(rid, t), t)

    def _on_done(self, tid: str, t: float) -> None:
        c = self.contacts[tid]
        self._handle(self.engine.complete(tid, t, wrap_up_s=c.wrap_up_s), t)

    def _handle(self, events: Iterable[ev.RoutingEvent], t: float) -> None:
        for e in events:
            self.event_count += 1
            if isinstance(e, ev.TaskReserved):
                if e.reservation_id not in self.engine.reservations:
                    continue  # withdrawn later in the same batch (e.g. the caller hung up at that instant)
                if self.sc.answer_delay_s > 0:
                    self._at(t + self.sc.answer_delay_s, "accept", e.reservation_id)
                else:
                    self._handle(self.engine.accept(e.reservation_id, t), t)
            elif isinstance(e, ev.TaskAssigned):
                c = self.contacts[e.task_id]
                c.assigned_at, c.queue_id = t, e.queue_id
                self._at(t + c.handle_s, "done", e.task_id)
            elif isinstance(e, ev.TaskQueued):
                self.contacts[e.task_id].queue_id = e.queue_id
            elif isinstance(e, ev.TaskEnded):
                self._ended(e, t)

    def _ended(self, e: ev.TaskEnded, t: float) -> None:
        c = self.contacts.pop(e.task_id)
        if not c.counted or c.task.created_at is None or c.task.created_at >= self.sc.duration_s:
            return
        created = c.task.created_at
        if c.assigned_at is not None:
            outcome, wait = "answered", c.assigned_at - created
        elif e.state == "abandoned":
            outcome, wait = "abandoned", t - created
        else:
            outcome, wait = "left", t - created
        handle = c.handle_s if outcome == "answered" else 0.0
        for tally in self._tallies(c):
            tally.add(outcome, wait, handle)

    def _tallies(self, c: _Contact) -> list[Tally]:
        out = [self.overall]
        if c.queue_id in self.by_queue:
            out.append(self.by_queue[c.queue_id])
        if c.stream not in self.by_stream:
            q = self.engine.queues.get(c.queue_id or "")
            self.by_stream[c.stream] = Tally(threshold_s=q.service_level_s if q else self.overall.threshold_s)
        out.append(self.by_stream[c.stream])
        return out

    def _report(self) -> Report:
        staffed = sum(self.staffed_s.values())
        queues = {}
        for qid, tally in self.by_queue.items():
            members = self.engine.members(qid)
            groups = {m.rsplit("-", 1)[0] for m in members}
            queues[qid] = tally.report(sum(self.staffed_s.get(g, 0.0) for g in groups))
        return Report(queues=queues, streams={k: v.report() for k, v in self.by_stream.items()},
                      overall=self.overall.report(staffed), decisions=self.engine.decision_count,
                      events=self.event_count)


def simulate(scenario: Scenario, seed: int | None = None) -> Report:
    """Run one replication of a scenario."""
    return Simulation(scenario, seed).run()


def replicate(scenario: Scenario, runs: int, metrics: Sequence[str] = ("service_level", "abandonment"),
              scope: str = "overall") -> dict[str, tuple[float, float, float]]:
    """Independent replications: metric -> (mean, 95% CI low, high) with a Student t interval."""
    values: dict[str, list[float]] = {m: [] for m in metrics}
    for r in range(runs):
        rep = simulate(scenario, seed=scenario.seed * 1000 + r)
        source = rep.overall if scope == "overall" else rep.queues[scope]
        for m in metrics:
            values[m].append(source[m])
    return {m: _interval(v) for m, v in values.items()}


_T975 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571, 8: 2.365, 10: 2.262, 12: 2.201, 16: 2.131,
         20: 2.093, 30: 2.045}


def _interval(xs: list[float]) -> tuple[float, float, float]:
    n = len(xs)
    mean = sum(xs) / n
    if n < 2:
        return mean, mean, mean
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    t = _T975.get(n) or _T975[max(k for k in _T975 if k <= n)]
    half = t * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def format_report(report: Report) -> str:
    """A plain table: one line per queue and per arrival stream, then the total."""
    cols = ("offered", "answered", "abandoned", "left", "service_level", "asa_s", "abandonment", "occupancy")
    head = f"{'':<22}" + "".join(f"{c:>14}" for c in cols)
    lines = [head]

    def row(name: str, values: Mapping[str, float]) -> str:
        cells = []
        for c in cols:
            v = values.get(c)
            if v is None:
                cells.append(f"{'':>14}")
            elif c in ("service_level", "abandonment", "occupancy"):
                cells.append(f"{v:>13.1%} ")
            elif c == "asa_s":
                cells.append(f"{v:>12.1f} s")
            else:
                cells.append(f"{int(v):>14,}")
        return f"{name:<22}" + "".join(cells)

    lines += [row(f"queue {q}", v) for q, v in report.queues.items()]
    lines += [row(f"stream {s}", v) for s, v in report.streams.items()]
    lines.append(row("all", report.overall))
    lines.append(f"{report.decisions:,} routing decisions, {report.events:,} engine events")
    return "\n".join(lines)


INTERVAL_METRICS = ("service_level", "asa_s", "abandonment", "p_wait", "occupancy")


def format_intervals(intervals: Mapping[str, tuple[float, float, float]]) -> str:
    """Replication means with their 95% confidence intervals, one metric a line."""
    return "\n".join(f"{m:<14} {mean:10.4f}   95% CI {low:.4f} - {high:.4f}"
                     for m, (mean, low, high) in intervals.items())

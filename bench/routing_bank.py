"""Replay of the "Anonymous Bank" call log (Israel, 1999) through the routing simulator.

From each month's file: every call that reached the queue becomes an arrival at its queue-entry time
(`vru_exit`), with its service type as the skill it needs, its priority (2 = high), its real handle time
and a patience: the real queue time for callers who hung up; for callers who were answered (whose
patience is only known to exceed their wait) the wait plus an exponential draw with the type's mean
patience (maximum-likelihood estimate with censoring: total queue time / abandonments). Each agent
(`server`) becomes a worker with skills = the service types they answered that month, on shift in every
30-minute interval of a day in which they were seen serving. Calls that hung up in the IVR and
PHANTOM records are left out.

    python -m bench.routing_bank [--month 01|10] [--json out.json]
"""

from __future__ import annotations

import argparse
import bisect
import collections
import csv
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tongdai.routing.model import Queue
from tongdai.routing.simulator import AgentGroup, Arrival, Scenario, simulate

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "call-arrivals"
INTERVAL_S = 1800
SL_S = 20.0
TYPES = ("PS", "PE", "IN", "NE", "NW", "TT")


def _secs(hms: str) -> int:
    h, m, s = (int(x) for x in hms.split(":"))
    return h * 3600 + m * 60 + s


@dataclass
class Call:
    at: float
    type: str
    priority: int
    queued: bool
    answered: bool
    wait_s: float
    handle_s: float
    server: str
    ser_start: float
    ser_end: float


def read_calls(path: Path) -> list[Call]:
    """The calls that reached the agents' queue (IVR hang-ups and PHANTOM records left out)."""
    rows = list(csv.DictReader(path.open(), delimiter="\t"))
    days = {d: i for i, d in enumerate(sorted({r["date"] for r in rows}))}
    calls = []
    for r in rows:
        queued = r["q_start"] != "0:00:00"
        if r["outcome"] == "PHANTOM" or r["type"] not in TYPES:
            continue
        if r["outcome"] == "HANG" and not queued:
            continue
        base = days[r["date"]] * 86400
        answered = r["outcome"] == "AGENT"
        ser_start = base + _secs(r["ser_start"]) if answered else 0.0
        calls.append(Call(at=base + _secs(r["vru_exit"]), type=r["type"], priority=1 if r["priority"] == "2" else 0,
                          queued=queued, answered=answered, wait_s=float(r["q_time"]) if queued else 0.0,
                          handle_s=float(r["ser_time"]), server=r["server"], ser_start=ser_start,
                          ser_end=max(ser_start, ser_start + float(r["ser_time"]))))
    return calls


def actual_by_type(calls: list[Call]) -> dict[str, dict[str, float]]:
    """What really happened, per service type: offered, mean wait, abandonment, service level."""
    out = {}
    for t in TYPES:
        cs = [c for c in calls if c.type == t]
        if not cs:
            continue
        n = len(cs)
        out[t] = {"offered": n, "mean_wait_s": sum(c.wait_s for c in cs) / n,
                  "abandonment": sum(not c.answered for c in cs) / n,
                  "service_level": sum(c.answered and c.wait_s <= SL_S for c in cs) / n,
                  "asa_s": sum(c.wait_s for c in cs if c.answered) / max(1, sum(c.answered for c in cs))}
    return out


def mean_patience(calls: list[Call]) -> dict[str, float]:
    """Exponential patience per type, MLE with censoring: total queue time / number who hung up."""
    out = {}
    for t in TYPES:
        cs = [c for c in calls if c.type == t]
        abandons = sum(not c.answered for c in cs)
        out[t] = sum(c.wait_s for c in cs) / max(abandons, 1)
    return out


def after_call_gaps(calls: list[Call]) -> list[float]:
    """How long agents stayed away between two services while a call of their skills was waiting.

    The log holds talk time only; these gaps (after-call work, short breaks) are the rest of the
    agents' unavailability, and the replay draws each call's wrap-up from them."""
    by_agent: dict[str, list[Call]] = collections.defaultdict(list)
    for c in calls:
        if c.answered and c.server != "NO_SERVER":
            by_agent[c.server].append(c)
    waiting = sorted((c.at, c.at + c.wait_s, c.type) for c in calls if c.wait_s > 0)
    starts = [w[0] for w in waiting]
    gaps = []
    for cs in by_agent.values():
        types = {c.type for c in cs}
        cs.sort(key=lambda c: c.ser_start)
        for prev, nxt in zip(cs, cs[1:], strict=False):
            gap = nxt.ser_start - prev.ser_end
            if not 0 <= gap <= INTERVAL_S:
                continue
            i = bisect.bisect_right(starts, prev.ser_end)
            if any(end > prev.ser_end and t in types for _, end, t in waiting[max(0, i - 300):i]):
                gaps.append(gap)
    return gaps


def build_scenario(calls: list[Call], seed: int = 1, wrap_up: bool = True) -> Scenario:
    """Arrivals, queues per service type and agents with their seen shifts."""
    rng = random.Random(seed)
    patience = mean_patience(calls)
    gaps = after_call_gaps(calls) if wrap_up else [0.0]
    handles: dict[str, list[float]] = collections.defaultdict(list)
    for c in calls:
        if c.answered:
            handles[c.type].append(c.handle_s)
    arrivals = []
    for c in sorted(calls, key=lambda c: c.at):
        if c.answered:
            handle = c.handle_s
            pat = c.wait_s + rng.expovariate(1 / patience[c.type])
        else:
            handle = rng.choice(handles[c.type])
            pat = c.wait_s
        arrivals.append(Arrival(at=c.at, stream=c.type, handle_s=handle, patience_s=pat,
                                attributes={"queue": c.type}, priority=c.priority, wrap_up_s=rng.choice(gaps)))
    queues = [Queue(t, target=f"skills.{t} >= 1", service_level_s=SL_S) for t in TYPES]
    agents = _agents(calls)
    end = max(c.at for c in calls) + 1
    return Scenario(queues=queues, agents=agents, replay=arrivals, duration_s=end, seed=seed)


def _agents(calls: list[Call]) -> list[AgentGroup]:
    skills: dict[str, set[str]] = collections.defaultdict(set)
    seen: dict[str, set[int]] = collections.defaultdict(set)
    for c in calls:
        if not c.answered or c.server in ("NO_SERVER", ""):
            continue
        skills[c.server].add(c.type)
        for i in range(int(c.ser_start // INTERVAL_S), int(c.ser_end // INTERVAL_S) + 1):
            seen[c.server].add(i)
    groups = []
    for name in sorted(skills):
        steps: list[tuple[float, int]] = []
        for i in sorted(seen[name]):
            if i - 1 not in seen[name]:
                steps.append((float(i * INTERVAL_S), 1))
            if i + 1 not in seen[name]:
                steps.append((float((i + 1) * INTERVAL_S), 0))
        groups.append(AgentGroup(name=name.replace("-", "_"), count=1,
                                 attributes={"skills": {t: 1 for t in sorted(skills[name])}}, staffing=tuple(steps)))
    return groups


def run(month: str, seed: int = 1, wrap_up: bool = True) -> dict[str, Any]:
    calls = read_calls(DATA / f"anonymous-bank-1999-{month}.tsv")
    sc = build_scenario(calls, seed, wrap_up)
    started = time.perf_counter()
    rep = simulate(sc)
    elapsed = time.perf_counter() - started
    actual = actual_by_type(calls)
    return {"month": month, "wrap_up": wrap_up, "calls": len(calls), "agents": len(sc.agents), "seconds": elapsed,
            "actual": actual, "simulated": rep.streams,
            "actual_total": _total(actual), "simulated_total": rep.overall,
            "staffed_agent_hours": sum(s for s in _staffed(sc)) / 3600}


def _staffed(sc: Scenario) -> list[float]:
    out = []
    for g in sc.agents:
        on = None
        total = 0.0
        for t, n in g.staffing:
            if n and on is None:
                on = t
            elif not n and on is not None:
                total += t - on
                on = None
        out.append(total)
    return out


def _total(by_type: dict[str, dict[str, float]]) -> dict[str, float]:
    n = sum(v["offered"] for v in by_type.values())
    return {k: sum(v[k] * v["offered"] for v in by_type.values()) / n
            for k in ("mean_wait_s", "abandonment", "service_level")} | {"offered": n}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--month", action="append", choices=["01", "10"])
    p.add_argument("--json")
    args = p.parse_args(argv)
    results = [run(m, wrap_up=w) for m in (args.month or ["01", "10"]) for w in (False, True)]
    text = json.dumps(results, indent=2)
    if args.json:
        Path(args.json).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Property tests: random sequences of arrivals, agent changes, answers and clock steps.

After every step: no task waits while an agent who may take it is free; no capacity is exceeded; no
task is assigned twice or held by two agents.
"""

from __future__ import annotations

import collections

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.routing.helpers import agent
from tongdai.core.errors import Conflict
from tongdai.routing import events as ev
from tongdai.routing.engine import Engine
from tongdai.routing.model import Activity, Queue, Task, TaskState
from tongdai.routing.strategies import Strategy, weight
from tongdai.routing.workflow import load_workflow

SKILLS = ("sales", "support", "billing")
CHANNELS = ("voice", "chat", "email")


def _engine(strategies: list[Strategy]) -> Engine:
    wf = load_workflow({
        "filters": [
            {"name": "vip", "expression": "vip == true", "targets": [
                {"queue": "q0", "expression": "skills.sales >= task.level", "timeout_s": 15, "priority": 2},
                {"queue": "q1", "timeout_s": 30, "skip_if_no_one_available": True},
                {"queue": "q2"}]},
            {"name": "support", "expression": "kind == 'support'", "targets": [
                {"queue": "q1", "timeout_s": 20, "order_by": "most_skilled"}, {"queue": "q2", "timeout_s": 40}]},
        ],
        "default": [{"queue": "q2", "timeout_s": 50}, {"queue": "q0"}],
    })
    e = Engine(workflow=wf, seed=3)
    targets = ["skills.sales >= 1", "skills.support >= 2 OR languages HAS 'en'", ""]
    for i, (target, strat) in enumerate(zip(targets, strategies, strict=True)):
        e.add_queue(Queue(f"q{i}", target=target, strategy=strat, offer_timeout_s=7, wrap_up_s=3 * i,
                          max_size=6, max_wait_s=200, reject_retry_s=5, preferred_wait_s=10,
                          not_ready_on_miss=i != 1), 0)
    return e


def _free_matching(e: Engine, t: Task, now: float) -> list[str]:
    queue = e.queues[t.queue_id or ""]
    target = e.current_target(t)
    ctx = t.context()
    out = []
    for wid in e.members(queue.id):
        w = e.workers[wid]
        if not w.can_take(t.channel) or t.excluded.get(wid, -1) > now:
            continue
        if not e.preferred_allows(t, queue, w, now):
            continue
        if queue.strategy is Strategy.WEIGHTED_RANDOM and weight(queue, w) <= 0:
            continue
        if target is not None and not target.compiled.matches(w.attributes, ctx):
            continue
        out.append(wid)
    return out


def _check(e: Engine, now: float, assigned: collections.Counter[str]) -> None:
    holders: collections.Counter[str] = collections.Counter()
    for w in e.workers.values():
        for ch, n in w.load.items():
            assert 0 <= n <= w.capacity.get(ch, 0), (w.id, ch, n)
        assert w.load_total == sum(w.load.values()) == len(w.tasks) <= w.total_capacity
        holders.update(w.tasks)
    for tid, n in holders.items():
        t = e.tasks[tid]
        assert t.state in (TaskState.RESERVED, TaskState.ASSIGNED, TaskState.WRAPPING)
        if t.state is not TaskState.RESERVED:
            assert n == 1, f"{tid} held by {n} agents"
    assert all(n == 1 for n in assigned.values())
    for t in e.tasks.values():
        if t.state is TaskState.PENDING:
            assert t.waiting
            assert _free_matching(e, t, now) == [], f"{t.id} waits while {_free_matching(e, t, now)} are free"


OPS = st.sampled_from(["submit", "submit", "submit", "activity", "accept", "accept", "reject", "complete",
                       "complete", "wrap", "cancel", "tick", "tick", "skills", "replace"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), strategies=st.lists(st.sampled_from(list(Strategy)), min_size=3, max_size=3))
def test_given_random_operations_then_invariants_hold_after_every_step(data, strategies):
    e = _engine(strategies)
    now = 0.0
    for i in range(6):
        cap = data.draw(st.sampled_from([{"voice": 1}, {"chat": 3}, {"chat": 2, "email": 3, "voice": 1}]))
        skills = {s: data.draw(st.integers(0, 5)) for s in SKILLS}
        e.add_worker(agent(f"w{i}", skills=skills, languages=data.draw(st.sampled_from([["vi"], ["en"]])),
                           capacity=cap, total=data.draw(st.integers(1, sum(cap.values()))), weight=i % 3), now)
    assigned: collections.Counter[str] = collections.Counter()
    n = 0
    for _ in range(data.draw(st.integers(10, 60))):
        op = data.draw(OPS)
        now += data.draw(st.sampled_from([0.0, 0.5, 1.0, 3.0, 8.0]))
        fired = e.tick(now)  # timers first, so the choices below see the world as of `now`
        assigned.update(x.task_id for x in fired if isinstance(x, ev.TaskAssigned))
        evs: list[ev.RoutingEvent] = []
        live = sorted(e.tasks)
        if op == "submit":
            n += 1
            attrs = {"vip": data.draw(st.booleans()), "kind": data.draw(st.sampled_from(["support", "sales"])),
                     "level": data.draw(st.integers(1, 5))}
            if data.draw(st.booleans()):
                attrs["preferred_worker"] = f"w{data.draw(st.integers(0, 6))}"
            evs = e.submit(Task(f"t{n}", channel=data.draw(st.sampled_from(CHANNELS)), attributes=attrs,
                                priority=data.draw(st.integers(0, 2)),
                                timeout_s=data.draw(st.sampled_from([None, 100.0]))), now)
        elif op == "activity":
            wid = f"w{data.draw(st.integers(0, 5))}"
            evs = e.set_activity(wid, data.draw(st.sampled_from(list(Activity))), now)
        elif op in ("accept", "reject") and e.reservations:
            r = e.reservations[data.draw(st.sampled_from(sorted(e.reservations)))]
            wid = data.draw(st.sampled_from([w for w in r.worker_ids if w not in r.declined]))
            if op == "accept":
                evs = e.accept(r.id, now, worker_id=wid)
            else:
                evs = e.reject(r.id, wid, now, not_ready=data.draw(st.booleans()))
        elif op == "complete":
            mine = [t for t in live if e.tasks[t].state is TaskState.ASSIGNED]
            if mine:
                evs = e.complete(data.draw(st.sampled_from(mine)), now)
        elif op == "wrap":
            mine = [t for t in live if e.tasks[t].state is TaskState.WRAPPING]
            if mine:
                evs = e.wrap_up_done(data.draw(st.sampled_from(mine)), now)
        elif op == "cancel" and live:
            evs = e.cancel(data.draw(st.sampled_from(live)), now, abandoned=True)
        elif op == "skills":
            wid = f"w{data.draw(st.integers(0, 5))}"
            skills = {s: data.draw(st.integers(0, 5)) for s in SKILLS}
            evs = e.update_worker(wid, now, attributes={"skills": skills, "languages": ["en"], "weight": 1})
        elif op == "replace":
            wid = f"w{data.draw(st.integers(0, 5))}"
            try:
                evs = e.remove_worker(wid, now)
            except Conflict:
                pass  # holds an assigned task: refused, nothing changed
            else:
                skills = {s: data.draw(st.integers(0, 5)) for s in SKILLS}
                evs += e.add_worker(agent(wid, skills=skills, languages=["vi"], capacity={"chat": 2, "voice": 1},
                                          total=2, weight=1), now)
        else:
            evs = e.tick(now)
        assigned.update(x.task_id for x in evs if isinstance(x, ev.TaskAssigned))
        _check(e, now, assigned)


@settings(max_examples=60, deadline=None)
@given(arrivals=st.lists(st.tuples(st.integers(0, 2), st.floats(0, 5)), min_size=1, max_size=40))
def test_given_agents_keep_answering_then_every_task_is_eventually_served(arrivals):
    """No task waits forever: with agents who answer and finish, every submitted task ends assigned."""
    e = Engine()
    for i in range(3):
        e.add_queue(Queue(f"q{i}"), 0)
    for i in range(2):
        e.add_worker(agent(f"a{i}"), 0)
    now = 0.0
    served: set[str] = set()
    for k, (q, gap) in enumerate(arrivals):
        now += gap
        evs = e.submit(Task(f"t{k}", attributes={"queue": f"q{q}"}, priority=k % 3), now)
        served |= _answer_all(e, evs, now)
    for _ in range(200):
        if not e.tasks:
            break
        now += 1
        for tid in [t for t, x in e.tasks.items() if x.state is TaskState.ASSIGNED]:
            served |= _answer_all(e, e.complete(tid, now), now)
    assert served == {f"t{k}" for k in range(len(arrivals))}


def _answer_all(e: Engine, evs: list[ev.RoutingEvent], now: float) -> set[str]:
    got: set[str] = set()
    queue = list(evs)
    while queue:
        x = queue.pop(0)
        if isinstance(x, ev.TaskReserved):
            queue.extend(e.accept(x.reservation_id, now))
        elif isinstance(x, ev.TaskAssigned):
            got.add(x.task_id)
    return got

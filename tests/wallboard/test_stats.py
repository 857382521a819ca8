"""The pure wallboard aggregator, fed by a real routing engine with a hand-advanced clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.routing.helpers import agent, engine_with, task
from tongdai.calls.events import CallAnswered
from tongdai.routing import events as rev
from tongdai.routing.engine import Engine
from tongdai.routing.model import Queue
from tongdai.routing.strategies import Strategy
from tongdai.routing.workflow import load_workflow
from tongdai.wallboard.stats import Wallboard, load_engine

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC).timestamp()  # 10:00 in Ho Chi Minh City


class Rig:
    """An engine and a wallboard loaded from it; every engine call's events go to the wallboard."""

    def __init__(self, e: Engine, tz: Any = UTC) -> None:
        self.e = e
        self.board = Wallboard(tz=tz)
        load_engine(self.board, e, T0)

    def run(self, fn: Any, at: float) -> list[rev.RoutingEvent]:
        events = fn(self.e, T0 + at)
        for ev in events:
            caller = str(self.e.task(ev.task_id).attributes.get("caller", "")) if ev.task_id else ""
            self.board.apply(ev, T0 + at, caller=caller)
        return events

    def submit(self, tid: str, queue: str, at: float, **attrs: Any) -> None:
        t = task(tid, queue, **attrs)
        t.created_at = T0 + at
        self.run(lambda e, now: e.submit(t, now), at)

    def answer(self, tid: str, at: float) -> None:
        rid = self.e.task(tid).reservation_id
        self.run(lambda e, now: e.accept(rid, now), at)

    def queue(self, qid: str, at: float) -> dict[str, Any]:
        return self.board.queue_row(self.board.queues[qid], T0 + at)

    def agent(self, wid: str, at: float) -> dict[str, Any]:
        return self.board.agent_row(self.board.agents[wid], T0 + at)

    def alerts(self, at: float) -> list[tuple[str, str]]:
        self.board.tick(T0 + at)
        return [(a["queue"], a["kind"]) for a in self.board.alerts]


def rig(n_agents: int = 1, *, threshold: float = 20, target: float = 0.8, wrap: float = 0.0,
        strategy: Strategy = Strategy.LONGEST_IDLE, tz: Any = UTC, max_wait: float | None = None, offer_timeout: float = 1000) -> Rig:
    q = Queue("sales", service_level_s=threshold, service_level_target=target, wrap_up_s=wrap, strategy=strategy,
              offer_timeout_s=offer_timeout, max_wait_s=max_wait)
    workers = [agent(f"a{i}", name=f"Agent {i}", extension=f"10{i:02d}") for i in range(n_agents)]
    return Rig(engine_with([q], workers, T0), tz)


def serve(r: Rig, tid: str, entered: float, answered: float) -> None:
    """A call enters, is answered by the agent it rings after `answered - entered` s, and ends at once."""
    r.submit(tid, "sales", entered)
    r.answer(tid, answered)
    r.run(lambda e, now: e.complete(tid, now), answered + 1)


# ---------------------------------------------------------------- service level, ASA, abandoned


def test_service_level_is_answered_within_threshold_over_offered_today():
    r = rig(threshold=20)
    for i, wait in enumerate([5, 10, 25, 30]):
        serve(r, f"c{i}", 100 * i, 100 * i + wait)
    row = r.queue("sales", 500)
    assert (row["offered"], row["answered"], row["answered_within"]) == (4, 4, 2)
    assert row["service_level_pct"] == 50.0


def test_a_wait_equal_to_the_threshold_counts_as_within():
    r = rig(threshold=20)
    serve(r, "c", 0, 20)
    assert r.queue("sales", 30)["service_level_pct"] == 100.0


def test_service_level_and_asa_are_none_before_anything_was_offered():
    r = rig()
    row = r.queue("sales", 0)
    assert row["service_level_pct"] is None and row["asa_s"] is None and row["offered"] == 0


def test_average_speed_of_answer_is_the_mean_wait_of_answered_calls():
    r = rig()
    for i, wait in enumerate([4, 8, 30]):
        serve(r, f"c{i}", 100 * i, 100 * i + wait)
    assert r.queue("sales", 400)["asa_s"] == 14.0


def test_abandoned_call_counts_as_offered_and_against_the_service_level_but_not_in_asa():
    r = rig(n_agents=0)
    r.submit("gone", "sales", 0)
    r.run(lambda e, now: e.cancel("gone", now, reason="abandoned", abandoned=True), 12)
    row = r.queue("sales", 13)
    assert (row["abandoned"], row["offered"], row["answered"], row["waiting"]) == (1, 1, 0, 0)
    assert row["service_level_pct"] == 0.0 and row["asa_s"] is None


def test_canceled_task_is_neither_abandoned_nor_offered():
    r = rig(n_agents=0)
    r.submit("t", "sales", 0)
    r.run(lambda e, now: e.cancel("t", now, reason="withdrawn"), 5)
    row = r.queue("sales", 6)
    assert (row["abandoned"], row["offered"], row["waiting"]) == (0, 0, 0)


def test_call_that_left_at_maximum_wait_counts_once_as_offered_and_left():
    r = rig(n_agents=0, max_wait=60)
    r.submit("t", "sales", 0)
    events = r.run(lambda e, now: e.tick(now), 60)
    assert any(isinstance(x, rev.TaskLeftQueue) for x in events)
    row = r.queue("sales", 61)
    assert (row["left"], row["offered"], row["abandoned"], row["waiting"]) == (1, 1, 0, 0)


# ---------------------------------------------------------------- waiting and longest wait


def test_longest_wait_counts_from_the_oldest_waiting_call_and_moves_on_when_it_is_answered():
    r = rig(n_agents=0)
    r.submit("old", "sales", 0)
    r.submit("new", "sales", 30)
    row = r.queue("sales", 45)
    assert row["waiting"] == 2 and row["longest_wait_s"] == 45.0 and row["oldest_since"] == T0
    r.run(lambda e, now: e.add_worker(agent("late", name="Late"), now), 50)
    r.board.set_queue("sales", threshold_s=20, target_pct=80, members=r.e.members("sales"), now=T0 + 50)
    r.answer("old", 51)
    row = r.queue("sales", 60)
    assert row["waiting"] == 1 and row["longest_wait_s"] == 30.0


def test_a_ringing_call_still_counts_as_waiting_until_answered():
    r = rig()
    r.submit("c", "sales", 0)
    assert r.queue("sales", 1)["waiting"] == 1
    assert r.agent("a0", 1)["state"] == "ringing"
    r.answer("c", 3)
    assert r.queue("sales", 4)["waiting"] == 0


def test_escalated_call_moves_to_the_next_queue_and_keeps_its_wait():
    wf = load_workflow({"filters": [], "default": [{"queue": "first", "timeout_s": 30}, {"queue": "second"}]})
    e = engine_with([Queue("first"), Queue("second")], [], T0, workflow=wf)
    r = Rig(e)
    t = task("c")
    t.created_at = T0
    r.run(lambda e, now: e.submit(t, now), 0)
    assert r.queue("first", 10)["waiting"] == 1
    r.run(lambda e, now: e.tick(now), 30)
    assert r.queue("first", 31)["waiting"] == 0
    row = r.queue("second", 40)
    assert row["waiting"] == 1 and row["longest_wait_s"] == 40.0


# ---------------------------------------------------------------- agents


def test_agent_state_timer_restarts_at_each_state_change_and_shows_the_current_call():
    r = rig(wrap=30)
    assert r.agent("a0", 0)["state"] == "available"
    r.submit("call-1", "sales", 10, caller="+84901234567")
    ringing = r.agent("a0", 12)
    assert ringing["state"] == "ringing" and ringing["in_state_s"] == 2.0
    r.answer("call-1", 14)
    talking = r.agent("a0", 20)
    assert talking["state"] == "talking" and talking["in_state_s"] == 6.0
    assert talking["call"] == {"call_id": "call-1", "caller": "+84901234567", "queue": "sales", "since": T0 + 14}
    r.run(lambda e, now: e.complete("call-1", now), 50)
    wrapping = r.agent("a0", 55)
    assert wrapping["state"] == "wrap_up" and wrapping["in_state_s"] == 5.0 and wrapping["call"] is None
    r.run(lambda e, now: e.tick(now), 80)  # the queue's 30 s wrap-up ends
    back = r.agent("a0", 81)
    assert back["state"] == "available" and back["since"] == T0 + 80


def test_agent_activity_changes_show_with_their_time():
    r = rig()
    r.run(lambda e, now: e.set_activity("a0", "not_ready", now), 5)
    assert (r.agent("a0", 65)["state"], r.agent("a0", 65)["in_state_s"]) == ("not_ready", 60.0)
    r.run(lambda e, now: e.set_activity("a0", "offline", now), 70)
    assert r.agent("a0", 71)["state"] == "offline"


def test_a_repeated_activity_event_does_not_restart_the_timer():
    r = rig()
    r.run(lambda e, now: e.set_activity("a0", "not_ready", now), 5)
    r.board.apply(rev.WorkerActivityChanged(task_id="", worker_id="a0", activity="not_ready", reason="x",
                                            at=T0 + 9), T0 + 9)
    assert r.agent("a0", 10)["since"] == T0 + 5


def test_missed_offer_puts_the_agent_back_to_their_activity_and_the_call_keeps_waiting():
    r = rig(offer_timeout=15)
    r.submit("c", "sales", 0)
    r.run(lambda e, now: e.tick(now), 15)  # offer timed out: the engine makes the agent not ready
    assert r.agent("a0", 16)["state"] == "not_ready"
    assert r.queue("sales", 16)["waiting"] == 1


def test_ring_all_rings_every_agent_and_the_others_return_when_one_answers():
    r = rig(3, strategy=Strategy.RING_ALL)
    r.submit("c", "sales", 0)
    assert [r.agent(f"a{i}", 1)["state"] for i in range(3)] == ["ringing"] * 3
    rid = r.e.task("c").reservation_id
    r.run(lambda e, now: e.accept(rid, now, "a1"), 2)
    assert [r.agent(f"a{i}", 3)["state"] for i in range(3)] == ["available", "talking", "available"]


def test_agents_by_state_counts_the_queue_members():
    r = rig(4)
    r.submit("c1", "sales", 0)
    r.answer("c1", 1)
    r.submit("c2", "sales", 2)
    r.run(lambda e, now: e.set_activity("a3", "not_ready", now), 3)
    counts = r.queue("sales", 4)["agents"]
    assert counts == {"talking": 1, "wrap_up": 0, "ringing": 1, "available": 1, "not_ready": 1, "offline": 0}


def test_call_answered_event_fills_in_an_unknown_caller():
    r = rig()
    r.submit("c", "sales", 0)
    r.answer("c", 1)
    r.board.apply(CallAnswered(call_id="c", caller="0901", callee="1000", at=T0 + 1), T0 + 1)
    assert r.agent("a0", 2)["call"]["caller"] == "0901"


def test_membership_change_moves_the_agent_between_queues_and_updates_both_counts():
    e = engine_with([Queue("sales", target="'sales' IN worker.skills"),
                     Queue("support", target="'support' IN worker.skills")],
                    [agent("a", skills={"sales": 5})], T0)
    r = Rig(e)
    assert r.queue("sales", 0)["members"] == 1 and r.queue("support", 0)["members"] == 0
    r.board.take_delta(T0)
    r.run(lambda e, now: e.update_worker("a", now, attributes={"skills": {"support": 5}}), 1)
    for q in ("sales", "support"):
        r.board.set_queue(q, threshold_s=20, target_pct=80, members=e.members(q), now=T0 + 1)
    delta = r.board.take_delta(T0 + 1)
    assert delta is not None
    assert {q["id"]: q["members"] for q in delta["queues"]} == {"sales": 0, "support": 1}
    assert delta["agents"][0]["queues"] == ["support"]


# ---------------------------------------------------------------- alerts


def test_alert_when_a_call_waits_longer_than_the_threshold_and_gone_when_answered():
    r = rig(n_agents=0, threshold=20)
    r.submit("c", "sales", 0)
    assert r.alerts(20) == []
    assert r.alerts(21) == [("sales", "waiting_over_threshold")]
    r.run(lambda e, now: e.add_worker(agent("x"), now), 22)
    r.board.set_queue("sales", threshold_s=20, target_pct=80, members=r.e.members("sales"), now=T0 + 22)
    r.answer("c", 23)
    assert ("sales", "waiting_over_threshold") not in r.alerts(24)


def test_alert_when_service_level_today_is_below_target_and_none_at_target():
    r = rig(target=0.5)
    serve(r, "fast", 0, 5)
    serve(r, "slow", 100, 140)
    assert r.alerts(200) == []  # 50 % meets a 50 % target
    serve(r, "slow2", 300, 340)
    assert r.alerts(400) == [("sales", "service_level")]
    assert r.board.alerts[0]["service_level_pct"] == pytest.approx(33.33)


# ---------------------------------------------------------------- days, deltas, snapshots


def test_counters_reset_at_the_tenants_local_midnight():
    hcm = ZoneInfo("Asia/Ho_Chi_Minh")
    r = rig(tz=hcm)
    serve(r, "c", 0, 5)
    before_midnight = datetime(2026, 11, 23, 23, 59, 59, tzinfo=hcm).timestamp() - T0
    r.board.tick(T0 + before_midnight)
    assert r.queue("sales", before_midnight)["answered"] == 1
    r.board.tick(T0 + before_midnight + 1)  # 00:00 local, 17:00 UTC
    row = r.queue("sales", before_midnight + 1)
    assert (row["answered"], row["offered"], row["service_level_pct"]) == (0, 0, None)
    assert r.board.snapshot(T0 + before_midnight + 1)["day"] == "2026-11-24"


def test_delta_carries_only_what_changed_then_nothing():
    r = rig(3)
    r.board.take_delta(T0)
    r.run(lambda e, now: e.set_activity("a1", "not_ready", now), 5)
    delta = r.board.take_delta(T0 + 5.05)
    assert delta is not None
    assert [a["id"] for a in delta["agents"]] == ["a1"] and [q["id"] for q in delta["queues"]] == ["sales"]
    assert delta["first_change_at"] == T0 + 5
    assert r.board.take_delta(T0 + 6) is None


def test_snapshot_after_a_restart_shows_waiting_calls_ringing_and_talking_agents_from_the_engine():
    e = engine_with([Queue("sales", wrap_up_s=30)], [agent("a"), agent("b")], T0)
    for tid, at in (("c1", 0), ("c2", 5), ("c3", 10)):
        t = task(tid, "sales", caller=f"caller-{tid}")
        t.created_at = T0 + at
        e.submit(t, T0 + at)
    e.accept(e.task("c1").reservation_id, T0 + 6)
    board = Wallboard()
    load_engine(board, e, T0 + 20)
    snap = board.snapshot(T0 + 20)
    (q,) = snap["queues"]
    assert q["waiting"] == 2 and q["longest_wait_s"] == 15.0
    states = {a["id"]: (a["state"], a["call"]) for a in snap["agents"]}
    assert states["a"][0] == "talking" and states["a"][1]["caller"] == "caller-c1"
    assert states["b"] == ("ringing", None)
    assert q["answered"] == 0  # a restart does not invent today's history


def test_events_after_loading_from_the_engine_are_not_counted_twice():
    e = engine_with([Queue("sales")], [agent("a")], T0)
    t = task("c", "sales")
    t.created_at = T0
    e.submit(t, T0)
    events = e.accept(e.task("c").reservation_id, T0 + 4)
    board = Wallboard()
    load_engine(board, e, T0 + 4)  # the engine's state already includes the answer
    for ev in events:
        board.apply(ev, T0 + 4)
    row = board.queue_row(board.queues["sales"], T0 + 5)
    assert (row["waiting"], row["answered"], row["asa_s"]) == (0, 1, 4.0)


def test_restored_assignment_is_not_counted_as_answered_today():
    e = engine_with([Queue("sales")], [agent("a")], T0)
    board = Wallboard()
    load_engine(board, e, T0)
    t = task("c", "sales")
    for ev in e.restore_assignment(t, "a", T0 + 1):
        board.apply(ev, T0 + 1)
    row = board.queue_row(board.queues["sales"], T0 + 2)
    assert row["answered"] == 0 and board.agents["a"].state == "talking"


def test_removed_agent_leaves_the_queue_counts_and_is_named_in_the_delta():
    r = rig(2)
    r.board.take_delta(T0)
    r.board.remove_agent("a1", T0 + 1)
    delta = r.board.take_delta(T0 + 1)
    assert delta is not None and delta["removed_agents"] == ["a1"]
    assert delta["queues"][0]["members"] == 1


def test_reloading_from_the_engine_after_a_directory_change_keeps_the_current_call_and_timers():
    r = rig(2)
    r.submit("c", "sales", 0, caller="0901")
    r.answer("c", 7)
    before = r.agent("a0", 10)
    load_engine(r.board, r.e, T0 + 10)  # what the service does after a DirectoryChanged
    after = r.agent("a0", 10)
    assert after["call"] == before["call"] and after["since"] == before["since"] == T0 + 7
    assert r.queue("sales", 10)["answered"] == 1 and r.queue("sales", 10)["waiting"] == 0


def test_call_transferred_from_one_agent_to_another_moves_the_agents_not_the_queue_counts():
    e = engine_with([Queue("sales", wrap_up_s=30)], [agent("a"), agent("b")], T0)
    board = Wallboard()
    load_engine(board, e, T0)
    for ev in e.submit(task("c", "sales"), T0):
        board.apply(ev, T0)
    holder = e.task("c").reservation_id
    for ev in e.accept(holder, T0 + 3):
        board.apply(ev, T0 + 3)
    offered = e.task("c").worker_id
    other = "b" if offered == "a" else "a"
    # the agent transfers the caller straight to the other agent: their task completes, one follows the call
    for ev in e.complete("c", T0 + 20) + e.assign_directly(task("c-t1", "sales"), other, T0 + 20,
                                                           reservation_id="transfer"):
        board.apply(ev, T0 + 20)
    row = board.queue_row(board.queues["sales"], T0 + 21)
    assert (row["offered"], row["answered"], row["asa_s"]) == (1, 1, 3.0)
    assert (board.agents[offered].state, board.agents[other].state) == ("wrap_up", "talking")
    assert e.agent_state(other)["tasks"] == ["c-t1"]

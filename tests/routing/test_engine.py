"""The engine with a hand-advanced clock: reservations, capacity, cross-queue priority, escalation."""

from __future__ import annotations

import pytest

from tests.routing.helpers import agent, engine_with, offered_to, reserved, task
from tongdai.core.errors import Conflict, InvalidInput, NotFound
from tongdai.routing import events as ev
from tongdai.routing.engine import Engine, events_of
from tongdai.routing.model import Activity, Queue, TaskState
from tongdai.routing.strategies import Strategy
from tongdai.routing.workflow import Filter, Target, Workflow, load_workflow

# ---------------------------------------------------------------- reservations

def test_given_offer_when_not_answered_before_timeout_then_times_out_and_agent_goes_not_ready():
    e = engine_with([Queue("q", offer_timeout_s=15)], [agent("a")])
    (r,) = reserved(e.submit(task("t", "q"), 0))
    assert r.expires_at == 15 and e.next_deadline() == 15
    assert e.tick(14.9) == []
    evs = e.tick(15)
    assert [x.name for x in evs] == ["reservation.timed_out", "agent.activity_changed", "task.reserved"][:2]
    assert e.agent_state("a")["activity"] == "not_ready"
    assert e.task("t").state is TaskState.PENDING and e.task("t").waiting


def test_given_missed_offer_then_task_goes_to_the_next_free_agent_keeping_its_place():
    e = engine_with([Queue("q", offer_timeout_s=10)], [agent("a"), agent("b")])
    e.submit(task("t1", "q"), 0)  # a
    e.submit(task("t2", "q"), 1)  # b
    e.accept(e.task("t2").reservation_id, 2)
    e.submit(task("t3", "q"), 3)  # waits
    e.complete("t2", 5)  # b frees: t3 is the only waiting task -> b
    assert e.task("t3").state is TaskState.RESERVED
    evs = e.tick(10)  # a misses t1 -> not ready; t1 waits again with its original score
    assert events_of(evs, ev.ReservationTimedOut)[0].worker_ids == ("a",)
    assert e.task("t1").waiting and e.task_score(e.task("t1")) == 0.0


def test_given_not_ready_on_miss_false_then_agent_stays_available_but_skips_that_task_a_while():
    e = engine_with([Queue("q", offer_timeout_s=10, not_ready_on_miss=False, reject_retry_s=30)], [agent("a")])
    e.submit(task("t", "q"), 0)
    e.tick(10)
    assert e.agent_state("a")["activity"] == "available"
    assert e.task("t").waiting  # a is skipped for t until 40
    assert offered_to(e.tick(40)) == [("a",)]


def test_given_reject_then_task_offered_to_another_agent_and_not_back_to_the_rejecter_at_once():
    e = engine_with([Queue("q", reject_retry_s=20)], [agent("a"), agent("b", available=False)])
    (r,) = reserved(e.submit(task("t", "q"), 0))
    evs = e.reject(r.reservation_id, "a", 1)
    assert events_of(evs, ev.ReservationRejected) and offered_to(evs) == []
    assert offered_to(e.set_activity("b", Activity.AVAILABLE, 2)) == [("b",)]
    d = e.explain("t", 2)["decisions"]
    assert d[1]["kind"] == "returned_rejected"


def test_given_reject_and_retry_window_passes_then_rejecter_is_offered_again():
    e = engine_with([Queue("q", reject_retry_s=20)], [agent("a")])
    (r,) = reserved(e.submit(task("t", "q"), 0))
    e.reject(r.reservation_id, "a", 1)
    assert offered_to(e.tick(20.9)) == []
    assert offered_to(e.tick(21)) == [("a",)]


def test_given_accept_of_expired_reservation_then_not_found_and_of_wrong_agent_then_conflict():
    e = engine_with([Queue("q", offer_timeout_s=5)], [agent("a"), agent("b", available=False)])
    (r,) = reserved(e.submit(task("t", "q"), 0))
    with pytest.raises(Conflict):
        e.accept(r.reservation_id, 1, worker_id="b")
    with pytest.raises(NotFound):
        e.accept(r.reservation_id, 6)


def test_given_caller_hangs_up_while_offered_then_offer_withdrawn_and_agent_freed():
    e = engine_with([Queue("q")], [agent("a")])
    (r,) = reserved(e.submit(task("t", "q"), 0))
    evs = e.cancel("t", 3, reason="caller_hung_up", abandoned=True)
    assert [x.name for x in evs] == ["reservation.canceled", "task.ended"]
    assert e.task("t").state is TaskState.ABANDONED
    assert e.agent_state("a")["load"] == {"voice": 0}


def test_given_wrap_up_then_agent_gets_no_call_until_it_ends():
    e = engine_with([Queue("q", wrap_up_s=30)], [agent("a")])
    e.submit(task("t1", "q"), 0)
    e.accept(e.task("t1").reservation_id, 1)
    assert [x.name for x in e.complete("t1", 60)] == ["task.wrapping"]
    assert offered_to(e.submit(task("t2", "q"), 61)) == []
    evs = e.tick(90)
    assert [x.name for x in evs] == ["task.ended", "task.reserved"]


def test_given_wrap_up_done_early_then_agent_is_free_at_once():
    e = engine_with([Queue("q", wrap_up_s=30)], [agent("a")])
    e.submit(task("t1", "q"), 0)
    e.accept(e.task("t1").reservation_id, 1)
    e.complete("t1", 10)
    e.submit(task("t2", "q"), 11)
    assert offered_to(e.wrap_up_done("t1", 12)) == [("a",)]


# ---------------------------------------------------------------- capacity

def test_given_chat_capacity_three_then_fourth_chat_waits_and_voice_is_separate():
    e = engine_with([Queue("chat", channels=("chat",)), Queue("voice", channels=("voice",))],
                    [agent("a", capacity={"chat": 3, "voice": 1}, total=4)])
    for i in range(3):
        assert offered_to(e.submit(task(f"c{i}", "chat", channel="chat"), i)) == [("a",)]
    assert offered_to(e.submit(task("c3", "chat", channel="chat"), 4)) == []
    assert offered_to(e.submit(task("v", "voice"), 5)) == [("a",)]
    assert e.agent_state("a")["load"] == {"chat": 3, "voice": 1}


def test_given_total_capacity_then_it_caps_across_channels():
    e = engine_with([Queue("any")], [agent("a", capacity={"chat": 3, "email": 5}, total=4)])
    got = [offered_to(e.submit(task(f"t{i}", "any", channel=("chat" if i % 2 else "email")), i)) for i in range(6)]
    assert sum(1 for g in got if g) == 4


def test_given_channel_without_capacity_then_agent_never_offered_it():
    e = engine_with([Queue("q")], [agent("a", capacity={"chat": 2})])
    assert offered_to(e.submit(task("v", "q"), 0)) == []
    cands = e.explain("v", 0)["agents_now"]
    assert cands[0]["verdict"] == "channel"


def test_given_chat_finished_then_next_waiting_chat_goes_to_that_agent():
    e = engine_with([Queue("chat")], [agent("a", capacity={"chat": 1})])
    e.submit(task("c1", "chat", channel="chat"), 0)
    e.submit(task("c2", "chat", channel="chat"), 1)
    e.accept(e.task("c1").reservation_id, 1)
    assert offered_to(e.complete("c1", 9)) == [("a",)]


# ---------------------------------------------------------------- priority across queues

def test_given_agent_in_two_queues_then_higher_priority_task_first_across_queues():
    e = engine_with([Queue("sales"), Queue("support")], [agent("a", available=False)])
    e.submit(task("old-low", "sales", priority=0), 0)
    e.submit(task("new-high", "support", priority=2), 30)
    assert offered_to(e.set_activity("a", Activity.AVAILABLE, 40)) == [("a",)]
    assert e.task("new-high").state is TaskState.RESERVED


def test_given_long_wait_then_aging_lets_lower_priority_task_win_so_no_queue_starves():
    e = engine_with([Queue("sales"), Queue("support")], [agent("a", available=False)], aging_s=60)
    e.submit(task("old-low", "sales", priority=0), 0)
    e.submit(task("new-high", "support", priority=1), 61)  # waited 61 s less: more than one level
    e.set_activity("a", Activity.AVAILABLE, 100)
    assert e.task("old-low").state is TaskState.RESERVED


def test_given_same_priority_then_oldest_task_across_queues_first():
    e = engine_with([Queue("a"), Queue("b"), Queue("c")], [agent("x", available=False)])
    e.submit(task("t-b", "b"), 5)
    e.submit(task("t-a", "a"), 7)
    e.submit(task("t-c", "c"), 3)
    e.set_activity("x", Activity.AVAILABLE, 10)
    assert e.task("t-c").state is TaskState.RESERVED
    d = e.explain("t-c", 10)["decisions"][-1]
    assert d["kind"] == "worker_available" and len(d["competing"]) == 3


def test_given_queue_priority_then_it_adds_to_every_task_in_it():
    e = engine_with([Queue("vip", priority=1), Queue("std")], [agent("x", available=False)])
    e.submit(task("s", "std"), 0)
    e.submit(task("v", "vip"), 30)
    e.set_activity("x", Activity.AVAILABLE, 31)
    assert e.task("v").state is TaskState.RESERVED


def test_given_priority_raised_while_waiting_then_it_is_served_first():
    e = engine_with([Queue("q")], [agent("x", available=False)])
    e.submit(task("a", "q"), 0)
    e.submit(task("b", "q"), 1)
    e.set_priority("b", 5, 2)
    e.set_activity("x", Activity.AVAILABLE, 3)
    assert e.task("b").state is TaskState.RESERVED


# ---------------------------------------------------------------- workflow escalation

def _bullseye() -> Workflow:
    return load_workflow({
        "filters": [{"name": "sales", "expression": "type == 'sales'", "targets": [
            {"queue": "sales", "expression": "skills.sales >= 8", "timeout_s": 20},
            {"queue": "sales", "expression": "skills.sales >= 5", "timeout_s": 40, "priority": 1},
            {"queue": "sales", "timeout_s": 60},
            {"queue": "overflow", "timeout_s": 120},
        ]}],
        "default": [{"queue": "general"}],
        "on_exhausted": "callback",
    })


def _bullseye_engine() -> Engine:
    qs = [Queue("sales", target="skills.sales >= 1"), Queue("overflow", target="site == 'hcm'"), Queue("general")]
    ws = [agent("mid", skills={"sales": 6}), agent("low", skills={"sales": 2}),
          agent("far", site="hcm")]
    e = engine_with(qs, ws, workflow=_bullseye())
    for w in ("mid", "low", "far"):
        e.set_activity(w, Activity.NOT_READY, 0)
    return e


def test_given_bullseye_when_clock_advances_then_pool_widens_step_by_step():
    e = _bullseye_engine()
    for w in ("mid", "low"):
        e.set_activity(w, Activity.AVAILABLE, 0)
    evs = e.submit(task("t", type="sales"), 0)
    assert offered_to(evs) == [] and e.task("t").step == 0  # nobody with sales >= 8
    verdicts = {c["worker_id"]: c["verdict"] for c in e.explain("t", 1)["agents_now"]}
    assert verdicts == {"mid": "skill_too_low", "low": "skill_too_low", "far": "skill_missing"}
    evs = e.tick(20)
    assert [(x.name, getattr(x, "reason", "")) for x in evs][0] == ("task.escalated", "timeout")
    assert offered_to(evs) == [("mid",)]
    assert e.task("t").step == 1


def test_given_nobody_answers_then_task_overflows_to_other_site_then_leaves_for_callback():
    e = _bullseye_engine()
    e.submit(task("t", type="sales"), 0)
    e.tick(20 + 40 + 60)
    assert e.task("t").queue_id == "overflow"
    assert offered_to(e.set_activity("far", Activity.AVAILABLE, 121)) == [("far",)]
    e.reject(e.task("t").reservation_id, "far", 122, not_ready=True)
    evs = e.tick(240)
    (left,) = events_of(evs, ev.TaskLeftQueue)
    assert (left.reason, left.destination) == ("timeout", "callback")
    assert e.task("t").state is TaskState.CANCELED


def test_given_target_priority_then_it_applies_at_that_step():
    e = _bullseye_engine()
    e.submit(task("t", type="sales"), 0)
    assert e.task_score(e.task("t")) == 0.0
    e.tick(20)
    assert e.task_score(e.task("t")) == -60.0


def test_given_no_filter_matches_then_default_targets_apply():
    e = _bullseye_engine()
    e.set_activity("low", Activity.AVAILABLE, 0)
    evs = e.submit(task("t", type="billing"), 0)
    assert e.task("t").workflow_filter == "default" and offered_to(evs) == [("low",)]


def test_given_skip_if_no_one_available_then_target_skipped_at_once():
    wf = Workflow(filters=[Filter("all", "", [Target("experts", skip_if_no_one_available=True, timeout_s=60),
                                               Target("everyone")])])
    e = engine_with([Queue("experts", target="skills.x >= 9"), Queue("everyone")],
                    [agent("e", skills={"x": 9}, available=False), agent("n")], workflow=wf)
    evs = e.submit(task("t"), 0)
    assert events_of(evs, ev.TaskEscalated)[0].reason == "no_one_available"
    assert offered_to(evs) == [("n",)]


def test_given_queue_full_then_task_goes_to_next_target_or_leaves():
    wf = Workflow(filters=[Filter("all", "", [Target("small"), Target("big")])])
    e = engine_with([Queue("small", max_size=1), Queue("big", max_size=1)], [], workflow=wf)
    e.submit(task("t1"), 0)
    e.submit(task("t2"), 0)
    assert (e.task("t1").queue_id, e.task("t2").queue_id) == ("small", "big")
    evs = e.submit(task("t3"), 0)
    assert events_of(evs, ev.TaskLeftQueue)[0].reason == "queue_full"


def test_given_queue_max_wait_then_task_leaves_to_voicemail():
    e = engine_with([Queue("q", max_wait_s=300, on_max_wait="voicemail")], [])
    e.submit(task("t", "q"), 0)
    evs = e.tick(300)
    (left,) = events_of(evs, ev.TaskLeftQueue)
    assert (left.reason, left.destination) == ("max_wait", "voicemail")


def test_given_queue_max_wait_with_overflow_queue_then_task_moves_there():
    e = engine_with([Queue("q", target="site == 'a'", max_wait_s=60, on_max_wait="queue:backup"),
                     Queue("backup", target="site == 'b'")],
                    [agent("b", site="b")])
    e.set_activity("b", Activity.NOT_READY, 0)
    e.submit(task("t", "q"), 0)
    e.set_activity("b", Activity.AVAILABLE, 10)  # b is not in q
    evs = e.tick(60)
    assert events_of(evs, ev.TaskEscalated)[0].to_queue == "backup"
    assert offered_to(evs) == [("b",)]


def test_given_task_timeout_then_non_voice_task_is_canceled():
    e = engine_with([Queue("q")], [])
    t = task("mail", "q", channel="email")
    t.timeout_s = 3600
    e.submit(t, 0)
    evs = e.tick(3600)
    assert events_of(evs, ev.TaskEnded)[0].reason == "task_timeout"


def test_given_escalation_timer_while_offered_then_escalates_when_offer_returns():
    wf = Workflow(filters=[Filter("all", "", [Target("a", timeout_s=10), Target("b")])])
    e = engine_with([Queue("a", target="site == 'a'", offer_timeout_s=15), Queue("b", target="site == 'b'")],
                    [agent("x", site="a"), agent("y", site="b", available=False)], workflow=wf)
    e.submit(task("t"), 0)
    assert e.tick(10) == []  # reserved: the step timer does not pull it away from the offer
    evs = e.tick(15)
    assert events_of(evs, ev.TaskEscalated)[0].to_queue == "b"


# ---------------------------------------------------------------- workers and queues live

def test_given_skill_raised_live_then_agent_joins_queue_and_takes_waiting_task():
    e = engine_with([Queue("q", target="skills.sales >= 5")], [agent("a", skills={"sales": 3})])
    e.submit(task("t", "q"), 0)
    evs = e.update_worker("a", 5, attributes={"skills": {"sales": 5}, "languages": []})
    assert offered_to(evs) == [("a",)]


def test_given_queue_added_then_members_computed_and_free_members_serve():
    e = engine_with([], [agent("a", skills={"x": 1}), agent("b")])
    e.add_queue(Queue("q", target="skills.x >= 1"), 0)
    assert e.members("q") == {"a"}


def test_given_removed_worker_with_offer_then_task_rerouted():
    e = engine_with([Queue("q")], [agent("a"), agent("b", available=False)])
    e.submit(task("t", "q"), 0)
    e.set_activity("b", Activity.AVAILABLE, 1)
    evs = e.remove_worker("a", 2)
    assert offered_to(evs) == [("b",)]


def test_given_duplicate_task_id_then_conflict():
    e = engine_with([Queue("q")], [])
    e.submit(task("t", "q"), 0)
    with pytest.raises(Conflict):
        e.submit(task("t", "q"), 1)


def test_given_events_then_they_carry_now_and_tenant():
    e = Engine(tenant_id="tn")
    e.add_queue(Queue("q"), 0)
    e.add_worker(agent("a"), 0)
    evs = e.submit(task("t", "q"), 42.5)
    assert all(x.at == 42.5 and x.tenant_id == "tn" for x in evs)


def test_given_queue_stats_then_waiting_and_free_counted():
    e = engine_with([Queue("q")], [agent("a")])
    e.submit(task("t1", "q"), 0)
    e.submit(task("t2", "q"), 5)
    s = e.queue_stats("q", 65)
    assert (s["waiting"], s["oldest_wait_s"], s["members"], s["available"]) == (1, 60, 1, 0)


def test_given_preferred_agent_removed_while_offered_then_task_is_not_offered_back_to_them():
    q = Queue("q", strategy=Strategy.PREFERRED, preferred_wait_s=60)
    e = engine_with([q], [agent("p"), agent("other")])
    assert offered_to(e.submit(task("t", "q", preferred_worker="p"), 0)) == [("p",)]
    evs = e.remove_worker("p", 1)
    assert "p" not in e.workers and all("p" not in ws for ws in offered_to(evs))


def test_given_agent_holding_an_assigned_task_then_removal_is_refused():
    e = engine_with([Queue("q")], [agent("a")])
    e.submit(task("t", "q"), 0)
    e.accept(e.task("t").reservation_id, 0)
    with pytest.raises(Conflict):
        e.remove_worker("a", 1)


def test_given_small_queue_then_decision_records_every_member_verdict_as_it_was_then():
    wf = Workflow(filters=[Filter("all", "", [Target("q", expression="skills.sales >= 7")])])
    e = engine_with([Queue("q", target="skills.sales >= 1")],
                    [agent("expert", skills={"sales": 9}, available=False), agent("junior", skills={"sales": 3}),
                     agent("busy", skills={"sales": 8})], workflow=wf)
    e.submit(task("first"), 0)  # goes to "busy" (the only free agent with sales >= 7)
    e.submit(task("t"), 1)
    e.set_activity("expert", Activity.AVAILABLE, 2)  # later change: the record keeps what was true at 1
    first = e.explain("t", 3)["decisions"][0]
    verdicts = {c["worker_id"]: (c["verdict"], c["detail"]) for c in first["candidates"]}
    assert verdicts["expert"][0] == "state"
    assert verdicts["junior"] == ("skill_too_low", "skills.sales >= 7 (skills.sales is 3)")
    assert verdicts["busy"][0] == "capacity"
    assert first["outcome"] == "waiting"


def test_given_large_queue_then_decision_records_only_agents_looked_at():
    e = Engine(explain_members=2)
    e.add_queue(Queue("q"), 0)
    for i in range(5):
        e.add_worker(agent(f"a{i}", available=False), 0)
    e.submit(task("t", "q"), 1)
    assert e.explain("t", 1, full=False)["decisions"][0]["candidates"] == []
    assert len(e.explain("t", 1)["agents_now"]) == 5


def test_given_target_order_by_then_that_step_orders_agents_its_own_way():
    wf = load_workflow({"filters": [
        {"name": "routine", "expression": "kind == 'routine'", "targets": [{"queue": "q", "order_by": "least_skilled"}]},
        {"name": "hard", "expression": "kind == 'hard'", "targets": [{"queue": "q", "order_by": "most_skilled"}]}]})
    e = engine_with([Queue("q", target="skills.sales >= 1")],  # the queue itself: longest idle
                    [agent("high", skills={"sales": 9}), agent("low", skills={"sales": 2})], workflow=wf)
    assert offered_to(e.submit(task("t1", kind="routine"), 5)) == [("low",)]  # keep the expert free
    e.cancel("t1", 5)
    assert offered_to(e.submit(task("t2", kind="hard"), 6)) == [("high",)]
    e.cancel("t2", 6)
    # no filter matches: the queue's own strategy, longest idle ("low" free since 5, "high" since 6)
    assert offered_to(e.submit(task("t3", "q", kind="other"), 7)) == [("low",)]
    d = e.explain("t1", 8)["decisions"][0]["candidates"]
    assert [(c["worker_id"], c["verdict"]) for c in d] == [("low", "chosen"), ("high", "ranked_lower")]


def test_given_unknown_order_by_then_workflow_is_refused():
    with pytest.raises(InvalidInput):
        load_workflow({"default": [{"queue": "q", "order_by": "ring_all"}]})
    with pytest.raises(InvalidInput):
        load_workflow({"default": [{"queue": "q", "order_by": "fastest"}]})

"""Each strategy picks the agent it promises when several are free."""

from __future__ import annotations

import collections

from tests.routing.helpers import agent, engine_with, offered_to, task
from tongdai.routing.events import TaskReserved
from tongdai.routing.model import Activity, Queue
from tongdai.routing.strategies import Strategy


def _free_three(strategy: Strategy, **qkw):
    """a, b, c free (a free longest: idle since 0, b since 10, c since 20)."""
    q = Queue("q", target="skills.sales >= 1", strategy=strategy, **qkw)
    e = engine_with([q], [])
    e.add_worker(agent("a", skills={"sales": 5}, weight=1), 0)
    e.add_worker(agent("b", skills={"sales": 9}, weight=1), 10)
    e.add_worker(agent("c", skills={"sales": 2}, weight=1), 20)
    return e


def test_given_longest_idle_then_agent_free_longest_gets_the_task():
    e = _free_three(Strategy.LONGEST_IDLE)
    assert offered_to(e.submit(task("t", "q"), 30)) == [("a",)]


def test_given_longest_idle_when_agent_finishes_a_call_then_idle_time_restarts():
    e = _free_three(Strategy.LONGEST_IDLE)
    r = offered_to(e.submit(task("t1", "q"), 30))
    assert r == [("a",)]
    rid = e.task("t1").reservation_id
    e.accept(rid, 31)
    e.complete("t1", 40)  # a idle since 40 now, b since 10
    assert offered_to(e.submit(task("t2", "q"), 50)) == [("b",)]


def test_given_most_skilled_then_highest_level_first():
    e = _free_three(Strategy.MOST_SKILLED)
    assert offered_to(e.submit(task("t", "q"), 30)) == [("b",)]


def test_given_least_skilled_then_lowest_matching_level_first_keeping_experts_free():
    e = _free_three(Strategy.LEAST_SKILLED)
    assert offered_to(e.submit(task("t", "q"), 30)) == [("c",)]


def test_given_least_skilled_with_explicit_skill_then_that_skill_orders():
    q = Queue("q", target="languages HAS 'vi'", strategy=Strategy.LEAST_SKILLED, skill="billing")
    e = engine_with([q], [agent("x", skills={"billing": 7}, languages=["vi"]),
                          agent("y", skills={"billing": 4}, languages=["vi"])])
    assert offered_to(e.submit(task("t", "q"), 1)) == [("y",)]


def test_given_least_occupied_then_agent_with_fewest_chats_gets_the_next_chat():
    q = Queue("chat", strategy=Strategy.LEAST_OCCUPIED, offer_timeout_s=5)
    e = engine_with([q], [])
    e.add_worker(agent("busy", capacity={"chat": 3}), 0)
    e.add_worker(agent("calm", capacity={"chat": 3}), 5)
    first = offered_to(e.submit(task("c1", "chat", channel="chat"), 10))
    assert first == [("busy",)]  # both empty: the longer idle one
    e.accept(e.task("c1").reservation_id, 10)
    assert offered_to(e.submit(task("c2", "chat", channel="chat"), 11)) == [("calm",)]


def test_given_round_robin_then_offers_rotate_through_the_agents():
    q = Queue("q", strategy=Strategy.ROUND_ROBIN, offer_timeout_s=5, not_ready_on_miss=False)
    e = engine_with([q], [agent("a"), agent("b"), agent("c")])
    order = []
    for i in range(6):
        evs = e.submit(task(f"t{i}", "q"), 1 + i)
        (worker,) = offered_to(evs)[0]
        order.append(worker)
        e.accept(e.task(f"t{i}").reservation_id, 1 + i)
        e.complete(f"t{i}", 1 + i)
    assert order == ["a", "b", "c", "a", "b", "c"]


def test_given_ring_all_then_every_free_matching_agent_is_offered_and_first_accept_wins():
    q = Queue("q", target="skills.sales >= 3", strategy=Strategy.RING_ALL)
    e = engine_with([q], [agent("a", skills={"sales": 5}), agent("b", skills={"sales": 3}),
                          agent("c", skills={"sales": 1})])
    (offer,) = [x for x in e.submit(task("t", "q"), 1) if isinstance(x, TaskReserved)]
    assert sorted(offer.worker_ids) == ["a", "b"]
    evs = e.accept(offer.reservation_id, 2, worker_id="b")
    names = [x.name for x in evs]
    assert names[:2] == ["task.assigned", "reservation.canceled"]
    assert e.agent_state("a")["load"] == {"voice": 0}
    assert e.agent_state("b")["tasks"] == ["t"]


def test_given_preferred_agent_then_only_they_are_offered_until_the_delay_then_fallback():
    q = Queue("q", strategy=Strategy.PREFERRED, preferred_wait_s=30)
    e = engine_with([q], [agent("last"), agent("other")])
    e.set_activity("last", Activity.NOT_READY, 0)
    evs = e.submit(task("t", "q", preferred_worker="last"), 10)
    assert offered_to(evs) == []  # "other" is free, but the window belongs to "last"
    assert e.explain("t", 11)["decisions"][-1]["candidates"][0]["verdict"] == "state"
    assert offered_to(e.tick(39.9)) == []
    assert offered_to(e.tick(40.0)) == [("other",)]


def test_given_preferred_agent_free_then_they_get_it_at_once():
    q = Queue("q", strategy=Strategy.PREFERRED, preferred_wait_s=30)
    e = engine_with([q], [agent("other"), agent("last")])
    assert offered_to(e.submit(task("t", "q", preferred_worker="last"), 5)) == [("last",)]


def test_given_preferred_agent_frees_up_within_window_then_they_get_it():
    q = Queue("q", strategy=Strategy.PREFERRED, preferred_wait_s=30)
    e = engine_with([q], [agent("last", available=False), agent("other", available=False)])
    e.submit(task("t", "q", preferred_worker="last"), 0)
    assert offered_to(e.set_activity("other", Activity.AVAILABLE, 5)) == []
    assert offered_to(e.set_activity("last", Activity.AVAILABLE, 6)) == [("last",)]


def test_given_weighted_random_then_choices_follow_the_weights():
    q = Queue("q", strategy=Strategy.WEIGHTED_RANDOM)
    e = engine_with([q], [agent("heavy", weight=3), agent("light", weight=1)], seed=7)
    counts: collections.Counter[str] = collections.Counter()
    for i in range(2000):
        (worker,) = offered_to(e.submit(task(f"t{i}", "q"), i))[0]
        counts[worker] += 1
        e.cancel(f"t{i}", i)
    assert 0.70 < counts["heavy"] / 2000 < 0.80


def test_given_weight_zero_then_agent_never_drawn():
    q = Queue("q", strategy=Strategy.WEIGHTED_RANDOM)
    e = engine_with([q], [agent("zero", weight=0), agent("one", weight=1)])
    for i in range(50):
        assert offered_to(e.submit(task(f"t{i}", "q"), i)) == [("one",)]
        e.cancel(f"t{i}", i)

"""Who sees routing events on the stream: staff of the tenant, and each agent only their own offers."""

from __future__ import annotations

from tests.routing.helpers import agent, engine_with, task
from tongdai.routing import events as ev
from tongdai.routing.engine import events_of
from tongdai.routing.model import Activity, Queue
from tongdai.routing.strategies import Strategy


def _offer_and_answer():
    q = Queue("q", strategy=Strategy.RING_ALL)
    a, b, c = agent("a"), agent("b"), agent("c", available=False)
    for w, uid in ((a, "user-a"), (b, "user-b"), (c, "user-c")):
        w.user_id = uid
    e = engine_with([q], [a, b, c], tenant_id="tn")
    evs = e.submit(task("t", "q"), 0)
    (offer,) = events_of(evs, ev.TaskReserved)
    evs2 = e.accept(offer.reservation_id, 1, worker_id="b")
    evs3 = e.set_activity("c", Activity.AVAILABLE, 2)
    return offer, events_of(evs2, ev.TaskAssigned)[0], events_of(evs3, ev.WorkerActivityChanged)[0]


def test_given_ring_all_offer_then_each_offered_agent_sees_it_and_no_other_agent():
    offer, _, _ = _offer_and_answer()
    assert set(offer.user_ids) == {"user-a", "user-b"}
    assert offer.visible_to("agent", "tn", "user-a") and offer.visible_to("agent", "tn", "user-b")
    assert not offer.visible_to("agent", "tn", "user-c")
    assert not offer.visible_to("agent", "other-tenant", "user-a")
    assert offer.visible_to("supervisor", "tn", "boss") and not offer.visible_to("supervisor", "x", "boss")
    assert not offer.visible_to("quality_analyst", "tn", "qa")


def test_given_assignment_and_activity_then_only_that_agent_and_staff_see_them():
    _, assigned, activity = _offer_and_answer()
    assert assigned.visible_to("agent", "tn", "user-b") and not assigned.visible_to("agent", "tn", "user-a")
    assert activity.visible_to("agent", "tn", "user-c") and not activity.visible_to("agent", "tn", "user-b")
    assert assigned.visible_to("tenant_admin", "tn", "admin")

"""A screen's one-slot mailbox, and the merged frame that catches a lagging screen up."""

from __future__ import annotations

from tongdai.wallboard.service import Client, merge_deltas


def test_a_delta_waits_in_the_mailbox_until_taken_and_the_screen_is_then_at_its_flush():
    c = Client("t", seq=4)
    c.offer("delta-5", 10.0, 5)
    assert c.wake.is_set()
    assert c.take() == ("delta-5", False, 10.0)
    assert c.seq == 5
    assert not c.wake.is_set() and c.take() == (None, False, None)


def test_a_second_delta_before_the_first_was_taken_asks_for_a_catch_up_keeping_the_oldest_change():
    c = Client("t", seq=4)
    c.offer("delta-5", 10.0, 5)
    c.offer("delta-6", 10.2, 6)
    c.offer("delta-7", 10.3, 7)
    assert c.take() == (None, True, 10.0)
    assert c.skipped == 2 and c.seq == 4  # the catch-up starts after what the screen really got
    c.seq = 7
    c.offer("delta-8", 11.0, 8)
    assert c.take() == ("delta-8", False, 11.0)  # back to deltas once it keeps up


def _delta(seq: int, **parts: object) -> dict:
    return {"type": "wallboard.delta", "server_time": 100.0 + seq, "seq": seq, "queues": [], "agents": [], **parts}


def test_merged_deltas_keep_the_latest_row_of_each_agent_and_queue_and_the_latest_alerts():
    merged = merge_deltas([
        _delta(1, agents=[{"id": "a", "state": "ringing"}, {"id": "b", "state": "available"}],
               queues=[{"id": "sales", "waiting": 1}], alerts=[{"queue": "sales", "kind": "waiting_over_threshold"}]),
        _delta(2, agents=[{"id": "a", "state": "talking"}], queues=[{"id": "sales", "waiting": 0}]),
        _delta(3, agents=[{"id": "b", "state": "not_ready"}], alerts=[]),
    ])
    assert merged["seq"] == 3 and merged["server_time"] == 103.0
    assert {a["id"]: a["state"] for a in merged["agents"]} == {"a": "talking", "b": "not_ready"}
    assert merged["queues"] == [{"id": "sales", "waiting": 0}] and merged["alerts"] == []


def test_merged_deltas_follow_an_agent_removed_then_added_back_and_one_removed_for_good():
    merged = merge_deltas([
        _delta(1, agents=[{"id": "a", "state": "available"}], removed_agents=["b"]),
        _delta(2, removed_agents=["a"]),
        _delta(3, agents=[{"id": "b", "state": "offline"}]),
    ])
    assert [a["id"] for a in merged["agents"]] == ["b"]
    assert merged["removed_agents"] == ["a"] and "alerts" not in merged


async def test_a_screen_that_missed_flushes_catches_up_to_the_same_picture_as_one_that_kept_up():
    import json

    from tests.routing.helpers import agent, engine_with, task
    from tests.wallboard.wsclient import Board
    from tongdai.core.db import Database
    from tongdai.core.events import EventBus
    from tongdai.routing.model import Queue
    from tongdai.routing.service import RoutingService
    from tongdai.wallboard.service import WallboardService

    bus = EventBus()
    db = Database("sqlite+aiosqlite://")
    routing = RoutingService(db, bus)
    e = routing.engines["t"] = engine_with([Queue("sales")], [agent(f"a{i}") for i in range(5)], 1000.0, tenant_id="t")
    svc = WallboardService(db, bus, routing, clock=lambda: 1000.0)
    svc._new_board("t", e)
    quick, slow = svc.attach("t"), svc.attach("t")
    boards = {c: Board(None) for c in (quick, slow)}
    for c in (quick, slow):
        boards[c].fold(json.loads(svc.snapshot_wire("t")))
    for i in range(6):  # six flushes; the slow screen takes nothing meanwhile
        for ev in e.submit(task(f"c{i}", "sales"), 1000.0 + i) + e.set_activity(f"a{i % 5}", "not_ready", 1000.0 + i):
            await bus.publish(ev)
        svc._flush("t")
        delta, _, _ = quick.take()
        assert delta is not None
        boards[quick].fold(json.loads(delta))
    assert slow.take()[1] is True
    wire = svc.catch_up_wire(slow, None)
    assert wire is not None and json.loads(wire)["type"] == "wallboard.delta"  # merged, not a snapshot
    boards[slow].fold(json.loads(wire))
    assert boards[slow].agents == boards[quick].agents and boards[slow].queues == boards[quick].queues
    assert svc.catch_up_wire(slow, None) is None  # nothing more to catch up on
    await db.dispose()

"""An agent who does not answer: the offer times out, the call is offered to the next agent, and the
first agent is made not-ready ("missed"), against `tongdai run --demo` with a short offer timeout."""

from __future__ import annotations

import time

import pytest

from tests.calls.sipp import free_udp_port, register, run, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.calls.test_inbound_queue import Admin, caller_waiting, queue_log
from tests.conftest import RunningTongdai, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def quick_offers(tmp_path_factory):
    t = RunningTongdai(tmp_path_factory.mktemp("offers"), "--set", "routing.offer_timeout_s=3")
    try:
        t.wait_ready()
        yield t
    finally:
        t.stop()


def test_given_first_agent_never_answers_then_next_agent_gets_the_call_and_first_is_not_ready(quick_offers, tmp_path):
    running = quick_offers
    admin = Admin(running.base)
    sales = next(q for q in admin.get("/api/v1/queues")["items"] if q["name"] == "sales")
    admin.post("/api/v1/numbers", {"e164": "1801", "queue_id": sales["id"]})
    agents = {a["extension"]: a["id"] for a in admin.get("/api/v1/agents")["items"]}
    deaf, good = free_udp_port(), free_udp_port()
    deaf_phone = start(sipp_command("uas_ring_cancelled.xml", running.sip_port, port=deaf, calls=1, workdir=tmp_path),
                       tmp_path)
    good_phone = start(sipp_command("uas", running.sip_port, port=good, calls=1, workdir=tmp_path), tmp_path)
    time.sleep(0.3)
    assert register("1001", "sip-demo-1001", deaf, running.sip_port) == 200
    assert register("1002", "sip-demo-1002", good, running.sip_port) == 200
    # 1001 has waited longest and is the most skilled in sales: whatever the strategy, it is offered first
    admin.post("/api/v1/routing/agents/activity", {"agent_id": agents["1001"], "activity": "available"})
    time.sleep(0.5)
    admin.post("/api/v1/routing/agents/activity", {"agent_id": agents["1002"], "activity": "available"})
    rc, count, out = run(sipp_command(caller_waiting(tmp_path, 15000), running.sip_port, port=free_udp_port(), calls=1,
                                      service="1801", caller="0901234567", workdir=tmp_path), tmp_path)
    assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
    assert finish(deaf_phone)[1] == {"successful": 1, "failed": 0}  # it rang and was cancelled
    assert finish(good_phone)[1] == {"successful": 1, "failed": 0}  # it answered
    record = admin.get("/api/v1/call-records", callee="1801")["items"][0]
    assert record["agent"] == "1002" and record["disposition"] == "answered" and record["wait_s"] >= 3
    assert wait_until(lambda: queue_log(admin, record["call_id"])[-1:] == ["completed"], timeout=10)
    log = admin.get("/api/v1/queue-log", call_id=record["call_id"])["items"]
    story = [(e["event"], e["agent"]) for e in reversed(log)]
    assert story == [("entered", ""), ("offered", "1001"), ("missed", "1001"), ("offered", "1002"), ("answered", "1002"),
                     ("completed", "1002")], story
    states = {a["worker_id"]: a for a in admin.get("/api/v1/routing/agents")}
    assert states[agents["1001"]]["activity"] == "not_ready"

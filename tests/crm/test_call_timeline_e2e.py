"""A real call reaches the customer's timeline, against `tongdai run --demo`: SIPp calls from the demo
customer's number (0918000888) into the sales queue, an agent's phone (SIPp) answers; the interaction
(queue, agent, wait, talk, disposition) shows in the timeline and in the screen pop's look-up."""

from __future__ import annotations

import time

import pytest

from tests.calls.sipp import free_udp_port, register, run, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.calls.test_inbound_queue import Admin
from tests.conftest import wait_until

pytestmark = pytest.mark.e2e


def test_given_demo_customer_calls_sales_then_interaction_in_timeline_and_screen_pop(running, tmp_path):
    admin = Admin(running.base)
    sales = next(q for q in admin.get("/api/v1/queues")["items"] if q["name"] == "sales")
    admin.post("/api/v1/numbers", {"e164": "1801", "description": "Sales line", "queue_id": sales["id"]})
    agents = {a["extension"]: a["id"] for a in admin.get("/api/v1/agents")["items"]}
    phone = free_udp_port()
    uas = start(sipp_command("uas", running.sip_port, port=phone, calls=1, workdir=tmp_path), tmp_path)
    time.sleep(0.3)
    assert register("1002", "sip-demo-1002", phone, running.sip_port) == 200
    admin.post("/api/v1/routing/agents/activity", {"agent_id": agents["1002"], "activity": "available"})
    rc, count, out = run(sipp_command("uac_queue.xml", running.sip_port, port=free_udp_port(), calls=1,
                                      service="1801", caller="0918000888", workdir=tmp_path), tmp_path)
    assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
    assert finish(uas)[1] == {"successful": 1, "failed": 0}

    customer = admin.get("/api/v1/customers", phone="0918000888")["items"][0]
    assert customer["name"] == "Phạm Minh Tuấn"

    def timeline() -> list[dict]:
        return admin.get(f"/api/v1/customers/{customer['id']}/timeline")["items"]

    assert wait_until(lambda: timeline() != [], timeout=10)
    item = timeline()[0]
    assert (item["channel"], item["direction"], item["number"]) == ("voice", "inbound", "+84918000888")
    assert (item["queue"], item["agent"], item["disposition"]) == ("sales", "1002", "answered")
    assert item["talk_s"] >= 0.9 and item["wait_s"] >= 0
    record = admin.get("/api/v1/call-records", callee="1801")["items"][0]
    assert item["call_id"] == record["call_id"]
    pop = admin.get("/api/v1/customers/lookup", phone="0918000888")
    assert (pop["vip_tier"], [c["subject"] for c in pop["open_cases"]]) == ("gold", ["Internet drops every evening"])
    assert pop["recent_interactions"][0]["call_id"] == record["call_id"]

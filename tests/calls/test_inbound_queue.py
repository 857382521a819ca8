"""Callers through a queue to agents, against `tongdai run --demo`: a number leads to the sales queue;
the routing engine offers the call to the available agent, whose phone (SIPp) rings and answers; the
caller is re-joined to the agent; the queue log and the CDR tell the story. A caller who gives up
while waiting is logged as abandoned with its wait."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.calls.sipp import SCENARIOS, free_udp_port, register, run, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.calls.test_call_records import token
from tests.conftest import wait_until

pytestmark = pytest.mark.e2e


class Admin:
    def __init__(self, base: str) -> None:
        self.base = base
        self.h = {"Authorization": f"Bearer {token(base, 'admin@demo.example', 'admin-demo-2026')}"}

    def get(self, path: str, **params) -> dict:  # type: ignore[no-untyped-def]
        r = httpx.get(self.base + path, params=params, headers=self.h, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def post(self, path: str, body: dict) -> dict:
        r = httpx.post(self.base + path, json=body, headers=self.h, timeout=10)
        assert r.status_code in (200, 201), r.text
        return r.json()


@pytest.fixture(scope="module")
def sales_number(running):
    admin = Admin(running.base)
    sales = next(q for q in admin.get("/api/v1/queues")["items"] if q["name"] == "sales")
    # no wrap-up, so that each test finds the agents free (wrap-up itself is the routing engine's, tested there)
    r = httpx.patch(f"{running.base}/api/v1/queues/{sales['id']}", json={"wrap_up_s": 0}, headers=admin.h, timeout=10)
    assert r.status_code == 200, r.text
    admin.post("/api/v1/numbers", {"e164": "1800", "description": "Sales line", "queue_id": sales["id"]})
    agents = {a["extension"]: a["id"] for a in admin.get("/api/v1/agents")["items"]}
    return admin, agents


def caller_waiting(tmp_path, ms: int) -> str:
    """A copy of the queue caller scenario that waits `ms` for the agent (instead of 3 s)."""
    path = tmp_path / f"uac_queue_{ms}.xml"
    path.write_text((SCENARIOS / "uac_queue.xml").read_text().replace('timeout="3000"', f'timeout="{ms}"'))
    return str(path)


def queue_log(admin: Admin, call_id: str) -> list[str]:
    return [e["event"] for e in reversed(admin.get("/api/v1/queue-log", call_id=call_id)["items"])]


def test_given_available_agent_when_customer_calls_sales_then_agent_answers_and_queue_log_tells(
        running, tmp_path, sales_number):
    admin, agents = sales_number
    phone = free_udp_port()
    uas = start(sipp_command("uas", running.sip_port, port=phone, calls=1, workdir=tmp_path), tmp_path)
    time.sleep(0.3)
    assert register("1002", "sip-demo-1002", phone, running.sip_port) == 200
    admin.post("/api/v1/routing/agents/activity", {"agent_id": agents["1002"], "activity": "available"})
    rc, count, out = run(sipp_command("uac_queue.xml", running.sip_port, port=free_udp_port(), calls=1,
                                      service="1800", caller="0901234567", workdir=tmp_path), tmp_path)
    assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
    rc, count, out = finish(uas)
    assert count == {"successful": 1, "failed": 0}, out  # the agent's phone rang, answered, got the BYE

    def cdr() -> dict | None:
        items = admin.get("/api/v1/call-records", callee="1800", disposition="answered")["items"]
        return items[0] if items else None

    assert wait_until(lambda: cdr() is not None, timeout=10)
    record = cdr()
    assert record["queue"] == "sales" and record["agent"] == "1002" and record["talk_s"] >= 0.9
    assert wait_until(lambda: queue_log(admin, record["call_id"])[-1:] == ["completed"], timeout=10)
    assert queue_log(admin, record["call_id"]) == ["entered", "offered", "answered", "completed"]
    admin.post("/api/v1/routing/agents/activity", {"agent_id": agents["1002"], "activity": "offline"})
    assert register("1002", "sip-demo-1002", phone, running.sip_port, expires=0) == 200


def test_given_no_agent_when_caller_hangs_up_waiting_then_abandoned_with_wait(running, tmp_path, sales_number):
    admin, _ = sales_number
    rc, count, out = run(sipp_command(caller_waiting(tmp_path, 2000), running.sip_port, port=free_udp_port(), calls=1,
                                      service="1800", caller="0901234567", workdir=tmp_path), tmp_path)
    assert (rc, count) == (0, {"successful": 1, "failed": 0}), out

    def abandoned() -> list[dict]:
        return admin.get("/api/v1/queue-log", event="abandoned")["items"]

    assert wait_until(lambda: abandoned() != [], timeout=10)
    entry = abandoned()[0]
    assert entry["queue"] == "sales" and entry["position"] == 1 and 1.8 <= entry["wait_s"] <= 4
    cdr = admin.get("/api/v1/call-records", callee="1800", disposition="abandoned")["items"]
    assert cdr and cdr[0]["talk_s"] == 0 and cdr[0]["agent"] == ""


def test_given_phones_alone_when_agent_phone_registers_then_agent_available_and_offline_when_it_goes(
        running, sales_number):
    admin, agents = sales_number
    port = free_udp_port()

    def activity() -> str:
        return {a["worker_id"]: a for a in admin.get("/api/v1/routing/agents")}[agents["1004"]]["activity"]

    assert activity() == "offline"
    assert register("1004", "sip-demo-1004", port, running.sip_port) == 200
    assert wait_until(lambda: activity() == "available", timeout=5)
    assert register("1004", "sip-demo-1004", port, running.sip_port, expires=0) == 200
    assert wait_until(lambda: activity() == "offline", timeout=5)


def test_given_best_agent_is_the_caller_then_call_goes_to_the_next_agent(running, tmp_path, sales_number):
    """Agent 1001 (the most skilled in sales) calls the sales line from its own phone: it is on a call,
    so the offer passes to 1002."""
    admin, agents = sales_number
    own, other = free_udp_port(), free_udp_port()
    phone_1002 = start(sipp_command("uas", running.sip_port, port=other, calls=1, workdir=tmp_path), tmp_path)
    time.sleep(0.3)
    assert register("1001", "sip-demo-1001", own, running.sip_port) == 200
    assert register("1002", "sip-demo-1002", other, running.sip_port) == 200
    rc, count, out = run(sipp_command(caller_waiting(tmp_path, 10000), running.sip_port, port=own, calls=1, service="1800",
                                      caller="1001", workdir=tmp_path), tmp_path)
    assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
    assert finish(phone_1002)[1] == {"successful": 1, "failed": 0}
    record = admin.get("/api/v1/call-records", caller="1001", callee="1800")["items"][0]
    assert record["agent"] == "1002" and record["disposition"] == "answered"
    for ext, port in (("1001", own), ("1002", other)):
        assert register(ext, f"sip-demo-{ext}", port, running.sip_port, expires=0) == 200

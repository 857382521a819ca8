"""baresip (a real softphone) behind tongdai's B2BUA, against `tongdai run --demo`: tongdai calls it
and it answers; it is held and resumed; it calls in; it transfers a call with REFER."""

from __future__ import annotations

import time

import pytest

from tests.calls.baresip import Baresip
from tests.calls.sipp import free_udp_port, register, run, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.conftest import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def phone_1002(running, tmp_path):
    phone = Baresip(tmp_path / "baresip-1002", "1002", "sip-demo-1002", running.sip_port)
    try:
        phone.wait_registered()
        yield phone
    finally:
        phone.stop()


def test_given_baresip_as_1002_when_1001_calls_then_it_answers_is_held_resumed_and_hung_up(running, tmp_path,
                                                                                         phone_1002):
    rc, count, out = run(sipp_command("uac_call_hold.xml", running.sip_port, port=free_udp_port(), calls=1,
                                      service="1002", caller="1001", workdir=tmp_path), tmp_path)
    assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
    assert phone_1002.wait_event("CALL_ESTABLISHED")["peeruri"].startswith("sip:1001@")
    phone_1002.wait_event("CALL_CLOSED")
    offers = [e for e in phone_1002.events if e["type"] == "CALL_REMOTE_SDP" and e["param"] == "offer"]
    assert len(offers) == 3  # the call, the hold and the resume reached the phone (SIPp checked the answers)
    assert wait_until(lambda: "Call with sip:1001@" in phone_1002.log() and "terminated" in phone_1002.log(), 5)


def test_given_baresip_as_1002_when_it_calls_1003_then_call_is_established(running, tmp_path, phone_1002):
    port = free_udp_port()
    uas = start(sipp_command("uas", running.sip_port, port=port, calls=1, workdir=tmp_path), tmp_path)
    time.sleep(0.3)
    assert register("1003", "sip-demo-1003", port, running.sip_port) == 200
    phone_1002.command("dial", f"sip:1003@127.0.0.1:{running.sip_port}")
    phone_1002.wait_event("CALL_ESTABLISHED")
    time.sleep(0.5)
    phone_1002.command("hangup")
    phone_1002.wait_event("CALL_CLOSED")
    rc, count, out = finish(uas)
    assert count == {"successful": 1, "failed": 0}, out
    assert register("1003", "sip-demo-1003", port, running.sip_port, expires=0) == 200


def test_given_call_answered_by_baresip_when_it_transfers_to_1003_then_caller_reaches_1003(running, tmp_path,
                                                                                          phone_1002):
    port = free_udp_port()
    target = start(sipp_command("uas", running.sip_port, port=port, calls=1, workdir=tmp_path), tmp_path)
    time.sleep(0.3)
    assert register("1003", "sip-demo-1003", port, running.sip_port) == 200
    caller = start(sipp_command("uac_call.xml", running.sip_port, port=free_udp_port(), calls=1, service="1002",
                                caller="1001", workdir=tmp_path), tmp_path)
    phone_1002.wait_event("CALL_ESTABLISHED")
    phone_1002.command("transfer", "1003")
    phone_1002.wait_event("CALL_CLOSED")  # tongdai hangs the transferor up once the transfer worked
    rc, count, out = finish(caller)
    assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
    rc, count, out = finish(target)
    assert count == {"successful": 1, "failed": 0}, out
    assert register("1003", "sip-demo-1003", port, running.sip_port, expires=0) == 200


def test_given_baresip_agent_when_baresip_caller_dials_sales_line_then_they_talk_both_ways(running, tmp_path):
    """Agent 1002's softphone is registered (so available); 1001 dials a sales line (a number with the
    sales queue), hears music, and is joined to 1002; RTP arrives on both phones."""
    from tests.calls.test_inbound_queue import Admin

    admin = Admin(running.base)
    sales = next(q for q in admin.get("/api/v1/queues")["items"] if q["name"] == "sales")
    admin.post("/api/v1/numbers", {"e164": "1890", "queue_id": sales["id"]})
    agent = Baresip(tmp_path / "agent", "1002", "sip-demo-1002", running.sip_port)
    caller = Baresip(tmp_path / "caller", "1001", "sip-demo-1001", running.sip_port, answer="manual")
    try:
        agent.wait_registered()
        caller.wait_registered()
        time.sleep(0.5)  # both phones' registrations made the agents available
        caller.command("dial", f"sip:1890@127.0.0.1:{running.sip_port}")
        caller.wait_event("CALL_ESTABLISHED")
        assert agent.wait_event("CALL_ESTABLISHED", timeout=15)["peeruri"].startswith("sip:1001@")
        time.sleep(2)
        caller.command("hangup")
        caller.wait_event("CALL_CLOSED")
        agent.wait_event("CALL_CLOSED")
        assert "incoming rtp for 'audio' established" in agent.log()  # the caller's voice reached the agent
        assert "receiving from 127.0.0.1" in caller.log() and "SSRC changed" in caller.log()  # music, then the agent
    finally:
        caller.stop()
        agent.stop()

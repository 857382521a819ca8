"""Trunks against `tongdai run` with SIPp as the carrier: an agent dials an outside number and the
call leaves through the trunk (failing over from a gateway that answers 503, answering the
carrier's digest challenge), and tongdai registers to the carrier with digest."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.calls.sipp import free_udp_port, run, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.conftest import RunningTongdai, wait_until
from tests.sip.e2e.test_trunk_failover import SCENARIOS as SIP_SCENARIOS

pytestmark = pytest.mark.e2e
CARRIER = "127.0.0.2"


@pytest.fixture(scope="module")
def gateways():
    return {"down": free_udp_port(), "carrier": free_udp_port(), "registrar": free_udp_port()}


@pytest.fixture(scope="module")
def with_trunk(tmp_path_factory, gateways):
    # the carrier sits on its own loopback address: calls from it are trusted, phones on 127.0.0.1 are not
    trunk = {"name": "carrier", "gateways": [f"{CARRIER}:{gateways['down']}", f"{CARRIER}:{gateways['carrier']}"],
             "username": "carrier", "password": "carrier-secret"}
    registered = {"name": "registered", "gateways": [f"{CARRIER}:{gateways['registrar']}"], "username": "carrier",
                  "password": "carrier-secret", "registration": True, "register_expires": 120,
                  "outbound_pattern": "^9999$"}
    t = RunningTongdai(tmp_path_factory.mktemp("trunk"), "--set", f"sip.trunks={json.dumps([trunk, registered])}")
    try:
        t.wait_ready()
        yield t
    finally:
        t.stop()


def test_given_first_gateway_503_when_agent_dials_outside_number_then_call_leaves_through_second_with_digest(
        with_trunk, gateways, tmp_path):
    busy = tmp_path / "uas_503.xml"  # SIPp checks status codes when it loads a scenario: write it in
    busy.write_text((SIP_SCENARIOS / "uas_status.xml").read_text().replace("[status]", "503"))
    down = start(["sipp", "-sf", str(busy), "-i", CARRIER,
                  "-p", str(gateways["down"]), "-m", "1", "-nostdin", "-timeout", "30"], tmp_path)
    carrier = start(sipp_command("uas_trunk_auth.xml", with_trunk.sip_port, port=gateways["carrier"], calls=1,
                                 workdir=tmp_path, local_ip=CARRIER), tmp_path)
    time.sleep(0.3)
    rc, count, out = run(sipp_command("uac_call.xml", with_trunk.sip_port, port=free_udp_port(), calls=1,
                                      service="0912345678", caller="1001", workdir=tmp_path), tmp_path)
    assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
    assert finish(down)[1] == {"successful": 1, "failed": 0}
    rc, count, out = finish(carrier)
    assert count == {"successful": 1, "failed": 0}, out


def test_given_unauthenticated_caller_when_dialling_outside_number_then_challenged_not_connected(with_trunk, tmp_path):
    rc, count, out = run(sipp_command("uac", with_trunk.sip_port, port=free_udp_port(), calls=1, service="0912345678",
                                      workdir=tmp_path), tmp_path)
    assert count["failed"] == 1, out  # SIPp's plain uac cannot answer the 407: toll fraud refused


def test_given_trunk_with_registration_then_tongdai_registers_with_digest(with_trunk, gateways, tmp_path):
    # tongdai registered at start; its retry interval is 30 s, so the registrar answers the renewal or retry
    registrar = start(sipp_command("uas_register_auth.xml", with_trunk.sip_port, port=gateways["registrar"], calls=1,
                                   workdir=tmp_path, timeout_s=45, local_ip=CARRIER), tmp_path)
    rc, count, out = finish(registrar, timeout=50)
    assert count == {"successful": 1, "failed": 0}, out
    assert wait_until(lambda: '"trunk registered"' in with_trunk.log.read_text(), timeout=5)


def test_home_agent_without_phone_is_rung_on_outside_number_through_the_trunk(with_trunk, gateways, tmp_path):
    """Agent 1004 works from home: no phone registered, an outside number in the directory; a caller in
    the sales queue is offered to her and her mobile (the carrier, with digest) answers."""
    from tests.calls.test_inbound_queue import Admin

    admin = Admin(with_trunk.base)
    agents = {a["extension"]: a for a in admin.get("/api/v1/agents")["items"]}
    r = httpx.patch(f"{with_trunk.base}/api/v1/agents/{agents['1004']['id']}", json={"remote_number": "0909111222"},
                    headers=admin.h, timeout=10)
    assert r.status_code == 200 and r.json()["remote_number"] == "0909111222", r.text
    sales = next(q for q in admin.get("/api/v1/queues")["items"] if q["name"] == "sales")
    admin.post("/api/v1/numbers", {"e164": "1891", "queue_id": sales["id"]})
    time.sleep(0.5)
    admin.post("/api/v1/routing/agents/activity", {"agent_id": agents["1004"]["id"], "activity": "available"})
    busy = tmp_path / "uas_503.xml"
    busy.write_text((SIP_SCENARIOS / "uas_status.xml").read_text().replace("[status]", "503"))
    down = start(["sipp", "-sf", str(busy), "-i", CARRIER,
                  "-p", str(gateways["down"]), "-m", "1", "-nostdin", "-timeout", "30"], tmp_path)
    mobile = start(sipp_command("uas_trunk_auth.xml", with_trunk.sip_port, port=gateways["carrier"], calls=1,
                                workdir=tmp_path, local_ip=CARRIER), tmp_path)
    time.sleep(0.3)
    rc, count, out = run(sipp_command("uac_queue.xml", with_trunk.sip_port, port=free_udp_port(), calls=1,
                                      service="1891", caller="0913444555", workdir=tmp_path), tmp_path)
    assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
    assert finish(down)[1] == {"successful": 1, "failed": 0}  # the trunk's gateways in turn, as for any call out
    rc, count, out = finish(mobile)
    assert count == {"successful": 1, "failed": 0}, out  # the home agent's number rang and answered

    def record() -> dict | None:
        items = admin.get("/api/v1/call-records", caller="0913444555")["items"]
        return items[0] if items else None

    assert wait_until(lambda: record() is not None, timeout=10)
    assert (record()["agent"], record()["disposition"], record()["queue"]) == ("1004", "answered", "sales")

"""Stored call flows through the API of `tongdai run --demo`, and callers hearing the active version:
the demo's flow is replaced by a version where key 1 leads to support."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.calls.sipp import free_udp_port, register, run, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.calls.test_inbound_queue import Admin
from tests.calls.test_ivr_flow import CAPTURES
from tests.conftest import wait_until
from tongdai.ivr.validate import FLOWS

pytestmark = pytest.mark.e2e


def test_given_uploads_then_invalid_refused_with_node_errors_and_versions_kept(running):
    admin = Admin(running.base)
    bad = (FLOWS / "demo.yaml").read_text().replace('"1": sales', '"1": salse')
    r = httpx.post(f"{running.base}/api/v1/call-flows", json={"document": bad}, headers=admin.h)
    assert r.status_code == 422 and r.json()["error_id"] == "flow_invalid"
    assert r.json()["details"]["problems"] == ["nodes.menu.choices.1: unknown target 'salse'"]
    checked = admin.post("/api/v1/call-flows/validate", {"document": bad})
    assert checked == {"valid": False, "problems": ["nodes.menu.choices.1: unknown target 'salse'"], "warnings": []}
    spare_node = (FLOWS / "demo.yaml").read_text() + "  unused:\n    type: hangup\n"
    checked = admin.post("/api/v1/call-flows/validate", {"document": spare_node})
    assert checked["valid"] and any("unused" in w for w in checked["warnings"]), checked  # kept, but said
    first = admin.post("/api/v1/call-flows", {"document": (FLOWS / "demo.yaml").read_text().replace("name: demo",
                                                                                                     "name: spare")})
    second = admin.post("/api/v1/call-flows", {"document": {**first["document"]}})
    assert (first["version"], second["version"], second["status"]) == (1, 2, "draft")
    admin.post(f"/api/v1/call-flows/{first['id']}/activate", {})
    admin.post(f"/api/v1/call-flows/{second['id']}/activate", {})
    states = {f["version"]: f["status"] for f in admin.get("/api/v1/call-flows", name="spare")["items"]}
    assert states == {1: "archived", 2: "active"}
    agent = {"Authorization": "Bearer " + httpx.post(f"{running.base}/api/v1/auth/token", data={
        "username": "lan@demo.example", "password": "agent-demo-2026"}).json()["access_token"]}
    assert httpx.get(f"{running.base}/api/v1/call-flows", headers=agent).status_code == 403


def test_given_new_version_of_main_flow_activated_then_callers_follow_it(running, tmp_path):
    admin = Admin(running.base)
    changed = (FLOWS / "demo.yaml").read_text().replace('"1": sales, "2": support', '"1": support, "2": sales')
    version = admin.post("/api/v1/call-flows", {"document": changed})
    admin.post(f"/api/v1/call-flows/{version['id']}/activate", {})
    phone = free_udp_port()
    uas = start(sipp_command("uas", running.sip_port, port=phone, calls=1, workdir=tmp_path), tmp_path)
    time.sleep(1.0)  # the activation reached the SIP service
    assert register("1003", "sip-demo-1003", phone, running.sip_port) == 200  # support's agent
    rc, count, out = run(sipp_command("uac_ivr.xml", running.sip_port, port=free_udp_port(), calls=1, service="1000",
                                      caller="0912000222", keys={"dtmf_pcap": str(CAPTURES / "dtmf_2833_1.pcap")},
                                      workdir=tmp_path), tmp_path)
    assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
    assert finish(uas)[1] == {"successful": 1, "failed": 0}

    def record() -> dict | None:
        items = admin.get("/api/v1/call-records", caller="0912000222")["items"]
        return items[0] if items else None

    assert wait_until(lambda: record() is not None, timeout=10)
    assert record()["queue"] == "support" and record()["agent"] == "1003"  # key 1 now means support


def test_a_saved_flow_is_stored_before_the_answer_arrives(running):
    """The request's unit of work commits before the response is sent: reading back at once finds it."""
    admin = Admin(running.base)
    document = (FLOWS / "demo.yaml").read_text()
    with httpx.Client(base_url=running.base, headers=admin.h, timeout=10) as client:
        for i in range(25):
            saved = client.post("/api/v1/call-flows", json={"document": document.replace("name: demo", f"name: rb{i}")})
            assert saved.status_code == 201, saved.text
            again = client.get(f"/api/v1/call-flows/{saved.json()['id']}")
            assert again.status_code == 200, (i, again.text)

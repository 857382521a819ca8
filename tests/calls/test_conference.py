"""Three-way conference against `tongdai run --demo`: a SIPp caller talks to a SIPp agent through the
sales queue; the agent's call gets a third party (a SIPp phone that speaks a real A-law capture) by
POST /api/v1/calls/{id}/conference; caller and agent are moved onto the DSP mixer by re-INVITEs, the
caller hears the third party's speech as RTP, and when the caller hangs up everyone is hung up."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.calls.capture import RtpListener, loopback_capture
from tests.calls.sipp import SCENARIOS, free_udp_port, register, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.calls.test_inbound_queue import Admin
from tests.calls.test_ivr_flow import CAPTURES
from tests.conftest import wait_until
from tongdai.media.pcap import rtp_packets

pytestmark = [pytest.mark.e2e, pytest.mark.serial]  # audio measured: run alone


@pytest.fixture(scope="module", autouse=True)
def no_wrap_up(running):
    """Sales agents free again as soon as a call ends (wrap-up is the routing engine's, tested there)."""
    admin = Admin(running.base)
    sales = next(q for q in admin.get("/api/v1/queues")["items"] if q["name"] == "sales")
    r = httpx.patch(f"{running.base}/api/v1/queues/{sales['id']}", json={"wrap_up_s": 0}, headers=admin.h, timeout=10)
    assert r.status_code == 200, r.text


def test_agent_adds_third_party_and_caller_hears_it_through_the_mixer(running, tmp_path):
    admin = Admin(running.base)
    sales = next(q for q in admin.get("/api/v1/queues")["items"] if q["name"] == "sales")
    admin.post("/api/v1/numbers", {"e164": "1886", "queue_id": sales["id"]})
    time.sleep(0.5)
    agent_port, third_port = free_udp_port(), free_udp_port()
    agent = start(sipp_command("uas_reinvited.xml", running.sip_port, port=agent_port, calls=1, workdir=tmp_path),
                  tmp_path)
    third = start(sipp_command("uas_speak.xml", running.sip_port, port=third_port, calls=1, workdir=tmp_path,
                               keys={"audio_pcap": str(CAPTURES / "g711a.pcap")}), tmp_path)
    rtp = RtpListener().start()  # the caller's media port
    scenario = rtp.scenario_to(SCENARIOS / "uac_transferred.xml", tmp_path / "uac_transferred_rtp.xml")
    time.sleep(0.3)
    try:
        assert register("1002", "sip-demo-1002", agent_port, running.sip_port) == 200
        assert register("1003", "sip-demo-1003", third_port, running.sip_port) == 200  # support: not offered sales
        started = time.time()
        caller = start(sipp_command(scenario, running.sip_port, port=free_udp_port(), service="1886",
                                    caller="0918000999", keys=rtp.keys,
                                    workdir=tmp_path, timeout_s=60), tmp_path)

        def answered() -> str | None:
            rows = admin.get("/api/v1/queue-log", limit=50)["items"]
            fresh = [r for r in rows if r["event"] == "answered" and r["agent"] == "1002" and r["queue"] == "sales"]
            return fresh[0]["call_id"] if fresh and time.time() - started < 60 else None

        assert wait_until(lambda: answered() is not None, timeout=15)
        call_id = answered()
        r = httpx.post(f"{running.base}/api/v1/calls/{call_id}/conference", json={"target": "1003"},
                       headers=admin.h, timeout=30)
        assert r.status_code == 200, r.text
        assert sorted(r.json()["parties"]) == ["0918000999", "1002", "1003"]
        mixed_from = time.monotonic()
        rc, count, out = finish(caller, timeout=40)
        assert count == {"successful": 1, "failed": 0}, out
        for proc in (agent, third):  # hung up by tongdai once the caller left
            rc, count, out = finish(proc, timeout=20)
            assert count == {"successful": 1, "failed": 0}, out
    finally:
        rtp.stop()
        register("1002", "sip-demo-1002", agent_port, running.sip_port, expires=0)
        register("1003", "sip-demo-1003", third_port, running.sip_port, expires=0)
    through_mixer = [t for t in rtp.voiced if t > mixed_from]
    assert len(through_mixer) >= 50, (len(rtp.voiced), len(through_mixer))  # the third party's speech, mixed
    unknown = httpx.post(f"{running.base}/api/v1/calls/no-such-call/conference", json={"target": "1003"},
                         headers=admin.h, timeout=10)
    assert unknown.status_code == 404 and unknown.json()["error_id"] == "not_found"


def test_supervisor_whisper_is_heard_by_the_agent_and_not_by_the_caller(running, tmp_path):
    admin = Admin(running.base)
    sales = next(q for q in admin.get("/api/v1/queues")["items"] if q["name"] == "sales")
    admin.post("/api/v1/numbers", {"e164": "1887", "queue_id": sales["id"]})
    time.sleep(0.5)
    agent_port, agent_media, supervisor_port = free_udp_port(), free_udp_port(), free_udp_port()
    agent = start(sipp_command("uas_reinvited.xml", running.sip_port, port=agent_port, calls=1, workdir=tmp_path)
                  + ["-mp", str(agent_media)], tmp_path)
    supervisor = start(sipp_command("uas_speak.xml", running.sip_port, port=supervisor_port, calls=1,
                                    workdir=tmp_path, keys={"audio_pcap": str(CAPTURES / "g711a.pcap")}), tmp_path)
    rtp = RtpListener().start()  # the caller's media port
    scenario = rtp.scenario_to(SCENARIOS / "uac_transferred.xml", tmp_path / "uac_transferred_rtp.xml")
    capture = tmp_path / "agent.pcap"
    try:
        with loopback_capture(agent_media, capture):
            assert register("1002", "sip-demo-1002", agent_port, running.sip_port) == 200
            assert register("1003", "sip-demo-1003", supervisor_port, running.sip_port) == 200  # the supervisor's phone
            agents = {a["extension"]: a["id"] for a in admin.get("/api/v1/agents")["items"]}
            admin.post("/api/v1/routing/agents/activity", {"agent_id": agents["1002"], "activity": "available"})
            started = time.time()
            caller = start(sipp_command(scenario, running.sip_port, port=free_udp_port(), service="1887",
                                        caller="0918000777", keys=rtp.keys,
                                        workdir=tmp_path, timeout_s=60), tmp_path)

            def answered() -> str | None:
                rows = admin.get("/api/v1/queue-log", limit=50)["items"]
                fresh = [r for r in rows if r["event"] == "answered" and r["agent"] == "1002"
                         and r["queue"] == "sales" and r["call_id"] not in seen]
                return fresh[0]["call_id"] if fresh and time.time() - started < 60 else None

            seen = {r["call_id"] for r in admin.get("/api/v1/queue-log", limit=200)["items"] if r["event"] == "answered"}
            assert wait_until(lambda: answered() is not None, timeout=15)
            supervisor_token = httpx.post(f"{running.base}/api/v1/auth/token", data={
                "username": "supervisor@demo.example", "password": "supervisor-demo-2026"}).json()["access_token"]
            r = httpx.post(f"{running.base}/api/v1/calls/{answered()}/monitor",
                           json={"extension": "1003", "mode": "whisper"},
                           headers={"Authorization": f"Bearer {supervisor_token}"}, timeout=30)
            assert r.status_code == 200, r.text
            whisper_from = time.monotonic()
            rc, count, out = finish(caller, timeout=40)
            assert count == {"successful": 1, "failed": 0}, out
            for proc in (agent, supervisor):
                rc, count, out = finish(proc, timeout=20)
                assert count == {"successful": 1, "failed": 0}, out
    finally:
        rtp.stop()
        register("1002", "sip-demo-1002", agent_port, running.sip_port, expires=0)
        register("1003", "sip-demo-1003", supervisor_port, running.sip_port, expires=0)
    agent_voiced = [p for _, p in rtp_packets(capture) if len(set(p.payload)) > 4]
    assert len(agent_voiced) >= 50, len(agent_voiced)  # the agent heard the supervisor
    assert len([t for t in rtp.voiced if t > whisper_from]) < 5  # the caller did not

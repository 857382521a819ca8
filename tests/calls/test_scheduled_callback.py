"""Scheduled callbacks against `tongdai run --demo` with real peers: SIPp as the agent's desk phone and as
the carrier's customer phone (through a trunk), rtpengine in between. A callback booked for two seconds
ahead rings the agent (who hears the customer's name and the note), then the customer, and joins them
with audio both ways; the call lands in the customer's timeline. Then tongdai is killed while one
callback waits in its queue and stopped before another falls due: after the restart both are placed."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.calls.capture import loopback_capture
from tests.calls.sipp import free_udp_port, register, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.calls.test_call_records import token
from tests.calls.test_inbound_queue import Admin
from tests.calls.test_ivr_flow import CAPTURES
from tests.calls.test_waiting_e2e import spoken
from tests.conftest import RunningTongdai, wait_until
from tests.sip.e2e.test_trunk_failover import SCENARIOS as SIP_SCENARIOS
from tongdai.media.pcap import rtp_packets

pytestmark = pytest.mark.e2e
CARRIER = "127.0.0.1"  # the carrier's gateway (SIPp's audio played from 127.0.0.2 did not reach rtpengine)
CUSTOMER = "+84915000111"
NOTE = "About the refund"
AUDIO = {"audio_pcap": str(CAPTURES / "g711a.pcap")}


def launch(workdir: Path, gateway: int, *extra: str) -> RunningTongdai:
    """tongdai with a trunk to the carrier's gateway (no digest), ready."""
    trunk = {"name": "carrier", "gateways": [f"{CARRIER}:{gateway}"]}
    t = RunningTongdai(workdir, "--set", f"sip.trunks={json.dumps([trunk])}", *extra)
    t.wait_ready()
    return t


class Desk:
    """What the test does through the API: as the admin, and as agent 1002 (Minh, sales)."""

    def __init__(self, t: RunningTongdai) -> None:
        self.t, self.admin = t, Admin(t.base)
        self.minh = {"Authorization": f"Bearer {token(t.base, 'minh@demo.example', 'agent-demo-2026')}"}
        self.agents = {a["extension"]: a["id"] for a in self.admin.get("/api/v1/agents")["items"]}

    def book(self, seconds: float, note: str = NOTE) -> dict:
        due = (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()
        r = httpx.post(self.t.base + "/api/v1/callbacks", headers=self.minh, timeout=10,
                       json={"number": CUSTOMER, "queue": "sales", "due_at": due, "note": note, "assign": "me"})
        assert r.status_code == 201, r.text
        return r.json()

    def callback(self, cid: str) -> dict:
        r = httpx.get(f"{self.t.base}/api/v1/callbacks/{cid}", headers=self.minh, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def minh_available(self, phone_port: int) -> None:
        assert register("1002", "sip-demo-1002", phone_port, self.t.sip_port) == 200
        self.admin.post("/api/v1/routing/agents/activity", {"agent_id": self.agents["1002"], "activity": "available"})

    def no_wrap_up(self) -> None:
        sales = next(q for q in self.admin.get("/api/v1/queues")["items"] if q["name"] == "sales")
        r = httpx.patch(f"{self.t.base}/api/v1/queues/{sales['id']}", json={"wrap_up_s": 0}, headers=self.admin.h,
                        timeout=10)
        assert r.status_code == 200, r.text


def phones(tmp_path: Path, t: RunningTongdai, gateway: int, calls: int, timeout_s: int = 60
           ) -> tuple[subprocess.Popen[str], subprocess.Popen[str], int, int, int]:
    """The agent's desk phone and the customer's phone (behind the carrier), each speaking the capture."""
    agent_port, agent_media, customer_media = free_udp_port(), free_udp_port(), free_udp_port()
    agent = start(sipp_command("uas_scheduled_agent.xml", t.sip_port, port=agent_port, calls=calls, keys=AUDIO,
                               workdir=tmp_path, timeout_s=timeout_s) + ["-mp", str(agent_media)], tmp_path)
    customer = start(sipp_command("uas_speak.xml", t.sip_port, port=gateway, calls=calls, keys=AUDIO, workdir=tmp_path,
                                  timeout_s=timeout_s, local_ip=CARRIER) + ["-mp", str(customer_media)], tmp_path)
    time.sleep(0.3)
    return agent, customer, agent_port, agent_media, customer_media


def test_callback_booked_for_two_seconds_ahead_rings_agent_then_customer_and_joins_them(tmp_path):
    gateway = free_udp_port()
    t = launch(tmp_path, gateway)
    try:
        desk = Desk(t)
        customer_row = desk.admin.post("/api/v1/customers", {"name": "Pham Thi Thu", "phones": [CUSTOMER]})
        agent, customer, agent_port, agent_media, customer_media = phones(tmp_path, t, gateway, calls=1)
        agent_pcap, customer_pcap = tmp_path / "agent.pcap", tmp_path / "customer.pcap"
        try:
            desk.minh_available(agent_port)
            with loopback_capture(agent_media, agent_pcap), loopback_capture(customer_media, customer_pcap):
                booked = desk.book(2.0)
                assert booked["customer_name"] == "Pham Thi Thu" and booked["status"] == "scheduled"
                rc, count, out = finish(agent, timeout=60)
                assert count == {"successful": 1, "failed": 0}, out  # rung first, talked, hung up
                rc, count, out = finish(customer, timeout=20)
                assert count == {"successful": 1, "failed": 0}, out  # then the customer, joined until the BYE
        finally:
            register("1002", "sip-demo-1002", agent_port, t.sip_port, expires=0)
            for proc in (agent, customer):
                if proc.poll() is None:
                    proc.kill()
        assert wait_until(lambda: desk.callback(booked["id"])["status"] == "done", timeout=10), \
            desk.callback(booked["id"])
        done = desk.callback(booked["id"])
        assert (done["attempts"], done["last_result"]) == (1, "answered") and done["call_id"]
        assert spoken(t, f"Scheduled callback to Pham Thi Thu. {NOTE}")  # the whisper the agent heard
        # audio both ways once the customer answered: the agent's speech reached the customer's phone, and
        # the customer's reached the agent's (after the whisper, which ends before the customer is dialled)
        heard_by_customer = [ts for ts, p in rtp_packets(customer_pcap) if p.payload_type == 8]
        assert len(heard_by_customer) >= 50, len(heard_by_customer)
        joined = heard_by_customer[0]
        heard_by_agent = [ts for ts, _ in rtp_packets(agent_pcap) if ts >= joined + 0.5]
        assert len(heard_by_agent) >= 50, len(heard_by_agent)
        # the call is in the customer's timeline
        def timeline() -> list[dict]:
            return desk.admin.get(f"/api/v1/customers/{customer_row['id']}/timeline")["items"]

        assert wait_until(lambda: any(i["call_id"] == done["call_id"] for i in timeline()), timeout=10), timeline()
        item = next(i for i in timeline() if i["call_id"] == done["call_id"])
        assert (item["queue"], item["agent"]) == ("sales", "1002")
    finally:
        t.stop()


def test_callbacks_due_while_down_or_in_progress_at_a_crash_are_placed_after_restart(tmp_path):
    gateway = free_udp_port()
    t = launch(tmp_path, gateway)
    desk = Desk(t)
    desk.no_wrap_up()  # one agent takes both callbacks back to back
    waiting = desk.book(1.0, note="First")  # nobody is available: it waits in the queue, in progress
    assert wait_until(lambda: desk.callback(waiting["id"])["status"] == "in_progress", timeout=15)
    t.stop(sig=9)  # a crash
    t = launch(tmp_path, gateway)
    desk = Desk(t)
    later = desk.book(4.0, note="Second")
    t.stop()  # a clean stop before it falls due
    time.sleep(max(0.0, datetime.fromisoformat(later["due_at"]).timestamp() - time.time()) + 1.0)
    t = launch(tmp_path, gateway)
    try:
        desk = Desk(t)
        agent, customer, agent_port, _, _ = phones(tmp_path, t, gateway, calls=2, timeout_s=90)
        try:
            desk.minh_available(agent_port)
            rc, count, out = finish(agent, timeout=90)
            assert count == {"successful": 2, "failed": 0}, out
            rc, count, out = finish(customer, timeout=20)
            assert count == {"successful": 2, "failed": 0}, out
        finally:
            register("1002", "sip-demo-1002", agent_port, t.sip_port, expires=0)
            for proc in (agent, customer):
                if proc.poll() is None:
                    proc.kill()
        assert wait_until(lambda: all(desk.callback(c["id"])["status"] == "done" for c in (waiting, later)),
                          timeout=10), [desk.callback(c["id"]) for c in (waiting, later)]
        first, second = desk.callback(waiting["id"]), desk.callback(later["id"])
        assert first["attempts"] == 2  # the attempt the crash cut short counts (the clean stop did not)
        assert second["attempts"] == 1 and second["last_result"] == "answered"
    finally:
        t.stop()


class SilentPhone:
    """A registered contact that only notes what reaches it (it never answers)."""

    def __init__(self) -> None:
        import socket

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])

    def invites(self, seconds: float) -> int:
        """INVITEs received within `seconds`."""
        count, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                count += self.sock.recv(65535).startswith(b"INVITE ")
            except TimeoutError:
                continue
        return count


def test_callback_kept_for_one_agent_rings_only_that_agent_when_another_is_free_too(tmp_path):
    gateway = free_udp_port()
    t = launch(tmp_path, gateway)
    lan = SilentPhone()  # 1001 serves sales too, more skilled and free longer: offered first, declined for her
    try:
        desk = Desk(t)
        assert register("1001", "sip-demo-1001", lan.port, t.sip_port) == 200
        desk.admin.post("/api/v1/routing/agents/activity", {"agent_id": desk.agents["1001"], "activity": "available"})
        agent, customer, agent_port, _, _ = phones(tmp_path, t, gateway, calls=1)
        try:
            desk.minh_available(agent_port)
            booked = desk.book(1.0)
            assert lan.invites(8.0) == 0  # offered to her meanwhile, perhaps, but never rung
            rc, count, out = finish(agent, timeout=60)
            assert count == {"successful": 1, "failed": 0}, out
            rc, count, out = finish(customer, timeout=20)
            assert count == {"successful": 1, "failed": 0}, out
            lan_state = next(a for a in desk.admin.get("/api/v1/routing/agents")
                             if a["worker_id"] == desk.agents["1001"])
            assert lan_state["activity"] == "available"  # declining on her behalf did not make her not ready
        finally:
            register("1002", "sip-demo-1002", agent_port, t.sip_port, expires=0)
            register("1001", "sip-demo-1001", lan.port, t.sip_port, expires=0)
            for proc in (agent, customer):
                if proc.poll() is None:
                    proc.kill()
        assert wait_until(lambda: desk.callback(booked["id"])["status"] == "done", timeout=10)
    finally:
        lan.sock.close()
        t.stop()


def test_busy_customer_is_called_again_after_the_spacing_and_each_attempts_result_is_kept(tmp_path):
    gateway = free_udp_port()
    t = launch(tmp_path, gateway, "--set", "callbacks.retry_after_s=[3]")
    busy_xml = tmp_path / "uas_486.xml"  # SIPp checks status codes when it loads a scenario: write it in
    busy_xml.write_text((SIP_SCENARIOS / "uas_status.xml").read_text().replace("[status]", "486"))
    try:
        desk = Desk(t)
        desk.no_wrap_up()  # the agent is free again for the retry at once
        agent_port = free_udp_port()
        agent = start(sipp_command("uas_scheduled_agent.xml", t.sip_port, port=agent_port, calls=2, keys=AUDIO,
                                   workdir=tmp_path, timeout_s=90) + ["-mp", str(free_udp_port())], tmp_path)
        busy = start(["sipp", "-sf", str(busy_xml), "-i", CARRIER, "-p", str(gateway), "-m", "1", "-nostdin",
                      "-timeout", "60"], tmp_path)
        customer = None
        try:
            desk.minh_available(agent_port)
            booked = desk.book(1.0)
            rc, count, out = finish(busy, timeout=40)
            assert count == {"successful": 1, "failed": 0}, out  # the customer's line was busy
            assert wait_until(lambda: desk.callback(booked["id"])["last_result"] == "busy", timeout=10)
            first = desk.callback(booked["id"])
            assert (first["status"], first["attempts"]) == ("scheduled", 1), first
            customer = start(sipp_command("uas_speak.xml", t.sip_port, port=gateway, calls=1, keys=AUDIO,
                                          workdir=tmp_path, timeout_s=60, local_ip=CARRIER)
                             + ["-mp", str(free_udp_port())], tmp_path)
            rc, count, out = finish(agent, timeout=60)
            assert count == {"successful": 2, "failed": 0}, out  # rung for both attempts
            rc, count, out = finish(customer, timeout=20)
            assert count == {"successful": 1, "failed": 0}, out  # reached the second time
        finally:
            register("1002", "sip-demo-1002", agent_port, t.sip_port, expires=0)
            for proc in (agent, busy, customer):
                if proc is not None and proc.poll() is None:
                    proc.kill()
        assert wait_until(lambda: desk.callback(booked["id"])["status"] == "done", timeout=10)
        done = desk.callback(booked["id"])
        assert (done["attempts"], done["last_result"]) == (2, "answered")
        spacing = datetime.fromisoformat(first["due_at"]) - datetime.fromisoformat(booked["due_at"])
        assert spacing >= timedelta(seconds=3), spacing  # the retry was due the spacing after the busy attempt
    finally:
        t.stop()

"""What a caller meets around the queue, against `tongdai run --demo` with SIPp as caller and phones and
a real SMTP server: out of hours the closed message (heard as RTP) and the end of the call; nobody
free: the place in line and the expected wait are announced, the maximum wait sends the caller to
voicemail, which is recorded and e-mailed to the queue's address; "press 1 to be called back" keeps
the caller's place, and the callback rings the first free agent, then the customer, and joins them."""

from __future__ import annotations

import email
import email.policy
import time
import wave
from collections.abc import Iterator
from io import BytesIO

import httpx
import pytest

from tests.calls.capture import RtpListener
from tests.calls.sipp import SCENARIOS, free_udp_port, register, run, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.calls.test_inbound_queue import Admin
from tests.calls.test_ivr_flow import CAPTURES
from tests.conftest import RunningTongdai, free_port, wait_until
from tests.notify.test_smtp import Inbox, smtp_server
from tongdai.media.prompts import EspeakTts, PromptLibrary

pytestmark = pytest.mark.e2e
ANNOUNCE_EVERY_S = 3


@pytest.fixture(scope="module")
def centre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningTongdai, Inbox, Admin]]:
    """A tongdai that mails through an SMTP server of the test's and announces every 3 s."""
    inbox, port = Inbox(), free_port()
    controller = smtp_server(inbox, port)
    t = RunningTongdai(tmp_path_factory.mktemp("waiting"), "--set", "mail.smtp_host=127.0.0.1",
                       "--set", f"mail.smtp_port={port}", "--set", "mail.retry_first_s=0.5",
                       "--set", f"routing.announce_every_s={ANNOUNCE_EVERY_S}")
    try:
        t.wait_ready()
        yield t, inbox, Admin(t.base)
    finally:
        t.stop()
        controller.stop()


def flow_number(admin: Admin, number: str, document: str) -> None:
    """Store and activate `document` and give it `number`."""
    flow = admin.post("/api/v1/call-flows", {"document": document})
    admin.post(f"/api/v1/call-flows/{flow['id']}/activate", {})
    admin.post("/api/v1/numbers", {"e164": number, "flow": flow["name"]})
    time.sleep(0.5)  # the SIP side reloads numbers and flows on the change event


def queue_log(admin: Admin, caller: str) -> list[dict]:
    call_ids = {r["call_id"] for r in admin.get("/api/v1/call-records", caller=caller)["items"]}
    rows = admin.get("/api/v1/queue-log", limit=500)["items"]
    return [r for r in rows if r["call_id"] in call_ids or any(r["call_id"].startswith(c) for c in call_ids)]


def test_out_of_hours_caller_hears_closed_message_then_call_ends(centre, tmp_path):
    t, _, admin = centre
    admin.post("/api/v1/calendars", {"name": "Never open", "timezone": "Asia/Ho_Chi_Minh", "weekly": {}})
    flow_number(admin, "1881", """
name: closedline
language: en
languages: [en]
entry: hours
nodes:
  hours: {type: hours, calendar: Never open, open: sales, closed: closed}
  sales: {type: enqueue, queue: sales}
  closed: {type: play, prompt: {en: "We are closed now. Please call again during office hours."}, next: bye}
  bye: {type: hangup}
""")
    started = time.monotonic()
    with RtpListener() as rtp:
        scenario = rtp.scenario_to(SCENARIOS / "uac_closed.xml", tmp_path / "uac_closed_rtp.xml")
        rc, count, out = run(sipp_command(scenario, t.sip_port, port=free_udp_port(), service="1881",
                                          caller="0915000111", keys=rtp.keys, workdir=tmp_path), tmp_path)
    voiced = rtp.voiced
    assert (rc, count) == (0, {"successful": 1, "failed": 0}), out  # tongdai hung up (the BYE came)
    assert len(voiced) >= 50 and voiced[-1] - voiced[0] >= 1.5, len(voiced)  # the message was spoken
    assert voiced[-1] - started < 15
    assert not [r for r in queue_log(admin, "0915000111") if r["event"] == "entered"]  # never queued


def spoken(t: RunningTongdai, text: str) -> bool:
    """Was `text` rendered by text-to-speech in English (the prompt cache of the run)?"""
    tts = EspeakTts()
    key = PromptLibrary.tts_key(tts.name, text, tts.voice_for("en"), "en")
    return (t.workdir / "var" / "media" / "prompts" / f"{key}.wav").exists()


def test_nobody_free_caller_hears_place_in_line_then_voicemail_is_recorded_and_emailed(centre, tmp_path):
    t, inbox, admin = centre
    flow_number(admin, "1882", """
name: waitline
language: en
languages: [en]
entry: wait
nodes:
  wait: {type: enqueue, queue: support, max_wait_s: 7, on_max_wait: message}
  message: {type: voicemail, prompt: {en: "Please leave a message."}, max_s: 5, queue: support}
""")
    rc, count, out = run(sipp_command("uac_wait_voicemail.xml", t.sip_port, port=free_udp_port(), service="1882",
                                      caller="0916000222", keys={"audio_pcap": str(CAPTURES / "g711a.pcap")},
                                      workdir=tmp_path, timeout_s=60), tmp_path)
    assert (rc, count) == (0, {"successful": 1, "failed": 0}), out  # tongdai ended the call after recording
    announced = [f"You are number 1 in line. Your expected wait is about {m} minute{'s' if m != 1 else ''}."
                 for m in range(1, 121)]
    assert any(spoken(t, text) for text in announced)  # the place in line and the wait were told
    assert spoken(t, "This call may be recorded for quality purposes.")  # support records every call
    assert wait_until(lambda: any("support@demo.example" in e.rcpt_tos for e in inbox.received), timeout=20)
    envelope = next(e for e in inbox.received if "support@demo.example" in e.rcpt_tos)
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert "0916000222" in message["Subject"] and "support" in message["Subject"]
    wav = next(part for part in message.iter_attachments() if part.get_content_type() == "audio/wav")
    with wave.open(BytesIO(wav.get_content())) as w:
        seconds = w.getnframes() / w.getframerate()
    assert 2.0 <= seconds <= 6.0, seconds  # up to max_s of what the caller said
    events = [r["event"] for r in queue_log(admin, "0916000222")]
    assert "entered" in events and "left" in events and "voicemail" in events, events
    left = next(r for r in queue_log(admin, "0916000222") if r["event"] == "left")
    assert left["detail"] == "max_wait" and left["wait_s"] >= 6.5


def test_agent_blind_transfer_to_another_queues_number_puts_caller_in_that_queue(centre, tmp_path):
    t, _, admin = centre
    queues = {q["name"]: q["id"] for q in admin.get("/api/v1/queues")["items"]}
    for name in ("sales", "support"):  # agents free again at once (wrap-up is the routing engine's, tested there)
        r = httpx.patch(f"{t.base}/api/v1/queues/{queues[name]}", json={"wrap_up_s": 0}, headers=admin.h, timeout=10)
        assert r.status_code == 200, r.text
    admin.post("/api/v1/numbers", {"e164": "1884", "queue_id": queues["sales"]})
    admin.post("/api/v1/numbers", {"e164": "1885", "queue_id": queues["support"]})
    time.sleep(0.5)
    sales_agent, support_agent = free_udp_port(), free_udp_port()
    a = start(sipp_command("uas_transfer.xml", t.sip_port, port=sales_agent, calls=1, keys={"refer_target": "1885"},
                           workdir=tmp_path), tmp_path)
    b = start(sipp_command("uas", t.sip_port, port=support_agent, calls=1, workdir=tmp_path), tmp_path)
    time.sleep(0.3)
    try:
        assert register("1002", "sip-demo-1002", sales_agent, t.sip_port) == 200
        assert register("1003", "sip-demo-1003", support_agent, t.sip_port) == 200
        agents = {a["extension"]: a["id"] for a in admin.get("/api/v1/agents")["items"]}
        for ext in ("1002", "1003"):  # whatever earlier tests left them in (not ready after a missed offer)
            admin.post("/api/v1/routing/agents/activity", {"agent_id": agents[ext], "activity": "available"})
        rc, count, out = run(sipp_command("uac_transferred.xml", t.sip_port, port=free_udp_port(), service="1884",
                                          caller="0917000444", workdir=tmp_path, timeout_s=60), tmp_path)
        assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
        for proc in (a, b):
            rc, count, out = finish(proc)
            assert count == {"successful": 1, "failed": 0}, out  # the REFER was taken; support answered
    finally:
        register("1002", "sip-demo-1002", sales_agent, t.sip_port, expires=0)
        register("1003", "sip-demo-1003", support_agent, t.sip_port, expires=0)
    rows = sorted(queue_log(admin, "0917000444"), key=lambda r: r["at"])
    trail = [(r["event"], r["queue"], r["agent"]) for r in rows if r["event"] in ("entered", "answered", "transferred")]
    assert trail == [("entered", "sales", ""), ("answered", "sales", "1002"), ("transferred", "sales", "1002"),
                     ("entered", "support", ""), ("answered", "support", "1003")], trail


def test_callback_keeps_place_and_rings_agent_then_customer_when_agent_is_free(centre, tmp_path):
    t, _, admin = centre
    flow_number(admin, "1883", """
name: callbackline
language: en
languages: [en]
entry: wait
nodes:
  wait:
    type: enqueue
    queue: sales
    max_wait_s: 120
    on_max_wait: bye
    callback: {key: "1", prompt: {en: "Press 1 to be called back."}, every_s: 30}
  bye: {type: hangup}
""")
    # the customer calls from extension 1003 (its phone will take the callback): nobody serves sales yet
    rc, count, out = run(sipp_command("uac_callback_key.xml", t.sip_port, port=free_udp_port(), service="1883",
                                      caller="1003", keys={"dtmf_pcap": str(CAPTURES / "dtmf_2833_1.pcap")},
                                      workdir=tmp_path), tmp_path)
    assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
    assert wait_until(lambda: any(r["event"] == "callback" for r in queue_log(admin, "1003")), timeout=10)
    customer, agent = free_udp_port(), free_udp_port()
    customer_phone = start(sipp_command("uas", t.sip_port, port=customer, calls=1, workdir=tmp_path), tmp_path)
    agent_phone = start(sipp_command("uas_callback_agent.xml", t.sip_port, port=agent, calls=1, workdir=tmp_path),
                        tmp_path)
    time.sleep(0.3)
    try:
        assert register("1003", "sip-demo-1003", customer, t.sip_port) == 200
        assert register("1002", "sip-demo-1002", agent, t.sip_port) == 200  # sales agent: available now
        rc, count, out = finish(agent_phone, timeout=40)
        assert count == {"successful": 1, "failed": 0}, out  # the agent was rung first and talked
        rc, count, out = finish(customer_phone, timeout=20)
        assert count == {"successful": 1, "failed": 0}, out  # then the customer was called and joined
    finally:
        register("1003", "sip-demo-1003", customer, t.sip_port, expires=0)
        register("1002", "sip-demo-1002", agent, t.sip_port, expires=0)
    callback_rows = [r for r in admin.get("/api/v1/queue-log", limit=500)["items"] if r["call_id"].endswith("-callback")]
    events = [r["event"] for r in callback_rows]
    assert "answered" in events and "completed" in events, events
    answered = next(r for r in callback_rows if r["event"] == "answered")
    assert answered["agent"] == "1002" and answered["wait_s"] > 0

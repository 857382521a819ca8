"""Media on the real call path, against `tongdai run --demo` with its rtpengine: the greeting of the
main number reaches the caller as RTP for as long as the prompt lasts; keys pressed as RFC 4733
events from real captures are collected into a number; a recording cut short by SIGKILL of tongdai is
a valid file after the next start."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import time
import wave

import pytest

from tests.calls.capture import RtpListener
from tests.calls.sipp import SCENARIOS, free_udp_port, register, run, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.calls.test_inbound_queue import Admin
from tests.calls.test_ivr_flow import CAPTURES
from tests.conftest import RunningTongdai, wait_until
from tongdai.sip.dialog import Dialog, new_dialog_ids
from tongdai.sip.message import Request
from tongdai.sip.stack import SipStack

pytestmark = pytest.mark.e2e


class _Quiet:
    def on_request(self, req, source, now):  # type: ignore[no-untyped-def]
        return req.response(200)

    def on_ack(self, req, now):  # type: ignore[no-untyped-def]
        return None

    def on_unacknowledged(self, response, now):  # type: ignore[no-untyped-def]
        return None


async def listen_to_greeting(server: tuple[str, int], seconds: float) -> tuple[int, int, float]:
    """Call the main number from a UA with an RTP socket; (packets, non-silent packets, span in s)."""
    stack = SipStack(_Quiet())
    await stack.start(udp_port=0, tcp_port=-1)
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    rtp.setblocking(False)
    try:
        call_id, tag = new_dialog_ids()
        contact = f"<sip:0914000444@127.0.0.1:{stack.udp_port}>"
        sdp = (f"v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               f"m=audio {rtp.getsockname()[1]} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n").encode()
        invite = Request("INVITE", f"sip:1000@{server[0]}:{server[1]}", [
            ("from", f"<sip:0914000444@127.0.0.1>;tag={tag}"), ("to", "<sip:1000@127.0.0.1>"), ("call-id", call_id),
            ("cseq", "1 INVITE"), ("contact", contact), ("max-forwards", "70"), ("content-type", "application/sdp")], sdp)
        ok = await stack.request(invite, server)
        assert ok.status == 200, ok
        stack.send_ack(invite, ok, server)
        loop = asyncio.get_running_loop()
        packets = voiced = 0
        first = last = 0.0
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            try:
                data = rtp.recv(2048)
            except BlockingIOError:
                await asyncio.sleep(0.005)
                continue
            packets += 1
            if len(set(data[12:])) > 4:  # PCMU silence is a run of 0xff/0x7f: speech varies
                voiced += 1
                first = first or loop.time()
                last = loop.time()
        await stack.request(Dialog.as_uac(invite, ok, contact).request("BYE"), server)
        return packets, voiced, last - first
    finally:
        rtp.close()
        await stack.stop()


def test_given_call_to_main_number_then_greeting_arrives_as_rtp(running):
    packets, voiced, span = asyncio.run(listen_to_greeting(("127.0.0.1", running.sip_port), 5.0))
    assert voiced >= 50 and span >= 1.0, (packets, voiced, span)  # a spoken greeting, not one burst


def test_given_sipp_calls_main_number_then_the_spoken_greeting_reaches_its_rtp_port(running, tmp_path):
    """SIPp places the call; its SDP names a port this test listens on, so every packet of the
    greeting is counted as it arrives (no capture tool to start first)."""
    with RtpListener() as rtp:  # the caller says nothing and hangs up after 3 s: the greeting plays meanwhile
        scenario = rtp.scenario_to(SCENARIOS / "uac_queue.xml", tmp_path / "uac_queue_rtp_port.xml")
        rc, count, out = run(sipp_command(scenario, running.sip_port, port=free_udp_port(), calls=1,
                                          service="1000", caller="0918000888", workdir=tmp_path, keys=rtp.keys),
                             tmp_path)
        assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
    voiced = rtp.voiced
    assert len(voiced) >= 50 and voiced[-1] - voiced[0] >= 1.0, (len(rtp.packets), len(voiced))


def test_given_keys_from_captures_then_collect_node_gets_the_number(running, tmp_path):
    """A flow with a collect node; SIPp sends 1, 2, 3, 4 and # as RFC 4733 events (the SIPp captures)."""
    admin = Admin(running.base)
    flow = ("name: account\nlanguage: en\nlanguages: [en]\nentry: ask\nnodes:\n"
            "  ask: {type: collect, prompt: Enter your account number, variable: account, min_digits: 4,"
            " max_digits: 8, terminator: '#', timeout_s: 10, next: queue, no_input: queue}\n"
            "  queue: {type: enqueue, queue: support}\n")
    version = admin.post("/api/v1/call-flows", {"document": flow})
    admin.post(f"/api/v1/call-flows/{version['id']}/activate", {})
    admin.post("/api/v1/numbers", {"e164": "1860", "flow": "account"})
    time.sleep(1.0)  # the number and flow reached the SIP service
    scenario = tmp_path / "keys.xml"
    keys = "".join(f'  <nop><action><exec play_pcap_audio="{CAPTURES / f"dtmf_2833_{k}.pcap"}" /></action></nop>\n'
                   f'  <pause milliseconds="500" />\n' for k in ("1", "2", "3", "4", "pound"))
    ivr = (SCENARIOS / "uac_ivr.xml").read_text()
    assert '<exec play_pcap_audio="[dtmf_pcap]" />' in ivr
    ivr = re.sub(r'  <nop>\n    <action>\n      <exec play_pcap_audio="\[dtmf_pcap\]" />\n    </action>\n  </nop>\n',
                 keys, ivr)
    scenario.write_text(ivr.replace('timeout="6000"', 'timeout="4000"'))
    assert scenario.read_text().count("play_pcap_audio") == 5
    proc = start(sipp_command(str(scenario), running.sip_port, port=free_udp_port(), calls=1, service="1860",
                              caller="0915000555", workdir=tmp_path), tmp_path)

    def waiting_tasks() -> list[dict]:
        return [t for t in admin.get("/api/v1/routing/tasks") if t["attributes"].get("number") == "1860"]

    assert wait_until(lambda: waiting_tasks() != [], timeout=15)
    task = waiting_tasks()[0]
    assert task["attributes"]["account"] == "1234" and task["attributes"]["caller_e164"] == "+84915000555"
    finish(proc, timeout=30)


def test_given_tongdai_killed_during_recording_then_file_is_valid_after_restart(tmp_path):
    workdir = tmp_path / "centre"
    workdir.mkdir()
    centre = RunningTongdai(workdir)
    centre.wait_ready()
    try:
        admin = Admin(centre.base)
        sales = next(q for q in admin.get("/api/v1/queues")["items"] if q["name"] == "sales")
        admin.post("/api/v1/numbers", {"e164": "1871", "queue_id": sales["id"]})
        phone = free_udp_port()
        uas = start(sipp_command("uas", centre.sip_port, port=phone, calls=1, workdir=tmp_path), tmp_path)
        time.sleep(0.3)
        assert register("1002", "sip-demo-1002", phone, centre.sip_port) == 200
        caller = start(sipp_command("uac_queue_speak.xml", centre.sip_port, port=free_udp_port(), calls=1,
                                    service="1871", caller="0916000666",
                                    keys={"audio_pcap": str(CAPTURES / "g711a.pcap")}, workdir=tmp_path), tmp_path)
        records = workdir / "var" / "recordings"
        assert wait_until(lambda: list(records.rglob("*.part")) != [], timeout=15)
        time.sleep(3)  # audio is being written
        centre.proc.send_signal(signal.SIGKILL)
        centre.proc.wait(10)
        for p in (caller, uas):
            p.kill()
            p.wait(10)
        assert list(records.rglob("*.part")) and not list(records.rglob("*.wav"))
    finally:
        centre.stop()
    again = RunningTongdai(workdir)  # same data directory: the start-up finalises the recording
    try:
        again.wait_ready()
        assert wait_until(lambda: list(records.rglob("*.wav")) != [], timeout=10)
        wav_path = next(records.rglob("*.wav"))
        with wave.open(str(wav_path)) as w:
            seconds = w.getnframes() / w.getframerate()
            assert w.getnchannels() == 2 and seconds >= 2.0
        info = subprocess.run(["sox", "--i", "-D", str(wav_path)], capture_output=True, text=True, timeout=30)
        assert info.returncode == 0 and abs(float(info.stdout) - seconds) < 0.01
    finally:
        again.stop()

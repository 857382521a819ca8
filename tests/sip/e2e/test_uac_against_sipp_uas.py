"""tongdai as the calling side (client transactions on the wire) against SIPp's built-in `uas`
scenario, as a trunk or a phone would answer: INVITE -> 180 -> 200, ACK, BYE -> 200."""

from __future__ import annotations

import asyncio
import socket
import subprocess

from tests.conftest import free_port
from tongdai.sip.message import Request, new_tag
from tongdai.sip.service import SipService
from tongdai.sip.settings import SipSettings

SDP = (b"v=0\r\no=tongdai 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


async def test_given_sipp_uas_then_tongdai_places_a_call_and_hangs_up(tmp_path):
    uas_port = free_port(socket.SOCK_DGRAM)
    sipp = subprocess.Popen(["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(uas_port), "-m", "1", "-nostdin",
                             "-timeout", "30"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    port = free_port(socket.SOCK_DGRAM)
    svc = SipService(SipSettings(udp_port=port, tcp_port=port))
    await svc.start()
    try:
        await asyncio.sleep(0.5)  # SIPp binds its socket
        dest = ("127.0.0.1", uas_port)
        tag = new_tag()
        invite = Request("INVITE", f"sip:trunk@127.0.0.1:{uas_port}", [
            ("from", f"<sip:1001@127.0.0.1:{port}>;tag={tag}"), ("to", f"<sip:trunk@127.0.0.1:{uas_port}>"),
            ("call-id", f"uac-{tag}"), ("cseq", "1 INVITE"), ("contact", f"<sip:1001@127.0.0.1:{port}>"),
            ("max-forwards", "70"), ("content-type", "application/sdp")], SDP)
        ok = await asyncio.wait_for(svc.stack.request(invite, dest), 20)
        assert ok.status == 200 and ok.to().tag
        svc.stack.send_ack(invite, ok, dest)
        bye = Request("BYE", str(ok.contacts()[0].uri) if ok.contacts() else invite.uri, [
            ("from", invite.get("from") or ""), ("to", ok.get("to") or ""), ("call-id", invite.call_id),
            ("cseq", "2 BYE"), ("max-forwards", "70")])
        done = await asyncio.wait_for(svc.stack.request(bye, dest), 20)
        assert done.status == 200
        out, _ = await asyncio.to_thread(sipp.communicate, timeout=30)
        assert sipp.returncode == 0, out[-2000:]
    finally:
        if sipp.poll() is None:
            sipp.kill()
            sipp.wait()
        await svc.stop()


async def test_given_nobody_answers_then_request_times_out_after_timer_b(tmp_path, monkeypatch):
    import tongdai.sip.transaction as transaction

    monkeypatch.setattr(transaction, "T1", 0.02)  # Timer B = 64 x T1 = 1.28 s
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    port = free_port(socket.SOCK_DGRAM)
    svc = SipService(SipSettings(udp_port=port, tcp_port=port))
    await svc.start()
    try:
        options = Request("OPTIONS", "sip:nobody@127.0.0.1", [
            ("from", "<sip:tongdai@127.0.0.1>;tag=x"), ("to", "<sip:nobody@127.0.0.1>"), ("call-id", "to-1"),
            ("cseq", "1 OPTIONS"), ("max-forwards", "70")])
        try:
            await asyncio.wait_for(svc.stack.request(options, silent.getsockname()), 10)
        except TimeoutError as exc:
            assert "no final response" in str(exc)
        else:
            raise AssertionError("expected a timeout")
        silent.settimeout(0.1)
        copies = 0
        while True:
            try:
                silent.recvfrom(65535)
                copies += 1
            except TimeoutError:
                break
        assert copies >= 5  # Timer E retransmissions arrived
    finally:
        silent.close()
        await svc.stop()

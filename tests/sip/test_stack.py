"""The SIP stack on real sockets: torture corpus over UDP, OPTIONS, an echo-test call with BYE,
retransmissions answered from the transaction, TCP framing."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tests.sip.torture_udp import exchange, options_answered, run_corpus
from tongdai.sip.service import SipService
from tongdai.sip.settings import SipSettings


@pytest.fixture
async def service():
    from tests.conftest import free_port

    port = free_port(socket.SOCK_DGRAM)
    svc = SipService(SipSettings(host="127.0.0.1", udp_port=port, tcp_port=port))
    await svc.start()
    try:
        yield svc
    finally:
        await svc.stop()


async def test_given_torture_corpus_over_udp_then_each_answered_as_verdict_and_server_stays_up(service):
    problems = await asyncio.to_thread(run_corpus, ("127.0.0.1", service.stack.udp_port))
    assert problems == []


def _invite(port: int, call_id: str, branch: str, to_tag: str = "") -> bytes:
    sdp = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           b"m=audio 40000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")
    tt = f";tag={to_tag}" if to_tag else ""
    return (f"INVITE sip:9196@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch={branch};rport\r\n"
            f"To: <sip:9196@127.0.0.1>{tt}\r\nFrom: <sip:caller@127.0.0.1>;tag=abc\r\nCall-ID: {call_id}\r\n"
            f"CSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n").encode() + sdp


def _recv_all(sock: socket.socket, wait: float) -> list[bytes]:
    import time

    out, deadline = [], time.monotonic() + wait
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            out.append(sock.recvfrom(65535)[0])
        except TimeoutError:
            break
    return out


def _call(target):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    try:
        sock.sendto(_invite(port, "call-1", "z9hG4bK-inv-1"), target)
        replies = _recv_all(sock, 1.0)
        statuses = [r.split(b" ", 2)[1] for r in replies]
        # answered at once: no 100 Trying before the 200 (RFC 3261 17.2.1 asks for it only when the
        # final response takes longer)
        assert statuses[0] == b"200" and b"100" not in statuses
        ok = next(r for r in replies if r.startswith(b"SIP/2.0 200"))
        assert b"a=inactive" in ok and b"m=audio 9 RTP/AVP 8 101" in ok
        to_line = next(line for line in ok.split(b"\r\n") if line.lower().startswith(b"to:"))
        tag = to_line.split(b"tag=")[1].decode()
        # no ACK yet: the 200 is retransmitted (T1 = 0.5 s)
        again = _recv_all(sock, 1.2)
        assert any(r.startswith(b"SIP/2.0 200") for r in again)
        ack = (f"ACK sip:9196@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-ack-1\r\n"
               f"To: <sip:9196@127.0.0.1>;tag={tag}\r\nFrom: <sip:caller@127.0.0.1>;tag=abc\r\nCall-ID: call-1\r\n"
               "CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
        sock.sendto(ack, target)
        assert not any(r.startswith(b"SIP/2.0 200") for r in _recv_all(sock, 1.2))
        bye = (f"BYE sip:9196@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-bye-1\r\n"
               f"To: <sip:9196@127.0.0.1>;tag={tag}\r\nFrom: <sip:caller@127.0.0.1>;tag=abc\r\nCall-ID: call-1\r\n"
               "CSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
        assert exchange(sock, target, bye, 2.0) == [200]
        assert exchange(sock, target, bye, 2.0) == [200]  # a retransmitted BYE gets the same answer
        assert exchange(sock, target, bye.replace(b"bye-1", b"bye-2"), 2.0) == [481]  # dialog is gone
    finally:
        sock.close()


async def test_given_echo_test_call_then_answered_2xx_retransmitted_until_ack_and_bye_ends_it(service):
    await asyncio.to_thread(_call, ("127.0.0.1", service.stack.udp_port))
    assert service.core.dialogs == {}


async def test_given_unauthenticated_call_to_a_non_public_number_then_407_and_server_still_answers(service):
    def run():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        target = ("127.0.0.1", service.stack.udp_port)
        try:
            data = _invite(port, "call-2", "z9hG4bK-inv-2").replace(b"sip:9196@", b"sip:4242@", 1)
            assert exchange(sock, target, data, 2.0) == [407]
            assert options_answered(sock, target)
        finally:
            sock.close()

    await asyncio.to_thread(run)


async def test_given_tcp_stream_with_two_messages_in_one_segment_then_both_answered(service):
    reader, writer = await asyncio.open_connection("127.0.0.1", service.stack.tcp_port)
    msgs = b""
    for i in range(2):
        msgs += (f"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-tcp-{i}\r\n"
                 f"To: <sip:127.0.0.1>\r\nFrom: <sip:a@127.0.0.1>;tag=t{i}\r\nCall-ID: tcp-{i}\r\nCSeq: 1 OPTIONS\r\n"
                 "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
    writer.write(b"\r\n\r\n" + msgs[:50])  # keep-alive, then a message split across segments
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.write(msgs[50:])
    await writer.drain()
    got = b""
    async with asyncio.timeout(5):
        while got.count(b"SIP/2.0 200") < 2:
            got += await reader.read(65535)
    assert b"Call-ID: tcp-0" in got and b"Call-ID: tcp-1" in got
    writer.close()


async def test_given_tls_listener_then_options_over_tls_answered(tmp_path):
    import ssl
    import subprocess

    from tests.conftest import free_port

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True, timeout=60)
    port = free_port(socket.SOCK_DGRAM)
    svc = SipService(SipSettings(udp_port=port, tcp_port=port, tls_port=free_port(), tls_cert_file=str(cert),
                                 tls_key_file=str(key)))
    await svc.start()
    try:
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False
        reader, writer = await asyncio.open_connection("127.0.0.1", svc.stack.tls_port, ssl=ctx)
        writer.write(b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:1;branch=z9hG4bK-tls-1\r\n"
                     b"To: <sip:127.0.0.1>\r\nFrom: <sips:a@127.0.0.1>;tag=t\r\nCall-ID: tls-1\r\nCSeq: 1 OPTIONS\r\n"
                     b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        async with asyncio.timeout(5):
            got = await reader.read(65535)
        assert got.startswith(b"SIP/2.0 200 OK") and b"Call-ID: tls-1" in got
        assert writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
        writer.close()
    finally:
        await svc.stop()


class _LateAnswers:
    """A UA core that answers nothing at once (as the B2BUA does while the callee rings)."""

    def on_request(self, req, source, now):
        return None

    def on_ack(self, req, now):
        return None

    def on_unacknowledged(self, response, now):
        return None


class _AnswersAtOnce(_LateAnswers):
    def on_request(self, req, source, now):
        return req.response(486, to_tag="t1")


def _statuses_sent(handler) -> list[bytes]:
    from tongdai.sip.stack import SipStack, Source

    stack = SipStack(handler, clock=lambda: 0.0)
    sent: list[bytes] = []
    stack.datagram(_invite(5070, "late-1", "z9hG4bK-late-1"), Source("UDP", ("127.0.0.1", 5070),
                                                                      lambda data, addr: sent.append(data)))
    return [d.split(b" ", 2)[1] for d in sent]


def test_given_invite_the_ua_core_answers_later_then_100_trying_sent_at_once():
    assert _statuses_sent(_LateAnswers()) == [b"100"]


def test_given_invite_the_ua_core_answers_at_once_then_only_the_final_response_is_sent():
    assert _statuses_sent(_AnswersAtOnce()) == [b"486"]


def test_given_any_deadline_then_its_timer_tick_is_never_early_and_at_most_one_tick_late():
    import random

    from tongdai.sip.stack import TIMER_TICK, _tick

    rng = random.Random(7)
    deadlines = [0.0, 0.3, 0.30000000000000004, 12345.6, *(rng.uniform(0, 1e6) for _ in range(20_000))]
    for when in deadlines:
        assert when <= _tick(when) <= when + TIMER_TICK + 1e-9, when

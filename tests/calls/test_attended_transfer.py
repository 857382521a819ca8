"""Attended transfer (REFER with Replaces, RFC 3891) through `tongdai run`: agent X talks to Y, puts
Y aside and calls Z, then refers Y to Z with Replaces naming the X-Z dialog; tongdai joins Y and Z
(re-INVITEs on both) and hangs X's two legs up. Y and Z are SIPp phones; X is a UA on tongdai's SIP
stack driven by the test (no softphone here does Replaces)."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import quote

import pytest

from tests.calls.sipp import free_udp_port, register, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tongdai.sip.dialog import Dialog, new_dialog_ids
from tongdai.sip.digest import answer
from tongdai.sip.message import Request, Response
from tongdai.sip.stack import SipStack, Source

pytestmark = pytest.mark.e2e
SDP = b"v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\n"


class Transferor:
    """Agent 1001's phone: answers what tongdai sends inside its calls and records it."""

    def __init__(self) -> None:
        self.received: list[Request] = []

    def on_request(self, req: Request, source: Source, now: float) -> Response | None:
        self.received.append(req)
        return req.response(200)

    def on_ack(self, req: Request, now: float) -> None:
        return None

    def on_unacknowledged(self, response: Response, now: float) -> None:
        return None


async def call(stack: SipStack, server: tuple[str, int], callee: str) -> Dialog:
    call_id, tag = new_dialog_ids()
    contact = f"<sip:1001@127.0.0.1:{stack.udp_port}>"

    def invite(cseq: int, auth: str = "") -> Request:
        headers = [("from", f"<sip:1001@127.0.0.1>;tag={tag}"), ("to", f"<sip:{callee}@127.0.0.1>"),
                   ("call-id", call_id), ("cseq", f"{cseq} INVITE"), ("contact", contact), ("max-forwards", "70"),
                   ("content-type", "application/sdp")]
        if auth:
            headers.append(("proxy-authorization", auth))
        return Request("INVITE", f"sip:{callee}@{server[0]}:{server[1]}", headers, SDP)

    challenge = await stack.request(invite(1), server)
    assert challenge.status == 407
    creds = answer(challenge.get("proxy-authenticate") or "", method="INVITE",
                   uri=f"sip:{callee}@{server[0]}:{server[1]}", username="1001", password="sip-demo-1001")
    second = invite(2, creds)
    ok = await stack.request(second, server)
    assert ok.status == 200, ok
    stack.send_ack(second, ok, server)
    return Dialog.as_uac(second, ok, contact)


async def attended_transfer(server: tuple[str, int]) -> tuple[Response, list[Request]]:
    handler = Transferor()
    stack = SipStack(handler)
    await stack.start(udp_port=0, tcp_port=-1)
    try:
        with_y = await call(stack, server, "1002")
        with_z = await call(stack, server, "1003")
        replaces = quote(f"{with_z.call_id};to-tag={with_z.remote_tag};from-tag={with_z.local_tag}", safe="")
        refer = with_y.request("REFER", extra=[("refer-to", f"<sip:1003@127.0.0.1?Replaces={replaces}>"),
                                               ("referred-by", "<sip:1001@127.0.0.1>")])
        accepted = await stack.request(refer, server)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sum(r.method == "BYE" for r in handler.received) < 2:
            await asyncio.sleep(0.05)
        return accepted, handler.received
    finally:
        await stack.stop()


def test_given_two_calls_when_transferor_refers_with_replaces_then_parties_joined_and_transferor_released(
        running, tmp_path):
    y_port, z_port = free_udp_port(), free_udp_port()
    # Y hangs up at the end (it sends the BYE after its re-INVITE); Z waits for that BYE through tongdai
    y = start(sipp_command("uas_reinvited_hangup.xml", running.sip_port, port=y_port, calls=1, workdir=tmp_path), tmp_path)
    z = start(sipp_command("uas_reinvited.xml", running.sip_port, port=z_port, calls=1, workdir=tmp_path), tmp_path)
    time.sleep(0.3)
    assert register("1002", "sip-demo-1002", y_port, running.sip_port) == 200
    assert register("1003", "sip-demo-1003", z_port, running.sip_port) == 200
    accepted, received = asyncio.run(attended_transfer(("127.0.0.1", running.sip_port)))
    assert accepted.status == 202
    notifies = [r.body.decode() for r in received if r.method == "NOTIFY"]
    assert notifies[0].startswith("SIP/2.0 100") and notifies[-1].startswith("SIP/2.0 200"), notifies
    assert sum(r.method == "BYE" for r in received) == 2  # both of the transferor's legs released
    for proc in (y, z):  # each was re-INVITEd and the call between them ended with a BYE
        rc, count, out = finish(proc, timeout=40)
        assert count == {"successful": 1, "failed": 0}, out
    assert register("1002", "sip-demo-1002", y_port, running.sip_port, expires=0) == 200
    assert register("1003", "sip-demo-1003", z_port, running.sip_port, expires=0) == 200

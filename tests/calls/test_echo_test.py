"""The echo test number 9196 of `tongdai run --demo`: the caller's RTP comes back to it through rtpengine,
and a hold re-INVITE is answered with the mirrored direction."""

from __future__ import annotations

import asyncio
import re
import socket
import struct

import pytest

from tongdai.sip.dialog import Dialog, new_dialog_ids
from tongdai.sip.message import Request
from tongdai.sip.stack import SipStack

pytestmark = pytest.mark.e2e


class _Silent:
    def on_request(self, req, source, now):  # type: ignore[no-untyped-def]
        return req.response(200)

    def on_ack(self, req, now):  # type: ignore[no-untyped-def]
        return None

    def on_unacknowledged(self, response, now):  # type: ignore[no-untyped-def]
        return None


def sdp(port: int, direction: str = "sendrecv") -> bytes:
    return (f"v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na={direction}\r\n").encode()


async def echo_call(server: tuple[str, int]) -> tuple[int, int, bool, str]:
    stack = SipStack(_Silent())
    await stack.start(udp_port=0, tcp_port=-1)
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    rtp.setblocking(False)
    try:
        call_id, tag = new_dialog_ids()
        contact = f"<sip:echo-test@127.0.0.1:{stack.udp_port}>"
        invite = Request("INVITE", f"sip:9196@{server[0]}:{server[1]}", [
            ("from", f"<sip:caller@127.0.0.1>;tag={tag}"), ("to", "<sip:9196@127.0.0.1>"), ("call-id", call_id),
            ("cseq", "1 INVITE"), ("contact", contact), ("max-forwards", "70"), ("content-type", "application/sdp")],
            sdp(rtp.getsockname()[1]))
        ok = await stack.request(invite, server)
        assert ok.status == 200, ok
        stack.send_ack(invite, ok, server)
        dialog = Dialog.as_uac(invite, ok, contact)
        answer = ok.body.decode()
        media = (re.search(r"c=IN IP4 (\S+)", answer).group(1), int(re.search(r"m=audio (\d+)", answer).group(1)))
        sent, payloads, back = 0, {}, 0
        loop = asyncio.get_running_loop()
        for seq in range(100):  # 2 s of 20 ms PCMU packets, each payload distinct
            payload = bytes([(seq * 7 + i) % 256 for i in range(160)])
            payloads[payload] = seq
            rtp.sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x1234) + payload, media)
            sent += 1
            await asyncio.sleep(0.02)
            while True:
                try:
                    data = rtp.recv(2048)
                except BlockingIOError:
                    break
                back += data[12:] in payloads
        deadline = loop.time() + 1
        while loop.time() < deadline:
            try:
                back += rtp.recv(2048)[12:] in payloads
            except BlockingIOError:
                await asyncio.sleep(0.02)
        hold = dialog.request("INVITE", body=sdp(rtp.getsockname()[1], "sendonly"))
        held = await stack.request(hold, server)
        held_ok = held.status == 200 and b"a=recvonly" in held.body
        stack.send_ack(hold, held, server)
        bye = await stack.request(dialog.request("BYE"), server)
        return sent, back, held_ok, f"{bye.status}"
    finally:
        rtp.close()
        await stack.stop()


def test_given_call_to_9196_then_caller_audio_comes_back_and_hold_is_mirrored(running):
    sent, back, held_ok, bye = asyncio.run(echo_call(("127.0.0.1", running.sip_port)))
    assert back >= sent * 0.9, (sent, back)  # every packet echoed; a few may still be in flight at the end
    assert held_ok and bye == "200"

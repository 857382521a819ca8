"""SIP over WebSocket (RFC 7118): a Python `websockets` client speaks SIP to the stack served by uvicorn
at /sip, as a browser's JsSIP does: it registers with digest credentials, answers a request tongdai sends
to its contact over the same connection, and its registration goes when the connection closes."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
import websockets
from starlette.applications import Starlette

from tongdai.calls.b2bua import _dtls_client, _webrtc, uri_transport
from tongdai.sip.digest import answer as digest_answer
from tongdai.sip.message import Request, Response, parse
from tongdai.sip.service import Account, StaticCredentials, UaCore
from tongdai.sip.stack import SipStack
from tongdai.sip.websocket import SipWebSocket, is_ws_contact, ws_peer, ws_source

CONTACT = "sip:k3v8q1@df7jal23ls0d.invalid;transport=ws"


def test_ws_contacts_are_recognised_by_their_transport_parameter() -> None:
    assert is_ws_contact(CONTACT) and is_ws_contact("sip:a@b.invalid;transport=WSS;ob")
    assert not is_ws_contact("sip:1001@127.0.0.1:5062") and not is_ws_contact("sip:a@b;transport=tcp")
    assert uri_transport(CONTACT) == "WS" and uri_transport("sip:a@b;transport=wss") == "WSS"


def test_binding_source_of_a_websocket_names_the_peer_and_other_sources_do_not() -> None:
    assert ws_peer(ws_source(("127.0.0.1", 40312))) == ("127.0.0.1", 40312)
    assert ws_peer(ws_source(("::1", 5))) == ("::1", 5)
    assert ws_peer("192.0.2.7") is None and ws_peer("") is None


def test_webrtc_option_is_set_only_when_exactly_one_party_is_a_browser() -> None:
    assert _webrtc("WS", "UDP") == {"webrtc": True} == _webrtc("TCP", "WSS")
    assert _webrtc("UDP", "TLS") == {} == _webrtc("WS", "WSS")


def test_sdp_for_a_browser_rtpengine_offered_to_always_names_rtpengine_the_dtls_client() -> None:
    offer = b"m=audio 30000 UDP/TLS/RTP/SAVPF 8\r\na=setup:actpass\r\na=rtcp-mux\r\n"
    assert _dtls_client(offer) == b"m=audio 30000 UDP/TLS/RTP/SAVPF 8\r\na=setup:active\r\na=rtcp-mux\r\n"
    assert b"a=setup:active" in _dtls_client(b"a=setup:passive\r\n")
    assert _dtls_client(b"m=audio 4000 RTP/AVP 0\r\n") == b"m=audio 4000 RTP/AVP 0\r\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """A UA core and its stack with /sip served by uvicorn on a free loopback port."""

    def __init__(self, core: UaCore, stack: SipStack, ws: SipWebSocket, url: str) -> None:
        self.core, self.stack, self.ws, self.url = core, stack, ws, url


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    creds = StaticCredentials({"1001": [Account("t1", "demo", "1001", "sip-demo-1001")]})
    core = UaCore("127.0.0.1", creds)
    stack = SipStack(core, host="127.0.0.1")
    await stack.start(udp_port=0, tcp_port=-1)
    ws = SipWebSocket(stack)
    ws.on_closed = core.drop_connection
    app = Starlette()
    app.router.add_websocket_route("/sip", ws.serve)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield Served(core, stack, ws, f"ws://127.0.0.1:{port}/sip")
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
        await stack.stop()


def register(cseq: int, auth: str | None = None, expires: int = 600) -> str:
    lines = ["REGISTER sip:demo SIP/2.0",
             f"Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKreg{cseq}",
             "Max-Forwards: 69", "To: <sip:1001@demo>", "From: <sip:1001@demo>;tag=js1",
             "Call-ID: ws-reg-1", f"CSeq: {cseq} REGISTER",
             f"Contact: <{CONTACT}>;+sip.ice;reg-id=1;expires={expires}", "Expires: " + str(expires)]
    if auth:
        lines.append(f"Authorization: {auth}")
    return "\r\n".join([*lines, "Content-Length: 0", "", ""])


async def receive(conn: websockets.ClientConnection) -> Request | Response:
    frame = await asyncio.wait_for(conn.recv(), 5)
    assert isinstance(frame, str), "SIP over WebSocket travels in text frames"
    return parse(frame.encode(), stream=True)


async def registered(conn: websockets.ClientConnection) -> Response:
    await conn.send(register(1))
    challenge = await receive(conn)
    assert isinstance(challenge, Response) and challenge.status == 401
    auth = digest_answer(challenge.get("www-authenticate") or "", method="REGISTER", uri="sip:demo",
                         username="1001", password="sip-demo-1001")
    await conn.send(register(2, auth))
    ok = await receive(conn)
    assert isinstance(ok, Response)
    return ok


async def test_given_browser_over_websocket_when_it_registers_with_digest_then_its_contact_is_reached_over_it(
        served: Served) -> None:
    async with websockets.connect(served.url, subprotocols=[websockets.Subprotocol("sip")]) as conn:
        assert conn.subprotocol == "sip"
        ok = await registered(conn)
        assert ok.status == 200 and CONTACT in (ok.get("contact") or "")
        binding = served.core.location.lookup("t1/1001", 0.0)[0]
        peer = ws_peer(binding.source)
        assert peer is not None and ("WS", peer) in served.stack.connections
        # tongdai sends a request to the browser's contact: it arrives on the same WebSocket
        options = Request("OPTIONS", CONTACT, [("max-forwards", "70"), ("from", "<sip:tongdai@127.0.0.1>;tag=t1"),
                                               ("to", f"<{CONTACT}>"), ("call-id", "ws-opt-1"),
                                               ("cseq", "1 OPTIONS")])
        pending = asyncio.create_task(served.stack.request(options, peer, transport="WS"))
        incoming = await receive(conn)
        assert isinstance(incoming, Request) and incoming.method == "OPTIONS"
        assert incoming.top_via().transport.upper() == "WS"
        await conn.send(bytes(incoming.response(200)).decode())
        final = await asyncio.wait_for(pending, 5)
        assert final.status == 200


async def test_given_registered_browser_when_its_websocket_closes_then_its_contact_is_gone(served: Served) -> None:
    async with websockets.connect(served.url, subprotocols=[websockets.Subprotocol("sip")]) as conn:
        assert (await registered(conn)).status == 200
        assert len(served.core.location.bindings.get("t1/1001", {})) == 1
    for _ in range(100):
        if not served.core.location.bindings.get("t1/1001") and not served.stack.connections:
            break
        await asyncio.sleep(0.02)
    assert served.core.location.bindings.get("t1/1001") is None
    assert served.stack.connections == {}


async def test_given_websocket_gone_when_tongdai_sends_to_it_then_it_fails_at_once(served: Served) -> None:
    with pytest.raises(OSError, match="no WS connection"):
        await served.stack.connection("WS", ("127.0.0.1", 1))


async def test_given_client_without_sip_subprotocol_then_connection_is_refused(served: Served) -> None:
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(served.url):
            pass


async def test_given_garbage_frame_then_the_connection_stays_up_and_answers_the_next_request(served: Served) -> None:
    async with websockets.connect(served.url, subprotocols=[websockets.Subprotocol("sip")]) as conn:
        await conn.send("this is not SIP\r\n\r\n")
        await conn.send(register(1))
        challenge = await receive(conn)
        assert isinstance(challenge, Response) and challenge.status == 401

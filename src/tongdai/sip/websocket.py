"""SIP over WebSocket (RFC 7118) for browsers: served by the HTTP server at `/sip` (ws://, or wss:// behind
a TLS-terminating proxy), subprotocol "sip", one SIP message per frame.

Each browser connection is a transport of the `SipStack` like a TCP connection: its messages go to
`SipStack.datagram` with a `Source` of transport "WS", and it sits in `SipStack.connections` under
("WS", peer) and ("WSS", peer), so that requests tongdai sends to a browser (INVITE, BYE, re-INVITE,
NOTIFY) and their ACKs travel over it. Only the browser opens such a connection: when it is gone, a
request to it fails at once (OSError) and the registrations made over it are dropped (`on_closed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from starlette.websockets import WebSocket, WebSocketDisconnect

from tongdai.sip.stack import Address, SipStack, Source

log = logging.getLogger(__name__)
SUBPROTOCOL = "sip"
#: the transport names a browser's Via may carry (RFC 7118 5.2); both lead to the same connection
WS_TRANSPORTS = ("WS", "WSS")
#: frames waiting to be written to one browser before it counts as stuck and is closed
MAX_PENDING = 256


def is_ws_contact(uri: str) -> bool:
    """A contact (or Request-URI) reached over a WebSocket: `;transport=ws` or `;transport=wss`."""
    params = uri.lower().split("?", 1)[0].split(";")[1:]
    return any(p in ("transport=ws", "transport=wss") for p in params)


def ws_source(peer: Address) -> str:
    """How a registration made over the WebSocket of `peer` remembers it (`Binding.source`)."""
    return f"ws:{peer[0]}:{peer[1]}"


def ws_peer(source: str) -> Address | None:
    """The peer address in a `ws_source` string; None for a registration made over UDP, TCP or TLS."""
    if not source.startswith("ws:"):
        return None
    host, _, port = source[3:].rpartition(":")
    return (host, int(port)) if port.isdigit() else None


class _State:
    """What `SipStack.connection` asks of a connection's transport: is it closing?"""

    def __init__(self) -> None:
        self.closed = False

    def is_closing(self) -> bool:
        return self.closed


class WsConnection:
    """One browser's WebSocket as a SIP connection: frames out through a queue, in order."""

    def __init__(self, peer: Address) -> None:
        self.peer = peer
        self.transport = _State()
        self.outgoing: asyncio.Queue[bytes | None] = asyncio.Queue()

    def write(self, data: bytes) -> None:
        """Send one SIP message (a request, ACK or response) as one text frame."""
        if self.transport.closed:
            raise OSError(f"WebSocket to {self.peer[0]}:{self.peer[1]} closed")
        if self.outgoing.qsize() >= MAX_PENDING:
            log.warning("browser %s:%s does not read its WebSocket: closed", *self.peer)
            self.close()
            return
        self.outgoing.put_nowait(data)

    def reply(self, data: bytes, addr: Address) -> None:
        """`Source.reply`: a response goes back on this connection whatever the Via says."""
        with contextlib.suppress(OSError):
            self.write(data)

    def close(self) -> None:
        self.transport.closed = True
        self.outgoing.put_nowait(None)


class SipWebSocket:
    """The `/sip` WebSocket endpoint of one SIP stack."""

    def __init__(self, stack: SipStack, *, max_message: int | None = None) -> None:
        self.stack = stack
        self.max_message = max_message or stack.max_message
        #: called with the peer address when a browser's connection ends (its registrations go)
        self.on_closed: Callable[[Address], None] = lambda peer: None
        self.open: dict[Address, WsConnection] = {}

    async def serve(self, websocket: WebSocket) -> None:
        """Carry SIP on one browser connection until either side closes it."""
        offered = websocket.scope.get("subprotocols") or []
        if SUBPROTOCOL not in offered:  # RFC 7118 4: a client must ask for "sip"
            await websocket.close(code=1002)
            return
        await websocket.accept(subprotocol=SUBPROTOCOL)
        client = websocket.client
        peer: Address = (client.host, client.port) if client else ("", 0)
        conn = WsConnection(peer)
        self._attach(conn)
        writer = asyncio.create_task(self._write(websocket, conn))
        try:
            await self._read(websocket, conn)
        finally:
            self._detach(conn)
            conn.close()
            with contextlib.suppress(Exception):
                await writer

    async def _read(self, websocket: WebSocket, conn: WsConnection) -> None:
        source = Source("WS", conn.peer, conn.reply)
        while True:
            try:
                message = await websocket.receive()
            except WebSocketDisconnect:
                return
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes") or (message.get("text") or "").encode("utf-8", "surrogateescape")
            if len(data) > self.max_message:
                log.warning("SIP frame of %d bytes from %s:%s refused", len(data), *conn.peer)
                continue
            try:
                self.stack.datagram(data, source)
            except Exception:  # the server must stay up whatever a browser sends
                log.exception("SIP message over WebSocket from %s:%s failed", *conn.peer)

    async def _write(self, websocket: WebSocket, conn: WsConnection) -> None:
        while True:
            data = await conn.outgoing.get()
            if data is None:
                return
            try:
                await websocket.send_text(data.decode("utf-8", "replace"))
            except Exception as exc:  # the browser went away mid-write
                log.debug("WebSocket write to %s:%s failed: %s", *conn.peer, exc)
                conn.transport.closed = True
                with contextlib.suppress(Exception):
                    await websocket.close()
                return

    def _attach(self, conn: WsConnection) -> None:
        self.open[conn.peer] = conn
        for name in WS_TRANSPORTS:
            self.stack.connections[(name, conn.peer)] = conn  # type: ignore[assignment]

    def _detach(self, conn: WsConnection) -> None:
        if self.open.get(conn.peer) is conn:
            del self.open[conn.peer]
        for name in WS_TRANSPORTS:
            if self.stack.connections.get((name, conn.peer)) is conn:  # type: ignore[comparison-overlap]
                del self.stack.connections[(name, conn.peer)]
        try:
            self.on_closed(conn.peer)
        except Exception:
            log.exception("WebSocket close hook failed")

"""The asyncio shell of the SIP stack: UDP and TCP transports, the server transaction table, 2xx
retransmission, one timer. Requests that pass the checks of `validate.check_request` go to the
`handler` (the UA core); everything protocol-level (retransmissions, CANCEL, ACK matching, errors)
is answered here.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tongdai.sip.errors import SipParseError
from tongdai.sip.guard import SourceGuard
from tongdai.sip.message import Request, Response, content_length, new_branch, parse, split_commas, split_head
from tongdai.sip.transaction import ClientTransaction, InviteAnswer, ServerTransaction, State, server_key
from tongdai.sip.validate import check_request

log = logging.getLogger(__name__)
Address = tuple[str, int]
#: a UDP request larger than this goes over TCP (RFC 3261 18.1.1: within 200 bytes of a 1500-byte MTU)
LARGE_REQUEST = 1300
CONNECT_TIMEOUT = 5.0
#: timers are served on 100 ms ticks: retransmissions leave up to this much later (T1 is 500 ms)
TIMER_TICK = 0.1


@dataclass(frozen=True)
class Source:
    """Where a request came from and how to answer it."""

    transport: str  # "UDP" or "TCP"
    addr: Address
    reply: Callable[[bytes, Address], None]


@dataclass
class _Client:
    """A client transaction in flight and who waits for it."""

    txn: ClientTransaction
    future: asyncio.Future[Response]
    dest: Address
    on_provisional: Callable[[Response], None] | None
    send: Callable[[bytes], None]


class Handler(Protocol):
    """The UA core: answers the requests that pass the stack's checks."""

    def on_request(self, req: Request, source: Source, now: float) -> Response | None:
        """The final (or provisional) response, or None for ACK and requests answered later."""

    def on_ack(self, req: Request, now: float) -> None:
        """An ACK for a 2xx (outside any transaction)."""

    def on_unacknowledged(self, response: Response, now: float) -> None:
        """A 2xx to INVITE was never acknowledged (64*T1)."""


class SipStack:
    """Owns the transports and the transaction table of one SIP endpoint."""

    def __init__(self, handler: Handler, *, host: str = "127.0.0.1", max_message: int = 65535,
                 max_transactions: int = 100_000, clock: Callable[[], float] | None = None) -> None:
        self.handler = handler
        self.host = host
        self.max_message = max_message
        self.max_transactions = max_transactions
        self.transactions: dict[object, ServerTransaction] = {}
        self.answers: dict[tuple[str, int], InviteAnswer] = {}
        self._answer_dest: dict[tuple[str, int], tuple[Source, Address]] = {}
        self._txn_dest: dict[object, tuple[Source, Address]] = {}
        self._heap: list[tuple[float, int, tuple[str, Any]]] = []
        self._seq = itertools.count()
        self._timer: asyncio.Handle | None = None
        #: when `_timer` fires (kept here: uvloop's handles have no `when()`)
        self._timer_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock = clock
        self.udp: asyncio.DatagramTransport | None = None
        self.tcp: asyncio.base_events.Server | None = None
        self.tls: asyncio.base_events.Server | None = None
        self.clients: dict[tuple[str, str], _Client] = {}
        #: open TCP/TLS connections by (transport, peer address): ours and those peers opened to us
        self.connections: dict[tuple[str, Address], _Tcp] = {}
        #: the TLS context for connections tongdai opens (None: the system's default, verifying)
        self.tls_client: ssl.SSLContext | None = None
        self.stats = {"received": 0, "parse_errors": 0, "refused": 0, "overload": 0, "guarded": 0}
        self.guard: SourceGuard | None = None

    # --- lifecycle ---
    async def start(self, udp_port: int = 5060, tcp_port: int = 5060, tls_port: int = -1,
                    tls: ssl.SSLContext | None = None) -> None:
        """Listen on the given ports (-1: not at all; 0: any free port)."""
        self._loop = asyncio.get_running_loop()
        if tls_port >= 0 and tls is not None:
            self.tls = await self._loop.create_server(lambda: _Tcp(self, "TLS"), self.host, tls_port, ssl=tls)
        if udp_port >= 0:
            self.udp, _ = await self._loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(self.host, udp_port))
        if tcp_port >= 0:
            self.tcp = await self._loop.create_server(lambda: _Tcp(self), self.host, tcp_port)

    @property
    def udp_port(self) -> int:
        assert self.udp is not None
        return int(self.udp.get_extra_info("sockname")[1])

    @property
    def tls_port(self) -> int:
        assert self.tls is not None
        return int(self.tls.sockets[0].getsockname()[1])

    @property
    def tcp_port(self) -> int:
        assert self.tcp is not None
        return int(self.tcp.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._timer:
            self._timer.cancel()
        if self.udp:
            self.udp.close()
        for server in (self.tcp, self.tls):
            if server:
                server.close()
                await server.wait_closed()

    def now(self) -> float:
        if self._clock:
            return self._clock()
        assert self._loop is not None
        return self._loop.time()

    # --- receive path ---
    def datagram(self, data: bytes, source: Source) -> None:
        """One message from the network (a UDP datagram or one framed TCP message)."""
        self.stats["received"] += 1
        if not data.strip(b"\r\n"):
            return  # keep-alive
        if len(data) > self.max_message:
            self.stats["parse_errors"] += 1
            return
        now = self.now()
        if self.guard is not None and not self.guard.allow(source.addr[0], now):
            self.stats["guarded"] += 1
            return
        try:
            msg = parse(data, stream=source.transport != "UDP")
        except SipParseError as exc:
            self.stats["parse_errors"] += 1
            self._answer_unparseable(exc, source)
            return
        if isinstance(msg, Response):
            self._response(msg, now)
            self._arm()
            return
        try:
            self._request(msg, source, now)
        except SipParseError as exc:
            self.stats["parse_errors"] += 1
            self._reply_error(msg, exc.status, exc.reason, source)
        self._arm()

    def _answer_unparseable(self, exc: SipParseError, source: Source) -> None:
        partial = exc.partial
        if isinstance(partial, Request) and partial.get("via") is not None:
            with contextlib.suppress(SipParseError):
                self._reply_error(partial, exc.status, exc.reason, source)

    def _reply_error(self, req: Request, status: int, reason: str, source: Source) -> None:
        resp = req.response(status)
        if status == 400:
            resp.reason = f"Bad Request ({reason[:60]})".replace("\r", " ").replace("\n", " ")
        self._send_response(resp, source, req)

    def _request(self, req: Request, source: Source, now: float) -> None:
        via = req.top_via()
        if source.transport == "UDP":
            via.params["received"] = source.addr[0]
            if "rport" in via.params:
                via.params["rport"] = str(source.addr[1])
        if source.transport == "UDP" and req.method != "ACK":  # responses copy the Via text; ACK has none
            i = _first_index(req, "via")
            values = split_commas(req.headers[i][1])
            req.headers[i] = ("via", ", ".join([str(via), *values[1:]]))
        if req.method == "ACK":
            txn = self.transactions.get(server_key(req))
            if txn is not None:
                txn.receive(req, now)
                self._schedule(txn)
                return
            self._ack_2xx(req, now)
            return
        key = server_key(req)
        txn = self.transactions.get(key)
        if txn is not None:  # retransmission
            for resp in txn.receive(req, now):
                self._send_response(resp, source, req)
            return
        if req.method == "CANCEL":
            self._cancel(req, source, now)
            return
        if len(self.transactions) >= self.max_transactions:
            self.stats["overload"] += 1
            resp = req.response(503)
            resp.add("retry-after", "5")
            self._send_response(resp, source, req)
            return
        txn = ServerTransaction(req, source.transport != "UDP", now, key)
        self.transactions[key] = txn
        self._txn_dest[key] = (source, _reply_addr(req, source))
        error = check_request(req)
        if error is not None:
            self.stats["refused"] += 1
            self.respond(txn, error)
            return
        if req.method == "BYE":
            self._stop_answers(req.call_id)  # the dialog ends: its ACK (maybe lost) no longer matters
        answer = self.handler.on_request(req, source, now)
        if answer is not None:
            self.respond(txn, answer)
        elif req.method == "INVITE" and txn.last_response is None:
            # RFC 3261 17.2.1: 100 Trying only when the TU does not answer at once (an answer in the
            # same instant stops the INVITE's retransmissions by itself: one datagram less per call)
            self.respond(txn, req.response(100))

    def respond(self, txn: ServerTransaction, resp: Response) -> None:
        """Send `resp` in `txn` (the UA core may also call this later for requests it answers late)."""
        now = self.now()
        source, addr = self._txn_dest[txn.key]
        retransmit = txn.is_invite and 200 <= resp.status < 300 and source.transport == "UDP"
        ident = (resp.call_id, resp.cseq().number) if retransmit else None  # before `txn` drops its views
        for out in txn.respond(resp, now):
            source.reply(bytes(out), addr)
        if ident is not None:
            self.answers[ident] = InviteAnswer(resp, now)
            self._answer_dest[ident] = (source, addr)
            self._push(self.answers[ident].deadline, ("answer", ident))
        self._schedule(txn)
        self._arm()

    def _ack_2xx(self, req: Request, now: float) -> None:
        ident = (req.call_id, req.cseq().number)
        answer = self.answers.pop(ident, None)
        self._answer_dest.pop(ident, None)
        if answer is not None:
            answer.ack()
        self.handler.on_ack(req, now)

    # --- client side ---
    async def request(self, req: Request, dest: Address,
                      on_provisional: Callable[[Response], None] | None = None, *,
                      transport: str = "UDP") -> Response:
        """Send `req` in a new client transaction; the final response (TimeoutError after Timer B/F).
        Provisional responses go to `on_provisional`. A 2xx to INVITE is the caller's to acknowledge
        (`send_ack`). `transport` is UDP, TCP or TLS; a UDP request within 200 bytes of the path MTU goes
        over TCP instead when the peer takes TCP (RFC 3261 18.1.1)."""
        assert self._loop is not None
        branch = new_branch()
        transport = transport.upper()
        if transport == "UDP" and len(bytes(req)) > LARGE_REQUEST and await self._can_connect("TCP", dest):
            transport = "TCP"
        port = self.udp_port if transport == "UDP" else self.local_port(transport)
        req.add("via", f"SIP/2.0/{transport} {self.host}:{port};branch={branch};rport", first=True)
        return await self._run_client(req, dest, branch, on_provisional, transport)

    async def connection(self, transport: str, dest: Address) -> _Tcp:
        """An open TCP or TLS connection to `dest`: one that peer opened to us, or a new one."""
        assert self._loop is not None
        conn = self.connections.get((transport, dest))
        if conn is not None and conn.transport is not None and not conn.transport.is_closing():
            return conn
        if transport in ("WS", "WSS"):  # only a browser opens its WebSocket (sip/websocket.py)
            raise OSError(f"no {transport} connection to {dest[0]}:{dest[1]}")
        ctx = self.tls_client if transport == "TLS" else None
        if transport == "TLS" and ctx is None:
            ctx = ssl.create_default_context()
        _, proto = await asyncio.wait_for(self._loop.create_connection(
            lambda: _Tcp(self, transport), dest[0], dest[1], ssl=ctx,
            server_hostname=dest[0] if ctx is not None else None), CONNECT_TIMEOUT)
        return proto

    async def _can_connect(self, transport: str, dest: Address) -> bool:
        try:
            await self.connection(transport, dest)
            return True
        except (OSError, TimeoutError, ssl.SSLError):
            return False

    def local_port(self, transport: str) -> int:
        """The port tongdai listens on for `transport` (its Via sent-by), else UDP's."""
        if transport == "TLS" and self.tls is not None:
            return self.tls_port
        if transport in ("TCP", "TLS") and self.tcp is not None:
            return self.tcp_port
        return self.udp_port if self.udp is not None else 0

    def _sender(self, transport: str, dest: Address) -> Callable[[bytes], None]:
        """Where a client transaction's bytes go."""
        if transport == "UDP":
            assert self.udp is not None
            udp = self.udp
            return lambda data: udp.sendto(data, dest)
        conn = self.connections.get((transport, dest))
        if conn is None:
            raise OSError(f"no {transport} connection to {dest[0]}:{dest[1]}")
        return conn.write

    async def cancel(self, invite: Request, dest: Address) -> Response:
        """CANCEL a pending INVITE we sent (RFC 3261 9.1): same Request-URI, top Via, Call-ID, From,
        To and CSeq number; the INVITE's own transaction then ends with 487."""
        headers = [(n, v) for n, v in invite.headers if n in ("from", "to", "call-id", "route", "max-forwards")]
        headers = [("via", split_commas(invite.get("via") or "")[0]), *headers,
                   ("cseq", f"{invite.cseq().number} CANCEL")]
        top = invite.top_via()
        return await self._run_client(Request("CANCEL", invite.uri, headers), dest, top.branch or "", None,
                                      top.transport.upper())

    async def _run_client(self, req: Request, dest: Address, branch: str,
                          on_provisional: Callable[[Response], None] | None, transport: str = "UDP") -> Response:
        assert self._loop is not None
        if transport != "UDP":
            await self.connection(transport, dest)
        txn = ClientTransaction(req, reliable=transport != "UDP")
        future: asyncio.Future[Response] = self._loop.create_future()
        key = (branch, req.method)
        send = self._sender(transport, dest)
        self.clients[key] = _Client(txn, future, dest, on_provisional, send)
        for out in txn.start(self.now()):
            send(bytes(out))
        self._push(txn.deadline, ("client", key))
        self._arm()
        try:
            return await future
        finally:
            if txn.terminated:  # else it stays until Timer D/K to absorb retransmitted finals
                self.clients.pop(key, None)

    def send_ack(self, invite: Request, ok: Response, dest: Address) -> Request:
        """ACK a 2xx to INVITE (RFC 3261 13.2.2.4): a new branch, the dialog's To tag, the same CSeq
        number, the INVITE's transport; returns it so that a retransmitted 2xx can be acknowledged again."""
        transport = invite.top_via().transport.upper()
        port = self.udp_port if transport == "UDP" else self.local_port(transport)
        headers = [("via", f"SIP/2.0/{transport} {self.host}:{port};branch={new_branch()};rport")]
        headers += [(n, v) for n, v in invite.headers if n in ("from", "call-id", "route", "max-forwards")]
        headers += [("to", ok.get("to") or ""), ("cseq", f"{invite.cseq().number} ACK")]
        contacts = ok.contacts()
        uri = str(contacts[0].uri) if contacts else invite.uri
        ack = Request("ACK", uri, headers)
        self.send(ack, dest)
        return ack

    def send(self, msg: Request | Response, dest: Address) -> None:
        """Send one message outside any transaction (an ACK, a re-sent ACK), over the transport its top
        Via names (UDP when it names none)."""
        transport = "UDP"
        if isinstance(msg, Request):
            with contextlib.suppress(SipParseError):
                transport = msg.top_via().transport.upper()
        try:
            self._sender(transport, dest)(bytes(msg))
        except OSError as exc:
            log.warning("could not send %s: %s", getattr(msg, "method", "response"), exc)

    def respond_to(self, req: Request, resp: Response) -> bool:
        """Answer `req` later (a request the UA core left unanswered); False when its transaction is gone."""
        txn = self.transactions.get(server_key(req))
        if txn is None:
            return False
        self.respond(txn, resp)
        return True

    def _response(self, resp: Response, now: float) -> None:
        try:
            branch = resp.top_via().branch or ""
            method = resp.cseq().method
        except SipParseError:
            return
        entry = self.clients.get((branch, method))
        if entry is None:
            stray = getattr(self.handler, "on_stray_response", None)
            if stray is not None and 200 <= resp.status < 300 and method == "INVITE":
                stray(resp, now)  # a retransmitted 2xx: our ACK was lost
            return  # a stray response (or a late retransmission) is dropped
        txn, future = entry.txn, entry.future
        for out in txn.receive(resp, now):
            entry.send(bytes(out))
        if resp.status < 200 and entry.on_provisional is not None and txn.state is not State.COMPLETED:
            try:
                entry.on_provisional(resp)
            except Exception:
                log.exception("provisional response handler failed")
        if resp.status >= 200 and not future.done():
            future.set_result(resp)
        if txn.terminated:
            self.clients.pop((branch, method), None)
        elif txn.deadline is not None:
            self._push(txn.deadline, ("client", (branch, method)))

    def _stop_answers(self, call_id: str) -> None:
        for ident in [k for k in self.answers if k[0] == call_id]:
            self.answers.pop(ident).ack()
            self._answer_dest.pop(ident, None)

    def _cancel(self, req: Request, source: Source, now: float) -> None:
        invite_key = server_key(_as_method(req, "INVITE"))
        invite = self.transactions.get(invite_key)
        if invite is None or invite.last_response is not None and invite.last_response.status >= 200:
            self._send_response(req.response(481), source, req)
            return
        self._send_response(req.response(200), source, req)
        assert invite.request is not None  # no final response yet: the request is still held
        pending = invite.request
        self.respond(invite, pending.response(487, to_tag=_tag_of(invite.last_response)))
        on_cancel = getattr(self.handler, "on_cancel", None)
        if on_cancel is not None:
            on_cancel(pending, now)

    def _send_response(self, resp: Response, source: Source, req: Request) -> None:
        source.reply(bytes(resp), _reply_addr(req, source))

    # --- timers ---
    def _schedule(self, txn: ServerTransaction) -> None:
        if txn.terminated:
            self._forget(txn)
        elif txn.deadline is not None:
            self._push(txn.deadline, ("txn", txn.key))

    def _forget(self, txn: ServerTransaction) -> None:
        self.transactions.pop(txn.key, None)
        self._txn_dest.pop(txn.key, None)

    def _push(self, when: float | None, item: tuple[str, Any]) -> None:
        if when is not None:
            heapq.heappush(self._heap, (when, next(self._seq), item))

    def _arm(self) -> None:
        if not self._heap or self._loop is None:
            return
        when = _tick(self._heap[0][0])
        if self._timer is not None and self._timer_at <= when:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = self.now()
        while self._heap and self._heap[0][0] <= now:
            _, _, (kind, ident) = heapq.heappop(self._heap)
            if kind == "client":
                entry = self.clients.get(ident)
                if entry is None or entry.txn.deadline is None or entry.txn.deadline > now:
                    continue
                ctxn, future = entry.txn, entry.future
                for out in ctxn.expire(now):
                    entry.send(bytes(out))
                if ctxn.timed_out and not future.done():
                    future.set_exception(TimeoutError(f"no final response to {ctxn.request.method}"))
                if ctxn.terminated and future.done():
                    self.clients.pop(ident, None)
                elif ctxn.deadline is not None:
                    self._push(ctxn.deadline, ("client", ident))
                continue
            if kind == "txn":
                txn = self.transactions.get(ident)
                if txn is None or txn.deadline is None or txn.deadline > now:
                    continue
                source, addr = self._txn_dest[txn.key]
                for resp in txn.expire(now):
                    source.reply(bytes(resp), addr)
                self._schedule(txn)
            else:
                answer = self.answers.get(ident)
                if answer is None or answer.deadline is None or answer.deadline > now:
                    continue
                resend, failed = answer.expire(now)
                source, addr = self._answer_dest[ident]
                for resp in resend:
                    source.reply(bytes(resp), addr)
                if failed:
                    self.answers.pop(ident, None)
                    self._answer_dest.pop(ident, None)
                    self.handler.on_unacknowledged(answer.response, now)
                else:
                    self._push(answer.deadline, ("answer", ident))
        self._arm()


def _tick(when: float) -> float:
    """The first timer tick at or after `when`: deadlines are served on TIMER_TICK boundaries, so that
    the thousands a second that a busy endpoint sets (most of them for answers already acknowledged
    and transactions long finished) cost ten wake-ups a second, not one each."""
    at = math.ceil(when / TIMER_TICK) * TIMER_TICK
    return at if at >= when else at + TIMER_TICK  # never early through a rounding error


def _first_index(msg: Request, name: str) -> int:
    for i, (n, _) in enumerate(msg.headers):
        if n == name:
            return i
    raise SipParseError(f"no {name}")


def _reply_addr(req: Request, source: Source) -> Address:
    """RFC 3261 18.2.2 with RFC 3581: the source address, and the rport (or sent-by) port."""
    if source.transport != "UDP":
        return source.addr
    try:
        via = req.top_via()
    except SipParseError:  # answer a request with a broken Via at its source, port from sent-by if readable
        m = re.match(r"\s*SIP\s*/\s*2\.0\s*/\s*\w+\s+[^;,\s:]+:(\d+)", req.get("via") or "")
        return (source.addr[0], int(m.group(1)) if m and 0 < int(m.group(1)) < 65536 else source.addr[1])
    rport = via.params.get("rport")
    if rport:
        return (source.addr[0], int(rport))
    return (source.addr[0], via.port or 5060)


def _as_method(req: Request, method: str) -> Request:
    clone = Request(method, req.uri, list(req.headers), b"", req.version)
    return clone


def _tag_of(resp: Response | None) -> str | None:
    if resp is None:
        return None
    try:
        return resp.to().tag
    except SipParseError:
        return None


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, stack: SipStack) -> None:
        self.stack = stack
        self.transport: asyncio.DatagramTransport | None = None
        self._sources: dict[tuple[str, int], Source] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        source = self._sources.get(addr)
        if source is None:  # one Source per peer address, not one per datagram (bounded: peers vary)
            if len(self._sources) >= 4096:
                self._sources.clear()
            source = self._sources[addr] = Source("UDP", (addr[0], addr[1]), self._send)
        try:
            self.stack.datagram(data, source)
        except Exception:  # the server must stay up whatever arrives
            log.exception("SIP datagram from %s failed", addr)

    def _send(self, data: bytes, addr: Address) -> None:
        if self.transport is not None:
            self.transport.sendto(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)


class _Tcp(asyncio.Protocol):
    """One TCP or TLS connection: frames messages by Content-Length (RFC 3261 18.3)."""

    def __init__(self, stack: SipStack, transport: str = "TCP") -> None:
        self.stack = stack
        self.transport_name = transport
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.peer: Address = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1])
        self.stack.connections[(self.transport_name, self.peer)] = self

    def connection_lost(self, exc: Exception | None) -> None:
        if self.stack.connections.get((self.transport_name, self.peer)) is self:
            del self.stack.connections[(self.transport_name, self.peer)]

    def write(self, data: bytes) -> None:
        """Send bytes on this connection (a request or ACK tongdai sends)."""
        self._send(data, self.peer)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.buffer:
            stripped = self.buffer.lstrip(b"\r\n")
            if not stripped:
                self.buffer = b""
                return
            self.buffer = stripped
            try:
                head, rest = split_head(self.buffer)
            except SipParseError:
                if len(self.buffer) > self.stack.max_message:
                    self._close()
                return
            try:
                from tongdai.sip.message import _headers, _unfold

                length = content_length(_headers(_unfold(head.decode("utf-8", "surrogateescape"))[1:])) or 0
            except SipParseError:
                length = 0
            total = len(head) + 4 + length
            if len(self.buffer) < total:
                if total > self.stack.max_message:
                    self._close()
                return
            message, self.buffer = self.buffer[:total], self.buffer[total:]
            try:
                self.stack.datagram(message, Source(self.transport_name, self.peer, self._send))
            except Exception:
                log.exception("SIP message over TCP from %s failed", self.peer)

    def _send(self, data: bytes, addr: Address) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

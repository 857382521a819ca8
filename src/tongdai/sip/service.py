"""The SIP service of `tongdai run`: the stack on the configured transports and the UA core that
answers what the platform offers today (OPTIONS, the 9196 echo-test number, dialog BYE)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tongdai.calls.b2bua import PASSTHROUGH, B2bua, Destination, MediaAnchor, Resolver

if TYPE_CHECKING:
    from tongdai.calls.inbound import InboundCalls
from tongdai.core.db import Database
from tongdai.core.events import Event, EventBus
from tongdai.directory.events import DirectoryChanged
from tongdai.ivr.model import Flow
from tongdai.ivr.validate import FlowInvalid
from tongdai.ivr.validate import builtin as builtin_flow
from tongdai.ivr.validate import load as load_flow
from tongdai.sip.digest import DigestAuthority
from tongdai.sip.errors import SipParseError
from tongdai.sip.events import AgentDeviceRegistered, AgentDeviceUnregistered
from tongdai.sip.guard import SourceGuard
from tongdai.sip.message import Request, Response, new_tag
from tongdai.sip.registrar import Change, LocationService
from tongdai.sip.sdp import answer_audio, parse_sdp
from tongdai.sip.settings import SipSettings
from tongdai.sip.stack import SipStack, Source
from tongdai.sip.trunk import TrunkRegistration
from tongdai.sip.uri import parse_uri
from tongdai.sip.websocket import WS_TRANSPORTS, SipWebSocket, ws_peer, ws_source

log = logging.getLogger(__name__)
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REGISTER, REFER, NOTIFY, PRACK, UPDATE"
#: Methods tongdai knows but does not accept outside a call (405); anything else is 501.
KNOWN_METHODS = frozenset({"SUBSCRIBE", "NOTIFY", "PUBLISH", "MESSAGE", "REFER", "PRACK", "UPDATE"})
ECHO_TEST = "9196"


@dataclass(frozen=True)
class NumberRoute:
    """Where a public number leads."""

    tenant_id: str
    flow: str
    queue: str


@dataclass(frozen=True)
class Account:
    """A SIP account: an agent's extension in a tenant."""

    tenant_id: str
    tenant_slug: str
    extension: str
    password: str


class Credentials(Protocol):
    def find(self, user: str, domain: str) -> Account | None:
        """The account of `user` (an extension); `domain` picks the tenant when several have it."""


class StaticCredentials:
    """Accounts held in memory (refreshed from the directory by the service)."""

    def __init__(self, accounts: dict[str, list[Account]]) -> None:
        self.accounts = accounts

    def find(self, user: str, domain: str) -> Account | None:
        candidates = self.accounts.get(user, [])
        for a in candidates:
            if a.tenant_slug == domain.split(".")[0]:
                return a
        return candidates[0] if len(candidates) == 1 else None


class UaCore:
    """Answers requests outside the protocol layer; keeps the dialogs it accepted."""

    def __init__(self, host: str, credentials: Credentials | None = None, realm: str = "tongdai",
                 on_event: Callable[[Event], None] | None = None) -> None:
        self.host = host
        self.dialogs: dict[tuple[str, str], str] = {}  # (call-id, local tag) -> remote tag
        self.port = 5060
        self.credentials = credentials or StaticCredentials({})
        self.digest = DigestAuthority(realm)
        self.location = LocationService()
        self.dirty = False
        self.guard: SourceGuard | None = None
        #: the numbers (DIDs) callers reach from outside, without authentication
        self.public_numbers: set[str] = set()
        #: what each public number leads to (tenant, call flow, queue)
        self.numbers: dict[str, NumberRoute] = {}
        #: the tenants' active call flows by (tenant, name); a name without one uses the built-in flow
        self.flows: dict[tuple[str, str], Flow] = {}
        #: the contact centre's inbound calls (numbers with a queue); None: numbers answer 404
        self.inbound: InboundCalls | None = None
        #: source addresses of configured trunks (trusted like `sip.trusted_addresses`)
        self.trunk_addresses: set[str] = set()
        self.b2bua: B2bua | None = None
        self.resolve: Resolver | None = None
        self.on_event: Callable[[Event], None] = on_event or (lambda e: None)

    def on_request(self, req: Request, source: Source, now: float) -> Response | None:
        if self.b2bua is not None and req.to().tag is not None and self.b2bua.owns(req):
            return self.b2bua.on_dialog_request(req)
        if req.method == "INVITE":
            return self._invite(req, source)
        if req.method == "REGISTER":
            return self._register(req, source)
        handler = getattr(self, "_" + req.method.lower(), None) if req.method.isalpha() else None
        if handler is not None:
            return handler(req)  # type: ignore[no-any-return]
        if req.method in KNOWN_METHODS:
            resp = req.response(405)
            resp.add("allow", ALLOW)
            return resp
        return req.response(501)

    def on_ack(self, req: Request, now: float) -> None:
        return None

    def on_cancel(self, invite: Request, now: float) -> None:
        if self.b2bua is not None:
            self.b2bua.on_cancel(invite, now)

    def on_stray_response(self, resp: Response, now: float) -> None:
        if self.b2bua is not None:
            self.b2bua.on_stray_response(resp, now)

    def on_unacknowledged(self, response: Response, now: float) -> None:
        tag = response.to().tag or ""
        self.dialogs.pop((response.call_id, tag), None)
        log.info("2xx never acknowledged; dialog dropped", extra={"call_id": response.call_id})

    def _options(self, req: Request) -> Response:
        resp = req.response(200, to_tag=new_tag() if req.to().tag is None else None)
        resp.add("allow", ALLOW)
        resp.add("accept", "application/sdp")
        resp.add("supported", "replaces, timer, 100rel")
        return resp

    def _register(self, req: Request, source: Source | None = None) -> Response:
        now = time.time()  # registrations outlive the process: wall-clock time
        to = req.to().uri
        user = to.user_unescaped or ""
        account = self.credentials.find(user, to.host)
        auth = req.get("authorization")
        if auth is None or account is None:
            return self._challenge(req, now)
        verdict = self.digest.check(auth, method="REGISTER", password_of=lambda u: account.password if u == user else None,
                                    now=now)
        if not verdict.ok:
            if not verdict.stale:
                ip = req.top_via().params.get("received") or ""
                banned = self.guard is not None and self.guard.auth_failed(ip, time.monotonic())
                log.warning("registration refused", extra={"user": user, "reason": verdict.reason, "source": ip,
                                                           "banned": banned})
            return self._challenge(req, now, stale=verdict.stale)
        aor = f"{account.tenant_id}/{user}"
        seen_from = req.top_via().params.get("received") or ""
        if source is not None and source.transport in WS_TRANSPORTS:  # a browser: reached over that socket
            seen_from = ws_source(source.addr)
        resp, changes = self.location.register(aor, req, seen_from, now)
        self._changed(changes, account.tenant_id, user)
        return resp

    def _authenticate_caller(self, req: Request) -> Response | None:
        """None when the caller of `req` may call anywhere; else a 407 challenge."""
        ip = req.top_via().params.get("received") or ""
        if self.guard is not None and ip in self.guard.exempt or ip in self.trunk_addresses:
            return None
        now = time.time()
        auth = req.get("proxy-authorization")
        frm = req.from_().uri
        account = self.credentials.find(frm.user_unescaped or "", frm.host)
        if auth is not None and account is not None:
            verdict = self.digest.check(auth, method="INVITE",
                                        password_of=lambda u: account.password if u == account.extension else None, now=now)
            if verdict.ok:
                return None
            if not verdict.stale and self.guard is not None:
                self.guard.auth_failed(ip, time.monotonic())
            return self._challenge(req, now, stale=verdict.stale, proxy=True)
        return self._challenge(req, now, proxy=True)

    def _challenge(self, req: Request, now: float, *, stale: bool = False, proxy: bool = False) -> Response:
        resp = req.response(407 if proxy else 401, to_tag=new_tag())
        for value in self.digest.challenges(now, stale=stale):
            resp.add("proxy-authenticate" if proxy else "www-authenticate", value)
        return resp

    def _changed(self, changes: list[Change], tenant_id: str, user: str) -> None:
        if not changes:
            return
        self.dirty = True
        for c in changes:
            cls = AgentDeviceRegistered if c.registered else AgentDeviceUnregistered
            self.on_event(cls(tenant_id=tenant_id, at=time.time(), extension=user, contact=c.contact))

    def drop_connection(self, peer: tuple[str, int]) -> None:
        """A browser's WebSocket closed: the contacts it registered over it are gone (RFC 7118 has
        no way to reach it again)."""
        gone = ws_source(peer)
        for contacts in self.location.bindings.values():
            for b in contacts.values():
                if b.source == gone:
                    b.expires_at = 0.0
        self.expire_registrations()

    def expire_registrations(self) -> None:
        for c in self.location.expire(time.time()):
            tenant_id, _, user = c.aor.partition("/")
            self._changed([c], tenant_id, user)

    def _invite(self, req: Request, source: Source) -> Response | None:
        if req.to().tag is not None:  # re-INVITE
            if (req.call_id, req.to().tag) not in self.dialogs:
                return req.response(481)
            return self._answer(req, req.to().tag or "")
        user = req.request_uri().user_unescaped or ""
        if user != ECHO_TEST and user not in self.public_numbers:
            # toll-fraud rule: only the public numbers (DIDs) take calls from anyone; any other
            # destination needs an authenticated caller or a trusted address
            refused = self._authenticate_caller(req)
            if refused is not None:
                return refused
        if user != ECHO_TEST:
            return self._route(req, source, user)
        if self.b2bua is not None and self.b2bua.anchor is not PASSTHROUGH and req.body:
            return self.b2bua.echo(req, source.addr, None)  # media through rtpengine, echoed
        tag = new_tag()
        resp = self._answer(req, tag)
        if resp.status == 200:
            self.dialogs[(req.call_id, tag)] = req.from_().tag or ""
        return resp

    def _route(self, req: Request, source: Source, user: str) -> Response | None:
        """A call to a public number (the contact centre), an extension or an outside number."""
        number = self.numbers.get(user)
        flow = None
        if number is not None and number.flow:
            flow = self.flows.get((number.tenant_id, number.flow)) or builtin_flow(number.flow)
        if number is not None and (number.queue or flow is not None) and self.inbound is not None:
            self.inbound.take(req, source.addr, number.tenant_id, user, number.queue, flow)
            return None
        if self.b2bua is None or self.resolve is None:
            return req.response(404, to_tag=new_tag())
        frm = req.from_().uri
        caller = self.credentials.find(frm.user_unescaped or "", frm.host)
        tenant = caller.tenant_id if caller is not None else None
        dest = self.resolve(user, tenant)
        if dest is None:
            return req.response(404, to_tag=new_tag())
        return self.b2bua.place(req, source.addr, dest, tenant)

    def _answer(self, req: Request, tag: str) -> Response:
        try:
            offer = parse_sdp(req.body.decode("utf-8", "replace")) if req.body else None
            # the media plane is not wired in yet: the answer holds the stream inactive
            sdp = answer_audio(offer, address=self.host, port=9, direction="inactive") if offer else None
        except SipParseError as exc:
            return req.response(exc.status if exc.status != 400 else 488, to_tag=tag)
        resp = req.response(200, to_tag=tag)
        resp.add("contact", f"<sip:{ECHO_TEST}@{self.host}:{self.port}>")
        resp.add("allow", ALLOW)
        if sdp is not None:
            resp.add("content-type", "application/sdp")
            resp.body = str(sdp).encode()
        return resp

    def _bye(self, req: Request) -> Response:
        key = (req.call_id, req.to().tag or "")
        if self.dialogs.pop(key, None) is None:
            return req.response(481)
        return req.response(200)

    def _info(self, req: Request) -> Response:
        key = (req.call_id, req.to().tag or "")
        return req.response(200 if key in self.dialogs else 481)


class SipService:
    """The SIP endpoint of `tongdai run` (a service of the composition root)."""

    name = "sip"

    def __init__(self, settings: SipSettings, *, data_dir: Path | None = None, db: Database | None = None,
                 bus: EventBus | None = None) -> None:
        self.settings = settings
        self.db, self.bus = db, bus
        self.credentials = StaticCredentials({})
        self.core = UaCore(settings.host, self.credentials, on_event=self._publish)
        self.core.digest.algorithms = tuple(settings.digest_algorithms)
        guard = SourceGuard(rate=settings.rate_limit_per_s, burst=settings.rate_limit_per_s * 2,
                            max_failures=settings.ban_after_failures, ban_seconds=settings.ban_seconds,
                            exempt=frozenset(settings.trusted_addresses))
        self.stack = SipStack(self.core, host=settings.host, max_message=settings.max_message_bytes,
                              max_transactions=settings.max_transactions)
        self.stack.guard = self.core.guard = guard
        if settings.tls_ca_file:  # whom tongdai trusts when it connects over TLS (trunks, phones)
            self.stack.tls_client = ssl.create_default_context(cafile=settings.tls_ca_file)
        self.state_file = (data_dir / "sip-registrations.json") if data_dir else None
        self._ready = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._housekeeping: asyncio.Task[None] | None = None
        #: where calls' media is anchored (the media plane sets rtpengine here); None: SDP passes through
        self.anchor: MediaAnchor | None = None
        self.media_ready: Callable[[], bool] = lambda: self.anchor is not None
        self.registrations: list[TrunkRegistration] = []
        #: builds the contact centre's inbound calls on the B2BUA once the transports are up
        self.inbound_factory: Callable[[B2bua], InboundCalls] | None = None
        self._reload_lock = asyncio.Lock()
        self._reload_wanted = False
        self.core.trunk_addresses = {_host(a) for t in settings.trunks for a in (*t.inbound_addresses, *t.gateways)}
        self._outbound = [(re.compile(t.outbound_pattern), t) for t in settings.trunks]
        #: browsers' SIP over WebSocket, served by the HTTP server at /sip (`websocket.serve`)
        self.websocket = SipWebSocket(self.stack, max_message=settings.max_message_bytes)
        self.websocket.on_closed = self.core.drop_connection

    async def start(self) -> None:
        if self.state_file and self.state_file.exists():
            data = json.loads(self.state_file.read_text())
            self.core.location = LocationService.restore(data, time.time())
        await self.reload_accounts()
        if self.bus is not None:
            self.bus.subscribe(DirectoryChanged, self._directory_changed)
        await self.stack.start(self.settings.udp_port or -1, self.settings.tcp_port or -1,
                               self.settings.tls_port or -1, self._tls_context())
        self.core.port = self.stack.udp_port if self.stack.udp else self.stack.tcp_port
        if self.stack.udp is not None:
            self.core.b2bua = B2bua(self.stack, self.resolve, host=self.settings.host, port=self.core.port,
                                    anchor=self.anchor, media_ready=self.media_ready,
                                    ring_timeout=self.settings.ring_timeout_s, on_event=self._publish)
            self.core.resolve = self.resolve
            if self.inbound_factory is not None:
                self.core.inbound = self.inbound_factory(self.core.b2bua)
                self.core.b2bua.queue_of = self.queue_of
                self.core.b2bua.to_queue = self.core.inbound.transfer_to_queue
            self.registrations = [TrunkRegistration(self.stack, t, self.core.port) for t in self.settings.trunks
                                  if t.registration]
            for reg in self.registrations:
                reg.start()
        self._housekeeping = asyncio.create_task(self._housekeep())
        self._ready = True
        log.info("SIP listening", extra={"udp": self.settings.udp_port, "tcp": self.settings.tcp_port, "host": self.settings.host})

    def _tls_context(self) -> ssl.SSLContext | None:
        if not self.settings.tls_port:
            return None
        if not (self.settings.tls_cert_file and self.settings.tls_key_file):
            raise ValueError("sip.tls_port is set: sip.tls_cert_file and sip.tls_key_file are needed too")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.settings.tls_cert_file, self.settings.tls_key_file)
        return ctx

    def queue_of(self, user: str, tenant_id: str | None) -> str | None:
        """The queue behind a public number of this tenant (what a transfer to that number means)."""
        route = self.core.numbers.get(user)
        if route is None or not route.queue or (tenant_id is not None and route.tenant_id != tenant_id):
            return None
        return route.queue

    def resolve(self, user: str, tenant_id: str | None) -> Destination | None:
        """Where a dialled `user` leads for a caller of `tenant_id`: an agent's extension (its
        registered devices, highest q first), else an outside number through the first trunk whose
        pattern matches."""
        for account in self.credentials.accounts.get(user, []):
            if tenant_id is None or account.tenant_id == tenant_id:
                bindings = self.core.location.lookup(f"{account.tenant_id}/{user}", time.time())
                targets = [(b.contact, ws_peer(b.source) or _address(b.contact)) for b in bindings]
                return Destination(targets, account.tenant_id, "extension", user)
        for pattern, trunk in self._outbound:
            if pattern.match(user):
                param = "" if trunk.transport == "udp" else f";transport={trunk.transport}"
                targets = [(f"sip:{user}@{gw}{param}", _address(f"sip:{gw}")) for gw in trunk.gateways]
                return Destination(targets, tenant_id, "trunk", user, trunk.username,
                                   trunk.password.get_secret_value())
        return None

    async def stop(self) -> None:
        self._ready = False
        for reg in self.registrations:
            reg.stop()
        if self._housekeeping:
            self._housekeeping.cancel()
        await self.stack.stop()
        self._save()

    def ready(self) -> bool:
        return self._ready

    async def reload_accounts(self) -> None:
        """Load the agents' SIP accounts and the public numbers from the directory."""
        if self.db is None:
            return
        from sqlalchemy import select

        from tongdai.directory.models import Agent, Number, Queue
        from tongdai.iam.models import Tenant
        from tongdai.ivr.models import CallFlowVersion

        accounts: dict[str, list[Account]] = {}
        async with self.db.sessionmaker() as s:
            rows = await s.execute(select(Agent.extension, Agent.sip_password, Tenant.id, Tenant.slug)
                                   .join(Tenant, Tenant.id == Agent.tenant_id)
                                   .where(Agent.active.is_(True), Agent.sip_password != ""))
            for ext, pw, tid, slug in rows:
                accounts.setdefault(ext, []).append(Account(tid, slug, ext, pw))
            rows = await s.execute(select(Number.e164, Number.tenant_id, Number.flow, Queue.name)
                                   .outerjoin(Queue, Queue.id == Number.queue_id))
            self.core.numbers = {e164: NumberRoute(tid, flow, queue or "") for e164, tid, flow, queue in rows}
            numbers = set(self.core.numbers)
            flows = await s.execute(select(CallFlowVersion).where(CallFlowVersion.status == "active"))
            self.core.flows = {}
            for row in flows.scalars():
                try:
                    self.core.flows[(row.tenant_id, row.name)] = load_flow(row.document)
                except FlowInvalid as exc:  # stored valid; a newer tongdai may check more
                    log.error("active call flow %s of tenant %s no longer valid: %s", row.name, row.tenant_id, exc)
        self.credentials.accounts = accounts
        self.core.public_numbers = numbers

    async def _directory_changed(self, event: DirectoryChanged) -> None:
        """Reload after a change; reloads run one at a time (two at once could finish out of order and
        leave the older picture), and changes that arrive during one are covered by one more."""
        if event.resource not in ("agents", "numbers", "call_flows"):
            return
        self._reload_wanted = True
        async with self._reload_lock:
            if not self._reload_wanted:
                return  # a reload that started after this change has covered it
            self._reload_wanted = False
            await self.reload_accounts()

    def _publish(self, event: Event) -> None:
        if self.bus is not None:
            task = asyncio.get_running_loop().create_task(self.bus.publish(event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _housekeep(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.core.expire_registrations()
            if self.core.dirty:
                self._save()

    def _save(self) -> None:
        """Write the registrations atomically (a crash leaves the old file or the new, never half)."""
        if self.state_file is None:
            return
        self.core.dirty = False
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.core.location.snapshot()))
        os.replace(tmp, self.state_file)


def _address(uri: str) -> tuple[str, int]:
    """Where to send a request for `uri` (its host and port; no DNS: addresses as configured)."""
    parsed = parse_uri(uri)
    return parsed.host.strip("[]"), parsed.port or 5060


def _host(address: str) -> str:
    """The host part of `host` or `host:port`."""
    return address.rsplit(":", 1)[0] if address.count(":") == 1 else address

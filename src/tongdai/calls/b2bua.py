"""The back-to-back user agent: a call is two SIP legs that tongdai joins, each its own dialog.

tongdai answers the caller's INVITE (the caller leg, tongdai as UAS) and places a new INVITE to the
destination (the callee leg, tongdai as UAC): an agent's registered phone, or an outside number
through a trunk. Ringing, answer, hold and resume (re-INVITE, with 491 on glare), INFO, BYE and
CANCEL pass from one leg to the other. REFER from either party transfers the other party: to a
dialled destination (blind) or, with Replaces, to the party of another call (attended). Media
descriptions pass through a `MediaAnchor` (rtpengine in production; as they are by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypedDict
from urllib.parse import unquote

from tongdai.calls.events import CallAnswered, CallEnded, CallTransferred
from tongdai.core.events import Event
from tongdai.media.session import _loopback_answer as loopback_answer
from tongdai.sip.dialog import Dialog, new_dialog_ids, sipfrag
from tongdai.sip.digest import answer as digest_answer
from tongdai.sip.errors import SipParseError
from tongdai.sip.extensions import (
    ReliableProvisional,
    SessionTimer,
    session_timer,
    wants_reliable_provisionals,
)
from tongdai.sip.message import Request, Response, new_tag, parse_name_addr, parse_params
from tongdai.sip.sdp import answer_audio, parse_sdp
from tongdai.sip.stack import Address, SipStack
from tongdai.sip.trunk import should_fail_over

log = logging.getLogger(__name__)
_LINE_BREAK = re.compile(r"[\r\n\x00]")


class MediaAnchor(Protocol):
    """Where each leg's media description is anchored (rtpengine's offer/answer)."""

    async def offer(self, call_id: str, from_tag: str, sdp: str, *, webrtc: bool = False,
                    dtls_hash: str | None = None) -> str: ...
    async def answer(self, call_id: str, from_tag: str, to_tag: str, sdp: str, *, webrtc: bool = False) -> str: ...
    async def delete(self, call_id: str) -> None: ...
    async def echo(self, call_id: str, from_tag: str, sdp: str) -> str: ...


class Passthrough:
    """No anchoring: each party's media description goes to the other as it is."""

    async def offer(self, call_id: str, from_tag: str, sdp: str, *, webrtc: bool = False,
                    dtls_hash: str | None = None) -> str:
        return sdp

    async def answer(self, call_id: str, from_tag: str, to_tag: str, sdp: str, *, webrtc: bool = False) -> str:
        return sdp

    async def delete(self, call_id: str) -> None:
        return None

    async def echo(self, call_id: str, from_tag: str, sdp: str) -> str:
        raise MediaUnavailable("no media relay to echo through")


class MediaUnavailable(Exception):
    """The media anchor cannot serve a call (rtpengine down or refusing)."""


PASSTHROUGH = Passthrough()


@dataclass(frozen=True)
class Destination:
    """Where a dialled number leads: contacts to try (an agent's devices, or trunk gateways)."""

    targets: list[tuple[str, Address]]  # (Request-URI, where to send it), tried in order
    tenant_id: str | None
    kind: str  # "extension" or "trunk"
    label: str  # extension or dialled number
    username: str = ""  # digest credentials, for a trunk that challenges
    password: str = ""


#: dialled user, tenant of the caller -> where it leads (None: nowhere)
Resolver = Callable[[str, "str | None"], "Destination | None"]
_ids = itertools.count(1)


@dataclass(eq=False)
class Leg:
    """One party of a call and tongdai's dialog with it."""

    call: Call
    role: str  # "caller" or "callee"
    label: str
    dest: Address
    dialog: Dialog | None = None
    peer: Leg | None = None
    sdp: bytes = b""  # the last media description this party sent
    local_sdp: bytes = b""  # the last media description tongdai sent this party
    invite: Request | None = None  # our INVITE (callee legs), kept for CANCEL
    ack: Request | None = None  # our ACK of its 2xx, re-sent if the 2xx comes again
    awaiting_ack: Response | None = None  # a 2xx holding an offer, ACKed once the answer is known
    ended: bool = False
    reliable: ReliableProvisional | None = None  # our ringing sent reliably (the caller requires 100rel)
    rseq: int = 0
    timer: SessionTimer | None = None  # the session interval this party refreshes
    expiry: asyncio.TimerHandle | None = None
    echo: bool = False  # the echo test: this party hears itself
    status: int = 0  # the final status of this leg's INVITE
    #: for a caller tongdai answered itself: the rtpengine tag of the side that faced it before an agent
    #: (rtpengine keeps receiving the joined party on that side's port)
    media_peer_tag: str = ""
    transport: str = "UDP"  # how tongdai talks to this party (UDP, TCP, TLS, WS/WSS for a browser)
    #: this party's rtpengine tag when it is not its dialog's tag: a browser joined to a caller tongdai
    #: answered takes over the side that faced the caller (whose ports, ICE and DTLS its offer named)
    media_tag: str = ""
    #: a browser that rtpengine offered to first: rtpengine is its DTLS client, in every SDP (`_dtls_client`)
    dtls_client: bool = False


@dataclass(eq=False)
class Call:
    """A call as tongdai sees it: its legs and its times (the CDR)."""

    id: str
    tenant_id: str | None
    caller: str
    callee: str
    started: float
    answered: float | None = None
    ended: float | None = None
    cause: str = ""
    legs: list[Leg] = field(default_factory=list)
    #: where this call's media is anchored (chosen when the call starts, kept to its end)
    anchor: MediaAnchor = PASSTHROUGH
    kind: str = "internal"  # internal (extension to extension), outbound (through a trunk), echo, inbound
    transferred: bool = False
    queue: str = ""  # inbound calls: the queue the caller waited in, the agent who answered
    agent: str = ""
    wait_s: float = 0.0
    #: what the agent's phone was told of the call (`X-Tongdai-*`), told again to whom it is transferred
    pop_headers: list[tuple[str, str]] = field(default_factory=list)


class B2bua:
    """Joins calls leg to leg on one `SipStack`."""

    def __init__(self, stack: SipStack, resolve: Resolver, *, host: str, port: int,
                 anchor: MediaAnchor | None = None, media_ready: Callable[[], bool] = lambda: True,
                 ring_timeout: float = 60.0, on_event: Callable[[Event], None] | None = None) -> None:
        self.stack = stack
        self.resolve = resolve
        self.host, self.port = host, port
        self.anchor: MediaAnchor = anchor or PASSTHROUGH
        #: is the anchor usable now? When not, new calls' media goes end to end (logged)
        self.media_ready = media_ready
        self.ring_timeout = ring_timeout
        self.on_event = on_event or (lambda e: None)
        self.legs: dict[tuple[str, str], Leg] = {}  # (call-id, tongdai's tag) -> leg
        self.pending: dict[tuple[str, str], Leg] = {}  # caller INVITEs not answered yet: (call-id, from-tag)
        self.calls: dict[str, Call] = {}
        #: called when a call ends (after its CDR event), e.g. to end its routing task
        self.on_call_end: list[Callable[[Call], None]] = []
        #: the queue a dialled number leads to in a tenant (None: not a queue's number): a blind transfer
        #: there hands the transferee to `to_queue` (the inbound calls), not to a new leg
        self.queue_of: Callable[[str, str | None], str | None] | None = None
        self.to_queue: Callable[[Leg, str], Awaitable[bool]] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def contact(self) -> str:
        return f"<sip:tongdai@{self.host}:{self.port}>"

    # --- new calls ---
    def place(self, invite: Request, source: Address, dest: Destination, caller_tenant: str | None) -> Response | None:
        """Take a caller's INVITE towards `dest`; answers later (None) or refuses now."""
        timer, refused = session_timer(invite)
        if refused is not None:
            return refused
        caller = invite.from_().uri.user_unescaped or ""
        call = self._new_call(dest.tenant_id or caller_tenant, caller, dest.label)
        call.kind = "outbound" if dest.kind == "trunk" else "internal"
        leg = Leg(call, "caller", caller, source, sdp=invite.body, transport=via_transport(invite))
        if not dest.targets:  # nobody registered on that extension: the attempt still has its record
            leg.status, leg.ended = 480, True
            call.legs.append(leg)
            self._end(call, "failed 480")
            return invite.response(480, to_tag=new_tag())
        leg.dialog = Dialog.as_uas(invite, new_tag(), self.contact)
        leg.timer = timer
        self.legs[(invite.call_id, leg.dialog.local_tag)] = leg  # early dialog: PRACK may come
        call.legs.append(leg)
        self.pending[(invite.call_id, invite.from_().tag or "")] = leg
        self._spawn(self._connect(invite, leg, dest))
        return None

    # --- for the contact centre (calls/inbound.py): a caller answered by tongdai, joined later ---
    def new_call(self, tenant_id: str | None, caller: str, callee: str) -> Call:
        """A new call whose media goes through the anchor when it is ready."""
        return self._new_call(tenant_id, caller, callee)

    def spawn(self, coro: object) -> None:
        """Run `coro` as a call task (its failure is logged, never lost)."""
        self._spawn(coro)

    async def answer_locally(self, leg: Leg, offer: bytes) -> bytes:
        """The answer tongdai gives a caller it takes itself (prompts and music before an agent): the
        caller's media is anchored against a silent internal side until `bridge`."""
        assert leg.dialog is not None
        if leg.call.anchor is PASSTHROUGH or not offer:
            parsed = parse_sdp(offer.decode("utf-8", "replace")) if offer else None
            return str(answer_audio(parsed, address=self.host, port=9, direction="inactive")).encode() if parsed else b""
        tag = leg.dialog.local_tag
        browser = _webrtc(leg.transport, "UDP")  # the silent internal side is plain RTP
        towards = await leg.call.anchor.offer(leg.call.id, tag, offer.decode(), **browser)
        leg.media_peer_tag = f"{tag}-hold"
        return (await leg.call.anchor.answer(leg.call.id, tag, leg.media_peer_tag, loopback_answer(towards),
                                             **browser)).encode()

    def accept(self, invite: Request, leg: Leg, sdp: bytes) -> None:
        """Answer the caller's INVITE with `sdp`: its dialog is up."""
        assert leg.dialog is not None
        leg.local_sdp = sdp
        ok = invite.response(200, to_tag=leg.dialog.local_tag)
        self._dialog_headers(ok, sdp)
        self.legs[(invite.call_id, leg.dialog.local_tag)] = leg
        leg.status = 200
        self.stack.respond_to(invite, ok)

    def refuse(self, invite: Request, leg: Leg, status: int) -> None:
        assert leg.dialog is not None
        leg.status, leg.ended = status, True
        self.stack.respond_to(invite, invite.response(status, to_tag=leg.dialog.local_tag))
        self._end(leg.call, f"failed {status}")

    async def reoffer(self, leg: Leg) -> bytes:
        """An offer for a new party from `leg`'s media (anchored again, or `leg`'s own SDP)."""
        assert leg.dialog is not None
        if leg.call.anchor is PASSTHROUGH:
            return leg.sdp
        return (await leg.call.anchor.offer(leg.call.id, leg.dialog.local_tag, leg.sdp.decode())).encode()

    async def originate(self, owner: Leg, dest: Destination, body: bytes, *,
                        extra_headers: Sequence[tuple[str, str]] = ()) -> tuple[Leg | None, Response | None]:
        """Ring `dest` for `owner`'s call (all targets at once); the answering leg and the final answer.
        `extra_headers` go on each INVITE (e.g. the agent's screen pop, `X-Tongdai-*`)."""
        browser = _webrtc(owner.transport, _dest_transport(dest))
        if browser and body and owner.dialog is not None and owner.call.anchor is not PASSTHROUGH:
            # a browser on one side: the offer made for a plain party is made again with WebRTC's flags
            body = (await owner.call.anchor.offer(owner.call.id, owner.dialog.local_tag, owner.sdp.decode(),
                                                  **browser)).encode()
            body = _dtls_client(body) if _dest_transport(dest) in BROWSER_TRANSPORTS else body
        # an extension's devices at once, a trunk's gateways in turn
        return await self._originate(owner, dest, body, extra_headers=extra_headers)

    async def originate_locally(self, call: Call, dest: Destination, *,
                                extra_headers: Sequence[tuple[str, str]] = ()) -> Leg | None:
        """Ring `dest` for a call tongdai places itself (a callback): an offerless INVITE, and the
        party's offer answered with the anchor's silent side, as for a caller tongdai answered
        (`answer_locally`); the leg is then ready for prompts, `reoffer` and `bridge`."""
        origin = Leg(call, "origin", call.caller, (self.host, 0))
        leg, final = await self._originate(origin, dest, b"", extra_headers=extra_headers)
        if leg is None or final is None or leg.invite is None or leg.dialog is None:
            return None
        offer = final.body
        try:
            answer = await self.answer_locally(leg, offer)
        except Exception:
            log.exception("could not answer the offer of a placed call", extra={"call_id": call.id})
            answer = b""
        leg.ack = self._ack_in_dialog(leg, leg.invite, answer)
        leg.awaiting_ack = None
        leg.sdp, leg.local_sdp = offer, answer
        if not answer:
            await self._hang_up(leg)
            return None
        return leg

    async def bridge(self, caller: Leg, other: Leg) -> None:
        """Join a caller tongdai answered with a leg that just answered: the anchor's answer goes to
        the caller in a re-INVITE when its media address changed."""
        assert caller.dialog is not None and other.dialog is not None
        call = caller.call
        if call.anchor is not PASSTHROUGH:
            with contextlib.suppress(Exception):
                await call.anchor.stop_play(call.id, caller.dialog.local_tag)  # type: ignore[attr-defined]
            if other.transport in BROWSER_TRANSPORTS and caller.media_peer_tag:
                other.media_tag = caller.media_peer_tag
            fresh = (await call.anchor.answer(call.id, caller.dialog.local_tag, self._tag(other),
                                              other.sdp.decode(), **_webrtc(caller.transport, other.transport))).encode()
        else:
            fresh = other.sdp
        if fresh and _media_address(fresh) != _media_address(caller.local_sdp):
            reinvite = caller.dialog.request("INVITE", body=fresh)
            final = await self._request(reinvite, caller)
            if final is not None and final.status < 300:
                caller.ack = self._ack_in_dialog(caller, reinvite, b"")
                caller.local_sdp = fresh
        caller.peer, other.peer = other, caller
        call.answered = time.time()
        self.on_event(CallAnswered(tenant_id=call.tenant_id, at=call.answered, call_id=call.id,
                                   caller=call.caller, callee=call.callee))

    async def reinvite(self, leg: Leg, body: bytes) -> bytes | None:
        """Send `leg` a new offer in its dialog (e.g. its media moved to a mixer); its answer, or None
        when it refused or did not answer."""
        assert leg.dialog is not None
        reinvite = leg.dialog.request("INVITE", body=body)
        final = await self._request(reinvite, leg)
        if final is None or final.status >= 300:
            return None
        leg.dialog.refresh_target(final)
        leg.ack = self._ack_in_dialog(leg, reinvite, b"")
        leg.local_sdp = body
        if final.body:
            leg.sdp = final.body
        return final.body or None

    async def reanchor_browser(self, browser: Leg, side: Leg, body: bytes) -> bytes | None:
        """Give a browser party a new plain RTP peer (`body`: its SDP, e.g. a mixer leg) in place of
        `side`, the party it faced in rtpengine: rtpengine re-offers to the browser from `side`'s tag,
        so the browser keeps its own ICE and DTLS session and only the plain end moves. The anchored
        answer for the new peer, or None when the browser refused."""
        call = browser.call
        offer = (await call.anchor.offer(call.id, self._tag(side), body.decode(), webrtc=True)).encode()
        answer = await self.reinvite(browser, _dtls_client(offer) if browser.dtls_client else offer)
        if answer is None:
            return None
        return (await call.anchor.answer(call.id, self._tag(side), self._tag(browser), answer.decode(),
                                         webrtc=True)).encode()

    async def originate_browser(self, owner: Leg, dest: Destination, body: bytes,
                                tag: str) -> tuple[Leg | None, bytes]:
        """Ring the browsers of `dest` for `owner`'s call with a plain RTP endpoint (`body`: its SDP,
        e.g. a mixer leg) as their peer: rtpengine offers to them from a fresh tag `tag` (new sides, new
        ICE and DTLS) and is their DTLS client. The leg that answered and the anchored answer for the
        plain endpoint (empty when nobody answered)."""
        call = owner.call
        offer = (await call.anchor.offer(call.id, tag, body.decode(), webrtc=True)).encode()
        leg, _ = await self._originate(owner, dest, _dtls_client(offer))
        if leg is None:
            return None, b""
        return leg, (await call.anchor.answer(call.id, tag, self._tag(leg), leg.sdp.decode(), webrtc=True)).encode()

    async def hang_up(self, leg: Leg) -> None:
        await self._hang_up(leg)

    def busy(self, extension: str, tenant_id: str | None) -> bool:
        """Is this extension on a call tongdai carries (calling, ringing or talking)?"""
        return any(leg.label == extension and not leg.ended and call.tenant_id == tenant_id
                   for call in self.calls.values() for leg in call.legs)

    def cancel_ringing(self, call: Call) -> None:
        """CANCEL every leg of `call` still ringing."""
        for leg in list(self.pending.values()):
            if leg.call is call and leg.role != "caller" and leg.invite is not None:
                self._spawn(self._cancel(leg))

    def _new_call(self, tenant_id: str | None, caller: str, callee: str) -> Call:
        call = Call(f"c{next(_ids)}-{new_tag()}", tenant_id, caller, callee, time.time())
        if self.anchor is not PASSTHROUGH:
            if self.media_ready():
                call.anchor = self.anchor
            else:
                log.warning("media relay not ready: the call's media goes end to end", extra={"call_id": call.id})
        self.calls[call.id] = call
        return call

    def echo(self, invite: Request, source: Address, tenant_id: str | None) -> Response | None:
        """Answer the echo test: the caller hears its own audio back (through the media anchor)."""
        call = self._new_call(tenant_id, invite.from_().uri.user_unescaped or "", "9196")
        call.kind = "echo"
        leg = Leg(call, "caller", call.caller, source, sdp=invite.body, echo=True, transport=via_transport(invite))
        leg.dialog = Dialog.as_uas(invite, new_tag(), self.contact)
        call.legs.append(leg)
        self._spawn(self._echo(invite, leg))
        return None

    async def _echo(self, invite: Request, leg: Leg) -> None:
        """Answer (or re-answer, for a re-INVITE) the echo test's offer."""
        assert leg.dialog is not None
        if invite.to().tag is not None:
            try:
                sdp = (await leg.call.anchor.echo(leg.call.id, leg.dialog.local_tag, invite.body.decode())).encode()
            except Exception as exc:
                log.warning("echo re-offer failed: %s", exc, extra={"call_id": leg.call.id})
                self.stack.respond_to(invite, invite.response(488))
                return
            finally:
                leg.dialog.peer_invite = False
            ok = invite.response(200)
            self._dialog_headers(ok, _mirror_direction(invite.body, sdp))
            self._session_timer(leg, ok)
            self.stack.respond_to(invite, ok)
            return
        try:
            sdp = (await leg.call.anchor.echo(leg.call.id, leg.dialog.local_tag, invite.body.decode())).encode()
        except Exception as exc:  # rtpengine refused or is gone: the caller gets an answer, not silence
            log.warning("echo test unavailable: %s", exc, extra={"call_id": leg.call.id})
            self.stack.respond_to(invite, invite.response(503, to_tag=leg.dialog.local_tag))
            self._end(leg.call, "media unavailable")
            return
        ok = invite.response(200, to_tag=leg.dialog.local_tag)
        self._dialog_headers(ok, sdp)
        self.legs[(invite.call_id, leg.dialog.local_tag)] = leg
        leg.status = 200
        self.stack.respond_to(invite, ok)
        leg.call.answered = time.time()

    async def _connect(self, invite: Request, a: Leg, dest: Destination) -> None:
        try:
            await self._join(invite, a, dest)
        except Exception:
            log.exception("call set-up failed", extra={"call_id": a.call.id})
            if a.peer is None and not a.ended and a.dialog is not None:
                self.stack.respond_to(invite, invite.response(503, to_tag=a.dialog.local_tag))
                self._forget(a)
            for leg in a.call.legs:
                if leg is not a and not leg.ended:
                    await self._hang_up(leg)
            self._end(a.call, "set-up failed")

    async def _join(self, invite: Request, a: Leg, dest: Destination) -> None:
        assert a.dialog is not None
        body = invite.body
        if body:
            body = (await a.call.anchor.offer(a.call.id, a.dialog.local_tag, body.decode(),
                                              **_webrtc(a.transport, _dest_transport(dest)))).encode()
            body = _dtls_client(body) if _dest_transport(dest) in BROWSER_TRANSPORTS else body
        b, final = await self._originate(a, dest, body, ringing=lambda r: self._relay_ringing(invite, a, r))
        self.pending.pop((invite.call_id, invite.from_().tag or ""), None)
        if a.ended:  # the caller cancelled meanwhile
            self._forget(a)
            if final is not None and final.status < 300 and b is not None:
                await self._hang_up(b)
            self._end(a.call, "cancelled")
            return
        if b is None or final is None or final.status >= 300:
            status = final.status if final is not None else 408
            a.status = status if status < 700 else 500
            self.stack.respond_to(invite, invite.response(a.status, to_tag=a.dialog.local_tag))
            self._forget(a)
            self._end(a.call, f"failed {status}")
            return
        answer = b.sdp
        if answer:
            answer = (await a.call.anchor.answer(a.call.id, a.dialog.local_tag, self._tag(b), answer.decode(),
                                                 **_webrtc(a.transport, b.transport))).encode()
        ok = invite.response(200, to_tag=a.dialog.local_tag)
        self._dialog_headers(ok, answer)
        self._session_timer(a, ok)
        a.peer, b.peer = b, a
        a.reliable = None
        a.status = 200
        self.stack.respond_to(invite, ok)
        a.call.answered = time.time()
        self.on_event(CallAnswered(tenant_id=a.call.tenant_id, at=a.call.answered, call_id=a.call.id,
                                   caller=a.call.caller, callee=a.call.callee))

    async def _originate(self, owner: Leg, dest: Destination, body: bytes,
                         ringing: Callable[[Response], None] | None = None, *,
                         extra_headers: Sequence[tuple[str, str]] = ()) -> tuple[Leg | None, Response | None]:
        """Place a new leg towards `dest`: an extension rings all its devices at once (the first to
        answer wins), a trunk tries its gateways in order. The leg and the final answer."""
        if dest.kind == "extension":
            return await self._fork(owner, dest, body, ringing, extra_headers)
        final: Response | None = None
        for uri, addr in dest.targets:
            if owner.ended:
                break
            leg = Leg(owner.call, "callee", dest.label, addr, transport=uri_transport(uri))
            final = await self._invite(leg, uri, owner, body, ringing, extra_headers=extra_headers)
            if final is not None and final.status in (401, 407) and dest.username:
                final = await self._invite(leg, uri, owner, body, ringing, challenge=final, dest=dest,
                                           extra_headers=extra_headers)
            if final is not None and final.status < 300:
                return leg, final
            if not should_fail_over(final):
                break  # the carrier answered for the callee (486, 404...): another gateway would too
        return None, final

    async def _fork(self, owner: Leg, dest: Destination, body: bytes,
                    ringing: Callable[[Response], None] | None,
                    extra_headers: Sequence[tuple[str, str]] = ()) -> tuple[Leg | None, Response | None]:
        """Ring every device of an extension in parallel; CANCEL the others once one answers."""
        attempts: dict[asyncio.Task[Response | None], Leg] = {}
        for uri, addr in dest.targets:
            leg = Leg(owner.call, "callee", dest.label, addr, transport=uri_transport(uri))
            attempts[asyncio.ensure_future(self._invite(leg, uri, owner, body, ringing,
                                                        extra_headers=extra_headers))] = leg
        winner: Leg | None = None
        best: Response | None = None
        waiting = set(attempts)
        while waiting and winner is None:
            done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                leg, final = attempts[task], task.result()
                if final is not None and final.status < 300:
                    if winner is None:
                        winner, best = leg, final
                    else:  # a second device answered at the same moment: hang it up
                        self._spawn(self._hang_up(leg))
                elif winner is None and _rank(final) >= _rank(best):
                    best = final
        if waiting:  # the others stop ringing; one that answers all the same is hung up
            for task in waiting:
                self._spawn(self._cancel(attempts[task]))
            self._spawn(self._hang_up_late({task: attempts[task] for task in waiting}))
        return winner, best

    async def _hang_up_late(self, attempts: dict[asyncio.Task[Response | None], Leg]) -> None:
        for task, leg in attempts.items():
            final = await task
            if final is not None and final.status < 300:
                await self._hang_up(leg)

    async def _invite(self, leg: Leg, uri: str, owner: Leg, body: bytes,
                      ringing: Callable[[Response], None] | None, *, challenge: Response | None = None,
                      dest: Destination | None = None, extra_headers: Sequence[tuple[str, str]] = ()) -> Response | None:
        call_id, tag = new_dialog_ids()
        if challenge is not None and leg.invite is not None:  # answer the trunk's challenge: same Call-ID
            call_id, tag = leg.invite.call_id, leg.invite.from_().tag or tag
        caller = owner.call.caller or "anonymous"
        headers = [("max-forwards", "70"), ("from", f"<sip:{caller}@{self.host}>;tag={tag}"), ("to", f"<{uri}>"),
                   ("call-id", call_id), ("cseq", "1 INVITE"), ("contact", self.contact),
                   ("allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY"), ("supported", "replaces")]
        if challenge is not None and leg.invite is not None and dest is not None:
            headers[4] = ("cseq", f"{leg.invite.cseq().number + 1} INVITE")
            headers.append(_authorization(challenge, uri, dest))
        # a value that could end its header line early is dropped, never sent
        headers += [(name.lower(), value) for name, value in extra_headers if not _LINE_BREAK.search(value)]
        if body:
            headers.append(("content-type", "application/sdp"))
        invite = leg.invite = Request("INVITE", uri, headers, body)
        leg.dtls_client = leg.transport in BROWSER_TRANSPORTS and b"a=setup:active" in body
        if leg not in owner.call.legs:
            owner.call.legs.append(leg)
        self.pending[(call_id, tag)] = leg
        try:
            final = await asyncio.wait_for(self.stack.request(invite, leg.dest, on_provisional=ringing,
                                                              transport=leg.transport),
                                           self.ring_timeout)
        except TimeoutError:
            final = None
            with contextlib.suppress(OSError, SipParseError):
                await self.stack.cancel(invite, leg.dest)
        except OSError as exc:  # a TCP or TLS device that cannot be reached
            log.warning("could not reach %s: %s", uri, exc, extra={"call_id": owner.call.id})
            final = None
        finally:
            self.pending.pop((call_id, tag), None)
        leg.status = final.status if final is not None else 408
        leg.transport = via_transport(invite)  # the stack may have moved a large INVITE to TCP
        leg.ended = leg.status >= 300
        log.info("call leg answered" if final is not None and final.status < 300 else "call leg failed",
                 extra={"call_id": owner.call.id, "uri": uri, "dest": f"{leg.dest[0]}:{leg.dest[1]}",
                        "status": final.status if final is not None else "timeout"})
        if final is not None and final.status < 300:
            leg.dialog = Dialog.as_uac(invite, final, self.contact)
            leg.sdp = final.body
            if body:  # else the 2xx holds the offer: the ACK carries the answer, later (`_rejoin`)
                leg.ack = self.stack.send_ack(invite, final, leg.dest)
            else:
                leg.awaiting_ack = final
            self.legs[(call_id, tag)] = leg
        return final

    def _relay_ringing(self, invite: Request, a: Leg, resp: Response) -> None:
        if resp.status not in (180, 183) or a.ended or a.dialog is None or a.peer is not None:
            return
        ring = invite.response(180, to_tag=a.dialog.local_tag)
        ring.add("contact", self.contact)
        if wants_reliable_provisionals(invite):
            if a.reliable is not None:
                return  # one reliable provisional at a time (RFC 3262 3): it already rings
            a.rseq += 1
            a.reliable = ReliableProvisional(ring, a.rseq, self.stack.now())
            self._spawn(self._retransmit_reliable(invite, a, a.reliable))
        self.stack.respond_to(invite, ring)

    async def _retransmit_reliable(self, invite: Request, a: Leg, reliable: ReliableProvisional) -> None:
        while reliable.deadline is not None and a.reliable is reliable:
            await asyncio.sleep(max(0.0, reliable.deadline - self.stack.now()))
            again = reliable.expire(self.stack.now())
            if again is not None and a.reliable is reliable:
                self.stack.respond_to(invite, again)

    def _prack(self, leg: Leg, req: Request) -> Response:
        rack = req.get("rack")
        if leg.reliable is None or rack is None:
            return req.response(481)
        try:
            return req.response(200 if leg.reliable.prack(rack) else 481)
        except SipParseError:
            return req.response(400)

    def _session_timer(self, leg: Leg, resp: Response) -> None:
        """Confirm `leg`'s session interval in `resp` and (re)arm its expiry (RFC 4028)."""
        if leg.timer is None:
            return
        resp.add("session-expires", leg.timer.header)
        resp.add("require", "timer")
        if leg.expiry is not None:
            leg.expiry.cancel()
        loop = asyncio.get_running_loop()
        leg.expiry = loop.call_at(loop.time() + leg.timer.expiry(0.0), self._session_expired, leg)

    def _session_expired(self, leg: Leg) -> None:
        """No refresh came in time: the party is gone; end the call on both sides (RFC 4028 10)."""
        log.warning("session timer expired", extra={"call_id": leg.call.id})
        peer = leg.peer
        self._spawn(self._hang_up(leg))
        if peer is not None:
            self._spawn(self._hang_up(peer))

    # --- requests inside a call ---
    def owns(self, req: Request) -> bool:
        return (req.call_id, req.to().tag or "") in self.legs

    def on_dialog_request(self, req: Request) -> Response | None:
        """A request inside one of our dialogs; the answer now, or None when it comes later."""
        leg = self.legs[(req.call_id, req.to().tag or "")]
        assert leg.dialog is not None
        refused = leg.dialog.accept_request(req)
        if refused is not None:
            return req.response(refused)
        handler = {"BYE": self._bye, "INVITE": self._reinvite, "INFO": self._info, "REFER": self._refer,
                   "NOTIFY": self._notify, "OPTIONS": self._ok, "UPDATE": self._update,
                   "PRACK": self._prack}.get(req.method)
        if handler is None:
            return req.response(405)
        return handler(leg, req)

    def _ok(self, leg: Leg, req: Request) -> Response:
        return req.response(200)

    def _update(self, leg: Leg, req: Request) -> Response:
        """An UPDATE without a body refreshes the session timer (RFC 4028); with one it is refused for
        now (491 makes the peer fall back to a re-INVITE)."""
        if req.body:
            return req.response(491)
        resp = req.response(200)
        self._session_timer(leg, resp)
        return resp

    def _notify(self, leg: Leg, req: Request) -> Response:
        return req.response(200)  # progress of a REFER tongdai sent (none yet) or unsolicited: accepted

    def _bye(self, leg: Leg, req: Request) -> Response:
        self._forget(leg)
        peer = leg.peer
        if peer is not None and not peer.ended:
            self._spawn(self._hang_up(peer))
        if not any(not x.ended for x in leg.call.legs):
            self._end(leg.call, f"{leg.role} hung up")
        return req.response(200)

    def _info(self, leg: Leg, req: Request) -> Response:
        peer = leg.peer
        if peer is not None and peer.dialog is not None and not peer.ended:
            info = peer.dialog.request("INFO", body=req.body, content_type=req.content_type())
            self._spawn(self._request(info, peer))
        return req.response(200)

    def _reinvite(self, leg: Leg, req: Request) -> Response | None:
        assert leg.dialog is not None
        peer = leg.peer
        if leg.dialog.peer_invite:
            resp = req.response(500)
            resp.add("retry-after", "1")
            return resp
        if leg.echo and req.body:
            leg.dialog.peer_invite = True
            self._spawn(self._echo(req, leg))
            return None
        if leg.dialog.pending_invite or peer is None or peer.dialog is None or peer.dialog.pending_invite:
            return req.response(491)  # glare: both sides re-INVITE at once (RFC 3261 14.2)
        leg.dialog.peer_invite = peer.dialog.pending_invite = True
        if req.body:
            leg.sdp = req.body
        self._spawn(self._relay_reinvite(leg, peer, req))
        return None

    async def _relay_reinvite(self, leg: Leg, peer: Leg, req: Request) -> None:
        assert leg.dialog is not None and peer.dialog is not None
        try:
            body = req.body
            if body:
                browser = _webrtc(leg.transport, peer.transport)
                body = (await leg.call.anchor.offer(leg.call.id, self._tag(leg), body.decode(), **browser)).encode()
                body = _dtls_client(body) if peer.dtls_client else body
            reinvite = peer.dialog.request("INVITE", body=body)
            final = await self._request(reinvite, peer)
            if final is None or final.status >= 300:
                status = 408 if final is None else final.status
                self.stack.respond_to(req, req.response(status))
                return
            peer.dialog.refresh_target(final)
            peer.ack = self._ack_in_dialog(peer, reinvite, b"")
            answer = final.body
            if answer:
                peer.sdp = answer
                answer = (await leg.call.anchor.answer(leg.call.id, self._tag(leg), self._tag(peer),
                                                       answer.decode(), **_webrtc(leg.transport, peer.transport))).encode()
                answer = _dtls_client(answer) if leg.dtls_client else answer
            ok = req.response(200)
            self._dialog_headers(ok, answer)
            self._session_timer(leg, ok)
            self.stack.respond_to(req, ok)
        finally:
            leg.dialog.peer_invite = peer.dialog.pending_invite = False

    # --- transfer ---
    def _refer(self, leg: Leg, req: Request) -> Response:
        """REFER from `leg` (the transferor): its peer goes to the Refer-To target (RFC 3515, 3891)."""
        refer_to = req.get("refer-to")
        if refer_to is None or req.count("refer-to") != 1:
            return req.response(400)
        if leg.peer is None and (leg.call.answered is not None or leg.role == "caller"):
            return req.response(603)  # nobody to transfer (an answered call whose other party left)
        try:
            target = parse_name_addr(refer_to)
        except SipParseError:
            return req.response(400)
        replaces = _replaces(str(target.uri))
        if replaces is not None:
            other = self._leg_by_dialog(*replaces)
            if other is None or other.peer is None:
                return req.response(481)
            self._spawn(self._when_joined(leg, self._attended(leg, req, other)))
        else:
            user = target.uri.user_unescaped or ""
            queue = self.queue_of(user, leg.call.tenant_id) if self.queue_of is not None else None
            if queue and leg.peer is not None and self.to_queue is not None:
                self._spawn(self._when_joined(leg, self._blind_to_queue(leg, req, queue)))
                return req.response(202)
            dest = self.resolve(user, leg.call.tenant_id)
            if dest is None:
                return req.response(404)
            self._spawn(self._when_joined(leg, self._blind(leg, req, dest)))
        return req.response(202)

    async def _when_joined(self, leg: Leg, transfer: Coroutine[object, object, None]) -> None:
        """Run `transfer` once `leg` is joined to its peer: a phone may REFER the moment it answered,
        while tongdai is still answering the caller."""
        deadline = time.monotonic() + 10
        while leg.peer is None and not leg.ended and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if leg.peer is None or leg.peer.ended:
            transfer.close()
            await self._notify_refer(leg, 603, "Decline", done=True)
            return
        await transfer

    async def _blind(self, transferor: Leg, refer: Request, dest: Destination) -> None:
        """Connect the transferor's peer to a new leg towards `dest` (late offer, RFC 3725 flow I)."""
        assert transferor.peer is not None
        transferee = transferor.peer
        await self._notify_refer(transferor, 100, "Trying")
        early = await self._browser_offer(transferee, dest)
        new, final = await self._originate(transferor, dest, early[0] if early else b"",
                                           extra_headers=transferee.call.pop_headers)
        if new is None or final is None:
            status = final.status if final is not None else 408
            await self._notify_refer(transferor, status, final.reason if final is not None else "Request Timeout",
                                     done=True)
            return
        if early:
            ok = await self._join_offered(transferee, new, early[1])
        else:
            ok = await self._rejoin(transferee, new, final.body)
        await self._notify_refer(transferor, 200 if ok else 488, "OK" if ok else "Not Acceptable Here", done=True)
        if ok:
            self._detach(transferor)
            transferee.call.transferred = True
            self.on_event(CallTransferred(tenant_id=transferee.call.tenant_id, at=time.time(),
                                          call_id=transferee.call.id, transferee=transferee.label,
                                          target=dest.label, attended=False))

    async def _browser_offer(self, transferee: Leg, dest: Destination) -> tuple[bytes, str] | None:
        """For a plain party transferred to a browser: rtpengine's offer for the browser, made from the
        transferee's media under a fresh rtpengine tag, and that tag. A late offer (the browser's own)
        does not work there: rtpengine's answer back to the browser lacks rtcp-mux, which the browser
        requires; and re-offering from the transferee's tag re-uses the side that faced the transferor
        (its ICE and DTLS), which a new browser cannot take (rtpengine refuses the ICE restart). Under
        a fresh tag rtpengine makes two new sides; the transferee moves to its new one in a re-INVITE.
        None when the late offer serves (no browser among `dest`'s devices, a browser transferee, no anchor)."""
        browser = _webrtc(transferee.transport, _dest_transport(dest))
        if not browser or _dest_transport(dest) not in BROWSER_TRANSPORTS or transferee.call.anchor is PASSTHROUGH:
            return None
        tag = f"{self._tag(transferee)}-{new_tag()}"
        offer = await transferee.call.anchor.offer(transferee.call.id, tag, transferee.sdp.decode(), **browser)
        return _dtls_client(offer.encode()), tag

    async def _join_offered(self, transferee: Leg, new: Leg, tag: str) -> bool:
        """Join `transferee` with `new`, which answered rtpengine's offer made under `tag`: the anchored
        answer goes to the transferee in a re-INVITE (its media moves to rtpengine's new side)."""
        assert transferee.dialog is not None and new.dialog is not None
        new.media_tag = f"{tag}-peer"
        answer = (await transferee.call.anchor.answer(
            transferee.call.id, tag, new.media_tag, new.sdp.decode(),
            **_webrtc(transferee.transport, new.transport))).encode()
        reinvite = transferee.dialog.request("INVITE", body=answer)
        final = await self._request(reinvite, transferee)
        if final is None or final.status >= 300:
            await self._hang_up(new)
            return False
        transferee.media_tag = tag
        transferee.dialog.refresh_target(final)
        transferee.ack = self._ack_in_dialog(transferee, reinvite, b"")
        transferee.local_sdp = answer
        if final.body:
            transferee.sdp = final.body
        transferee.peer, new.peer = new, transferee
        return True

    async def _blind_to_queue(self, transferor: Leg, refer: Request, queue: str) -> None:
        """The transferor's peer goes to a queue (its number was the Refer-To): the inbound calls take it."""
        assert transferor.peer is not None and self.to_queue is not None
        transferee = transferor.peer
        await self._notify_refer(transferor, 100, "Trying")
        ok = await self.to_queue(transferee, queue)
        await self._notify_refer(transferor, 200 if ok else 488, "OK" if ok else "Not Acceptable Here", done=True)
        if ok:
            transferee.peer = None
            self._detach(transferor)
            transferee.call.transferred = True
            self.on_event(CallTransferred(tenant_id=transferee.call.tenant_id, at=time.time(),
                                          call_id=transferee.call.id, transferee=transferee.label,
                                          target=queue, attended=False))

    async def _attended(self, transferor: Leg, refer: Request, other: Leg) -> None:
        """Join the transferor's peer with the party of the transferor's other call (REFER with Replaces)."""
        assert transferor.peer is not None and other.peer is not None
        transferee, target = transferor.peer, other.peer
        await self._notify_refer(transferor, 100, "Trying")
        if _browser_joins_plain(transferee, target):
            ok = await self._reoffer_browser(transferee, target)
        else:
            offer = await self._offerless_reinvite(target)
            ok = offer is not None and await self._rejoin(transferee, target, offer)
        await self._notify_refer(transferor, 200 if ok else 488, "OK" if ok else "Not Acceptable Here", done=True)
        if ok:
            self._detach(transferor)
            self._detach(other)
            transferee.call.transferred = True
            self.on_event(CallTransferred(tenant_id=transferee.call.tenant_id, at=time.time(),
                                          call_id=transferee.call.id, transferee=transferee.label,
                                          target=target.label, attended=True))

    async def _reoffer_browser(self, transferee: Leg, target: Leg) -> bool:
        """Attended transfer of a plain party to a browser already in a call (the consulted agent):
        as for a blind transfer to a browser (`_browser_offer`), rtpengine offers to the browser from
        the transferee's media under a fresh tag, here in a re-INVITE of the browser's dialog. The
        browser's new side is in another rtpengine call than its old one, with the same certificate:
        the offer's fingerprint is made with another hash so that the browser sees it change and starts
        a new DTLS session (Chromium keeps the old one, and the new side gets no keys, otherwise)."""
        if target.call is not transferee.call:  # the browser joins the transferee's call (and its media)
            target.call.legs.remove(target)
            target.call = transferee.call
            transferee.call.legs.append(target)
        tag = f"{self._tag(transferee)}-{new_tag()}"
        talking = _DIRECTION.sub(b"a=sendrecv", transferee.sdp)  # its last SDP answered the consult's hold
        offer = await transferee.call.anchor.offer(transferee.call.id, tag, talking.decode(), webrtc=True,
                                                   dtls_hash=_other_dtls_hash(target.local_sdp))
        if await self.reinvite(target, _same_mid(_dtls_client(offer.encode()), target.sdp)) is None:
            return False
        return await self._join_offered(transferee, target, tag)

    async def _offerless_reinvite(self, leg: Leg) -> bytes | None:
        """A re-INVITE without SDP: the 2xx carries the party's offer (answered in the ACK later)."""
        assert leg.dialog is not None
        reinvite = leg.invite = leg.dialog.request("INVITE")
        final = await self._request(reinvite, leg)
        if final is None or final.status >= 300 or not final.body:
            if final is not None and final.status < 300:
                leg.ack = self._ack_in_dialog(leg, reinvite, b"")
            return None
        leg.awaiting_ack = final
        return final.body

    async def _rejoin(self, a: Leg, b: Leg, b_offer: bytes) -> bool:
        """Make `a` and `b` talk (RFC 3725 flow I): `b`'s 2xx holds an offer; re-INVITE `a` with it,
        then ACK `b` with `a`'s answer."""
        assert a.dialog is not None and b.dialog is not None and b.invite is not None
        if b.call is not a.call:  # `b` joins `a`'s call (and its media session)
            b.call.legs.remove(b)
            b.call = a.call
            a.call.legs.append(b)
        browser = _webrtc(a.transport, b.transport)
        offer = (await a.call.anchor.offer(a.call.id, self._tag(b), b_offer.decode(), **browser)).encode()
        if a.transport in BROWSER_TRANSPORTS and browser:  # a new party for this browser: rtpengine offers to it
            a.dtls_client = True
            offer = _dtls_client(offer)
        reinvite = a.dialog.request("INVITE", body=offer)
        final = await self._request(reinvite, a)
        if final is None or final.status >= 300 or not final.body:
            b.ack = self._ack_in_dialog(b, b.invite, b"")
            await self._hang_up(b)
            return False
        a.dialog.refresh_target(final)
        a.ack = self._ack_in_dialog(a, reinvite, b"")
        a.sdp, b.sdp = final.body, b_offer
        answer = (await a.call.anchor.answer(a.call.id, self._tag(b), self._tag(a), final.body.decode(),
                                             **browser)).encode()
        b.ack = self._ack_in_dialog(b, b.invite, answer)
        b.awaiting_ack = None
        a.peer, b.peer = b, a
        return True

    def _ack_in_dialog(self, leg: Leg, invite: Request, body: bytes) -> Request:
        """The ACK of a 2xx to `invite` in `leg`'s dialog (with the answer when the 2xx held an offer)."""
        assert leg.dialog is not None
        ack = leg.dialog.request("ACK", body=body)
        leg.dialog.local_seq -= 1  # an ACK takes the INVITE's CSeq number
        ack.set("cseq", f"{invite.cseq().number} ACK")
        port = self.stack.local_port(leg.transport)
        ack.add("via", f"SIP/2.0/{leg.transport} {self.host}:{port};branch=z9hG4bK{new_tag()}", first=True)
        self.stack.send(ack, leg.dest)
        return ack

    async def _notify_refer(self, leg: Leg, status: int, reason: str, *, done: bool = False) -> None:
        if leg.dialog is None or leg.ended:
            return
        state = "terminated;reason=noresource" if done else "active;expires=60"
        notify = leg.dialog.request("NOTIFY", body=sipfrag(status, reason), content_type="message/sipfrag;version=2.0",
                                    extra=[("event", "refer"), ("subscription-state", state)])
        await self._request(notify, leg)

    def _detach(self, leg: Leg) -> None:
        """The transferor leaves: its leg ends without touching its old peer."""
        leg.peer = None
        if not leg.ended:
            self._spawn(self._hang_up(leg))

    # --- plumbing ---
    def on_cancel(self, invite: Request, now: float) -> None:
        """The caller cancelled its INVITE (the stack answered 487): cancel the ringing callee leg."""
        a = self.pending.get((invite.call_id, invite.from_().tag or ""))
        if a is None:
            return
        a.ended = True
        for leg in list(self.pending.values()):
            if leg.call is a.call and leg is not a and leg.invite is not None:
                self._spawn(self._cancel(leg))

    async def _cancel(self, leg: Leg) -> None:
        assert leg.invite is not None
        with contextlib.suppress(OSError, SipParseError):
            await self.stack.cancel(leg.invite, leg.dest)

    def on_stray_response(self, resp: Response, now: float) -> None:
        """A 2xx to our INVITE came again: our ACK was lost, send it again."""
        leg = self.legs.get((resp.call_id, resp.from_().tag or ""))
        if leg is not None and leg.ack is not None:
            self.stack.send(leg.ack, leg.dest)

    async def _hang_up(self, leg: Leg) -> None:
        if leg.ended or leg.dialog is None:
            return
        self._forget(leg)
        await self._request(leg.dialog.request("BYE"), leg)
        if not any(not x.ended for x in leg.call.legs):
            self._end(leg.call, "hung up")

    async def _request(self, req: Request, leg: Leg) -> Response | None:
        try:
            return await self.stack.request(req, leg.dest, transport=leg.transport)
        except TimeoutError:
            log.warning("no answer to %s", req.method, extra={"call_id": leg.call.id})
            return None
        except OSError as exc:  # a TCP or TLS peer that cannot be reached
            log.warning("could not reach the party: %s", exc, extra={"call_id": leg.call.id})
            return None

    def _forget(self, leg: Leg) -> None:
        leg.ended = True
        leg.reliable = None
        if leg.expiry is not None:
            leg.expiry.cancel()
        if leg.dialog is not None:
            self.legs.pop((leg.dialog.call_id, leg.dialog.local_tag), None)

    def _end(self, call: Call, cause: str) -> None:
        if call.ended is not None:
            return
        call.ended, call.cause = time.time(), cause
        self.calls.pop(call.id, None)
        self._spawn(call.anchor.delete(call.id))
        talk = call.ended - call.answered if call.answered else 0.0
        legs = tuple({"role": leg.role, "party": leg.label, "answered": 200 <= leg.status < 300, "status": leg.status}
                     for leg in call.legs)
        for hook in self.on_call_end:
            try:
                hook(call)
            except Exception:
                log.exception("call end hook failed", extra={"call_id": call.id})
        self.on_event(CallEnded(tenant_id=call.tenant_id, at=call.ended, call_id=call.id, kind=call.kind,
                                caller=call.caller, callee=call.callee, answered=call.answered is not None,
                                started_at=call.started, answered_at=call.answered,
                                ring_seconds=round((call.answered or call.ended) - call.started, 3),
                                talk_seconds=round(talk, 3), cause=cause, transferred=call.transferred, legs=legs,
                                queue=call.queue, agent=call.agent, wait_seconds=round(call.wait_s, 3)))

    def _leg_by_dialog(self, call_id: str, tag1: str, tag2: str) -> Leg | None:
        for (cid, local), leg in self.legs.items():
            if cid == call_id and leg.dialog is not None and {local, leg.dialog.remote_tag} == {tag1, tag2}:
                return leg
        return None

    def _tag(self, leg: Leg) -> str:
        if leg.media_tag:
            return leg.media_tag
        return leg.dialog.local_tag if leg.dialog is not None else ""

    def _dialog_headers(self, resp: Response, sdp: bytes) -> None:
        resp.add("contact", self.contact)
        resp.add("allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY")
        resp.add("supported", "replaces")
        if sdp:
            resp.add("content-type", "application/sdp")
            resp.body = sdp

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call task failed", exc_info=task.exception())


_DIRECTION = re.compile(rb"^a=(sendrecv|sendonly|recvonly|inactive)(?=\r?$)", re.M)
_MIRROR = {b"sendonly": b"recvonly", b"recvonly": b"sendonly", b"inactive": b"inactive", b"sendrecv": b"sendrecv"}


def _mirror_direction(offer: bytes, answer: bytes) -> bytes:
    """An answer whose direction mirrors the offer's (RFC 3264 6.1): a caller's hold (sendonly) gets
    recvonly, even where the media side answered sendrecv."""
    found = _DIRECTION.search(offer)
    wanted = _MIRROR[found.group(1)] if found else b"sendrecv"
    if _DIRECTION.search(answer):
        return _DIRECTION.sub(b"a=" + wanted, answer)
    return answer.rstrip(b"\r\n") + b"\r\na=" + wanted + b"\r\n"


def via_transport(req: Request) -> str:
    """The transport a request came over (its top Via): UDP, TCP or TLS."""
    try:
        return req.top_via().transport.upper()
    except SipParseError:
        return "UDP"


def uri_transport(uri: str) -> str:
    """The transport a URI asks for: `sips:` is TLS, else its `transport` parameter (udp, tcp, tls, ws,
    wss), else UDP."""
    low = uri.lower()
    if low.startswith("sips:"):
        return "TLS"
    match = re.search(r";transport=(udp|tcp|tls|wss|ws)\b", low.split("?", 1)[0])
    return match.group(1).upper() if match else "UDP"


#: transports of a browser (SIP over WebSocket): its media is WebRTC (ICE, DTLS-SRTP)
BROWSER_TRANSPORTS = frozenset({"WS", "WSS"})


class WebrtcOption(TypedDict, total=False):
    """The anchor's keyword for media between a browser and a plain party."""

    webrtc: bool


def _webrtc(a: str, b: str) -> WebrtcOption:
    """The anchor's `webrtc` option for media between parties reached over transports `a` and `b`:
    set when exactly one is a browser (the anchor reads which from the SDP); empty otherwise, so that
    anchors without the option (and calls without a browser) are untouched."""
    return {"webrtc": True} if (a in BROWSER_TRANSPORTS) != (b in BROWSER_TRANSPORTS) else {}


def _browser_joins_plain(transferee: Leg, target: Leg) -> bool:
    """A plain party (phone, trunk) transferred to a browser party of another call, through rtpengine."""
    return (target.transport in BROWSER_TRANSPORTS and transferee.transport not in BROWSER_TRANSPORTS
            and transferee.call.anchor is not PASSTHROUGH)


def _same_mid(offer: bytes, browser_sdp: bytes) -> bytes:
    """`offer` with the media id the browser's session already has (rtpengine generates its own, and
    a browser refuses a re-offer whose m-line changed its mid)."""
    mid = re.search(rb"^a=mid:(\S+)", browser_sdp, re.M)
    return re.sub(rb"^a=mid:\S+", b"a=mid:" + mid.group(1), offer, flags=re.M) if mid else offer


def _other_dtls_hash(sdp: bytes) -> str:
    """A fingerprint hash other than the one in `sdp` (what a browser was last told of its peer)."""
    return "sha-256" if re.search(rb"^a=fingerprint:sha-384 ", sdp, re.M) else "sha-384"


def _dtls_client(sdp: bytes) -> bytes:
    """An anchored SDP for a browser that rtpengine offered to first. rtpengine (10.5) offers
    `a=setup:actpass` yet starts as the DTLS client: a browser that answers `active` and starts its
    handshake before rtpengine has its answer (ICE completes while the 200 is on its way) meets another
    client and DTLS fails. So rtpengine says `active` from the first offer on, and keeps saying it in
    later answers (where it would write `passive`, a role change the browser refuses)."""
    return sdp.replace(b"a=setup:actpass", b"a=setup:active").replace(b"a=setup:passive", b"a=setup:active")


def _dest_transport(dest: Destination) -> str:
    """WS when a browser is among `dest`'s devices (one offer serves every device that rings)."""
    return "WS" if any(uri_transport(uri) in BROWSER_TRANSPORTS for uri, _ in dest.targets) else "UDP"


def _media_address(sdp: bytes) -> tuple[bytes, bytes]:
    """The connection address and audio port of an SDP (what a re-INVITE must tell when it changes)."""
    conn = re.search(rb"^c=IN IP[46] (\S+)", sdp, re.M)
    port = re.search(rb"^m=audio (\d+)", sdp, re.M)
    return (conn.group(1) if conn else b"", port.group(1) if port else b"")


def _rank(final: Response | None) -> int:
    """Which failure to report when every device failed (RFC 3261 16.7: a user's busy or decline
    beats a device that could not be reached)."""
    if final is None:
        return 0
    return 3 if final.status in (486, 600, 603) else 2 if final.status != 487 else 1


def _authorization(challenge: Response, uri: str, dest: Destination) -> tuple[str, str]:
    """The Authorization (401) or Proxy-Authorization (407) answering a trunk's challenge."""
    proxy = challenge.status == 407
    value = challenge.get("proxy-authenticate" if proxy else "www-authenticate") or ""
    creds = digest_answer(value, method="INVITE", uri=uri, username=dest.username, password=dest.password)
    return ("proxy-authorization" if proxy else "authorization", creds)


def _replaces(uri: str) -> tuple[str, str, str] | None:
    """The dialog named by a Refer-To URI's Replaces header (RFC 3891): (call-id, tag, tag)."""
    _, sep, headers = uri.partition("?")
    if not sep:
        return None
    for part in headers.split("&"):
        name, _, value = part.partition("=")
        if name.lower() == "replaces":
            text = unquote(value)
            call_id, _, rest = text.partition(";")
            params = parse_params(";" + rest) if rest else {}
            return call_id, params.get("to-tag") or "", params.get("from-tag") or ""
    return None

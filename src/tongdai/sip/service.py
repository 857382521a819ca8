"""The SIP service of `tongdai run`: the stack on the configured transports and the UA core that
answers what the platform offers today (OPTIONS, the 9196 echo-test number, dialog BYE)."""

from __future__ import annotations

import logging
import random

from tongdai.sip.errors import SipParseError
from tongdai.sip.message import Request, Response, new_tag
from tongdai.sip.sdp import answer_audio, parse_sdp
from tongdai.sip.settings import SipSettings
from tongdai.sip.stack import SipStack, Source

log = logging.getLogger(__name__)
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REGISTER"
#: Methods tongdai knows but does not accept on this endpoint (405); anything else is 501.
KNOWN_METHODS = frozenset({"SUBSCRIBE", "NOTIFY", "PUBLISH", "MESSAGE", "REFER", "PRACK", "UPDATE"})
ECHO_TEST = "9196"


class UaCore:
    """Answers requests outside the protocol layer; keeps the dialogs it accepted."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.dialogs: dict[tuple[str, str], str] = {}  # (call-id, local tag) -> remote tag
        self.port = 5060

    def on_request(self, req: Request, source: Source, now: float) -> Response | None:
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

    def on_unacknowledged(self, response: Response, now: float) -> None:
        tag = response.to().tag or ""
        self.dialogs.pop((response.call_id, tag), None)
        log.info("2xx never acknowledged; dialog dropped", extra={"call_id": response.call_id})

    def _options(self, req: Request) -> Response:
        resp = req.response(200, to_tag=new_tag() if req.to().tag is None else None)
        resp.add("allow", ALLOW)
        resp.add("accept", "application/sdp")
        resp.add("supported", "replaces, timer")
        return resp

    def _register(self, req: Request) -> Response:
        resp = req.response(401, to_tag=new_tag())
        nonce = "%032x" % random.getrandbits(128)
        resp.add("www-authenticate", f'Digest realm="tongdai", nonce="{nonce}", algorithm=MD5, qop="auth"')
        return resp

    def _invite(self, req: Request) -> Response:
        if req.to().tag is not None:  # re-INVITE
            if (req.call_id, req.to().tag) not in self.dialogs:
                return req.response(481)
            return self._answer(req, req.to().tag or "")
        user = req.request_uri().user_unescaped
        if user != ECHO_TEST:
            return req.response(404, to_tag=new_tag())
        tag = new_tag()
        resp = self._answer(req, tag)
        if resp.status == 200:
            self.dialogs[(req.call_id, tag)] = req.from_().tag or ""
        return resp

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

    def __init__(self, settings: SipSettings) -> None:
        self.settings = settings
        self.core = UaCore(settings.host)
        self.stack = SipStack(self.core, host=settings.host, max_message=settings.max_message_bytes)
        self._ready = False

    async def start(self) -> None:
        await self.stack.start(self.settings.udp_port or -1, self.settings.tcp_port or -1)
        self.core.port = self.stack.udp_port if self.stack.udp else self.stack.tcp_port
        self._ready = True
        log.info("SIP listening", extra={"udp": self.settings.udp_port, "tcp": self.settings.tcp_port, "host": self.settings.host})

    async def stop(self) -> None:
        self._ready = False
        await self.stack.stop()

    def ready(self) -> bool:
        return self._ready

"""Trunks: ordered gateways with failover (on 408, 5xx and timeouts), never after a user's answer
such as 486 Busy or 603 Decline; registration to a carrier with digest authentication."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from tongdai.sip.digest import answer as digest_answer
from tongdai.sip.errors import SipParseError
from tongdai.sip.message import Request, Response, new_tag
from tongdai.sip.settings import TrunkSettings
from tongdai.sip.stack import SipStack

log = logging.getLogger(__name__)
#: Answers that say the gateway, not the callee, failed: try the next gateway.
FAILOVER_STATUSES = frozenset({408, 480, 500, 502, 503, 504})


@dataclass(frozen=True)
class Gateway:
    host: str
    port: int = 5060


def should_fail_over(response: Response | None) -> bool:
    """None means the gateway never answered (Timer B)."""
    return response is None or response.status in FAILOVER_STATUSES


@dataclass
class OutboundTrunk:
    name: str
    gateways: list[Gateway]

    async def invite(self, stack: SipStack, make_invite: Callable[[Gateway], Request]) -> tuple[Response | None, Gateway | None]:
        """Offer the call to each gateway in order; the first answer that is not a gateway failure wins.
        Returns (final response, gateway); (None, None) when every gateway timed out."""
        last: tuple[Response | None, Gateway | None] = (None, None)
        for gw in self.gateways:
            try:
                resp: Response | None = await stack.request(make_invite(gw), (gw.host, gw.port))
            except TimeoutError:
                resp = None
            if not should_fail_over(resp):
                return resp, gw
            log.warning("gateway failed; trying the next", extra={"trunk": self.name, "gateway": f"{gw.host}:{gw.port}",
                                                                  "status": resp.status if resp else "timeout"})
            last = (resp, gw)
        return last


class TrunkRegistration:
    """Keeps tongdai registered at a carrier's first gateway (RFC 3261 10.2), answering its digest
    challenge, and renews the registration before it runs out; retries every 30 s after a failure."""

    RETRY_S = 30.0

    def __init__(self, stack: SipStack, trunk: TrunkSettings, local_port: int) -> None:
        self.stack, self.trunk = stack, trunk
        host, _, port = trunk.gateways[0].rpartition(":")
        self.gateway = Gateway(host or trunk.gateways[0], int(port) if host and port.isdigit() else 5060)
        self.local_port = local_port
        self.call_id = new_tag() + new_tag()
        self.tag = new_tag()
        self.cseq = 0
        self.registered_until = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def registered(self) -> bool:
        return self.registered_until > time.time()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            try:
                expires = await self.register()
            except (OSError, SipParseError) as exc:
                log.warning("trunk registration failed", extra={"trunk": self.trunk.name, "error": str(exc)})
                expires = 0
            await asyncio.sleep(expires * 0.8 if expires else self.RETRY_S)

    async def register(self) -> int:
        """One REGISTER (with a second, authenticated, after a challenge); the lifetime granted (0: refused)."""
        dest, transport = (self.gateway.host, self.gateway.port), self.trunk.transport.upper()
        resp = await self.stack.request(self._request(None), dest, transport=transport)
        if resp.status in (401, 407) and self.trunk.username:
            resp = await self.stack.request(self._request(resp), dest, transport=transport)
        if resp.status >= 300:
            log.warning("trunk registration refused", extra={"trunk": self.trunk.name, "status": resp.status})
            return 0
        expires = self._granted(resp)
        self.registered_until = time.time() + expires
        log.info("trunk registered", extra={"trunk": self.trunk.name, "expires": expires})
        return expires

    def _request(self, challenge: Response | None) -> Request:
        self.cseq += 1
        user = self.trunk.username or "tongdai"
        aor = f"sip:{user}@{self.gateway.host}"
        uri = f"sip:{self.gateway.host}:{self.gateway.port}"
        headers = [("max-forwards", "70"), ("from", f"<{aor}>;tag={self.tag}"), ("to", f"<{aor}>"),
                   ("call-id", self.call_id), ("cseq", f"{self.cseq} REGISTER"),
                   ("contact", self._contact(user)),
                   ("expires", str(self.trunk.register_expires))]
        if challenge is not None:
            proxy = challenge.status == 407
            value = challenge.get("proxy-authenticate" if proxy else "www-authenticate") or ""
            creds = digest_answer(value, method="REGISTER", uri=uri, username=self.trunk.username,
                                  password=self.trunk.password.get_secret_value())
            headers.append(("proxy-authorization" if proxy else "authorization", creds))
        return Request("REGISTER", uri, headers)

    def _contact_port(self) -> int:
        transport = self.trunk.transport
        return self.stack.local_port(transport.upper()) if transport != "udp" else self.local_port

    def _contact(self, user: str) -> str:
        param = "" if self.trunk.transport == "udp" else f";transport={self.trunk.transport}"
        return f"<sip:{user}@{self.stack.host}:{self._contact_port()}{param}>"

    def _granted(self, resp: Response) -> int:
        for contact in resp.contacts():
            if contact.uri.port == self._contact_port() and contact.params.get("expires"):
                return int(contact.params["expires"] or 0)
        value = resp.get("expires")
        return int(value) if value and value.strip().isdigit() else self.trunk.register_expires

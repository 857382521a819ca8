"""Outbound trunks: ordered gateways with failover (on 408, 5xx and timeouts), never after a
user's answer such as 486 Busy or 603 Decline."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from tongdai.sip.message import Request, Response
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

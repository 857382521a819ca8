"""SIP extensions a peer may require, sans-I/O: reliable provisional responses (RFC 3262, 100rel and
PRACK) and session timers (RFC 4028)."""

from __future__ import annotations

from dataclasses import dataclass

from tongdai.sip.errors import SipParseError
from tongdai.sip.message import Request, Response, split_commas
from tongdai.sip.transaction import T1

#: The smallest session interval tongdai accepts (RFC 4028 Min-SE, in seconds).
MIN_SE = 90


def extensions(msg: Request | Response, header: str) -> set[str]:
    """The option tags of every `Require` or `Supported` header (compact form `k` included)."""
    return {tag.strip().lower() for value in msg.get_all(header) for tag in split_commas(value) if tag.strip()}


def wants_reliable_provisionals(invite: Request) -> bool:
    """Does the caller require 100rel (RFC 3262 3)? tongdai then sends its ringing reliably."""
    return "100rel" in extensions(invite, "require")


class ReliableProvisional:
    """One reliable provisional response: retransmitted every T1, doubling, until its PRACK, for
    64*T1 at most (RFC 3262 3)."""

    __slots__ = ("response", "rseq", "cseq", "deadline", "give_up", "_interval", "acknowledged")

    def __init__(self, response: Response, rseq: int, now: float) -> None:
        response.add("require", "100rel")
        response.add("rseq", str(rseq))
        self.response, self.rseq, self.cseq = response, rseq, response.cseq().number
        self._interval = T1
        self.deadline: float | None = now + T1
        self.give_up = now + 64 * T1
        self.acknowledged = False

    def prack(self, rack: str) -> bool:
        """A PRACK arrived with this `RAck` (`rseq cseq method`); True when it acknowledges us."""
        parts = rack.split()
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            raise SipParseError(f"bad RAck {rack!r}")
        if (int(parts[0]), int(parts[1]), parts[2].upper()) != (self.rseq, self.cseq, "INVITE"):
            return False
        self.acknowledged = True
        self.deadline = None
        return True

    def expire(self, now: float) -> Response | None:
        """The response to send again, or None (acknowledged, or given up at 64*T1)."""
        if self.deadline is None or now < self.deadline:
            return None
        if now >= self.give_up:
            self.deadline = None
            return None
        self._interval *= 2
        self.deadline = min(now + self._interval, self.give_up)
        return self.response


@dataclass(frozen=True)
class SessionTimer:
    """A session interval agreed with one peer (RFC 4028): it refreshes; tongdai watches."""

    interval: int
    refresher: str  # "uac" or "uas"

    @property
    def header(self) -> str:
        return f"{self.interval};refresher={self.refresher}"

    def expiry(self, now: float) -> float:
        """When the session is over without a refresh (RFC 4028 10: interval minus a margin)."""
        return now + self.interval - min(32.0, self.interval / 3)


def session_timer(req: Request) -> tuple[SessionTimer | None, Response | None]:
    """The session timer a request asks for (None when it asks for none), or the 422 that refuses
    too short an interval. tongdai lets the peer refresh when it supports timers."""
    value = req.get("session-expires")
    if value is None:
        return None, None
    head = value.partition(";")[0]
    if not head.strip().isdigit():
        return None, req.response(400, "Bad Session-Expires")
    interval = int(head)
    if interval < MIN_SE:
        resp = req.response(422)
        resp.add("min-se", str(MIN_SE))
        return None, resp
    if "timer" not in extensions(req, "supported") | extensions(req, "require"):
        return None, None  # the peer cannot refresh: no timer rather than refreshes it cannot answer
    return SessionTimer(interval, "uac"), None

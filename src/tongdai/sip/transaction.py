"""Client and server transactions (RFC 3261 section 17), sans-I/O.

A transaction takes the request that created it, the responses the transaction user (TU) gives it,
retransmitted requests and timer expiries, each with `now`; it returns the messages to send and
keeps one deadline (`deadline`) for its owner to arm. It never reads a clock or touches a socket.

INVITE server transaction (17.2.1 as updated by RFC 6026): Proceeding -> (2xx: Accepted, absorbing
retransmitted INVITEs for Timer L = 64*T1 while the TU retransmits the 2xx) | (3xx-6xx: Completed,
Timer G retransmits, Timer H gives up, ACK -> Confirmed, Timer I -> Terminated).
Non-INVITE server transaction (17.2.2): Trying -> Proceeding (1xx) -> Completed (final, Timer J) ->
Terminated. Over reliable transports Timers G, I and J are zero.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from tongdai.sip.message import Request, Response

T1 = 0.5
T2 = 4.0
T4 = 5.0


class State(enum.Enum):
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    ACCEPTED = "accepted"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class TransactionKey(NamedTuple):
    """RFC 3261 17.2.3: branch + sent-by + method (ACK and CANCEL keyed by the INVITE's method).
    A named tuple: built and hashed in C, three times per call on the hot path."""

    branch: str
    sent_by: str
    method: str


def server_key(req: Request) -> TransactionKey:
    """The key that matches `req` to its server transaction, with the RFC 2543 fallback (17.2.3)."""
    via = req.top_via()
    method = "INVITE" if req.method == "ACK" else req.method
    branch = via.branch or ""
    if branch.startswith("z9hG4bK"):
        return TransactionKey(branch, via.sent_by.lower(), method)
    # RFC 2543 peer: no magic cookie. Match by Request-URI, tags, Call-ID, CSeq number and top Via.
    to_tag = req.to().tag or "" if req.method != "ACK" else ""
    from_tag = req.from_().tag or ""
    legacy = "|".join((req.uri, to_tag, from_tag, req.call_id, str(req.cseq().number), str(via)))
    return TransactionKey("2543:" + legacy, via.sent_by.lower(), method)


class ServerTransaction:
    """One server transaction; `receive`, `respond` and `expire` return the responses to (re)send."""

    __slots__ = ("key", "request", "method", "reliable", "state", "last_response", "deadline", "_g_interval",
                 "_h_deadline")

    def __init__(self, request: Request, reliable: bool, now: float, key: TransactionKey | None = None) -> None:
        self.key = key if key is not None else server_key(request)  # the stack passes the key it looked up
        #: the request, until the final response (then dropped: only the answer is needed to absorb
        #: retransmissions, and thousands of finished transactions wait for their timers)
        self.request: Request | None = request
        self.method = request.method
        self.reliable = reliable
        self.state = State.PROCEEDING if request.method == "INVITE" else State.TRYING
        self.last_response: Response | None = None
        self.deadline: float | None = None
        self._g_interval = T1
        self._h_deadline: float | None = None

    @property
    def is_invite(self) -> bool:
        return self.method == "INVITE"

    @property
    def terminated(self) -> bool:
        return self.state is State.TERMINATED

    def respond(self, response: Response, now: float) -> list[Response]:
        """The TU sends `response`; returns what to send now (nothing once the transaction is over)."""
        if self.state in (State.COMPLETED, State.CONFIRMED, State.TERMINATED):
            return []
        if self.state is State.ACCEPTED:  # RFC 6026: further 2xx pass straight through
            return [response] if 200 <= response.status < 300 else []
        self.last_response = response
        if response.status < 200:
            if self.state is State.TRYING:
                self.state = State.PROCEEDING
            return [response]
        self.request = None
        response._cache.clear()
        if self.is_invite:
            if response.status < 300:
                self.state = State.ACCEPTED  # Timer L
                self.deadline = now + 64 * T1
            else:
                self.state = State.COMPLETED
                self._h_deadline = now + 64 * T1
                self._g_interval = T1
                self.deadline = self._h_deadline if self.reliable else min(now + T1, self._h_deadline)
        else:
            self.state = State.COMPLETED
            self.deadline = now + (0.0 if self.reliable else 64 * T1)
        return [response]

    def receive(self, request: Request, now: float) -> list[Response]:
        """A request matching this transaction arrived: a retransmission, or the ACK of a non-2xx."""
        if request.method == "ACK":
            if self.is_invite and self.state is State.COMPLETED:
                self.state = State.CONFIRMED
                self.deadline = now + (0.0 if self.reliable else T4)
            return []
        if self.state in (State.PROCEEDING, State.COMPLETED, State.ACCEPTED) and self.last_response is not None:
            # in Accepted the INVITE retransmission is absorbed (never a new call); re-sending the 2xx at
            # once recovers a lost answer sooner than the TU's next retransmission
            return [self.last_response]
        return []

    def expire(self, now: float) -> list[Response]:
        """The deadline passed: Timer G retransmits; Timers H, I and J end the transaction."""
        if self.deadline is None or now < self.deadline:
            return []
        if self.state is State.COMPLETED and self.is_invite:
            assert self._h_deadline is not None
            if now >= self._h_deadline:  # Timer H: no ACK came
                self._end()
                return []
            self._g_interval = min(2 * self._g_interval, T2)
            self.deadline = min(now + self._g_interval, self._h_deadline)
            return [self.last_response] if self.last_response is not None else []
        self._end()  # Timer I (Confirmed), Timer L (Accepted) or Timer J (non-INVITE Completed)
        return []

    def _end(self) -> None:
        self.state = State.TERMINATED
        self.deadline = None


class InviteAnswer:
    """The UAS core's retransmission of a 2xx to INVITE until its ACK (RFC 3261 13.3.1.4):
    every T1, doubling up to T2, for 64*T1; then the call is given up."""

    __slots__ = ("response", "deadline", "give_up", "_interval", "acked")

    def __init__(self, response: Response, now: float) -> None:
        self.response = response
        self._interval = T1
        self.deadline: float | None = now + T1
        self.give_up = now + 64 * T1
        self.acked = False

    def ack(self) -> None:
        self.acked = True
        self.deadline = None

    def expire(self, now: float) -> tuple[list[Response], bool]:
        """(what to resend, whether the ACK never came and the dialog must be ended)."""
        if self.deadline is None or now < self.deadline:
            return [], False
        if now >= self.give_up:
            self.deadline = None
            return [], True
        self._interval = min(2 * self._interval, T2)
        self.deadline = min(now + self._interval, self.give_up)
        return [self.response], False


class ClientTransaction:
    """One client transaction (RFC 3261 17.1), sans-I/O.

    `start(now)` gives the request to send; `receive(response, now)` gives what to send back (the ACK
    of a non-2xx final for INVITE) and records the outcome; `expire(now)` retransmits (Timers A, E),
    times out (Timers B, F: `timed_out`) and ends the transaction (Timers D, K). Responses for the TU
    are collected in `responses`; a 2xx to INVITE ends the transaction at once (the TU ACKs it).
    """

    __slots__ = ("request", "reliable", "state", "deadline", "responses", "timed_out", "_interval", "_timeout_at")

    def __init__(self, request: Request, reliable: bool) -> None:
        self.request = request
        self.reliable = reliable
        self.state = State.TRYING  # "Calling" for INVITE
        self.deadline: float | None = None
        self.responses: list[Response] = []
        self.timed_out = False
        self._interval = T1
        self._timeout_at = 0.0

    @property
    def is_invite(self) -> bool:
        return self.request.method == "INVITE"

    @property
    def terminated(self) -> bool:
        return self.state is State.TERMINATED

    def start(self, now: float) -> list[Request]:
        self._timeout_at = now + 64 * T1  # Timer B (INVITE) or F (non-INVITE)
        self.deadline = self._timeout_at if self.reliable else min(now + T1, self._timeout_at)
        return [self.request]

    def receive(self, response: Response, now: float) -> list[Request]:
        if self.state is State.TERMINATED:
            return []
        if self.state is State.COMPLETED:
            return [self._ack(response)] if self.is_invite and response.status >= 300 else []  # retransmitted final
        self.responses.append(response)
        if response.status < 200:
            self.state = State.PROCEEDING
            if self.is_invite:
                self.deadline = self._timeout_at  # Timer A stops; Timer B keeps running
            elif not self.reliable:
                self._interval = T2  # Timer E continues at T2 in Proceeding
            return []
        if self.is_invite and response.status < 300:
            self._end()
            return []
        self.state = State.COMPLETED
        if self.is_invite:
            self.deadline = now + (0.0 if self.reliable else 32.0)  # Timer D
            return [self._ack(response)]
        self.deadline = now + (0.0 if self.reliable else T4)  # Timer K
        return []

    def expire(self, now: float) -> list[Request]:
        if self.deadline is None or now < self.deadline:
            return []
        if self.state is State.COMPLETED:
            self._end()
            return []
        if now >= self._timeout_at:
            self.timed_out = True
            self._end()
            return []
        if self.is_invite and self.state is State.PROCEEDING:
            return []
        if not self.is_invite and self.state is State.PROCEEDING:
            self._interval = T2
        else:
            self._interval = 2 * self._interval if self.is_invite else min(2 * self._interval, T2)
        self.deadline = min(now + self._interval, self._timeout_at)
        return [self.request]

    def _ack(self, response: Response) -> Request:
        """The ACK of a non-2xx final response (RFC 3261 17.1.1.3): same branch, the response's To."""
        headers = [(n, v) for n, v in self.request.headers if n in ("via", "from", "call-id", "route", "max-forwards")]
        headers = headers[:1] + [h for h in headers[1:] if h[0] != "via"]
        headers.append(("to", response.get("to") or ""))
        headers.append(("cseq", f"{self.request.cseq().number} ACK"))
        return Request("ACK", self.request.uri, headers)

    def _end(self) -> None:
        self.state = State.TERMINATED
        self.deadline = None

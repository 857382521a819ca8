"""A fleet of simulated agent phones on tongdai's own SIP stack, for load tests: each registers its
extension with digest authentication, rings and answers the calls it gets, talks for a while and
hangs up (or waits for the caller's BYE). It records when each agent was freed and when its phone
rang next, so a test can report how fast the ACD offers a freed agent the next call.

`tongdai agents-load` runs it from the command line (see docs/agents-and-phones.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tongdai.sip.dialog import Dialog
from tongdai.sip.digest import answer as digest_answer
from tongdai.sip.message import Request, Response, new_tag
from tongdai.sip.stack import Address, SipStack, Source

log = logging.getLogger(__name__)


@dataclass
class AgentStats:
    """What one simulated phone saw."""

    extension: str
    registered: bool = False
    rung: int = 0
    answered: int = 0
    hung_up: int = 0
    freed_at: float | None = None  # when its last call ended
    #: seconds from being freed to the next ring (the ACD's reaction, as the agent feels it)
    free_to_ring: list[float] = field(default_factory=list)
    busy: bool = False


class AgentFleet:
    """Simulated phones for extensions `extensions`, all on one UDP socket (told apart by the user
    part of their contact URIs)."""

    def __init__(self, server: Address, extensions: list[str], password_of: Callable[[str], str], *,
                 ring_s: float = 0.5, talk_s: float | None = 5.0, host: str = "127.0.0.1") -> None:
        self.server = server
        self.password_of = password_of
        self.ring_s, self.talk_s = ring_s, talk_s
        self.stack = SipStack(self, host=host)
        self.agents = {ext: AgentStats(ext) for ext in extensions}
        self.dialogs: dict[tuple[str, str], tuple[str, Dialog]] = {}  # (call-id, our tag) -> (extension, dialog)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, port: int = 0) -> None:
        await self.stack.start(udp_port=port, tcp_port=-1)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.stack.stop()

    async def register_all(self, expires: int = 600, concurrency: int = 50) -> int:
        """Register every extension; the number that succeeded."""
        gate = asyncio.Semaphore(concurrency)

        async def one(ext: str) -> None:
            async with gate:
                try:
                    self.agents[ext].registered = await self.register(ext, expires) == 200
                except TimeoutError:
                    log.warning("no answer to REGISTER", extra={"extension": ext, "server": self.server})

        await asyncio.gather(*(one(ext) for ext in self.agents))
        return sum(a.registered for a in self.agents.values())

    async def register(self, ext: str, expires: int = 600) -> int:
        """REGISTER one extension (answering the digest challenge); the final status."""
        call_id, tag = new_tag() + new_tag(), new_tag()
        uri = f"sip:{self.server[0]}:{self.server[1]}"
        auth: tuple[str, str] | None = None
        resp: Response | None = None
        for cseq in (1, 2):
            headers = [("from", f"<sip:{ext}@{self.server[0]}>;tag={tag}"), ("to", f"<sip:{ext}@{self.server[0]}>"),
                       ("call-id", call_id), ("cseq", f"{cseq} REGISTER"), ("max-forwards", "70"),
                       ("contact", f"<sip:{ext}@{self.stack.host}:{self.stack.udp_port}>;expires={expires}")]
            if auth is not None:
                headers.append(auth)
            resp = await self.stack.request(Request("REGISTER", uri, headers), self.server)
            if resp.status != 401:
                return resp.status
            creds = digest_answer(resp.get("www-authenticate") or "", method="REGISTER", uri=uri, username=ext,
                                  password=self.password_of(ext))
            auth = ("authorization", creds)
        return resp.status if resp is not None else 0

    # --- the stack's handler ---
    def on_request(self, req: Request, source: Source, now: float) -> Response | None:
        if req.method == "INVITE" and req.to().tag is None:
            return self._ring(req, source)
        entry = self.dialogs.get((req.call_id, req.to().tag or ""))
        if req.method == "BYE":
            if entry is None:
                return req.response(481)
            self._freed(entry[0], (req.call_id, req.to().tag or ""))
            return req.response(200)
        if entry is None:
            return req.response(481)
        return req.response(200)  # re-INVITE refreshes, INFO, OPTIONS, UPDATE inside a call

    def on_ack(self, req: Request, now: float) -> None:
        return None

    def on_unacknowledged(self, response: Response, now: float) -> None:
        entry = self.dialogs.get((response.call_id, response.to().tag or ""))
        if entry is not None:
            self._freed(entry[0], (response.call_id, response.to().tag or ""))

    def _ring(self, req: Request, source: Source) -> Response | None:
        ext = req.request_uri().user_unescaped or ""
        agent = self.agents.get(ext)
        if agent is None:
            return req.response(404)
        if agent.busy:
            return req.response(486)
        agent.busy = True
        agent.rung += 1
        if agent.freed_at is not None:
            agent.free_to_ring.append(time.monotonic() - agent.freed_at)
        tag = new_tag()
        self._spawn(self._answer(req, source, ext, tag))
        ringing = req.response(180, to_tag=tag)
        ringing.add("contact", self._contact(ext))
        return ringing

    async def _answer(self, invite: Request, source: Source, ext: str, tag: str) -> None:
        await asyncio.sleep(self.ring_s)
        ok = invite.response(200, to_tag=tag)
        ok.add("contact", self._contact(ext))
        if invite.body:
            ok.add("content-type", "application/sdp")
            ok.body = _answer_sdp(self.stack.host)
        if not self.stack.respond_to(invite, ok):
            self.agents[ext].busy = False  # the caller cancelled while it rang
            return
        self.agents[ext].answered += 1
        key = (invite.call_id, tag)
        dialog = Dialog.as_uas(invite, tag, self._contact(ext))
        self.dialogs[key] = (ext, dialog)
        if self.talk_s is not None:
            await asyncio.sleep(self.talk_s)
            if key in self.dialogs:
                self._freed(ext, key)
                try:
                    await self.stack.request(dialog.request("BYE"), source.addr)
                except TimeoutError:
                    log.warning("no answer to the agent's BYE", extra={"extension": ext})

    def _freed(self, ext: str, key: tuple[str, str]) -> None:
        self.dialogs.pop(key, None)
        agent = self.agents[ext]
        agent.busy = False
        agent.hung_up += 1
        agent.freed_at = time.monotonic()

    def _contact(self, ext: str) -> str:
        return f"<sip:{ext}@{self.stack.host}:{self.stack.udp_port}>"

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def summary(self) -> dict[str, float]:
        """Totals and the free-to-ring distribution (seconds) over every agent."""
        delays = sorted(d for a in self.agents.values() for d in a.free_to_ring)

        def pct(p: float) -> float:
            return round(delays[min(len(delays) - 1, int(p * len(delays)))], 4) if delays else 0.0

        return {"agents": len(self.agents), "registered": sum(a.registered for a in self.agents.values()),
                "rung": sum(a.rung for a in self.agents.values()),
                "answered": sum(a.answered for a in self.agents.values()),
                "free_to_ring_p50_s": pct(0.5), "free_to_ring_p99_s": pct(0.99)}


def _answer_sdp(host: str) -> bytes:
    """A G.711 answer; the simulated phone sends no media (signalling load only)."""
    return (f"v=0\r\no=agent 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
            f"m=audio 9 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
            f"a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n").encode()

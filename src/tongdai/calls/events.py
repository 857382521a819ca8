"""Events of call control."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from tongdai.core.events import Event

_STAFF = frozenset({"tenant_admin", "supervisor", "reporting_viewer", "quality_analyst", "workforce_planner"})


@dataclasses.dataclass(frozen=True, kw_only=True)
class CallAnswered(Event):
    """The called party answered and the two legs are joined."""

    name: ClassVar[str] = "call.answered"
    audience: ClassVar[frozenset[str] | None] = _STAFF
    call_id: str
    caller: str
    callee: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class CallTransferred(Event):
    """A party of the call was transferred (blind, or attended with Replaces)."""

    name: ClassVar[str] = "call.transferred"
    audience: ClassVar[frozenset[str] | None] = _STAFF
    call_id: str
    transferee: str
    target: str
    attended: bool


@dataclasses.dataclass(frozen=True, kw_only=True)
class CallEnded(Event):
    """The call is over: its CDR (times in seconds since the epoch, durations in seconds) and its legs
    (`role`, `party`, `answered`, `status`: the final SIP status of each leg's INVITE)."""

    name: ClassVar[str] = "call.ended"
    audience: ClassVar[frozenset[str] | None] = _STAFF
    call_id: str
    kind: str
    caller: str
    callee: str
    answered: bool
    started_at: float
    answered_at: float | None
    ring_seconds: float
    talk_seconds: float
    cause: str
    transferred: bool = False
    legs: tuple[dict[str, object], ...] = ()
    queue: str = ""
    agent: str = ""
    wait_seconds: float = 0.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class AgentCallChanged(Event):
    """A queued call as the agents it is offered to see it, for a desktop whose agent answers on a desk
    phone (the browser softphone reads the same facts from the INVITE's `X-Tongdai-*` headers).
    `phase`: `offered` (ringing `user_ids`), `withdrawn` (no longer ringing them), `answered` (the one
    agent in `user_ids` took it), `ended` (that agent's conversation is over: wrap-up)."""

    name: ClassVar[str] = "agent.call"
    audience: ClassVar[frozenset[str] | None] = _STAFF | {"agent"}
    phase: str
    call_id: str
    task_id: str
    queue: str
    caller: str
    user_ids: tuple[str, ...] = ()
    ivr_path: str = ""
    digits: str = ""
    customer_id: str = ""
    recording: str = ""

    def visible_to(self, role: str, tenant_id: str | None, subject_id: str) -> bool:
        """Staff of the tenant, and the agents the call concerns."""
        if role == "agent":
            return self.tenant_id == tenant_id and subject_id in self.user_ids
        return super().visible_to(role, tenant_id, subject_id)

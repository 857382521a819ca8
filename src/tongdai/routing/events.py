"""Events the routing engine returns (and the routing service publishes on the bus)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from tongdai.core.events import Event
from tongdai.iam.roles import Role

_STAFF = frozenset({Role.TENANT_ADMIN, Role.SUPERVISOR, Role.REPORTING_VIEWER, Role.WORKFORCE_PLANNER})


@dataclasses.dataclass(frozen=True, kw_only=True)
class RoutingEvent(Event):
    """Base of routing events."""

    name: ClassVar[str] = "routing.event"
    audience: ClassVar[frozenset[str] | None] = _STAFF
    task_id: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class TaskQueued(RoutingEvent):
    """A task entered a queue (at a workflow step) and waits for an agent."""

    name: ClassVar[str] = "task.queued"
    queue_id: str
    step: int
    priority: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class TaskReserved(RoutingEvent):
    """A task was offered to one agent (or several for ring-all) until `expires_at`; agents see only their own."""

    name: ClassVar[str] = "task.reserved"
    audience: ClassVar[frozenset[str] | None] = _STAFF | {Role.AGENT}
    reservation_id: str
    worker_ids: tuple[str, ...]
    queue_id: str
    expires_at: float
    user_ids: tuple[str, ...] = ()
    """The offered agents' user accounts (who may see the offer)."""

    def visible_to(self, role: str, tenant_id: str | None, subject_id: str) -> bool:
        """Staff of the tenant, and the agents offered the task."""
        if role == Role.AGENT:
            return self.tenant_id == tenant_id and subject_id in self.user_ids
        return role == Role.PROVIDER_ADMIN or (role in _STAFF and self.tenant_id == tenant_id)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TaskAssigned(RoutingEvent):
    """An agent accepted the offer: the task is theirs."""

    name: ClassVar[str] = "task.assigned"
    audience: ClassVar[frozenset[str] | None] = _STAFF | {Role.AGENT}
    reservation_id: str
    worker_id: str
    queue_id: str
    wait_s: float
    user_id: str | None = None
    """The agent's user account: that agent sees the event."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReservationRejected(RoutingEvent):
    """An agent declined an offer; the task goes back to its queue."""

    name: ClassVar[str] = "reservation.rejected"
    reservation_id: str
    worker_id: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReservationTimedOut(RoutingEvent):
    """Nobody accepted an offer in time; the task goes back to its queue."""

    name: ClassVar[str] = "reservation.timed_out"
    reservation_id: str
    worker_ids: tuple[str, ...]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReservationCanceled(RoutingEvent):
    """An offer was withdrawn (another agent answered a ring-all, or the task ended)."""

    name: ClassVar[str] = "reservation.canceled"
    reservation_id: str
    worker_ids: tuple[str, ...]
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class TaskEscalated(RoutingEvent):
    """A task moved to the next target of its workflow (timeout, queue full, overflow, no one available)."""

    name: ClassVar[str] = "task.escalated"
    from_queue: str | None
    to_queue: str
    step: int
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class TaskLeftQueue(RoutingEvent):
    """A task left routing without an agent: maximum wait, queue full, no target; call control sends it
    to `destination` (voicemail, callback, disconnect)."""

    name: ClassVar[str] = "task.left_queue"
    queue_id: str | None
    reason: str
    destination: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class TaskWrapping(RoutingEvent):
    """The conversation ended; the agent is in wrap-up for this task."""

    name: ClassVar[str] = "task.wrapping"
    worker_id: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class TaskEnded(RoutingEvent):
    """A task reached a final state: completed, canceled or abandoned."""

    name: ClassVar[str] = "task.ended"
    state: str
    reason: str
    worker_id: str | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkerActivityChanged(RoutingEvent):
    """An agent's activity changed (available, not_ready, offline); `task_id` is the cause if any."""

    name: ClassVar[str] = "agent.activity_changed"
    audience: ClassVar[frozenset[str] | None] = _STAFF | {Role.AGENT}
    worker_id: str
    activity: str
    reason: str
    user_id: str | None = None
    """The agent's user account: that agent sees the event."""

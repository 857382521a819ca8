"""The nouns of routing: tasks, workers (agents), queues and reservations. Plain data, no I/O."""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import Any

from tongdai.routing.expressions import Expression, worker_expression
from tongdai.routing.strategies import Strategy


class TaskState(StrEnum):
    """pending -> reserved -> assigned -> wrapping -> completed, or canceled / abandoned."""

    PENDING = "pending"
    RESERVED = "reserved"
    ASSIGNED = "assigned"
    WRAPPING = "wrapping"
    COMPLETED = "completed"
    CANCELED = "canceled"
    ABANDONED = "abandoned"


#: States in which a task still holds (or waits for) an agent.
LIVE_STATES = frozenset({TaskState.PENDING, TaskState.RESERVED, TaskState.ASSIGNED, TaskState.WRAPPING})
#: States in which a task occupies a slot of an agent's capacity.
HOLDING_STATES = frozenset({TaskState.RESERVED, TaskState.ASSIGNED, TaskState.WRAPPING})


class Activity(StrEnum):
    """What an agent is doing; only `available` agents receive offers."""

    AVAILABLE = "available"
    NOT_READY = "not_ready"
    OFFLINE = "offline"


class ReservationState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    TIMED_OUT = "timed_out"
    CANCELED = "canceled"


VOICE = "voice"
CHANNELS = ("voice", "chat", "email", "sms", "callback")


@dataclasses.dataclass(eq=False)
class Task:
    """Something that waits for an agent: a call, chat, e-mail, SMS or callback."""

    id: str
    channel: str = VOICE
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    priority: int = 0
    created_at: float | None = None
    """When the contact started (None: when submitted); waiting time and fairness count from here."""
    timeout_s: float | None = None
    """Life limit: the task is canceled if not assigned within this time of its creation."""
    tenant_id: str | None = None

    # -- routing state (set by the engine)
    state: TaskState = TaskState.PENDING
    queue_id: str | None = None
    workflow_filter: str | None = None
    step: int = 0
    """Index of the current target in the matched filter's chain."""
    step_since: float = 0.0
    queued_at: float = 0.0
    worker_id: str | None = None
    reservation_id: str | None = None
    end_reason: str | None = None
    stamp: int = 0
    """Bumped whenever the task's place changes: invalidates old heap entries and timers."""
    waiting: bool = False
    """In a queue's waiting heap (pending, not reserved)."""
    narrowed: bool = False
    """The current target adds a worker expression (checked per candidate)."""
    preferred_until: float = 0.0
    excluded: dict[str, float] = dataclasses.field(default_factory=dict)
    """Workers who rejected it -> until when they are skipped."""
    offers: int = 0

    def context(self) -> dict[str, Any]:
        """The attributes expressions see as `task.*`."""
        return {**self.attributes, "priority": self.priority, "channel": self.channel}


@dataclasses.dataclass(eq=False)
class Worker:
    """An agent: attributes (skills with levels, languages, site, team), an activity, capacities."""

    id: str
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    capacity: dict[str, int] = dataclasses.field(default_factory=lambda: {VOICE: 1})
    """Per channel, e.g. {"voice": 1} or {"chat": 3, "email": 5}."""
    total_capacity: int = 1
    """Most tasks at once across channels."""
    activity: Activity = Activity.OFFLINE
    tenant_id: str | None = None
    user_id: str | None = None

    # -- runtime state (set by the engine)
    load: dict[str, int] = dataclasses.field(default_factory=dict)
    load_total: int = 0
    idle_since: float = 0.0
    activity_since: float = 0.0
    version: int = 0
    heap_version: int = -1
    """The version whose entries are in the queues' heaps (pushes are deferred while it is served)."""
    queues: list[str] = dataclasses.field(default_factory=list)
    tasks: set[str] = dataclasses.field(default_factory=set)

    def __post_init__(self) -> None:
        self.attributes.setdefault("id", self.id)

    def can_take(self, channel: str) -> bool:
        """Available, with a free slot on this channel and in total."""
        return (self.activity is Activity.AVAILABLE and self.load_total < self.total_capacity
                and self.load.get(channel, 0) < self.capacity.get(channel, 0))

    def routable(self) -> bool:
        """Available with at least one free slot on some channel."""
        if self.activity is not Activity.AVAILABLE or self.load_total >= self.total_capacity:
            return False
        return any(self.load.get(c, 0) < n for c, n in self.capacity.items())

    def occupancy(self) -> float:
        return self.load_total / self.total_capacity if self.total_capacity else 1.0

    def why_not(self, channel: str) -> str | None:
        """Reason code when it cannot take a task of this channel now ("state", "capacity")."""
        if self.activity is not Activity.AVAILABLE:
            return "state"
        if self.capacity.get(channel, 0) == 0:
            return "channel"
        if self.load_total >= self.total_capacity or self.load.get(channel, 0) >= self.capacity[channel]:
            return "capacity"
        return None


class LeaveTo(StrEnum):
    """Where a task goes when it leaves a queue after its maximum wait (call control acts on it)."""

    VOICEMAIL = "voicemail"
    CALLBACK = "callback"
    DISCONNECT = "disconnect"


@dataclasses.dataclass(eq=False)
class Queue:
    """Selects workers by a target expression and offers them tasks by a strategy."""

    id: str
    target: str = ""
    strategy: Strategy = Strategy.LONGEST_IDLE
    channels: tuple[str, ...] = ()
    """Channels served (empty: every channel)."""
    skill: str | None = None
    """Skill used by most/least skilled (default: the first `skills.X` of the target)."""
    service_level_s: float = 20.0
    service_level_target: float = 0.8
    max_size: int | None = None
    max_wait_s: float | None = None
    on_max_wait: str = LeaveTo.VOICEMAIL
    """voicemail, callback, disconnect, or "queue:<id>" to overflow."""
    offer_timeout_s: float = 20.0
    wrap_up_s: float = 0.0
    not_ready_on_miss: bool = True
    reject_retry_s: float = 10.0
    """How long a worker who rejected a task is skipped for it."""
    preferred_wait_s: float = 30.0
    """Preferred-agent strategy: how long only the task's preferred agent may take it."""
    preferred_attribute: str = "preferred_worker"
    fallback: Strategy = Strategy.LONGEST_IDLE
    weight_attribute: str = "weight"
    ring_all_max: int = 32
    priority: int = 0
    """Added to the priority of every task in this queue (queue weight in the cross-queue score)."""
    tenant_id: str | None = None
    expression: Expression = dataclasses.field(init=False, repr=False)
    weighted: bool = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.strategy = Strategy(self.strategy)
        self.weighted = self.strategy is Strategy.WEIGHTED_RANDOM
        self.fallback = Strategy(self.fallback)
        self.expression = worker_expression(self.target)
        if self.skill is None:
            self.skill = self.expression.first_skill()

    def serves(self, channel: str) -> bool:
        return not self.channels or channel in self.channels


@dataclasses.dataclass(eq=False)
class Reservation:
    """An offer of one task to one worker (or several for ring-all) that expires."""

    id: str
    task_id: str
    worker_ids: tuple[str, ...]
    created_at: float
    expires_at: float
    queue_id: str
    state: ReservationState = ReservationState.PENDING
    answered_by: str | None = None
    declined: set[str] = dataclasses.field(default_factory=set)

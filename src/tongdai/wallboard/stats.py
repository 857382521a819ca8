"""The supervisor wallboard's figures, kept live from routing and call events. Pure: events and `now` in,
snapshots and deltas out; no clock, no I/O.

Definitions (per queue, "today" is the tenant's local calendar day; counters reset at local midnight):
- waiting: contacts in the queue not yet answered (waiting for an agent or ringing one);
- longest wait: the oldest of those, counted from when the contact entered routing;
- offered today: contacts whose outcome in this queue fell today: answered + abandoned + left (maximum
  wait, queue full, no target);
- service level today: answered within the queue's threshold / offered today (None while nothing was
  offered); abandons count against it, whatever their wait;
- average speed of answer (ASA): mean wait of the contacts answered today;
- agents by state: the queue's members counted by their wallboard state.

An agent's wallboard state is the busiest of what they hold: talking (an assigned task) > wrap_up >
ringing (an offer) > their activity (available, not_ready, offline). Alerts: `service_level` when the
service level today is below the queue's target; `waiting_over_threshold` when a contact has waited
longer than the threshold (it will miss the service level if answered now).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from tongdai.calls.events import CallAnswered
from tongdai.core.events import Event
from tongdai.routing import events as rev

#: Agent states on the wallboard, busiest first.
AGENT_STATES = ("talking", "wrap_up", "ringing", "available", "not_ready", "offline")


@dataclasses.dataclass
class QueueStats:
    """One queue: its configuration, who waits, its members and today's counters."""

    id: str
    threshold_s: float = 20.0
    target_pct: float = 80.0
    waiting: dict[str, float] = dataclasses.field(default_factory=dict)
    """Waiting task id -> since when it waits."""
    members: set[str] = dataclasses.field(default_factory=set)
    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    left: int = 0
    wait_answered_s: float = 0.0

    def service_level(self) -> float | None:
        """Answered within the threshold / offered today, in percent (None while nothing was offered)."""
        return 100.0 * self.answered_within / self.offered if self.offered else None

    def asa(self) -> float | None:
        """Average speed of answer today, in seconds (None while nothing was answered)."""
        return self.wait_answered_s / self.answered if self.answered else None

    def reset_day(self) -> None:
        """Local midnight: today's counters start again (who waits now still waits)."""
        self.offered = self.answered = self.answered_within = self.abandoned = self.left = 0
        self.wait_answered_s = 0.0


@dataclasses.dataclass
class AgentStats:
    """One agent: who they are, their activity, what they hold, and since when they are in their state."""

    id: str
    name: str = ""
    extension: str = ""
    user_id: str | None = None
    skills: dict[str, Any] = dataclasses.field(default_factory=dict)
    activity: str = "offline"
    tasks: dict[str, str] = dataclasses.field(default_factory=dict)
    """Task id -> reserved | assigned | wrapping."""
    state: str = "offline"
    since: float = 0.0
    call: dict[str, Any] | None = None
    """The current call: call_id, caller, queue, since."""
    queues: set[str] = dataclasses.field(default_factory=set)

    def derived_state(self) -> str:
        """The busiest of what the agent holds, else their activity."""
        held = set(self.tasks.values())
        for task_state, shown in (("assigned", "talking"), ("wrapping", "wrap_up"), ("reserved", "ringing")):
            if task_state in held:
                return shown
        return self.activity


@dataclasses.dataclass
class TaskTrack:
    """A live task as the wallboard follows it."""

    id: str
    queue: str | None = None
    since: float = 0.0
    caller: str = ""
    answered: bool = False
    left: bool = False
    holders: set[str] = dataclasses.field(default_factory=set)
    """Agents holding it (offered, talking or wrapping up)."""


class Wallboard:
    """Live queue and agent figures of one tenant; `apply` events, then `take_delta` what changed."""

    def __init__(self, *, tz: tzinfo = UTC) -> None:
        self.tz = tz
        self.queues: dict[str, QueueStats] = {}
        self.agents: dict[str, AgentStats] = {}
        self.tasks: dict[str, TaskTrack] = {}
        self.day: date | None = None
        self.alerts: list[dict[str, Any]] = []
        self._dirty_queues: set[str] = set()
        self._dirty_agents: set[str] = set()
        self._removed_agents: set[str] = set()
        self._removed_queues: set[str] = set()
        self._alerts_dirty = False
        self.first_change_at: float | None = None
        """Time of the oldest event not yet in a delta (to measure the delay to the screens)."""
        self.created_at = 0.0
        """When the board started following events (outcomes before it come from `add_history`)."""

    # -- configuration

    def set_queue(self, queue_id: str, *, threshold_s: float, target_pct: float, members: Iterable[str],
                  now: float) -> None:
        """Add a queue or update its thresholds and members."""
        q = self.queues.get(queue_id)
        if q is None:
            q = self.queues[queue_id] = QueueStats(queue_id)
        q.threshold_s, q.target_pct = threshold_s, target_pct
        new = set(members)
        for wid in q.members ^ new:
            a = self.agents.get(wid)
            if a is not None:
                (a.queues.add if wid in new else a.queues.discard)(queue_id)
                self._touch_agent(wid, now)
        q.members = new
        self._touch_queue(queue_id, now)

    def remove_queue(self, queue_id: str, now: float) -> None:
        """A queue left the directory."""
        q = self.queues.pop(queue_id, None)
        if q is None:
            return
        for wid in q.members:
            if wid in self.agents:
                self.agents[wid].queues.discard(queue_id)
        self._removed_queues.add(queue_id)
        self._dirty_queues.discard(queue_id)
        self._mark(now)

    def set_agent(self, agent_id: str, *, name: str, extension: str, user_id: str | None,
                  skills: dict[str, Any], activity: str, since: float, now: float) -> None:
        """Add an agent or update who they are; the activity given is the engine's."""
        a = self.agents.get(agent_id)
        if a is None:
            a = self.agents[agent_id] = AgentStats(agent_id, state=activity, since=since)
            a.queues = {qid for qid, q in self.queues.items() if agent_id in q.members}
        a.name, a.extension, a.user_id, a.skills = name, extension, user_id, dict(skills)
        if a.activity != activity:
            a.activity = activity
        self._settle(a, since)
        self._touch_agent(agent_id, now)

    def remove_agent(self, agent_id: str, now: float) -> None:
        """An agent left routing."""
        a = self.agents.pop(agent_id, None)
        if a is None:
            return
        for qid in a.queues:
            if qid in self.queues:
                self.queues[qid].members.discard(agent_id)
                self._touch_queue(qid, now)
        self._removed_agents.add(agent_id)
        self._dirty_agents.discard(agent_id)

    def hold(self, agent_id: str, task_id: str, task_state: str, *, since: float, now: float) -> None:
        """At load time: an agent holds a task (reserved, assigned or wrapping) since `since`."""
        a = self.agents.get(agent_id)
        if a is None:
            return
        a.tasks[task_id] = task_state
        if task_id in self.tasks:
            self.tasks[task_id].holders.add(agent_id)
        if task_state == "assigned" and (a.call is None or a.call["call_id"] != task_id):
            t = self.tasks.get(task_id)
            a.call = {"call_id": task_id, "caller": t.caller if t else "", "queue": t.queue if t else None,
                      "since": since}
        self._settle(a, since)
        self._touch_agent(agent_id, now)

    def track(self, task_id: str, *, queue: str | None, since: float, caller: str, waiting: bool,
              now: float) -> None:
        """At load time (or when an event names a task first): a live task and whether it still waits."""
        t = self.tasks.get(task_id)
        if t is None:
            t = self.tasks[task_id] = TaskTrack(task_id, since=since)
        t.caller = caller or t.caller
        self._move(t, queue, now)
        if not waiting:
            self._unwait(t, now)

    def add_history(self, queue_id: str, outcome: str, wait_s: float, now: float) -> None:
        """An outcome of today from before the board existed: answered (with its wait), abandoned or left."""
        q = self.queues.get(queue_id)
        if q is None:
            return
        q.offered += 1
        if outcome == "answered":
            q.answered += 1
            q.answered_within += wait_s <= q.threshold_s
            q.wait_answered_s += wait_s
        elif outcome == "abandoned":
            q.abandoned += 1
        else:
            q.left += 1
        self._touch_queue(queue_id, now)

    # -- events

    def apply(self, event: Event, now: float, *, caller: str = "") -> None:
        """Fold one bus event into the figures; `caller` is the task's caller when the shell knows it."""
        self.roll(now)
        at = event.at or now
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event, at, caller)

    def _queued(self, e: rev.TaskQueued, at: float, caller: str) -> None:
        t = self.tasks.get(e.task_id)
        if t is None:
            t = self.tasks[e.task_id] = TaskTrack(e.task_id, since=at, caller=caller)
        t.caller = t.caller or caller
        self._move(t, e.queue_id, at)

    def _reserved(self, e: rev.TaskReserved, at: float, caller: str) -> None:
        for wid in e.worker_ids:
            self._agent_task(wid, e.task_id, "reserved", at)

    def _released(self, e: rev.RoutingEvent, at: float, caller: str) -> None:
        ids = getattr(e, "worker_ids", None) or (getattr(e, "worker_id", ""),)
        for wid in ids:
            a = self.agents.get(wid)
            if a is not None and a.tasks.get(e.task_id) == "reserved":
                del a.tasks[e.task_id]
                if e.task_id in self.tasks:
                    self.tasks[e.task_id].holders.discard(wid)
                self._settle(a, at)
                self._touch_agent(wid, at)

    def _assigned(self, e: rev.TaskAssigned, at: float, caller: str) -> None:
        t = self.tasks.get(e.task_id)
        if t is None:
            t = self.tasks[e.task_id] = TaskTrack(e.task_id, queue=e.queue_id, since=at - e.wait_s, caller=caller)
        self._unwait(t, at)
        q = self.queues.get(e.queue_id)
        # a restored assignment, or a call an agent transferred to another, was answered once already
        if q is not None and not t.answered and e.reservation_id not in ("restored", "transfer"):
            q.offered += 1
            q.answered += 1
            q.answered_within += e.wait_s <= q.threshold_s
            q.wait_answered_s += e.wait_s
            self._touch_queue(q.id, at)
        t.answered, t.queue = True, e.queue_id or t.queue
        a = self.agents.get(e.worker_id)
        if a is not None:
            a.call = {"call_id": e.task_id, "caller": t.caller or caller, "queue": t.queue, "since": at}
        self._agent_task(e.worker_id, e.task_id, "assigned", at)

    def _wrapping(self, e: rev.TaskWrapping, at: float, caller: str) -> None:
        a = self.agents.get(e.worker_id)
        if a is not None and a.call is not None and a.call["call_id"] == e.task_id:
            a.call = None
        self._agent_task(e.worker_id, e.task_id, "wrapping", at)

    def _left(self, e: rev.TaskLeftQueue, at: float, caller: str) -> None:
        t = self.tasks.get(e.task_id)
        if t is None or t.left or t.answered:
            return
        t.left = True
        q = self.queues.get(e.queue_id or t.queue or "")
        if q is not None:
            q.offered += 1
            q.left += 1
            self._touch_queue(q.id, at)

    def _ended(self, e: rev.TaskEnded, at: float, caller: str) -> None:
        t = self.tasks.pop(e.task_id, None)
        if t is not None:
            self._unwait(t, at)
            q = self.queues.get(t.queue or "")
            if q is not None and e.state == "abandoned" and not t.answered and not t.left:
                q.offered += 1
                q.abandoned += 1
                self._touch_queue(q.id, at)
        holders = t.holders if t is not None else {a.id for a in self.agents.values() if e.task_id in a.tasks}
        for wid in holders | ({e.worker_id} if e.worker_id else set()):
            a = self.agents.get(wid)
            if a is not None and a.tasks.pop(e.task_id, None) is not None:
                if a.call is not None and a.call["call_id"] == e.task_id:
                    a.call = None
                self._settle(a, at)
                self._touch_agent(a.id, at)

    def _activity(self, e: rev.WorkerActivityChanged, at: float, caller: str) -> None:
        a = self.agents.get(e.worker_id)
        if a is None or a.activity == e.activity:
            return
        a.activity = e.activity
        self._settle(a, at)
        self._touch_agent(a.id, at)

    def _answered(self, e: CallAnswered, at: float, caller: str) -> None:
        """A call answered: its caller fills in a current call that routing knew without one."""
        t = self.tasks.get(e.call_id)
        if t is not None and not t.caller:
            t.caller = e.caller
        for a in self.agents.values():
            if a.call is not None and a.call["call_id"] == e.call_id and not a.call["caller"]:
                a.call = {**a.call, "caller": e.caller}
                self._touch_agent(a.id, at)

    # -- time

    def roll(self, now: float) -> None:
        """Start a new day's counters when `now` is past the tenant's local midnight."""
        today = datetime.fromtimestamp(now, self.tz).date()
        if self.day == today:
            return
        if self.day is not None:
            for q in self.queues.values():
                q.reset_day()
                self._touch_queue(q.id, now)
        self.day = today

    def tick(self, now: float) -> None:
        """Time passed: the day may roll over, and waits may cross their queue's threshold."""
        self.roll(now)
        self._check_alerts(now)

    # -- output

    def queue_row(self, q: QueueStats, now: float) -> dict[str, Any]:
        """One queue as the wallboard shows it."""
        oldest = min(q.waiting.values(), default=None)
        counts = dict.fromkeys(AGENT_STATES, 0)
        for wid in q.members:
            a = self.agents.get(wid)
            if a is not None:
                counts[a.state] += 1
        sl = q.service_level()
        return {"id": q.id, "waiting": len(q.waiting), "longest_wait_s": now - oldest if oldest is not None else 0.0,
                "oldest_since": oldest, "offered": q.offered, "answered": q.answered,
                "answered_within": q.answered_within, "abandoned": q.abandoned, "left": q.left,
                "service_level_pct": round(sl, 2) if sl is not None else None,
                "asa_s": round(asa, 2) if (asa := q.asa()) is not None else None,
                "threshold_s": q.threshold_s, "target_pct": q.target_pct, "agents": counts,
                "members": len(q.members)}

    def agent_row(self, a: AgentStats, now: float) -> dict[str, Any]:
        """One agent as the wallboard shows it."""
        return {"id": a.id, "name": a.name, "extension": a.extension, "state": a.state, "activity": a.activity,
                "since": a.since, "in_state_s": max(0.0, now - a.since), "call": a.call,
                "queues": sorted(a.queues), "skills": a.skills}

    def snapshot(self, now: float) -> dict[str, Any]:
        """Everything, for a screen that just connected."""
        self._check_alerts(now)
        return {"type": "wallboard.snapshot", "server_time": now,
                "day": self.day.isoformat() if self.day else None,
                "queues": [self.queue_row(q, now) for q in sorted(self.queues.values(), key=lambda q: q.id)],
                "agents": [self.agent_row(a, now) for a in sorted(self.agents.values(), key=lambda a: (a.name, a.id))],
                "alerts": list(self.alerts)}

    def take_delta(self, now: float) -> dict[str, Any] | None:
        """What changed since the last delta (None: nothing); clears the change marks."""
        self._check_alerts(now)
        if not (self._dirty_queues or self._dirty_agents or self._removed_agents or self._removed_queues
                or self._alerts_dirty):
            return None
        delta: dict[str, Any] = {
            "type": "wallboard.delta", "server_time": now, "first_change_at": self.first_change_at,
            "queues": [self.queue_row(self.queues[q], now) for q in sorted(self._dirty_queues) if q in self.queues],
            "agents": [self.agent_row(self.agents[a], now) for a in sorted(self._dirty_agents) if a in self.agents],
        }
        if self._removed_agents:
            delta["removed_agents"] = sorted(self._removed_agents)
        if self._removed_queues:
            delta["removed_queues"] = sorted(self._removed_queues)
        if self._alerts_dirty:
            delta["alerts"] = list(self.alerts)
        self._dirty_queues.clear()
        self._dirty_agents.clear()
        self._removed_agents.clear()
        self._removed_queues.clear()
        self._alerts_dirty = False
        self.first_change_at = None
        return delta

    def pending(self) -> bool:
        """Something changed that no delta carried yet."""
        return self.first_change_at is not None

    # -- helpers

    def _check_alerts(self, now: float) -> None:
        alerts = [a for q in sorted(self.queues.values(), key=lambda q: q.id) for a in _queue_alerts(q, now)]
        if [(a["queue"], a["kind"]) for a in alerts] != [(a["queue"], a["kind"]) for a in self.alerts]:
            self._alerts_dirty = True
            self._mark(now)
        self.alerts = alerts

    def _move(self, t: TaskTrack, queue: str | None, at: float) -> None:
        """The task waits in `queue` now (escalation moves it; the wait keeps counting from its start)."""
        if t.queue != queue:
            self._unwait(t, at)
            t.queue = queue
        q = self.queues.get(queue or "")
        if q is not None and t.id not in q.waiting and not t.answered:
            q.waiting[t.id] = t.since
            self._touch_queue(q.id, at)

    def _unwait(self, t: TaskTrack, at: float) -> None:
        q = self.queues.get(t.queue or "")
        if q is not None and q.waiting.pop(t.id, None) is not None:
            self._touch_queue(q.id, at)

    def _agent_task(self, wid: str, task_id: str, task_state: str, at: float) -> None:
        a = self.agents.get(wid)
        if a is None:
            return
        a.tasks[task_id] = task_state
        if task_id in self.tasks:
            self.tasks[task_id].holders.add(wid)
        self._settle(a, at)
        self._touch_agent(wid, at)

    def _settle(self, a: AgentStats, at: float) -> None:
        """Recompute the agent's state; its timer restarts only when the state really changed."""
        state = a.derived_state()
        if state != a.state:
            a.state, a.since = state, at
            for qid in a.queues:
                self._touch_queue(qid, at)

    def _touch_queue(self, queue_id: str, at: float) -> None:
        self._dirty_queues.add(queue_id)
        self._mark(at)

    def _touch_agent(self, agent_id: str, at: float) -> None:
        self._dirty_agents.add(agent_id)
        self._mark(at)

    def _mark(self, at: float) -> None:
        if self.first_change_at is None or at < self.first_change_at:
            self.first_change_at = at


def _queue_alerts(q: QueueStats, now: float) -> list[dict[str, Any]]:
    """The alerts a queue raises now."""
    out: list[dict[str, Any]] = []
    sl = q.service_level()
    if sl is not None and sl < q.target_pct:
        out.append({"queue": q.id, "kind": "service_level", "service_level_pct": round(sl, 2),
                    "target_pct": q.target_pct})
    oldest = min(q.waiting.values(), default=None)
    if oldest is not None and now - oldest > q.threshold_s:
        out.append({"queue": q.id, "kind": "waiting_over_threshold", "longest_wait_s": round(now - oldest, 1),
                    "threshold_s": q.threshold_s})
    return out


_HANDLERS: dict[type[Event], Any] = {
    rev.TaskQueued: Wallboard._queued,
    rev.TaskReserved: Wallboard._reserved,
    rev.ReservationRejected: Wallboard._released,
    rev.ReservationTimedOut: Wallboard._released,
    rev.ReservationCanceled: Wallboard._released,
    rev.TaskAssigned: Wallboard._assigned,
    rev.TaskWrapping: Wallboard._wrapping,
    rev.TaskLeftQueue: Wallboard._left,
    rev.TaskEnded: Wallboard._ended,
    rev.WorkerActivityChanged: Wallboard._activity,
    CallAnswered: Wallboard._answered,
}
#: The event types the wallboard follows.
FOLLOWED = tuple(_HANDLERS)


def load_engine(board: Wallboard, engine: Any, now: float) -> None:
    """Fill the wallboard from a routing engine's live state (queues, agents, tasks), e.g. after a restart."""
    board.roll(now)
    for q in engine.queues.values():
        board.set_queue(q.id, threshold_s=q.service_level_s, target_pct=round(q.service_level_target * 100, 2),
                        members=engine.members(q.id), now=now)
    for w in engine.workers.values():
        attrs = w.attributes
        board.set_agent(w.id, name=str(attrs.get("name", w.id)), extension=str(attrs.get("extension", "")),
                        user_id=w.user_id, skills=dict(attrs.get("skills") or {}), activity=w.activity.value,
                        since=w.activity_since, now=now)
    for t in engine.tasks.values():
        since = t.created_at if t.created_at is not None else now
        board.track(t.id, queue=t.queue_id, since=since, caller=str(t.attributes.get("caller", "")),
                    waiting=t.state.value in ("pending", "reserved"), now=now)
        for wid, held in _holders(engine, t):
            board.hold(wid, t.id, held, since=t.step_since or since, now=now)


def _holders(engine: Any, t: Any) -> list[tuple[str, str]]:
    """(agent, reserved|assigned|wrapping) pairs for one live task."""
    if t.state.value == "reserved":
        r = engine.reservations.get(t.reservation_id or "")
        return [(w, "reserved") for w in (r.worker_ids if r else ()) if r and w not in r.declined]
    if t.state.value in ("assigned", "wrapping") and t.worker_id:
        return [(t.worker_id, t.state.value)]
    return []

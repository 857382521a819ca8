"""The asyncio shell of the wallboard: one pure `Wallboard` per tenant fed from the bus, and a fan-out of
coalesced deltas to supervisors' sockets (at most one update per `min_interval_s` per tenant, so each
socket sees at most ~10 a second, and any change leaves within that interval).

A socket never holds up the others: each has a one-slot mailbox. A delta that finds the slot still full
(the socket has not taken the previous one) turns the mailbox into "catch up": when the socket is ready
again it gets the deltas it missed merged into one frame (or a full snapshot if they are older than the
last `KEEP_DELTAS`), however many it missed. A send that takes longer than `send_timeout_s` closes the
socket."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tongdai.calls.models import QueueLogEntry
from tongdai.core.db import Database
from tongdai.core.events import Event, EventBus
from tongdai.directory.events import DirectoryChanged
from tongdai.iam.models import Tenant
from tongdai.routing.engine import Engine
from tongdai.routing.service import RoutingService
from tongdai.wallboard.stats import FOLLOWED, Wallboard, load_engine

log = logging.getLogger(__name__)
Clock = Callable[[], float]
KEEP_DELTAS = 50
"""Deltas kept per tenant (5 s at 10 a second) to catch lagging screens up without a full snapshot."""


class Client:
    """One connected screen: a one-slot mailbox the sender task drains."""

    def __init__(self, tenant_id: str, seq: int = 0) -> None:
        self.tenant_id = tenant_id
        self.pending: str | None = None
        self.pending_seq = 0
        self.resync = False
        self.seq = seq
        """The last flush whose changes the screen has been sent (a snapshot counts as the flush it follows)."""
        self.oldest_change: float | None = None
        """The earliest change the screen has not received (for the delay measured by the benchmark)."""
        self.wake = asyncio.Event()
        self.skipped = 0

    def offer(self, wire: str, first_change_at: float | None, seq: int = 0) -> None:
        """Hand over a delta; if the last one was not taken yet, mark the screen for a catch-up instead."""
        if self.pending is None and not self.resync:
            self.pending, self.pending_seq = wire, seq
        else:
            self.pending, self.resync = None, True
            self.skipped += 1
        if first_change_at is not None and (self.oldest_change is None or first_change_at < self.oldest_change):
            self.oldest_change = first_change_at
        self.wake.set()

    def take(self) -> tuple[str | None, bool, float | None]:
        """What to send now: (delta, resync, oldest change) and the mailbox is empty again."""
        out = (self.pending, self.resync, self.oldest_change)
        if self.pending is not None:
            self.seq = self.pending_seq
        self.pending, self.resync, self.oldest_change = None, False, None
        self.wake.clear()
        return out


class WallboardService:
    """Per-tenant wallboards kept from bus events and streamed to supervisors; a composition-root service."""

    name = "wallboard"

    def __init__(self, db: Database, bus: EventBus, routing: RoutingService, *, min_interval_s: float = 0.1,
                 send_timeout_s: float = 5.0, clock: Clock = time.time) -> None:
        self.db = db
        self.routing = routing
        self.min_interval_s = min_interval_s
        self.send_timeout_s = send_timeout_s
        self.clock = clock
        self.boards: dict[str, Wallboard] = {}
        self.clients: dict[str, set[Client]] = {}
        self.zones: dict[str, tzinfo] = {}
        self._last_flush: dict[str, float] = {}
        self._scheduled: set[str] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._history: set[str] = set()
        self._flushes: dict[str, int] = {}
        self._recent: dict[str, collections.deque[tuple[int, dict[str, Any]]]] = {}
        """Per tenant: the last deltas (flush number, delta), to catch a lagging screen up in one frame."""
        self._merged: dict[str, tuple[tuple[int, int], str]] = {}
        self._snapshots: dict[str, tuple[int, str]] = {}
        """Per tenant: (flush count, snapshot JSON without its first key): screens resyncing between the same
        two flushes share one snapshot instead of each costing a full one."""
        for cls in FOLLOWED:
            bus.subscribe(cls, self._on_event)
        bus.subscribe(DirectoryChanged, self._directory_changed)

    # -- lifecycle

    async def start(self) -> None:
        """Learn the tenants' time zones; boards for engines the routing service already built."""
        async with self.db.session() as session:
            for tid, zone in (await session.execute(select(Tenant.id, Tenant.timezone))).all():
                self.zones[tid] = _zone(zone)
            for tid in list(self.routing.engines):
                await self.board(session, tid)
        self._ensure_ticker()

    def _ensure_ticker(self) -> None:
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._tick_forever())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker

    def ready(self) -> bool:
        return self._ticker is not None and not self._ticker.done()

    # -- boards

    async def board(self, session: AsyncSession, tenant_id: str) -> Wallboard:
        """The tenant's wallboard, built from its routing engine (and today's queue log) on first use."""
        self._ensure_ticker()
        engine = await self.routing.engine(session, tenant_id)
        if tenant_id not in self.zones:
            zone = (await session.execute(select(Tenant.timezone).where(Tenant.id == tenant_id))).scalar()
            self.zones[tenant_id] = _zone(zone)
        b = self.boards.get(tenant_id) or self._new_board(tenant_id, engine)
        if tenant_id not in self._history:
            self._history.add(tenant_id)
            await self._load_history(session, tenant_id, b)
        return b

    def _new_board(self, tenant_id: str, engine: Engine) -> Wallboard:
        b = Wallboard(tz=self.zones.get(tenant_id, UTC))
        b.created_at = self.clock()
        load_engine(b, engine, b.created_at)
        self.boards[tenant_id] = b
        return b

    async def _load_history(self, session: AsyncSession, tenant_id: str, b: Wallboard) -> None:
        """Today's outcomes logged before the board existed (so a restart keeps the day's figures)."""
        created = datetime.fromtimestamp(b.created_at, UTC)
        midnight = datetime.fromtimestamp(b.created_at, b.tz).replace(
            hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
        rows = await session.execute(select(QueueLogEntry.queue, QueueLogEntry.event, QueueLogEntry.wait_s).where(
            QueueLogEntry.tenant_id == tenant_id, QueueLogEntry.at >= midnight.replace(tzinfo=None),
            QueueLogEntry.at < created.replace(tzinfo=None),
            QueueLogEntry.event.in_(("answered", "abandoned", "left"))))
        for queue, outcome, wait_s in rows.all():
            b.add_history(queue, outcome, wait_s or 0.0, self.clock())
        self._schedule(tenant_id)

    # -- events in

    def _on_event(self, event: Event) -> None:
        tenant_id = event.tenant_id
        if tenant_id is None:
            return
        engine = self.routing.engines.get(tenant_id)
        b = self.boards.get(tenant_id)
        if b is None:
            if engine is None:
                return
            b = self._new_board(tenant_id, engine)
        task_id = getattr(event, "task_id", "")
        task = engine.tasks.get(task_id) if engine is not None and task_id else None
        b.apply(event, self.clock(), caller=str(task.attributes.get("caller", "")) if task is not None else "")
        self._schedule(tenant_id)

    async def _directory_changed(self, event: DirectoryChanged) -> None:
        """Skills, queues or agents changed: the routing service has synced its engine; follow it."""
        b = self.boards.get(event.tenant_id or "")
        engine = self.routing.engines.get(event.tenant_id or "")
        if b is None or engine is None or event.resource not in ("agents", "queues", "skills"):
            return
        now = self.clock()
        for qid in [q for q in b.queues if q not in engine.queues]:
            b.remove_queue(qid, now)
        for aid in [a for a in b.agents if a not in engine.workers]:
            b.remove_agent(aid, now)
        load_engine(b, engine, now)
        self._schedule(event.tenant_id or "")

    # -- fan-out

    def attach(self, tenant_id: str) -> Client:
        """A screen connects; it is sent the snapshot by the caller (right away), then deltas."""
        c = Client(tenant_id, self._flushes.get(tenant_id, 0))
        self.clients.setdefault(tenant_id, set()).add(c)
        return c

    def detach(self, c: Client) -> None:
        self.clients.get(c.tenant_id, set()).discard(c)

    def _schedule(self, tenant_id: str) -> None:
        """Flush this tenant's changes now, or when its minimum interval since the last flush is over."""
        if tenant_id in self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._scheduled.add(tenant_id)
        delay = self._last_flush.get(tenant_id, 0.0) + self.min_interval_s - loop.time()
        loop.call_later(max(0.0, delay), self._flush, tenant_id)

    def _flush(self, tenant_id: str) -> None:
        self._scheduled.discard(tenant_id)
        self._last_flush[tenant_id] = asyncio.get_running_loop().time()
        b = self.boards.get(tenant_id)
        delta = b.take_delta(self.clock()) if b is not None else None
        if delta is None:
            return
        seq = self._flushes[tenant_id] = self._flushes.get(tenant_id, 0) + 1
        delta["seq"] = seq
        self._recent.setdefault(tenant_id, collections.deque(maxlen=KEEP_DELTAS)).append((seq, delta))
        clients = self.clients.get(tenant_id)
        if not clients:
            return
        wire = json.dumps(delta, ensure_ascii=False, separators=(",", ":"))
        for c in clients:
            c.offer(wire, delta["first_change_at"], seq)

    def catch_up_wire(self, c: Client, oldest_change: float | None) -> str | None:
        """One frame for a screen that missed deltas: the missed deltas merged (shared by every screen that
        missed the same ones), or a snapshot when they are no longer kept; None when nothing was missed."""
        recent = self._recent.get(c.tenant_id)
        current = self._flushes.get(c.tenant_id, 0)
        if current <= c.seq:
            return None
        if not recent or recent[0][0] > c.seq + 1:
            c.seq = current
            return self.snapshot_wire(c.tenant_id, oldest_change)
        cached = self._merged.get(c.tenant_id)
        if cached is None or cached[0] != (c.seq, current):
            merged = merge_deltas([d for n, d in recent if n > c.seq])
            cached = self._merged[c.tenant_id] = ((c.seq, current), json.dumps(
                merged, ensure_ascii=False, separators=(",", ":"))[1:])
        c.seq = current
        return f'{{"first_change_at":{json.dumps(oldest_change)},{cached[1]}'

    def snapshot_wire(self, tenant_id: str, oldest_change: float | None = None) -> str:
        """The full picture as one JSON frame (`first_change_at` first: the oldest change it catches up on)."""
        count = self._flushes.get(tenant_id, 0)  # a snapshot holds everything up to the next flush
        cached = self._snapshots.get(tenant_id)
        if cached is None or cached[0] != count:
            snap = self.boards[tenant_id].snapshot(self.clock())
            cached = self._snapshots[tenant_id] = (count, json.dumps(snap, ensure_ascii=False, separators=(",", ":"))[1:])
        return f'{{"first_change_at":{json.dumps(oldest_change)},{cached[1]}'

    async def _tick_forever(self) -> None:
        """Once a second: day roll-over and waits crossing thresholds (alerts that no event causes)."""
        while True:
            await asyncio.sleep(1.0)
            now = self.clock()
            for tid, b in list(self.boards.items()):
                try:
                    b.tick(now)
                except Exception:  # one tenant's board must not stop the others' clocks
                    log.exception("wallboard tick failed for tenant %s", tid)
                if b.pending():
                    self._schedule(tid)


def merge_deltas(deltas: list[dict[str, Any]]) -> dict[str, Any]:
    """Consecutive deltas as one: the latest row of each queue and agent, removals, the latest alerts."""
    queues: dict[str, Any] = {}
    agents: dict[str, Any] = {}
    removed: dict[str, set[str]] = {"removed_agents": set(), "removed_queues": set()}
    alerts: list[Any] | None = None
    for d in deltas:
        for rows, gone, key in ((queues, "removed_queues", "queues"), (agents, "removed_agents", "agents")):
            for row in d.get(key, ()):
                rows[row["id"]] = row
                removed[gone].discard(row["id"])
            for rid in d.get(gone, ()):
                rows.pop(rid, None)
                removed[gone].add(rid)
        alerts = d.get("alerts", alerts)
    last = deltas[-1]
    out: dict[str, Any] = {"type": "wallboard.delta", "server_time": last["server_time"], "seq": last["seq"],
                           "queues": list(queues.values()), "agents": list(agents.values())}
    out.update({k: sorted(v) for k, v in removed.items() if v})
    if alerts is not None:
        out["alerts"] = alerts
    return out


def _zone(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


__all__ = ["Client", "WallboardService"]

"""Every call with an outside party leaves an interaction in the timeline: the CallEnded event is matched
to a customer by the party's number (calls from unknown numbers are kept too, with no customer, so the
number's history exists). A service of the composition root."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError

from tongdai.calls.events import CallEnded
from tongdai.calls.records import disposition
from tongdai.core.db import Database
from tongdai.core.events import EventBus
from tongdai.crm import normalise
from tongdai.crm.models import Interaction
from tongdai.crm.service import as_naive_utc, customer_id_for_phone, region_of

log = logging.getLogger(__name__)

#: calls between the centre's own extensions and echo tests are not contacts with a customer
_NOT_CUSTOMER_CALLS = frozenset({"internal", "echo"})
_CONTEXT_KEPT = 10_000


def party(event: CallEnded) -> tuple[str, str]:
    """(direction, the outside party's number as signalled) of a call. A callback is tongdai calling the
    customer back, but its record keeps the customer as the calling party (the caller it once was)."""
    if event.kind == "outbound":
        return "outbound", event.callee
    return ("outbound" if event.kind == "callback" else "inbound"), event.caller


class InteractionRecorder:
    """Subscribes to CallEnded and writes one interaction per call, in a task of its own."""

    name = "crm-interactions"

    def __init__(self, db: Database, bus: EventBus) -> None:
        self.db, self.bus = db, bus
        self.written = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._context: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._unsubscribe: Callable[[], None] = lambda: None

    async def start(self) -> None:
        self._unsubscribe = self.bus.subscribe(CallEnded, self.call_ended)

    async def stop(self) -> None:
        self._unsubscribe()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    def ready(self) -> bool:
        return True

    def remember(self, call_id: str, *, ivr_path: list[str] | None = None, collected: dict[str, str] | None = None) -> None:
        """What the call flow learnt of a call (menu path, collected digits), written with its interaction."""
        ctx = self._context.setdefault(call_id, {})
        if ivr_path is not None:
            ctx["ivr_path"] = list(ivr_path)
        if collected is not None:
            ctx["collected"] = dict(collected)
        while len(self._context) > _CONTEXT_KEPT:  # calls that never ended are forgotten, oldest first
            self._context.popitem(last=False)

    def call_ended(self, event: CallEnded) -> None:
        """Bus handler: the publisher may hold a transaction, so the write runs in a task of its own (with
        SQLite, one writer waiting on another would wait out the busy timeout)."""
        if event.tenant_id is None or event.kind in _NOT_CUSTOMER_CALLS:
            return
        task = asyncio.get_running_loop().create_task(self._write(event))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("interaction not written", exc_info=task.exception())

    async def _write(self, event: CallEnded) -> None:
        tenant_id = str(event.tenant_id)
        direction, raw = party(event)
        ctx = self._context.pop(event.call_id, {})
        try:
            async with self.db.session() as session:
                number = normalise.phone(raw, await region_of(session, tenant_id))
                customer_id = await customer_id_for_phone(session, tenant_id, number) if number else None
                session.add(self._row(event, tenant_id, direction, number or raw[:128], customer_id, ctx))
        except IntegrityError:  # this call's interaction exists already (the event was seen twice)
            return
        self.written += 1

    @staticmethod
    def _row(event: CallEnded, tenant_id: str, direction: str, number: str, customer_id: str | None,
             ctx: dict[str, Any]) -> Interaction:
        return Interaction(
            tenant_id=tenant_id, customer_id=customer_id, channel="voice", direction=direction, number=number,
            call_id=event.call_id, queue=event.queue, agent=event.agent, started_at=as_naive_utc(event.started_at),
            ended_at=as_naive_utc(event.at), wait_s=event.wait_seconds, talk_s=event.talk_seconds,
            disposition=disposition(event), ivr_path=ctx.get("ivr_path", []), collected=ctx.get("collected", {}),
        )

"""In-process typed event bus: domains publish frozen dataclasses, others subscribe by type."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every domain event.

    `tenant_id` scopes the event (None: platform-wide, seen only by provider admins);
    `at` is the wall-clock time in seconds since the epoch.
    """

    tenant_id: str | None = None
    at: float = 0.0

    #: Name used on the wire (WebSocket, webhooks); subclasses set it, e.g. "agent.state_changed".
    name: ClassVar[str] = "event"
    #: Roles that may receive it on the event stream (None: every role of the tenant).
    audience: ClassVar[frozenset[str] | None] = None

    def visible_to(self, role: str, tenant_id: str | None, subject_id: str) -> bool:
        """May a caller with this role, tenant and id see this event?"""
        if role == "provider_admin":
            return True
        if self.tenant_id is None or self.tenant_id != tenant_id:
            return False
        if self.audience is not None and role not in self.audience:
            return False
        owner = getattr(self, "user_id", None)
        return role != "agent" or owner is None or owner == subject_id

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.name, **dataclasses.asdict(self)}


E = TypeVar("E", bound=Event)
Handler = Callable[[Any], Awaitable[None] | None]


class EventBus:
    """Delivers each published event to the handlers subscribed to its class or a base class.

    Handlers run in the publisher's task, in subscription order; a failing handler is logged and
    does not stop the others. Coroutine handlers are awaited.
    """

    def __init__(self) -> None:
        self._handlers: dict[type[Event], list[Handler]] = defaultdict(list)

    def subscribe(self, event_type: type[E], handler: Callable[[E], Awaitable[None] | None]) -> Callable[[], None]:
        self._handlers[event_type].append(handler)

        def unsubscribe() -> None:
            if handler in self._handlers[event_type]:
                self._handlers[event_type].remove(handler)

        return unsubscribe

    async def publish(self, event: Event) -> None:
        for cls in type(event).__mro__:
            if not (isinstance(cls, type) and issubclass(cls, Event)):
                continue
            for handler in list(self._handlers.get(cls, ())):
                try:
                    result = handler(event)
                    if asyncio.iscoroutine(result):
                        await result
                except Exception:
                    log.exception("event handler %r failed on %s", handler, event.name)

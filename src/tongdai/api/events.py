"""The WebSocket event stream at /api/v1/events: typed events filtered by tenant and role."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from tongdai.core.errors import TongdaiError
from tongdai.core.events import Event, EventBus
from tongdai.core.metrics import Metrics
from tongdai.iam.security import Principal, TokenIssuer

log = logging.getLogger(__name__)
QUEUE_LIMIT = 1000


class EventHub:
    """Fans bus events out to connected sockets; a socket that falls 1,000 events behind is closed."""

    def __init__(self, bus: EventBus, metrics: Metrics) -> None:
        self._clients: dict[int, tuple[Principal, frozenset[str] | None, asyncio.Queue[str | None]]] = {}
        self.metrics = metrics
        bus.subscribe(Event, self._on_event)

    def _on_event(self, event: Event) -> None:
        self.metrics.events_published.labels(event.name).inc()
        if not self._clients:
            return
        wire: str | None = None
        for key, (p, types, queue) in list(self._clients.items()):
            if types is not None and event.name not in types:
                continue
            if not event.visible_to(p.role, p.tenant_id, p.subject_id):
                continue
            wire = wire or json.dumps(event.to_dict(), default=str, ensure_ascii=False)
            try:
                queue.put_nowait(wire)
            except asyncio.QueueFull:
                log.warning("event stream client too slow; closing", extra={"subject": p.subject_id})
                self._clients.pop(key, None)
                queue._queue.clear()  # type: ignore[attr-defined]
                queue.put_nowait(None)

    def attach(self, p: Principal, types: frozenset[str] | None) -> tuple[int, asyncio.Queue[str | None]]:
        queue: asyncio.Queue[str | None] = asyncio.Queue(QUEUE_LIMIT)
        key = id(queue)
        self._clients[key] = (p, types, queue)
        self.metrics.ws_clients.set(len(self._clients))
        return key, queue

    def detach(self, key: int) -> None:
        self._clients.pop(key, None)
        self.metrics.ws_clients.set(len(self._clients))


def router(hub: EventHub, tokens: TokenIssuer) -> APIRouter:
    r = APIRouter()

    @r.websocket("/events")
    async def events(ws: WebSocket) -> None:
        """Stream events as JSON text frames. Authenticate with ?token=... or an Authorization header;
        ?types=a,b limits the event types."""
        token = ws.query_params.get("token") or ws.headers.get("authorization", "").removeprefix("Bearer ").strip()
        try:
            p = tokens.check(token)
        except TongdaiError as exc:
            await ws.accept()  # then close with a reason the browser can read
            await ws.close(code=4401, reason=exc.error_id)
            return
        raw = ws.query_params.get("types")
        types = frozenset(t for t in raw.split(",") if t) if raw else None
        await ws.accept()
        key, queue = hub.attach(p, types)
        await ws.send_text(json.dumps({"type": "stream.ready", "role": p.role, "tenant_id": p.tenant_id}))
        reader = asyncio.create_task(_drain(ws))
        try:
            while True:
                getter = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if reader in done:
                    getter.cancel()
                    break
                item = getter.result()
                if item is None:
                    await ws.close(code=1013, reason="too slow")
                    break
                await ws.send_text(item)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            hub.detach(key)
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader

    return r


async def _drain(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice when it goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return

"""A test client of the wallboard socket: keeps the picture up to date from the snapshot and deltas."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx


def token(base: str, login: tuple[str, str]) -> str:
    """An access token for a demo log-in."""
    r = httpx.post(base + "/api/v1/auth/token", data={"username": login[0], "password": login[1]})
    r.raise_for_status()
    return str(r.json()["access_token"])


class Board:
    """The wallboard as a screen sees it: queues and agents by id, alerts, and every frame received."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.queues: dict[str, dict[str, Any]] = {}
        self.agents: dict[str, dict[str, Any]] = {}
        self.alerts: list[dict[str, Any]] = []
        self.frames: list[tuple[float, dict[str, Any]]] = []

    def fold(self, msg: dict[str, Any]) -> None:
        """Apply one frame (a snapshot replaces everything, a delta replaces the rows it carries)."""
        if msg["type"] == "wallboard.snapshot":
            self.queues, self.agents = {}, {}
        for q in msg.get("queues", []):
            self.queues[q["id"]] = q
        for a in msg.get("agents", []):
            self.agents[a["id"]] = a
        for aid in msg.get("removed_agents", []):
            self.agents.pop(aid, None)
        for qid in msg.get("removed_queues", []):
            self.queues.pop(qid, None)
        if "alerts" in msg:
            self.alerts = msg["alerts"]

    async def recv(self, timeout: float) -> dict[str, Any] | None:
        try:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
        except TimeoutError:
            return None
        msg = json.loads(raw)
        self.frames.append((time.time(), msg))
        self.fold(msg)
        return msg

    async def until(self, check: Callable[[Board], bool], timeout: float = 5.0) -> float | None:
        """Seconds (wall clock) until `check` holds, reading frames; None if it did not within `timeout`."""
        start = time.time()
        deadline = start + timeout
        while not check(self):
            left = deadline - time.time()
            if left <= 0 or await self.recv(left) is None and not check(self):
                return None
        return time.time() - start

    def agent_by_extension(self, ext: str) -> dict[str, Any]:
        return next(a for a in self.agents.values() if a["extension"] == ext)

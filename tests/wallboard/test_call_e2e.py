"""A real call on the supervisor's screen: `tongdai run --demo`, a supervisor's wallboard socket, a SIPp
caller into the sales queue and agent 1002's phone (SIPp uas). The screen shows the caller waiting, the
agent talking with the caller's number, wrap-up, then the agent available again; each change arrives
within one second of when call control logged it (the queue log) and of the event itself."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import websockets

from tests.calls.sipp import SCENARIOS, free_udp_port, register, sipp_command
from tests.wallboard.wsclient import Board, token
from tongdai import demo

pytestmark = pytest.mark.e2e


def _admin(base: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(base, demo.ADMIN_LOGIN)}"}


def _setup(base: str, h: dict[str, str], tmp_path: Any) -> tuple[str, str]:
    """A number straight to sales, a 2 s wrap-up; agent 1002's id and a caller scenario that talks 2 s."""
    queues = httpx.get(base + "/api/v1/queues", headers=h).json()["items"]
    sales = next(q for q in queues if q["name"] == "sales")
    assert httpx.patch(f"{base}/api/v1/queues/{sales['id']}", json={"wrap_up_s": 2}, headers=h).status_code == 200
    r = httpx.post(base + "/api/v1/numbers", json={"e164": "1801", "description": "Wallboard line",
                                                   "queue_id": sales["id"]}, headers=h)
    assert r.status_code == 201, r.text
    agents = {a["extension"]: a["id"] for a in httpx.get(base + "/api/v1/agents", headers=h).json()["items"]}
    scenario = tmp_path / "uac_queue_talk.xml"
    scenario.write_text((SCENARIOS / "uac_queue.xml").read_text().replace(
        '<pause milliseconds="1000" />', '<pause milliseconds="2000" />'))
    return agents["1002"], str(scenario)


def _logged(base: str, h: dict[str, str], event: str) -> float | None:
    """When the queue log recorded `event` for the test's call (seconds since the epoch)."""
    items = httpx.get(base + "/api/v1/queue-log", params={"event": event}, headers=h).json()["items"]
    mine = [i for i in items if i["queue"] == "sales"]
    if not mine:
        return None
    return datetime.fromisoformat(mine[0]["at"]).replace(tzinfo=UTC).timestamp()


async def _watch(board: Board, agent_id: str, deadline: float) -> dict[str, tuple[float, float | None]]:
    """Read frames until the agent is available after wrap-up: per stage, (arrival, the frame's first change)."""
    seen: dict[str, tuple[float, float | None]] = {}
    stages = {
        "waiting": lambda b: b.queues["sales"]["waiting"] == 1,
        "talking": lambda b: b.agents[agent_id]["state"] == "talking" and b.queues["sales"]["waiting"] == 0,
        "wrap_up": lambda b: b.agents[agent_id]["state"] == "wrap_up",
        "available": lambda b: "wrap_up" in seen and b.agents[agent_id]["state"] == "available",
    }
    while len(seen) < len(stages) and time.time() < deadline:
        msg = await board.recv(deadline - time.time())
        if msg is None:
            break
        for name, check in stages.items():
            if name not in seen and check(board):
                seen[name] = (board.frames[-1][0], msg.get("first_change_at"))
                if name == "talking":
                    board.call = board.agents[agent_id]["call"]  # type: ignore[attr-defined]
    return seen


async def test_call_into_sales_shows_waiting_then_agent_talking_then_available_each_within_a_second(
        running, tmp_path):
    base = running.base
    h = _admin(base)
    agent_id, scenario = _setup(base, h, tmp_path)
    phone = free_udp_port()
    uas = await asyncio.create_subprocess_exec(
        *sipp_command("uas", running.sip_port, port=phone, calls=1, workdir=tmp_path), cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    await asyncio.sleep(0.3)
    assert register("1002", "sip-demo-1002", phone, running.sip_port) == 200
    r = httpx.post(base + "/api/v1/routing/agents/activity", headers=h,
                   json={"agent_id": agent_id, "activity": "available"})
    assert r.status_code == 200
    async with websockets.connect(f"{base.replace('http', 'ws')}/api/v1/wallboard?"
                                  f"token={token(base, demo.SUPERVISOR_LOGIN)}") as ws:
        board = Board(ws)
        await board.recv(5)
        assert await board.until(lambda b: b.agents[agent_id]["state"] == "available", timeout=3) is not None
        caller = await asyncio.create_subprocess_exec(
            *sipp_command(scenario, running.sip_port, port=free_udp_port(), calls=1, service="1801",
                          caller="0901234567", workdir=tmp_path), cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        seen = await _watch(board, agent_id, time.time() + 20)
        out, _ = await asyncio.wait_for(caller.communicate(), 20)
        await asyncio.wait_for(uas.communicate(), 20)
    assert caller.returncode == 0, out.decode()[-2000:]
    assert set(seen) == {"waiting", "talking", "wrap_up", "available"}, seen
    call = board.call  # type: ignore[attr-defined]
    assert call["queue"] == "sales" and "901234567" in call["caller"]
    # against the event each frame carries (the routing engine's time of the change)
    for stage in ("waiting", "talking", "wrap_up", "available"):
        arrived, changed = seen[stage]
        assert changed is not None and 0 <= arrived - changed < 1.0, (stage, arrived - changed)
    # against call control's own record of the same moments
    for stage, event in (("waiting", "entered"), ("talking", "answered"), ("wrap_up", "completed")):
        logged = _logged(base, h, event)
        assert logged is not None, event
        assert -0.2 < seen[stage][0] - logged < 1.0, (stage, seen[stage][0] - logged)
    assert seen["available"][0] - seen["wrap_up"][0] == pytest.approx(2.0, abs=0.6)  # the queue's wrap-up
    assert register("1002", "sip-demo-1002", phone, running.sip_port, expires=0) == 200

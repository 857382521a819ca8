"""On a real `tongdai run --demo`: routing events reach the WebSocket stream, each agent sees only their
own offer, staff see every offer."""

from __future__ import annotations

import asyncio
import json

import httpx
import websockets

from tongdai import demo

LAN = ("lan@demo.example", demo.AGENT_PASSWORD)
MINH = ("minh@demo.example", demo.AGENT_PASSWORD)


def _token(base: str, login: tuple[str, str]) -> str:
    r = httpx.post(base + "/api/v1/auth/token", data={"username": login[0], "password": login[1]})
    return str(r.json()["access_token"])


async def _events_until(ws, wanted: str, timeout: float = 5.0) -> list[dict]:
    """Events received until one of type `wanted` (bounded in time)."""
    got: list[dict] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        try:
            event = json.loads(await asyncio.wait_for(ws.recv(), deadline - asyncio.get_running_loop().time()))
        except TimeoutError:
            break
        got.append(event)
        if event["type"] == wanted:
            break
    return got


async def test_given_offer_then_offered_agent_and_supervisor_see_it_and_other_agent_does_not(running):
    base = running.base
    ws_base = base.replace("http://", "ws://")
    admin = {"Authorization": f"Bearer {_token(base, demo.ADMIN_LOGIN)}"}
    lan_tok, minh_tok, sup_tok = _token(base, LAN), _token(base, MINH), _token(base, demo.SUPERVISOR_LOGIN)
    agents = httpx.get(base + "/api/v1/agents", headers=admin).json()["items"]
    lan_id = next(a["id"] for a in agents if a["extension"] == "1001")
    async with websockets.connect(f"{ws_base}/api/v1/events?token={lan_tok}") as ws_lan, \
            websockets.connect(f"{ws_base}/api/v1/events?token={minh_tok}") as ws_minh, \
            websockets.connect(f"{ws_base}/api/v1/events?token={sup_tok}") as ws_sup:
        for ws in (ws_lan, ws_minh, ws_sup):
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "stream.ready"
        r = httpx.post(base + "/api/v1/routing/tasks", headers=admin,
                       json={"id": "ws-chat", "channel": "chat", "attributes": {"queue": "sales"}})
        assert r.status_code == 201, r.text
        r = httpx.post(base + "/api/v1/routing/agents/activity", headers={"Authorization": f"Bearer {lan_tok}"},
                       json={"agent_id": lan_id, "activity": "available"})
        assert r.status_code == 200, r.text
        lan_seen = await _events_until(ws_lan, "task.reserved")
        sup_seen = await _events_until(ws_sup, "task.reserved")
        minh_seen = await _events_until(ws_minh, "task.reserved", timeout=0.7)
    offer = [e for e in lan_seen if e["type"] == "task.reserved"]
    assert offer and offer[0]["task_id"] == "ws-chat" and offer[0]["worker_ids"] == [lan_id]
    assert [e["type"] for e in sup_seen][-1] == "task.reserved" and "task.queued" in [e["type"] for e in sup_seen]
    assert not [e for e in minh_seen if e["type"].startswith(("task.", "reservation.", "agent.activity"))]
    assert not [e for e in lan_seen if e["type"] == "task.queued"]  # staff only

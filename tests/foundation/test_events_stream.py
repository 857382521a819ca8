"""The WebSocket event stream: typed events, filtered by tenant and role, on a real server."""

from __future__ import annotations

import asyncio
import json

import httpx
import websockets

from tongdai import demo


def _token(base: str, login: tuple[str, str]) -> str:
    return str(httpx.post(base + "/api/v1/auth/token", data={"username": login[0], "password": login[1]}).json()["access_token"])


async def _next_event(ws, timeout: float = 5.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def test_given_supervisor_stream_when_agent_changed_then_event_arrives_other_tenant_sees_nothing(running):
    base = running.base
    ws_base = base.replace("http://", "ws://")
    admin = _token(base, demo.ADMIN_LOGIN)
    sup = _token(base, demo.SUPERVISOR_LOGIN)
    # a second tenant with its own admin
    op = _token(base, demo.PROVIDER_LOGIN)
    h_op = {"Authorization": f"Bearer {op}"}
    r = httpx.post(base + "/api/v1/tenants", headers=h_op, json={"slug": "acme-ws", "name": "Acme"})
    acme = r.json()["id"]
    httpx.post(base + "/api/v1/users", headers={**h_op, "X-Tenant-Id": acme},
               json={"email": "boss@acme-ws.example", "name": "Boss", "role": "tenant_admin", "password": "password123"})
    other = _token(base, ("boss@acme-ws.example", "password123"))

    async with websockets.connect(f"{ws_base}/api/v1/events?token={sup}") as ws_sup, \
            websockets.connect(f"{ws_base}/api/v1/events?token={other}") as ws_other:
        assert (await _next_event(ws_sup))["type"] == "stream.ready"
        assert (await _next_event(ws_other))["type"] == "stream.ready"
        h = {"Authorization": f"Bearer {admin}"}
        agent = httpx.get(base + "/api/v1/agents", headers=h, params={"extension": "1001"}).json()["items"][0]
        r = httpx.patch(base + f"/api/v1/agents/{agent['id']}", headers=h, json={"languages": ["vi", "en", "fr"]})
        assert r.status_code == 200
        event = await _next_event(ws_sup)
        assert event["type"] == "directory.changed"
        assert event["resource"] == "agents" and event["object_id"] == agent["id"] and event["op"] == "updated"
        try:
            leaked = await asyncio.wait_for(ws_other.recv(), 0.5)
        except TimeoutError:
            leaked = None
        assert leaked is None


async def test_given_bad_token_then_socket_closed_with_4401(running):
    ws_base = running.base.replace("http://", "ws://")
    async with websockets.connect(f"{ws_base}/api/v1/events?token=garbage") as ws:
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 4401
        else:
            raise AssertionError("socket stayed open")

"""GET /api/v1/softphone: an agent gets their own SIP account for the browser phone; a user who is no
agent gets 404 no_softphone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.foundation.conftest import Api, make_api
from tongdai import demo


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    a = await make_api(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", tmp_path)
    try:
        yield a
    finally:
        await a.client.aclose()
        await a.app.stop()


async def test_given_agent_logged_in_then_softphone_gives_its_own_extension_and_digest_account(api: Api) -> None:
    r = await api.client.get("/api/v1/softphone", headers=await api.headers(("fang@demo.example", demo.AGENT_PASSWORD)))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["extension"], body["sip_uri"], body["sip_password"], body["ws_path"]) == \
        ("1004", "sip:1004@demo", "sip-demo-1004", "/sip")
    assert body["name"] == "Wang Fang" and body["agent_id"]
    me = (await api.client.get("/api/v1/auth/me", headers=await api.headers(("fang@demo.example", demo.AGENT_PASSWORD)))).json()
    assert body["user_id"] == me["id"]  # whose `agent.call` events the desk-phone desktop follows


async def test_given_supervisor_without_agent_record_then_softphone_is_404(api: Api) -> None:
    r = await api.client.get("/api/v1/softphone", headers=await api.headers(demo.SUPERVISOR_LOGIN))
    assert r.status_code == 404 and r.json()["error_id"] == "no_softphone"

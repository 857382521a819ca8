"""On a real `tongdai run --demo`: the wallboard socket and snapshot, who may see them, supervisor actions
(agent state, skills) reaching every screen, and the coalescing of bursts."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import websockets

from tests.wallboard.wsclient import Board, token
from tongdai import demo

LAN = ("lan@demo.example", demo.AGENT_PASSWORD)


def _ws(base: str) -> str:
    return base.replace("http://", "ws://") + "/api/v1/wallboard"


async def _connect(base: str, login: tuple[str, str] = demo.SUPERVISOR_LOGIN) -> tuple[object, Board]:
    ws = await websockets.connect(f"{_ws(base)}?token={token(base, login)}")
    board = Board(ws)
    first = await board.recv(5)
    assert first is not None and first["type"] == "wallboard.snapshot"
    return ws, board


def _set_activity(base: str, tok: str, agent_id: str, activity: str) -> None:
    r = httpx.post(base + "/api/v1/routing/agents/activity", headers={"Authorization": f"Bearer {tok}"},
                   json={"agent_id": agent_id, "activity": activity})
    assert r.status_code == 200, r.text


async def test_snapshot_first_shows_the_demo_queues_with_their_targets_and_agents(running):
    ws, board = await _connect(running.base)
    async with ws:  # type: ignore[attr-defined]
        assert set(board.queues) >= {"sales", "support"}
        sales = board.queues["sales"]
        assert sales["threshold_s"] == 20 and sales["target_pct"] == 80 and sales["waiting"] == 0
        assert {a["extension"] for a in board.agents.values()} >= {"1001", "1002", "1003", "1004"}
        lan = board.agent_by_extension("1001")
        assert lan["name"] == "Nguyễn Thị Lan" and "sales" in lan["queues"]


@pytest.mark.parametrize("login, code", [(LAN, 4403), (None, 4401)])
async def test_socket_refuses_agents_and_bad_tokens_with_a_close_code(running, login, code):
    tok = token(running.base, login) if login else "not-a-token"
    async with websockets.connect(f"{_ws(running.base)}?token={tok}") as ws:
        with pytest.raises(websockets.ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None and info.value.rcvd.code == code


def test_get_snapshot_for_supervisor_and_403_for_agent(running):
    sup = {"Authorization": f"Bearer {token(running.base, demo.SUPERVISOR_LOGIN)}"}
    r = httpx.get(running.base + "/api/v1/wallboard", headers=sup)
    assert r.status_code == 200 and r.json()["type"] == "wallboard.snapshot"
    assert {q["id"] for q in r.json()["queues"]} >= {"sales", "support"}
    lan = {"Authorization": f"Bearer {token(running.base, LAN)}"}
    assert httpx.get(running.base + "/api/v1/wallboard", headers=lan).status_code == 403


async def test_supervisor_changes_an_agents_state_and_two_screens_see_it_within_a_second(running):
    base = running.base
    sup_tok = token(base, demo.SUPERVISOR_LOGIN)
    ws1, b1 = await _connect(base)
    ws2, b2 = await _connect(base)
    async with ws1, ws2:  # type: ignore[attr-defined]
        minh = b1.agent_by_extension("1002")
        for activity in ("available", "not_ready", "available"):
            sent = time.time()
            _set_activity(base, sup_tok, minh["id"], activity)
            for b in (b1, b2):
                took = await b.until(lambda b, want=activity: b.agents[minh["id"]]["state"] == want, timeout=3)
                assert took is not None, f"{activity} never shown"
                assert time.time() - sent < 1.0
        assert b1.agents[minh["id"]]["in_state_s"] < 1.5
        assert b1.queues["sales"]["agents"]["available"] >= 1


async def test_skills_changed_through_the_directory_move_the_agent_between_queues_live(running):
    base = running.base
    sup = {"Authorization": f"Bearer {token(base, demo.SUPERVISOR_LOGIN)}"}
    ws, board = await _connect(base)
    async with ws:  # type: ignore[attr-defined]
        minh = board.agent_by_extension("1002")  # sales 5 only
        assert minh["queues"] == ["sales"]
        before = board.queues["support"]["members"]
        r = httpx.patch(base + f"/api/v1/agents/{minh['id']}", headers=sup,
                        json={"skills": {"sales": 5, "support": 4}, "queues": ["sales", "support"]})
        assert r.status_code == 200, r.text
        took = await board.until(lambda b: b.agents[minh["id"]]["queues"] == ["sales", "support"], timeout=3)
        assert took is not None and took < 1.0
        await board.until(lambda b: b.queues["support"]["members"] == before + 1, timeout=2)
        assert board.queues["support"]["members"] == before + 1
        assert board.agents[minh["id"]]["skills"] == {"sales": 5, "support": 4}
        routing = httpx.get(base + "/api/v1/routing/agents", headers=sup).json()
        assert "support" in next(a for a in routing if a["worker_id"] == minh["id"])["queues"]
        r = httpx.patch(base + f"/api/v1/agents/{minh['id']}", headers=sup,
                        json={"skills": {"sales": 5}, "queues": ["sales"]})
        assert r.status_code == 200
        assert await board.until(lambda b: b.agents[minh["id"]]["queues"] == ["sales"], timeout=3) is not None


async def test_a_burst_of_changes_is_coalesced_to_at_most_about_ten_frames_a_second_ending_right(running):
    base = running.base
    sup_tok = token(base, demo.SUPERVISOR_LOGIN)
    ws, board = await _connect(base)
    async with ws:  # type: ignore[attr-defined]
        anh = board.agent_by_extension("1003")
        start = time.time()
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {sup_tok}"}) as client:
            for i in range(40):
                r = await client.post("/api/v1/routing/agents/activity",
                                      json={"agent_id": anh["id"], "activity": ("available", "not_ready")[i % 2]})
                assert r.status_code == 200
        took = await board.until(lambda b: b.agents[anh["id"]]["state"] == "not_ready"
                                 and time.time() - start > 0.3, timeout=3)
        assert took is not None
        await board.recv(0.5)  # anything still in flight
        elapsed = time.time() - start
        frames = [f for t, f in board.frames if t >= start and f["type"] == "wallboard.delta"]
        assert 1 <= len(frames) <= elapsed / 0.1 + 2, (len(frames), elapsed)
        sent_at = [f["server_time"] for f in frames]
        gaps = [b - a for a, b in zip(sent_at, sent_at[1:], strict=False)]
        assert all(g >= 0.09 for g in gaps), gaps  # the server's 100 ms minimum interval per tenant
        assert board.agents[anh["id"]]["state"] == "not_ready"


async def test_a_screen_that_does_not_read_does_not_delay_the_others(running):
    base = running.base
    sup_tok = token(base, demo.SUPERVISOR_LOGIN)
    stuck = await websockets.connect(f"{_ws(base)}?token={sup_tok}", max_size=None)  # never read
    ws, board = await _connect(base)
    async with ws, stuck:  # type: ignore[attr-defined]
        fang = board.agent_by_extension("1004")
        for i in range(30):
            activity = ("available", "not_ready")[i % 2]
            sent = time.time()
            _set_activity(base, sup_tok, fang["id"], activity)
            took = await board.until(lambda b, want=activity: b.agents[fang["id"]]["state"] == want, timeout=3)
            assert took is not None and time.time() - sent < 1.0


async def test_queue_service_level_settings_changed_in_the_directory_reach_the_screen_live(running):
    base = running.base
    admin = {"Authorization": f"Bearer {token(base, demo.ADMIN_LOGIN)}"}
    support = next(q for q in httpx.get(base + "/api/v1/queues", headers=admin).json()["items"]
                   if q["name"] == "support")
    ws, board = await _connect(base)
    async with ws:  # type: ignore[attr-defined]
        r = httpx.patch(f"{base}/api/v1/queues/{support['id']}", headers=admin,
                        json={"service_level_threshold_s": 45, "service_level_target_pct": 90})
        assert r.status_code == 200, r.text
        took = await board.until(lambda b: (b.queues["support"]["threshold_s"], b.queues["support"]["target_pct"])
                                 == (45, 90), timeout=3)
        assert took is not None and took < 1.0

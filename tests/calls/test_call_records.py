"""CDRs of calls through `tongdai run --demo`: every call leaves one record with its legs, readable
through the API by staff; agents read only their own calls."""

from __future__ import annotations

import httpx
import pytest

from tests.calls.sipp import free_udp_port, register, run, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.conftest import wait_until

pytestmark = pytest.mark.e2e


def token(base: str, user: str, password: str) -> str:
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": user, "password": password}, timeout=10)
    return str(r.json()["access_token"])


def test_given_answered_and_unanswered_calls_then_each_has_a_cdr_with_legs(running, tmp_path):
    phone = free_udp_port()
    uas = start(sipp_command("uas", running.sip_port, port=phone, calls=2, workdir=tmp_path), tmp_path)
    assert register("1002", "sip-demo-1002", phone, running.sip_port) == 200
    rc, count, out = run(sipp_command("uac_call.xml", running.sip_port, port=free_udp_port(), calls=2, rate=2,
                                      service="1002", caller="1001", workdir=tmp_path), tmp_path)
    assert count == {"successful": 2, "failed": 0}, out
    finish(uas)
    assert register("1002", "sip-demo-1002", phone, running.sip_port, expires=0) == 200
    run(sipp_command("uac_call.xml", running.sip_port, port=free_udp_port(), calls=1, service="1004", caller="1001",
                     workdir=tmp_path), tmp_path)  # nobody on 1004: 480

    headers = {"Authorization": f"Bearer {token(running.base, 'supervisor@demo.example', 'supervisor-demo-2026')}"}

    def records() -> list[dict]:
        r = httpx.get(f"{running.base}/api/v1/call-records", params={"caller": "1001", "limit": 50}, headers=headers)
        assert r.status_code == 200, r.text
        return [c for c in r.json()["items"] if c["callee"] in ("1002", "1004")]

    assert wait_until(lambda: len(records()) >= 3, timeout=10)
    answered = [c for c in records() if c["callee"] == "1002"]
    assert len(answered) == 2 and all(c["disposition"] == "answered" and c["talk_s"] > 0 for c in answered)
    unanswered = [c for c in records() if c["callee"] == "1004"]
    assert unanswered and unanswered[0]["disposition"] == "no_answer" and unanswered[0]["talk_s"] == 0
    detail = httpx.get(f"{running.base}/api/v1/call-records/{answered[0]['id']}", headers=headers).json()
    assert [(leg["role"], leg["answered"]) for leg in detail["legs"]] == [("caller", True), ("callee", True)]
    # an agent reads only their own calls (those they placed, here from 1001), even when asking for others'
    lan = {"Authorization": f"Bearer {token(running.base, 'lan@demo.example', 'agent-demo-2026')}"}
    minh = {"Authorization": f"Bearer {token(running.base, 'minh@demo.example', 'agent-demo-2026')}"}  # 1002
    for params in ({}, {"agent": "me"}, {"agent": "1002"}, {"caller": "1001"}):
        mine = httpx.get(f"{running.base}/api/v1/call-records", params=params, headers=lan)
        assert mine.status_code == 200 and len(mine.json()["items"]) >= 3, mine.text
        assert all("1001" in (c["agent"], c["caller"]) for c in mine.json()["items"]), mine.text
        theirs = httpx.get(f"{running.base}/api/v1/call-records", params=params, headers=minh).json()["items"]
        assert all("1002" in (c["agent"], c["caller"]) for c in theirs), theirs
    assert httpx.get(f"{running.base}/api/v1/call-records/{answered[0]['id']}", headers=lan).status_code == 200
    assert httpx.get(f"{running.base}/api/v1/call-records/{answered[0]['id']}", headers=minh).status_code == 404

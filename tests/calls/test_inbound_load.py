"""Load through the whole inbound path against `tongdai run --demo`: SIPp places calls to a queue
number (the 2-minute run through a call flow that greets each caller with text-to-speech first), simulated agent phones (tongdai's agent load tool) register, are offered the calls, answer, and
are freed when the caller hangs up. Every call must be answered, with one CDR each; the delay from an
agent being freed to its phone ringing again is reported. The short run is part of `make test`; the
2-minute run at 20 calls/s with 100 agents (the acceptance figure) runs under `make bench`."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.calls.sipp import counters, free_udp_port, sipp_command
from tests.calls.test_inbound_queue import Admin
from tests.conftest import RunningTongdai, wait_until
from tongdai.calls.agent_load import AgentFleet

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def centre(tmp_path_factory):
    t = RunningTongdai(tmp_path_factory.mktemp("load"), "--set", "sip.rate_limit_per_s=50000")
    try:
        t.wait_ready()
        yield t
    finally:
        t.stop()


def prepare(admin: Admin, agents: int, number: str, *, flow: bool = False) -> list[str]:
    """A queue without wrap-up behind `number` (directly, or through a call flow that greets the caller
    first), and `agents` agents with the skill it needs."""
    queue = admin.post("/api/v1/queues", {"name": f"load{number}", "target_expression": "skills.load >= 1",
                                          "strategy": "longest_idle", "wrap_up_s": 0, "max_wait_s": 120,
                                          "recording_policy": "never"})
    if flow:
        document = (f"name: load{number}\nlanguage: en\nlanguages: [en]\nentry: hello\nnodes:\n"
                    f"  hello: {{type: play, prompt: {{en: 'Hello.'}}, next: wait}}\n"
                    f"  wait: {{type: enqueue, queue: load{number}}}\n")
        stored = admin.post("/api/v1/call-flows", {"document": document})
        admin.post(f"/api/v1/call-flows/{stored['id']}/activate", {})
        admin.post("/api/v1/numbers", {"e164": number, "flow": f"load{number}"})
    else:
        admin.post("/api/v1/numbers", {"e164": number, "queue_id": queue["id"]})
    time.sleep(0.5)  # numbers and flows reach the SIP side on the change event
    ids = []
    with httpx.Client(base_url=admin.base, headers=admin.h, timeout=10) as client:
        for i in range(agents):
            ext = str(5000 + int(number) // 10 % 10 * 500 + i)  # 1810: 5500..., 1820: 6000...
            r = client.post("/api/v1/agents", json={"name": f"Load {ext}", "extension": ext,
                                                    "sip_password": f"load-{ext}", "skills": {"load": 5}})
            assert r.status_code == 201, r.text
            ids.append((ext, r.json()["id"]))
    return [ext for ext, _ in ids], [agent_id for _, agent_id in ids]  # type: ignore[return-value]


async def load_run(running: RunningTongdai, tmp_path, *, agents: int, rate: int, seconds: int,
                   number: str, flow: bool = False) -> dict[str, float]:
    admin = Admin(running.base)
    exts, ids = prepare(admin, agents, number, flow=flow)
    fleet = AgentFleet(("127.0.0.1", running.sip_port), exts, lambda e: f"load-{e}", ring_s=0.1, talk_s=None)
    await fleet.start()
    try:
        assert await fleet.register_all() == agents
        async with httpx.AsyncClient(base_url=admin.base, headers=admin.h, timeout=10) as client:
            for agent_id in ids:
                r = await client.post("/api/v1/routing/agents/activity",
                                      json={"agent_id": agent_id, "activity": "available"})
                assert r.status_code == 200, r.text
        calls = rate * seconds
        scenario = "uac_queue.xml"  # the caller hangs up 3 s after tongdai answered (1 s after a re-INVITE)
        cmd = sipp_command(scenario, running.sip_port, port=free_udp_port(), calls=calls, rate=rate,
                           service=number, caller="0901234567", workdir=tmp_path, timeout_s=seconds + 60)
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(*cmd, cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), seconds + 120)
        elapsed = time.monotonic() - started
        result = counters(out.decode(errors="replace"))
        summary = fleet.summary()
        for ext in exts:
            await fleet.register(ext, expires=0)
        return {**result, "calls": calls, "elapsed_s": round(elapsed, 1), "rc": proc.returncode, **summary}
    finally:
        await fleet.stop()


def check(result: dict[str, float], admin: Admin, number: str, *, max_abandoned: float = 0.0) -> None:
    """0 failed calls; one CDR per call; every call answered, or abandoned by design (the caller's 3 s of
    patience ran out while it waited) for at most `max_abandoned` of them."""
    calls = result["calls"]
    assert result["successful"] == calls and result["failed"] == 0, result
    assert wait_until(lambda: admin.get("/api/v1/call-records", callee=number, limit=1)["total"] == calls, timeout=30)
    answered = admin.get("/api/v1/call-records", callee=number, disposition="answered", limit=1)["total"]
    abandoned = admin.get("/api/v1/call-records", callee=number, disposition="abandoned", limit=1)["total"]
    assert answered + abandoned == calls, (answered, abandoned, result)
    assert result["answered"] == answered  # the agents' phones saw exactly the answered calls
    assert abandoned <= max_abandoned * calls, (abandoned, result)
    result["abandoned"] = abandoned


def test_given_queue_with_50_agents_when_10_calls_per_second_for_10_s_then_every_call_answered(centre, tmp_path):
    result = asyncio.run(load_run(centre, tmp_path, agents=50, rate=10, seconds=10, number="1810"))
    check(result, Admin(centre.base), "1810")
    print("inbound load (short):", result)


@pytest.mark.slow
def test_given_100_agents_when_20_calls_per_second_for_2_minutes_through_a_call_flow_then_every_call_answered(
        centre, tmp_path):
    result = asyncio.run(load_run(centre, tmp_path, agents=100, rate=20, seconds=120, number="1820", flow=True))
    check(result, Admin(centre.base), "1820", max_abandoned=0.01)  # the greeting eats into the 3 s
    print("inbound load (20 calls/s, 2 min, 100 agents):", result)

"""The agent load tool (simulated phones on tongdai's SIP stack) against `tongdai run --demo`."""

from __future__ import annotations

import asyncio

import pytest

from tests.calls.sipp import free_udp_port, sipp_command
from tongdai.calls.agent_load import AgentFleet

pytestmark = pytest.mark.e2e


async def fleet_takes_calls(running, tmp_path) -> tuple[dict[str, float], int, int]:  # type: ignore[no-untyped-def]
    fleet = AgentFleet(("127.0.0.1", running.sip_port), ["1002", "1003", "1004"], lambda e: f"sip-demo-{e}",
                       ring_s=0.2, talk_s=None)
    await fleet.start()
    try:
        registered = await fleet.register_all()
        proc = await asyncio.create_subprocess_exec(
            *sipp_command("uac_call.xml", running.sip_port, port=free_udp_port(), calls=3, rate=5, limit=1, service="1003",
                          caller="1001", workdir=tmp_path), cwd=tmp_path,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        rc = await asyncio.wait_for(proc.wait(), 60)
        for ext in ("1002", "1003", "1004"):  # un-register, leaving the demo's phones as they were
            await fleet.register(ext, expires=0)
        return fleet.summary() | {"hung_up_1003": fleet.agents["1003"].hung_up}, registered, rc
    finally:
        await fleet.stop()


def test_given_fleet_registered_when_calls_come_then_phones_ring_answer_and_are_freed(running, tmp_path):
    summary, registered, rc = asyncio.run(fleet_takes_calls(running, tmp_path))
    assert registered == 3 and rc == 0
    assert summary["rung"] == 3 and summary["answered"] == 3 and summary["hung_up_1003"] == 3
    assert 0 < summary["free_to_ring_p99_s"] < 5  # the 1003 phone rang again after each call (one at a time)

"""Outbound trunk failover against real SIPp gateways: a 503 or a silent gateway passes the call on
to the next one; a 486 Busy does not."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import free_port
from tongdai.sip.message import Request, new_tag
from tongdai.sip.service import SipService
from tongdai.sip.settings import SipSettings
from tongdai.sip.trunk import Gateway, OutboundTrunk

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def _gateway(cwd: Path, status: int | None) -> tuple[subprocess.Popen[str], int]:
    port = free_port(socket.SOCK_DGRAM)
    scenario = ["-sn", "uas"]
    if status is not None:  # SIPp checks status codes when it loads a scenario: write one per status
        path = cwd / f"uas_{status}.xml"
        path.write_text((SCENARIOS / "uas_status.xml").read_text().replace("[status]", str(status)))
        scenario = ["-sf", str(path)]
    proc = subprocess.Popen(["sipp", *scenario, "-i", "127.0.0.1", "-p", str(port), "-m", "1", "-nostdin", "-timeout", "30"],
                            cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    return proc, port


def _invite(port: int, gw: Gateway) -> Request:
    tag = new_tag()
    return Request("INVITE", f"sip:0912345678@{gw.host}:{gw.port}", [
        ("from", f"<sip:1001@127.0.0.1:{port}>;tag={tag}"), ("to", f"<sip:0912345678@{gw.host}>"),
        ("call-id", f"trunk-{tag}"), ("cseq", "1 INVITE"), ("contact", f"<sip:1001@127.0.0.1:{port}>"),
        ("max-forwards", "70")])


@pytest.mark.parametrize(("first", "expect_status", "expect_second"), [(503, 200, True), (486, 486, False)],
                         ids=["503-fails-over", "486-does-not"])
async def test_given_two_gateways_then_failover_only_on_gateway_failure(tmp_path, first, expect_status, expect_second):
    gw1, p1 = _gateway(tmp_path, first)
    gw2, p2 = _gateway(tmp_path, None)
    port = free_port(socket.SOCK_DGRAM)
    svc = SipService(SipSettings(udp_port=port, tcp_port=port))
    await svc.start()
    try:
        await asyncio.sleep(0.5)
        trunk = OutboundTrunk("carrier", [Gateway("127.0.0.1", p1), Gateway("127.0.0.1", p2)])
        resp, used = await asyncio.wait_for(trunk.invite(svc.stack, lambda gw: _invite(port, gw)), 30)
        assert resp is not None and resp.status == expect_status
        assert used == Gateway("127.0.0.1", p2 if expect_second else p1)
    finally:
        for proc in (gw1, gw2):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        await svc.stop()


async def test_given_silent_first_gateway_then_timer_b_moves_the_call_to_the_next(tmp_path, monkeypatch):
    import tongdai.sip.transaction as transaction

    monkeypatch.setattr(transaction, "T1", 0.02)  # Timer B = 1.28 s
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    gw2, p2 = _gateway(tmp_path, 503)
    port = free_port(socket.SOCK_DGRAM)
    svc = SipService(SipSettings(udp_port=port, tcp_port=port))
    await svc.start()
    try:
        await asyncio.sleep(0.5)
        trunk = OutboundTrunk("carrier", [Gateway("127.0.0.1", silent.getsockname()[1]), Gateway("127.0.0.1", p2)])
        resp, used = await asyncio.wait_for(trunk.invite(svc.stack, lambda gw: _invite(port, gw)), 30)
        assert resp is not None and resp.status == 503 and used == Gateway("127.0.0.1", p2)  # both failed: last answer
    finally:
        silent.close()
        if gw2.poll() is None:
            gw2.kill()
            gw2.wait()
        await svc.stop()

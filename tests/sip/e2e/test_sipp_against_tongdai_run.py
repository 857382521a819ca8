"""SIPp and the torture corpus against `tongdai run --demo` (a real process on free ports)."""

from __future__ import annotations

import re
import socket
import subprocess

import pytest

from tests.conftest import free_port
from tests.foundation.conftest import RunningTongdai
from tests.sip.torture_udp import run_corpus


@pytest.fixture(scope="module")
def tongdai(tmp_path_factory):
    t = RunningTongdai(tmp_path_factory.mktemp("sip-run"))
    try:
        t.wait_ready()
        yield t
    finally:
        t.stop()


def sipp_uac(target_port: int, *, rate: int, calls: int, transport: str = "u1", lost: int = 0,
             workdir) -> dict[str, int]:
    """Run SIPp's built-in uac scenario against 9196; returns its final counters."""
    cmd = ["sipp", "-sn", "uac", f"127.0.0.1:{target_port}", "-s", "9196", "-r", str(rate), "-m", str(calls),
           "-l", str(rate * 4), "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)), "-t", transport,
           "-timeout", str(60 + calls // max(rate, 1)), "-nostdin", "-trace_stat", "-stf", str(workdir / "stat.csv")]
    if lost:
        cmd += ["-lost", str(lost)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180 + calls // max(rate, 1), cwd=workdir)
    text = out.stdout + out.stderr

    def counter(name: str) -> int:
        found = re.findall(rf"{name}\s*\|\s*\d+\s*\|\s*(\d+)", text)
        return int(found[-1]) if found else -1

    return {"exit": out.returncode, "successful": counter("Successful call"), "failed": counter("Failed call")}


def test_given_torture_corpus_sent_to_tongdai_run_then_verdicts_hold_and_options_still_answered(tongdai):
    assert run_corpus(("127.0.0.1", tongdai.sip_port)) == []


@pytest.mark.e2e
@pytest.mark.parametrize(("transport", "lost"), [("u1", 0), ("t1", 0), ("u1", 10)], ids=["udp", "tcp", "udp-lost10"])
def test_given_sipp_uac_at_200_cps_then_every_call_succeeds(tongdai, tmp_path, transport, lost):
    result = sipp_uac(tongdai.sip_port, rate=200, calls=1000, transport=transport, lost=lost, workdir=tmp_path)
    assert result == {"exit": 0, "successful": 1000, "failed": 0}


@pytest.mark.slow
@pytest.mark.parametrize(("transport", "lost"), [("u1", 0), ("t1", 0), ("u1", 10)], ids=["udp", "tcp", "udp-lost10"])
def test_given_sipp_uac_at_200_cps_for_20_s_then_every_call_succeeds(tongdai, tmp_path, transport, lost):
    result = sipp_uac(tongdai.sip_port, rate=200, calls=4000, transport=transport, lost=lost, workdir=tmp_path)
    assert result == {"exit": 0, "successful": 4000, "failed": 0}

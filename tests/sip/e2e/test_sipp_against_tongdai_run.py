"""SIPp and the torture corpus against `tongdai run --demo` (a real process on free ports)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.sip.torture_udp import run_corpus


def sipp_uac(target_port: int, *, rate: int, calls: int, transport: str = "u1", lost: int = 0,
             workdir) -> dict[str, int]:
    """Run SIPp's built-in uac scenario against 9196; returns its final counters."""
    cmd = ["sipp", "-sn", "uac", f"127.0.0.1:{target_port}", "-s", "9196", "-r", str(rate), "-m", str(calls),
           "-l", str(rate * 4), "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)), "-t", transport,
           "-timeout", str(60 + calls // max(rate, 1)), "-nostdin", "-trace_err", "-error_file", str(workdir / "errors.log")]
    if lost:
        cmd += ["-lost", str(lost)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180 + calls // max(rate, 1), cwd=workdir)
    text = out.stdout + out.stderr

    def counter(name: str) -> int:
        found = re.findall(rf"{name}\s*\|\s*\d+\s*\|\s*(\d+)", text)
        return int(found[-1]) if found else -1

    result = {"exit": out.returncode, "successful": counter("Successful call"), "failed": counter("Failed call")}
    if result["failed"] != 0 or result["exit"] != 0:
        errors = (workdir / "errors.log").read_text(errors="replace") if (workdir / "errors.log").exists() else ""
        print(text[-3000:], errors[-5000:])
    return result


def test_given_torture_corpus_sent_to_tongdai_run_then_verdicts_hold_and_options_still_answered(running):
    assert run_corpus(("127.0.0.1", running.sip_port)) == []


@pytest.mark.e2e
@pytest.mark.parametrize(("transport", "lost"), [("u1", 0), ("t1", 0), ("u1", 10)], ids=["udp", "tcp", "udp-lost10"])
def test_given_sipp_uac_at_200_cps_then_every_call_succeeds(running, tmp_path, transport, lost):
    result = sipp_uac(running.sip_port, rate=200, calls=1000, transport=transport, lost=lost, workdir=tmp_path)
    assert result == {"exit": 0, "successful": 1000, "failed": 0}


@pytest.mark.slow
@pytest.mark.parametrize(("transport", "lost"), [("u1", 0), ("t1", 0), ("u1", 10)], ids=["udp", "tcp", "udp-lost10"])
def test_given_sipp_uac_at_200_cps_for_20_s_then_every_call_succeeds(running, tmp_path, transport, lost):
    result = sipp_uac(running.sip_port, rate=200, calls=4000, transport=transport, lost=lost, workdir=tmp_path)
    assert result == {"exit": 0, "successful": 4000, "failed": 0}


SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def sipp_scenario(target_port: int, scenario: str, users: str, *, rate: int, calls: int, workdir,
                  extra: tuple[str, ...] = ()) -> dict[str, int]:
    cmd = ["sipp", "-sf", str(SCENARIOS / scenario), "-inf", str(SCENARIOS / users), f"127.0.0.1:{target_port}", *extra,
           "-r", str(rate), "-m", str(calls), "-l", str(rate * 4), "-i", "127.0.0.1",
           "-p", str(free_port(socket.SOCK_DGRAM)), "-timeout", "60", "-nostdin",
           "-trace_err", "-error_file", str(workdir / "errors.log")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=workdir)
    text = out.stdout

    def counter(name: str) -> int:
        found = re.findall(rf"{name}\s*\|\s*\d+\s*\|\s*(\d+)", text)
        return int(found[-1]) if found else -1

    return {"exit": out.returncode, "successful": counter("Successful call"), "failed": counter("Failed call")}


def test_given_demo_agents_then_1000_digest_registrations_succeed_and_are_persisted(running, tmp_path):
    for ext in ("1001", "1002", "1003", "1004"):  # 4 x 250 = 1,000 registrations
        result = sipp_scenario(running.sip_port, "register_digest.xml", f"users_{ext}.csv", rate=200, calls=250,
                               workdir=tmp_path, extra=("-au", ext, "-ap", f"sip-demo-{ext}"))
        assert result == {"exit": 0, "successful": 250, "failed": 0}, ext
    state = running.workdir / "var" / "sip-registrations.json"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (state.exists() and len(json.loads(state.read_text())) == 4):
        time.sleep(0.1)
    bindings = json.loads(state.read_text())
    assert len(bindings) == 4 and all(k.endswith(("/1001", "/1002", "/1003", "/1004")) for k in bindings)


def test_given_wrong_password_then_registration_fails(running, tmp_path):
    result = sipp_scenario(running.sip_port, "register_digest.xml", "users_1001.csv", rate=10, calls=3,
                           workdir=tmp_path, extra=("-au", "1001", "-ap", "not-the-password"))
    assert result["successful"] == 0 and result["failed"] == 3


def test_given_calls_held_and_resumed_with_reinvite_then_every_call_succeeds(running, tmp_path):
    cmd = ["sipp", "-sf", str(SCENARIOS / "hold_resume.xml"), f"127.0.0.1:{running.sip_port}", "-s", "9196",
           "-r", "20", "-m", "100", "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)), "-timeout", "60",
           "-nostdin", "-trace_err", "-error_file", str(tmp_path / "errors.log")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    found = re.findall(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", out.stdout)
    failed = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", out.stdout)
    errors = (tmp_path / "errors.log").read_text(errors="replace")[-3000:] if (tmp_path / "errors.log").exists() else ""
    assert (out.returncode, found[-1], failed[-1]) == (0, "100", "0"), errors

"""Calls between extensions through tongdai's B2BUA, with SIPp as the agents' phones, against
`tongdai run --demo`: a call is joined end to end, CANCEL while ringing, and blind transfer by REFER."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.calls.sipp import counters, free_udp_port, register, run, sipp_command

pytestmark = pytest.mark.e2e


def start(cmd: list[str], workdir) -> subprocess.Popen[str]:  # type: ignore[no-untyped-def]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=workdir)


def finish(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[int, dict[str, int], str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return proc.returncode, counters(out), out[-3000:]


def test_given_1002_registered_when_1001_calls_it_then_call_is_joined_and_hung_up(running, tmp_path):
    phone = free_udp_port()
    uas = start(sipp_command("uas", running.sip_port, port=phone, calls=5, workdir=tmp_path), tmp_path)
    time.sleep(0.3)
    assert register("1002", "sip-demo-1002", phone, running.sip_port) == 200
    rc, count, out = run(sipp_command("uac_call.xml", running.sip_port, port=free_udp_port(), calls=5, rate=5,
                                      service="1002", caller="1001", workdir=tmp_path), tmp_path)
    assert (rc, count) == (0, {"successful": 5, "failed": 0}), out
    rc, count, out = finish(uas)
    assert count == {"successful": 5, "failed": 0}, out
    assert register("1002", "sip-demo-1002", phone, running.sip_port, expires=0) == 200


def test_given_unregistered_extension_then_caller_gets_480(running, tmp_path):
    rc, count, out = run(sipp_command("uac_call.xml", running.sip_port, port=free_udp_port(), calls=1,
                                      service="1004", caller="1001", workdir=tmp_path), tmp_path)
    assert count["failed"] == 1 and "480" in (tmp_path.glob("errors-*.log").__next__().read_text()), out


def test_given_ringing_phone_when_caller_cancels_then_both_legs_end_with_487(running, tmp_path):
    phone = free_udp_port()
    uas = start(sipp_command("uas_ring_cancelled.xml", running.sip_port, port=phone, calls=3, workdir=tmp_path),
                tmp_path)
    time.sleep(0.3)
    assert register("1003", "sip-demo-1003", phone, running.sip_port) == 200
    rc, count, out = run(sipp_command("uac_cancel.xml", running.sip_port, port=free_udp_port(), calls=3, rate=3,
                                      service="1003", caller="1001", workdir=tmp_path), tmp_path)
    assert (rc, count) == (0, {"successful": 3, "failed": 0}), out
    rc, count, out = finish(uas)
    assert count == {"successful": 3, "failed": 0}, out
    assert register("1003", "sip-demo-1003", phone, running.sip_port, expires=0) == 200


def test_given_answered_call_when_callee_refers_to_1003_then_caller_talks_to_1003(running, tmp_path):
    transferor, target = free_udp_port(), free_udp_port()
    a = start(sipp_command("uas_transfer.xml", running.sip_port, port=transferor, calls=2, service="1002",
                           keys={"refer_target": "1003"}, workdir=tmp_path), tmp_path)
    b = start(sipp_command("uas", running.sip_port, port=target, calls=2, workdir=tmp_path), tmp_path)
    time.sleep(0.3)
    assert register("1002", "sip-demo-1002", transferor, running.sip_port) == 200
    assert register("1003", "sip-demo-1003", target, running.sip_port) == 200
    rc, count, out = run(sipp_command("uac_call.xml", running.sip_port, port=free_udp_port(), calls=2, rate=1,
                                      service="1002", caller="1001", workdir=tmp_path), tmp_path)
    assert (rc, count) == (0, {"successful": 2, "failed": 0}), out
    for proc in (a, b):
        rc, count, out = finish(proc)
        assert count == {"successful": 2, "failed": 0}, out
    assert register("1002", "sip-demo-1002", transferor, running.sip_port, expires=0) == 200
    assert register("1003", "sip-demo-1003", target, running.sip_port, expires=0) == 200


def test_given_caller_requiring_100rel_and_session_timer_then_ringing_is_reliable_and_interval_confirmed(
        running, tmp_path):
    phone = free_udp_port()
    uas = start(sipp_command("uas_ring_answer.xml", running.sip_port, port=phone, calls=2, workdir=tmp_path), tmp_path)
    time.sleep(0.3)
    assert register("1002", "sip-demo-1002", phone, running.sip_port) == 200
    rc, count, out = run(sipp_command("uac_prack_timer.xml", running.sip_port, port=free_udp_port(), calls=2, rate=2,
                                      service="1002", caller="1001", workdir=tmp_path), tmp_path)
    assert (rc, count) == (0, {"successful": 2, "failed": 0}), out
    rc, count, out = finish(uas)
    assert count == {"successful": 2, "failed": 0}, out
    assert register("1002", "sip-demo-1002", phone, running.sip_port, expires=0) == 200

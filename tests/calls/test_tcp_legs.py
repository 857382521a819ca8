"""Calls tongdai places over TCP, against `tongdai run --demo`: to a phone registered with
`;transport=tcp`, and a request too large for UDP moved to TCP (RFC 3261 18.1.1)."""

from __future__ import annotations

import time

import pytest

from tests.calls.sipp import SCENARIOS, free_udp_port, register, run, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.conftest import free_port

pytestmark = pytest.mark.e2e


def test_given_phone_registered_over_tcp_when_called_then_tongdai_calls_it_over_tcp(running, tmp_path):
    port = free_port()
    phone = start(sipp_command("uas", running.sip_port, port=port, calls=2, workdir=tmp_path, transport="t1"),
                  tmp_path)
    time.sleep(0.3)
    assert register("1003", "sip-demo-1003", port, running.sip_port, contact_params=";transport=tcp") == 200
    rc, count, out = run(sipp_command("uac_call.xml", running.sip_port, port=free_udp_port(), calls=2, rate=2,
                                      service="1003", caller="1001", workdir=tmp_path), tmp_path)
    assert (rc, count) == (0, {"successful": 2, "failed": 0}), out
    rc, count, out = finish(phone)
    assert count == {"successful": 2, "failed": 0}, out  # SIPp listened on TCP only
    assert register("1003", "sip-demo-1003", port, running.sip_port, expires=0, contact_params=";transport=tcp") == 200


def test_given_invite_too_large_for_udp_then_it_goes_to_the_phone_over_tcp(running, tmp_path):
    port = free_port()  # the phone registered a plain (UDP) contact but, like most phones, also takes TCP
    phone = start(sipp_command("uas", running.sip_port, port=port, calls=1, workdir=tmp_path, transport="t1"),
                  tmp_path)
    time.sleep(0.3)
    assert register("1004", "sip-demo-1004", port, running.sip_port) == 200
    big = tmp_path / "uac_call_big.xml"
    filler = "".join(f"      a=x-filler-{i}:{'z' * 60}\n" for i in range(20))  # ~1.4 kB more SDP
    big.write_text((SCENARIOS / "uac_call.xml").read_text().replace(
        "      a=rtpmap:0 PCMU/8000\n    ]]>\n  </send>\n  <recv response=\"100\" optional=\"true\" />\n  <recv response=\"180\"",
        f"      a=rtpmap:0 PCMU/8000\n{filler}    ]]>\n  </send>\n  <recv response=\"100\" optional=\"true\" />\n"
        "  <recv response=\"180\"", 1))
    assert big.read_text().count("x-filler") == 20
    rc, count, out = run(sipp_command(str(big), running.sip_port, port=free_udp_port(), calls=1, service="1004",
                                      caller="1001", workdir=tmp_path), tmp_path)
    assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
    rc, count, out = finish(phone)
    assert count == {"successful": 1, "failed": 0}, out
    assert register("1004", "sip-demo-1004", port, running.sip_port, expires=0) == 200

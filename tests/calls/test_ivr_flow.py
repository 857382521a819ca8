"""The demo's main number through its call flow, against `tongdai run --demo`: SIPp presses a key with
the RFC 4733 DTMF of a real capture while the greeting plays (rtpengine reports it), the flow sends
the caller to that queue, and the agent of that queue answers."""

from __future__ import annotations

import time

import pytest

from tests.calls.sipp import free_udp_port, register, run, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.calls.test_inbound_queue import Admin
from tests.conftest import wait_until
from tests.sip.test_torture import DATA

pytestmark = pytest.mark.e2e
CAPTURES = DATA.parent / "rtp-pcap"


@pytest.mark.parametrize(("key", "queue", "agent"), [("1", "sales", "1002"), ("2", "support", "1003")])
def test_given_key_pressed_in_main_menu_then_caller_reaches_that_queues_agent(running, tmp_path, key, queue, agent):
    admin = Admin(running.base)
    phone = free_udp_port()
    uas = start(sipp_command("uas", running.sip_port, port=phone, calls=1, workdir=tmp_path), tmp_path)
    time.sleep(0.3)
    assert register(agent, f"sip-demo-{agent}", phone, running.sip_port) == 200  # registered: available
    rc, count, out = run(sipp_command("uac_ivr.xml", running.sip_port, port=free_udp_port(), calls=1, service="1000",
                                      caller="0912000111", keys={"dtmf_pcap": str(CAPTURES / f"dtmf_2833_{key}.pcap")},
                                      workdir=tmp_path), tmp_path)
    assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
    rc, count, out = finish(uas)
    assert count == {"successful": 1, "failed": 0}, out  # the agent's phone rang and answered

    def record() -> dict | None:
        items = admin.get("/api/v1/call-records", caller="0912000111", queue=queue)["items"]
        return items[0] if items else None

    assert wait_until(lambda: record() is not None, timeout=10)
    assert record()["agent"] == agent and record()["disposition"] == "answered"
    assert register(agent, f"sip-demo-{agent}", phone, running.sip_port, expires=0) == 200

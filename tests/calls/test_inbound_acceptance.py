"""The inbound path end to end with real peers, against `tongdai run --demo`: SIPp calls the demo's
main number 1000 and chooses sales with the RFC 4733 DTMF of a real capture; baresip, registered as
the sales agent 1002, answers by itself; audio flows both ways (the caller's port receives the
agent's tone, the agent's phone plays what the caller said, and the call's recording holds the
caller's audio); the CDR and the queue log have the wait, the talk and the disposition."""

from __future__ import annotations

import time
import wave

import numpy as np
import pytest

from tests.calls.baresip import Baresip
from tests.calls.capture import loopback_capture
from tests.calls.sipp import free_udp_port, run, sipp_command
from tests.calls.test_inbound_queue import Admin
from tests.calls.test_ivr_flow import CAPTURES
from tests.conftest import wait_until
from tongdai.media.pcap import rtp_packets

pytestmark = pytest.mark.e2e
CALLER = "0912999888"


def loud_seconds(path) -> float:  # type: ignore[no-untyped-def]
    """Seconds of a WAV's first channel louder than quiet room noise."""
    with wave.open(str(path)) as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels())
        rate = w.getframerate()
    x = frames[:, 0].astype(np.float64)
    blocks = x[: len(x) // 160 * 160].reshape(-1, 160)
    return float((np.sqrt((blocks ** 2).mean(axis=1)) > 300).sum() * 160 / rate)


def test_sipp_chooses_sales_by_dtmf_and_baresip_agent_talks_both_ways_with_records(running, tmp_path):
    admin = Admin(running.base)
    agent_media = free_udp_port() & ~1  # baresip's RTP port (even; RTCP the next one)
    agent = Baresip(tmp_path / "agent", "1002", "sip-demo-1002", running.sip_port, rtp_port=agent_media)
    caller_media = free_udp_port()
    try:
        agent.wait_registered()  # it answers by itself
        time.sleep(0.5)  # the registration made 1002 available
        with loopback_capture(caller_media, tmp_path / "caller.pcap"), \
                loopback_capture(agent_media, tmp_path / "agent.pcap"):
            rc, count, out = run(sipp_command("uac_ivr_speak.xml", running.sip_port, port=free_udp_port(),
                                              service="1000", caller=CALLER, workdir=tmp_path, timeout_s=60,
                                              keys={"dtmf_pcap": str(CAPTURES / "dtmf_2833_1.pcap"),
                                                    "audio_pcap": str(CAPTURES / "g711a.pcap")})
                                 + ["-mp", str(caller_media)], tmp_path)
            assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
        assert agent.wait_event("CALL_CLOSED", timeout=15), admin.get("/api/v1/queue-log", limit=20)
    finally:
        agent.stop()

    def record() -> dict | None:
        items = admin.get("/api/v1/call-records", caller=CALLER)["items"]
        return items[0] if items and items[0].get("recording") else None

    assert wait_until(lambda: record() is not None, timeout=20)
    cdr = record()
    assert (cdr["queue"], cdr["agent"], cdr["disposition"]) == ("sales", "1002", "answered"), cdr
    assert cdr["wait_s"] > 0 and cdr["talk_s"] >= 5, cdr  # waited for the agent, then talked (the capture is 7 s)
    events = [r["event"] for r in admin.get("/api/v1/queue-log", limit=500)["items"] if r["call_id"] == cdr["call_id"]]
    assert {"entered", "offered", "answered", "completed"} <= set(events), events
    # the caller heard the agent: baresip's tone, as RTP on the caller's port after the join
    voiced = [p for _, p in rtp_packets(tmp_path / "caller.pcap") if len(set(p.payload)) > 4]
    assert len(voiced) >= 100, len(voiced)
    # the agent heard the caller: the caller's speech as RTP on baresip's port, and baresip took it
    heard = [p for _, p in rtp_packets(tmp_path / "agent.pcap") if len(set(p.payload)) > 4]
    assert len(heard) >= 100, len(heard)
    assert "incoming rtp for 'audio' established" in agent.log()
    # and the recording's caller channel holds it too
    wavs = sorted((running.workdir / "var" / "recordings").rglob("*.wav"), key=lambda p: p.stat().st_mtime)
    assert wavs and loud_seconds(wavs[-1]) >= 2.0

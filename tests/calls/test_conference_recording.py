"""A recorded call that becomes a conference keeps recording, against `tongdai run --demo` with
rtpengine: a SIPp caller reaches the sales queue (which records `always`) and SIPp agent 1002; the
call is recorded from rtpengine's forks; the agent calls in 1003, a SIPp phone that speaks a 1700 Hz
tone; caller and agent move onto the DSP mixer. The call's one WAV (linked on its CDR) holds the
tone on its agent channel after the mix, and its sidecar marks when the call was mixed."""

from __future__ import annotations

import json
import time
import wave

import httpx
import numpy as np
import pytest

from tests.calls.capture import RtpListener
from tests.calls.sipp import SCENARIOS, free_udp_port, register, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.calls.test_inbound_queue import Admin
from tests.calls.tone_pcap import tone_pcap, tone_share
from tests.conftest import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.serial]  # audio measured: run alone

TONE = 1700.0


@pytest.fixture(scope="module", autouse=True)
def no_wrap_up(running):
    """Sales agents free again as soon as a call ends."""
    admin = Admin(running.base)
    sales = next(q for q in admin.get("/api/v1/queues")["items"] if q["name"] == "sales")
    assert sales["recording_policy"] == "always"
    r = httpx.patch(f"{running.base}/api/v1/queues/{sales['id']}", json={"wrap_up_s": 0}, headers=admin.h, timeout=10)
    assert r.status_code == 200, r.text


def test_given_a_recorded_call_when_it_becomes_a_conference_then_the_third_partys_voice_is_in_its_recording(
        running, tmp_path):
    admin = Admin(running.base)
    sales = next(q for q in admin.get("/api/v1/queues")["items"] if q["name"] == "sales")
    admin.post("/api/v1/numbers", {"e164": "1889", "queue_id": sales["id"]})
    time.sleep(0.5)
    agent_port, third_port = free_udp_port(), free_udp_port()
    agent = start(sipp_command("uas_reinvited.xml", running.sip_port, port=agent_port, calls=1, workdir=tmp_path),
                  tmp_path)
    third = start(sipp_command("uas_speak.xml", running.sip_port, port=third_port, calls=1, workdir=tmp_path,
                               keys={"audio_pcap": str(tone_pcap(tmp_path / "tone.pcap", TONE, 10.0))}), tmp_path)
    rtp = RtpListener().start()  # the caller's media port
    scenario = rtp.scenario_to(SCENARIOS / "uac_transferred.xml", tmp_path / "uac_transferred_rtp.xml")
    try:
        assert register("1002", "sip-demo-1002", agent_port, running.sip_port) == 200
        assert register("1003", "sip-demo-1003", third_port, running.sip_port) == 200  # support: not offered sales
        seen = {r["call_id"] for r in admin.get("/api/v1/queue-log", limit=200)["items"] if r["event"] == "answered"}
        caller = start(sipp_command(scenario, running.sip_port, port=free_udp_port(), service="1889",
                                    caller="0918000555", keys=rtp.keys, workdir=tmp_path, timeout_s=60), tmp_path)

        def answered() -> str | None:
            rows = admin.get("/api/v1/queue-log", limit=50)["items"]
            fresh = [r for r in rows if r["event"] == "answered" and r["agent"] == "1002" and r["call_id"] not in seen]
            return fresh[0]["call_id"] if fresh else None

        assert wait_until(lambda: answered() is not None, timeout=15)
        call_id = answered()
        time.sleep(1.0)  # a second recorded from rtpengine's forks before the mix
        r = httpx.post(f"{running.base}/api/v1/calls/{call_id}/conference", json={"target": "1003"},
                       headers=admin.h, timeout=30)
        assert r.status_code == 200, r.text
        rc, count, out = finish(caller, timeout=40)
        assert count == {"successful": 1, "failed": 0}, out
        for proc in (agent, third):
            assert finish(proc, timeout=20)[1] == {"successful": 1, "failed": 0}
    finally:
        rtp.stop()
        register("1002", "sip-demo-1002", agent_port, running.sip_port, expires=0)
        register("1003", "sip-demo-1003", third_port, running.sip_port, expires=0)

    def recording() -> str | None:
        rows = admin.get("/api/v1/call-records", limit=20)["items"]
        return next((row["recording"] for row in rows if row["call_id"] == call_id and row["recording"]), None)

    assert wait_until(lambda: recording() is not None, timeout=15)
    wav_path = running.workdir / "var" / "recordings" / str(recording())
    assert not list(wav_path.parent.glob(wav_path.stem + "*.part"))  # finished: no part file left
    with wave.open(str(wav_path)) as w:  # one valid WAV for the whole call
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 8000, 2)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2).astype(np.float64)
    sidecar = json.loads(wav_path.with_suffix(".json").read_text())
    mixed = [mark["at"] for mark in sidecar["marks"] if mark["event"] == "mixed"]
    assert len(mixed) == 1 and 0.5 < mixed[0] < sidecar["duration"], sidecar
    cut = int(mixed[0] * 8000)
    assert tone_share(frames[:cut, 1], TONE) == 0.0  # nobody played it before the mix
    after = frames[cut:, 1]
    assert len(after) > 4 * 8000 and tone_share(after, TONE) > 0.6, (len(after), tone_share(after, TONE))
    assert tone_share(frames[:, 0], TONE) < 0.02  # the caller's channel is the caller's voice only
    assert len([t for t in rtp.voiced if t > 0]) >= 50  # and the caller heard the tone through the mixer

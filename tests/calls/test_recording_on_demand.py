"""Recording on demand, against `tongdai run --demo`: in a queue that records `on_demand`, nothing is
recorded until the agent on the call asks (POST /api/v1/calls/{id}/recording); a supervisor pauses,
resumes and stops it; the WAV holds silence for the pause's length and both parties' audio around it."""

from __future__ import annotations

import json
import time
import wave

import httpx
import numpy as np
import pytest

from tests.calls.sipp import free_udp_port, register, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.calls.test_call_records import token
from tests.calls.test_inbound_queue import Admin
from tests.calls.test_ivr_flow import CAPTURES
from tests.conftest import wait_until
from tongdai import demo

pytestmark = [pytest.mark.e2e, pytest.mark.serial]  # audio measured: run alone


def _headers(base: str, login: tuple[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(base, *login)}"}


def test_given_on_demand_queue_when_agent_starts_and_supervisor_pauses_then_wav_has_silence_of_the_pause(
        running, tmp_path):
    admin = Admin(running.base)
    support = next(q for q in admin.get("/api/v1/queues")["items"] if q["name"] == "support")
    queue_url = f"{running.base}/api/v1/queues/{support['id']}"
    assert httpx.patch(queue_url, json={"recording_policy": "on_demand"}, headers=admin.h, timeout=10).status_code == 200
    admin.post("/api/v1/numbers", {"e164": "1874", "queue_id": support["id"]})
    records = running.workdir / "var" / "recordings"
    agent_h = _headers(running.base, ("anh@demo.example", demo.AGENT_PASSWORD))  # 1003, support's agent
    other_agent_h = _headers(running.base, ("minh@demo.example", demo.AGENT_PASSWORD))  # 1002, not on the call
    supervisor_h = _headers(running.base, demo.SUPERVISOR_LOGIN)
    phone = free_udp_port()
    speech = {"audio_pcap": str(CAPTURES / "g711a.pcap")}
    try:
        uas = start(sipp_command("uas_speak.xml", running.sip_port, port=phone, calls=1, workdir=tmp_path,
                                 keys=speech), tmp_path)
        time.sleep(0.3)
        assert register("1003", "sip-demo-1003", phone, running.sip_port) == 200
        uac = start(sipp_command("uac_queue_speak.xml", running.sip_port, port=free_udp_port(), calls=1,
                                 service="1874", caller="0918000444", keys=speech, workdir=tmp_path), tmp_path)
        answered: list[dict] = []

        def joined() -> bool:
            answered[:] = admin.get("/api/v1/queue-log", queue="support", event="answered")["items"]
            return bool(answered)

        assert wait_until(joined, timeout=15)
        call_url = f"{running.base}/api/v1/calls/{answered[0]['call_id']}/recording"

        def post(action: str, headers: dict[str, str]) -> httpx.Response:
            return httpx.post(call_url, json={"action": action}, headers=headers, timeout=10)

        assert list(records.rglob("*.wav")) == []  # on demand: nothing recorded yet
        assert post("start", other_agent_h).status_code == 403  # another agent's call
        assert post("pause", supervisor_h).status_code == 409  # nothing to pause yet
        unknown = httpx.post(f"{running.base}/api/v1/calls/no-such-call/recording", json={"action": "start"},
                             headers=supervisor_h, timeout=10)
        assert unknown.status_code == 404
        r = post("start", agent_h)
        assert (r.status_code, r.json()["state"]) == (200, "recording"), r.text
        time.sleep(1.0)
        before = time.monotonic()
        assert post("pause", supervisor_h).json()["state"] == "paused"
        paused_at = time.monotonic()
        time.sleep(1.0)
        resume_sent = time.monotonic()
        assert post("resume", supervisor_h).json()["state"] == "recording"
        resumed = time.monotonic()
        time.sleep(1.0)
        assert post("stop", supervisor_h).json()["state"] == "stopped"
        assert post("bogus", supervisor_h).status_code == 422
        assert finish(uac)[1] == {"successful": 1, "failed": 0}
        assert finish(uas)[1] == {"successful": 1, "failed": 0}
    finally:
        httpx.patch(queue_url, json={"recording_policy": "always"}, headers=admin.h, timeout=10)
        register("1003", "sip-demo-1003", phone, running.sip_port, expires=0)
    wavs = list(records.rglob("*.wav"))
    assert len(wavs) == 1, wavs
    sidecar = json.loads(wavs[0].with_suffix(".json").read_text())
    assert sidecar["queue"] == "support" and sidecar["agent"] == "1003"
    (pause_start, pause_end), = sidecar["pauses"]
    # the pause lasts as long as the supervisor's requests were apart (each within its HTTP round trip)
    assert resume_sent - paused_at - 0.05 <= pause_end - pause_start <= resumed - before + 0.05
    with wave.open(str(wavs[0])) as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert abs(len(frames) / 8000 - sidecar["duration"]) < 0.01
    assert 2.8 < sidecar["duration"] < 4.0  # about 3 s recorded: 1 s, the 1 s pause, 1 s
    silent = frames[int(pause_start * 8000):int(pause_end * 8000)]
    assert len(silent) > 0.9 * 8000 and not silent.any()  # exact silence, both channels, for the pause
    spoken = np.concatenate([frames[:int(pause_start * 8000)], frames[int(pause_end * 8000):]])
    for channel in (0, 1):  # around the pause, each party's audio is there
        assert np.abs(spoken[:, channel]).max() > 1000, channel
    call_id = answered[0]["call_id"]

    def cdr_recording() -> str | None:
        items = admin.get("/api/v1/call-records", queue="support")["items"]
        return next((c["recording"] for c in items if c["call_id"] == call_id), None)

    assert wait_until(lambda: cdr_recording() is not None, timeout=10)
    assert str(cdr_recording()).endswith(wavs[0].name)  # the CDR links to the recording

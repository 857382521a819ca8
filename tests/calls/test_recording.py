"""Recording by the queue's policy, against `tongdai run --demo`: a caller joined to an agent speaks
(SIPp plays the A-law audio of g711a.pcap); rtpengine forks each side to the DSP worker, which writes a
stereo WAV; the caller's channel holds what was sent (correlation) for as long as it was sent."""

from __future__ import annotations

import json
import time
import wave

import numpy as np
import pytest

from tests.calls.capture import loopback_capture
from tests.calls.sipp import free_udp_port, register, run, sipp_command
from tests.calls.test_b2bua_sipp import finish, start
from tests.calls.test_inbound_queue import Admin
from tests.calls.test_ivr_flow import CAPTURES
from tests.conftest import wait_until
from tongdai.media.g711 import Codec, decode
from tongdai.media.pcap import rtp_packets

pytestmark = [pytest.mark.e2e, pytest.mark.serial]  # audio measured: run alone


def sent_audio() -> np.ndarray:
    payloads = b"".join(packet.payload for _, packet in rtp_packets(CAPTURES / "g711a.pcap", payload_type=8))
    return decode(Codec.PCMA, np.frombuffer(payloads, dtype=np.uint8)).astype(np.float64)


def test_given_queue_records_always_then_stereo_wav_holds_the_callers_audio(running, tmp_path):
    admin = Admin(running.base)
    sales = next(q for q in admin.get("/api/v1/queues")["items"] if q["name"] == "sales")
    assert sales["recording_policy"] == "always"
    admin.post("/api/v1/numbers", {"e164": "1870", "queue_id": sales["id"]})
    phone = free_udp_port()
    uas = start(sipp_command("uas", running.sip_port, port=phone, calls=1, workdir=tmp_path), tmp_path)
    time.sleep(0.3)
    assert register("1002", "sip-demo-1002", phone, running.sip_port) == 200
    rc, count, out = run(sipp_command("uac_queue_speak.xml", running.sip_port, port=free_udp_port(), calls=1,
                                      service="1870", caller="0913000333",
                                      keys={"audio_pcap": str(CAPTURES / "g711a.pcap")}, workdir=tmp_path),
                         tmp_path)
    assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
    assert finish(uas)[1] == {"successful": 1, "failed": 0}
    records = running.workdir / "var" / "recordings"
    assert wait_until(lambda: list(records.rglob("*.wav")) != [], timeout=10), list(records.rglob("*"))
    wav_path = next(records.rglob("*.wav"))
    sidecar = json.loads(wav_path.with_suffix(".json").read_text())
    assert sidecar["queue"] == "sales" and sidecar["agent"] == "1002"
    with wave.open(str(wav_path)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 8000, 2)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    caller = frames[:, 0].astype(np.float64)
    sent = sent_audio()

    def loud_span(x: np.ndarray) -> float:
        loud = np.flatnonzero(np.abs(x) > 200)
        return (loud[-1] - loud[0]) / 8000 if loud.size else 0.0

    # the same measure on what was sent and what was recorded: equal within 100 ms
    assert abs(loud_span(caller) - loud_span(sent)) < 0.1, (loud_span(caller), loud_span(sent))
    n = len(caller) + len(sent)  # where the sent audio sits in the recording: the cross-correlation's peak
    xcorr = np.fft.irfft(np.fft.rfft(caller, n) * np.conj(np.fft.rfft(sent, n)), n)
    lag = int(np.argmax(np.abs(xcorr[:len(caller)])))
    segment = caller[lag:lag + len(sent)]
    corr = np.corrcoef(segment, sent[:len(segment)])[0, 1]
    assert corr > 0.9, corr  # the recorded caller channel is what the caller sent
    assert np.abs(frames[:, 1]).max() < 200  # SIPp's agent sends no audio: its channel is silent
    assert register("1002", "sip-demo-1002", phone, running.sip_port, expires=0) == 200


def test_given_both_parties_speak_then_agent_gets_callers_packets_and_both_channels_hold_their_audio(
        running, tmp_path):
    """Both in A-law: rtpengine relays the caller's packets to the agent as they were sent (captured on
    loopback at the agent's port), and the recording has each party's audio on its own channel (the
    agent's media enters rtpengine on the side that faced the caller before the agent: that is the side
    forked for the agent's channel)."""
    admin = Admin(running.base)
    phone, agent_media = free_udp_port(), free_udp_port()
    capture = tmp_path / "agent.pcap"
    with loopback_capture(agent_media, capture):
        uas = start(sipp_command("uas_speak.xml", running.sip_port, port=phone, calls=1, workdir=tmp_path,
                                 keys={"audio_pcap": str(CAPTURES / "g711a.pcap")}) + ["-mp", str(agent_media)],
                    tmp_path)
        time.sleep(0.3)
        assert register("1003", "sip-demo-1003", phone, running.sip_port) == 200  # support's agent
        support = next(q for q in admin.get("/api/v1/queues")["items"] if q["name"] == "support")
        admin.post("/api/v1/numbers", {"e164": "1873", "queue_id": support["id"]})
        rc, count, out = run(sipp_command("uac_queue_speak.xml", running.sip_port, port=free_udp_port(), calls=1,
                                          service="1873", caller="0917000777",
                                          keys={"audio_pcap": str(CAPTURES / "g711a.pcap")}, workdir=tmp_path),
                             tmp_path)
        assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
        assert finish(uas)[1] == {"successful": 1, "failed": 0}
    sent = [packet.payload for _, packet in rtp_packets(CAPTURES / "g711a.pcap", payload_type=8)]
    received = {packet.payload for _, packet in rtp_packets(capture, payload_type=8)}
    delivered = sum(payload in received for payload in sent)
    assert delivered >= 0.95 * len(sent), (delivered, len(sent))  # bit-exact, in A-law end to end
    records = running.workdir / "var" / "recordings"
    assert wait_until(lambda: any("0917000777" not in p.name for p in records.rglob("*.wav")), timeout=10)
    wav_path = max(records.rglob("*.wav"), key=lambda p: p.stat().st_mtime)
    with wave.open(str(wav_path)) as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2).astype(np.float64)
    reference = sent_audio()
    for channel in (0, 1):  # caller left, agent right: each correlates with the capture it spoke
        x = frames[:, channel]
        n = len(x) + len(reference)
        lag = int(np.argmax(np.abs(np.fft.irfft(np.fft.rfft(x, n) * np.conj(np.fft.rfft(reference, n)), n)[:len(x)])))
        segment = x[lag:lag + len(reference)]
        assert np.corrcoef(segment, reference[:len(segment)])[0, 1] > 0.9, channel

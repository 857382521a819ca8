"""A recording that continues when its call is mixed: the mixer's recording sides (pure) and the DSP
worker feeding a running recording from a conference's legs over real UDP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import wave
from datetime import UTC, datetime

import numpy as np
import pytest

from tests.media.test_dsp_worker import RATE, TONE_POWER, Party, _open, _tone
from tongdai.media.dsp_worker import DspWorker
from tongdai.media.dtmf import goertzel_power
from tongdai.media.mixer import Mixer, Mode
from tongdai.media.recording import CallRecorder, Channel, LocalRecordingStorage, RecordingInfo


def _const(value: int) -> np.ndarray:
    return np.full(160, value, dtype=np.int16)


def test_recording_sides_put_the_caller_left_and_every_other_voice_right():
    m = Mixer()
    for pid in ("caller", "agent", "third"):
        m.add(pid)
    m.add("whisper", Mode.WHISPER, whisper_to="agent")
    m.add("listener", Mode.LISTEN)
    caller, others = m.sides({"caller": _const(1), "agent": _const(2), "third": _const(4), "whisper": _const(8),
                              "listener": _const(16)}, "caller")
    assert caller is not None and int(caller[0]) == 1
    assert others is not None and int(others[0]) == 2 + 4 + 8  # a listener says nothing; a whisper is said


def test_recording_sides_are_none_when_nobody_spoke_and_loud_sums_clip():
    m = Mixer()
    for pid in ("caller", "agent", "third"):
        m.add(pid)
    assert m.sides({}, "caller") == (None, None)
    m.set_muted("third", True)
    _, others = m.sides({"agent": _const(30000), "third": _const(30000)}, "caller")
    assert others is not None and int(others[0]) == 30000  # the muted member is not recorded
    m.set_muted("third", False)
    _, others = m.sides({"agent": _const(30000), "third": _const(30000)}, "caller")
    assert others is not None and int(others[0]) == 32767


@pytest.mark.timeout(60)
async def test_given_a_running_recording_when_its_call_is_mixed_then_the_third_partys_voice_is_recorded(tmp_path):
    """1 s of the caller and agent on the recording's fork legs, then the call moves to the mixer (the
    forks go quiet) and a third party speaks there: the file is one WAV whose right channel holds the
    agent before and the third party after, and whose sidecar marks when the call was mixed."""
    worker = DspWorker()
    await worker.start()
    loop = asyncio.get_running_loop()
    info = RecordingInfo("call-9", "acme", datetime(2026, 11, 23, tzinfo=UTC), "1001", "sales")
    caller, agent, third = Party(_tone(400)), Party(_tone(1000)), Party(_tone(1800))
    try:
        for party in (caller, agent, third):
            await _open(party)
        forks = await worker.start_recording("call-9", CallRecorder(info, LocalRecordingStorage(tmp_path)))
        t0 = loop.time()
        await asyncio.gather(caller.send(forks[Channel.CALLER], 1.0), agent.send(forks[Channel.AGENT], 1.0))
        mixed_at = loop.time() - t0
        worker.record_mix("call-9", "call-9", "caller")
        addresses = {name: await worker.add_participant("call-9", name) for name in ("caller", "agent", "third")}
        await asyncio.gather(caller.send(addresses["caller"], 1.5), third.send(addresses["third"], 1.5))
        stored = worker.stop_recording("call-9")
        worker.unrecord_mix("call-9")
    finally:
        await worker.stop()
        for party in (caller, agent, third):
            party.transport.close()
    wav_path = tmp_path / stored.location
    with wave.open(str(wav_path)) as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    windows = frames[: len(frames) // 160 * 160].reshape(-1, 160, 2)
    left = goertzel_power(windows[:, :, 0], (400.0, 1000.0, 1800.0)) / TONE_POWER
    right = goertzel_power(windows[:, :, 1], (400.0, 1000.0, 1800.0)) / TONE_POWER
    before, after = np.r_[10:40], np.r_[int(mixed_at * 50) + 15:int(mixed_at * 50) + 60]
    assert np.mean(left[before, 0] > 0.5) >= 0.9 and np.mean(left[after, 0] > 0.5) >= 0.9  # the caller throughout
    assert np.mean(right[before, 1] > 0.5) >= 0.9  # the agent, from its fork
    assert np.mean(right[after, 2] > 0.5) >= 0.9  # the third party, from the mix
    assert (left[:, 2] < 0.01).all() and (right[:, 0] < 0.01).all()  # nobody on the wrong side
    sidecar = json.loads(wav_path.with_suffix(".json").read_text())
    assert [m["event"] for m in sidecar["marks"]] == ["mixed"]
    assert abs(sidecar["marks"][0]["at"] - mixed_at) < 0.1
    assert abs(len(frames) / RATE - sidecar["duration"]) < 0.01


@pytest.mark.timeout(60)
async def test_given_a_mixed_call_when_a_recording_starts_then_it_records_the_mix_from_its_first_second(tmp_path):
    """On demand, after the call became a conference: nothing reaches the fork legs, the mix does."""
    worker = DspWorker()
    await worker.start()
    info = RecordingInfo("call-7", "acme", datetime(2026, 11, 23, tzinfo=UTC))
    caller, third = Party(_tone(400)), Party(_tone(1800))
    try:
        for party in (caller, third):
            await _open(party)
        addresses = {name: await worker.add_participant("call-7", name) for name in ("caller", "agent", "third")}
        worker.record_mix("call-7", "call-7", "caller")
        await worker.start_recording("call-7", CallRecorder(info, LocalRecordingStorage(tmp_path)))
        await asyncio.gather(caller.send(addresses["caller"], 1.5), third.send(addresses["third"], 1.5))
        stored = worker.stop_recording("call-7")
    finally:
        await worker.stop()
        for party in (caller, third):
            party.transport.close()
    wav_path = tmp_path / stored.location
    with wave.open(str(wav_path)) as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    windows = frames[: len(frames) // 160 * 160].reshape(-1, 160, 2)
    talking = np.r_[10:60]
    left = goertzel_power(windows[talking, :, 0], (400.0,)) / TONE_POWER
    right = goertzel_power(windows[talking, :, 1], (1800.0,)) / TONE_POWER
    assert np.mean(left[:, 0] > 0.5) >= 0.9 and np.mean(right[:, 0] > 0.5) >= 0.9
    marks = json.loads(wav_path.with_suffix(".json").read_text())["marks"]
    assert marks == [{"at": 0.0, "event": "mixed"}]

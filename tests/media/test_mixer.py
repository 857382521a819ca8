"""The conference mixer core: hearing matrix per mode and the mixed frames."""

from __future__ import annotations

import numpy as np
import pytest

from tongdai.media.mixer import Mixer, MixerError, Mode


def _const(value: int) -> np.ndarray:
    return np.full(160, value, dtype=np.int16)


def _call_with_supervisor(mode: Mode) -> Mixer:
    m = Mixer()
    m.add("caller")
    m.add("agent")
    m.add("sup", mode, whisper_to="agent" if mode is Mode.WHISPER else None)
    return m


def _heard(m: Mixer) -> dict[str, set[str]]:
    """Who each participant hears, read off the mixed output (inputs are powers of two)."""
    codes = {"caller": 1, "agent": 2, "sup": 4}
    out = m.mix({pid: _const(v) for pid, v in codes.items()})
    return {pid: {s for s, v in codes.items() if int(frame[0]) & v} for pid, frame in out.items()}


def test_listen_supervisor_hears_both_and_is_heard_by_none():
    assert _heard(_call_with_supervisor(Mode.LISTEN)) == {
        "caller": {"agent"}, "agent": {"caller"}, "sup": {"caller", "agent"}}


def test_whisper_supervisor_is_heard_by_the_agent_only():
    assert _heard(_call_with_supervisor(Mode.WHISPER)) == {
        "caller": {"agent"}, "agent": {"caller", "sup"}, "sup": {"caller", "agent"}}


def test_barge_supervisor_is_heard_by_everyone():
    assert _heard(_call_with_supervisor(Mode.BARGE)) == {
        "caller": {"agent", "sup"}, "agent": {"caller", "sup"}, "sup": {"caller", "agent"}}


def test_mode_changes_during_the_call_rebuild_the_matrix():
    m = _call_with_supervisor(Mode.LISTEN)
    m.set_mode("sup", Mode.WHISPER, "agent")
    m.set_mode("sup", Mode.BARGE)
    assert m.matrix().tolist() == [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    m.set_mode("sup", Mode.LISTEN)
    assert m.matrix().tolist() == [[0, 1, 0], [1, 0, 0], [1, 1, 0]]


def test_n_party_mix_excludes_each_participants_own_audio():
    m = Mixer()
    for pid in range(5):
        m.add(pid)
    out = m.mix({pid: _const(10 ** pid) for pid in range(5)})
    for pid in range(5):
        assert int(out[pid][0]) == 11111 - 10 ** pid


def test_missing_frames_are_silence_and_loud_sums_clip_instead_of_wrapping():
    m = Mixer()
    for pid in "abc":
        m.add(pid)
    out = m.mix({"a": _const(30000), "b": _const(30000), "c": None})
    assert int(out["c"][0]) == 32767 and int(out["a"][0]) == 30000
    out = m.mix({"a": _const(-30000), "b": _const(-30000)})
    assert int(out["c"][0]) == -32768


def test_a_muted_member_is_heard_by_no_one_but_still_hears():
    m = _call_with_supervisor(Mode.BARGE)
    m.set_muted("caller", True)
    heard = _heard(m)
    assert all("caller" not in h for h in heard.values()) and heard["caller"] == {"agent", "sup"}


def test_bad_requests_raise_mixer_error():
    m = _call_with_supervisor(Mode.LISTEN)
    with pytest.raises(MixerError):
        m.add("caller")
    with pytest.raises(MixerError):
        m.set_mode("sup", Mode.WHISPER)
    with pytest.raises(MixerError):
        m.mix({"caller": np.zeros(80, dtype=np.int16)})
    with pytest.raises(MixerError):
        m.remove("nobody")


def test_removing_the_whisper_target_leaves_the_whisper_unheard():
    m = _call_with_supervisor(Mode.WHISPER)
    m.remove("agent")
    assert _heard_without_agent(m) == {"caller": set(), "sup": {"caller"}}


def _heard_without_agent(m: Mixer) -> dict[str, set[str]]:
    out = m.mix({"caller": _const(1), "sup": _const(4)})
    return {pid: {s for s, v in (("caller", 1), ("sup", 4)) if int(f[0]) & v} for pid, f in out.items()}


def test_empty_conference_mixes_to_nothing():
    assert Mixer().mix({}) == {}

"""The DSP worker's jitter buffer, pure: reordering, loss, late packets, drift, restarts."""

from __future__ import annotations

import numpy as np

from tongdai.media.dsp_worker import JitterBuffer


def _ramp(start: int, n: int) -> np.ndarray:
    """Samples whose values are their own position, so the output shows what was played from where."""
    return (np.arange(start, start + n) % 30000).astype(np.int16)


def _play(buf: JitterBuffer, frames: int) -> list[np.ndarray | None]:
    return [buf.pop(160) for _ in range(frames)]


def test_playout_waits_for_the_prefetch_then_plays_in_order():
    buf = JitterBuffer(prefetch=320)
    buf.push(1000, _ramp(0, 160))
    assert buf.pop() is None
    buf.push(1160, _ramp(160, 160))
    out = _play(buf, 2)
    assert np.array_equal(np.concatenate(out), _ramp(0, 320))


def test_reordered_packets_play_in_timestamp_order():
    buf = JitterBuffer(prefetch=480)
    for i in (0, 2, 1, 4, 3, 5):
        buf.push(5000 + 160 * i, _ramp(160 * i, 160))
    assert np.array_equal(np.concatenate(_play(buf, 6)), _ramp(0, 960))


def test_a_lost_packet_plays_as_silence_and_a_whole_lost_frame_as_none():
    buf = JitterBuffer(prefetch=160)
    buf.push(0, _ramp(0, 160))
    buf.push(320, _ramp(320, 160))
    out = _play(buf, 3)
    assert out[1] is None and np.array_equal(out[2], _ramp(320, 160))


def test_30_ms_packets_are_cut_into_20_ms_frames():
    buf = JitterBuffer(prefetch=320)
    for i in range(4):
        buf.push(240 * i, _ramp(240 * i, 240))
    assert np.array_equal(np.concatenate(_play(buf, 6)), _ramp(0, 960))


def test_late_samples_are_dropped_and_counted():
    buf = JitterBuffer(prefetch=160)
    buf.push(0, _ramp(0, 160))
    buf.push(160, _ramp(160, 160))
    _play(buf, 1)
    buf.push(0, _ramp(0, 160))  # arrives after it was due
    assert buf.late == 1
    assert np.array_equal(buf.pop(), _ramp(160, 160))


def test_timestamps_that_wrap_around_keep_playing():
    buf = JitterBuffer(prefetch=320)
    start = 2**32 - 160
    buf.push(start, _ramp(0, 160))
    buf.push(0, _ramp(160, 160))
    assert np.array_equal(np.concatenate(_play(buf, 2)), _ramp(0, 320))


def test_a_sender_running_ahead_is_skipped_forward_to_the_prefetch():
    buf = JitterBuffer(prefetch=320, max_delay=1600)
    for i in range(20):  # 400 ms arrive at once
        buf.push(160 * i, _ramp(160 * i, 160))
    first = buf.pop()
    assert buf.skipped == 1 and int(first[0]) == 3200 - 320


def test_after_an_underrun_a_peer_with_a_new_timeline_is_followed():
    buf = JitterBuffer(prefetch=160)
    buf.push(10_000, _ramp(0, 160))
    _play(buf, 3)
    buf.push(50, _ramp(500, 160))  # timestamps went backwards (peer restarted)
    assert np.array_equal(buf.pop(), _ramp(500, 160))


def test_a_new_ssrc_resets_the_buffer():
    buf = JitterBuffer(prefetch=160)
    buf.push(0, _ramp(0, 160), ssrc=1)
    buf.push(99_999, _ramp(7, 160), ssrc=2)
    assert np.array_equal(buf.pop(), _ramp(7, 160))

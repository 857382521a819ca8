"""DTMF: the RFC 4733 tracker with a hand clock, and the in-band Goertzel detector on generated audio."""

from __future__ import annotations

import numpy as np
import pytest

from tongdai.media import g711, rtp
from tongdai.media.dtmf import COLUMNS, KEYPAD, ROWS, InbandDtmfDetector, Rfc4733Tracker, goertzel_power

RATE = 8000


def _event_packets(digit: str, ts: int, seq: int, *, ends: int = 3, ssrc: int = 9) -> list[rtp.RtpPacket]:
    code = rtp.digit_event(digit)
    body = [rtp.TelephoneEvent(code, False, 10, 160 * i) for i in range(1, 6)]
    body += [rtp.TelephoneEvent(code, True, 10, 960)] * ends
    return [rtp.RtpPacket(101, seq + i, ts, ssrc, e.to_bytes(), marker=i == 0) for i, e in enumerate(body)]


def test_given_three_end_packets_when_tracked_then_the_digit_is_reported_once():
    tracker = Rfc4733Tracker()
    out = [d for i, p in enumerate(_event_packets("7", 1000, 1)) for d in tracker.receive(p, i * 0.02)]
    assert [(d.digit, d.start, d.duration, d.source) for d in out] == [("7", 1000, 960, "rfc4733")]


def test_given_the_same_digit_twice_with_new_timestamps_then_both_presses_count():
    tracker = Rfc4733Tracker()
    packets = _event_packets("1", 1000, 1) + _event_packets("1", 3000, 20)
    assert [d.digit for p in packets for d in tracker.receive(p, 0.0)] == ["1", "1"]


def test_given_all_end_packets_lost_when_the_next_event_starts_then_the_first_is_still_reported():
    tracker = Rfc4733Tracker()
    first = _event_packets("4", 1000, 1, ends=0)
    second = _event_packets("5", 3000, 20)
    assert [d.digit for p in first + second for d in tracker.receive(p, 0.0)] == ["4", "5"]


def test_given_all_end_packets_lost_when_silent_past_the_timeout_then_tick_reports_it():
    tracker = Rfc4733Tracker(end_timeout=0.5)
    for i, p in enumerate(_event_packets("9", 1000, 1, ends=0)):
        assert tracker.receive(p, 10 + i * 0.02) == []
    last = 10 + 4 * 0.02
    assert tracker.next_deadline() == pytest.approx(last + 0.5)
    assert tracker.tick(last + 0.4) == []
    assert [d.digit for d in tracker.tick(last + 0.5)] == ["9"]
    assert tracker.tick(last + 5) == [] and tracker.next_deadline() is None


def test_late_retransmission_after_the_report_is_ignored():
    tracker = Rfc4733Tracker()
    packets = _event_packets("0", 1000, 1)
    assert len([d for p in packets for d in tracker.receive(p, 0.0)]) == 1
    assert tracker.receive(packets[-1], 1.0) == []


def test_non_dtmf_events_are_not_reported_as_digits():
    tracker = Rfc4733Tracker()
    flash = rtp.RtpPacket(101, 1, 500, 1, rtp.TelephoneEvent(16, True, 10, 800).to_bytes())
    assert tracker.receive(flash, 0.0) == []


# ------------------------------------------------------------------------------------------ in-band


def _tone(freqs: tuple[float, ...], ms: float, amplitude: float = 6000.0, start: int = 0) -> np.ndarray:
    t = (np.arange(int(RATE * ms / 1000)) + start) / RATE
    return sum(amplitude * np.sin(2 * np.pi * f * t) for f in freqs) if freqs else np.zeros(t.size)


def _digit_tone(key: str, ms: float, amplitude: float = 6000.0, twist_db: float = 0.0) -> np.ndarray:
    row = next(i for i, r in enumerate(KEYPAD) if key in r)
    col = KEYPAD[row].index(key)
    t = np.arange(int(RATE * ms / 1000)) / RATE
    high = amplitude * 10 ** (twist_db / 20)
    return amplitude * np.sin(2 * np.pi * ROWS[row] * t) + high * np.sin(2 * np.pi * COLUMNS[col] * t)


def _sequence(keys: str, on_ms: float, off_ms: float, **kw) -> np.ndarray:
    parts = [np.zeros(int(RATE * off_ms / 1000))]
    for k in keys:
        parts += [_digit_tone(k, on_ms, **kw), np.zeros(int(RATE * off_ms / 1000))]
    return np.concatenate(parts)


def _detect(audio: np.ndarray, frame: int = 160) -> str:
    detector = InbandDtmfDetector()
    pcm = np.clip(audio, -32768, 32767).astype(np.int16)
    found = [d for i in range(0, pcm.size, frame) for d in detector.feed(pcm[i:i + frame])]
    return "".join(d.digit for d in found)


def test_goertzel_power_equals_the_classic_recursion():
    x = np.random.default_rng(1).normal(0, 1000, 205)
    for f in (697.0, 1336.0, 1633.0):
        coeff = 2 * np.cos(2 * np.pi * f / RATE)
        s1 = s2 = 0.0
        for v in x:
            s1, s2 = v + coeff * s1 - s2, s1
        recursion = s1 * s1 + s2 * s2 - coeff * s1 * s2
        assert goertzel_power(x, (f,))[0] == pytest.approx(2 * recursion / x.size**2, rel=1e-9)


def test_every_key_is_detected_in_generated_tones():
    assert _detect(_sequence("123A456B789C*0#D", 80, 80)) == "123A456B789C*0#D"


def test_q24_minimum_40_ms_tones_with_40_ms_pauses_are_all_detected():
    assert _detect(_sequence("159#", 40, 40)) == "159#"


def test_repeated_key_with_short_gaps_counts_each_press():
    assert _detect(_sequence("5555", 50, 50)) == "5555"


def test_detection_does_not_depend_on_frame_size_and_reports_start_and_duration():
    audio = _sequence("8", 100, 100)
    detector = InbandDtmfDetector()
    pcm = audio.astype(np.int16)
    [digit] = [d for i in range(0, pcm.size, 240) for d in detector.feed(pcm[i:i + 240])]
    assert _detect(audio, frame=7) == "8"
    assert abs(digit.start - 800) <= 160 and abs(digit.duration - 800) <= 240


def test_tones_survive_g711_and_twist_within_limits():
    audio = _sequence("147", 70, 60, twist_db=3.0) + 0
    law = g711.decode(g711.Codec.PCMU, g711.encode(g711.Codec.PCMU, audio.astype(np.int16)))
    assert _detect(law) == "147"
    assert _detect(_sequence("2", 70, 60, twist_db=-7.0)) == "2"


def test_excessive_twist_is_rejected():
    assert _detect(_sequence("3", 100, 60, twist_db=8.0)) == ""


def test_tones_are_found_in_white_noise_at_15_db_snr():
    audio = _sequence("0918", 80, 80, amplitude=4000)
    noise = np.random.default_rng(7).normal(0, 4000 / np.sqrt(10 ** 1.5), audio.size)
    assert _detect(audio + noise) == "0918"


def test_too_short_a_tone_is_not_a_digit():
    assert _detect(_sequence("6", 20, 100)) == ""


def test_single_tones_and_dial_tone_give_no_digit():
    for freqs in ((697.0,), (1209.0,), (1000.0,), (350.0, 440.0), (400.0,)):
        assert _detect(_tone(freqs, 1000)) == "", freqs


def test_speech_like_audio_gives_no_digit():
    rng = np.random.default_rng(3)
    t = np.arange(RATE * 4) / RATE
    audio = np.zeros(t.size)
    # Voiced sounds: gliding pitch with many harmonics, syllable envelopes, plus breath noise.
    f0 = 110 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    for h in range(1, 30):
        audio += (3000 / h) * np.sin(h * phase)
    audio *= 0.5 + 0.5 * np.abs(np.sin(2 * np.pi * 2.5 * t))
    audio += rng.normal(0, 300, t.size)
    assert _detect(audio) == ""


def test_quiet_tones_below_the_energy_floor_are_ignored():
    assert _detect(_sequence("9", 100, 100, amplitude=100)) == ""


@pytest.mark.parametrize(("voice", "text"), [
    ("en-us", "Thank you for calling. Please hold while we connect you to the next available agent. "
              "Your call is important to us. Press one for sales, two for support."),
    ("vi", "Xin chào quý khách. Vui lòng giữ máy, nhân viên sẽ trả lời trong giây lát. Một hai ba bốn năm."),
])
def test_synthesised_speech_gives_no_digit(tmp_path, voice, text):
    """Real speech from espeak-ng, resampled to 8 kHz with sox, through a mu-law round trip."""
    import shutil
    import subprocess
    import wave

    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.skip("espeak-ng and sox are Debian packages of the test dependencies")
    raw, out = tmp_path / "raw.wav", tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True, timeout=60)
    subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(out), "gain", "-n", "-3"],
                   check=True, timeout=60)
    with wave.open(str(out)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert pcm.size > RATE * 4
    law = g711.decode(g711.Codec.PCMU, g711.encode(g711.Codec.PCMU, pcm))
    assert _detect(law) == ""
    # The same speech with a key pressed over it still yields that key.
    mixed = law.astype(float)
    mixed[RATE:RATE + 800] += _digit_tone("5", 100, amplitude=8000)
    assert _detect(mixed) == "5"

"""RtpengineAnchor against a real rtpengine: bridging, codec choice (transcode only when the legs
disagree), echo test, prompts played into a leg, DTMF injection, silence, recording, media fork."""

from __future__ import annotations

import asyncio
import re
import subprocess

import numpy as np
import pytest

from tongdai.media import g711
from tongdai.media.probe import RtpProbe, sdp_media_address, tone_frames
from tongdai.media.session import RtpengineAnchor, is_webrtc_sdp

pytestmark = pytest.mark.e2e

PCMU = ((0, "PCMU/8000"),)
PCMA = ((8, "PCMA/8000"),)
BOTH = ((0, "PCMU/8000"), (8, "PCMA/8000"))


@pytest.fixture
async def anchor(rtpengine):
    ng = rtpengine.client()
    yield RtpengineAnchor(ng)
    await ng.close()


async def bridge(anchor, call_id, offer_codecs=PCMU, answer_codecs=PCMU):
    a, b = await RtpProbe.open(keep_payloads=True), await RtpProbe.open(keep_payloads=True)
    to_b = await anchor.offer(call_id, "a", a.sdp(codecs=offer_codecs))
    b.remote = sdp_media_address(to_b)
    to_a = await anchor.answer(call_id, "a", "b", b.sdp(codecs=answer_codecs))
    a.remote = sdp_media_address(to_a)
    return a, b, to_b, to_a


def m_line_pts(sdp: str) -> list[int]:
    return [int(pt) for pt in re.search(r"^m=audio \d+ \S+ ([\d ]+)", sdp, re.M).group(1).split()]


def dominant_hz(pcm: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(float)))
    return float(np.argmax(spectrum[1:]) + 1) * 8000 / len(pcm)


async def test_given_legs_share_pcmu_then_audio_is_relayed_bit_exact_without_transcoding(anchor):
    a, b, to_b, _ = await bridge(anchor, "s-same")
    assert 8 in m_line_pts(to_b)  # PCMA offered as a transcoding candidate
    frames = tone_frames(1000, 0.5)
    await a.send(frames)
    await asyncio.sleep(0.1)
    assert b.received.payload_types == {0}
    assert b.received.payloads == frames  # relayed, not re-encoded
    await anchor.delete("s-same")


async def test_given_offerer_has_pcmu_and_pcma_when_answerer_picks_pcma_then_both_use_pcma(anchor):
    a, b, _, to_a = await bridge(anchor, "s-agree", offer_codecs=BOTH, answer_codecs=PCMA)
    assert m_line_pts(to_a)[0] == 8
    frames = tone_frames(1000, 0.4, g711.Codec.PCMA)
    await a.send(frames, pt=8)
    await asyncio.sleep(0.1)
    assert b.received.payload_types == {8} and b.received.payloads == frames
    await anchor.delete("s-agree")


async def test_given_legs_disagree_pcmu_vs_pcma_then_rtpengine_transcodes_and_tone_survives(anchor):
    a, b, _, to_a = await bridge(anchor, "s-transcode", offer_codecs=PCMU, answer_codecs=PCMA)
    assert m_line_pts(to_a)[0] == 0  # the offerer keeps speaking PCMU
    await asyncio.gather(a.send(tone_frames(1000, 0.6)), b.send(tone_frames(500, 0.6, g711.Codec.PCMA), pt=8))
    await asyncio.sleep(0.15)
    assert b.received.payload_types == {8} and a.received.payload_types == {0}
    at_b = g711.decode(g711.Codec.PCMA, np.frombuffer(b"".join(b.received.payloads), np.uint8))
    at_a = g711.decode(g711.Codec.PCMU, np.frombuffer(b"".join(a.received.payloads), np.uint8))
    assert abs(dominant_hz(at_b) - 1000) < 20 and abs(dominant_hz(at_a) - 500) < 20
    await anchor.delete("s-transcode")


async def test_unsupported_codecs_are_stripped_from_the_offer(anchor):
    a = await RtpProbe.open()
    offer = await anchor.offer("s-strip", "a", a.sdp(codecs=((18, "G729/8000"), (0, "PCMU/8000"))))
    assert 18 not in m_line_pts(offer) and 0 in m_line_pts(offer)
    await anchor.delete("s-strip")


async def test_echo_sends_the_callers_own_packets_back(anchor):
    caller = await RtpProbe.open(keep_payloads=True)
    answer = await anchor.echo("s-echo", "caller", caller.sdp())
    caller.remote = sdp_media_address(answer)
    frames = tone_frames(700, 1.0)
    await caller.send(frames)
    await asyncio.sleep(0.15)
    assert caller.received.packets == len(frames) == 50
    assert caller.received.payloads == frames
    await anchor.delete("s-echo")


async def test_play_file_reaches_the_chosen_leg_only_for_its_duration(anchor, tmp_path):
    wav = tmp_path / "tone.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(wav), "synth", "1.0", "sine", "440"],
                   check=True)
    a, b, _, _ = await bridge(anchor, "s-play")
    duration = await anchor.play("s-play", "a", str(wav))
    assert duration == 1000
    await asyncio.sleep(1.4)
    assert 45 <= a.received.packets <= 55 and b.received.packets == 0
    await anchor.stop_play("s-play", "a")
    await anchor.delete("s-play")


async def test_play_dtmf_from_a_leg_arrives_as_rfc4733_at_the_other_leg(rtpengine):
    ng = rtpengine.client()
    anchor = RtpengineAnchor(ng, inject_dtmf=True)
    a, b, _, _ = await bridge(anchor, "s-dtmf")
    sending = asyncio.create_task(a.send(tone_frames(440, 0.8)))
    await asyncio.sleep(0.2)  # rtpengine injects into a stream it has seen (needs an SSRC)
    await anchor.play_dtmf("s-dtmf", "a", "9", duration_ms=100)
    await sending
    await asyncio.sleep(0.1)
    assert 101 in b.received.payload_types
    events = [p for p in b.received.payloads if len(p) == 4]
    assert events and events[-1][0] == 9 and events[-1][1] & 0x80  # digit 9 with the end bit
    await anchor.delete("s-dtmf")
    await ng.close()


async def test_silence_replaces_a_legs_audio_with_silence_and_unsilence_restores_it(anchor):
    a, b, _, _ = await bridge(anchor, "s-silence")
    await a.send(tone_frames(1000, 0.2))
    await anchor.silence("s-silence", "a")
    b.received.payloads.clear()
    await a.send(tone_frames(1000, 0.3))
    await asyncio.sleep(0.1)
    silenced = g711.decode(g711.Codec.PCMU, np.frombuffer(b"".join(b.received.payloads), np.uint8))
    assert len(silenced) > 0 and np.abs(silenced.astype(int)).max() < 100
    await anchor.unsilence("s-silence", "a")
    b.received.payloads.clear()
    await a.send(tone_frames(1000, 0.3))
    await asyncio.sleep(0.1)
    loud = g711.decode(g711.Codec.PCMU, np.frombuffer(b"".join(b.received.payloads), np.uint8))
    assert np.abs(loud.astype(int)).max() > 5000
    await anchor.delete("s-silence")


async def test_record_start_pause_stop_writes_rtpengine_pcap_and_metadata(anchor, rtpengine):
    a, b, _, _ = await bridge(anchor, "s-rec")
    await anchor.record_start("s-rec")
    await a.send(tone_frames(440, 0.3))
    await anchor.record_pause("s-rec")
    await anchor.record_start("s-rec")
    await a.send(tone_frames(440, 0.2))
    await anchor.record_stop("s-rec")
    await anchor.delete("s-rec")
    pcaps = list((rtpengine.workdir / "recordings" / "pcaps").glob("s-rec*"))
    metadata = list((rtpengine.workdir / "recordings" / "metadata").glob("*s-rec*"))
    assert pcaps and sum(p.stat().st_size for p in pcaps) > 10 * 172
    assert metadata


async def test_fork_sends_a_legs_audio_to_a_listener(anchor):
    a, b, _, _ = await bridge(anchor, "s-fork")
    listener = await RtpProbe.open()
    tag, offer = await anchor.fork("s-fork", ["a"])
    await anchor.fork_answer("s-fork", tag, listener.sdp())
    await a.send(tone_frames(440, 0.5))
    await asyncio.sleep(0.1)
    assert listener.received.packets >= 20 and b.received.packets == 25
    await anchor.delete("s-fork")


async def test_delete_of_a_call_rtpengine_does_not_know_is_not_an_error(anchor):
    await anchor.delete("never-existed")


def test_browser_sdp_is_recognised_by_ice_and_fingerprint():
    browser = "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=ice-ufrag:x\r\na=fingerprint:sha-256 AA\r\n"
    assert is_webrtc_sdp(browser) and not is_webrtc_sdp("m=audio 4000 RTP/AVP 0\r\n")

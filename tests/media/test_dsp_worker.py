"""The DSP worker over real UDP sockets on 127.0.0.1: conference hearing matrix and in-band DTMF."""

from __future__ import annotations

import asyncio
import random

import numpy as np
import pytest

from tongdai.media import g711, rtp
from tongdai.media.dsp_worker import DspWorker
from tongdai.media.dtmf import COLUMNS, KEYPAD, ROWS, goertzel_power
from tongdai.media.g711 import Codec
from tongdai.media.mixer import Mode

RATE = 8000
TONES = {"caller": 400.0, "agent": 1000.0, "sup": 1800.0}
AMPLITUDE = 3000.0
TONE_POWER = AMPLITUDE**2 / 2


class Party(asyncio.DatagramProtocol):
    """An RTP peer that sends a stream of 20 ms frames (with optional send jitter) and records what arrives."""

    def __init__(self, audio: np.ndarray, codec: Codec = Codec.PCMU, jitter: float = 0.0, seed: int = 0) -> None:
        self.audio, self.codec, self.jitter = audio.astype(np.int16), codec, jitter
        self.rng = random.Random(seed)
        self.received: list[tuple[float, rtp.RtpPacket]] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.frames = 0

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.received.append((asyncio.get_running_loop().time(), rtp.parse(data)))

    async def send(self, remote: tuple[str, int], seconds: float) -> None:
        """Send `seconds` of audio, one packet every 20 ms on an absolute schedule."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(int(seconds / 0.02)):
            offset = i * 160 % max(len(self.audio), 1)
            frame = self.audio[offset:offset + 160]
            packet = rtp.RtpPacket(self.codec.payload_type, i & 0xFFFF, 1000 + i * 160, 77,
                                   g711.encode(self.codec, frame).tobytes())
            delay = self.rng.uniform(0, self.jitter)
            loop.call_at(start + i * 0.02 + delay, self.transport.sendto, packet.to_bytes(), remote)
            await asyncio.sleep(max(0.0, start + (i + 1) * 0.02 - loop.time()))

    def heard_between(self, t0: float, t1: float) -> np.ndarray:
        """Per-window Goertzel power at each party's tone, decoded from packets that arrived in [t0, t1)."""
        packets = sorted((p for t, p in self.received if t0 <= t < t1), key=lambda p: p.sequence)
        pcm = np.concatenate([g711.decode(self.codec, np.frombuffer(p.payload, np.uint8)) for p in packets])
        windows = pcm[: pcm.size // 160 * 160].reshape(-1, 160)
        return np.median(goertzel_power(windows, tuple(TONES.values())), axis=0)


def _tone(freq: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE  # 1 s holds a whole number of cycles: it loops cleanly
    return AMPLITUDE * np.sin(2 * np.pi * freq * t)


async def _open(party: Party) -> None:
    await asyncio.get_running_loop().create_datagram_endpoint(lambda: party, local_addr=("127.0.0.1", 0))


def _tones_heard(power: np.ndarray) -> set[str]:
    present = {name for name, p in zip(TONES, power, strict=True) if p >= 0.5 * TONE_POWER}
    unclear = {name for name, p in zip(TONES, power, strict=True) if 0.01 * TONE_POWER < p < 0.5 * TONE_POWER}
    assert not unclear, f"tones neither clearly present nor absent: {unclear} {power}"
    return present


@pytest.mark.timeout(60)
async def test_listen_whisper_and_barge_deliver_exactly_the_tones_of_the_hearing_matrix():
    worker = DspWorker()
    await worker.start()
    parties = {name: Party(_tone(f), jitter=0.015 if name == "caller" else 0.0, seed=len(name))
               for name, f in TONES.items()}
    try:
        addresses = {}
        for name, party in parties.items():
            await _open(party)
            mode = Mode.LISTEN if name == "sup" else Mode.NORMAL
            addresses[name] = await worker.add_participant("call-1", name, mode=mode)
        senders = [asyncio.create_task(p.send(addresses[n], 4.0)) for n, p in parties.items()]
        loop = asyncio.get_running_loop()
        expected = {
            Mode.LISTEN: {"caller": {"agent"}, "agent": {"caller"}, "sup": {"caller", "agent"}},
            Mode.WHISPER: {"caller": {"agent"}, "agent": {"caller", "sup"}, "sup": {"caller", "agent"}},
            Mode.BARGE: {"caller": {"agent", "sup"}, "agent": {"caller", "sup"}, "sup": {"caller", "agent"}},
        }
        for mode, hearing in expected.items():
            worker.set_mode("call-1", "sup", mode, "agent" if mode is Mode.WHISPER else None)
            await asyncio.sleep(0.3)  # jitter buffers and packets in flight settle on the new matrix
            t0 = loop.time()
            await asyncio.sleep(0.7)
            heard = {name: _tones_heard(p.heard_between(t0, t0 + 0.7)) for name, p in parties.items()}
            assert heard == hearing, mode
        await asyncio.gather(*senders)
    finally:
        await worker.stop()
        for party in parties.values():
            party.transport.close()
    assert worker.ticks > 150
    # Every party got a steady 50 packets/s back, paced by the worker's clock.
    for party in parties.values():
        times = np.array([t for t, _ in party.received])
        assert len(times) >= 150 and np.median(np.diff(times)) == pytest.approx(0.02, abs=0.004)


def _dtmf_audio(keys: str, on: float = 0.08, off: float = 0.08) -> np.ndarray:
    parts = [np.zeros(int(RATE * off))]
    for key in keys:
        row = next(i for i, r in enumerate(KEYPAD) if key in r)
        t = np.arange(int(RATE * on)) / RATE
        parts += [3000 * np.sin(2 * np.pi * ROWS[row] * t) + 3000 * np.sin(2 * np.pi * COLUMNS[KEYPAD[row].index(key)] * t),
                  np.zeros(int(RATE * off))]
    audio = np.concatenate(parts)
    return np.concatenate([audio, np.zeros((-audio.size) % 160)])


@pytest.mark.timeout(30)
async def test_in_band_dtmf_on_an_a_law_leg_is_reported_when_detection_is_asked():
    digits: list[tuple[str, str, str]] = []
    worker = DspWorker(on_digit=lambda conf, pid, d: digits.append((conf, pid, d.digit)))
    await worker.start()
    keys = "0912#"
    caller = Party(_dtmf_audio(keys), codec=Codec.PCMA, jitter=0.01)
    quiet = Party(np.zeros(160), codec=Codec.PCMA)
    try:
        await _open(caller)
        await _open(quiet)
        addr = await worker.add_participant("ivr", "caller", codec=Codec.PCMA, detect_dtmf=True)
        quiet_addr = await worker.add_participant("ivr", "other", codec=Codec.PCMA)
        seconds = caller.audio.size / RATE
        await asyncio.gather(caller.send(addr, seconds), quiet.send(quiet_addr, seconds))
        await asyncio.sleep(0.2)
    finally:
        await worker.stop()
        caller.transport.close()
        quiet.transport.close()
    assert digits == [("ivr", "caller", k) for k in keys]


@pytest.mark.timeout(30)
async def test_rfc4733_events_sent_to_a_leg_are_reported_once():
    digits: list[str] = []
    worker = DspWorker(on_digit=lambda conf, pid, d: digits.append(d.digit))
    await worker.start()
    peer = Party(np.zeros(160))
    try:
        await _open(peer)
        addr = await worker.add_participant("ivr", "caller")
        for n, key in enumerate("47*"):
            code = rtp.digit_event(key)
            events = [rtp.TelephoneEvent(code, False, 10, 160 * i) for i in range(1, 4)]
            events += [rtp.TelephoneEvent(code, True, 10, 640)] * 3
            for i, event in enumerate(events):
                packet = rtp.RtpPacket(101, n * 10 + i, 8000 * (n + 1), 5, event.to_bytes(), marker=i == 0)
                peer.transport.sendto(packet.to_bytes(), addr)
                await asyncio.sleep(0.005)
        await asyncio.sleep(0.1)
    finally:
        await worker.stop()
        peer.transport.close()
    assert digits == list("47*")


@pytest.mark.timeout(60)
async def test_sipp_alaw_capture_with_30_ms_packets_and_send_jitter_reaches_the_other_leg_bit_exact():
    """g711a.pcap replayed with up to 25 ms of random send delay (so packets reorder) through a 2-party mix."""
    from tests.conftest import SHARED_DATA
    from tongdai.media import pcap

    captured = list(pcap.rtp_packets(SHARED_DATA / "rtp-pcap" / "g711a.pcap", payload_type=8))
    sent = np.frombuffer(b"".join(p.payload for _, p in captured), np.uint8)
    worker = DspWorker()
    await worker.start()
    caller, agent = Party(np.zeros(160), Codec.PCMA), Party(np.zeros(160), Codec.PCMA)
    rng = random.Random(5)
    try:
        await _open(caller)
        await _open(agent)
        caller_addr = await worker.add_participant("call", "caller", codec=Codec.PCMA)
        await worker.add_participant("call", "agent", codec=Codec.PCMA)
        worker.set_remote("call", "agent", agent.transport.get_extra_info("sockname"))
        # A longer prefetch than the default absorbs the 25 ms of send jitter without underruns.
        worker.leg("call", "caller").jitter.prefetch = 480
        loop = asyncio.get_running_loop()
        start, first = loop.time() + 0.05, captured[0][0]
        for when, packet in captured:
            loop.call_at(start + (when - first) + rng.uniform(0, 0.025), caller.transport.sendto,
                         packet.to_bytes(), caller_addr)
        await asyncio.sleep(captured[-1][0] - first + 0.5)
        stats = worker.leg("call", "caller").stats
        late = worker.leg("call", "caller").jitter.late
    finally:
        await worker.stop()
        caller.transport.close()
        agent.transport.close()
    assert stats.received == len(captured) and late <= 2
    got = np.frombuffer(b"".join(p.payload for _, p in sorted(agent.received, key=lambda r: r[1].sequence)), np.uint8)
    # The agent hears the caller alone, so mixing, decoding and re-encoding must give back the same codes.
    stream = got.tobytes()
    blocks = [sent[i:i + 160] for i in range(0, sent.size - 160, 160)]
    voiced = [b for b in blocks if np.ptp(b) > 0]  # constant (silent) blocks would match anywhere
    intact = sum(stream.find(b.tobytes()) >= 0 for b in voiced)
    # Every 20 ms of the capture arrives bit-exact; a starved event loop that makes the jitter buffer
    # skip may cost a few blocks (none on an idle machine).
    assert len(voiced) > 300 and intact >= 0.95 * len(voiced)


@pytest.mark.timeout(60)
async def test_recording_legs_write_caller_left_agent_right_with_a_pause_of_silence(tmp_path):
    """Two RTP streams (as rtpengine's media fork sends them) into a stereo recording over UDP."""
    import wave
    from datetime import UTC, datetime

    from tongdai.media.recording import CallRecorder, Channel, LocalRecordingStorage, RecordingInfo

    worker = DspWorker()
    await worker.start()
    info = RecordingInfo("rec-1", "acme", datetime(2026, 11, 23, tzinfo=UTC), "1001", "sales")
    caller, agent = Party(_tone(400)), Party(_tone(1000), jitter=0.01)
    try:
        await _open(caller)
        await _open(agent)
        addrs = await worker.start_recording("rec-1", CallRecorder(info, LocalRecordingStorage(tmp_path)))
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        senders = asyncio.gather(caller.send(addrs[Channel.CALLER], 3.0), agent.send(addrs[Channel.AGENT], 3.0))
        await asyncio.sleep(1.0)
        worker.recorder("rec-1").pause(loop.time())
        await asyncio.sleep(1.0)
        worker.recorder("rec-1").resume(loop.time())
        await senders
        stored = worker.stop_recording("rec-1")
        elapsed = loop.time() - t0
    finally:
        await worker.stop()
        caller.transport.close()
        agent.transport.close()
    with wave.open(str(tmp_path / stored.location)) as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    assert abs(len(frames) / RATE - elapsed) < 0.1
    windows = frames[: len(frames) // 160 * 160].reshape(-1, 160, 2)
    left = goertzel_power(windows[:, :, 0], (400.0, 1000.0)) / TONE_POWER
    right = goertzel_power(windows[:, :, 1], (400.0, 1000.0)) / TONE_POWER
    talking = np.r_[10:40, 110:140]  # 0.2-0.8 s and 2.2-2.8 s, clear of the pause edges
    # Each channel carries its own party's tone and never the other's; a 20 ms frame may go missing
    # when the machine is starved (as a real recording would), hence 90% rather than every window.
    assert np.mean(left[talking, 0] > 0.5) >= 0.9 and (left[:, 1] < 0.01).all()
    assert np.mean(right[talking, 1] > 0.5) >= 0.9 and (right[:, 0] < 0.01).all()
    assert not windows[60:90].any()  # 1.2-1.8 s: inside the pause, silence of the full length


@pytest.mark.timeout(60)
async def test_sipp_dtmf_captures_replayed_over_udp_into_an_ivr_collector_yield_the_digit_string():
    """The 12 RFC 4733 captures, replayed at their capture pace to a worker leg, feed a DigitCollector."""
    from tests.conftest import SHARED_DATA
    from tongdai.media import pcap
    from tongdai.media.collector import CollectEnd, CollectSpec, DigitCollector

    loop = asyncio.get_running_loop()
    collector = DigitCollector(CollectSpec(max_digits=20, terminators="#", inter_digit_timeout=3.0), loop.time())
    results = []

    def on_digit(conf, pid, digit):
        result = collector.digit(digit.digit, loop.time())
        if result is not None:
            results.append(result)

    worker = DspWorker(on_digit=on_digit)
    await worker.start()
    peer = Party(np.zeros(160))
    names = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "star", "pound"]
    try:
        await _open(peer)
        addr = await worker.add_participant("ivr", "caller")
        start = loop.time() + 0.05
        for n, name in enumerate(names):
            captured = list(pcap.rtp_packets(SHARED_DATA / "rtp-pcap" / f"dtmf_2833_{name}.pcap", 101))
            for when, packet in captured:
                # Separate SIPp runs (unrelated timestamps and sequence numbers): renumber them as one stream.
                moved = rtp.RtpPacket(101, n * 16 + packet.sequence % 16, 1000 + n * 4000, 99, packet.payload,
                                      packet.marker)
                loop.call_at(start + n * 0.3 + (when - captured[0][0]), peer.transport.sendto,
                             moved.to_bytes(), addr)
        await asyncio.sleep(len(names) * 0.3 + 0.3)
    finally:
        await worker.stop()
        peer.transport.close()
    assert [(r.digits, r.end, r.terminator) for r in results] == [("0123456789*", CollectEnd.TERMINATOR, "#")]

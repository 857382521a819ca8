"""Media DSP benchmarks: G.711 against audioop, mixer CPU per participant, DTMF detection, recording.

Run: `.venv/bin/python bench/media_dsp_bench.py [--json OUT] [--runs 5]` or
`.venv/bin/python -m pytest bench/media_dsp_bench.py -m bench -s`. Every figure is the median of
`--runs` runs, with the peer (audioop, or an audioop mixer) measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from tongdai.media import g711
from tongdai.media.dsp_worker import DspWorker, JitterBuffer
from tongdai.media.dtmf import InbandDtmfDetector
from tongdai.media.g711 import Codec
from tongdai.media.mixer import Mixer
from tongdai.media.recording import CallRecorder, Channel, LocalRecordingStorage, RecordingInfo

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

SIZES = [3, 4, 5, 3, 4, 5, 3, 4, 5, 4]  # 10 conferences, 40 participants
RNG = np.random.default_rng(11)


def _cpu(fn: Callable[[], object]) -> float:
    """CPU seconds (user + system of this process) spent in fn."""
    start = time.process_time()
    fn()
    return time.process_time() - start


# ---------------------------------------------------------------------------------------------- G.711


def g711_throughput(block: int, total_samples: int) -> dict[str, float]:
    """Million samples per CPU second for encode and decode, ours and audioop's, blocks of `block` samples."""
    pcm = RNG.normal(0, 3000, block).clip(-32768, 32767).astype(np.int16)
    raw = pcm.tobytes()
    alaw, ulaw = g711.encode_bytes(Codec.PCMA, raw), g711.encode_bytes(Codec.PCMU, raw)
    reps = total_samples // block
    cases: dict[str, Callable[[], object]] = {
        "alaw_encode_tongdai": lambda: [g711.encode_bytes(Codec.PCMA, raw) for _ in range(reps)],
        "alaw_encode_audioop": lambda: [audioop.lin2alaw(raw, 2) for _ in range(reps)],
        "ulaw_encode_tongdai": lambda: [g711.encode_bytes(Codec.PCMU, raw) for _ in range(reps)],
        "ulaw_encode_audioop": lambda: [audioop.lin2ulaw(raw, 2) for _ in range(reps)],
        "alaw_decode_tongdai": lambda: [g711.decode_bytes(Codec.PCMA, alaw) for _ in range(reps)],
        "alaw_decode_audioop": lambda: [audioop.alaw2lin(alaw, 2) for _ in range(reps)],
        "ulaw_decode_tongdai": lambda: [g711.decode_bytes(Codec.PCMU, ulaw) for _ in range(reps)],
        "ulaw_decode_audioop": lambda: [audioop.ulaw2lin(ulaw, 2) for _ in range(reps)],
    }
    return {name: reps * block / _cpu(fn) / 1e6 for name, fn in cases.items()}


# ---------------------------------------------------------------------------------------------- mixer


def _payloads(codec: Codec, parties: int, ticks: int) -> list[list[bytes]]:
    t = np.arange(ticks * 160) / 8000
    out = []
    for p in range(parties):
        pcm = (3000 * np.sin(2 * np.pi * (300 + 100 * p) * t)).astype(np.int16)
        codes = g711.encode(codec, pcm).tobytes()
        out.append([codes[i * 160:(i + 1) * 160] for i in range(ticks)])
    return out


def mixer_tongdai(seconds: float, jitter: bool = True) -> float:
    """CPU s per participant-second of the worker's tick: decode, jitter buffer, mix, one encode per conference."""
    ticks = int(seconds / 0.02)
    confs = []
    for size in SIZES:
        mixer = Mixer()
        for p in range(size):
            mixer.add(p)
        confs.append((mixer, [JitterBuffer(prefetch=160) for _ in range(size)], _payloads(Codec.PCMU, size, ticks)))

    def run() -> None:
        for i in range(ticks):
            for mixer, buffers, payloads in confs:
                frames = {}
                for p, buf in enumerate(buffers):
                    pcm = g711.decode(Codec.PCMU, np.frombuffer(payloads[p][i], np.uint8))
                    if jitter:
                        buf.push(i * 160, pcm)
                        pcm = buf.pop(160)
                    frames[p] = pcm
                codes = g711.encode(Codec.PCMU, mixer.mix_rows(frames))
                for row in codes:
                    row.tobytes()

    return _cpu(run) / (sum(SIZES) * seconds)


def mixer_audioop(seconds: float) -> float:
    """The same work with audioop: ulaw2lin, add the others' frames pairwise, lin2ulaw (no jitter buffer)."""
    ticks = int(seconds / 0.02)
    confs = [_payloads(Codec.PCMU, size, ticks) for size in SIZES]

    def run() -> None:
        for i in range(ticks):
            for payloads in confs:
                pcm = [audioop.ulaw2lin(p[i], 2) for p in payloads]
                for me in range(len(pcm)):
                    acc = bytes(320)
                    for other, frame in enumerate(pcm):
                        if other != me:
                            acc = audioop.add(acc, frame, 2)
                    audioop.lin2ulaw(acc, 2)

    return _cpu(run) / (sum(SIZES) * seconds)


SENDER = r"""
import socket, sys, time, json
targets = [tuple(a) for a in json.loads(sys.argv[1])]
seconds = float(sys.argv[2])
socks = []
for _ in targets:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); s.setblocking(False)
    socks.append(s)
payload = bytes([0xFF]) * 160
start = time.monotonic()
for i in range(int(seconds / 0.02)):
    time.sleep(max(0.0, start + i * 0.02 - time.monotonic()))
    head = bytes([0x80, 0]) + (i & 0xFFFF).to_bytes(2, "big") + (i * 160).to_bytes(4, "big")
    for n, (s, t) in enumerate(zip(socks, targets)):
        s.sendto(head + n.to_bytes(4, "big") + payload, t)
        try:
            while True:
                s.recv(2048)
        except BlockingIOError:
            pass
print(json.dumps(time.process_time()))
"""


async def _worker_run(seconds: float) -> dict[str, float]:
    worker = DspWorker()
    await worker.start()
    targets = []
    for c, size in enumerate(SIZES):
        for p in range(size):
            targets.append(await worker.add_participant(c, p))
    cpu0, wall0 = time.process_time(), time.monotonic()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", SENDER, json.dumps(targets), str(seconds),
                                                stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    received = sum(worker.leg(c, p).stats.received for c, size in enumerate(SIZES) for p in range(size))
    sent = sum(worker.leg(c, p).stats.sent for c, size in enumerate(SIZES) for p in range(size))
    late = worker.late_ticks
    await worker.stop()
    participants = sum(SIZES)
    return {"cpu_per_participant_second": cpu / (participants * wall), "core_share": cpu / wall,
            "packets_in": received, "packets_out": sent, "expected_in": participants * int(seconds / 0.02),
            "late_ticks": late, "sender_cpu_s": float(json.loads(out))}


def worker_udp(seconds: float) -> dict[str, float]:
    """The DSP worker with real sockets on 127.0.0.1, fed by a sender process: this process's CPU only."""
    return asyncio.run(_worker_run(seconds))


# ---------------------------------------------------------------------------------------------- DTMF, recording


def dtmf_cost(seconds: float) -> float:
    """CPU s per leg-second of in-band detection fed 20 ms frames."""
    frames = RNG.normal(0, 1000, (int(seconds / 0.02), 160)).astype(np.int16)
    detector = InbandDtmfDetector()
    return _cpu(lambda: [detector.feed(f) for f in frames]) / seconds


def recording_cost(seconds: float) -> float:
    """CPU s per call-second of a stereo recording fed two G.711 streams and flushed every 20 ms."""
    ticks = int(seconds / 0.02)
    payload = _payloads(Codec.PCMA, 2, ticks)
    with tempfile.TemporaryDirectory() as tmp:
        rec = CallRecorder(RecordingInfo("bench", "bench", datetime(2026, 11, 23, tzinfo=UTC)),
                           LocalRecordingStorage(Path(tmp)))

        def run() -> None:
            rec.start(0.0)
            for i in range(ticks):
                rec.feed(Channel.CALLER, i * 0.02, payload[0][i], Codec.PCMA)
                rec.feed(Channel.AGENT, i * 0.02, payload[1][i], Codec.PCMA)
                rec.flush(i * 0.02)
            rec.stop(seconds)

        return _cpu(run) / seconds


# ---------------------------------------------------------------------------------------------- main


def run_all(runs: int, worker_seconds: float) -> dict[str, object]:
    """Every benchmark `runs` times; medians."""
    g_frame = [g711_throughput(160, 2_000_000) for _ in range(runs)]
    g_second = [g711_throughput(8000, 8_000_000) for _ in range(runs)]
    mix = [(mixer_tongdai(10.0, jitter=False), mixer_audioop(10.0), mixer_tongdai(10.0)) for _ in range(runs)]
    udp = [worker_udp(worker_seconds) for _ in range(max(1, runs // 2))]
    med = statistics.median
    return {
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "runs": runs,
        "g711_msamples_per_cpu_s": {
            "20ms_frames": {k: round(med(r[k] for r in g_frame), 2) for k in g_frame[0]},
            "1s_blocks": {k: round(med(r[k] for r in g_second), 2) for k in g_second[0]},
        },
        "g711_tongdai_over_audioop_per_run_median": {
            size: {k.removesuffix("_tongdai"): round(med(r[k] / r[k.replace("tongdai", "audioop")] for r in runs_), 2)
                   for k in runs_[0] if k.endswith("_tongdai")}
            for size, runs_ in (("20ms_frames", g_frame), ("1s_blocks", g_second))
        },
        "mixer_cpu_s_per_participant_s": {
            "conferences": SIZES,
            "tongdai": round(med(m[0] for m in mix), 6),
            "audioop": round(med(m[1] for m in mix), 6),
            "audioop_over_tongdai": round(med(m[1] / m[0] for m in mix), 2),
            "tongdai_with_jitter_buffer": round(med(m[2] for m in mix), 6),
        },
        "worker_udp": {k: round(med(u[k] for u in udp), 6) for k in udp[0]},
        "dtmf_cpu_s_per_leg_s": round(med(dtmf_cost(20.0) for _ in range(runs)), 6),
        "recording_cpu_s_per_call_s": round(med(recording_cost(30.0) for _ in range(runs)), 6),
    }


def main(argv: list[str] | None = None) -> None:
    """Command line: print the figures as JSON (and write them to --json)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--worker-seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    data = run_all(args.runs, args.worker_seconds)
    text = json.dumps(data, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


@pytest.mark.bench
def test_media_dsp_benchmark(tmp_path: Path) -> None:
    """`make bench` entry: run the script in its own process and check the figures are sane."""
    out = tmp_path / "media_dsp.json"
    subprocess.run([sys.executable, __file__, "--json", str(out), "--runs", "3"], check=True, timeout=1800)
    data = json.loads(out.read_text())
    assert data["mixer_cpu_s_per_participant_s"]["tongdai"] > 0
    assert data["worker_udp"]["packets_in"] >= 0.99 * data["worker_udp"]["expected_in"]


if __name__ == "__main__":
    main()

"""Media benchmark: concurrent bridged calls through a userspace rtpengine on loopback, ramped until a
packet is lost or the jitter p99 passes 10 ms; and the control-plane cost of a call set-up.

Each call is two RTP legs (G.711, 20 ms) bridged by rtpengine through tongdai's RtpengineAnchor. One
process drives every leg from a single 20 ms tick (sending is batched, receiving is one non-blocking
reader per socket), so the generator itself stays cheap. The peer, run side by side at every step, is
the same legs wired straight to each other without rtpengine: its jitter is what the generator and the
kernel add, so the ratio shows what rtpengine adds. Jitter is the RFC 3550 transit delta
D(i-1, i) = |(R_i - R_{i-1}) - (S_i - S_{i-1})| of every packet; its 99th percentile over all legs is
reported. CPU is user+system time from /proc/<pid>/stat.

    .venv/bin/python bench/media_bench.py [--calls 25,50,100,200,400,600,800] [--seconds 8] [--runs 3]
        [--record] [--rtpengine-threads N] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import struct
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from tongdai.core.events import EventBus  # noqa: E402
from tongdai.media.probe import sdp_media_address, tone_frames  # noqa: E402
from tongdai.media.rtpengine import RtpengineService  # noqa: E402
from tongdai.media.session import RtpengineAnchor  # noqa: E402
from tongdai.media.settings import MediaSettings  # noqa: E402

HEADER = struct.Struct("!BBHII")
JITTER_LIMIT_MS = 10.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Leg:
    """One RTP endpoint of the generator."""

    sock: socket.socket
    ssrc: int
    remote: tuple[str, int] | None = None
    received: int = 0
    deltas: list[float] = field(default_factory=list)
    last: tuple[float, int] | None = None

    @classmethod
    def open(cls, index: int) -> Leg:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        return cls(sock, 0x1000 + index)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()
        return host, port

    def sdp(self) -> str:
        host, port = self.address
        return (f"v=0\r\no=bench {self.ssrc} 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
                f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")

    def drain(self) -> None:
        now = time.perf_counter()
        while True:
            try:
                data = self.sock.recv(2048)
            except BlockingIOError:
                return
            if len(data) < 12 or (data[1] & 0x7F) != 0:
                continue  # RTCP or anything else
            ts = HEADER.unpack_from(data)[3]
            self.received += 1
            if self.last is not None:
                ticks = ((ts - self.last[1] + 0x80000000) & 0xFFFFFFFF) - 0x80000000  # signed: reordering
                self.deltas.append(abs((now - self.last[0]) - ticks / 8000) * 1000)
            self.last = (now, ts)

    def close(self) -> None:
        self.sock.close()


async def run_step(legs: list[Leg], seconds: float) -> dict[str, float]:
    """Every leg sends `seconds` of tone at 20 ms; returns loss and jitter figures."""
    loop = asyncio.get_running_loop()
    for leg in legs:
        leg.received, leg.deltas, leg.last = 0, [], None
        loop.add_reader(leg.sock.fileno(), leg.drain)
    frames = tone_frames(440, seconds)
    start = loop.time()
    try:
        for i, frame in enumerate(frames):
            delay = start + i * 0.02 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            for leg in legs:
                header = HEADER.pack(0x80, 0, i & 0xFFFF, (i * 160) & 0xFFFFFFFF, leg.ssrc)
                assert leg.remote is not None
                leg.sock.sendto(header + frame, leg.remote)
        await asyncio.sleep(0.5)
    finally:
        for leg in legs:
            loop.remove_reader(leg.sock.fileno())
    sent = len(frames) * len(legs)
    received = sum(leg.received for leg in legs)
    deltas = np.concatenate([np.array(leg.deltas) for leg in legs if leg.deltas]) if received else np.zeros(1)
    return {"sent": sent, "received": received, "lost": sent - received,
            "jitter_p99_ms": round(float(np.percentile(deltas, 99)), 3),
            "jitter_p50_ms": round(float(np.percentile(deltas, 50)), 3),
            "jitter_max_ms": round(float(deltas.max()), 3)}


async def bridge_calls(anchor: RtpengineAnchor, calls: int, tag: str, record: bool) -> list[Leg]:
    legs = []
    for c in range(calls):
        a, b = Leg.open(2 * c), Leg.open(2 * c + 1)
        call_id = f"bench-{tag}-{c}"
        b.remote = sdp_media_address(await anchor.offer(call_id, "a", a.sdp()))
        a.remote = sdp_media_address(await anchor.answer(call_id, "a", "b", b.sdp()))
        if record:
            await anchor.record_start(call_id)
        legs += [a, b]
    return legs


def direct_calls(calls: int) -> list[Leg]:
    legs = []
    for c in range(calls):
        a, b = Leg.open(2 * c), Leg.open(2 * c + 1)
        a.remote, b.remote = b.address, a.address
        legs += [a, b]
    return legs


async def ramp(service: RtpengineService, anchor: RtpengineAnchor, steps: list[int], seconds: float,
               record: bool, run: int) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    assert service.process is not None
    for calls in steps:
        legs = await bridge_calls(anchor, calls, f"{run}-{calls}", record)
        rtpe_cpu, gen_cpu = cpu_seconds(service.process.pid), time.process_time()
        relayed = await run_step(legs, seconds)
        rtpe_cpu, gen_cpu = cpu_seconds(service.process.pid) - rtpe_cpu, time.process_time() - gen_cpu
        for c in range(calls):
            await anchor.delete(f"bench-{run}-{calls}-{c}")
        for leg in legs:
            leg.close()
        legs = direct_calls(calls)
        direct = await run_step(legs, seconds)
        for leg in legs:
            leg.close()
        row = {"calls": calls, "relayed": relayed, "direct": direct,
               "rtpengine_core_share": round(rtpe_cpu / (seconds + 0.5), 3),
               "generator_core_share": round(gen_cpu / (seconds + 0.5), 3)}
        print(json.dumps(row), flush=True)
        results.append(row)
        if relayed["lost"] > 0 or float(relayed["jitter_p99_ms"]) > JITTER_LIMIT_MS:
            break
    return results


async def control_plane(service: RtpengineService, anchor: RtpengineAnchor, calls: int) -> dict[str, float]:
    """Offer + answer + delete for `calls` calls one after another: wall time and CPU per set-up."""
    a, b = Leg.open(0), Leg.open(1)
    offer_sdp, answer_sdp = a.sdp(), b.sdp()
    assert service.process is not None
    rtpe_cpu, own_cpu = cpu_seconds(service.process.pid), time.process_time()
    times = []
    for c in range(calls):
        t0 = time.perf_counter()
        await anchor.offer(f"cp-{c}", "a", offer_sdp)
        await anchor.answer(f"cp-{c}", "a", "b", answer_sdp)
        await anchor.delete(f"cp-{c}")
        times.append((time.perf_counter() - t0) * 1000)
    rtpe_cpu, own_cpu = cpu_seconds(service.process.pid) - rtpe_cpu, time.process_time() - own_cpu
    a.close()
    b.close()
    return {"calls": calls, "setup_ms_p50": round(statistics.median(times), 3),
            "setup_ms_p99": round(float(np.percentile(times, 99)), 3),
            "rtpengine_cpu_ms_per_setup": round(rtpe_cpu / calls * 1000, 3),
            "tongdai_cpu_ms_per_setup": round(own_cpu / calls * 1000, 3)}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", default="25,50,100,200,400,600,800")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--setups", type=int, default=1000)
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--rtpengine-threads", type=int, default=0, help="rtpengine --num-threads (0: its default)")
    parser.add_argument("--json")
    args = parser.parse_args()
    steps = [int(x) for x in args.calls.split(",")]
    with tempfile.TemporaryDirectory(prefix="tongdai-media-bench-") as tmp:
        settings = MediaSettings(rtp_port_min=20000, rtp_port_max=29999, rtpengine_log_level=4,
                                 rtpengine_threads=args.rtpengine_threads)
        service = RtpengineService(settings, data_dir=Path(tmp), bus=EventBus())
        await service.start()
        anchor = RtpengineAnchor(service.ng)
        try:
            setups = [await control_plane(service, anchor, args.setups) for _ in range(args.runs)]
            runs = [await ramp(service, anchor, steps, args.seconds, args.record, r) for r in range(args.runs)]
        finally:
            await service.stop()
    out = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
           "record": args.record, "seconds_per_step": args.seconds, "control_plane": setups, "ramps": runs}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    print(json.dumps(out["control_plane"], indent=2))


if __name__ == "__main__":
    asyncio.run(main())

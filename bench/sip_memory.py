"""SIP memory: (1) the location service holding 10,000 registered contacts, measured in-process with
tracemalloc from real parsed REGISTER requests; (2) the RSS of a tongdai SIP endpoint holding 5,000
concurrent dialogs (SIPp `uac` calls held 30 s each, 500 new calls/s for 10 s).

    .venv/bin/python bench/sip_memory.py
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from tests.conftest import free_port  # noqa: E402

from bench.sip_bench import rss_mib, start_tongdai  # noqa: E402
from tongdai.sip.message import Request, parse  # noqa: E402
from tongdai.sip.registrar import LocationService  # noqa: E402


def register(ext: int) -> Request:
    raw = (f"REGISTER sip:tongdai SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.{ext // 250}.{ext % 250}:5060;branch=z9hG4bK{ext}\r\n"
           f"To: <sip:{ext}@tongdai>\r\nFrom: <sip:{ext}@tongdai>;tag={ext}\r\nCall-ID: reg-{ext}@10.1.0.1\r\n"
           f"CSeq: 1 REGISTER\r\nContact: <sip:{ext}@10.1.{ext // 250}.{ext % 250}:5060;transport=udp>;expires=3600\r\n"
           "User-Agent: Yealink SIP-T46U 108.86.0.45\r\nContent-Length: 0\r\n\r\n").encode()
    msg = parse(raw)
    assert isinstance(msg, Request)
    return msg


def contacts_memory(n: int = 10_000) -> dict[str, float]:
    requests = [register(10_000 + i) for i in range(n)]
    tracemalloc.start()
    loc = LocationService()
    before = tracemalloc.get_traced_memory()[0]
    for i, req in enumerate(requests):
        loc.register(f"tenant/{10_000 + i}", req, "10.1.0.1", 0.0)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {"contacts": n, "mib": round((after - before) / 2**20, 2), "bytes_per_contact": round((after - before) / n)}


def dialogs_memory(rate: int = 500, seconds: int = 10, hold_ms: int = 30_000) -> dict[str, float]:
    port = free_port(socket.SOCK_DGRAM)
    proc = start_tongdai(port, core=0)
    try:
        time.sleep(1)
        idle = rss_mib(proc.pid)
        calls = rate * seconds
        cmd = ["sipp", "-sn", "uac", f"127.0.0.1:{port}", "-s", "9196", "-r", str(rate), "-m", str(calls),
               "-l", str(calls), "-d", str(hold_ms), "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)),
               "-nostdin", "-timeout", str(seconds + hold_ms // 1000 + 60)]
        with tempfile.TemporaryDirectory() as d:
            sipp = subprocess.Popen(cmd, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(seconds + 3)  # every call set up and held
            peak = rss_mib(proc.pid)
            sipp.wait(timeout=hold_ms // 1000 + 90)
        return {"dialogs": calls, "idle_rss_mib": round(idle, 1), "rss_with_dialogs_mib": round(peak, 1),
                "kib_per_dialog": round((peak - idle) * 1024 / calls, 1), "sipp_exit": sipp.returncode}
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    result = {"date": time.strftime("%Y-%m-%d"), "registrations": contacts_memory(), "dialogs": dialogs_memory()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

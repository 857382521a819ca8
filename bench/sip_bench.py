"""SIP benchmark, RFC 7502 style: SIPp's built-in `uac` scenario against the 9196 test number of a
tongdai SIP endpoint pinned to one core; the highest rate with 0 failed calls, and CPU seconds per
1,000 calls at a fixed rate (from /proc/<pid>/stat). With `--sippy`, sippy 2.5.0 (installed in a
throw-away virtualenv under /tmp) answers the same load in the same run, for the CPU ratio: both
servers are up for the whole run and each rate step goes to one, then the other.

    .venv/bin/python bench/sip_bench.py [--rates 200,400,...] [--seconds 10] [--sippy PYTHON] [--loop asyncio] [--gc default]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import free_port  # noqa: E402

SERVER = """
import asyncio, sys, logging
sys.path.insert(0, {repo!r})
from tongdai.sip.service import SipService
from tongdai.sip.settings import SipSettings
async def main():
    s = SipService(SipSettings(udp_port={port}, tcp_port={port}))
    await s.start()
    if {settle!r}:  # as `tongdai run` does
        from tongdai.cli import settle_gc
        settle_gc()
    print("ready", flush=True)
    await asyncio.Event().wait()
factory = None
if {loop!r} == "uvloop":
    import uvloop
    factory = uvloop.new_event_loop
with asyncio.Runner(loop_factory=factory) as runner:
    runner.run(main())
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_tongdai(port: int, core: int, loop: str = "uvloop", settle: bool = True) -> subprocess.Popen[bytes]:
    code = SERVER.format(repo=str(REPO / "src"), port=port, loop=loop, settle=settle)
    return _started(["taskset", "-c", str(core), sys.executable, "-c", code])


def start_sippy(python: str, port: int, core: int) -> subprocess.Popen[bytes]:
    return _started(["taskset", "-c", str(core), python, str(REPO / "bench" / "sippy_uas.py"), str(port)])


def _started(cmd: list[str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL if os.environ.get("SIP_BENCH_STDERR") is None else None)
    assert proc.stdout is not None
    proc.stdout.readline()
    return proc


def sipp(port: int, rate: int, calls: int, core: int) -> dict[str, int]:
    cmd = ["taskset", "-c", str(core), "sipp", "-sn", "uac", f"127.0.0.1:{port}", "-s", "9196", "-r", str(rate),
           "-m", str(calls), "-l", str(rate * 4), "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)),
           "-timeout", str(30 + calls // rate), "-nostdin"]
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120 + calls // rate, cwd=d)
    text = out.stdout

    def counter(name: str) -> int:
        found = re.findall(rf"{name}\s*\|\s*\d+\s*\|\s*(\d+)", text)
        return int(found[-1]) if found else -1

    return {"successful": counter("Successful call"), "failed": counter("Failed call"),
            "retrans": len(re.findall("Retrans", text))}


def measure(proc: subprocess.Popen[bytes], port: int, rate: int, seconds: float) -> dict[str, float]:
    calls = int(rate * seconds)
    before = cpu_seconds(proc.pid)
    t0 = time.monotonic()
    result = sipp(port, rate, calls, core=1)
    elapsed = time.monotonic() - t0
    used = cpu_seconds(proc.pid) - before
    return {"rate": rate, "calls": calls, "successful": result["successful"], "failed": result["failed"],
            "cpu_s": round(used, 2), "cpu_s_per_1000_calls": round(used / max(calls, 1) * 1000, 3),
            "core_share": round(used / elapsed, 2), "rss_mib": round(rss_mib(proc.pid), 1)}


def ramp(servers: dict[str, object], rates: list[int], seconds: float) -> list[dict[str, object]]:
    """Each rate step runs against every server in turn (started once, each on its own port), so that
    the two figures of a step are minutes apart at most, not a whole ramp: the machine is shared and
    its load drifts. A server leaves the ramp at its first step with a failed call."""
    procs = {}
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    try:
        for name, start in servers.items():
            port = free_port(socket.SOCK_DGRAM)
            procs[name] = (start(port), port)  # type: ignore[operator]
        for rate in rates:
            for name, (proc, port) in procs.items():
                if rows[name] and not _clean(rows[name][-1]):
                    continue
                row = measure(proc, port, rate, seconds)
                rows[name].append(row)
                print(name, json.dumps(row), flush=True)
                time.sleep(3)
    finally:
        for proc, _ in procs.values():
            proc.kill()
            proc.wait()
    return [{"server": name, "max_rate_without_failure": max((r["rate"] for r in runs if _clean(r)), default=0),
             "runs": runs} for name, runs in rows.items()]


def _clean(row: dict[str, float]) -> bool:
    return row["failed"] == 0 and row["successful"] == row["calls"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="200,400,600,800,1000,1200,1500")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--sippy", metavar="PYTHON", help="a Python with sippy 2.5.0 installed, to run the peer")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop",
                    help="tongdai's event loop (uvloop: what `tongdai run` uses by default)")
    ap.add_argument("--gc", choices=("settled", "default"), default="settled",
                    help="settled: the collector settings of `tongdai run` (tongdai.cli.settle_gc)")
    args = ap.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    starts = {"tongdai": lambda port: start_tongdai(port, 0, args.loop, args.gc == "settled")}
    if args.sippy:
        starts["sippy"] = lambda port: start_sippy(args.sippy, port, 0)
    servers: list[dict[str, object]] = ramp(starts, rates, args.seconds)  # type: ignore[arg-type]
    if args.sippy:
        common = {r["rate"]: r for r in servers[0]["runs"] if _clean(r)}  # type: ignore[attr-defined]
        ratios = [round(p["cpu_s_per_1000_calls"] / common[p["rate"]]["cpu_s_per_1000_calls"], 2)
                  for p in servers[1]["runs"] if _clean(p) and p["rate"] in common]  # type: ignore[attr-defined]
        servers.append({"sippy_cpu_per_call_over_tongdai": ratios})
    result = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "seconds_per_step": args.seconds, "tongdai_loop": args.loop, "tongdai_gc": args.gc, "servers": servers}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""API benchmark: start-up time to /readyz, idle memory, and list-endpoint latency with 10,000 rows,
on SQLite and PostgreSQL. The load generator runs in this process; tongdai runs in its own.

    .venv/bin/python bench/api_bench.py [--requests 2000] [--concurrency 8] [--runs 3]

Latency is reported beside /healthz measured in the same run (the HTTP stack's floor), so the ratio
shows what authentication, the tenant-scoped query and serialisation add.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import PostgresServer, free_port  # noqa: E402

ROWS = 10_000


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start(db_url: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    port = free_port()
    cmd = [sys.executable, "-m", "tongdai", "--set", f"http.port={port}", "--set", f"data_dir={workdir}",
           "--set", f"database.url={db_url}", "--set", "log.level=WARNING", "--set", "sip.enabled=false",
           "run", "--demo"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TONGDAI_")}
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    base = f"http://127.0.0.1:{port}"
    while time.monotonic() - t0 < 120:
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return proc, base, time.monotonic() - t0
        except httpx.HTTPError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("tongdai did not become ready")


async def seed(db_url: str) -> None:
    """Insert ROWS skills into the demo tenant directly (the API is measured, not the seeding)."""
    from sqlalchemy import insert, select

    from tongdai.core.db import Database, new_id
    from tongdai.directory.models import Skill
    from tongdai.iam.models import Tenant

    db = Database(db_url)
    async with db.session() as s:
        tid = (await s.execute(select(Tenant.id).where(Tenant.slug == "demo"))).scalar_one()
        await s.execute(insert(Skill), [{"id": new_id(), "tenant_id": tid, "name": f"skill-{i:05d}"} for i in range(ROWS)])
    await db.dispose()


async def load(base: str, path: str, headers: dict[str, str], n: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        async def one() -> None:
            async with sem:
                url = path.format(offset=random.randrange(0, ROWS - 50))
                t = time.perf_counter()
                r = await client.get(url)
                latencies.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text

        await asyncio.gather(*(one() for _ in range(n)))
    return latencies


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000


def run_backend(name: str, db_url: str, args: argparse.Namespace) -> dict[str, object]:
    from tongdai import demo

    results: dict[str, list[float]] = {"startup_s": [], "idle_rss_mib": [], "list_p50_ms": [], "list_p99_ms": [],
                                       "health_p50_ms": [], "health_p99_ms": [], "list_rps": []}
    with tempfile.TemporaryDirectory() as d:
        for run in range(args.runs):
            proc, base, startup = start(db_url, Path(d))
            try:
                if run == 0:
                    asyncio.run(seed(db_url))
                time.sleep(1.0)
                results["startup_s"].append(startup)
                results["idle_rss_mib"].append(_rss_kib(proc.pid) / 1024)
                token = httpx.post(base + "/api/v1/auth/token", data={
                    "username": demo.ADMIN_LOGIN[0], "password": demo.ADMIN_LOGIN[1]}).json()["access_token"]
                h = {"Authorization": f"Bearer {token}"}
                asyncio.run(load(base, "/api/v1/skills?limit=50&offset={offset}", h, 200, args.concurrency))  # warm-up
                health = asyncio.run(load(base, "/healthz", {}, args.requests, args.concurrency))
                t = time.perf_counter()
                lat = asyncio.run(load(base, "/api/v1/skills?limit=50&offset={offset}", h, args.requests, args.concurrency))
                results["list_rps"].append(args.requests / (time.perf_counter() - t))
                results["list_p50_ms"].append(pct(lat, 0.5))
                results["list_p99_ms"].append(pct(lat, 0.99))
                results["health_p50_ms"].append(pct(health, 0.5))
                results["health_p99_ms"].append(pct(health, 0.99))
            finally:
                proc.send_signal(signal.SIGINT)
                proc.wait(30)
    out: dict[str, object] = {k: round(statistics.median(v), 2) for k, v in results.items()}
    out["list_over_health_p50"] = round(statistics.median(results["list_p50_ms"]) / statistics.median(results["health_p50_ms"]), 2)
    out["backend"] = name
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        rows.append(run_backend("sqlite", f"sqlite+aiosqlite:///{d}/bench.db", args))
    pg = PostgresServer()
    pg.start()
    try:
        rows.append(run_backend("postgresql", pg.create_database(), args))
    finally:
        pg.stop()
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}", "requests": args.requests, "concurrency": args.concurrency,
            "runs": args.runs, "rows": ROWS}
    print(json.dumps({"meta": meta, "results": rows}, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "results": rows}, indent=2))


if __name__ == "__main__":
    main()

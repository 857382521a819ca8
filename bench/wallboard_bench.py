"""Wallboard fan-out benchmark: 500 agents and 50 queues changing state under a generator while 50
supervisor screens are connected over real WebSockets (uvicorn on 127.0.0.1, the tongdai HTTP app).

    .venv/bin/python bench/wallboard_bench.py [--rate 200] [--duration 20] [--clients 50] [--runs 3]

The server is its own process: the HTTP app with the routing and wallboard services, one tenant whose
routing engine holds 500 agents (each in 2-4 of 50 queues by skill) and a generator that, `--rate`
times a second, makes one change in the engine (an agent's activity, a new call, an answer, a call
ending) and publishes the engine's events on the bus as the routing service does. The screens are
clients in this process. Each run has three modes, side by side:

- `none`: no screen connected (the generator and the aggregator alone: the baseline CPU);
- `wallboard`: 50 screens on /api/v1/wallboard (snapshot, then coalesced deltas);
- `events`: the peer, screens on /api/v1/events (every routing event as it happens, no aggregation):
  5 by default, because 50 raw-event screens (12,500 frames/s at 250 events/s) outrun the single client
  process here and the hub closes them as too slow; CPU is compared per screen.

Delay: for the wallboard, each delta carries the time of the oldest event folded into it; a frame's
delay is its arrival minus that (the worst of its events). For the peer, arrival minus each event's
own time. Fan-out CPU: the server's CPU seconds per wall second in a mode minus the `none` mode (per
screen for the comparison).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

AGENTS, QUEUES = 500, 50

# ---------------------------------------------------------------------------------------------- server


def _engine(tenant_id: str, now: float) -> Any:
    from tongdai.routing.engine import Engine
    from tongdai.routing.model import Activity, Queue, Worker

    rng = random.Random(7)
    e = Engine(tenant_id=tenant_id)
    for q in range(QUEUES):
        e.add_queue(Queue(f"q{q:02d}", target=f"skills.s{q:02d} >= 1", offer_timeout_s=3600, wrap_up_s=0,
                          tenant_id=tenant_id), now)
    for a in range(AGENTS):
        skills = {f"s{q:02d}": rng.randint(1, 9) for q in rng.sample(range(QUEUES), rng.randint(2, 4))}
        w = Worker(f"a{a:03d}", {"skills": skills, "name": f"Agent {a:03d}", "extension": str(2000 + a)},
                   activity=Activity.AVAILABLE if rng.random() < 0.7 else Activity.NOT_READY, tenant_id=tenant_id)
        e.add_worker(w, now)
    return e


async def _generate(routing: Any, bus: Any, tenant_id: str, rate: float, duration: float) -> int:
    """Make `rate` engine changes a second for `duration` s; publish their events; the number of events."""
    from tongdai.routing.model import Task

    e = routing.engines[tenant_id]
    rng = random.Random(11)
    loop = asyncio.get_running_loop()
    start, n, published = loop.time(), 0, 0
    while loop.time() - start < duration:
        n += 1
        now = time.time()
        choice = rng.random()
        if choice < 0.4:
            w = e.workers[f"a{rng.randrange(AGENTS):03d}"]
            events = e.set_activity(w.id, "not_ready" if w.activity.value == "available" else "available", now)
        elif choice < 0.65 or not e.reservations:
            t = Task(f"t{n}", attributes={"queue": f"q{rng.randrange(QUEUES):02d}", "caller": f"+8490{n:07d}"})
            events = e.submit(t, now)
        elif choice < 0.85:
            events = e.accept(rng.choice(list(e.reservations)), now)
        else:
            busy = [t.id for t in e.tasks.values() if t.state.value == "assigned"]
            events = e.complete(rng.choice(busy), now) if busy else e.tick(now)
        for ev in events:
            await bus.publish(ev)
        published += len(events)
        await asyncio.sleep(max(0.0, start + n / rate - loop.time()))
    return published


async def serve(port: int, mode: str, clients: int, rate: float, duration: float, workdir: Path) -> None:
    """The server process: app, services, engine; wait for the screens, run the generator, report."""
    import uvicorn

    from tongdai.api.app import create_app
    from tongdai.api.state import ApiContext
    from tongdai.core.config import Settings
    from tongdai.core.db import Database
    from tongdai.core.events import EventBus
    from tongdai.core.metrics import Metrics
    from tongdai.iam.security import Principal, TokenIssuer
    from tongdai.routing.service import RoutingService
    from tongdai.wallboard.service import WallboardService

    tenant = "bench-tenant"
    settings = Settings(data_dir=workdir)
    db = Database(f"sqlite+aiosqlite:///{workdir}/bench.db")
    await db.upgrade()
    bus = EventBus()
    tokens = TokenIssuer(b"bench-key-0123456789abcdef0123456789", 3600)
    app = create_app(ApiContext(settings=settings, db=db, bus=bus, tokens=tokens), Metrics())
    routing = RoutingService(db, bus)
    routing.engines[tenant] = _engine(tenant, time.time())
    wallboard = WallboardService(db, bus, routing)
    app.state.routing, app.state.wallboard = routing, wallboard
    await wallboard.start()
    async with db.session() as s:
        await wallboard.board(s, tenant)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                                           ws_max_queue=1024))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    token = tokens.issue(Principal("bench-supervisor", "supervisor", tenant))
    print(json.dumps({"ready": True, "token": token}), flush=True)

    def connected() -> int:
        if mode == "wallboard":
            return sum(len(c) for c in wallboard.clients.values())
        return len(app.state.hub._clients) if mode == "events" else 0

    deadline = time.time() + 60
    while connected() < clients and time.time() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    cpu0, t0 = time.process_time(), time.time()
    events = await _generate(routing, bus, tenant, rate, duration)
    cpu1, t1 = time.process_time(), time.time()
    print(json.dumps({"window": [t0, t1], "cpu_s": cpu1 - cpu0, "events": events, "connected": connected(),
                      "skipped": sum(c.skipped for cs in wallboard.clients.values() for c in cs)}), flush=True)
    await asyncio.sleep(2.0)  # let the last frames go out
    server.should_exit = True
    await serving
    await wallboard.stop()
    await db.dispose()


# ---------------------------------------------------------------------------------------------- screens


_FIRST = re.compile(r'"first_change_at":([0-9.]+)')
_SERVER = re.compile(r'"server_time":([0-9.]+)')
_AT = re.compile(r'"at": ?([0-9.]+)')


async def _screen(url: str, delays: list[tuple[float, float, float]], frames: list[int], stop: asyncio.Event,
                  wallboard: bool) -> None:
    """One screen: the delay of each frame, read from its head (a cheap client, the same for both modes)."""
    import websockets

    async with websockets.connect(url, max_size=None) as ws:
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            except websockets.ConnectionClosed:
                frames[1] += 1  # closed by the server (too slow)
                return
            arrived = time.time()
            frames[0] += 1
            head = raw[:200] if isinstance(raw, str) else raw[:200].decode()
            if wallboard:
                first, sent = _FIRST.search(head), _SERVER.search(head)
                if first and sent:
                    at = float(first.group(1))
                    delays.append((at, arrived - at, float(sent.group(1)) - at))
            elif (found := _AT.search(head)) is not None:
                at = float(found.group(1))
                delays.append((at, arrived - at, 0.0))


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_mode(mode: str, clients: int, rate: float, duration: float) -> dict[str, Any]:
    """One server process in one mode; the screens' delays and the server's CPU over the window."""
    from tests.conftest import free_port

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve", "--port", str(port), "--mode", mode,
            "--clients", str(clients if mode != "none" else 0),
            "--rate", str(rate), "--duration", str(duration), "--workdir", tmp,
            stdout=asyncio.subprocess.PIPE, env={k: v for k, v in os.environ.items() if not k.startswith("TONGDAI_")})
        assert proc.stdout is not None
        ready = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
        path = {"wallboard": "/api/v1/wallboard", "events": "/api/v1/events?types=" + ",".join(_EVENT_TYPES)}
        delays: list[tuple[float, float, float]] = []
        frames = [0, 0]
        stop = asyncio.Event()
        screens = [asyncio.create_task(_screen(
            f"ws://127.0.0.1:{port}{path[mode]}{'&' if '?' in path[mode] else '?'}token={ready['token']}",
            delays, frames, stop, mode == "wallboard")) for _ in range(clients if mode != "none" else 0)]
        report = json.loads(await asyncio.wait_for(proc.stdout.readline(), duration + 120))
        await asyncio.sleep(1.5)
        stop.set()
        await asyncio.gather(*screens, return_exceptions=True)
        await asyncio.wait_for(proc.wait(), 30)
    t0, t1 = report["window"]
    inside = sorted(d for at, d, _ in delays if t0 <= at <= t1)
    held = sorted(h for at, _, h in delays if t0 <= at <= t1)
    wall = t1 - t0
    return {"mode": mode, "events": report["events"], "events_per_s": report["events"] / wall,
            "cpu_per_s": report["cpu_s"] / wall, "frames": frames[0], "samples": len(inside),
            "p50_ms": 1000 * _pct(inside, 0.5), "p99_ms": 1000 * _pct(inside, 0.99),
            "max_ms": 1000 * inside[-1] if inside else None, "skipped": report["skipped"],
            "server_p99_ms": 1000 * _pct(held, 0.99), "closed_by_server": frames[1]}


_EVENT_TYPES = ("task.queued", "task.reserved", "task.assigned", "task.wrapping", "task.ended",
                "agent.activity_changed", "reservation.canceled", "task.left_queue")


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


async def bench(rate: float, duration: float, clients: int, runs: int, peer_clients: int) -> dict[str, Any]:
    """`runs` rounds of the three modes side by side; medians per mode and of the per-round ratios."""
    rounds: list[dict[str, dict[str, Any]]] = []
    counts = {"none": 0, "wallboard": clients, "events": peer_clients}
    for i in range(runs):
        rnd = {}
        for mode in ("none", "wallboard", "events"):
            rnd[mode] = await run_mode(mode, counts[mode], rate, duration)
            print(f"run {i + 1} {mode}: {json.dumps(rnd[mode])}", file=sys.stderr, flush=True)
        rounds.append(rnd)

    def med(mode: str, key: str) -> float:
        return statistics.median(r[mode][key] for r in rounds)

    per_screen = {m: [(r[m]["cpu_per_s"] - r["none"]["cpu_per_s"]) / counts[m] for r in rounds]
                  for m in ("wallboard", "events")}
    return {
        "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)",
        "python": platform.python_version(), "agents": AGENTS, "queues": QUEUES, "clients": clients,
        "peer_clients": peer_clients, "rate_changes_per_s": rate, "duration_s": duration, "runs": runs,
        "events_per_s": med("wallboard", "events_per_s"),
        "wallboard": {k: med("wallboard", k) for k in ("p50_ms", "p99_ms", "max_ms", "frames", "cpu_per_s",
                                                       "server_p99_ms")},
        "events_peer": {k: med("events", k) for k in ("p50_ms", "p99_ms", "max_ms", "frames", "cpu_per_s",
                                                      "closed_by_server")},
        "baseline_cpu_per_s": med("none", "cpu_per_s"),
        "fanout_cpu_per_screen_s": {m: statistics.median(v) for m, v in per_screen.items()},
        "fanout_cpu_per_screen_ratio_peer_over_wallboard": statistics.median(
            e / w for e, w in zip(per_screen["events"], per_screen["wallboard"], strict=True) if w > 0),
        "rounds": rounds,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=200.0, help="engine changes per second")
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--peer-clients", type=int, default=5,
                   help="screens on the raw event stream (50 outrun this process's client at 250 events/s)")
    p.add_argument("--json", type=Path)
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--mode", default="wallboard", help=argparse.SUPPRESS)
    p.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.serve:
        import logging

        logging.disable(logging.WARNING)
        asyncio.run(serve(a.port, a.mode, a.clients, a.rate, a.duration, a.workdir))
        return
    result = asyncio.run(bench(a.rate, a.duration, a.clients, a.runs, a.peer_clients))
    text = json.dumps({k: v for k, v in result.items() if k != "rounds"}, indent=2)
    print(text)
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))


def test_wallboard_benchmark(tmp_path: Path) -> None:
    """`make bench`: three rounds at 200 changes/s; prints the figures (the goal is p99 < 200 ms); checks
    what must hold on any machine: every change on every screen within a second, at most ~10 frames a
    second per screen, no screen closed."""
    out = tmp_path / "wallboard.json"
    subprocess.run([sys.executable, __file__, "--runs", "3", "--json", str(out)], check=True, timeout=1800)
    data = json.loads(out.read_text())
    print(json.dumps({k: v for k, v in data.items() if k != "rounds"}, indent=2))
    for rnd in data["rounds"]:
        wb = rnd["wallboard"]
        assert wb["max_ms"] is not None and wb["max_ms"] < 1000, wb
        assert wb["frames"] / data["clients"] <= 10.5 * data["duration_s"] + 20, wb  # + the snapshot and the drain
        assert wb["closed_by_server"] == 0, wb


try:  # marked only when pytest imports it (the script runs without pytest too)
    import pytest

    test_wallboard_benchmark = pytest.mark.bench(test_wallboard_benchmark)
except ImportError:  # pragma: no cover
    pass

if __name__ == "__main__":
    main()

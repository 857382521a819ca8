"""CRM look-up benchmark: the call path's `match_caller` and the screen pop's `GET /customers/lookup`
with 100,000 customers in one tenant (a phone and a call in the timeline each, an open case for one in ten), on SQLite and PostgreSQL, in-process (no sockets).

    .venv/bin/python bench/crm_bench.py [--customers 100000] [--calls 2000] [--runs 5] [--json FILE]

Peers measured side by side in the same run: `SELECT 1` through the same Database and a fresh session
(the floor of one database round trip) beside `match_caller`; `GET /healthz` (the HTTP stack) and
`GET /auth/me` (the token check) beside the look-up endpoint. Medians of `--runs` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _numbers(n: int) -> list[str]:
    return [f"+8490{i:07d}" for i in range(n)]


async def _fill(app: Any, tenant_id: str, n: int) -> None:
    """n customers with one phone and one call in the timeline each; every tenth has an open case."""
    from sqlalchemy import insert

    from tongdai.core.db import new_id
    from tongdai.crm.models import Case, ContactPoint, Customer, Interaction

    now = datetime(2026, 11, 23)
    customers, points, cases, calls = [], [], [], []
    for i, number in enumerate(_numbers(n)):
        cid = new_id()
        customers.append({"id": cid, "tenant_id": tenant_id, "created_at": now, "updated_at": now, "kind": "person",
                          "name": f"Customer {i:06d}", "vip_tier": "gold" if i % 50 == 0 else "", "language": "vi",
                          "address": "", "external_id": f"B-{i}", "notes": ""})
        points.append({"id": new_id(), "tenant_id": tenant_id, "created_at": now, "customer_id": cid, "kind": "phone",
                       "value": number, "label": ""})
        calls.append({"id": new_id(), "tenant_id": tenant_id, "created_at": now, "customer_id": cid, "channel": "voice",
                      "direction": "inbound", "number": number, "call_id": f"c{i}", "queue": "sales", "agent": "1001",
                      "started_at": now, "wait_s": 3.0, "talk_s": 60.0, "disposition": "answered", "ivr_path": [],
                      "collected": {}, "notes": ""})
        if i % 10 == 0:
            cases.append({"id": new_id(), "tenant_id": tenant_id, "created_at": now, "updated_at": now,
                          "customer_id": cid, "subject": "x", "description": "", "status": "open", "priority": "normal"})
    async with app.db.session() as s:
        for table, rows in ((Customer, customers), (ContactPoint, points), (Case, cases), (Interaction, calls)):
            for i in range(0, len(rows), 5000):
                await s.execute(insert(table), rows[i:i + 5000])


async def _time(fn: Callable[[], Awaitable[Any]], calls: int) -> float:
    """Median seconds of one call."""
    samples = []
    for _ in range(calls):
        t0 = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


async def _one_run(api: Any, tenant_id: str, n: int, calls: int, rng: random.Random) -> dict[str, float]:
    from sqlalchemy import text

    from tongdai.crm.service import match_caller

    numbers = _numbers(n)
    db = api.app.db

    async def floor() -> None:
        async with db.sessionmaker() as s:
            await s.execute(text("SELECT 1"))

    async def hit() -> None:
        assert await match_caller(db, tenant_id, rng.choice(numbers)) is not None

    async def miss() -> None:
        assert await match_caller(db, tenant_id, "+8470" + str(rng.randrange(10**7)).zfill(7)) is None

    h = await api.headers(("supervisor@demo.example", "supervisor-demo-2026"))

    async def get(path: str, **params: str) -> None:
        r = await api.client.get(path, headers=h, params=params)
        assert r.status_code == 200

    async def lookup() -> None:
        await get("/api/v1/customers/lookup", phone="0" + rng.choice(numbers)[3:])

    out = {"select1": await _time(floor, calls), "match_hit": await _time(hit, calls),
           "match_miss": await _time(miss, calls)}
    http_calls = max(calls // 4, 50)
    out |= {"healthz": await _time(lambda: get("/healthz"), http_calls),
            "auth_me": await _time(lambda: get("/api/v1/auth/me"), http_calls),
            "lookup": await _time(lookup, http_calls)}
    return out


async def bench(backend: str, db_url: str, workdir: Path, n: int, calls: int, runs: int) -> dict[str, Any]:
    from tests.foundation.conftest import make_api

    api = await make_api(db_url, workdir, **{"log.level": "WARNING"})
    try:
        tenant_id = await api.tenant_id("demo")
        t0 = time.perf_counter()
        await _fill(api.app, tenant_id, n)
        fill_s = time.perf_counter() - t0
        rng = random.Random(23)
        results = [await _one_run(api, tenant_id, n, calls, rng) for _ in range(runs)]
    finally:
        await api.client.aclose()
        await api.app.stop()
    med = {k: statistics.median(r[k] for r in results) for k in results[0]}
    return {"backend": backend, "customers": n, "fill_s": round(fill_s, 1),
            **{f"{k}_ms": round(v * 1000, 3) for k, v in med.items()},
            "match_vs_select1": round(med["match_hit"] / med["select1"], 2),
            "lookup_vs_auth_me": round(med["lookup"] / med["auth_me"], 2)}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from tests.conftest import PostgresServer

    out: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "machine": platform.platform(), "results": []}
    with tempfile.TemporaryDirectory() as d:
        url = f"sqlite+aiosqlite:///{d}/crm.db"
        out["results"].append(await bench("sqlite", url, Path(d), args.customers, args.calls, args.runs))
    pg = PostgresServer()
    pg.start()
    try:
        with tempfile.TemporaryDirectory() as d:
            out["results"].append(await bench("postgresql", pg.create_database(), Path(d), args.customers, args.calls,
                                              args.runs))
    finally:
        pg.stop()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    data = asyncio.run(main_async(args))
    print(json.dumps(data, indent=2))
    if args.json:
        args.json.write_text(json.dumps(data))


@pytest.mark.bench
def test_crm_lookup_benchmark() -> None:
    data = asyncio.run(main_async(argparse.Namespace(customers=100_000, calls=2000, runs=5)))
    print(json.dumps(data, indent=2))
    assert {r["backend"] for r in data["results"]} == {"sqlite", "postgresql"}


if __name__ == "__main__":
    main()

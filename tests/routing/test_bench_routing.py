"""`make bench`: the routing benchmark and the bank replay (skipped by `make test`)."""

from __future__ import annotations

import json

import pytest
from bench import routing_bank, routing_bench


@pytest.mark.bench
@pytest.mark.timeout(1800)
def test_routing_decisions_at_5000_agents_meet_the_goals_beside_a_naive_router():
    out = routing_bench.run([1000, 5000, 20000], runs=3, ops=20_000, naive_ops=300)
    print(json.dumps(out, indent=2))
    rows = {(r["regime"], r["agents"]): r for r in out["results"]}
    loaded = rows[("loaded", 5000)]
    assert loaded["engine"]["decision_p99_us"] < 1000 and loaded["engine"]["decisions_per_s"] >= 10_000
    assert loaded["speedup_p50"] > 5
    # sub-linear: 20x the agents costs well under 20x per decision
    small, big = rows[("loaded", 1000)], rows[("loaded", 20000)]
    assert big["engine"]["decision_p50_us"] < 4 * small["engine"]["decision_p50_us"]


@pytest.mark.bench
@pytest.mark.timeout(600)
def test_bank_replay_reports_simulated_and_actual_per_service_type():
    results = [routing_bank.run(m, wrap_up=w) for m in ("01", "10") for w in (False, True)]
    print(json.dumps(results, indent=2))
    for r in results:
        assert set(r["actual"]) == set(r["simulated"])

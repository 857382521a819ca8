"""The indexed engine decides exactly what a scan-everything router decides (same rules, same ties)."""

from __future__ import annotations

import pytest
from bench.routing_bench import EngineDriver, NaiveDriver, fill, make_world, steady


@pytest.mark.parametrize("regime", ["loaded", "mixed"])
def test_given_same_arrivals_and_completions_then_engine_and_naive_choose_the_same_tasks(regime):
    world = make_world(300, n_queues=60, n_skills=12, seed=5, arrivals=5_000)
    traces = []
    for make in (EngineDriver, NaiveDriver):
        driver = make(world)
        used = fill(driver, world, 400) if regime == "loaded" else fill(driver, world, 0, busy_share=0.8)
        trace: list = []
        steady(driver, world, used, 1500, trace=trace)
        traces.append((used, trace, driver.waiting()))
    assert traces[0] == traces[1]
    decided = [got for _, got in traces[0][1] if got is not None]
    assert len(decided) > 1000 and len({agent for _, agent in decided}) > 100


def test_given_naive_built_from_engine_state_then_it_continues_with_the_same_decisions():
    world = make_world(200, n_queues=40, n_skills=10, seed=9, arrivals=4_000)
    ed = EngineDriver(world)
    used = fill(ed, world, 300)
    nd = NaiveDriver.like(ed, world)
    t1: list = []
    t2: list = []
    steady(ed, world, used, 800, trace=t1)
    steady(nd, world, used, 800, trace=t2)
    assert t1 == t2

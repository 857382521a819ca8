"""The simulator drives the real engine; its figures agree with queueing theory."""

from __future__ import annotations

import math

import pytest

from tongdai.routing.erlang import erlang_a, erlang_b, erlang_c, erlang_c_asa, erlang_c_service_level
from tongdai.routing.simulator import Simulation, replicate, scenario_from_dict, simulate


def mmc(days: float, seed: int = 1) -> dict:
    return {
        "seed": seed, "duration_s": days * 8 * 3600, "warmup_s": 3600,
        "queues": [{"id": "q", "service_level_s": 20}],
        "agents": [{"count": 12}],
        "arrivals": [{"rate_per_min": 4.2, "attributes": {"queue": "q"}, "handle_time": {"mean_s": 120}}],
    }


def test_given_reference_values_then_erlang_formulas_reproduce_them():
    assert erlang_b(1, 1) == pytest.approx(0.5) and erlang_b(2, 1) == pytest.approx(0.2)
    assert erlang_b(17, 10) <= 0.02 < erlang_b(16, 10)
    assert erlang_c(14, 10) == pytest.approx(0.1741, abs=5e-5)
    assert erlang_c_service_level(14, 10, 180, 20) == pytest.approx(0.8884, abs=5e-5)
    assert erlang_c_asa(14, 10, 180) == pytest.approx(7.84, abs=5e-3)
    assert erlang_c_service_level(12, 8.4, 120, 20) == pytest.approx(0.8991, abs=5e-5)
    a = erlang_a(14, 100 / 1800, 180, 300, 20)
    assert a["p_wait"] == pytest.approx(0.14526, abs=5e-6)
    assert a["p_abandon"] == pytest.approx(0.013984, abs=5e-7)
    assert a["service_level"] == pytest.approx(0.916792, abs=5e-7)
    assert a["occupancy"] == pytest.approx(0.704297, abs=5e-7)


def test_given_square_root_staffing_then_erlang_c_matches_published_table():
    for beta, expected in ((0.5, 0.516), (1.0, 0.237), (1.5, 0.095), (2.0, 0.033)):
        n = round(100 + beta * 10)
        assert erlang_c(n, 100) == pytest.approx(expected, abs=0.0015)


def test_given_mmc_20_days_then_service_level_asa_and_occupancy_near_analytic():
    """The quick check of the suite (~40k calls); the long runs below (`make bench`) hold it to 0.005."""
    rep = simulate(scenario_from_dict(mmc(20)))
    assert rep.overall["offered"] > 38_000
    assert abs(rep.overall["service_level"] - 0.8991) <= 0.015
    assert rep.overall["asa_s"] == pytest.approx(erlang_c_asa(12, 8.4, 120), rel=0.15)
    assert rep.overall["occupancy"] == pytest.approx(8.4 / 12, abs=0.015)


@pytest.mark.slow
def test_given_mmc_long_run_then_service_level_within_0005_of_analytic():
    """M/M/12, 4.2 calls/min, AHT 2 min, 20 s target: analytic SL 0.8991 (150 days of 8 h, ~300k calls)."""
    rep = simulate(scenario_from_dict(mmc(150)))
    assert rep.overall["offered"] > 290_000
    assert abs(rep.overall["service_level"] - 0.8991) <= 0.005
    assert rep.overall["asa_s"] == pytest.approx(erlang_c_asa(12, 8.4, 120), rel=0.06)
    assert rep.overall["occupancy"] == pytest.approx(8.4 / 12, abs=0.006)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_given_mmc_1000_days_then_service_level_within_0005_of_analytic():
    rep = simulate(scenario_from_dict(mmc(1000, seed=2)))
    assert abs(rep.overall["service_level"] - 0.8991) <= 0.005


@pytest.mark.slow
def test_given_erlang_a_case_then_reference_values_lie_in_the_simulated_confidence_intervals():
    sc = scenario_from_dict({
        "seed": 3, "duration_s": 12 * 8 * 3600, "warmup_s": 3600,
        "queues": [{"id": "q", "service_level_s": 20}],
        "agents": [{"count": 14}],
        "arrivals": [{"rate_per_min": 100 / 30, "attributes": {"queue": "q"}, "handle_time": {"mean_s": 180},
                      "patience": {"mean_s": 300}}],
    })
    ci = replicate(sc, 10, metrics=("p_wait", "abandonment", "service_level", "occupancy"))
    ref = {"p_wait": 0.14526, "abandonment": 0.013984, "service_level": 0.916792, "occupancy": 0.704297}
    for metric, value in ref.items():
        _, low, high = ci[metric]
        assert low <= value <= high, (metric, value, ci[metric])


def test_given_staffing_steps_then_agents_follow_the_shifts():
    sc = scenario_from_dict({
        "duration_s": 7200, "queues": [{"id": "q"}],
        "agents": [{"name": "day", "count": 3, "staffing": [[0, 1], [3600, 3]]}],
        "arrivals": [{"rate_per_min": 1, "attributes": {"queue": "q"}, "handle_time": {"dist": "fixed", "mean_s": 60}}],
    })
    sim = Simulation(sc)
    rep = sim.run()
    assert sim.staffed_s["day"] == pytest.approx(3600 * 1 + 3600 * 3)
    assert rep.overall["occupancy"] == pytest.approx(rep.overall["answered"] * 60 / (4 * 3600), rel=1e-9)


def test_given_no_agents_and_patience_then_every_caller_abandons():
    sc = scenario_from_dict({
        "duration_s": 3600, "queues": [{"id": "q"}], "agents": [{"count": 0}],
        "arrivals": [{"rate_per_min": 2, "attributes": {"queue": "q"}, "handle_time": {"mean_s": 60},
                      "patience": {"dist": "fixed", "mean_s": 30}}],
    })
    rep = simulate(sc)
    assert rep.overall["abandonment"] == 1.0 and rep.overall["mean_wait_s"] == pytest.approx(30)


def test_given_workflow_overflow_then_simulated_calls_reach_the_backup_queue():
    sc = scenario_from_dict({
        "duration_s": 4 * 3600,
        "queues": [{"id": "main", "target": "site == 'a'"}, {"id": "backup", "target": "site == 'b'"}],
        "workflow": {"default": [{"queue": "main", "timeout_s": 30}, {"queue": "backup"}]},
        "agents": [{"name": "a", "count": 2, "attributes": {"site": "a"}},
                   {"name": "b", "count": 2, "attributes": {"site": "b"}}],
        "arrivals": [{"rate_per_min": 2.5, "handle_time": {"mean_s": 90}}],
    })
    rep = simulate(sc)
    assert rep.queues["backup"]["answered"] > 0 and rep.queues["main"]["answered"] > 0
    assert math.isclose(rep.overall["offered"], rep.queues["main"]["offered"] + rep.queues["backup"]["offered"])


def test_given_the_same_seed_then_the_run_is_reproducible():
    a = simulate(scenario_from_dict(mmc(2)))
    b = simulate(scenario_from_dict(mmc(2)))
    assert a.overall == b.overall

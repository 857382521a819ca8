"""Replay of the Anonymous Bank log (January 1999) through the simulator and the engine."""

from __future__ import annotations

import pytest
from bench.routing_bank import DATA, actual_by_type, after_call_gaps, build_scenario, read_calls

from tongdai.routing.simulator import simulate

JANUARY = DATA / "anonymous-bank-1999-01.tsv"
pytestmark = pytest.mark.skipif(not JANUARY.exists(), reason="shared call-arrival data not present")


@pytest.fixture(scope="module")
def calls():
    return read_calls(JANUARY)


def test_given_bank_log_then_every_queued_call_becomes_one_arrival_with_its_service_type(calls):
    assert len(calls) == 13585 + 13475 + 3101  # answered (queued or not) + hung up in the queue
    sc = build_scenario(calls)
    assert len(sc.replay) == len(calls) and len(sc.agents) == 28
    assert {a.attributes["queue"] for a in sc.replay} == {"PS", "PE", "IN", "NE", "NW", "TT"}
    assert sum(a.priority for a in sc.replay) == sum(c.priority for c in calls) > 0


def test_given_replay_then_every_call_is_accounted_per_service_type(calls):
    rep = simulate(build_scenario(calls, wrap_up=False))
    actual = actual_by_type(calls)
    for t, a in actual.items():
        s = rep.streams[t]
        assert s["offered"] == a["offered"]
        assert s["answered"] + s["abandoned"] + s["left"] == s["offered"]


def test_given_after_call_gaps_then_agents_are_less_available_and_waits_grow(calls):
    gaps = after_call_gaps(calls)
    assert len(gaps) > 10_000 and sorted(gaps)[len(gaps) // 2] <= 10  # mostly a few seconds
    talk_only = simulate(build_scenario(calls, wrap_up=False)).overall
    with_gaps = simulate(build_scenario(calls, wrap_up=True)).overall
    assert with_gaps["mean_wait_s"] > talk_only["mean_wait_s"]
    assert with_gaps["abandonment"] > talk_only["abandonment"]

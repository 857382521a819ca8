"""`tongdai simulate SCENARIO` runs a scenario file through the engine and prints the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tongdai.cli import main
from tongdai.routing.simulator import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "docs" / "scenarios"


def test_given_scenario_file_then_simulate_prints_queues_streams_and_total(capsys, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "duration_s: 7200\nqueues: [{id: q, service_level_s: 30}]\nagents: [{count: 3}]\n"
        "arrivals: [{rate_per_min: 1, attributes: {queue: q}, handle_time: {mean_s: 60}}]\n")
    assert main(["simulate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "queue q" in out and "stream calls" in out and out.splitlines()[-2].startswith("all")


def test_given_json_flag_then_report_is_json_with_service_level(capsys, tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"duration_s": 3600, "queues": [{"id": "q"}], "agents": [{"count": 2}],
                                "arrivals": [{"rate_per_min": 1, "attributes": {"queue": "q"},
                                              "handle_time": {"dist": "fixed", "mean_s": 30}}]}))
    assert main(["simulate", str(path), "--json", "--seed", "4"]) == 0
    report = json.loads(capsys.readouterr().out)
    overall = report["overall"]
    assert overall["answered"] == overall["offered"] > 30 and overall["service_level"] > 0.9  # load 0.25 Erlang


@pytest.mark.parametrize("bad", ["queues: [{id: q, target: 'skills.x >='}]\nagents: []\n", "agents: []\n", "{"])
def test_given_bad_scenario_then_exit_2_with_message(capsys, tmp_path, bad):
    path = tmp_path / "bad.yaml"
    path.write_text(bad)
    assert main(["simulate", str(path)]) == 2
    assert "simulate:" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(p.name for p in SCENARIOS.glob("*.yaml")))
def test_given_documented_scenarios_then_they_load(name):
    sc = load_scenario(SCENARIOS / name)
    assert sc.queues and sc.agents and sc.streams


def test_given_replications_then_means_with_confidence_intervals_are_printed(capsys, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "duration_s: 7200\nqueues: [{id: q}]\nagents: [{count: 3}]\n"
        "arrivals: [{rate_per_min: 2, attributes: {queue: q}, handle_time: {mean_s: 60}}]\n")
    assert main(["simulate", str(path), "--replications", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines] == ["service_level", "asa_s", "abandonment", "p_wait", "occupancy"]
    for ln in lines:
        mean, low, high = float(ln.split()[1]), float(ln.split()[4]), float(ln.split()[6])
        assert low <= mean <= high

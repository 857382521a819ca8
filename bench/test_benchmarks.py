"""`make bench` entry points: each benchmark script runs and prints its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.bench
def test_api_benchmark(tmp_path):
    out = tmp_path / "api.json"
    subprocess.run([sys.executable, str(HERE / "api_bench.py"), "--json", str(out)], check=True, timeout=1800)
    data = json.loads(out.read_text())
    print(json.dumps(data, indent=2))
    assert {r["backend"] for r in data["results"]} == {"sqlite", "postgresql"}


@pytest.mark.bench
def test_sip_benchmark(tmp_path):
    """tongdai's SIP endpoint, and sippy 2.5.0 beside it when it can be installed in a throw-away venv."""
    venv = tmp_path / "sippy-venv"
    sippy_python = None
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    if made.returncode == 0 and subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "sippy==2.5.0"],
                                               timeout=600).returncode == 0:
        sippy_python = str(venv / "bin" / "python")
    out = tmp_path / "sip.json"
    cmd = [sys.executable, str(HERE / "sip_bench.py"), "--json", str(out)]
    if sippy_python:
        cmd += ["--sippy", sippy_python]
    subprocess.run(cmd, check=True, timeout=3600)
    data = json.loads(out.read_text())
    print(json.dumps(data, indent=2))
    assert data["servers"][0]["max_rate_without_failure"] > 0


@pytest.mark.bench
def test_sip_memory_benchmark():
    out = subprocess.run([sys.executable, str(HERE / "sip_memory.py")], check=True, timeout=600,
                         capture_output=True, text=True).stdout
    data = json.loads(out)
    print(json.dumps(data, indent=2))
    assert data["registrations"]["contacts"] == 10_000 and data["dialogs"]["sipp_exit"] == 0


@pytest.mark.bench
def test_media_benchmark(tmp_path):
    """Bridged calls through rtpengine ramped until loss or jitter p99 > 10 ms, beside direct legs."""
    out = tmp_path / "media.json"
    subprocess.run([sys.executable, str(HERE / "media_bench.py"), "--json", str(out)], check=True, timeout=3600)
    data = json.loads(out.read_text())
    print(json.dumps(data, indent=2))
    assert data["ramps"][0][0]["relayed"]["lost"] == 0

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

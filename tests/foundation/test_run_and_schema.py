"""`tongdai run --demo` as a newcomer starts it: ready, demo log-in works, Ctrl-C stops it cleanly;
and schemathesis against the served OpenAPI document: no 5xx, responses match the schema."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import RunningTongdai
from tongdai import demo


def test_given_fresh_data_dir_when_run_demo_then_ready_login_and_clean_ctrl_c(tmp_path):
    t = RunningTongdai(tmp_path)
    try:
        t.wait_ready()
        r = httpx.post(t.base + "/api/v1/auth/token", data={"username": demo.ADMIN_LOGIN[0], "password": demo.ADMIN_LOGIN[1]})
        assert r.status_code == 200
        token = r.json()["access_token"]
        r = httpx.get(t.base + "/api/v1/queues", headers={"Authorization": f"Bearer {token}"})
        assert sorted(q["name"] for q in r.json()["items"]) == ["sales", "support"]
        assert "tongdai_http_requests_total" in httpx.get(t.base + "/metrics").text
    finally:
        code = t.stop(signal.SIGINT)
    assert code == 0
    log = t.log.read_text()
    assert demo.ADMIN_LOGIN[1] in log  # the log-ins are printed on first start
    assert '"tongdai stopped"' in log


def test_given_second_start_then_demo_not_loaded_twice(tmp_path):
    for _ in range(2):
        t = RunningTongdai(tmp_path)
        try:
            t.wait_ready()
        finally:
            assert t.stop(signal.SIGTERM) == 0
    t = RunningTongdai(tmp_path)
    try:
        t.wait_ready()
        h = {"Authorization": "Bearer " + httpx.post(t.base + "/api/v1/auth/token", data={
            "username": demo.PROVIDER_LOGIN[0], "password": demo.PROVIDER_LOGIN[1]}).json()["access_token"]}
        assert httpx.get(t.base + "/api/v1/tenants", headers=h).json()["total"] == 1
    finally:
        t.stop()


def test_openapi_document_is_served_and_names_every_route(running):
    doc = httpx.get(running.base + "/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path in ("/api/v1/auth/token", "/api/v1/queues", "/api/v1/agents/{row_id}", "/readyz"):
        assert path in doc["paths"]


def test_api_fuzzed_by_schemathesis_never_5xx_and_matches_schema(running, tmp_path):
    token = httpx.post(running.base + "/api/v1/auth/token",
                       data={"username": demo.ADMIN_LOGIN[0], "password": demo.ADMIN_LOGIN[1]}).json()["access_token"]
    cmd = [
        str(Path(sys.executable).parent / "schemathesis"), "run", running.base + "/openapi.json",
        "--checks", "not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance",
        "-H", f"Authorization: Bearer {token}", "--max-examples", "10", "--seed", "20261123",
        "--request-timeout", "30", "--phases", "examples,coverage,fuzzing", "--no-color",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    report = out.stdout + out.stderr
    assert out.returncode == 0, report[-6000:]
    assert "No issues found" in report or " passed" in report, report[-3000:]

"""Settings: defaults < tongdai.yaml < TONGDAI_* < --set; bad values stop with key, source, allowed, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tongdai.core.config import ConfigError, load_settings
from tongdai.core.config_docs import render

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TONGDAI_")}
    return subprocess.run([sys.executable, "-m", "tongdai", *args], cwd=cwd, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=60)


def test_given_no_file_then_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.http.port == 8080 and s.database.url.startswith("sqlite+aiosqlite:///./var/")


def test_given_all_sources_then_command_line_beats_env_beats_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tongdai.yaml").write_text("http:\n  port: 9001\n  host: 0.0.0.0\nlog:\n  level: DEBUG\n")
    monkeypatch.setenv("TONGDAI_HTTP__PORT", "9002")
    s = load_settings()
    assert (s.http.port, s.http.host, s.log.level) == (9002, "0.0.0.0", "DEBUG")
    s = load_settings(overrides={"http.port": 9003})
    assert s.http.port == 9003 and s.http.host == "0.0.0.0"


@pytest.mark.parametrize(
    ("setup", "expect"),
    [
        ({"args": ["--set", "http.port=99999"]}, ["http.port", "command line", "65535"]),
        ({"env": {"TONGDAI_SIP__UDP_PORT": "many"}}, ["sip.udp_port", "TONGDAI_SIP__UDP_PORT", "integer"]),
        ({"yaml": "log:\n  level: LOUD\n"}, ["log.level", "tongdai.yaml", "DEBUG"]),
        ({"yaml": "htp:\n  port: 1\n"}, ["htp", "tongdai.yaml", "Extra inputs are not permitted"]),
        ({"yaml": "http: [1, 2\n"}, ["not valid YAML"]),
    ],
)
def test_given_bad_value_then_exit_2_with_key_source_and_allowed(tmp_path, setup, expect):
    if "yaml" in setup:
        (tmp_path / "tongdai.yaml").write_text(setup["yaml"])
    r = _cli(*setup.get("args", []), "config", cwd=tmp_path, env=setup.get("env"))
    assert r.returncode == 2, r.stderr
    for word in expect:
        assert word in r.stderr, (word, r.stderr)


def test_given_missing_config_file_then_clear_error():
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings("/nonexistent/tongdai.yaml")


def test_configuration_doc_is_current():
    doc = (REPO / "docs" / "configuration.md").read_text()
    assert doc == render(), "docs/configuration.md is stale: run `tongdai config docs > docs/configuration.md`"


def test_cli_creates_tenant_and_user_then_refuses_duplicates(tmp_path):
    db = ["--set", f"database.url=sqlite+aiosqlite:///{tmp_path}/t.db", "--set", f"data_dir={tmp_path}"]
    assert _cli(*db, "tenant", "create", "acme", "--name", "Acme", cwd=tmp_path).returncode == 0
    r = _cli(*db, "tenant", "create", "acme", "--name", "Acme", cwd=tmp_path)
    assert r.returncode == 2 and "already exists" in r.stderr
    r = _cli(*db, "user", "create", "boss@acme.example", "--tenant", "acme", "--role", "tenant_admin",
             "--password", "password123", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = _cli(*db, "user", "create", "x@acme.example", "--tenant", "acme", "--role", "wizard", "--password", "password123",
             cwd=tmp_path)
    assert r.returncode == 2 and "unknown role" in r.stderr


def test_event_catalogue_is_current():
    from tongdai.core.events_docs import render as render_events

    doc = (REPO / "docs" / "events.md").read_text()
    assert doc == render_events(), "docs/events.md is stale: run `tongdai config events > docs/events.md`"

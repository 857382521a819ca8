"""Fixtures of the foundation tests: an App on a real database with the demo tenant, an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tongdai import demo
from tongdai.app import App, build_app
from tongdai.core.config import load_settings


@dataclass
class Api:
    app: App
    client: httpx.AsyncClient

    async def token(self, email: str, password: str) -> str:
        r = await self.client.post("/api/v1/auth/token", data={"username": email, "password": password})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    async def headers(self, login: tuple[str, str]) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(*login)}"}

    async def tenant_id(self, slug: str) -> str:
        from tongdai.iam.service import get_tenant_by_slug

        async with self.app.db.session() as s:
            t = await get_tenant_by_slug(s, slug)
            assert t is not None
            return t.id


async def make_api(db_url: str, data_dir: Path, **overrides: Any) -> Api:
    settings = load_settings(overrides={"database.url": db_url, "data_dir": str(data_dir), "sip.enabled": False, **overrides})
    app = build_app(settings)
    await app.start()
    async with app.db.session() as s:
        await demo.load(s)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app.http), base_url="http://tongdai.test")
    return Api(app, client)


@pytest.fixture
async def api(db_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    a = await make_api(db_url, tmp_path)
    try:
        yield a
    finally:
        await a.client.aclose()
        await a.app.stop()


@pytest.fixture
async def sqlite_api(tmp_path: Path) -> AsyncIterator[Api]:
    a = await make_api(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", tmp_path)
    try:
        yield a
    finally:
        await a.client.aclose()
        await a.app.stop()


class RunningTongdai:
    """`tongdai run --demo` as a subprocess on free ports with its own data directory."""

    def __init__(self, workdir: Path, *extra: str) -> None:
        import os
        import socket
        import subprocess
        import sys

        from tests.conftest import free_port

        self.port = free_port()
        self.sip_port = free_port(socket.SOCK_DGRAM)
        self.base = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.log = workdir / "tongdai.log"
        cmd = [sys.executable, "-m", "tongdai", "--set", f"http.port={self.port}", "--set", f"data_dir={workdir}/var",
               "--set", f"database.url=sqlite+aiosqlite:///{workdir}/var/tongdai.db",
               "--set", f"sip.udp_port={self.sip_port}", "--set", f"sip.tcp_port={self.sip_port}", *extra, "run", "--demo"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TONGDAI_")}
        self.proc = subprocess.Popen(cmd, cwd=workdir, stdout=self.log.open("wb"), stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds until /readyz answered 200."""
        import time

        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                raise AssertionError(f"tongdai exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(self.base + "/readyz", timeout=1).status_code == 200:
                    return time.monotonic() - start
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"tongdai not ready within {timeout} s:\n{self.log.read_text()}")

    def stop(self, sig: int = 2, timeout: float = 20) -> int:
        import subprocess

        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory):
    t = RunningTongdai(tmp_path_factory.mktemp("run"))
    try:
        t.wait_ready()
        yield t
    finally:
        t.stop()

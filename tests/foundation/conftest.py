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

"""Fixtures of the callback API tests: the foundation's App on a real database with the demo tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.foundation.conftest import Api, make_api


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

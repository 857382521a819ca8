"""Alembic: upgrade from empty, downgrade to empty, upgrade again; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from tongdai.core.db import migrate
from tongdai.models import metadata


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    await engine.dispose()
    return names - {"alembic_version"}


async def test_given_empty_database_then_upgrade_downgrade_upgrade_round_trips(db_url):
    await asyncio.to_thread(migrate, db_url, "upgrade", "head")
    assert await _tables(db_url) == set(metadata.tables)
    await asyncio.to_thread(migrate, db_url, "downgrade", "base")
    assert await _tables(db_url) == set()
    await asyncio.to_thread(migrate, db_url, "upgrade", "head")
    assert await _tables(db_url) == set(metadata.tables)


def test_given_models_then_migrations_describe_them_exactly(tmp_path):
    """Autogenerate finds nothing to add: every model change came with its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    migrate(url, "upgrade", "head")
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    engine.dispose()
    assert diff == []

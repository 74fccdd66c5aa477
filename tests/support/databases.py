"""Real databases for tests: a fresh SQLite file, or a fresh PostgreSQL database per need.

PostgreSQL lives on 127.0.0.1:5432 on every machine of this project; with
HOOKPOST_TEST_REQUIRE_POSTGRES=1 (CI) its absence fails the run instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa

from hookpost.store.database import Database

ADMIN_DSN = os.environ.get("HOOKPOST_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRED = os.environ.get("HOOKPOST_TEST_REQUIRE_POSTGRES") == "1"


def _base() -> str:
    return ADMIN_DSN.rsplit("/", 1)[0]


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def admin(sql: str) -> None:
    """Run one statement as the administrator (e.g. to cut other sessions off)."""
    asyncio.run(_admin(sql))


def require_postgres() -> None:
    """Skip (locally) or fail (CI) when PostgreSQL cannot be reached."""
    try:
        asyncio.run(_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        message = f"PostgreSQL at {ADMIN_DSN} is unreachable: {exc}"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)


def create_postgres_database() -> str:
    """A new, empty database; returns its URL (sync, for fixtures)."""
    name = f"hookpost_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return f"{_base()}/{name}"


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def query(url: str, statement: sa.Executable) -> list[Any]:
    """Rows of a read-only statement on any hookpost database (SQLite or PostgreSQL)."""

    async def run() -> list[Any]:
        database = Database(url)
        try:
            async with database.read() as conn:
                return list((await conn.execute(statement)).all())
        finally:
            await database.close()

    return asyncio.run(run())

"""Database errors become hookpost errors in one place (store/errors.translate), whatever layer
raised them (SQLAlchemy, asyncpg, sqlite3) and whether at connect time or per statement: a
database that refuses connections or does not exist is a 503 with Retry-After, never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import orjson
import pytest
import sqlalchemy as sa

from hookpost.config import Settings
from hookpost.core.errors import Unavailable
from hookpost.core.ids import IdFactory
from hookpost.runtime import open_runtime, system_clock
from hookpost.store import Stores, migrate
from hookpost.store.database import Database
from hookpost.store.errors import UniqueTaken
from tests.support import databases
from tests.support.server import TOKEN


@contextlib.asynccontextmanager
async def opened(url: str) -> AsyncIterator[Database]:
    database = Database(url)
    try:
        yield database
    finally:
        await database.close()


async def every_way_in_is_unavailable(database: Database) -> None:
    """SQLAlchemy reads and writes, the driver's hot path, and a whole store operation."""
    with pytest.raises(Unavailable):
        async with database.read() as conn:
            await conn.execute(sa.text("SELECT 1"))
    with pytest.raises(Unavailable):
        async with database.write() as conn:
            await conn.execute(sa.text("SELECT 1"))
    with pytest.raises(Unavailable):
        async with database.postgres_write() as driver:
            await driver.execute("SELECT 1")
    store = Stores(database, system_clock, IdFactory(system_clock, os.urandom))
    with pytest.raises(Unavailable):
        await store.queue.claim_due(1, timedelta(seconds=30))


@pytest.fixture
async def limited_role() -> AsyncIterator[str]:
    """A role PostgreSQL lets open no connection: connecting fails with SQLSTATE 53300."""
    await asyncio.to_thread(databases.require_postgres)
    name = f"hookpost_limited_{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(databases.admin, f"CREATE ROLE {name} LOGIN CONNECTION LIMIT 0")
    try:
        yield name
    finally:
        await asyncio.to_thread(databases.admin, f"DROP ROLE IF EXISTS {name}")


async def test_too_many_connections_at_connect_time_is_unavailable(limited_role: str) -> None:
    base = databases.ADMIN_DSN.split("://", 1)[1].split("@", 1)[1]
    async with opened(f"postgresql://{limited_role}@{base}") as database:
        await every_way_in_is_unavailable(database)


async def test_a_missing_database_is_unavailable() -> None:
    await asyncio.to_thread(databases.require_postgres)
    missing = databases.ADMIN_DSN.rsplit("/", 1)[0] + f"/hookpost_missing_{uuid.uuid4().hex[:8]}"
    async with opened(missing) as database:
        await every_way_in_is_unavailable(database)


async def test_an_unwritable_sqlite_file_is_unavailable(tmp_path: Path) -> None:
    async with opened(f"sqlite:///{tmp_path / 'no-such-dir' / 'db.sqlite3'}") as database:
        with pytest.raises(Unavailable):
            async with database.read() as conn:
                await conn.execute(sa.text("SELECT 1"))
        with pytest.raises(Unavailable):
            async with database.sqlite_write() as raw:
                raw.execute("SELECT 1")


async def test_a_unique_key_taken_is_one_error_on_every_path(database_url: str) -> None:
    async with opened(database_url) as database:
        await migrate.upgrade(database)
        org = f"org_{uuid.uuid4().hex}"
        insert = "INSERT INTO organizations (id, name, created_at) VALUES ('{org}', 'o', 0)"
        async with database.write() as conn:
            await conn.execute(sa.text(insert.format(org=org)))
        with pytest.raises(UniqueTaken):  # through SQLAlchemy
            async with database.write() as conn:
                await conn.execute(sa.text(insert.format(org=org)))
        # Straight on the driver.
        if database.is_sqlite:
            with pytest.raises(UniqueTaken):
                async with database.sqlite_write() as raw:
                    raw.execute(insert.format(org=org))
        else:
            with pytest.raises(UniqueTaken):
                async with database.postgres_write() as driver:
                    await driver.execute(insert.format(org=org))


async def test_the_api_answers_503_with_retry_after_when_its_database_is_gone() -> None:
    await asyncio.to_thread(databases.require_postgres)
    url = await asyncio.to_thread(databases.create_postgres_database)
    runtime = await open_runtime(Settings(database_url=url, api_token=TOKEN))
    try:
        await runtime.admit_operator()
        await asyncio.to_thread(databases.drop_postgres_database, url)
        transport = httpx.ASGITransport(app=runtime.api())
        async with httpx.AsyncClient(transport=transport, base_url="http://hookpost") as client:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            for answer in (
                await client.get("/api/v1/app", headers=headers),
                await client.post(
                    "/api/v1/app/app_x/msg", json={"eventType": "a", "payload": {}}, headers=headers
                ),
            ):
                assert answer.status_code == 503, answer.text
                assert answer.headers["retry-after"] == "1"
                assert orjson.loads(answer.content)["code"] == "service_unavailable"
    finally:
        await runtime.close()
        await asyncio.to_thread(databases.drop_postgres_database, url)

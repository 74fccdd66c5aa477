"""Migrations: empty database to head on both backends, idempotent, safe to run concurrently,
and the migrated schema is exactly `hookpost.store.schema.metadata`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hookpost.store import migrate
from hookpost.store.database import Database
from hookpost.store.schema import metadata


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with nothing in it, of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    return str(request.getfixturevalue("fresh_postgres_url"))


async def table_names(db: Database) -> set[str]:
    async with db.read() as conn:
        return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))


def differences(connection: sa.Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_empty_to_head(empty_url: str) -> None:
    db = Database(empty_url)
    try:
        assert await table_names(db) == set()
        assert await migrate.current_revision(db) is None
        await migrate.upgrade(db)
        assert await migrate.current_revision(db) == migrate.head_revision()
        assert await table_names(db) == set(metadata.tables) | {"alembic_version"}
    finally:
        await db.close()


async def test_upgrading_twice_changes_nothing(empty_url: str) -> None:
    db = Database(empty_url)
    try:
        await migrate.upgrade(db)
        async with db.write() as conn:
            await conn.execute(
                sa.text("INSERT INTO organizations (id, name, created_at) VALUES ('org_1', 'o', 1)")
            )
        await migrate.upgrade(db)
        assert await migrate.current_revision(db) == migrate.head_revision()
        async with db.read() as conn:
            kept = (await conn.execute(sa.text("SELECT name FROM organizations"))).scalars().all()
            versions = (
                (await conn.execute(sa.text("SELECT version_num FROM alembic_version")))
                .scalars()
                .all()
            )
        assert kept == ["o"]
        assert versions == [migrate.head_revision()]
    finally:
        await db.close()


async def test_concurrent_upgrades_both_succeed(empty_url: str) -> None:
    """Two processes starting at once (two engines here) must not trip over each other."""
    databases = [Database(empty_url) for _ in range(2)]
    try:
        await asyncio.gather(*(migrate.upgrade(db) for db in databases))
        for db in databases:
            assert await migrate.current_revision(db) == migrate.head_revision()
        assert await table_names(databases[0]) == set(metadata.tables) | {"alembic_version"}
    finally:
        for db in databases:
            await db.close()


def test_two_migrate_commands_at_once(empty_url: str) -> None:
    """`hookpost migrate` from two processes started together: both succeed, one schema."""
    env = {**os.environ, "HOOKPOST_DATABASE_URL": empty_url}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "hookpost", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=60)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    head = migrate.head_revision()
    assert head is not None
    assert all(f"revision {head}" in out for out in outputs), outputs

    async def check() -> None:
        db = Database(empty_url)
        try:
            assert await migrate.current_revision(db) == head
            async with db.read() as conn:
                assert await conn.run_sync(differences) == []
        finally:
            await db.close()

    asyncio.run(check())


async def test_migrated_schema_matches_the_metadata(empty_url: str) -> None:
    db = Database(empty_url)
    try:
        await migrate.upgrade(db)
        async with db.read() as conn:
            found = await conn.run_sync(differences)
        assert found == []
    finally:
        await db.close()


async def test_the_comparison_would_notice_a_difference(empty_url: str) -> None:
    """Guard for the test above: a missing index is reported, so [] means something."""
    db = Database(empty_url)
    try:
        await migrate.upgrade(db)
        async with db.write() as conn:
            await conn.execute(sa.text("DROP INDEX ix_messages_expiring"))
        async with db.read() as conn:
            found = await conn.run_sync(differences)
        assert [d[0] for d in found] == ["add_index"]
    finally:
        await db.close()


async def test_0011_turns_recorded_redeliveries_into_finished_tasks(empty_url: str) -> None:
    """A `tasks` row of 0010 (a recover queued in one transaction) becomes a finished
    background task with its count in `data`."""
    db = Database(empty_url)
    try:
        await migrate.upgrade(db, "0010")
        async with db.write() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO tasks (id, org_id, app_id, endpoint_id, kind, status, messages,"
                    " created_at, updated_at) VALUES ('qtask_old', 'org_1', 'app_1', 'ep_1',"
                    " 'endpoint.recover', 'running', 12, 1000, 2000)"
                )
            )
        await migrate.upgrade(db)
        assert "tasks" not in await table_names(db)
        async with db.read() as conn:
            row = (
                await conn.execute(
                    sa.text(
                        "SELECT kind, status, data, finished_at, runs FROM background_tasks"
                        " WHERE id = 'qtask_old'"
                    )
                )
            ).one()
        assert tuple(row) == ("endpoint.recover", "finished", '{"messagesSent": 12}', 2000, 1)
    finally:
        await db.close()

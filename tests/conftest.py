"""Shared fixtures: real SQLite and PostgreSQL stores, a live server, a real receiver.

The `store` fixture runs each contract test once per backend.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hookpost.core.ids import IdFactory
from hookpost.store import Stores, migrate
from hookpost.store.database import Database
from tests.support import databases
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One PostgreSQL database for the session (tests isolate by organization)."""
    databases.require_postgres()
    url = databases.create_postgres_database()
    yield url
    databases.drop_postgres_database(url)


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """An empty PostgreSQL database of the test's own."""
    databases.require_postgres()
    url = databases.create_postgres_database()
    yield url
    databases.drop_postgres_database(url)


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hookpost.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of the test's own, on each backend (for first starts, crashes)."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return str(request.getfixturevalue("fresh_postgres_url"))


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Stores]:
    database = Database(database_url)
    await migrate.upgrade(database)
    clock = lambda: datetime.now(UTC)  # noqa: E731
    yield Stores(database, clock, IdFactory(clock, os.urandom))
    await database.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def operator() -> Iterator[Receiver]:
    """The operator's receiver of operational webhooks (see live.operator_live_server)."""
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """`hookpost serve` on SQLite and on PostgreSQL, with compressed retry schedules."""
    process = ServerProcess(database_url, tmp_path / "server.log").start()
    yield process
    process.stop()

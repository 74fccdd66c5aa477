"""Liveness and readiness on both stores, against a real server: readiness fails while the
schema is behind (or ahead of) this version and while the database is gone; answers are the
same fixed words for everyone, the database's own error goes to the server's log only.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from hookpost.store.database import Database
from hookpost.store.migrate import head_revision
from tests.support import databases
from tests.support.server import ServerProcess
from tests.support.waiting import eventually

PROBES = ("/api/v1/health", "/api/v1/health/ping", "/api/v1/health/live", "/api/v1/health/ready")


def set_revision(url: str, revision: str) -> None:
    async def run() -> None:
        database = Database(url)
        try:
            async with database.write() as conn:
                await conn.execute(
                    sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision}
                )
        finally:
            await database.close()

    asyncio.run(run())


def status(server: ServerProcess, path: str) -> httpx.Response:
    return httpx.get(server.url + path, timeout=10)


def test_every_probe_answers_204_on_a_healthy_server(
    empty_database_url: str, tmp_path: Path
) -> None:
    server = ServerProcess(empty_database_url, tmp_path / "serve.log").start()
    try:
        for path in PROBES:
            answer = status(server, path)
            assert answer.status_code == 204, (path, answer.text)
        assert httpx.head(server.url + "/api/v1/health/ready", timeout=10).status_code == 204
    finally:
        server.stop()


def test_readiness_fails_while_the_schema_is_behind(
    empty_database_url: str, tmp_path: Path
) -> None:
    server = ServerProcess(empty_database_url, tmp_path / "serve.log").start()
    head = head_revision()
    assert head is not None
    try:
        set_revision(empty_database_url, "0001")  # as if an older hookpost had migrated it
        answer = status(server, "/api/v1/health/ready")
        assert answer.status_code == 503
        assert answer.json()["reason"] == "schema_behind"
        assert "hookpost migrate" in answer.json()["detail"]
        assert answer.headers["retry-after"]
        # Liveness and Svix's health only ask whether the process and database answer.
        assert status(server, "/api/v1/health/live").status_code == 204
        assert status(server, "/api/v1/health").status_code == 204

        # Migrated by a newer version (a rolling upgrade): this process keeps serving until
        # it is replaced, and says so in its log.
        set_revision(empty_database_url, "9999_from_the_future")
        assert status(server, "/api/v1/health/ready").status_code == 204

        set_revision(empty_database_url, head)
        assert status(server, "/api/v1/health/ready").status_code == 204
    finally:
        server.stop()
    assert "run `hookpost migrate`" in server.logs()
    assert "the database schema is newer than this hookpost" in server.logs()


@pytest.mark.postgres
def test_a_lost_database_fails_readiness_in_fixed_words_and_logs_the_reason(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    server = ServerProcess(fresh_postgres_url, tmp_path / "serve.log").start()
    name = fresh_postgres_url.rsplit("/", 1)[1]
    try:
        assert status(server, "/api/v1/health/ready").status_code == 204
        databases.drop_postgres_database(fresh_postgres_url)  # cuts its sessions off too

        ready = eventually(
            lambda: (a := status(server, "/api/v1/health/ready")).status_code == 503 and a,
            what="readiness notices the database is gone",
        )
        health = status(server, "/api/v1/health")
        assert health.status_code == 503
        assert ready.json()["reason"] == "database_unavailable"
        for answer in (ready, health):
            # Nothing of the driver's words, the address or the database's name.
            for secret in (name, "127.0.0.1", "5432", "does not exist", "asyncpg", "postgres"):
                assert secret not in answer.text, answer.text
        assert status(server, "/api/v1/health/live").status_code == 204
    finally:
        server.stop()
    assert name in server.logs()  # the operator's log says which database

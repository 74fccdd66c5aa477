"""The queue gauges of /metrics: exact counts of ready, scheduled and in-flight deliveries on
both stores (time injected), counts that stop at their cap, and plans that walk the partial
indexes only, so a scrape costs the same with millions of finished deliveries.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa

from hookpost.store import migrate
from hookpost.store.database import Database
from hookpost.store.queue_depth import EARLIEST, IN_FLIGHT, NOT_DUE, READY, QueueDepthReader
from tests.support import databases

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NOW_US = int(NOW.timestamp() * 1_000_000)
READY_ROWS = 120  # due over the last 120 seconds
EXPIRED_ROWS = 7  # leased, with the lease run out: a claim takes them, so they are ready
SCHEDULED_ROWS = 90
IN_FLIGHT_ROWS = 13
PAUSED_ROWS = 11
PAUSED_IN_FLIGHT_ROWS = 3  # their endpoint was disabled while their attempts ran
FINISHED_ROWS = 20_000  # succeeded and failed: far past where the planner prefers an index


async def _seed(url: str) -> None:
    """Deliveries in every state, set-based (the store's own writes are tested elsewhere)."""
    now = NOW_US
    blocks = [
        # (count, state, next_attempt_at as SQL of i, claim token)
        (READY_ROWS, "pending", f"{now} - i * 1000000", "NULL"),
        (EXPIRED_ROWS, "pending", f"{now} - 5000000", "'expired'"),
        (SCHEDULED_ROWS, "pending", f"{now} + i * 1000000", "NULL"),
        (IN_FLIGHT_ROWS, "pending", f"{now} + 30000000", "'leased'"),
        (PAUSED_ROWS, "paused", f"{now} - 1000000", "NULL"),
        (PAUSED_IN_FLIGHT_ROWS, "paused", f"{now} + 30000000", "'leased'"),
        (FINISHED_ROWS // 2, "succeeded", "NULL", "NULL"),
        (FINISHED_ROWS // 2, "failed", "NULL", "NULL"),
    ]
    head = [
        "INSERT INTO organizations (id, name, created_at) VALUES ('org_q', 'q', {now})",
        "INSERT INTO applications (id, org_id, uid, name, throttle_rate, metadata, created_at,"
        " updated_at) VALUES ('app_q', 'org_q', NULL, 'a', NULL, '{{}}', {now}, {now})",
        "INSERT INTO endpoints (id, org_id, app_id, uid, url, method, description, disabled,"
        " event_types, channels, throttle_rate, metadata, headers, keys, failing_since,"
        " created_at, updated_at) VALUES ('ep_q', 'org_q', 'app_q', NULL, 'https://example.com',"
        " 'POST', '', {false}, NULL, NULL, NULL, '{{}}', '{{}}', '[]', NULL, {now}, {now})",
    ]
    body = []
    for n, (_count, state, next_at, token) in enumerate(blocks):
        body.append(
            "INSERT INTO messages (id, org_id, app_id, event_type, event_id, channels, tags,"
            " payload, raw_payload, idempotency_key, created_at, expires_at)"
            f" SELECT 'msg_{n}_' || i, 'org_q', 'app_q', 'a.b', NULL, NULL, NULL, NULL, {{false}},"
            f" NULL, {{now}}, {{now}} FROM {{series{n}}}"
        )
        body.append(
            "INSERT INTO deliveries (id, org_id, app_id, msg_id, endpoint_id, state, trigger,"
            " attempts, next_attempt_at, claim_token, created_at, updated_at)"
            f" SELECT 'dlv_{n}_' || i, 'org_q', 'app_q', 'msg_{n}_' || i, 'ep_q', '{state}', 0, 0,"
            f" {next_at}, {token}, {{now}}, {{now}} FROM {{series{n}}}"
        )
    if url.startswith("sqlite"):
        series = {
            f"series{n}": f"(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s"
            f" WHERE i < {count}) SELECT i FROM s)"
            for n, (count, *_) in enumerate(blocks)
        }
        raw = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            with raw:
                for sql in head + body:
                    raw.execute(sql.format(now=now, false=0, **series))
            raw.execute("ANALYZE")
        finally:
            raw.close()
        return
    series = {
        f"series{n}": f"generate_series(1, {count}) AS i" for n, (count, *_) in enumerate(blocks)
    }
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            for sql in head + body:
                await conn.execute(sql.format(now=now, false="false", **series))
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"], scope="module")
def seeded_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('depth') / 'q.sqlite3'}"
    else:
        databases.require_postgres()
        url = databases.create_postgres_database()

    async def prepare() -> None:
        database = Database(url)
        try:
            await migrate.upgrade(database)
        finally:
            await database.close()
        await _seed(url)

    asyncio.run(prepare())
    yield url
    if request.param == "postgres":
        databases.drop_postgres_database(url)


@pytest.fixture
async def database(seeded_url: str) -> AsyncIterator[Database]:
    db = Database(seeded_url)
    yield db
    await db.close()


async def test_counts_each_state_of_the_queue(database: Database) -> None:
    depth = await QueueDepthReader(database, lambda: NOW).read()
    assert depth.ready == READY_ROWS + EXPIRED_ROWS
    assert depth.scheduled == SCHEDULED_ROWS
    assert depth.in_flight == IN_FLIGHT_ROWS + PAUSED_IN_FLIGHT_ROWS
    assert depth.oldest_ready_seconds == pytest.approx(READY_ROWS, abs=0.01)


async def test_the_counts_follow_the_clock(database: Database) -> None:
    later = NOW + timedelta(seconds=45)  # the leases and 45 scheduled rows have come due
    depth = await QueueDepthReader(database, lambda: later).read()
    assert depth.in_flight == 0
    assert depth.scheduled == SCHEDULED_ROWS - 45
    assert depth.ready == READY_ROWS + EXPIRED_ROWS + IN_FLIGHT_ROWS + 45


async def test_counts_stop_at_the_cap(database: Database) -> None:
    depth = await QueueDepthReader(database, lambda: NOW, cap=50).read()
    in_flight = IN_FLIGHT_ROWS + PAUSED_IN_FLIGHT_ROWS
    assert (depth.ready, depth.scheduled, depth.in_flight) == (50, 50, in_flight)
    assert depth.cap == 50


async def test_the_gauges_walk_partial_indexes_only(seeded_url: str) -> None:
    """No scan of deliveries, whatever is in it: each count walks ix_deliveries_due or
    ix_deliveries_claim (whose rows are the pending or leased ones only), in a way the cap
    stops."""
    queries = {"ready": READY, "not_due": NOT_DUE, "in_flight": IN_FLIGHT, "min": EARLIEST}
    params = {"now": NOW_US, "cap": 100_000, "limit": 100_000}
    used: dict[str, set[str]] = {}
    if seeded_url.startswith("sqlite"):
        raw = sqlite3.connect(seeded_url.removeprefix("sqlite:///"))
        try:
            for name, query in queries.items():
                plan = [row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {query.text}", params)]
                assert not any(line.startswith("SCAN deliveries") for line in plan), plan
                used[name] = set(re.findall(r"INDEX (ix_deliveries_\w+)", " ".join(plan)))
        finally:
            raw.close()
    else:
        conn = await asyncpg.connect(seeded_url)
        try:
            for name, query in queries.items():
                sql = query.text.replace(":now", "$1").replace(":cap", "$2")
                sql = sql.replace(":limit", "$2")
                args = [NOW_US, 100_000] if "$1" in sql else []
                plan = json.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args))
                nodes = list(_nodes(plan[0]["Plan"]))
                kinds = {n.get("Node Type") for n in nodes}
                assert "Seq Scan" not in kinds, plan
                # A bitmap scan reads every matching entry before the LIMIT applies.
                assert "Bitmap Index Scan" not in kinds, plan
                used[name] = {n["Index Name"] for n in nodes if "Index Name" in n}
        finally:
            await conn.close()
    assert used == {
        "ready": {"ix_deliveries_due"},
        "not_due": {"ix_deliveries_due"},
        "in_flight": {"ix_deliveries_claim"},
        "min": {"ix_deliveries_due"},
    }


def _nodes(plan: dict[str, Any]) -> Any:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def test_the_statements_name_the_pending_state_literally() -> None:
    """A bound parameter for the state would hide the partial index from SQLite's planner
    (and from PostgreSQL's generic plans)."""
    for query in (READY, NOT_DUE, IN_FLIGHT, EARLIEST):
        assert "state = 'pending'" in str(query)
        assert ":state" not in str(sa.text(str(query)))

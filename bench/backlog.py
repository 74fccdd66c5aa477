"""Backlogs written straight into hookpost's tables (rows shaped as publishing writes
them), held or due at once: 50,000-100,000 messages in seconds instead of minutes.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench.databases import asyncpg_dsn, sqlite_path
from bench.wire import payload_bytes
from hookpost.core import ids
from hookpost.store.notifications import CHANNEL

MESSAGE_COLUMNS = (
    "id, org_id, app_id, event_type, event_id, channels, tags, payload, raw_payload,"
    " idempotency_key, created_at, expires_at"
)
DELIVERY_COLUMNS = (
    "id, org_id, app_id, msg_id, endpoint_id, state, trigger, attempts, next_attempt_at,"
    " claim_token, created_at, updated_at"
)
HELD_FOR = timedelta(days=1)
RETENTION = timedelta(days=90)


def _clock() -> datetime:
    return datetime.now(UTC)


def _us(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def build_rows(
    org: str, app: str, endpoints: Sequence[str], count: int, *, held: bool
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """`count` messages (1 KB payloads), each with one pending delivery to one endpoint."""
    factory = ids.IdFactory(_clock, os.urandom)
    messages, deliveries = [], []
    for index in range(count):
        msg_id = factory.new(ids.MESSAGE)
        created = _us(ids.created_at(msg_id, ids.MESSAGE))
        due = created + _us(datetime.fromtimestamp(0, UTC) + HELD_FOR) if held else created
        expires = created + int(RETENTION.total_seconds() * 1_000_000)
        message = (msg_id, org, app, "bench.event", None, None, None, payload_bytes(index))
        messages.append((*message, False, None, created, expires))
        endpoint = endpoints[index % len(endpoints)]
        delivery = (factory.new(ids.DELIVERY), org, app, msg_id, endpoint, "pending", 0, 0)
        deliveries.append((*delivery, due, None, created, created))
    return messages, deliveries


def seed(url: str, app: str, endpoints: Sequence[str], count: int, *, held: bool) -> float:
    """Insert the backlog; returns the seconds it took. `held` rows are due in a day."""
    started = time.perf_counter()
    if url.startswith("sqlite"):
        _seed_sqlite(url, app, endpoints, count, held)
    else:
        asyncio.run(_seed_postgres(url, app, endpoints, count, held))
    return time.perf_counter() - started


def release(url: str, app: str) -> int:
    """Make every held delivery of `app` due now (and wake PostgreSQL workers)."""
    now = _us(_clock())
    if url.startswith("sqlite"):
        with _sqlite(url) as conn:
            cursor = conn.execute(
                "UPDATE deliveries SET next_attempt_at = ? WHERE app_id = ? AND state = 'pending'",
                (now, app),
            )
            return cursor.rowcount
    return int(asyncio.run(_release_postgres(url, app, now)))


def cancel(url: str, app: str) -> int:
    """Cancel every pending delivery of `app` (what a publish-only phase left behind)."""
    query = (
        "UPDATE deliveries SET state = 'canceled', next_attempt_at = NULL"
        " WHERE app_id = {} AND state = 'pending'"
    )
    if url.startswith("sqlite"):
        with _sqlite(url) as conn:
            return conn.execute(query.format("?"), (app,)).rowcount
    return int(asyncio.run(_execute(url, query.format("$1"), app)).split()[-1])


def count_pending(url: str, app: str) -> int:
    query = "SELECT count(*) FROM deliveries WHERE app_id = {} AND state = 'pending'"
    if url.startswith("sqlite"):
        with _sqlite(url) as conn:
            return int(conn.execute(query.format("?"), (app,)).fetchone()[0])
    return int(asyncio.run(_fetchval(url, query.format("$1"), app)))


def _sqlite(url: str) -> sqlite3.Connection:
    conn = sqlite3.connect(sqlite_path(url), timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _seed_sqlite(url: str, app: str, endpoints: Sequence[str], count: int, held: bool) -> None:
    conn = _sqlite(url)
    try:
        org = conn.execute("SELECT org_id FROM applications WHERE id = ?", (app,)).fetchone()[0]
        messages, deliveries = build_rows(org, app, endpoints, count, held=held)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            f"INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES ({_marks(12)})", messages
        )
        conn.executemany(
            f"INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES ({_marks(12)})", deliveries
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def _marks(count: int) -> str:
    return ",".join("?" * count)


async def _seed_postgres(
    url: str, app: str, endpoints: Sequence[str], count: int, held: bool
) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        org = await conn.fetchval("SELECT org_id FROM applications WHERE id = $1", app)
        messages, deliveries = build_rows(org, app, endpoints, count, held=held)
        async with conn.transaction():
            await conn.copy_records_to_table(
                "messages", records=messages, columns=MESSAGE_COLUMNS.split(", ")
            )
            await conn.copy_records_to_table(
                "deliveries", records=deliveries, columns=DELIVERY_COLUMNS.split(", ")
            )
        await conn.execute("ANALYZE messages; ANALYZE deliveries")
    finally:
        await conn.close()


async def _release_postgres(url: str, app: str, now: int) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        status = await conn.execute(
            "UPDATE deliveries SET next_attempt_at = $1 WHERE app_id = $2 AND state = 'pending'",
            now,
            app,
        )
        await conn.execute(f"NOTIFY {CHANNEL}")
        return int(status.split()[-1])
    finally:
        await conn.close()


async def _execute(url: str, query: str, *args: Any) -> str:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return str(await conn.execute(query, *args))
    finally:
        await conn.close()


async def _fetchval(url: str, query: str, *args: Any) -> Any:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()

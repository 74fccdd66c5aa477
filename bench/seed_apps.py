"""Applications and their endpoints written straight into hookpost's tables with set-based SQL
(one INSERT ... SELECT per table over a series, on both stores): 100,000 applications or one
application with 10,000 endpoints in seconds, where the API would take minutes.

Application n (1-based) has the uid `<uid_prefix><n>`; its endpoint k (0-based) posts to
`<endpoint_url><n>/<k>`, so every endpoint is a URL of its own on the receiver.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from datetime import UTC, datetime

import asyncpg

from bench.databases import asyncpg_dsn, sqlite_path
from bench.seeding import endpoint_keys
from hookpost.core import ids

_KEEP = 10  # id characters kept from a real id: its time and some random bits (seeding.py)

# Numbered parameters ($n on PostgreSQL, ?n on SQLite) and CASTs both dialects read; only the
# series and the hex digits differ. Ids: a real id's first characters + 17 hex digits.
# Parameters: $1 application id prefix, $2 organization, $3 time (µs), $4 applications,
# then $5 uid prefix (applications) or $5 endpoint id prefix, $6 URL, $7 keys, $8 per app.
_APPLICATIONS = """
INSERT INTO applications (id, org_id, uid, name, throttle_rate, metadata, created_at,
    updated_at, deleted_at)
SELECT CAST($1 AS TEXT) || {hex_g}, CAST($2 AS TEXT), CAST($5 AS TEXT) || g,
    CAST($5 AS TEXT) || g, NULL, '{{}}', CAST($3 AS BIGINT), CAST($3 AS BIGINT), NULL
FROM ({series}) AS s
"""
_ENDPOINTS = """
INSERT INTO endpoints (id, org_id, app_id, uid, url, method, description, disabled,
    event_types, channels, throttle_rate, metadata, headers, keys, failing_since, created_at,
    updated_at)
SELECT CAST($5 AS TEXT) || {hex_gk}, CAST($2 AS TEXT), CAST($1 AS TEXT) || {hex_g}, NULL,
    CAST($6 AS TEXT) || g || '/' || k, 'POST', '', false, NULL, NULL, NULL, '{{}}', '{{}}',
    CAST($7 AS TEXT), NULL, CAST($3 AS BIGINT), CAST($3 AS BIGINT)
FROM ({series}) AS s CROSS JOIN ({per}) AS e
"""
_POSTGRES = {
    "series": "SELECT generate_series(1, CAST($4 AS BIGINT)) AS g",
    "per": "SELECT generate_series(0, CAST($8 AS BIGINT) - 1) AS k",
    "hex_g": "lpad(to_hex(g), 17, '0')",
    "hex_gk": "lpad(to_hex(g * CAST($8 AS BIGINT) + k), 17, '0')",
}
_SQLITE = {
    "series": "WITH RECURSIVE n(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM n WHERE g < ?4)"
    " SELECT g FROM n",
    "per": "WITH RECURSIVE m(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM m WHERE k < ?8 - 1)"
    " SELECT k FROM m",
    "hex_g": "printf('%017x', g)",
    "hex_gk": "printf('%017x', g * ?8 + k)",
}
Batch = list[tuple[str, tuple[object, ...]]]


def seed(
    url: str, org: str, apps: int, per_app: int, *, uid_prefix: str, endpoint_url: str
) -> float:
    """`apps` applications of `org`, each with `per_app` enabled endpoints; returns seconds.
    Statistics are gathered afterwards, as a server that has run a while would have them."""
    started = time.perf_counter()
    made = ids.IdFactory(lambda: datetime.now(UTC), os.urandom)
    now = int(time.time() * 1_000_000)
    app_prefix = made.new(ids.APPLICATION)[: len(ids.APPLICATION) + _KEEP]
    endpoint_prefix = made.new(ids.ENDPOINT)[: len(ids.ENDPOINT) + _KEEP]
    common = (app_prefix, org, now, apps)
    batch = [
        (_APPLICATIONS, (*common, uid_prefix)),
        (_ENDPOINTS, (*common, endpoint_prefix, endpoint_url, endpoint_keys(now), per_app)),
    ]
    if url.startswith("sqlite"):
        _seed_sqlite(url, batch)
    else:
        asyncio.run(_seed_postgres(url, batch))
    return round(time.perf_counter() - started, 2)


def _seed_sqlite(url: str, batch: Batch) -> None:
    conn = sqlite3.connect(sqlite_path(url), timeout=60, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=60000")
        conn.execute("BEGIN IMMEDIATE")
        for statement, values in batch:
            conn.execute(statement.format(**_SQLITE).replace("$", "?"), values)
        conn.execute("COMMIT")
        # What hookpost's own PRAGMA optimize gathers (store/database.py), as seeding.py does.
        conn.execute("PRAGMA analysis_limit=1000")
        conn.execute("ANALYZE")
    finally:
        conn.close()


async def _seed_postgres(url: str, batch: Batch) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        async with conn.transaction():
            for statement, values in batch:
                await conn.execute(statement.format(**_POSTGRES), *values)
        await conn.execute("VACUUM ANALYZE applications")
        await conn.execute("VACUUM ANALYZE endpoints")
    finally:
        await conn.close()

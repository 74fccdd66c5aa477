"""History written straight into hookpost's tables with set-based SQL, so a scan shows up as a
slope: N messages, N deliveries and N attempts over many organizations and applications.

Rows are shaped as hookpost writes them: time-sortable ids whose time part matches
`created_at` (spread over the last `days`), a 64-hex idempotency key on every message (what the
API stores for the SDK's `idempotency-key`), delivered (98 %) or failed (2 %) deliveries, one
attempt each. PostgreSQL: INSERT ... SELECT generate_series; SQLite: a recursive CTE.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench.databases import asyncpg_dsn, sqlite_path
from hookpost.core import ids

RETENTION_US = 90 * 86400 * 1_000_000
# The lower 17 base62 digits of an id hold only random bits: a time bucket's id prefix plus
# 17 hex digits is a well-formed id with that bucket's time.
_KEEP = 10
_CHUNK = 500_000


@dataclass(frozen=True)
class Shape:
    rows: int
    orgs: int = 50  # one of them the benchmark's own organization
    apps_per_org: int = 20
    endpoints_per_app: int = 2
    days: int = 14
    buckets: int = 20_160  # one per minute over `days`
    payload_pad: int = 240  # seeded payloads are ~300 bytes (the live ones 1 KB)


@dataclass
class Directory:
    """The organizations, applications and endpoints the history is spread over."""

    orgs: list[str]
    apps: list[tuple[str, str]]  # (app id, org id)
    endpoints: list[str]  # endpoints_per_app per application, in application order


def _factory() -> ids.IdFactory:
    return ids.IdFactory(lambda: datetime.now(UTC), os.urandom)


def directory(shape: Shape, home_org: str) -> Directory:
    made = _factory()
    orgs = [home_org] + [made.new(ids.ORGANIZATION) for _ in range(shape.orgs - 1)]
    apps = [(made.new(ids.APPLICATION), org) for org in orgs for _ in range(shape.apps_per_org)]
    endpoints = [made.new(ids.ENDPOINT) for _ in apps for _ in range(shape.endpoints_per_app)]
    return Directory(orgs, apps, endpoints)


def _buckets(shape: Shape) -> list[tuple[int, str, str, str]]:
    """(time in µs, message, delivery and attempt id prefixes) of each time bucket, oldest
    first, ending a minute ago."""
    end = datetime.now(UTC) - timedelta(minutes=1)
    step = timedelta(days=shape.days) / shape.buckets
    found = []
    for n in range(shape.buckets):
        at = end - step * (shape.buckets - n)
        at = at.replace(microsecond=at.microsecond // 4000 * 4000)  # ids keep 4 ms steps
        prefixes = [
            ids.bound_id(prefix, at, upper=False)[: len(prefix) + _KEEP]
            for prefix in (ids.MESSAGE, ids.DELIVERY, ids.ATTEMPT)
        ]
        found.append((int(at.timestamp() * 1_000_000), *prefixes))
    return found


def seed(
    url: str, shape: Shape, home_org: str, say: Callable[[str], None] = print
) -> dict[str, Any]:
    """Write the directory and `shape.rows` rows into each history table; returns timings."""
    if shape.rows == 0:
        return {"rows": 0, "seconds": 0.0}
    started = time.perf_counter()
    where = directory(shape, home_org)
    buckets = _buckets(shape)
    if url.startswith("sqlite"):
        _seed_sqlite(url, shape, where, buckets, say)
    else:
        asyncio.run(_seed_postgres(url, shape, where, buckets, say))
    return {**asdict(shape), "seconds": round(time.perf_counter() - started, 1)}


# --- PostgreSQL ---------------------------------------------------------------------------

# Row g's time bucket b and application a (a multiplicative hash of g spreads each
# application's messages over the whole time range); lookups join small temporary tables
# (a subscript into a big array parameter would walk the array on every row).
_PG_SERIES = """
SELECT g, 1 + ((g - 1) * $3::bigint / $4::bigint) AS b, 1 + (g * 2654435761) % $5::bigint AS a
FROM generate_series($1::bigint, $2::bigint) AS g
"""
_PG_FROM = f"""
FROM ({_PG_SERIES}) AS s JOIN bench_buckets AS k ON k.n = s.b JOIN bench_apps AS p ON p.n = s.a
"""
_PG_MESSAGES = f"""
INSERT INTO messages (id, org_id, app_id, event_type, event_id, channels, tags, payload,
    raw_payload, idempotency_key, created_at, expires_at)
SELECT k.msg || substr(md5(g::text), 1, 17), p.org_id, p.app_id,
    (ARRAY['invoice.paid','invoice.created','user.signup','order.shipped'])[1 + g % 4],
    NULL, NULL, NULL,
    convert_to('{{"type":"invoice.paid","n":' || g || ',"pad":"' || $6::text || '"}}', 'UTF8'),
    false, md5('k' || g) || md5('K' || g), k.t, k.t + {RETENTION_US}
{_PG_FROM}
"""
_PG_DELIVERIES = f"""
INSERT INTO deliveries (id, org_id, app_id, msg_id, endpoint_id, state, trigger, attempts,
    next_attempt_at, claim_token, created_at, updated_at)
SELECT k.dlv || substr(md5('d' || g), 1, 17), p.org_id, p.app_id,
    k.msg || substr(md5(g::text), 1, 17), e.endpoint_id,
    CASE WHEN g % 50 = 0 THEN 'failed' ELSE 'succeeded' END, 0, 1, NULL, NULL,
    k.t, k.t + 40000
{_PG_FROM} JOIN bench_endpoints AS e ON e.app_n = s.a AND e.k = g % $6::bigint
"""
_PG_ATTEMPTS = f"""
INSERT INTO attempts (id, org_id, app_id, msg_id, endpoint_id, delivery_id, url, method,
    status, trigger, response_status_code, response_body, response_headers, request_headers,
    duration_ms, error_class, error_message, created_at)
SELECT k.att || substr(md5('a' || g), 1, 17), p.org_id, p.app_id,
    k.msg || substr(md5(g::text), 1, 17), e.endpoint_id, k.dlv || substr(md5('d' || g), 1, 17),
    'http://127.0.0.1:9/seeded/' || e.endpoint_id, 'POST',
    CASE WHEN g % 50 = 0 THEN 2 ELSE 0 END, 0, CASE WHEN g % 50 = 0 THEN 500 ELSE 200 END,
    '{{"ok":true}}', '{{"content-type":"application/json"}}',
    '{{"content-type":"application/json","webhook-id":"' || k.msg || substr(md5(g::text), 1, 17)
        || '","webhook-timestamp":"1764547200"}}',
    12 + g % 40, NULL, NULL, k.t + 20000
{_PG_FROM} JOIN bench_endpoints AS e ON e.app_n = s.a AND e.k = g % $6::bigint
"""


HISTORY = ("messages", "deliveries", "attempts")
_PG_DROPPABLE = """
SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index AS x
JOIN pg_class AS i ON i.oid = x.indexrelid JOIN pg_class AS t ON t.oid = x.indrelid
WHERE t.relname = ANY($1::text[])
    AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = x.indexrelid)
"""


async def _seed_postgres(
    url: str,
    shape: Shape,
    where: Directory,
    buckets: list[tuple[int, str, str, str]],
    say: Callable[[str], None],
) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        await _pg_directory(conn, where, buckets)
        # Indexes are built once at the end (a sort) rather than row by row (random inserts);
        # constraint indexes stay, so keys and ids are checked as hookpost's inserts are.
        rebuilt = await conn.fetch(_PG_DROPPABLE, list(HISTORY))
        for name, _ in rebuilt:
            await conn.execute(f'DROP INDEX "{name}"')
        pad, per = "x" * shape.payload_pad, shape.endpoints_per_app
        for first in range(1, shape.rows + 1, _CHUNK):
            last = min(first + _CHUNK - 1, shape.rows)
            series = (first, last, len(buckets), shape.rows, len(where.apps))
            async with conn.transaction():
                await conn.execute(_PG_MESSAGES, *series, pad)
                await conn.execute(_PG_DELIVERIES, *series, per)
                await conn.execute(_PG_ATTEMPTS, *series, per)
            say(f"  seeded {last:,} of {shape.rows:,} rows per table")
        say(f"  rebuilding {len(rebuilt)} indexes")
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in rebuilt:
            await conn.execute(definition)
        say("  VACUUM ANALYZE")
        for table in ("messages", "deliveries", "attempts", "applications", "endpoints"):
            await conn.execute(f"VACUUM ANALYZE {table}")
        # Flush the seeding's dirty pages now, or the checkpoint it triggered writes them
        # (and slows every commit) during the measurement that follows.
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def _pg_directory(
    conn: asyncpg.Connection, where: Directory, buckets: list[tuple[int, str, str, str]]
) -> None:
    now = int(time.time() * 1_000_000)
    orgs = [(org, f"seeded {n}", now) for n, org in enumerate(where.orgs[1:])]
    apps = [
        (app, org, f"seeded-{n}", f"seeded {n}", None, "{}", now, now, None)
        for n, (app, org) in enumerate(where.apps)
    ]
    per = len(where.endpoints) // len(where.apps)
    endpoints = [
        _endpoint_row(ep, where.apps[n // per], now) for n, ep in enumerate(where.endpoints)
    ]
    async with conn.transaction():
        await conn.executemany("INSERT INTO organizations VALUES ($1, $2, $3)", orgs)
        await conn.executemany(
            "INSERT INTO applications (id, org_id, uid, name, throttle_rate, metadata,"
            " created_at, updated_at, deleted_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
            apps,
        )
        await conn.executemany(_ENDPOINT_INSERT.format(*(f"${n}" for n in range(1, 18))), endpoints)
    await conn.execute(
        "CREATE TEMP TABLE bench_buckets (n bigint PRIMARY KEY, t bigint, msg text, dlv text,"
        " att text); CREATE TEMP TABLE bench_apps (n bigint PRIMARY KEY, app_id text,"
        " org_id text); CREATE TEMP TABLE bench_endpoints (app_n bigint, k bigint,"
        " endpoint_id text, PRIMARY KEY (app_n, k))"
    )
    await conn.copy_records_to_table(
        "bench_buckets", records=[(n + 1, *b) for n, b in enumerate(buckets)]
    )
    await conn.copy_records_to_table(
        "bench_apps", records=[(n + 1, app, org) for n, (app, org) in enumerate(where.apps)]
    )
    await conn.copy_records_to_table(
        "bench_endpoints",
        records=[(1 + n // per, n % per, ep) for n, ep in enumerate(where.endpoints)],
    )
    await conn.execute("ANALYZE bench_buckets; ANALYZE bench_apps; ANALYZE bench_endpoints")


_ENDPOINT_INSERT = (
    "INSERT INTO endpoints (id, org_id, app_id, uid, url, method, description, disabled,"
    " event_types, channels, throttle_rate, metadata, headers, keys, failing_since, created_at,"
    " updated_at) VALUES ({},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{})"
)


def _endpoint_row(endpoint: str, app: tuple[str, str], now: int) -> tuple[Any, ...]:
    """An enabled endpoint on the discard port: history only, no new message goes there."""
    app_id, org_id = app
    url = f"http://127.0.0.1:9/seeded/{endpoint}"
    head = (endpoint, org_id, app_id, None, url, "POST", "", False, None, None, None)
    return (*head, "{}", "{}", endpoint_keys(now), None, now, now)


def endpoint_keys(now: int) -> str:
    """An endpoint's `keys` column: one signing secret (the same one for every seeded row)."""
    return f'[{{"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw","created":{now},"expires":null}}]'


# --- SQLite -------------------------------------------------------------------------------

# As on PostgreSQL: every table straight from the series, nothing read back. An id's last 17
# digits are g in hex (unique per row, ascending within a time bucket: the primary keys are
# appended to, not inserted at random); messages, deliveries and attempts of row g share them.
# The temporary tables' columns are typed, so their indexes serve the joins.
_SQLITE_SERIES = """
WITH RECURSIVE s(g) AS (SELECT :first UNION ALL SELECT g + 1 FROM s WHERE g < :last)
SELECT g, printf('%017x', g) AS x, 1 + ((g - 1) * :buckets / :rows) AS b,
    1 + ((g * 2654435761) % :apps) AS a
FROM s
"""
_SQLITE_FROM = f"""
FROM ({_SQLITE_SERIES}) AS s
JOIN bench_buckets AS k ON k.n = s.b JOIN bench_apps AS p ON p.n = s.a
"""
_SQLITE_MESSAGES = f"""
INSERT INTO messages (id, org_id, app_id, event_type, event_id, channels, tags, payload,
    raw_payload, idempotency_key, created_at, expires_at)
SELECT k.msg || s.x, p.org_id, p.app_id,
    CASE g % 4 WHEN 0 THEN 'invoice.paid' WHEN 1 THEN 'invoice.created'
        WHEN 2 THEN 'user.signup' ELSE 'order.shipped' END,
    NULL, NULL, NULL,
    CAST('{{"type":"invoice.paid","n":' || g || ',"pad":"' || :pad || '"}}' AS BLOB),
    0, lower(hex(randomblob(32))), k.t, k.t + {RETENTION_US}
{_SQLITE_FROM}
"""
_SQLITE_DELIVERIES = f"""
INSERT INTO deliveries (id, org_id, app_id, msg_id, endpoint_id, state, trigger, attempts,
    next_attempt_at, claim_token, created_at, updated_at)
SELECT k.dlv || s.x, p.org_id, p.app_id, k.msg || s.x, e.endpoint_id,
    CASE WHEN g % 50 = 0 THEN 'failed' ELSE 'succeeded' END, 0, 1, NULL, NULL,
    k.t, k.t + 40000
{_SQLITE_FROM} JOIN bench_endpoints AS e ON e.app_n = s.a AND e.k = g % :per
"""
_SQLITE_ATTEMPTS = f"""
INSERT INTO attempts (id, org_id, app_id, msg_id, endpoint_id, delivery_id, url, method,
    status, trigger, response_status_code, response_body, response_headers, request_headers,
    duration_ms, error_class, error_message, created_at)
SELECT k.att || s.x, p.org_id, p.app_id, k.msg || s.x, e.endpoint_id, k.dlv || s.x,
    'http://127.0.0.1:9/seeded/' || e.endpoint_id, 'POST',
    CASE WHEN g % 50 = 0 THEN 2 ELSE 0 END, 0, CASE WHEN g % 50 = 0 THEN 500 ELSE 200 END,
    '{{"ok":true}}', '{{"content-type":"application/json"}}',
    '{{"content-type":"application/json","webhook-id":"' || k.msg || s.x
        || '","webhook-timestamp":"1764547200"}}',
    12 + g % 40, NULL, NULL, k.t + 20000
{_SQLITE_FROM} JOIN bench_endpoints AS e ON e.app_n = s.a AND e.k = g % :per
"""
# For the seed only (a throwaway file no server has open): no rollback journal, no fsync,
# a 1 GB page cache so the indexes kept during the seed stay in memory. WAL comes back after.
_SQLITE_SEED_PRAGMAS = (
    "PRAGMA journal_mode=OFF",
    "PRAGMA synchronous=OFF",
    "PRAGMA cache_size=-1000000",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA foreign_keys=OFF",
)


def _seed_sqlite(
    url: str,
    shape: Shape,
    where: Directory,
    buckets: list[tuple[int, str, str, str]],
    say: Callable[[str], None],
) -> None:
    conn = sqlite3.connect(sqlite_path(url), timeout=60, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=60000")
        for pragma in _SQLITE_SEED_PRAGMAS:
            conn.execute(pragma)
        _sqlite_directory(conn, shape, where, buckets)
        marks = ",".join("?" * len(HISTORY))
        rebuilt = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            f" AND tbl_name IN ({marks})",
            HISTORY,
        ).fetchall()  # autoindexes of UNIQUE constraints (no sql) stay, as on PostgreSQL
        for name, _ in rebuilt:
            conn.execute(f'DROP INDEX "{name}"')
        values = {
            "pad": "x" * shape.payload_pad,
            "per": shape.endpoints_per_app,
            "buckets": len(buckets),
            "rows": shape.rows,
            "apps": len(where.apps),
        }
        for first in range(1, shape.rows + 1, _CHUNK):
            last = min(first + _CHUNK - 1, shape.rows)
            chunk = {**values, "first": first, "last": last}
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(_SQLITE_MESSAGES, chunk)
            conn.execute(_SQLITE_DELIVERIES, chunk)
            conn.execute(_SQLITE_ATTEMPTS, chunk)
            conn.execute("COMMIT")
            say(f"  seeded {last:,} of {shape.rows:,} rows per table")
        say(f"  rebuilding {len(rebuilt)} indexes")
        for _, definition in rebuilt:
            conn.execute(definition)
        # Statistics as hookpost's own PRAGMA optimize gathers them (store/database.py).
        say("  ANALYZE")
        conn.execute("PRAGMA analysis_limit=1000")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


def _sqlite_directory(
    conn: sqlite3.Connection,
    shape: Shape,
    where: Directory,
    buckets: list[tuple[int, str, str, str]],
) -> None:
    now = int(time.time() * 1_000_000)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO organizations VALUES (?, ?, ?)",
        [(org, f"seeded {n}", now) for n, org in enumerate(where.orgs[1:])],
    )
    conn.executemany(
        "INSERT INTO applications (id, org_id, uid, name, throttle_rate, metadata,"
        " created_at, updated_at, deleted_at) VALUES (?,?,?,?,?,?,?,?,?)",
        [
            (app, org, f"seeded-{n}", f"seeded {n}", None, "{}", now, now, None)
            for n, (app, org) in enumerate(where.apps)
        ],
    )
    per = shape.endpoints_per_app
    conn.executemany(
        _ENDPOINT_INSERT.format(*("?" * 17)),
        [_endpoint_row(ep, where.apps[n // per], now) for n, ep in enumerate(where.endpoints)],
    )
    conn.execute(
        "CREATE TEMP TABLE bench_buckets (n INTEGER PRIMARY KEY, t INTEGER, msg TEXT, dlv TEXT,"
        " att TEXT)"
    )
    conn.executemany(
        "INSERT INTO bench_buckets VALUES (?, ?, ?, ?, ?)",
        [(n + 1, *bucket) for n, bucket in enumerate(buckets)],
    )
    conn.execute("CREATE TEMP TABLE bench_apps (n INTEGER PRIMARY KEY, app_id TEXT, org_id TEXT)")
    conn.executemany(
        "INSERT INTO bench_apps VALUES (?, ?, ?)",
        [(n + 1, app, org) for n, (app, org) in enumerate(where.apps)],
    )
    conn.execute(
        "CREATE TEMP TABLE bench_endpoints (app_n INTEGER, k INTEGER, endpoint_id TEXT,"
        " PRIMARY KEY (app_n, k))"
    )
    conn.executemany(
        "INSERT INTO bench_endpoints VALUES (?, ?, ?)",
        [(1 + n // per, n % per, ep) for n, ep in enumerate(where.endpoints)],
    )
    conn.execute("COMMIT")

"""What one read of the queue gauges costs on PostgreSQL with a large queue: the plans
(EXPLAIN ANALYZE, BUFFERS) and the time of `QueueDepthReader.read()`.

    nice -n 19 .venv/bin/python -m bench.metrics_queue_depth [finished ready not_due leased]

Default sizes: 300,000 finished deliveries, 150,000 ready, 300,000 scheduled, 2,000 leased.
Each count should stop at the cap (100,000) on an index-only scan of a partial index.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime

import asyncpg

from bench import databases
from hookpost.store import migrate
from hookpost.store.database import Database
from hookpost.store.queue_depth import EARLIEST, IN_FLIGHT, NOT_DUE, READY, QueueDepthReader

NOW = datetime.now(UTC)
NOW_US = int(NOW.timestamp() * 1_000_000)


async def _seed(conn: asyncpg.Connection, sizes: list[int]) -> None:
    finished, ready, not_due, leased = sizes
    await conn.execute(f"INSERT INTO organizations VALUES ('o', 'o', {NOW_US})")
    await conn.execute(
        "INSERT INTO applications (id, org_id, uid, name, throttle_rate, metadata, created_at,"
        f" updated_at) VALUES ('a', 'o', NULL, 'a', NULL, '{{}}', {NOW_US}, {NOW_US})"
    )
    await conn.execute(
        "INSERT INTO endpoints (id, org_id, app_id, uid, url, method, description, disabled,"
        " event_types, channels, throttle_rate, metadata, headers, keys, failing_since,"
        " created_at, updated_at) VALUES ('e', 'o', 'a', NULL, 'https://x', 'POST', '', false,"
        f" NULL, NULL, NULL, '{{}}', '{{}}', '[]', NULL, {NOW_US}, {NOW_US})"
    )
    blocks = [
        (finished, "succeeded", "NULL", "NULL"),
        (ready, "pending", f"{NOW_US} - i * 1000", "NULL"),
        (not_due, "pending", f"{NOW_US} + i * 1000", "NULL"),
        (leased, "pending", f"{NOW_US} + 30000000", "'t'"),
    ]
    for n, (count, state, next_at, token) in enumerate(blocks):
        series = f"generate_series(1, {count}) AS i"
        await conn.execute(
            "INSERT INTO messages (id, org_id, app_id, event_type, event_id, channels, tags,"
            " payload, raw_payload, idempotency_key, created_at, expires_at)"
            f" SELECT 'm{n}_' || i, 'o', 'a', 'x', NULL, NULL, NULL, NULL, false, NULL,"
            f" {NOW_US}, {NOW_US} FROM {series}"
        )
        await conn.execute(
            "INSERT INTO deliveries (id, org_id, app_id, msg_id, endpoint_id, state, trigger,"
            " attempts, next_attempt_at, claim_token, created_at, updated_at)"
            f" SELECT 'd{n}_' || i, 'o', 'a', 'm{n}_' || i, 'e', '{state}', 0, 0, {next_at},"
            f" {token}, {NOW_US}, {NOW_US} FROM {series}"
        )
    await conn.execute("VACUUM ANALYZE deliveries")


async def main(sizes: list[int]) -> None:
    url = await asyncio.to_thread(databases.create_postgres, "queue_depth")
    try:
        database = Database(url)
        await migrate.upgrade(database)
        await database.close()
        conn = await asyncpg.connect(databases.asyncpg_dsn(url))
        try:
            started = time.perf_counter()
            await _seed(conn, sizes)
            print(f"seeded {sizes} in {time.perf_counter() - started:.0f} s")
            for name, query in [
                ("ready", READY),
                ("not due", NOT_DUE),
                ("in flight", IN_FLIGHT),
                ("earliest", EARLIEST),
            ]:
                sql = query.text.replace(":now", "$1").replace(":cap", "$2")
                sql = sql.replace(":limit", "$2")
                args = [NOW_US, 100_000] if "$1" in sql else []
                plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
                print(f"--- {name}\n" + "\n".join(row[0] for row in plan))
        finally:
            await conn.close()
        database = Database(url)
        reader = QueueDepthReader(database, lambda: NOW)
        await reader.read()  # warm
        times = []
        for _ in range(5):
            started = time.perf_counter()
            depth = await reader.read()
            times.append(time.perf_counter() - started)
        await database.close()
        times.sort()
        print(depth)
        print(f"read(): best {times[0] * 1000:.1f} ms, median {times[2] * 1000:.1f} ms")
    finally:
        await asyncio.to_thread(databases.drop_postgres, url)


if __name__ == "__main__":
    given = [int(n) for n in sys.argv[1:5]]
    asyncio.run(main(given or [300_000, 150_000, 300_000, 2_000]))

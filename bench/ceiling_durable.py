"""Ceiling (b): the simplest honest durable delivery loop straight on the drivers (no
hookpost code): claim 50, sign, POST, record attempts and finish in one transaction.

It POSTs with ceiling (a2)'s minimal HTTP/1.1 client (`minimal_http.py`). Until 2026-12-02 it
sent with aiohttp, which made it slower than hookpost's own drain once the sender stopped
using aiohttp (drains above 100 % of b): a ceiling must not carry a cost hookpost no longer pays.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any, Protocol
from urllib.parse import urlsplit

from bench.databases import asyncpg_dsn, sqlite_path
from bench.minimal_http import MinimalClient
from bench.procs import Remote, answer
from bench.wire import SECRET, payload_bytes, webhook_headers

SCHEMA = (
    "CREATE TABLE endpoints (id TEXT PRIMARY KEY, url TEXT NOT NULL, secret TEXT NOT NULL)",
    "CREATE TABLE messages (id TEXT PRIMARY KEY, payload {blob} NOT NULL)",
    "CREATE TABLE deliveries (id TEXT PRIMARY KEY, msg_id TEXT NOT NULL,"
    " endpoint_id TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,"
    " next_attempt_at BIGINT, claim_token TEXT)",
    "CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending'",
    "CREATE TABLE attempts (id TEXT PRIMARY KEY, delivery_id TEXT NOT NULL,"
    " status INTEGER NOT NULL, response_body TEXT NOT NULL, duration_ms INTEGER NOT NULL,"
    " created_at BIGINT NOT NULL)",
)
LEASE_US = 60_000_000
Claimed = tuple[str, str, bytes, str, str]  # delivery id, message id, payload, url, secret
Result = tuple[str, str, int, str, int]  # delivery id, claim token, status, body, duration ms


def now_us() -> int:
    return time.time_ns() // 1000


class Queue(Protocol):
    async def claim(self, limit: int) -> tuple[str, list[Claimed]]: ...
    async def record(self, results: Sequence[Result]) -> None: ...
    async def close(self) -> None: ...


def seed_rows(count: int, url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    stamp = now_us()
    messages = [(f"msg_{i:08d}", payload_bytes(i)) for i in range(count)]
    deliveries = [
        (f"dlv_{i:08d}", f"msg_{i:08d}", "ep_1", "pending", 0, stamp, None) for i in range(count)
    ]
    del url
    return messages, deliveries


class SqliteQueue:
    _CLAIM = (
        "UPDATE deliveries SET next_attempt_at = ?, claim_token = ? WHERE id IN ("
        " SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ?"
        " ORDER BY next_attempt_at LIMIT ?) RETURNING id"
    )
    _LOAD = (
        "SELECT d.id, m.id, m.payload, e.url, e.secret FROM deliveries d"
        " JOIN messages m ON m.id = d.msg_id JOIN endpoints e ON e.id = d.endpoint_id"
        " WHERE d.id IN ({marks})"
    )

    def __init__(self, db: Any) -> None:
        self.db = db
        self.lock = asyncio.Lock()  # one writer at a time, as SQLite allows

    @classmethod
    async def open(cls, url: str) -> SqliteQueue:
        import aiosqlite  # noqa: PLC0415

        db = await aiosqlite.connect(sqlite_path(url), isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000"):
            await db.execute(f"PRAGMA {pragma}")
        return cls(db)

    async def create(self, count: int, url: str) -> None:
        for statement in SCHEMA:
            await self.db.execute(statement.format(blob="BLOB"))
        messages, deliveries = seed_rows(count, url)
        await self.db.execute("BEGIN")
        await self.db.execute("INSERT INTO endpoints VALUES ('ep_1', ?, ?)", (url, SECRET))
        await self.db.executemany("INSERT INTO messages VALUES (?, ?)", messages)
        await self.db.executemany("INSERT INTO deliveries VALUES (?,?,?,?,?,?,?)", deliveries)
        await self.db.execute("COMMIT")

    async def claim(self, limit: int) -> tuple[str, list[Claimed]]:
        token, now = uuid.uuid4().hex, now_us()
        async with self.lock:
            await self.db.execute("BEGIN IMMEDIATE")
            cursor = await self.db.execute(self._CLAIM, (now + LEASE_US, token, now, limit))
            ids = [row[0] for row in await cursor.fetchall()]
            rows: list[Claimed] = []
            if ids:
                marks = ",".join("?" * len(ids))
                cursor = await self.db.execute(self._LOAD.format(marks=marks), ids)
                rows = [tuple(r) for r in await cursor.fetchall()]  # type: ignore[misc]
            await self.db.execute("COMMIT")
        return token, rows

    async def record(self, results: Sequence[Result]) -> None:
        stamp = now_us()
        attempts = [(uuid.uuid4().hex, r[0], r[2], r[3], r[4], stamp) for r in results]
        done = [(r[0], r[1]) for r in results]
        async with self.lock:
            await self.db.execute("BEGIN IMMEDIATE")
            await self.db.executemany("INSERT INTO attempts VALUES (?,?,?,?,?,?)", attempts)
            await self.db.executemany(
                "UPDATE deliveries SET state = 'succeeded', attempts = attempts + 1,"
                " next_attempt_at = NULL, claim_token = NULL WHERE id = ? AND claim_token = ?",
                done,
            )
            await self.db.execute("COMMIT")

    async def close(self) -> None:
        await self.db.close()


class PostgresQueue:
    _CLAIM = """
        WITH due AS MATERIALIZED (
            SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= $1
            ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
        UPDATE deliveries d SET next_attempt_at = $3, claim_token = $4
        FROM due, messages m, endpoints e
        WHERE d.id = due.id AND m.id = d.msg_id AND e.id = d.endpoint_id
        RETURNING d.id, m.id, m.payload, e.url, e.secret"""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, url: str) -> PostgresQueue:
        import asyncpg  # noqa: PLC0415

        return cls(await asyncpg.create_pool(asyncpg_dsn(url), min_size=2, max_size=8))

    async def create(self, count: int, url: str) -> None:
        messages, deliveries = seed_rows(count, url)
        async with self.pool.acquire() as conn, conn.transaction():
            for statement in SCHEMA:
                await conn.execute(statement.format(blob="BYTEA"))
            await conn.execute("INSERT INTO endpoints VALUES ('ep_1', $1, $2)", url, SECRET)
            await conn.copy_records_to_table("messages", records=messages)
            await conn.copy_records_to_table("deliveries", records=deliveries)
        async with self.pool.acquire() as conn:
            await conn.execute("ANALYZE")

    async def claim(self, limit: int) -> tuple[str, list[Claimed]]:
        token, now = uuid.uuid4().hex, now_us()
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(self._CLAIM, now, limit, now + LEASE_US, token)
        return token, [tuple(r) for r in rows]  # type: ignore[misc]

    async def record(self, results: Sequence[Result]) -> None:
        stamp = now_us()
        attempts = [(uuid.uuid4().hex, r[0], r[2], r[3], r[4], stamp) for r in results]
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.executemany("INSERT INTO attempts VALUES ($1,$2,$3,$4,$5,$6)", attempts)
            await conn.execute(
                "UPDATE deliveries d SET state = 'succeeded', attempts = d.attempts + 1,"
                " next_attempt_at = NULL, claim_token = NULL FROM unnest($1::text[], $2::text[])"
                " AS done(id, token) WHERE d.id = done.id AND d.claim_token = done.token",
                [r[0] for r in results],
                [r[1] for r in results],
            )

    async def close(self) -> None:
        await self.pool.close()


def sign(secret: str, msg_id: str, stamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


async def _send(client: MinimalClient, token: str, row: Claimed) -> Result:
    delivery_id, msg_id, body, url, secret = row
    stamp = int(time.time())
    headers = webhook_headers(msg_id, stamp, sign(secret, msg_id, stamp, body))
    started = time.perf_counter()
    status, answer = await client.post(urlsplit(url).path, headers, body)
    text = answer.decode("utf-8", errors="replace")
    return delivery_id, token, status, text, int((time.perf_counter() - started) * 1000)


async def _drain(queue: Queue, total: int, lanes: int, batch: int, target: str) -> dict[str, Any]:
    delivered = 0
    where = urlsplit(target)
    host, port = where.hostname, where.port
    assert host is not None, target
    assert port is not None, target
    client = MinimalClient(host, port)  # every endpoint of the run is there
    try:

        async def lane() -> None:
            nonlocal delivered
            while True:
                token, rows = await queue.claim(batch)
                if not rows:
                    return
                results = await asyncio.gather(*(_send(client, token, r) for r in rows))
                await queue.record(results)
                delivered += sum(1 for r in results if r[2] == 200)

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(lane() for _ in range(lanes)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        client.close()
    return {
        "delivered": delivered,
        "expected": total,
        "seconds": elapsed,
        "rate": total / elapsed,
        "cpu_ms_per_delivery": round(cpu * 1000 / total, 3),
    }


async def _measure(backend: str, db_url: str, target: str, count: int, lanes: int) -> Any:
    opener = SqliteQueue.open if backend == "sqlite" else PostgresQueue.open
    queue = await opener(db_url)
    try:
        await queue.create(count, target)
        return await _drain(queue, count, lanes, 50, target)
    finally:
        await queue.close()


def _main(conn: Connection) -> None:
    import uvloop  # noqa: PLC0415 - child process only

    def run(backend: str, db_url: str, target: str, count: int, lanes: int) -> Any:
        return uvloop.run(_measure(backend, db_url, target, count, lanes))

    while answer(conn, {"run": run}):
        pass


def measure(backend: str, db_url: str, port: int, count: int, lanes: int) -> dict[str, Any]:
    """Deliveries per second of the minimal durable loop on a fresh database `db_url`."""
    remote = Remote(_main, f"ceiling-{backend}")
    try:
        target = f"http://127.0.0.1:{port}/durable"
        result = dict(
            remote.call(
                "run", backend=backend, db_url=db_url, target=target, count=count, lanes=lanes
            )
        )
        result.update(backend=backend, lanes=lanes, batch=50)
        return result
    finally:
        remote.stop()

"""Ceiling (c): a bare ASGI publish endpoint on uvicorn writing message + delivery with
group commit (no hookpost code); run as `python -m bench.ceiling_publish ...`.
"""

from __future__ import annotations

import asyncio
import hmac
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from bench.databases import asyncpg_dsn, sqlite_path

SCHEMA = (
    "CREATE TABLE endpoints (id TEXT PRIMARY KEY, app_id TEXT NOT NULL, url TEXT NOT NULL)",
    "CREATE TABLE messages (id TEXT PRIMARY KEY, app_id TEXT NOT NULL, event_type TEXT NOT NULL,"
    " payload {blob} NOT NULL, created_at BIGINT NOT NULL)",
    "CREATE TABLE deliveries (id TEXT PRIMARY KEY, msg_id TEXT NOT NULL, endpoint_id TEXT NOT NULL,"
    " state TEXT NOT NULL, next_attempt_at BIGINT)",
    "CREATE INDEX endpoints_app ON endpoints (app_id)",
    "INSERT INTO endpoints VALUES ('ep_1', 'app_1', 'http://127.0.0.1:9/')",
)
Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Store = Callable[[str, str, bytes], Awaitable[None]]


Row = tuple[str, str, bytes]  # app, event type, payload
WriteBatch = Callable[[list[Row]], Awaitable[None]]


def group_commit(write: WriteBatch, most: int = 256) -> Store:
    """Requests that arrive while a batch is written share the next transaction."""
    pending: list[tuple[Row, asyncio.Future[None]]] = []
    writer: list[asyncio.Task[None]] = []

    async def drain() -> None:
        while pending:
            batch = pending[:most]
            del pending[:most]
            try:
                await write([row for row, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    future.set_exception(exc)
            else:
                for _, future in batch:
                    future.set_result(None)

    async def publish(app: str, event_type: str, payload: bytes) -> None:
        future = asyncio.get_running_loop().create_future()
        pending.append(((app, event_type, payload), future))
        if not writer or writer[0].done():
            writer[:] = [asyncio.create_task(drain())]
        await future

    return publish


def _rows(batch: list[Row], targets: list[str]) -> tuple[list[Any], list[Any]]:
    now = time.time_ns() // 1000
    messages, deliveries = [], []
    for app, event_type, payload in batch:
        msg_id = uuid.uuid4().hex
        messages.append((msg_id, app, event_type, payload, now))
        deliveries += [(uuid.uuid4().hex, msg_id, target, now) for target in targets]
    return messages, deliveries


async def sqlite_store(url: str) -> Store:
    import aiosqlite  # noqa: PLC0415

    db = await aiosqlite.connect(sqlite_path(url), isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000"):
        await db.execute(f"PRAGMA {pragma}")
    for statement in SCHEMA:
        await db.execute(statement.format(blob="BLOB"))

    async def write(batch: list[Row]) -> None:
        await db.execute("BEGIN IMMEDIATE")
        cursor = await db.execute("SELECT id FROM endpoints WHERE app_id = ?", (batch[0][0],))
        messages, deliveries = _rows(batch, [row[0] for row in await cursor.fetchall()])
        await db.executemany("INSERT INTO messages VALUES (?,?,?,?,?)", messages)
        await db.executemany("INSERT INTO deliveries VALUES (?,?,?,'pending',?)", deliveries)
        await db.execute("COMMIT")

    return group_commit(write)


async def postgres_store(url: str) -> Store:
    import asyncpg  # noqa: PLC0415

    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=2, max_size=4)
    async with pool.acquire() as conn:
        for statement in SCHEMA:
            await conn.execute(statement.format(blob="BYTEA"))

    async def write(batch: list[Row]) -> None:
        async with pool.acquire() as conn, conn.transaction():
            found = await conn.fetch("SELECT id FROM endpoints WHERE app_id = $1", batch[0][0])
            messages, deliveries = _rows(batch, [row[0] for row in found])
            await conn.executemany("INSERT INTO messages VALUES ($1,$2,$3,$4,$5)", messages)
            await conn.executemany(
                "INSERT INTO deliveries VALUES ($1,$2,$3,'pending',$4)", deliveries
            )

    return group_commit(write)


def make_app(
    store: Store, token: str
) -> Callable[[dict[str, Any], Receive, Send], Awaitable[None]]:
    expected = f"Bearer {token}".encode()

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        if scope["path"] == "/api/v1/health":
            await _answer(send, 204, None)
            return
        headers = dict(scope["headers"])
        if not hmac.compare_digest(headers.get(b"authorization", b""), expected):
            await _answer(send, 401, {"code": "authentication_failed"})
            return
        try:
            body = orjson.loads(b"".join(chunks))
            event_type, payload = body["eventType"], orjson.dumps(body["payload"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            await _answer(send, 422, {"code": "validation"})
            return
        await store("app_1", event_type, payload)
        await _answer(send, 202, {"eventType": event_type})

    return app


async def _answer(send: Send, status: int, body: Any) -> None:
    data = b"" if body is None else orjson.dumps(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def serve(backend: str, url: str, port: int, token: str) -> None:
    import uvicorn  # noqa: PLC0415

    store = await (sqlite_store(url) if backend == "sqlite" else postgres_store(url))
    config = uvicorn.Config(
        make_app(store, token),
        host="127.0.0.1",
        port=port,
        loop="none",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    await uvicorn.Server(config).serve()


if __name__ == "__main__":
    import uvloop

    from bench.procs import die_with_parent

    die_with_parent()
    uvloop.run(serve(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))

"""Connections and transactions for both dialects (errors are translated by store/errors.py).

PostgreSQL: SQLAlchemy's async engine on asyncpg and a connection pool. SQLite: plain
sqlite3 connections called inline on the event loop (see `SqliteConnections` for why).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TypeVar

import asyncpg
import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, QueuePool

from hookpost.core.errors import Unavailable
from hookpost.core.telemetry import PoolUse
from hookpost.store.connect import check_postgres_url, connect_timeout, postgres_dsn
from hookpost.store.errors import translate, translated

log = logging.getLogger("hookpost.store")

SQLITE_PRAGMAS = (
    # Takes effect only on a new, empty file (before WAL and the first table): retention then
    # hands freed pages back with `PRAGMA incremental_vacuum`. An older file keeps its mode
    # until converted once (docs/operations.md, Retention); on it this line changes nothing.
    "PRAGMA auto_vacuum=INCREMENTAL",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous={synchronous}",
    # Short on purpose: a wait here blocks the event loop; writers retry asynchronously.
    "PRAGMA busy_timeout=50",
    "PRAGMA foreign_keys=ON",
)
SQLITE_READERS = 4
# SQLite's advice for long-lived connections: PRAGMA optimize every few hours and at close, so
# the planner has statistics for the tables that grew (bounded: each ANALYZE reads at most
# about this many index rows). The query-plan tests check the plans with and without them.
SQLITE_OPTIMIZE_EVERY = 3600.0
SQLITE_ANALYSIS_LIMIT = 1000
T = TypeVar("T")
SQLITE_LOCK_PATIENCE = 30.0  # seconds a writer keeps retrying a database locked elsewhere


def async_url(url: str) -> sa.URL:
    """Turn the user's database URL into one naming its driver."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite")
    if backend in {"postgresql", "postgres"}:
        return parsed.set(drivername="postgresql+asyncpg")
    raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")


class InlineConnection:
    """The slice of `AsyncConnection` the store uses, over a sync connection called inline.

    SQLite answers in microseconds from its own file, so a thread hop per statement (what
    aiosqlite does) costs more than the work itself.
    """

    __slots__ = ("sync",)

    def __init__(self, sync: sa.Connection) -> None:
        self.sync = sync

    async def execute(self, statement: sa.Executable, parameters: Any = None) -> Any:
        return self.sync.execute(statement, parameters)

    async def scalar(self, statement: sa.Executable, parameters: Any = None) -> Any:
        return self.sync.scalar(statement, parameters)

    @contextlib.asynccontextmanager
    async def begin_nested(self) -> AsyncIterator[None]:
        with self.sync.begin_nested():
            yield

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(self.sync, *args)


class Conn(Protocol):
    """What the store needs of a connection inside a transaction, on either dialect."""

    async def execute(self, statement: sa.Executable, parameters: Any = None) -> Any: ...

    async def scalar(self, statement: sa.Executable, parameters: Any = None) -> Any: ...

    def begin_nested(self) -> contextlib.AbstractAsyncContextManager[Any]: ...

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T: ...


class SqliteConnections:
    """A writer connection (one writer at a time, as SQLite allows) and a few readers.

    Transactions run without yielding to the event loop between statements, so nothing else
    runs on a connection mid-transaction; the writer lock orders writers in this process, and
    a writer locked out by another process retries asynchronously instead of blocking.
    """

    def __init__(self, url: sa.URL, synchronous: str) -> None:
        self.engine = sa.create_engine(url, poolclass=NullPool)
        _configure_sqlite(self.engine, synchronous)
        self._writer_lock = asyncio.Lock()
        self._writer: sa.Connection | None = None
        self._readers: asyncio.Queue[sa.Connection] = asyncio.Queue()
        self._opened_readers = 0
        self._optimize_at = time.monotonic() + SQLITE_OPTIMIZE_EVERY

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[InlineConnection]:
        async with self._writer_lock:
            if self._writer is None:
                self._writer = self.engine.connect().execution_options(
                    hookpost_begin="BEGIN IMMEDIATE"
                )
            conn = self._writer
            transaction = await self._begin_write(conn)
            try:
                yield InlineConnection(conn)
            except BaseException:
                transaction.rollback()
                raise
            transaction.commit()
            if time.monotonic() >= self._optimize_at:
                self._optimize_at = time.monotonic() + SQLITE_OPTIMIZE_EVERY
                _optimize(conn)

    async def _begin_write(self, conn: sa.Connection) -> sa.RootTransaction:
        pause, waited = 0.005, 0.0
        while True:
            try:
                return conn.begin()
            except exc.OperationalError as error:
                if not _is_locked(error) or waited >= SQLITE_LOCK_PATIENCE:
                    raise
            await asyncio.sleep(pause)  # another process writes: wait without blocking
            waited += pause
            pause = min(pause * 2, 0.2)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[InlineConnection]:
        if self._readers.empty() and self._opened_readers < SQLITE_READERS:
            self._opened_readers += 1
            self._readers.put_nowait(self.engine.connect())
        conn = await self._readers.get()
        try:
            with conn.begin():
                yield InlineConnection(conn)
        finally:
            self._readers.put_nowait(conn)

    def use(self) -> PoolUse:
        """The writer and the readers: busy, idle, and how many there may be."""
        writer_busy = 1 if self._writer_lock.locked() else 0
        writer_idle = 1 if self._writer is not None and not writer_busy else 0
        readers_idle = self._readers.qsize()
        return PoolUse(
            in_use=writer_busy + self._opened_readers - readers_idle,
            idle=writer_idle + readers_idle,
            limit=1 + SQLITE_READERS,
        )

    def close(self) -> None:
        if self._writer is not None:
            _optimize(self._writer)
            self._writer.close()
        while not self._readers.empty():
            self._readers.get_nowait().close()
        self.engine.dispose()


def _optimize(conn: sa.Connection) -> None:
    """Refresh the planner's statistics where SQLite thinks they matter; never fails a
    caller (another process holding the lock only postpones it to the next time)."""
    try:
        with conn.begin():
            conn.exec_driver_sql(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}")
            conn.exec_driver_sql("PRAGMA optimize")
    except exc.DBAPIError as error:
        log.info("PRAGMA optimize skipped: %s", error)


def _is_locked(error: exc.OperationalError) -> bool:
    text = str(error.orig).lower()
    return "locked" in text or "busy" in text


class Database:
    """An engine plus the two transaction shapes the store uses: `read()` and `write()`."""

    def __init__(
        self, url: str, *, pool_size: int = 10, sqlite_synchronous: str = "NORMAL"
    ) -> None:
        self.url = async_url(url)
        self.dialect = self.url.get_backend_name()
        self._sqlite: SqliteConnections | None = None
        self._engine: AsyncEngine | None = None
        self._pool_limit = 2 * pool_size  # pool_size + max_overflow
        if self.is_sqlite:
            self._sqlite = SqliteConnections(self.url, sqlite_synchronous)
        else:
            check_postgres_url(self.url)
            dsn, timeout = self.dsn, self.connect_timeout or 60.0  # asyncpg's default

            async def connect() -> asyncpg.Connection:
                return await asyncpg.connect(dsn, timeout=timeout)

            self._engine = create_async_engine(
                # No pre-ping: it costs three round trips per checkout. A connection found
                # dead fails its request with a 503 and the pool replaces every connection.
                # asyncpg reads the whole URL as libpq would (sslmode, sslrootcert, ...):
                # SQLAlchemy would pass its query as keyword arguments asyncpg has not got.
                self.url.set(query={}),
                async_creator=connect,
                pool_size=pool_size,
                max_overflow=pool_size,
            )

    @property
    def dsn(self) -> str:
        """The PostgreSQL URL as libpq and asyncpg read it, SSL options included."""
        return postgres_dsn(self.url)

    @property
    def connect_timeout(self) -> float | None:
        """libpq's `connect_timeout` of the URL, in seconds, when it gives one."""
        return connect_timeout(self.url)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def engine(self) -> AsyncEngine:
        """The PostgreSQL engine (SQLite has none: its connections are used inline)."""
        assert self._engine is not None, "only PostgreSQL has an async engine"
        return self._engine

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[Conn]:
        """A read-write transaction, committed when the block exits without an error."""
        if self._sqlite is not None:
            async with translated(), self._sqlite.write() as inline:
                yield inline
            return
        async with translated(), self.engine.begin() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def sqlite_write(self) -> AsyncIterator[sqlite3.Connection]:
        """The SQLite writer transaction straight on its sqlite3 connection (used inline).

        For the hot paths (claim, record), whose small transactions cost three times the CPU
        through SQLAlchemy's per-statement machinery that they cost on the driver.
        """
        assert self._sqlite is not None, "sqlite_write on a PostgreSQL database"
        async with translated(), self._sqlite.write() as inline:
            driver = inline.sync.connection.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            yield driver

    @contextlib.asynccontextmanager
    async def postgres_write(
        self, *, single_statement: bool = False
    ) -> AsyncIterator[asyncpg.Connection]:
        """A read-write transaction straight on asyncpg (the hot paths: publish, claim,
        record), on a connection of the same pool; one left in doubt is invalidated.

        `single_statement`: the block runs one statement, which PostgreSQL makes its own
        transaction, so BEGIN and COMMIT cost no round trips.
        """
        async with translated(), self.engine.connect() as conn:
            fairy = await conn.get_raw_connection()
            driver: asyncpg.Connection = fairy.driver_connection
            try:
                if single_statement:
                    yield driver
                else:
                    async with driver.transaction():
                        yield driver
            except BaseException as error:
                # Cancelled mid-statement, a lost connection, or a failure of ours:
                # SQLAlchemy's pool cannot see a transaction left open on the driver, so
                # such a connection is not reused.
                lost = isinstance(translate(error), Unavailable)
                if lost or isinstance(error, asyncio.CancelledError) or _unusable(driver):
                    await conn.invalidate()
                raise

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        """A read-only snapshot (one transaction, so several queries agree)."""
        if self._sqlite is not None:
            async with translated(), self._sqlite.read() as inline:
                yield inline
            return
        async with translated(), self.engine.connect() as conn, conn.begin():
            yield conn

    def pool_use(self) -> PoolUse:
        """This process's connections now (read at scrape time; no I/O)."""
        if self._sqlite is not None:
            return self._sqlite.use()
        pool = self.engine.pool
        if not isinstance(pool, QueuePool):
            return PoolUse(0, 0, self._pool_limit)
        return PoolUse(pool.checkedout(), pool.checkedin(), self._pool_limit)

    async def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        if self._engine is not None:
            await self._engine.dispose()


def _configure_sqlite(engine: sa.Engine, synchronous: str) -> None:
    pragmas = [p.format(synchronous=synchronous) for p in SQLITE_PRAGMAS]

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module, which would otherwise begin
        # transactions lazily and make BEGIN IMMEDIATE impossible.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get("hookpost_begin", "BEGIN"))


def _unusable(driver: asyncpg.Connection) -> bool:
    return bool(driver.is_closed() or driver.is_in_transaction())

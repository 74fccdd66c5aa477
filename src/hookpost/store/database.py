"""Connections and transactions for both dialects, and the translation of driver errors.

PostgreSQL: SQLAlchemy's async engine on asyncpg and a connection pool. SQLite: plain
sqlite3 connections called inline on the event loop (see `SqliteConnections` for why).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TypeVar

import asyncpg
import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from hookpost.core.errors import BadRequest, Unavailable

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous={synchronous}",
    # Short on purpose: a wait here blocks the event loop; writers retry asynchronously.
    "PRAGMA busy_timeout=50",
    "PRAGMA foreign_keys=ON",
)
SQLITE_READERS = 4
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

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        while not self._readers.empty():
            self._readers.get_nowait().close()
        self.engine.dispose()


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
        if self.is_sqlite:
            self._sqlite = SqliteConnections(self.url, sqlite_synchronous)
        else:
            self._engine = create_async_engine(
                # No pre-ping: it costs three round trips per checkout. A connection found
                # dead fails its request with a 503 and the pool replaces every connection.
                self.url,
                pool_size=pool_size,
                max_overflow=pool_size,
            )

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
    async def driver_write(self, *, single_statement: bool = False) -> AsyncIterator[Any]:
        """A read-write transaction straight on the driver's connection: asyncpg's, or the
        sqlite3 writer connection (inside the writer transaction, so used inline).

        For the hot paths (publish, claim, record), whose small transactions cost three times
        the CPU through SQLAlchemy's per-statement machinery that they cost on the driver.
        A PostgreSQL connection comes from the same pool; one left in doubt is invalidated.
        `single_statement`: the block runs one statement, which PostgreSQL makes its own
        transaction, so BEGIN and COMMIT cost no round trips.
        """
        if self._sqlite is not None:
            async with translated(), self._sqlite.write() as inline:
                try:
                    yield inline.sync.connection.driver_connection
                except sqlite3.OperationalError as error:  # locked too long, disk full, I/O
                    raise Unavailable(f"the database is unavailable: {error}") from error
            return
        async with translated(), self.engine.connect() as conn:
            fairy = await conn.get_raw_connection()
            driver: asyncpg.Connection = fairy.driver_connection
            try:
                if single_statement:
                    yield driver
                else:
                    async with driver.transaction():
                        yield driver
            except asyncpg.PostgresError as error:
                sqlstate = str(getattr(error, "sqlstate", "") or "")
                if sqlstate[:2] in _UNAVAILABLE_CLASSES or _unusable(driver):
                    await conn.invalidate()
                    raise Unavailable(f"the database is unavailable: {error}") from error
                if sqlstate.startswith("22"):
                    raise BadRequest(f"the database refused a value: {error}") from error
                raise
            except _CONNECTION_LOST as error:
                await conn.invalidate()
                raise Unavailable(f"the database connection was lost: {error}") from error
            except BaseException:
                # Cancelled mid-statement, or a failure of ours: SQLAlchemy's pool cannot see
                # a transaction left open on the driver, so such a connection is not reused.
                cancelled = isinstance(sys.exc_info()[1], asyncio.CancelledError)
                if cancelled or _unusable(driver):
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


@contextlib.asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Map driver errors to hookpost errors where they enter (architecture rule 3)."""
    try:
        yield
    except exc.DataError as error:
        raise BadRequest(f"the database refused a value: {_first_line(error)}") from error
    except (exc.OperationalError, exc.InterfaceError) as error:
        raise Unavailable(f"the database is unavailable: {_first_line(error)}") from error
    except exc.DBAPIError as error:
        if error.connection_invalidated:
            raise Unavailable("the database connection was lost") from error
        if str(getattr(error.orig, "sqlstate", None) or "").startswith("22"):
            # SQLSTATE class 22 is "data exception" (e.g. a NUL character PostgreSQL cannot
            # store), which asyncpg does not raise as a DataError.
            raise BadRequest(f"the database refused a value: {_first_line(error)}") from error
        raise
    except (TimeoutError, OSError) as error:
        raise Unavailable(f"the database is unreachable: {error}") from error


def _unusable(driver: asyncpg.Connection) -> bool:
    return bool(driver.is_closed() or driver.is_in_transaction())


# asyncpg's ways of saying the connection, not the statement, failed (InternalClientError:
# the server hung up while the client was mid-protocol).
_CONNECTION_LOST = (
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
    TimeoutError,
)
# SQLSTATE classes that mean the server or the connection, not the statement, failed:
# connection exception, insufficient resources, operator intervention, system error.
_UNAVAILABLE_CLASSES = frozenset({"08", "53", "57", "58"})


def _first_line(error: exc.DBAPIError) -> str:
    return str(error.orig).splitlines()[0] if error.orig else str(error)

"""The one translation of database errors into hookpost errors, for both dialects and every
layer they come through (SQLAlchemy, asyncpg, sqlite3), at connect time and per statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator

import asyncpg
from sqlalchemy import exc

from hookpost.core.errors import BadRequest, Conflict, HookpostError, Unavailable

# SQLSTATE classes that mean the server or the connection, not the statement, failed:
# connection exception, invalid authorization, insufficient resources (53300 too many
# connections), operator intervention, system error, and a database that does not exist (3D).
UNAVAILABLE_CLASSES = frozenset({"08", "28", "3D", "53", "57", "58"})
# asyncpg's ways of saying the connection, not the statement, failed (InternalClientError:
# the server hung up while the client was mid-protocol).
CONNECTION_LOST = (
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
    TimeoutError,
)

_UNAVAILABLE_KINDS = (
    *CONNECTION_LOST,
    sqlite3.OperationalError,
    exc.OperationalError,
    exc.InterfaceError,
    exc.TimeoutError,
)


class UniqueTaken(Conflict):
    """A unique key (or another integrity rule) refused a write; callers that raced another
    transaction catch this to answer as a duplicate, anyone else reports a conflict."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the database refused the write: {reason}", message_id="conflict")


def translate(error: BaseException) -> HookpostError | None:
    """The hookpost error a database error means, or None when it means a bug of ours."""
    if isinstance(error, HookpostError):
        return error
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return _unavailable(error)
    driver = error.orig if isinstance(error, exc.StatementError) and error.orig else error
    sqlstate = _sqlstate(driver)
    if sqlstate[:2] in UNAVAILABLE_CLASSES:
        return _unavailable(driver)
    if sqlstate.startswith("22") or isinstance(driver, sqlite3.DataError | exc.DataError):
        # Class 22 is "data exception" (e.g. a NUL character PostgreSQL cannot store).
        return BadRequest(
            f"the database refused a value: {_first_line(driver)}", message_id="value_refused"
        )
    if sqlstate.startswith("23") or isinstance(driver, sqlite3.IntegrityError | exc.IntegrityError):
        return UniqueTaken(_first_line(driver))
    if isinstance(driver, _UNAVAILABLE_KINDS):
        # sqlite3: locked for too long, disk full, I/O error, a file that cannot be opened.
        return _unavailable(driver)
    return None


@contextlib.asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Raise what `translate` makes of a database error raised inside the block."""
    try:
        yield
    except asyncio.CancelledError:
        raise
    except Exception as error:
        translation = translate(error)
        if translation is None or translation is error:
            raise
        raise translation from error


def _sqlstate(error: BaseException) -> str:
    # SQLAlchemy's asyncpg adapter copies the SQLSTATE; asyncpg's own errors carry it too.
    for candidate in (error, error.__cause__):
        code = getattr(candidate, "sqlstate", None)
        if code:
            return str(code)
    return ""


def _unavailable(error: BaseException) -> Unavailable:
    return Unavailable(
        f"the database is unavailable: {_first_line(error)}", message_id="database_unavailable"
    )


def _first_line(error: BaseException) -> str:
    text = str(error.orig if isinstance(error, exc.StatementError) and error.orig else error)
    return text.splitlines()[0] if text else type(error).__name__

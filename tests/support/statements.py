"""Every statement a Database sends to its driver, captured where it enters the driver.

The hot path runs straight on the drivers (sqlite3, asyncpg) and the cold paths through
SQLAlchemy; both are seen. Hook the database before it opens its first connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

from hookpost.store.database import Database


@dataclass
class Captured:
    """Statements sent to the driver while `recording`, with their parameters."""

    recording: bool = False
    statements: list[tuple[str, Sequence[Any]]] = field(default_factory=list)

    def add(self, sql: str, parameters: Sequence[Any]) -> None:
        if self.recording and is_query(sql):
            self.statements.append((sql, parameters))


def is_query(sql: str) -> bool:
    head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    return head in {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"}


def capture(database: Database, captured: Captured) -> None:
    """Hook every connection the database opens, before it opens any."""
    if database.is_sqlite:
        engine = database._sqlite.engine  # type: ignore[union-attr]

        @event.listens_for(engine, "connect")
        def trace(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
            # The sqlite3 module traces every statement, hot path included, values inlined.
            dbapi_connection.set_trace_callback(lambda sql: captured.add(sql, ()))

        return
    sync_engine = database.engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def log_driver(dbapi_connection: Any, _record: Any) -> None:
        # The hot path runs straight on asyncpg; its query logger sees those statements.
        dbapi_connection.driver_connection.add_query_logger(
            lambda query: captured.add(query.query, query.args)
        )

    @event.listens_for(sync_engine, "before_cursor_execute")
    def log_sqlalchemy(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool
    ) -> None:
        captured.add(statement, parameters[0] if many else parameters)

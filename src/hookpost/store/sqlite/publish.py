"""A publish's reads and writes on SQLite, in SQLAlchemy Core on the writer connection
(store/postgres/publish.py has PostgreSQL's); SQLite answers inline, so these stay simple.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from hookpost.core.models import Application, Message
from hookpost.store import rows
from hookpost.store.database import Conn, Database
from hookpost.store.schema import applications, deliveries, endpoints, messages


class SqlitePublishing:
    """Publish transactions on SQLite's writer connection."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlitePublishRows]:
        async with self._db.write() as conn:
            yield SqlitePublishRows(conn)


class SqlitePublishRows:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def applications(self, org_id: str, refs: set[str]) -> list[Application]:
        query = sa.select(applications).where(
            applications.c.org_id == org_id,
            applications.c.deleted_at.is_(None),
            sa.or_(applications.c.id.in_(refs), applications.c.uid.in_(refs)),
        )
        return [rows.application(row) for row in await self.conn.execute(query)]

    async def create_application(self, values: dict[str, Any]) -> Application | None:
        inserted = await self.conn.execute(
            sqlite.insert(applications)
            .values(values)
            .on_conflict_do_nothing()
            .returning(*applications.c)
        )
        row = inserted.first()
        return None if row is None else rows.application(row)

    async def messages_by_key(self, org_id: str, keys: set[str]) -> list[tuple[Message, str]]:
        query = sa.select(messages).where(
            messages.c.org_id == org_id, messages.c.idempotency_key.in_(keys)
        )
        return [(rows.message(row), row.idempotency_key) for row in await self.conn.execute(query)]

    async def forget_keys(self, org_id: str, keys: set[str], before_us: int) -> None:
        await self.conn.execute(
            messages.update()
            .where(
                messages.c.org_id == org_id,
                messages.c.idempotency_key.in_(keys),
                messages.c.created_at < before_us,
            )
            .values(idempotency_key=None)
        )

    async def event_ids_taken(self, app_ids: set[str], event_ids: set[str]) -> set[tuple[str, str]]:
        query = sa.select(messages.c.app_id, messages.c.event_id).where(
            messages.c.app_id.in_(app_ids), messages.c.event_id.in_(event_ids)
        )
        return {(row.app_id, row.event_id) for row in await self.conn.execute(query)}

    async def insert(
        self,
        message_rows: list[dict[str, Any]],
        delivery_rows: list[dict[str, Any]],
        *,
        # SQLite's workers share this process's doorbell: nothing to ring here.
        ring: bool = False,  # noqa: ARG002
    ) -> bool:
        await self.conn.execute(messages.insert(), message_rows)
        if delivery_rows:
            await self.conn.execute(deliveries.insert(), delivery_rows)
        return False  # SQLite has no NOTIFY: the caller rings its doorbell

    async def endpoints_of(self, app_ids: set[str]) -> Sequence[Any]:
        query = sa.select(endpoints).where(
            endpoints.c.app_id.in_(app_ids),
            endpoints.c.deleted_at.is_(None),
            endpoints.c.disabled.is_(False),
        )
        return list(await self.conn.execute(query))

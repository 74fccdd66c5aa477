"""The event catalog: event types per organization, addressed by name, archived or expunged.

Creating a type that exists only archived revives it with the new description and schemas.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import sqlalchemy as sa

from hookpost.core import ids
from hookpost.core.errors import Conflict
from hookpost.core.fields import EventTypeFields
from hookpost.core.models import EventType, Page
from hookpost.store import rows
from hookpost.store.base import StoreBase, fetch_page
from hookpost.store.database import Conn
from hookpost.store.schema import event_types


def _named(org_id: str, name: str) -> sa.ColumnElement[bool]:
    return sa.and_(event_types.c.org_id == org_id, event_types.c.name == name)


class EventTypeStore(StoreBase):
    """The `EventTypes` port: the catalog of event types."""

    async def create_event_type(self, org_id: str, name: str, fields: EventTypeFields) -> EventType:
        async with self._db.write() as conn:
            existing = await _fetch(conn, _named(org_id, name))
            if existing is not None and not existing.archived:
                raise Conflict(code="event_type_exists")
            if existing is not None:
                return await self._update_event_type(conn, org_id, name, vars(fields))
            created = await self._insert_event_type(conn, org_id, name, fields)
        if created is None:
            raise Conflict(code="event_type_exists")
        return created

    async def put_event_type(
        self, org_id: str, name: str, fields: EventTypeFields
    ) -> tuple[EventType, bool]:
        async with self._db.write() as conn:
            if await _fetch(conn, _named(org_id, name)) is None:
                created = await self._insert_event_type(conn, org_id, name, fields)
                if created is not None:
                    return created, True
                # A concurrent request created it after our read: this PUT replaces it.
            return await self._update_event_type(conn, org_id, name, vars(fields)), False

    async def update_event_type(
        self, org_id: str, name: str, changes: Mapping[str, Any]
    ) -> EventType | None:
        async with self._db.write() as conn:
            if await _fetch(conn, _named(org_id, name)) is None:
                return None
            return await self._update_event_type(conn, org_id, name, changes)

    async def get_event_type(self, org_id: str, name: str) -> EventType | None:
        async with self._db.read() as conn:
            return await _fetch(conn, _named(org_id, name))

    async def list_event_types(
        self,
        org_id: str,
        *,
        limit: int,
        iterator: str | None,
        include_archived: bool,
        descending: bool = False,
    ) -> Page[EventType]:
        query = sa.select(event_types).where(event_types.c.org_id == org_id)
        if not include_archived:
            query = query.where(event_types.c.archived.is_(False))
        async with self._db.read() as conn:
            return await fetch_page(
                conn,
                query,
                event_types.c.name,
                limit=limit,
                iterator=iterator,
                descending=descending,
                convert=rows.event_type,
            )

    async def delete_event_type(self, org_id: str, name: str, *, expunge: bool) -> bool:
        """Archive (or with `expunge`, erase) a type; False when there is no such type."""
        async with self._db.write() as conn:
            if expunge:
                result = await conn.execute(event_types.delete().where(_named(org_id, name)))
            else:
                result = await conn.execute(
                    event_types.update()
                    .where(_named(org_id, name))
                    .values(archived=True, updated_at=rows.to_us(self._clock()))
                )
        return bool(result.rowcount)

    async def live_event_type_names(self, org_id: str, names: Collection[str]) -> set[str]:
        """Which of `names` exist in the catalog and are not archived."""
        if not names:
            return set()
        query = sa.select(event_types.c.name).where(
            event_types.c.org_id == org_id,
            event_types.c.name.in_(list(names)),
            event_types.c.archived.is_(False),
        )
        async with self._db.read() as conn:
            return set((await conn.execute(query)).scalars())

    async def _insert_event_type(
        self, conn: Conn, org_id: str, name: str, fields: EventTypeFields
    ) -> EventType | None:
        """The new type, or None when a concurrent request created one of that name."""
        now = rows.to_us(self._clock())
        values = {
            "id": self._ids.new(ids.EVENT_TYPE),
            "org_id": org_id,
            "name": name,
            "created_at": now,
            "updated_at": now,
            **rows.column_values(vars(fields)),
        }
        inserted = await conn.execute(
            self._insert(event_types)
            .values(values)
            .on_conflict_do_nothing()
            .returning(event_types.c.id)
        )
        if inserted.first() is None:
            return None
        created = await _fetch(conn, _named(org_id, name))
        assert created is not None
        return created

    async def _update_event_type(
        self, conn: Conn, org_id: str, name: str, changes: Mapping[str, Any]
    ) -> EventType:
        values = rows.column_values(changes)
        values["updated_at"] = rows.to_us(self._clock())
        await conn.execute(event_types.update().where(_named(org_id, name)).values(values))
        updated = await _fetch(conn, _named(org_id, name))
        assert updated is not None
        return updated


async def _fetch(conn: Conn, where: sa.ColumnElement[bool]) -> EventType | None:
    row = (await conn.execute(sa.select(event_types).where(where))).first()
    return None if row is None else rows.event_type(row)

"""Applications: one per customer of the platform, addressed by id or by the caller's uid.

Deletion is soft: the row stays for history, its uid is released, its endpoints go with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hookpost.core import ids
from hookpost.core.errors import Conflict, NotFound
from hookpost.core.fields import ApplicationFields, EndpointPresence
from hookpost.core.models import Application, DeliveryState, Page
from hookpost.store import rows
from hookpost.store.base import StoreBase, fetch_page
from hookpost.store.database import Conn
from hookpost.store.errors import UniqueTaken, translated
from hookpost.store.schema import applications, deliveries, endpoints


def app_lookup(org_id: str, ref: str) -> sa.ColumnElement[bool]:
    """Live application `ref` (an id or a uid) of organization `org_id`."""
    column = applications.c.id if ref.startswith(ids.APPLICATION) else applications.c.uid
    return sa.and_(
        applications.c.org_id == org_id, column == ref, applications.c.deleted_at.is_(None)
    )


def application_values(
    id_factory: ids.IdFactory, now: datetime, org_id: str, fields: ApplicationFields
) -> dict[str, Any]:
    """A new application's row (publishing writes it too, when a message creates its app)."""
    stamp = rows.to_us(now)
    return {
        "id": id_factory.new(ids.APPLICATION),
        "org_id": org_id,
        "created_at": stamp,
        "updated_at": stamp,
        **rows.column_values(vars(fields)),
    }


class ApplicationStore(StoreBase):
    """The `Applications` port."""

    async def create_application(self, org_id: str, fields: ApplicationFields) -> Application:
        async with self._db.write() as conn:
            app = await self._insert_application(conn, org_id, fields)
        if app is None:
            raise Conflict(message_id="application_uid_taken")
        return app

    async def get_or_create_application(
        self, org_id: str, fields: ApplicationFields
    ) -> tuple[Application, bool]:
        async with self._db.write() as conn:
            if fields.uid is not None:
                existing = await fetch_application(conn, app_lookup(org_id, fields.uid))
                if existing is not None:
                    return existing, False
            app = await self._insert_application(conn, org_id, fields)
            if app is None and fields.uid is not None:
                # A concurrent request created it between our read and our insert (which
                # waited for that request to commit): answer with its application.
                existing = await fetch_application(conn, app_lookup(org_id, fields.uid))
                if existing is not None:
                    return existing, False
        if app is None:
            raise Conflict(message_id="application_uid_taken")
        return app, True

    async def list_applications(
        self,
        org_id: str,
        *,
        limit: int,
        iterator: str | None,
        descending: bool,
        with_endpoints: EndpointPresence = None,
    ) -> Page[Application]:
        query = sa.select(applications).where(
            applications.c.org_id == org_id, applications.c.deleted_at.is_(None)
        )
        if with_endpoints is not None:
            query = query.where(_having_endpoints(with_endpoints))
        async with self._db.read() as conn:
            return await fetch_page(
                conn,
                query,
                applications.c.id,
                limit=limit,
                iterator=iterator,
                descending=descending,
                convert=rows.application,
            )

    async def put_application(
        self, org_id: str, ref: str, fields: ApplicationFields
    ) -> tuple[Application, bool]:
        """Replace application `ref` with `fields`, creating it when it does not exist."""
        async with self._db.write() as conn:
            existing = await fetch_application(conn, app_lookup(org_id, ref))
            if existing is None and ref.startswith(ids.APPLICATION):
                # Ids are the server's to give: creating one under a fresh id on every call
                # would make a repeated PUT leave several applications.
                raise NotFound(entity="application")
            if existing is None:
                created = await self._insert_application(conn, org_id, fields)
                if created is not None:
                    return created, True
                # A concurrent PUT created it between our read and our insert (which waited
                # for that request to commit): this PUT replaces what it wrote.
                existing = await fetch_application(conn, app_lookup(org_id, ref))
                if existing is None:
                    raise Conflict(message_id="application_uid_taken")
            updated = await self._update_application(conn, org_id, existing.id, vars(fields))
        return updated, False

    async def update_application(
        self, org_id: str, app_id: str, changes: Mapping[str, Any]
    ) -> Application:
        async with self._db.write() as conn:
            return await self._update_application(conn, org_id, app_id, changes)

    async def delete_application(self, org_id: str, app_id: str) -> None:
        now = rows.to_us(self._clock())
        async with self._db.write() as conn:
            await conn.execute(
                applications.update()
                .where(applications.c.id == app_id, applications.c.org_id == org_id)
                .values(deleted_at=now, uid=None, updated_at=now)
            )
            await conn.execute(
                endpoints.update()
                .where(endpoints.c.app_id == app_id, endpoints.c.deleted_at.is_(None))
                .values(deleted_at=now, uid=None, updated_at=now)
            )
            await conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.app_id == app_id,
                    deliveries.c.state.in_([DeliveryState.PENDING, DeliveryState.PAUSED]),
                )
                .values(state=DeliveryState.CANCELED, next_attempt_at=None, updated_at=now)
            )

    async def _insert_application(
        self, conn: Conn, org_id: str, fields: ApplicationFields
    ) -> Application | None:
        values = application_values(self._ids, self._clock(), org_id, fields)
        inserted = await conn.execute(
            self._insert(applications)
            .values(values)
            .on_conflict_do_nothing()
            .returning(applications.c.id)
        )
        if inserted.first() is None:
            return None
        return await fetch_application(conn, applications.c.id == values["id"])

    async def _update_application(
        self, conn: Conn, org_id: str, app_id: str, changes: Mapping[str, Any]
    ) -> Application:
        values = rows.column_values(changes)
        values["updated_at"] = rows.to_us(self._clock())
        try:
            async with translated(), conn.begin_nested():
                await conn.execute(
                    applications.update()
                    .where(applications.c.id == app_id, applications.c.org_id == org_id)
                    .values(values)
                )
        except UniqueTaken:
            raise Conflict(message_id="application_uid_taken") from None
        app = await fetch_application(conn, applications.c.id == app_id)
        assert app is not None, "updated application vanished inside its transaction"
        return app


def _having_endpoints(presence: EndpointPresence) -> sa.ColumnElement[bool]:
    live = [endpoints.c.app_id == applications.c.id, endpoints.c.deleted_at.is_(None)]
    some = sa.exists().where(*live)
    enabled = sa.exists().where(*live, endpoints.c.disabled.is_(False))
    if presence == "any":
        return some
    if presence == "enabled":
        return enabled
    return sa.or_(enabled, ~some)


async def fetch_application(conn: Conn, where: sa.ColumnElement[bool]) -> Application | None:
    row = (await conn.execute(sa.select(applications).where(where))).first()
    return None if row is None else rows.application(row)

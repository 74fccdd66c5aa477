"""Endpoints of an application: where its messages go, with filters, headers and signing keys.

Disabling an endpoint pauses its pending deliveries; enabling it again resumes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from hookpost.core import ids
from hookpost.core.errors import BadRequest, Conflict, NotFound
from hookpost.core.fields import EndpointFields
from hookpost.core.models import DeliveryState, Endpoint, Page, SigningKey
from hookpost.store import rows
from hookpost.store.base import StoreBase, fetch_page
from hookpost.store.database import Conn
from hookpost.store.errors import UniqueTaken, translated
from hookpost.store.schema import deliveries, endpoints

MAX_OLD_KEYS = 10


def endpoint_lookup(app_id: str, ref: str) -> sa.ColumnElement[bool]:
    column = endpoints.c.id if ref.startswith(ids.ENDPOINT) else endpoints.c.uid
    return sa.and_(endpoints.c.app_id == app_id, column == ref, endpoints.c.deleted_at.is_(None))


async def fetch_endpoint(conn: Conn, where: sa.ColumnElement[bool]) -> Endpoint | None:
    row = (await conn.execute(sa.select(endpoints).where(where))).first()
    return None if row is None else rows.endpoint(row)


async def set_disabled(conn: Conn, endpoint_id: str, disabled: bool, now: int) -> None:
    """Pause or resume the endpoint's unfinished deliveries along with the flag."""
    before, after = (
        (DeliveryState.PENDING, DeliveryState.PAUSED)
        if disabled
        else (DeliveryState.PAUSED, DeliveryState.PENDING)
    )
    await conn.execute(
        deliveries.update()
        .where(deliveries.c.endpoint_id == endpoint_id, deliveries.c.state == before)
        .values(state=after, next_attempt_at=now, updated_at=now)
    )
    if not disabled:
        await conn.execute(
            endpoints.update().where(endpoints.c.id == endpoint_id).values(failing_since=None)
        )


class EndpointStore(StoreBase):
    """The `EndpointAdmin` port."""

    async def create_endpoint(
        self, org_id: str, app_id: str, fields: EndpointFields, secret: str
    ) -> Endpoint:
        async with self._db.write() as conn:
            created = await self._insert_endpoint(conn, org_id, app_id, fields, secret)
        if created is None:
            raise Conflict(message_id="endpoint_uid_taken")
        return created

    async def list_endpoints(
        self, org_id: str, app_id: str, *, limit: int, iterator: str | None, descending: bool
    ) -> Page[Endpoint]:
        query = sa.select(endpoints).where(
            endpoints.c.org_id == org_id,
            endpoints.c.app_id == app_id,
            endpoints.c.deleted_at.is_(None),
        )
        async with self._db.read() as conn:
            return await fetch_page(
                conn,
                query,
                endpoints.c.id,
                limit=limit,
                iterator=iterator,
                descending=descending,
                convert=rows.endpoint,
            )

    async def put_endpoint(
        self, org_id: str, app_id: str, ref: str, fields: EndpointFields, secret: str
    ) -> tuple[Endpoint, bool]:
        async with self._db.write() as conn:
            existing = await fetch_endpoint(conn, endpoint_lookup(app_id, ref))
            if existing is None and ref.startswith(ids.ENDPOINT):
                # Ids are the server's to give (an id of another application's endpoint
                # included): a fresh one on every call would leave duplicates behind.
                raise NotFound(entity="endpoint")
            if existing is None:
                created = await self._insert_endpoint(conn, org_id, app_id, fields, secret)
                if created is not None:
                    return created, True
                # A concurrent PUT created it between our read and our insert (which waited
                # for that request to commit): this PUT replaces what it wrote.
                existing = await fetch_endpoint(conn, endpoint_lookup(app_id, ref))
                if existing is None:
                    raise Conflict(message_id="endpoint_uid_taken")
            changes = {k: v for k, v in vars(fields).items() if k != "headers"}
            return await self._update_endpoint(conn, existing, changes), False

    async def update_endpoint(
        self, org_id: str, app_id: str, endpoint_id: str, changes: Mapping[str, Any]
    ) -> Endpoint | None:
        async with self._db.write() as conn:
            existing = await fetch_endpoint(
                conn, sa.and_(endpoint_lookup(app_id, endpoint_id), endpoints.c.org_id == org_id)
            )
            if existing is None:
                return None
            return await self._update_endpoint(conn, existing, changes)

    async def delete_endpoint(self, org_id: str, app_id: str, endpoint_id: str) -> bool:
        now = rows.to_us(self._clock())
        async with self._db.write() as conn:
            result = await conn.execute(
                endpoints.update()
                .where(
                    endpoints.c.id == endpoint_id,
                    endpoints.c.app_id == app_id,
                    endpoints.c.org_id == org_id,
                    endpoints.c.deleted_at.is_(None),
                )
                .values(deleted_at=now, uid=None, updated_at=now)
            )
            await conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.endpoint_id == endpoint_id,
                    deliveries.c.state.in_([DeliveryState.PENDING, DeliveryState.PAUSED]),
                )
                .values(state=DeliveryState.CANCELED, next_attempt_at=None, updated_at=now)
            )
        return bool(result.rowcount)

    async def rotate_endpoint_secret(
        self, org_id: str, app_id: str, endpoint_id: str, new_secret: str, grace: timedelta
    ) -> Endpoint | None:
        """Make `new_secret` current; the old one keeps signing until `grace` has passed."""
        now = self._clock()
        async with self._db.write() as conn:
            existing = await fetch_endpoint(
                conn, sa.and_(endpoint_lookup(app_id, endpoint_id), endpoints.c.org_id == org_id)
            )
            if existing is None:
                return None
            keys = _rotated(existing.keys, new_secret, now, grace)
            await conn.execute(
                endpoints.update()
                .where(endpoints.c.id == existing.id)
                .values(keys=rows.keys_to_json(keys), updated_at=rows.to_us(now))
            )
            updated = await fetch_endpoint(conn, endpoints.c.id == existing.id)
        assert updated is not None
        return updated

    async def _insert_endpoint(
        self, conn: Conn, org_id: str, app_id: str, fields: EndpointFields, secret: str
    ) -> Endpoint | None:
        """The new endpoint, or None when its uid is taken (perhaps by a concurrent request)."""
        now = self._clock()
        values = {
            "id": self._ids.new(ids.ENDPOINT),
            "org_id": org_id,
            "app_id": app_id,
            "keys": rows.keys_to_json((SigningKey(secret, now),)),
            "failing_since": None,
            "created_at": rows.to_us(now),
            "updated_at": rows.to_us(now),
            **rows.column_values(vars(fields)),
        }
        inserted = await conn.execute(
            self._insert(endpoints)
            .values(values)
            .on_conflict_do_nothing()
            .returning(endpoints.c.id)
        )
        if inserted.first() is None:
            return None
        created = await fetch_endpoint(conn, endpoints.c.id == values["id"])
        assert created is not None
        return created

    async def _update_endpoint(
        self, conn: Conn, existing: Endpoint, changes: Mapping[str, Any]
    ) -> Endpoint:
        now = rows.to_us(self._clock())
        values = rows.column_values(changes)
        values["updated_at"] = now
        try:
            async with translated(), conn.begin_nested():
                await conn.execute(
                    endpoints.update().where(endpoints.c.id == existing.id).values(values)
                )
        except UniqueTaken:
            raise Conflict(message_id="endpoint_uid_taken") from None
        disabled = changes.get("disabled")
        if disabled is not None and disabled != existing.disabled:
            await set_disabled(conn, existing.id, bool(disabled), now)
        updated = await fetch_endpoint(conn, endpoints.c.id == existing.id)
        assert updated is not None
        return updated


def _rotated(
    keys: tuple[SigningKey, ...], new_secret: str, now: datetime, grace: timedelta
) -> tuple[SigningKey, ...]:
    current, *older = keys
    still_live = [k for k in older if k.live_at(now)]
    if len(still_live) >= MAX_OLD_KEYS:
        raise BadRequest(
            code="limit_reached", message_id="too_many_old_secrets", limit=MAX_OLD_KEYS
        )
    retired = SigningKey(current.secret, current.created_at, now + grace)
    live_old = [retired, *still_live] if grace.total_seconds() > 0 else still_live
    return (SigningKey(new_secret, now), *live_old)

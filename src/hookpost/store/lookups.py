"""Finding one application, endpoint or message by id or uid: every service's first step."""

from __future__ import annotations

import sqlalchemy as sa

from hookpost.core.models import Application, Endpoint, Message
from hookpost.store.applications import app_lookup, fetch_application
from hookpost.store.database import Database
from hookpost.store.endpoints import endpoint_lookup, fetch_endpoint
from hookpost.store.messages import fetch_message
from hookpost.store.schema import endpoints


class EntityLookups:
    """The `Lookups` port: one read each."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_application(self, org_id: str, ref: str) -> Application | None:
        async with self._db.read() as conn:
            return await fetch_application(conn, app_lookup(org_id, ref))

    async def get_endpoint(self, org_id: str, app_id: str, ref: str) -> Endpoint | None:
        async with self._db.read() as conn:
            return await fetch_endpoint(
                conn, sa.and_(endpoint_lookup(app_id, ref), endpoints.c.org_id == org_id)
            )

    async def get_message(self, org_id: str, app_id: str, ref: str) -> Message | None:
        async with self._db.read() as conn:
            message = await fetch_message(conn, app_id, ref)
        return message if message is not None and message.org_id == org_id else None

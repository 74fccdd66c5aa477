"""Reading an application's messages in id (publication) order, for pollers and streams.

One keyset query over the `(app_id, id)` index; filters the caller cannot push down are theirs.
"""

from __future__ import annotations

import sqlalchemy as sa

from hookpost.core.models import Message
from hookpost.store import rows
from hookpost.store.database import Database
from hookpost.store.messages import like_json_item
from hookpost.store.schema import messages


class MessageFeed:
    """Messages of one application with ids strictly between two bounds, oldest first."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def read(
        self,
        app_id: str,
        *,
        after: str,
        before: str,
        limit: int,
        event_type: str | None = None,
        channel: str | None = None,
    ) -> list[Message]:
        query = sa.select(messages).where(
            messages.c.app_id == app_id, messages.c.id > after, messages.c.id < before
        )
        if event_type is not None:
            query = query.where(messages.c.event_type == event_type)
        if channel is not None:
            query = query.where(like_json_item(messages.c.channels, channel))
        query = query.order_by(messages.c.id).limit(limit)
        async with self._db.read() as conn:
            return [rows.message(row) for row in (await conn.execute(query)).all()]

"""Reading an application's messages in id (publication) order, for pollers and streams.

Keyset queries over the `(app_id, id)` index; a page is bounded in rows and in payload bytes,
so a backlog of large messages is never loaded at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from hookpost.core.models import Message
from hookpost.store import rows
from hookpost.store.database import Database
from hookpost.store.messages import like_json_item
from hookpost.store.schema import messages

PAGE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class FeedPage:
    messages: list[Message]
    exhausted: bool  # nothing more between the bounds (when this page was read)


class MessageFeed:
    """Messages of one application with ids strictly between two bounds, oldest first."""

    def __init__(self, db: Database, page_bytes: int = PAGE_BYTES) -> None:
        self._db = db
        self._page_bytes = page_bytes

    async def read(
        self,
        app_id: str,
        *,
        after: str,
        before: str,
        limit: int,
        event_type: str | None = None,
        channel: str | None = None,
    ) -> FeedPage:
        conditions = [messages.c.app_id == app_id, messages.c.id > after, messages.c.id < before]
        if event_type is not None:
            conditions.append(messages.c.event_type == event_type)
        if channel is not None:
            conditions.append(like_json_item(messages.c.channels, channel))
        # Sizes first (the length is known without reading the payload), then the rows that
        # fit in the byte budget; one message always fits, however large.
        size = sa.func.coalesce(sa.func.length(messages.c.payload), 0)
        sizes = (
            sa.select(messages.c.id, size).where(*conditions).order_by(messages.c.id).limit(limit)
        )
        async with self._db.read() as conn:
            found = (await conn.execute(sizes)).all()
            if not found:
                return FeedPage([], exhausted=True)
            total, last = 0, found[0][0]
            for msg_id, length in found:
                if total and total + length > self._page_bytes:
                    break
                total += length
                last = msg_id
            query = (
                sa.select(messages)
                .where(*conditions, messages.c.id <= last)
                .order_by(messages.c.id)
            )
            page = [rows.message(row) for row in (await conn.execute(query)).all()]
        return FeedPage(page, exhausted=len(found) < limit and last == found[-1][0])

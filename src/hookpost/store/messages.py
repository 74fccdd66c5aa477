"""Messages as stored: listing with filters, expunging content, and the filters and id
windows the history shares. Publishing lives in `publishing`, lookups in `lookups`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from hookpost.core import ids
from hookpost.core.fields import MessageQuery
from hookpost.core.models import Message, Page
from hookpost.store import rows
from hookpost.store.base import StoreBase, fetch_page
from hookpost.store.database import Conn
from hookpost.store.schema import messages

LOOKBACK = timedelta(days=90)


def like_json_item(column: sa.ColumnElement[str | None], item: str) -> sa.ColumnElement[bool]:
    """Whether a JSON list stored as text contains `item` (names cannot contain quotes)."""
    escaped = item.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(f'%"{escaped}"%', escape="\\")


FIRST_ID_TIME = datetime.fromtimestamp(ids.KSUID_EPOCH, UTC)
LAST_ID_TIME = datetime.fromtimestamp(ids.KSUID_EPOCH + 2**32 - 1, UTC)


def id_bound(prefix: str, at: datetime, *, upper: bool) -> str:
    """`ids.bound_id` of the millisecond `at` falls in, for any time a caller may send.

    Times outside what an id can encode (before 2014, after 2150) are clamped to its range
    rather than overflowing. And the id's time is computed through a float, which can land a
    whole millisecond early when `at` sits exactly on one (as every timestamp we render does);
    the middle of the millisecond is immune to that.
    """
    at = min(max(at, FIRST_ID_TIME), LAST_ID_TIME)
    middle = at.replace(microsecond=at.microsecond // 1000 * 1000 + 500)
    return ids.bound_id(prefix, middle, upper=upper)


def message_filters(q: MessageQuery) -> list[sa.ColumnElement[bool]]:
    """The conditions on the messages table that `q`'s channel, tag and event types ask."""
    found = []
    if q.channel is not None:
        found.append(like_json_item(messages.c.channels, q.channel))
    if q.tag is not None:
        found.append(like_json_item(messages.c.tags, q.tag))
    if q.event_types:
        found.append(messages.c.event_type.in_(q.event_types))
    return found


def id_window(
    column: sa.ColumnElement[str], prefix: str, q: MessageQuery, now: datetime
) -> list[sa.ColumnElement[bool]]:
    """Creation-time bounds as id bounds, since ids sort by creation time."""
    conditions = []
    after = q.after if q.after is not None else None
    if after is None and q.before is None and q.iterator is None:
        after = now - LOOKBACK
    if after is not None:
        conditions.append(column > id_bound(prefix, after, upper=True))
    if q.before is not None:
        conditions.append(column < id_bound(prefix, q.before, upper=False))
    return conditions


def start_iterator(prefix: str, q: MessageQuery) -> str | None:
    """Where a newest-first listing starts: `after` alone starts at the oldest item after it.

    That is Svix's rule: the first page holds the oldest items after `after`, and callers
    walk forward (towards newer items) with `prevIterator`.
    """
    if q.iterator is None and q.after is not None and q.before is None:
        return "-" + id_bound(prefix, q.after, upper=True)
    return q.iterator


async def fetch_message(conn: Conn, app_id: str, ref: str) -> Message | None:
    column = messages.c.id if ref.startswith(ids.MESSAGE) else messages.c.event_id
    row = (
        await conn.execute(sa.select(messages).where(messages.c.app_id == app_id, column == ref))
    ).first()
    return None if row is None else rows.message(row)


class MessageStore(StoreBase):
    """The `MessageLog` port: the messages as stored. Publishing is `PublishingStore`."""

    async def list_messages(self, org_id: str, app_id: str, q: MessageQuery) -> Page[Message]:
        query = sa.select(messages).where(
            messages.c.org_id == org_id,
            messages.c.app_id == app_id,
            *id_window(messages.c.id, ids.MESSAGE, q, self._clock()),
        )
        query = query.where(*message_filters(q))
        async with self._db.read() as conn:
            return await fetch_page(
                conn,
                query,
                messages.c.id,
                limit=q.limit,
                iterator=start_iterator(ids.MESSAGE, q),
                descending=True,
                convert=rows.message,
            )

    async def expunge_message_content(self, org_id: str, app_id: str, msg_id: str) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                messages.update()
                .where(
                    messages.c.id == msg_id,
                    messages.c.app_id == app_id,
                    messages.c.org_id == org_id,
                )
                .values(payload=None)
            )
        return bool(result.rowcount)

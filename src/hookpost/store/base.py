"""What every part of the SQL store shares: the database, the clock, ids and pagination.

Pagination is keyset-based on a sortable key (ids are time-sortable, event types use names).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from hookpost.core.ids import IdFactory
from hookpost.core.models import Page
from hookpost.store.database import Conn, Database

T = TypeVar("T")
Clock = Callable[[], datetime]


class StoreBase:
    """The database, clock and id factory a port implementation works with; the only base
    class of the store's parts (none inherits another part)."""

    def __init__(self, db: Database, clock: Clock, ids: IdFactory) -> None:
        self._db = db
        self._clock = clock
        self._ids = ids

    def _insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT, which knows ON CONFLICT DO NOTHING."""
        module: Any = sqlite if self._db.is_sqlite else postgresql
        return module.insert(table)


async def fetch_page(
    conn: Conn,
    query: sa.Select[Any],
    key: sa.ColumnElement[Any],
    *,
    limit: int,
    iterator: str | None,
    descending: bool,
    convert: Callable[[Any], T],
) -> Page[T]:
    """One page after `iterator`; an iterator starting with '-' walks back (Svix's prevIterator).

    Fetches one row more than asked to know whether another page follows.
    """
    backwards = iterator is not None and iterator.startswith("-")
    cursor = iterator[1:] if iterator and backwards else iterator
    walk_descending = descending != backwards
    if cursor:
        query = query.where(key < cursor if walk_descending else key > cursor)
    query = query.order_by(key.desc() if walk_descending else key.asc()).limit(limit + 1)
    rows = (await conn.execute(query)).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    return Page([convert(r) for r in rows], has_more)

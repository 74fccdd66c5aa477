"""Where each polling consumer stands: one row per (application, sink, consumer).

A position is the id of the last message handed out (or a bound id), so it survives restarts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from hookpost.store import rows
from hookpost.store.database import Database
from hookpost.store.schema import poller_consumers


class PollerConsumers:
    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock

    async def position(self, app_id: str, sink_id: str, consumer_id: str) -> str | None:
        table = poller_consumers
        async with self._db.read() as conn:
            found: str | None = await conn.scalar(
                sa.select(table.c.position).where(
                    table.c.app_id == app_id,
                    table.c.sink_id == sink_id,
                    table.c.consumer_id == consumer_id,
                )
            )
        return found

    async def save(self, app_id: str, sink_id: str, consumer_id: str, position: str) -> None:
        module: Any = sqlite if self._db.is_sqlite else postgresql
        now = rows.to_us(self._clock())
        statement = module.insert(poller_consumers).values(
            app_id=app_id,
            sink_id=sink_id,
            consumer_id=consumer_id,
            position=position,
            updated_at=now,
        )
        statement = statement.on_conflict_do_update(
            index_elements=["app_id", "sink_id", "consumer_id"],
            set_={"position": position, "updated_at": now},
        )
        async with self._db.write() as conn:
            await conn.execute(statement)

"""The one place the store picks a dialect's implementation of its hot operations; the
runtime (which chose the database) gets them through `Stores`, built here once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from hookpost.store.database import Database
from hookpost.store.ports import DeliveryQueue, PublishTransactions
from hookpost.store.postgres.publish import PostgresPublishing
from hookpost.store.postgres.queue import PostgresQueue
from hookpost.store.sqlite.publish import SqlitePublishing
from hookpost.store.sqlite.queue import SqliteQueue


@dataclass(frozen=True)
class HotPath:
    queue: DeliveryQueue
    publishing: PublishTransactions


def hot_path(db: Database, clock: Callable[[], datetime]) -> HotPath:
    """The delivery queue and the publish transactions of `db`'s dialect."""
    if db.is_sqlite:
        return HotPath(SqliteQueue(db, clock), SqlitePublishing(db))
    return HotPath(PostgresQueue(db, clock), PostgresPublishing(db))

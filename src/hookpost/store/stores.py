"""The store's port implementations over one database, built together.

Each part is one narrow port of `ports.py` (or two), a class of its own taking the database,
the clock and the id factory; none inherits another. The runtime builds a `Stores` and hands
each service the parts it takes, one by one; no service sees the bundle. The hot parts
(`queue`, and the statements under `publishing`) are the database's dialect's (dialects.py).
"""

from __future__ import annotations

from datetime import timedelta

from hookpost.core.ids import IdFactory
from hookpost.store.access import AccessStore
from hookpost.store.applications import ApplicationStore
from hookpost.store.base import Clock
from hookpost.store.catalog import EventTypeStore
from hookpost.store.database import Database
from hookpost.store.dialects import hot_path
from hookpost.store.endpoints import EndpointStore
from hookpost.store.history import HistoryStore
from hookpost.store.lookups import EntityLookups
from hookpost.store.messages import MessageStore
from hookpost.store.ports import DeliveryQueue
from hookpost.store.publishing import PublishingStore
from hookpost.store.redelivery import RedeliveryStore


class Stores:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        ids: IdFactory,
        *,
        idempotency_ttl: timedelta = timedelta(hours=12),
    ) -> None:
        self.database = db
        hot = hot_path(db, clock)
        self.queue: DeliveryQueue = hot.queue  # the worker's
        self.lookups = EntityLookups(db)
        self.access = AccessStore(db, clock, ids)  # Credentials, Organizations
        self.applications = ApplicationStore(db, clock, ids)
        self.event_types = EventTypeStore(db, clock, ids)
        self.endpoints = EndpointStore(db, clock, ids)  # EndpointAdmin
        self.publishing = PublishingStore(
            db, clock, ids, hot.publishing, idempotency_ttl=idempotency_ttl
        )  # Publisher
        self.messages = MessageStore(db, clock, ids)  # MessageLog
        self.history = HistoryStore(db, clock, ids)  # HistoryReader
        self.redelivery = RedeliveryStore(db, clock, ids)

    async def close(self) -> None:
        await self.database.close()

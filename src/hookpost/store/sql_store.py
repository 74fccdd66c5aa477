"""The SQL implementation of the `Store` contract, assembled from one part per aggregate.

The same code serves SQLite and PostgreSQL; `Database` hides how each begins transactions.
"""

from __future__ import annotations

from hookpost.store.access import AccessStore
from hookpost.store.catalog import CatalogStore
from hookpost.store.endpoints import EndpointStore
from hookpost.store.history import HistoryStore
from hookpost.store.messages import MessageStore
from hookpost.store.queue import QueueStore
from hookpost.store.redelivery import RedeliveryStore


class SqlStore(
    MessageStore,
    EndpointStore,
    CatalogStore,
    HistoryStore,
    RedeliveryStore,
    AccessStore,
    QueueStore,
):
    async def close(self) -> None:
        await self._db.close()

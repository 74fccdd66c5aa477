"""The SQL implementation of the `Store` contract, assembled from one part per aggregate,
with the hot operations (publish, claim, record) of the database's dialect (dialects.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from hookpost.core.ids import IdFactory
from hookpost.core.models import Claim, ClaimShares, DeliveryState
from hookpost.core.outcomes import AttemptRecord
from hookpost.store.access import AccessStore
from hookpost.store.base import Clock
from hookpost.store.catalog import CatalogStore
from hookpost.store.database import Database
from hookpost.store.dialects import hot_path
from hookpost.store.endpoints import EndpointStore
from hookpost.store.history import HistoryStore
from hookpost.store.messages import MessageStore
from hookpost.store.ports import DeliveryQueue
from hookpost.store.redelivery import RedeliveryStore


class SqlStore(
    MessageStore,
    EndpointStore,
    CatalogStore,
    HistoryStore,
    RedeliveryStore,
    AccessStore,
):
    def __init__(
        self,
        db: Database,
        clock: Clock,
        ids: IdFactory,
        *,
        idempotency_ttl: timedelta = timedelta(hours=12),
    ) -> None:
        super().__init__(db, clock, ids)
        self.idempotency_ttl = idempotency_ttl
        hot = hot_path(db, clock)
        self.queue: DeliveryQueue = hot.queue  # the worker's port
        self._publishing = hot.publishing
        self._group = None
        self.handover = None

    # The queue's operations on the whole store, for callers not given `queue` itself.
    async def claim_due(self, limit: int | ClaimShares, lease: timedelta) -> list[Claim]:
        return await self.queue.claim_due(limit, lease)

    async def record_attempts(self, records: Sequence[AttemptRecord]) -> list[AttemptRecord]:
        return await self.queue.record_attempts(records)

    async def release(self, claims: Sequence[Claim], state: DeliveryState | None = None) -> None:
        await self.queue.release(claims, state)

    async def next_due_at(self) -> datetime | None:
        return await self.queue.next_due_at()

    async def close(self) -> None:
        await self._db.close()

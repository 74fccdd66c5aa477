"""The store's narrow ports: what a service or the worker takes instead of the whole store,
each with one implementation per dialect (store/postgres/, store/sqlite/, see dialects.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from hookpost.core.models import Application, Claim, ClaimShares, DeliveryState, Message
from hookpost.core.outcomes import AttemptRecord


class DeliveryQueue(Protocol):
    """The deliveries waiting for attempts, as the worker sees them."""

    async def claim_due(self, limit: int | ClaimShares, lease: timedelta) -> list[Claim]:
        """Lease due deliveries (expired leases count as due), as `limit` shares them."""
        ...

    async def record_attempts(self, records: Sequence[AttemptRecord]) -> list[AttemptRecord]:
        """Write attempts and next states where the claim still holds; the records written."""
        ...

    async def release(self, claims: Sequence[Claim], state: DeliveryState | None = None) -> None:
        """Give leases back unused: due again now, or moved to `state`."""
        ...

    async def next_due_at(self) -> datetime | None:
        """When the earliest pending delivery comes due."""
        ...


class PublishRows(Protocol):
    """The reads and writes of a publish, inside one transaction."""

    async def applications(self, org_id: str, refs: set[str]) -> list[Application]: ...

    async def create_application(self, values: dict[str, Any]) -> Application | None:
        """Insert this application row; None when its uid is taken."""
        ...

    async def messages_by_key(self, org_id: str, keys: set[str]) -> list[tuple[Message, str]]:
        """The messages published under these idempotency keys, with their key; the filter
        names the organization so the unique (org_id, idempotency_key) index serves it."""
        ...

    async def event_ids_taken(
        self, app_ids: set[str], event_ids: set[str]
    ) -> set[tuple[str, str]]: ...

    async def insert(
        self, message_rows: list[dict[str, Any]], delivery_rows: list[dict[str, Any]]
    ) -> None:
        """Write the messages and their deliveries."""
        ...

    async def endpoints_of(self, app_ids: set[str]) -> Sequence[Any]:
        """The enabled, live endpoints of these applications, whole rows."""
        ...


class PublishTransactions(Protocol):
    """Where publishes run: a transaction, committed when the block exits without an error
    (a unique key taken meanwhile raises store.errors.UniqueTaken)."""

    def transaction(self) -> contextlib.AbstractAsyncContextManager[PublishRows]: ...

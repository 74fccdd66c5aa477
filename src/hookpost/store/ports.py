"""The store's narrow ports: what a service or the worker takes instead of the whole store.
The hot ones (DeliveryQueue, PublishRows) have one implementation per dialect (dialects.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from hookpost.core.fields import (
    ApplicationFields,
    AttemptQuery,
    EndpointFields,
    EndpointPresence,
    EventTypeFields,
    MessageQuery,
    NewMessage,
)
from hookpost.core.models import (
    ApiKey,
    Application,
    Attempt,
    Claim,
    ClaimShares,
    Delivery,
    DeliveryState,
    Endpoint,
    EventType,
    IdempotentAnswer,
    Message,
    Organization,
    Page,
    Published,
)
from hookpost.core.outcomes import AttemptRecord


class DeliveryQueue(Protocol):
    """The deliveries waiting for attempts, as the worker sees them."""

    # True when the last walking claim stopped at its window with endpoints that have
    # pending work left unvisited (many endpoints wait for retries): trusted endpoints'
    # work is then looked up by name too (delivery/scheduling.py).
    walk_cut: bool

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

    async def forget_keys(self, org_id: str, keys: set[str], before_us: int) -> None:
        """Take these idempotency keys off the messages published under them before
        `before_us` (their TTL is over), so that new messages may use them."""
        ...

    async def event_ids_taken(
        self, app_ids: set[str], event_ids: set[str]
    ) -> set[tuple[str, str]]: ...

    async def insert(
        self,
        message_rows: list[dict[str, Any]],
        delivery_rows: list[dict[str, Any]],
        *,
        ring: bool = False,
    ) -> bool:
        """Write the messages and their deliveries. With `ring`, wake the workers of every
        process when the transaction commits, where the dialect can (PostgreSQL: a NOTIFY in
        the same statement); True when it did."""
        ...

    async def endpoints_of(self, app_ids: set[str]) -> Sequence[Any]:
        """The enabled, live endpoints of these applications, whole rows."""
        ...


class PublishTransactions(Protocol):
    """Where publishes run: a transaction, committed when the block exits without an error
    (a unique key taken meanwhile raises store.errors.UniqueTaken)."""

    def transaction(self) -> contextlib.AbstractAsyncContextManager[PublishRows]: ...


class Lookups(Protocol):
    """Finding one application, endpoint or message by id or uid (every service's first step)."""

    async def get_application(self, org_id: str, ref: str) -> Application | None: ...

    async def get_endpoint(self, org_id: str, app_id: str, ref: str) -> Endpoint | None: ...

    async def get_message(self, org_id: str, app_id: str, ref: str) -> Message | None: ...


class Organizations(Protocol):
    """The organizations hookpost itself needs: the default one and the internal one."""

    async def ensure_organization(self, name: str = "default") -> Organization: ...

    async def ensure_internal_organization(self) -> Organization: ...


class Credentials(Protocol):
    """API keys, idempotency keys and the organization: what access control needs."""

    async def add_api_key(self, org_id: str, key_hash: str, hint: str, name: str) -> ApiKey: ...

    async def claim_idempotency_key(
        self, key_hash: str, *, lock_for: timedelta, keep_for: timedelta
    ) -> IdempotentAnswer | None: ...

    async def ensure_organization(self, name: str = "default") -> Organization: ...

    async def find_api_key(self, key_hash: str) -> ApiKey | None: ...

    async def finish_idempotency_key(
        self, key_hash: str, status_code: int, body: bytes
    ) -> None: ...

    async def list_api_keys(self) -> list[ApiKey]: ...

    async def ping(self) -> None: ...

    async def release_idempotency_key(self, key_hash: str) -> None: ...

    async def revoke_api_key(self, key_id: str) -> bool: ...


class Applications(Protocol):
    """Applications: creation, changes, listing and deletion (lookups are `Lookups`)."""

    async def create_application(self, org_id: str, fields: ApplicationFields) -> Application: ...

    async def delete_application(self, org_id: str, app_id: str) -> None: ...

    async def get_or_create_application(
        self, org_id: str, fields: ApplicationFields
    ) -> tuple[Application, bool]: ...

    async def list_applications(
        self,
        org_id: str,
        *,
        limit: int,
        iterator: str | None,
        descending: bool,
        with_endpoints: EndpointPresence = None,
    ) -> Page[Application]: ...

    async def put_application(
        self, org_id: str, ref: str, fields: ApplicationFields
    ) -> tuple[Application, bool]: ...

    async def update_application(
        self, org_id: str, app_id: str, changes: Mapping[str, Any]
    ) -> Application: ...


class EventTypes(Protocol):
    """The catalog of event types."""

    async def create_event_type(
        self, org_id: str, name: str, fields: EventTypeFields
    ) -> EventType: ...

    async def delete_event_type(self, org_id: str, name: str, *, expunge: bool) -> bool: ...

    async def get_event_type(self, org_id: str, name: str) -> EventType | None: ...

    async def list_event_types(
        self,
        org_id: str,
        *,
        limit: int,
        iterator: str | None,
        include_archived: bool,
        descending: bool = False,
    ) -> Page[EventType]: ...

    async def live_event_type_names(self, org_id: str, names: Collection[str]) -> set[str]: ...

    async def put_event_type(
        self, org_id: str, name: str, fields: EventTypeFields
    ) -> tuple[EventType, bool]: ...

    async def update_event_type(
        self, org_id: str, name: str, changes: Mapping[str, Any]
    ) -> EventType | None: ...


class EndpointAdmin(Protocol):
    """Endpoints: creation, changes and secrets (lookups are `Lookups`)."""

    async def create_endpoint(
        self, org_id: str, app_id: str, fields: EndpointFields, secret: str
    ) -> Endpoint: ...

    async def delete_endpoint(self, org_id: str, app_id: str, endpoint_id: str) -> bool: ...

    async def list_endpoints(
        self, org_id: str, app_id: str, *, limit: int, iterator: str | None, descending: bool
    ) -> Page[Endpoint]: ...

    async def put_endpoint(
        self, org_id: str, app_id: str, ref: str, fields: EndpointFields, secret: str
    ) -> tuple[Endpoint, bool]: ...

    async def rotate_endpoint_secret(
        self, org_id: str, app_id: str, endpoint_id: str, new_secret: str, grace: timedelta
    ) -> Endpoint | None: ...

    async def update_endpoint(
        self, org_id: str, app_id: str, endpoint_id: str, changes: Mapping[str, Any]
    ) -> Endpoint | None: ...


class HistoryReader(Protocol):
    """Attempts, and delivery status per message and endpoint."""

    async def endpoint_stats(
        self, org_id: str, endpoint_id: str, since: datetime, until: datetime
    ) -> dict[str, int]: ...

    async def expunge_attempt_content(
        self, org_id: str, app_id: str, msg_id: str, attempt_id: str
    ) -> bool: ...

    async def get_attempt(
        self, org_id: str, app_id: str, msg_id: str, attempt_id: str
    ) -> Attempt | None: ...

    async def list_attempts(
        self, org_id: str, app_id: str, q: AttemptQuery, *, msg_id: str | None = None
    ) -> Page[Attempt]: ...

    async def list_endpoint_messages(
        self, org_id: str, endpoint_id: str, q: AttemptQuery
    ) -> Page[tuple[Message, Delivery]]: ...

    async def messages_by_id(
        self, org_id: str, app_id: str, msg_ids: Collection[str]
    ) -> dict[str, Message]: ...

    async def list_message_destinations(
        self, org_id: str, msg_id: str, *, limit: int, iterator: str | None
    ) -> Page[tuple[Endpoint, Delivery]]: ...


class Redelivery(Protocol):
    """Sending a message again to one endpoint (resend); recover and the replays are
    background tasks (store/background_tasks.py)."""

    async def resend(self, endpoint: Endpoint, msg_id: str) -> None: ...


class Publisher(Protocol):
    """Publishing: a message and its deliveries, in one transaction."""

    async def publish(
        self,
        org_id: str,
        app_ref: str,
        new: NewMessage,
        *,
        create_app: ApplicationFields | None = None,
        idempotency_key: str | None = None,
        only_endpoint: str | None = None,
    ) -> Published: ...


class MessageLog(Protocol):
    """The messages as stored: listing and expunging content."""

    async def expunge_message_content(self, org_id: str, app_id: str, msg_id: str) -> bool: ...

    async def list_messages(self, org_id: str, app_id: str, q: MessageQuery) -> Page[Message]: ...

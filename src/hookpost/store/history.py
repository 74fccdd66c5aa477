"""The delivery history: attempts by message or endpoint, and per-pair delivery status.

Support staff answer "I never got the webhook" from these queries, so every filter is here.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa

from hookpost.core import ids
from hookpost.core.fields import AttemptQuery
from hookpost.core.models import (
    Attempt,
    Delivery,
    DeliveryState,
    Endpoint,
    Message,
    MessageStatus,
    Page,
)
from hookpost.store import rows
from hookpost.store.base import StoreBase, fetch_page
from hookpost.store.messages import id_window, message_filters, start_iterator
from hookpost.store.schema import attempts, deliveries, endpoints, messages


def _latest_delivery() -> sa.ColumnElement[bool]:
    """The newest delivery of each (message, endpoint) pair decides the pair's status."""
    newer = deliveries.alias("newer")
    return deliveries.c.id == (
        sa.select(sa.func.max(newer.c.id))
        .where(
            newer.c.msg_id == deliveries.c.msg_id, newer.c.endpoint_id == deliveries.c.endpoint_id
        )
        .scalar_subquery()
    )


class HistoryStore(StoreBase):
    """The `HistoryReader` port."""

    async def endpoint_stats(
        self, org_id: str, endpoint_id: str, since: datetime, until: datetime
    ) -> dict[str, int]:
        """Messages for the endpoint in [since, until], counted by their Svix status."""
        buckets = {
            "success": status_condition(MessageStatus.SUCCESS),
            "fail": status_condition(MessageStatus.FAIL),
            "sending": status_condition(MessageStatus.SENDING),
            "pending": status_condition(MessageStatus.PENDING),
        }
        query = sa.select(
            *(sa.func.count().filter(cond).label(name) for name, cond in buckets.items())
        ).where(
            deliveries.c.org_id == org_id,
            deliveries.c.endpoint_id == endpoint_id,
            deliveries.c.created_at >= rows.to_us(since),
            deliveries.c.created_at <= rows.to_us(until),
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).one()
        return {name: int(getattr(row, name)) for name in buckets}

    async def messages_by_id(
        self, org_id: str, app_id: str, msg_ids: Collection[str]
    ) -> dict[str, Message]:
        """The messages of `msg_ids` that the application has, by id."""
        if not msg_ids:
            return {}
        query = sa.select(messages).where(
            messages.c.org_id == org_id,
            messages.c.app_id == app_id,
            messages.c.id.in_(list(msg_ids)),
        )
        async with self._db.read() as conn:
            return {row.id: rows.message(row) for row in await conn.execute(query)}

    async def list_attempts(
        self, org_id: str, app_id: str, q: AttemptQuery, *, msg_id: str | None = None
    ) -> Page[Attempt]:
        query = sa.select(attempts).where(
            attempts.c.org_id == org_id,
            attempts.c.app_id == app_id,
            *id_window(attempts.c.id, ids.ATTEMPT, q, self._clock()),
        )
        if msg_id is not None:
            query = query.where(attempts.c.msg_id == msg_id)
        if q.endpoint_id is not None:
            query = query.where(attempts.c.endpoint_id == q.endpoint_id)
        if q.status is not None:
            query = query.where(attempts.c.status == q.status)
        if q.status_code_class is not None:
            code = attempts.c.response_status_code
            if q.status_code_class == 0:
                query = query.where(sa.or_(code < 100, code > 599))
            else:
                query = query.where(code >= q.status_code_class, code < q.status_code_class + 100)
        filters = message_filters(q)
        if filters:
            query = query.join(messages, messages.c.id == attempts.c.msg_id).where(*filters)
        async with self._db.read() as conn:
            return await fetch_page(
                conn,
                query,
                attempts.c.id,
                limit=q.limit,
                iterator=start_iterator(ids.ATTEMPT, q),
                descending=True,
                convert=rows.attempt,
            )

    async def get_attempt(
        self, org_id: str, app_id: str, msg_id: str, attempt_id: str
    ) -> Attempt | None:
        query = sa.select(attempts).where(
            attempts.c.id == attempt_id,
            attempts.c.msg_id == msg_id,
            attempts.c.app_id == app_id,
            attempts.c.org_id == org_id,
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else rows.attempt(row)

    async def expunge_attempt_content(
        self, org_id: str, app_id: str, msg_id: str, attempt_id: str
    ) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                attempts.update()
                .where(
                    attempts.c.id == attempt_id,
                    attempts.c.msg_id == msg_id,
                    attempts.c.app_id == app_id,
                    attempts.c.org_id == org_id,
                )
                .values(response_body="EXPUNGED")
            )
        return bool(result.rowcount)

    async def list_endpoint_messages(
        self, org_id: str, endpoint_id: str, q: AttemptQuery
    ) -> Page[tuple[Message, Delivery]]:
        """Messages sent (or being sent) to one endpoint, with that endpoint's status."""
        joined = sa.select(messages, *_delivery_columns()).join(
            deliveries, deliveries.c.msg_id == messages.c.id
        )
        query = joined.where(
            deliveries.c.endpoint_id == endpoint_id,
            deliveries.c.org_id == org_id,
            _latest_delivery(),
            *id_window(messages.c.id, ids.MESSAGE, q, self._clock()),
        )
        query = query.where(*message_filters(q))
        if q.status is not None:
            query = query.where(status_condition(q.status))
        return await self._page_of_pairs(query, messages.c.id, q, descending=True)

    async def list_message_destinations(
        self, org_id: str, msg_id: str, *, limit: int, iterator: str | None
    ) -> Page[tuple[Endpoint, Delivery]]:
        """Endpoints a message went to (deleted ones included), with their status."""
        query = (
            sa.select(endpoints, *_delivery_columns())
            .join(deliveries, deliveries.c.endpoint_id == endpoints.c.id)
            .where(deliveries.c.msg_id == msg_id, deliveries.c.org_id == org_id, _latest_delivery())
        )
        q = AttemptQuery(limit=limit, iterator=iterator)
        async with self._db.read() as conn:
            return await fetch_page(
                conn,
                query,
                endpoints.c.id,
                limit=q.limit,
                iterator=q.iterator,
                descending=False,
                convert=lambda r: (rows.endpoint(r), _delivery(r)),
            )

    async def _page_of_pairs(
        self,
        query: sa.Select[tuple[object, ...]],
        key: sa.ColumnElement[str],
        q: AttemptQuery,
        *,
        descending: bool,
    ) -> Page[tuple[Message, Delivery]]:
        async with self._db.read() as conn:
            return await fetch_page(
                conn,
                query,
                key,
                limit=q.limit,
                iterator=start_iterator(ids.MESSAGE, q),
                descending=descending,
                convert=lambda r: (rows.message(r), _delivery(r)),
            )


def _delivery_columns() -> list[sa.Label[object]]:
    return [c.label(f"d_{c.name}") for c in deliveries.c]


def _delivery(row: object) -> Delivery:
    return rows.delivery(row, prefix="d_")


def status_condition(status: int) -> sa.ColumnElement[bool]:
    """Deliveries whose Svix status (MessageStatus) is `status`."""
    state, attempted = deliveries.c.state, deliveries.c.attempts > 0
    unfinished = state.in_([DeliveryState.PENDING, DeliveryState.PAUSED])
    if status == MessageStatus.SUCCESS:
        return state == DeliveryState.SUCCEEDED
    if status == MessageStatus.FAIL:
        return state.in_([DeliveryState.FAILED, DeliveryState.CANCELED])
    if status == MessageStatus.SENDING:
        return sa.and_(unfinished, attempted)
    if status == MessageStatus.PENDING:
        return sa.and_(unfinished, sa.not_(attempted))
    return sa.false()

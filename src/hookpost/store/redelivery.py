"""Manual deliveries: resend one message to one endpoint, recover failures, replay what is missing.

Each creates manual deliveries (one attempt, never retried) in a single transaction.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from hookpost.core import ids
from hookpost.core.errors import BadRequest
from hookpost.core.event_filter import matches_channels, matches_event_type
from hookpost.core.models import DeliveryState, Endpoint, MessageStatus, Task, TriggerType
from hookpost.store import rows
from hookpost.store.base import StoreBase
from hookpost.store.database import Conn
from hookpost.store.history import status_condition
from hookpost.store.messages import id_bound
from hookpost.store.schema import deliveries, messages, tasks

MAX_TASK_MESSAGES = 10_000


def _require_enabled(endpoint: Endpoint) -> None:
    if endpoint.disabled:
        raise BadRequest(
            "The endpoint is disabled; enable it (PATCH disabled=false) before sending to it",
            code="endpoint_disabled",
        )


class RedeliveryStore(StoreBase):
    async def resend(self, endpoint: Endpoint, msg_id: str) -> None:
        """One manual attempt of a stored message to `endpoint`, whatever its filters say."""
        _require_enabled(endpoint)
        async with self._db.write() as conn:
            payload_present = (
                await conn.execute(
                    sa.select(messages.c.payload.is_not(None)).where(
                        messages.c.id == msg_id, messages.c.app_id == endpoint.app_id
                    )
                )
            ).scalar()
            if not payload_present:
                raise BadRequest(
                    "The message content has been expunged or has expired; it cannot be sent again",
                    code="missing_payload",
                )
            await self._add_manual(conn, endpoint, [msg_id])

    async def recover(self, endpoint: Endpoint, since: datetime, until: datetime) -> Task:
        """Resend every message in [since, until] whose delivery to `endpoint` failed."""
        _require_enabled(endpoint)
        failed = (
            sa.select(deliveries.c.msg_id)
            .join(messages, messages.c.id == deliveries.c.msg_id)
            .where(
                deliveries.c.endpoint_id == endpoint.id,
                status_condition(MessageStatus.FAIL),
                messages.c.payload.is_not(None),
                *_window(since, until),
            )
            .except_(
                sa.select(deliveries.c.msg_id).where(
                    deliveries.c.endpoint_id == endpoint.id,
                    sa.or_(
                        deliveries.c.state == DeliveryState.SUCCEEDED,
                        deliveries.c.state.in_([DeliveryState.PENDING, DeliveryState.PAUSED]),
                    ),
                )
            )
        )
        async with self._db.write() as conn:
            msg_ids = sorted((await conn.execute(failed)).scalars())[:MAX_TASK_MESSAGES]
            await self._add_manual(conn, endpoint, msg_ids)
            return await self._record_task(conn, endpoint, "endpoint.recover", len(msg_ids))

    async def replay_missing(self, endpoint: Endpoint, since: datetime, until: datetime) -> Task:
        """Send every message in [since, until] the endpoint would take but never got."""
        _require_enabled(endpoint)
        sent = sa.select(deliveries.c.msg_id).where(deliveries.c.endpoint_id == endpoint.id)
        candidates = sa.select(messages.c.id, messages.c.event_type, messages.c.channels).where(
            messages.c.app_id == endpoint.app_id,
            messages.c.payload.is_not(None),
            messages.c.id.not_in(sent),
            *_window(since, until),
        )
        async with self._db.write() as conn:
            msg_ids = [
                r.id
                for r in await conn.execute(candidates.order_by(messages.c.id))
                if matches_event_type(endpoint.event_types, r.event_type)
                and matches_channels(endpoint.channels, rows.from_json(r.channels))
            ][:MAX_TASK_MESSAGES]
            await self._add_manual(conn, endpoint, msg_ids)
            return await self._record_task(conn, endpoint, "endpoint.replay", len(msg_ids))

    async def _add_manual(self, conn: Conn, endpoint: Endpoint, msg_ids: list[str]) -> None:
        if not msg_ids:
            return
        now = rows.to_us(self._clock())
        await conn.execute(
            deliveries.insert(),
            [
                {
                    "id": self._ids.new(ids.DELIVERY),
                    "org_id": endpoint.org_id,
                    "app_id": endpoint.app_id,
                    "msg_id": msg_id,
                    "endpoint_id": endpoint.id,
                    "state": DeliveryState.PENDING.value,
                    "trigger": TriggerType.MANUAL.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "claim_token": None,
                    "created_at": now,
                    "updated_at": now,
                }
                for msg_id in msg_ids
            ],
        )

    async def _record_task(self, conn: Conn, endpoint: Endpoint, kind: str, count: int) -> Task:
        now = self._clock()
        task = Task(self._ids.new(ids.TASK), kind, "running", count, now)
        await conn.execute(
            tasks.insert().values(
                id=task.id,
                org_id=endpoint.org_id,
                app_id=endpoint.app_id,
                endpoint_id=endpoint.id,
                kind=kind,
                status=task.status,
                messages=count,
                created_at=rows.to_us(now),
                updated_at=rows.to_us(now),
            )
        )
        return task


def _window(since: datetime, until: datetime) -> list[sa.ColumnElement[bool]]:
    return [
        messages.c.id >= id_bound(ids.MESSAGE, since, upper=False),
        messages.c.id <= id_bound(ids.MESSAGE, until, upper=True),
    ]

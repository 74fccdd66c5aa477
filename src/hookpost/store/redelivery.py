"""Manual deliveries: resend one message to one endpoint (one attempt, never retried).

Recover and the replays are background tasks (`background_tasks`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from hookpost.core import ids
from hookpost.core.errors import BadRequest
from hookpost.core.models import DeliveryState, Endpoint, TriggerType
from hookpost.store import rows
from hookpost.store.base import StoreBase
from hookpost.store.database import Conn
from hookpost.store.schema import deliveries, messages


def _require_enabled(endpoint: Endpoint) -> None:
    if endpoint.disabled:
        raise BadRequest(code="endpoint_disabled", message_id="endpoint_disabled_enable_first")


class RedeliveryStore(StoreBase):
    """The `Redelivery` port: a message sent again to one endpoint."""

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
                raise BadRequest(code="missing_payload", message_id="payload_gone")
            await self._add_manual(conn, endpoint, [msg_id])

    async def _add_manual(self, conn: Conn, endpoint: Endpoint, msg_ids: list[str]) -> None:
        await add_manual_deliveries(conn, self._ids, rows.to_us(self._clock()), endpoint, msg_ids)


async def add_manual_deliveries(
    conn: Conn, id_factory: ids.IdFactory, now_us: int, endpoint: Endpoint, msg_ids: Sequence[str]
) -> None:
    """Queue one manual (never retried) delivery of each of `msg_ids` to `endpoint`, due now:
    what resend, recover and the replays add."""
    if not msg_ids:
        return
    await conn.execute(
        deliveries.insert(),
        [
            {
                "id": id_factory.new(ids.DELIVERY),
                "org_id": endpoint.org_id,
                "app_id": endpoint.app_id,
                "msg_id": msg_id,
                "endpoint_id": endpoint.id,
                "state": DeliveryState.PENDING.value,
                "trigger": TriggerType.MANUAL.value,
                "attempts": 0,
                "next_attempt_at": now_us,
                "claim_token": None,
                "created_at": now_us,
                "updated_at": now_us,
            }
            for msg_id in msg_ids
        ],
    )

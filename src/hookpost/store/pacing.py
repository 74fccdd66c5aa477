"""Endpoints' shared pacing: one not-before time per endpoint that every worker process
respects (claims skip an endpoint until then), moved on by the deliveries sent to a throttled
endpoint and by an endpoint's Retry-After; and deferral of the deliveries that must wait.

Only throttled endpoints and endpoints that asked for a pause have a row, so the hot path of
the others pays one primary-key probe of a small table per claimed row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from hookpost.core.models import Claim, DeliveryState
from hookpost.core.pacing import Paced, pace
from hookpost.store import rows
from hookpost.store.database import Database
from hookpost.store.schema import deliveries, endpoint_pacing

Clock = Callable[[], datetime]


class EndpointPacing:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def take(self, endpoint_id: str, rate: float, wanted: int) -> Paced:
        """Turns for `wanted` deliveries to the endpoint: how many go now (their turns are
        taken), and when each of the others comes due."""
        now = self._clock()
        insert = (sqlite if self._db.is_sqlite else postgresql).insert(endpoint_pacing)
        async with self._db.write() as conn:
            # The row exists before it is locked, so two processes pacing an endpoint for
            # the first time still take turns one after the other.
            await conn.execute(
                insert.values(endpoint_id=endpoint_id, not_before=0).on_conflict_do_nothing()
            )
            current = await conn.scalar(
                sa.select(endpoint_pacing.c.not_before)
                .where(endpoint_pacing.c.endpoint_id == endpoint_id)
                .with_for_update()
            )
            paced = pace(
                now=now.timestamp(), not_before=current / 1_000_000, rate=rate, wanted=wanted
            )
            if paced.allowed:
                await conn.execute(
                    endpoint_pacing.update()
                    .where(endpoint_pacing.c.endpoint_id == endpoint_id)
                    .values(not_before=int(paced.not_before * 1_000_000))
                )
        return paced

    async def hold(self, endpoint_id: str, until: datetime) -> None:
        """The endpoint asked us to wait (Retry-After): no worker process claims its
        deliveries before `until`."""
        until_us = rows.to_us(until)
        insert = (sqlite if self._db.is_sqlite else postgresql).insert(endpoint_pacing)
        async with self._db.write() as conn:
            await conn.execute(
                insert.values(endpoint_id=endpoint_id, not_before=until_us).on_conflict_do_update(
                    index_elements=[endpoint_pacing.c.endpoint_id],
                    set_={
                        "not_before": sa.func.max(endpoint_pacing.c.not_before, until_us)
                        if self._db.is_sqlite
                        else sa.func.greatest(endpoint_pacing.c.not_before, until_us)
                    },
                )
            )

    async def defer(self, waiting: Sequence[tuple[Claim, float]]) -> None:
        """Give claims back unused, each due again at its time (seconds since the epoch),
        so waiting deliveries hold no worker slot meanwhile."""
        if not waiting:
            return
        now_us = rows.to_us(self._clock())
        held = sa.and_(
            deliveries.c.id == sa.bindparam("b_id"),
            deliveries.c.claim_token == sa.bindparam("b_token"),
        )
        async with self._db.write() as conn:
            await conn.execute(
                deliveries.update()
                .where(held)
                .values(
                    state=DeliveryState.PENDING,
                    claim_token=None,
                    next_attempt_at=sa.bindparam("b_due"),
                    updated_at=now_us,
                ),
                [
                    {"b_id": c.delivery_id, "b_token": c.token, "b_due": int(due * 1_000_000)}
                    for c, due in waiting
                ],
            )

"""The delivery queue inside the database: claiming due deliveries under a lease, recording
attempts with fencing, releasing leases, and the endpoint health bookkeeping that follows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from hookpost.core.models import Claim, ClaimShares, DeliveryState, Endpoint, TriggerType
from hookpost.core.outcomes import AttemptRecord
from hookpost.store import queue_postgres, queue_sqlite, rows
from hookpost.store.base import StoreBase
from hookpost.store.database import Conn
from hookpost.store.endpoints import set_disabled
from hookpost.store.schema import attempts, deliveries, endpoints

_HELD = sa.and_(
    deliveries.c.id == sa.bindparam("b_id"), deliveries.c.claim_token == sa.bindparam("b_token")
)


class QueueStore(StoreBase):
    async def claim_due(self, limit: int | ClaimShares, lease: timedelta) -> list[Claim]:
        """Lease due deliveries to this worker (expired leases count as due): up to `limit`,
        or as `ClaimShares` divide them between endpoints."""
        shares = limit if isinstance(limit, ClaimShares) else ClaimShares(limit, room=limit)
        if shares.size <= 0:
            return []
        now = self._clock()
        lease_until = now + lease
        token = uuid.uuid4().hex
        now_us, lease_until_us = rows.to_us(now), rows.to_us(lease_until)
        # One statement on PostgreSQL (claim and load), two inside the writer lock on SQLite.
        claim = queue_sqlite.claim if self._db.is_sqlite else queue_postgres.claim
        async with self._db.driver_write(single_statement=True) as driver:
            found = await claim(driver, now_us, lease_until_us, token, shares)
        return _claims(found, token, lease_until)

    async def record_attempts(self, records: Sequence[AttemptRecord]) -> list[AttemptRecord]:
        """Write attempts and the deliveries' next states in one transaction.

        Only records whose claim still holds are written (fencing); the ones written are
        returned, so the caller acts (notifies) only on what the database accepted.
        """
        if not records:
            return []
        now_us = rows.to_us(self._clock())
        if any(r.decision.disable_endpoint for r in records):
            return await self._record_disabling(records, now_us)
        if self._db.is_sqlite:
            return await self._record_sqlite(records, now_us)
        # One statement, its own transaction, unless an endpoint's health clock may change.
        health_may_change = any(_failing_changes(records))
        async with self._db.driver_write(single_statement=not health_may_change) as driver:
            written = await queue_postgres.record(
                driver,
                [
                    {
                        **_delivery_update(r, DeliveryState.PENDING),
                        "b_started": rows.to_us(r.started_at),
                    }
                    for r in records
                ],
                [self._attempt_row(r) for r in records],
                now_us,
            )
            kept = [r for r in records if r.claim.delivery_id in written]
            if health_may_change:
                await queue_postgres.track_failing(driver, *_failing_changes(kept), now_us)
        return kept

    async def _record_sqlite(
        self, records: Sequence[AttemptRecord], now_us: int
    ) -> list[AttemptRecord]:
        async with self._db.driver_write() as raw:
            held = await queue_sqlite.still_held(raw, {r.claim.token for r in records})
            kept = _still_holding(records, held)
            if kept:
                await queue_sqlite.write_results(
                    raw,
                    [_delivery_update(r, held[r.claim.delivery_id][1]) for r in kept],
                    [self._attempt_row(r) for r in kept],
                    now_us,
                )
                await queue_sqlite.track_failing(raw, *_failing_changes(kept), now_us)
        return kept

    async def _record_disabling(
        self, records: Sequence[AttemptRecord], now_us: int
    ) -> list[AttemptRecord]:
        """`record_attempts` for a batch that disables an endpoint (rare: SQLAlchemy will do)."""
        async with self._db.write() as conn:
            held = await _still_held(conn, [r.claim for r in records])
            kept = _still_holding(records, held)
            if not kept:
                return []
            states = {r.claim.delivery_id: held[r.claim.delivery_id][1] for r in kept}
            await conn.execute(
                deliveries.update()
                .where(_HELD)
                .values(
                    state=sa.bindparam("b_state"),
                    attempts=sa.bindparam("b_attempts"),
                    next_attempt_at=sa.bindparam("b_next"),
                    claim_token=None,
                    updated_at=now_us,
                ),
                [_delivery_update(r, states[r.claim.delivery_id]) for r in kept],
            )
            await conn.execute(attempts.insert(), [self._attempt_row(r) for r in kept])
            await _track_endpoint_health(conn, kept, now_us)
            for endpoint_id in {r.claim.endpoint.id for r in kept if r.decision.disable_endpoint}:
                await conn.execute(
                    endpoints.update()
                    .where(endpoints.c.id == endpoint_id)
                    .values(disabled=True, updated_at=now_us)
                )
                await set_disabled(conn, endpoint_id, True, now_us)
        return kept

    async def release(self, claims: Sequence[Claim], state: DeliveryState | None = None) -> None:
        """Give leases back unused: due again now, or moved to `state` (paused, canceled)."""
        if not claims:
            return
        now_us = rows.to_us(self._clock())
        values: dict[str, Any] = {"claim_token": None, "updated_at": now_us}
        if state in (DeliveryState.CANCELED, DeliveryState.FAILED):
            values.update(state=state, next_attempt_at=None)
        else:
            values.update(state=state or DeliveryState.PENDING, next_attempt_at=now_us)
        async with self._db.write() as conn:
            await conn.execute(
                deliveries.update().where(_HELD).values(values),
                [{"b_id": c.delivery_id, "b_token": c.token} for c in claims],
            )

    async def next_due_at(self) -> datetime | None:
        """When the earliest pending delivery comes due (for the worker's sleep)."""
        query = sa.select(sa.func.min(deliveries.c.next_attempt_at)).where(
            deliveries.c.state == DeliveryState.PENDING
        )
        async with self._db.read() as conn:
            value = (await conn.execute(query)).scalar()
        return rows.opt_from_us(value)

    def _attempt_row(self, record: AttemptRecord) -> dict[str, Any]:
        claim, outcome = record.claim, record.outcome
        return {
            "id": record.attempt_id,
            "org_id": claim.message.org_id,
            "app_id": claim.message.app_id,
            "msg_id": claim.message.id,
            "endpoint_id": claim.endpoint.id,
            "delivery_id": claim.delivery_id,
            "url": claim.endpoint.url,
            "method": claim.endpoint.method,
            "status": 0 if outcome.succeeded else 2,
            "trigger": int(claim.trigger),
            "response_status_code": outcome.status_code,
            "response_body": outcome.response_body,
            "response_headers": rows.to_json(outcome.response_headers),
            "request_headers": rows.to_json(outcome.request_headers),
            "duration_ms": outcome.duration_ms,
            "error_class": None if outcome.error_class is None else str(outcome.error_class),
            "error_message": outcome.error_message,
            "created_at": rows.to_us(record.started_at),
        }


def _delivery_update(record: AttemptRecord, current: str) -> dict[str, Any]:
    """The delivery's new columns; an endpoint paused or deleted mid-flight keeps that state
    unless the attempt succeeded (queue_postgres._RECORD decides the same in SQL)."""
    decision = record.decision
    state, next_at = decision.state, decision.next_attempt_at
    if current != DeliveryState.PENDING and state != DeliveryState.SUCCEEDED:
        state = DeliveryState(current)
        next_at = record.started_at if state == DeliveryState.PAUSED else None
    return {
        "b_id": record.claim.delivery_id,
        "b_token": record.claim.token,
        "b_state": str(state),
        "b_attempts": decision.attempts,
        "b_next": None if next_at is None else rows.to_us(next_at),
    }


async def _still_held(conn: Conn, claims: Sequence[Claim]) -> dict[str, tuple[str, str]]:
    """Current (claim token, state) of the deliveries claims still hold, locked until commit.

    Looked up by claim token (a small partial index), one statement per claim batch.
    """
    held: dict[str, tuple[str, str]] = {}
    for token in {c.token for c in claims}:
        query = (
            sa.select(deliveries.c.id, deliveries.c.state)
            .where(deliveries.c.claim_token == token)
            .with_for_update()
        )
        held.update({r.id: (token, r.state) for r in await conn.execute(query)})
    return held


def _still_holding(
    records: Sequence[AttemptRecord], held: dict[str, tuple[str, str]]
) -> list[AttemptRecord]:
    """The records whose claims still hold (fencing: a lease taken over is not recorded)."""
    return [r for r in records if held.get(r.claim.delivery_id, ("", ""))[0] == r.claim.token]


def _failing_changes(records: Sequence[AttemptRecord]) -> tuple[set[str], set[str]]:
    """Endpoints whose failing-since clock to clear (a success) and to start (a first failure).

    Claims carry the endpoint's clock as it was, so an endpoint whose clock is already right
    (the usual case: healthy and still healthy) needs no change at all.
    """
    healthy = {r.claim.endpoint.id for r in records if r.outcome.succeeded}
    cleared = {
        r.claim.endpoint.id
        for r in records
        if r.outcome.succeeded and r.claim.endpoint.failing_since is not None
    }
    started = {
        r.claim.endpoint.id
        for r in records
        if not r.outcome.succeeded and r.claim.endpoint.failing_since is None
    } - healthy
    return cleared, started


async def _track_endpoint_health(conn: Conn, records: Sequence[AttemptRecord], now_us: int) -> None:
    """Remember since when each endpoint has failed without a success (for auto-disable)."""
    cleared, started = _failing_changes(records)
    if cleared:
        await conn.execute(
            endpoints.update()
            .where(endpoints.c.id.in_(cleared), endpoints.c.failing_since.is_not(None))
            .values(failing_since=None)
        )
    if started:
        await conn.execute(
            endpoints.update()
            .where(endpoints.c.id.in_(started), endpoints.c.failing_since.is_(None))
            .values(failing_since=now_us)
        )


def _claims(found: Iterable[Mapping[str, Any]], token: str, lease_until: datetime) -> list[Claim]:
    """Claims from the rows of a claim-and-load (message columns labelled m_, endpoint e_)."""
    claims = []
    endpoints_seen: dict[str, Endpoint] = {}  # a batch often targets few endpoints
    for mapping in found:
        endpoint = endpoints_seen.get(mapping["e_id"])
        if endpoint is None:
            endpoint = endpoints_seen[mapping["e_id"]] = rows.endpoint(
                rows.Unprefixed(mapping, "e_")
            )
        claims.append(
            Claim(
                delivery_id=mapping["id"],
                token=token,
                lease_until=lease_until,
                trigger=TriggerType(mapping["trigger"]),
                attempts=mapping["attempts"],
                message=rows.message(rows.Unprefixed(mapping, "m_")),
                endpoint=endpoint,
                app_uid=mapping["app_uid"],
            )
        )
    return claims

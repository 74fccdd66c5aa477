"""The delivery queue inside the database, what both dialects share: the claim's and the
recording's shape around each dialect's statements (store/postgres/queue.py,
store/sqlite/queue.py), and the cold operations (release, next due time) in SQLAlchemy.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from hookpost.core.models import (
    OLDEST_FIRST_WITHIN,
    Claim,
    ClaimShares,
    DeliveryState,
    Endpoint,
    TriggerType,
)
from hookpost.core.outcomes import AttemptRecord
from hookpost.store import rows
from hookpost.store.database import Database
from hookpost.store.schema import deliveries

log = logging.getLogger("hookpost.delivery")

_HELD = sa.and_(
    deliveries.c.id == sa.bindparam("b_id"), deliveries.c.claim_token == sa.bindparam("b_token")
)


OLDEST_FIRST_WITHIN_US = OLDEST_FIRST_WITHIN // timedelta(microseconds=1)


class OldestFirst:
    """Whether a claim reads the oldest due deliveries before it walks (see ClaimShares):
    every time while they keep being the claim; after a read that was not, the next 2, 4,
    8, then 16 claims walk straight away, so a long backlog pays for the read rarely."""

    def __init__(self) -> None:
        self._misses = 0
        self._skip = 0

    def ask(self) -> bool:
        if self._skip > 0:
            self._skip -= 1
            return False
        return True

    def answer(self, taken: bool) -> None:
        """What the read that `ask` allowed found: whether its rows were the claim."""
        if taken:
            self._misses = 0
        else:
            self._misses = min(self._misses + 1, 4)
            self._skip = 2**self._misses


class QueueBase:
    """A `DeliveryQueue` (store/ports.py) less the two hot statements each dialect writes."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock
        self.walk_cut = False  # see DeliveryQueue.walk_cut
        self.oldest_first = OldestFirst()

    async def claim_due(self, limit: int | ClaimShares, lease: timedelta) -> list[Claim]:
        """Lease due deliveries to this worker (expired leases count as due): up to `limit`,
        or as `ClaimShares` divide them between endpoints."""
        shares = limit if isinstance(limit, ClaimShares) else ClaimShares(limit, room=limit)
        if shares.size <= 0:
            return []
        now = self._clock()
        lease_until = now + lease
        token = uuid.uuid4().hex
        found = await self._claim(rows.to_us(now), rows.to_us(lease_until), token, shares)
        return _claims(found, token, lease_until)

    async def record_attempts(self, records: Sequence[AttemptRecord]) -> list[AttemptRecord]:
        """Write attempts and the deliveries' next states in one transaction.

        Only records whose claim still holds are written (fencing); the ones written are
        returned, so the caller acts (notifies) only on what the database accepted.
        """
        if not records:
            return []
        written = await self._record(records, rows.to_us(self._clock()))
        log_failures(written)
        return written

    async def _claim(
        self, now_us: int, lease_until_us: int, token: str, shares: ClaimShares
    ) -> Sequence[Any]:
        """Lease under `token` as `shares` allows; rows labelled as `_claims` reads them."""
        raise NotImplementedError

    async def _record(self, records: Sequence[AttemptRecord], now_us: int) -> list[AttemptRecord]:
        """Write the records whose claims hold, with health and disabling; those written."""
        raise NotImplementedError

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


def log_failures(records: Sequence[AttemptRecord]) -> None:
    """A log line per failed attempt and per endpoint disabled, with ids (never the URL,
    which may hold credentials, nor the payload or the response)."""
    disabled: dict[str, AttemptRecord] = {}
    for record in records:
        if record.outcome.succeeded:
            continue
        claim, outcome = record.claim, record.outcome
        log.warning(
            "attempt failed",
            extra={
                "fields": {
                    "event": "attempt.failed",
                    "msg_id": claim.message.id,
                    "endpoint_id": claim.endpoint.id,
                    "app_id": claim.message.app_id,
                    "attempt_id": record.attempt_id,
                    "attempt": record.decision.attempts,
                    "error_class": str(outcome.error_class or "http_status"),
                    "error_code": outcome.error_code,
                    "status_code": outcome.status_code,
                    "next": str(record.decision.state),
                }
            },
        )
        if record.decision.disable_endpoint:
            disabled.setdefault(claim.endpoint.id, record)
    for endpoint_id, record in disabled.items():
        log.warning(
            "endpoint disabled",
            extra={
                "fields": {
                    "event": "endpoint.disabled",
                    "endpoint_id": endpoint_id,
                    "app_id": record.claim.message.app_id,
                    "msg_id": record.claim.message.id,
                    "attempt_id": record.attempt_id,
                    "status_code": record.outcome.status_code,
                }
            },
        )


def attempt_row(record: AttemptRecord) -> dict[str, Any]:
    """The attempts row of `record`."""
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
        "error_code": None if outcome.error_code is None else str(outcome.error_code),
        "created_at": rows.to_us(record.started_at),
    }


def proposed(record: AttemptRecord) -> dict[str, Any]:
    """What the decision proposes for the delivery (queue_sql.recorded has the last word)."""
    decision = record.decision
    return {
        "id": record.claim.delivery_id,
        "token": record.claim.token,
        "state": str(decision.state),
        "attempts": decision.attempts,
        "next_at": None
        if decision.next_attempt_at is None
        else rows.to_us(decision.next_attempt_at),
        "started_at": rows.to_us(record.started_at),
    }


def still_holding(records: Sequence[AttemptRecord], held: Iterable[str]) -> list[AttemptRecord]:
    """The records whose deliveries were still held by their claim (fencing: a lease taken
    over is not recorded)."""
    kept = set(held)
    return [r for r in records if r.claim.delivery_id in kept]


def failing_changes(records: Sequence[AttemptRecord]) -> tuple[set[str], set[str]]:
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


def disabling(records: Sequence[AttemptRecord]) -> set[str]:
    """Endpoints that these records' decisions disable."""
    return {r.claim.endpoint.id for r in records if r.decision.disable_endpoint}


def endpoint_changes(kept: Sequence[AttemptRecord]) -> tuple[set[str], ...]:
    """The endpoints each of queue_sql.after_recording's statements applies to."""
    cleared, started = failing_changes(kept)
    disabled = disabling(kept)
    return cleared, started, disabled, disabled


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

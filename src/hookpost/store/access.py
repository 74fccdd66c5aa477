"""Organizations and their API keys (stored only as SHA-256 hashes), and idempotency records.

An idempotency record reserves a key while its first request runs, then keeps its answer.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from hookpost.core import ids
from hookpost.core.models import ApiKey, IdempotentAnswer, Organization
from hookpost.store import rows
from hookpost.store.base import StoreBase
from hookpost.store.schema import api_keys, idempotency_keys, organizations

# hookpost's own organization (operational webhooks): a fixed id, so that processes starting
# together agree on it, sorting after every generated one; it never gets an API key, so no
# customer can list or reach what it holds.
INTERNAL_ORGANIZATION_ID = ids.ORGANIZATION + "z" * 27


class AccessStore(StoreBase):
    """The `Credentials` and `Organizations` ports."""

    async def ping(self) -> None:
        async with self._db.read() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def ensure_organization(self, name: str = "default") -> Organization:
        """The first organization, created on first start."""
        first = (
            sa.select(organizations)
            .where(organizations.c.id != INTERNAL_ORGANIZATION_ID)
            .order_by(organizations.c.id)
            .limit(1)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(first)).first()
            if row is None:
                now = self._clock()
                org_id = self._ids.new(ids.ORGANIZATION)
                await conn.execute(
                    organizations.insert().values(id=org_id, name=name, created_at=rows.to_us(now))
                )
                return Organization(org_id, name, now)
        return Organization(row.id, row.name, rows.from_us(row.created_at))

    async def ensure_internal_organization(self) -> Organization:
        """hookpost's own organization, created when first needed."""
        now = self._clock()
        async with self._db.write() as conn:
            await conn.execute(
                self._insert(organizations)
                .values(id=INTERNAL_ORGANIZATION_ID, name="internal", created_at=rows.to_us(now))
                .on_conflict_do_nothing()
            )
            row = (
                await conn.execute(
                    sa.select(organizations).where(organizations.c.id == INTERNAL_ORGANIZATION_ID)
                )
            ).one()
        return Organization(row.id, row.name, rows.from_us(row.created_at))

    async def create_organization(self, name: str) -> Organization:
        now = self._clock()
        org = Organization(self._ids.new(ids.ORGANIZATION), name, now)
        async with self._db.write() as conn:
            await conn.execute(
                organizations.insert().values(id=org.id, name=name, created_at=rows.to_us(now))
            )
        return org

    async def add_api_key(self, org_id: str, key_hash: str, hint: str, name: str) -> ApiKey:
        """Register a key by its hash; registering the same hash twice is a no-op."""
        now = self._clock()
        key = ApiKey(self._ids.new(ids.API_KEY), org_id, hint, name, now, None)
        async with self._db.write() as conn:
            await conn.execute(
                self._insert(api_keys)
                .values(
                    id=key.id,
                    org_id=org_id,
                    key_hash=key_hash,
                    hint=hint,
                    name=name,
                    created_at=rows.to_us(now),
                )
                .on_conflict_do_nothing()
            )
        return key

    async def find_api_key(self, key_hash: str) -> ApiKey | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(sa.select(api_keys).where(api_keys.c.key_hash == key_hash))
            ).first()
        if row is None:
            return None
        return _api_key(row)

    async def list_api_keys(self) -> list[ApiKey]:
        async with self._db.read() as conn:
            result = await conn.execute(sa.select(api_keys).order_by(api_keys.c.id))
            return [_api_key(r) for r in result]

    async def revoke_api_key(self, key_id: str) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                api_keys.update()
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=rows.to_us(self._clock()))
            )
        return bool(result.rowcount)

    async def claim_idempotency_key(
        self, key_hash: str, *, lock_for: timedelta, keep_for: timedelta
    ) -> IdempotentAnswer | None:
        """Reserve `key_hash` for this request (None), or report the earlier request's state."""
        now = self._clock()
        now_us = rows.to_us(now)
        async with self._db.write() as conn:
            row = (
                await conn.execute(
                    sa.select(idempotency_keys).where(idempotency_keys.c.key_hash == key_hash)
                )
            ).first()
            fresh = {
                "state": "running",
                "status_code": None,
                "body": None,
                "locked_until": rows.to_us(now + lock_for),
                "expires_at": rows.to_us(now + keep_for),
            }
            if row is None:
                inserted = await conn.execute(
                    self._insert(idempotency_keys)
                    .values(key_hash=key_hash, **fresh)
                    .on_conflict_do_nothing()
                    .returning(idempotency_keys.c.key_hash)
                )
                return None if inserted.first() is not None else IdempotentAnswer(running=True)
            if row.state == "done" and row.expires_at > now_us:
                return IdempotentAnswer(False, row.status_code, row.body)
            if row.state == "running" and row.locked_until > now_us:
                return IdempotentAnswer(running=True)
            # Expired, or its request died holding the lock: this request takes the key over.
            await conn.execute(
                idempotency_keys.update()
                .where(idempotency_keys.c.key_hash == key_hash)
                .values(**fresh)
            )
            return None

    async def finish_idempotency_key(self, key_hash: str, status_code: int, body: bytes) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                idempotency_keys.update()
                .where(idempotency_keys.c.key_hash == key_hash)
                .values(state="done", status_code=status_code, body=body)
            )

    async def release_idempotency_key(self, key_hash: str) -> None:
        """Forget a key whose request failed, so a retry runs again (only 2xx are kept)."""
        async with self._db.write() as conn:
            await conn.execute(
                idempotency_keys.delete().where(idempotency_keys.c.key_hash == key_hash)
            )


def _api_key(row: Any) -> ApiKey:
    return ApiKey(
        row.id,
        row.org_id,
        row.hint,
        row.name,
        rows.from_us(row.created_at),
        rows.opt_from_us(row.revoked_at),
    )

"""Retention in the database: expired payloads expunged, old attempts, finished deliveries and
idempotency keys deleted, each in small transactions; SQLite's freed pages given back.

Every statement touches at most one batch of rows, found through an index, so no transaction
holds locks (or, on SQLite, the event loop) for long. On PostgreSQL one process at a time
runs a pass (a session advisory lock); each pass is recorded in `retention_runs`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hookpost.core import ids
from hookpost.core.models import DeliveryState
from hookpost.store import rows
from hookpost.store.database import Database
from hookpost.store.errors import translated
from hookpost.store.messages import id_bound
from hookpost.store.schema import (
    attempts,
    deliveries,
    idempotency_keys,
    messages,
    retention_runs,
)

Clock = Callable[[], datetime]
# Any constant shared by every hookpost process ("rete"); migrations use another.
_LOCK_ID = 0x72657465
_TRY_LOCK = sa.text("SELECT pg_try_advisory_lock(:id)")
_UNLOCK = sa.text("SELECT pg_advisory_unlock(:id)")
# A delivery in these states may still be attempted: it keeps its message's payload.
_LIVE = (DeliveryState.PENDING.value, DeliveryState.PAUSED.value)
_FINISHED = (
    DeliveryState.SUCCEEDED.value,
    DeliveryState.FAILED.value,
    DeliveryState.CANCELED.value,
)
# SQLite pages freed per transaction: about 20 ms of work (8 MB at the default page size).
_PAGES_PER_STEP = 2000


@dataclass(frozen=True)
class RetentionCounts:
    """What one pass removed."""

    payloads: int = 0
    attempts: int = 0
    deliveries: int = 0
    idempotency_keys: int = 0
    freed_pages: int = 0  # SQLite pages handed back to the file system

    @property
    def rows(self) -> int:
        return self.payloads + self.attempts + self.deliveries + self.idempotency_keys


@dataclass(frozen=True)
class RetentionRun:
    """One pass, as `retention_runs` keeps it."""

    started_at: datetime
    finished_at: datetime
    counts: RetentionCounts
    error: str | None = None


@dataclass(frozen=True)
class Step:
    """One batch's result: rows removed, and where the next batch starts (None: done)."""

    removed: int
    resume: Any = None


class RetentionStore:
    """The statements of a retention pass, one batch per call, on either dialect."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    @contextlib.asynccontextmanager
    async def turn(self, unless_run_since: datetime) -> AsyncIterator[bool]:
        """Whether this process runs the pass now: no other process is running one
        (PostgreSQL: an advisory lock, held until the block ends) and none finished after
        `unless_run_since`."""
        if self._db.is_sqlite:
            yield await self._finished_since(unless_run_since) is None
            return
        async with translated(), self._db.engine.connect() as conn:
            locked = await conn.scalar(
                sa.text("SELECT pg_try_advisory_lock(:id)"), {"id": _LOCK_ID}
            )
            await conn.commit()
            try:
                yield bool(locked) and await self._finished_since(unless_run_since) is None
            finally:
                if locked:
                    await conn.execute(_UNLOCK, {"id": _LOCK_ID})
                    await conn.commit()

    async def _finished_since(self, since: datetime) -> int | None:
        query = sa.select(sa.func.max(retention_runs.c.finished_at)).where(
            retention_runs.c.finished_at > rows.to_us(since)
        )
        async with self._db.read() as conn:
            found: int | None = await conn.scalar(query)
        return found

    async def expunge_payloads(self, now: datetime, batch: int, after: Any = None) -> Step:
        """Set to NULL the payloads expired at `now`, oldest first, except those a pending or
        paused delivery still needs (passed over, and taken by a later pass)."""
        m = messages.alias("m")
        needed = sa.exists().where(deliveries.c.msg_id == m.c.id, deliveries.c.state.in_(_LIVE))
        # The terms of ix_messages_expiring's condition (schema.EXPIRING), so it serves.
        due = m.c.payload.is_not(None) & (m.c.expires_at > 0)
        due &= (m.c.expires_at <= rows.to_us(now)) & ~needed
        if after is not None:
            due &= sa.tuple_(m.c.expires_at, m.c.id) > sa.tuple_(*after)
        chosen = sa.select(m.c.id).where(due).order_by(m.c.expires_at, m.c.id).limit(batch)
        statement = (
            messages.update()
            .where(self._among(messages.c.id, self._skip_locked(chosen, m)))
            .values(payload=None)
            .returning(messages.c.expires_at, messages.c.id)
        )
        done = await self._run(statement)
        return Step(len(done), max(done) if len(done) == batch else None)

    async def delete_attempts(self, before: datetime, batch: int, after: Any = None) -> Step:
        """Delete attempts made before `before`, oldest first (ids sort by time). Each batch
        starts after the last one's ids: on PostgreSQL the index keeps the deleted entries
        until vacuum, which a scan from the start would walk again and again."""
        scope = attempts.c.id < id_bound(ids.ATTEMPT, before, upper=False)
        if after is not None:
            scope &= attempts.c.id > after
        chosen = sa.select(attempts.c.id).where(scope).order_by(attempts.c.id).limit(batch)
        statement = (
            attempts.delete()
            .where(self._among(attempts.c.id, self._skip_locked(chosen)))
            .returning(attempts.c.id)
        )
        done = await self._run(statement)
        return Step(len(done), max(done)[0] if len(done) == batch else None)

    async def delete_deliveries(self, before: datetime, batch: int, after: Any = None) -> Step:
        """Delete deliveries created and last changed before `before` that are finished; a
        pending or paused one is kept, however old."""
        scope = (
            (deliveries.c.id < id_bound(ids.DELIVERY, before, upper=False))
            & deliveries.c.state.in_(_FINISHED)
            & (deliveries.c.updated_at < rows.to_us(before))
        )
        if after is not None:
            scope &= deliveries.c.id > after
        chosen = sa.select(deliveries.c.id).where(scope).order_by(deliveries.c.id).limit(batch)
        statement = (
            deliveries.delete()
            .where(self._among(deliveries.c.id, self._skip_locked(chosen)))
            .returning(deliveries.c.id)
        )
        done = await self._run(statement)
        return Step(len(done), max(done)[0] if len(done) == batch else None)

    async def delete_idempotency_keys(self, now: datetime, batch: int, after: Any = None) -> Step:
        """Delete idempotency records past their TTL (and not held by a running request),
        in the order they expired."""
        now_us = rows.to_us(now)
        keys = idempotency_keys.c
        scope = (keys.expires_at <= now_us) & (keys.locked_until <= now_us)
        if after is not None:
            scope &= keys.expires_at >= after
        chosen = sa.select(keys.key_hash).where(scope).order_by(keys.expires_at).limit(batch)
        statement = (
            idempotency_keys.delete()
            .where(self._among(keys.key_hash, self._skip_locked(chosen)))
            .returning(keys.expires_at)
        )
        done = await self._run(statement)
        return Step(len(done), max(done)[0] if len(done) == batch else None)

    async def _run(self, statement: Any) -> list[tuple[Any, ...]]:
        """One batch: a statement that picks its rows through a subquery, in its own
        transaction; the rows it changed (what RETURNING names)."""
        async with self._db.write() as conn:
            return [tuple(row) for row in await conn.execute(statement)]

    async def reclaim_mode(self) -> str | None:
        """SQLite's auto_vacuum mode (`none`, `full`, `incremental`); None on PostgreSQL."""
        if not self._db.is_sqlite:
            return None
        async with self._db.read() as conn:
            mode = await conn.scalar(sa.text("PRAGMA auto_vacuum"))
        return {0: "none", 1: "full", 2: "incremental"}.get(int(mode), str(mode))

    async def reclaim_pages(self) -> Step:
        """Hand up to one step's worth of SQLite's free pages back to the file system (needs
        auto_vacuum=INCREMENTAL). `PRAGMA incremental_vacuum(N)` frees one page per step of
        its statement and Python's sqlite3 steps it once, so it is run one page at a time."""
        async with self._db.sqlite_write() as driver:
            free = int(driver.execute("PRAGMA freelist_count").fetchone()[0])
            pages = min(free, _PAGES_PER_STEP)
            for _ in range(pages):
                driver.execute("PRAGMA incremental_vacuum(1)")
        return Step(pages, True if free > pages else None)

    async def record(self, run: RetentionRun, keep_after: datetime) -> None:
        """Keep `run` in `retention_runs`, and forget the runs that finished before
        `keep_after`."""
        counts = run.counts
        async with self._db.write() as conn:
            await conn.execute(
                retention_runs.delete().where(retention_runs.c.finished_at < rows.to_us(keep_after))
            )
            await conn.execute(
                retention_runs.insert().values(
                    started_at=rows.to_us(run.started_at),
                    finished_at=rows.to_us(run.finished_at),
                    payloads=counts.payloads,
                    attempts=counts.attempts,
                    deliveries=counts.deliveries,
                    idempotency_keys=counts.idempotency_keys,
                    freed_pages=counts.freed_pages,
                    error=run.error,
                )
            )

    async def recent_runs(self, limit: int = 10) -> list[RetentionRun]:
        """The last passes, newest first."""
        query = (
            sa.select(retention_runs)
            .order_by(retention_runs.c.finished_at.desc(), retention_runs.c.id.desc())
            .limit(limit)
        )
        async with self._db.read() as conn:
            found = (await conn.execute(query)).all()
        return [
            RetentionRun(
                rows.from_us(row.started_at),
                rows.from_us(row.finished_at),
                RetentionCounts(
                    row.payloads,
                    row.attempts,
                    row.deliveries,
                    row.idempotency_keys,
                    row.freed_pages,
                ),
                row.error,
            )
            for row in found
        ]

    def _among(self, column: sa.Column[Any], chosen: sa.Select[Any]) -> sa.ColumnElement[bool]:
        """`column` is one of the rows `chosen` picks. PostgreSQL: `= ANY(ARRAY(...))`, which
        it runs as the subquery first, then one probe of the primary key per row; as a join
        (`IN (SELECT ...)`) it may hash the whole table instead."""
        if self._db.is_sqlite:
            return column.in_(chosen)
        return column == sa.func.any(sa.func.array(chosen.scalar_subquery()))

    def _skip_locked(self, query: sa.Select[Any], of: Any = None) -> sa.Select[Any]:
        """PostgreSQL: rows another transaction holds are left for the next pass rather
        than waited for."""
        if self._db.is_sqlite:
            return query
        return query.with_for_update(skip_locked=True, of=of)

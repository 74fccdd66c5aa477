"""Retention passes: every interval, one process removes what has expired, batch by batch,
then logs and records what it removed (the statements are in store/retention.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hookpost.core.errors import HookpostError
from hookpost.core.telemetry import NoObserver, RetentionObserver
from hookpost.store.retention import RetentionCounts, RetentionRun, RetentionStore, Step

log = logging.getLogger("hookpost.retention")
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class RetentionPolicy:
    """What a pass removes and how: attempts (and finished deliveries) older than
    `attempts_for`, `batch` rows per transaction, a pass every `interval` (zero: never).

    After each batch the pass rests `rest` times as long as the batch took, so it takes at
    most 1 / (1 + rest) of the database writer and of the process (on SQLite both are the
    delivery path's too): a large backlog is worked off more slowly, deliveries barely notice.
    """

    attempts_for: timedelta
    batch: int
    interval: timedelta
    rest: float = 3.0


class Retention:
    def __init__(
        self,
        store: RetentionStore,
        clock: Clock,
        policy: RetentionPolicy,
        *,
        observer: RetentionObserver | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._policy = policy
        self._observer: RetentionObserver = observer or NoObserver()
        self._stop = asyncio.Event()
        self._reclaim: str | None = None
        self._reclaim_known = False

    def stop(self) -> None:
        """End the loop; a pass under way stops after its current batch."""
        self._stop.set()

    async def run(self) -> None:
        """A pass now and then every interval, until `stop`; a failed pass is logged and the
        next one runs on time."""
        if self._policy.interval <= timedelta(0):
            return
        if await self._reclaim_mode() == "none":
            log.warning(
                "this SQLite file was created without auto_vacuum=INCREMENTAL: space freed "
                "by retention is reused but the file does not shrink; see docs/operations.md, "
                "Retention, to convert it once",
                extra={"fields": {"event": "retention.no_incremental_vacuum"}},
            )
        while not self._stop.is_set():
            try:
                await self.run_once()
            except Exception as exc:  # the loop outlives one bad pass; the next one retries
                log.error(
                    "retention pass failed",
                    extra={"fields": {"event": "retention.failed", "error": type(exc).__name__}},
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._policy.interval.total_seconds())

    async def run_once(self) -> RetentionRun | None:
        """One pass, unless another process has one under way or finished one within half an
        interval (then None)."""
        started = self._clock()
        async with self._store.turn(unless_run_since=started - self._policy.interval / 2) as mine:
            if not mine:
                log.debug(
                    "retention pass skipped: another process runs one or ran one lately",
                    extra={"fields": {"event": "retention.skipped"}},
                )
                return None
            counts, error = await self._sweep(started)
            run = RetentionRun(started, self._clock(), counts, error)
            await self._store.record(run, keep_after=started - self._policy.attempts_for)
        self._report(run)
        return run

    async def _sweep(self, now: datetime) -> tuple[RetentionCounts, str | None]:
        store, batch = self._store, self._policy.batch
        before = now - self._policy.attempts_for
        done: dict[str, int] = {}
        steps: list[tuple[str, Callable[[Any], Awaitable[Step]]]] = [
            ("payloads", lambda after: store.expunge_payloads(now, batch, after)),
            ("attempts", lambda after: store.delete_attempts(before, batch, after)),
            ("deliveries", lambda after: store.delete_deliveries(before, batch, after)),
            ("idempotency_keys", lambda after: store.delete_idempotency_keys(now, batch, after)),
        ]
        if await self._reclaim_mode() == "incremental":
            steps.append(("freed_pages", lambda _: store.reclaim_pages()))
        error = None
        try:
            for name, step in steps:
                done[name] = await self._drain(name, step)
        except HookpostError as exc:  # counted so far, then the error, in the run's record
            error = f"{type(exc).__name__}: {exc.detail}"
        return RetentionCounts(**done), error

    async def _reclaim_mode(self) -> str | None:
        if not self._reclaim_known:
            self._reclaim = await self._store.reclaim_mode()
            self._reclaim_known = True
        return self._reclaim

    async def _drain(self, kind: str, step: Callable[[Any], Awaitable[Step]]) -> int:
        total, after = 0, None
        while True:
            began = time.monotonic()
            result = await step(after)
            total += result.removed
            if result.removed and kind != "freed_pages":  # pages are not rows
                self._observer.retention_deleted(kind, result.removed)
            if result.resume is None or self._stop.is_set():
                return total
            after = result.resume
            # Between batches, deliveries and requests go first (real time: this paces work).
            await asyncio.sleep((time.monotonic() - began) * self._policy.rest)

    def _report(self, run: RetentionRun) -> None:
        counts = run.counts
        fields = {
            "event": "retention.pass",
            "payloads": counts.payloads,
            "attempts": counts.attempts,
            "deliveries": counts.deliveries,
            "idempotency_keys": counts.idempotency_keys,
            "freed_pages": counts.freed_pages,
            "duration_ms": round((run.finished_at - run.started_at).total_seconds() * 1000),
        }
        if run.error is not None:
            log.error(
                "retention pass stopped early", extra={"fields": {**fields, "error": run.error}}
            )
        else:
            log.info("retention pass", extra={"fields": fields})
        self._observer.retention_pass_finished((run.finished_at - run.started_at).total_seconds())

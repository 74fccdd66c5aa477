"""The Prometheus metrics of one hookpost process: what it counts as it works, what it reads at
scrape time, and the text it answers `/metrics` with.

Each process keeps its own registry and serves its own `/metrics`; Prometheus scrapes every
process and sums (docs/operations.md, Metrics, says why not the multiprocess mode).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from hookpost.core.errors import Unavailable
from hookpost.core.models import TriggerType
from hookpost.core.outcomes import AttemptRecord
from hookpost.core.telemetry import PoolUse, QueueDepth

log = logging.getLogger("hookpost.metrics")
QUEUE_DEPTH_TTL = 5.0  # seconds a queue count is reused: scrapers in HA pairs count once
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Seconds. Attempts end within HOOKPOST_REQUEST_TIMEOUT (15 s by default).
ATTEMPT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60)
# From milliseconds (handed over in the same process) to an hour (a backlog draining).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

QueueReader = Callable[[], Awaitable[QueueDepth]]


class Metrics:
    """Every metric hookpost exports, for one process. It is the worker's `AttemptObserver`,
    the retention's `RetentionObserver` and the API's request timer (core/telemetry.py)."""

    def __init__(
        self,
        *,
        version: str,
        database: str,
        pool_use: Callable[[], PoolUse] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        queue_ttl: float = QUEUE_DEPTH_TTL,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._pool_use = pool_use
        self._monotonic = monotonic
        self._queue_ttl = queue_ttl
        self._queue: QueueReader | None = None
        self._queue_read_at: float | None = None
        self._queue_lock = asyncio.Lock()
        r = self.registry
        ProcessCollector(registry=r)  # CPU, memory, open files (Linux)
        self._info = Gauge(
            "hookpost_info",
            "This process: its version, its database and what it runs (api, worker or both).",
            ["version", "database", "role"],
            registry=r,
        )
        self._described = (version, database)
        self._roles: set[str] = set()

        # Delivery (workers).
        self._attempts = Counter(
            "hookpost_attempts",
            "Attempts recorded, by outcome (success: 2xx) and error class (none on success).",
            ["outcome", "error_class"],
            registry=r,
        )
        self._attempt_seconds = Histogram(
            "hookpost_attempt_duration_seconds",
            "How long attempts took, from connecting to the last byte read.",
            ["outcome"],
            buckets=ATTEMPT_BUCKETS,
            registry=r,
        )
        self._latency = Histogram(
            "hookpost_first_attempt_latency_seconds",
            "From publish to the start of a delivery's first attempt (scheduled ones only).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # The labelled children, bound once: labels() costs a lock and a dict per call.
        self._attempt_children: dict[tuple[bool, str | None], tuple[Any, Any]] = {}

        # The API.
        self._requests = Histogram(
            "hookpost_http_request_duration_seconds",
            "API requests by method, route template and status class, with their durations.",
            ["method", "route", "status_class"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self._request_children: dict[tuple[str, str, int], Any] = {}

        # Retention.
        self._retention_deleted = Counter(
            "hookpost_retention_deleted",
            "Rows (or payloads) deleted by retention, by kind.",
            ["kind"],
            registry=r,
        )
        self._retention_pass = Gauge(
            "hookpost_retention_last_pass_timestamp_seconds",
            "When the last retention pass of this process ended (Unix time).",
            registry=r,
        )
        self._retention_seconds = Gauge(
            "hookpost_retention_last_pass_duration_seconds",
            "How long the last retention pass of this process took.",
            registry=r,
        )

        # The database.
        self._pool = Gauge(
            "hookpost_db_connections",
            "This process's database connections, by state (in_use, idle).",
            ["state"],
            registry=r,
        )
        self._pool_limit = Gauge(
            "hookpost_db_connections_max",
            "The most database connections this process opens.",
            registry=r,
        )
        self._queue_gauges: tuple[Gauge, Gauge, Gauge, Gauge, Counter] | None = None

    def serves(self, role: str) -> None:
        """This process runs `role` (api, worker): named in hookpost_info."""
        self._roles.add(role)
        self._info.clear()
        self._info.labels(*self._described, "+".join(sorted(self._roles))).set(1)

    # -- the queue (API processes: the same database for all, read at scrape time) -----------
    def watch_queue(self, read: QueueReader) -> None:
        """Export the queue's depth, read by `read` at scrape time (at most every few
        seconds). Only API processes do: every process would read the same numbers."""
        if self._queue_gauges is not None:
            return
        r = self.registry
        self._queue = read
        self._queue_gauges = (
            Gauge(
                "hookpost_queue_deliveries",
                "Deliveries waiting in the database, by state: ready (due now), scheduled "
                "(a later retry or turn), in_flight (leased to a worker). Each count stops at "
                "hookpost_queue_count_cap.",
                ["state"],
                registry=r,
            ),
            Gauge(
                "hookpost_queue_oldest_ready_seconds",
                "How long the earliest ready delivery has been due (0 when none is).",
                registry=r,
            ),
            Gauge(
                "hookpost_queue_count_cap",
                "Where the queue counts stop: a count equal to it means at least that many.",
                registry=r,
            ),
            Gauge(
                "hookpost_queue_read_success",
                "1 if the last read of the queue's depth succeeded, 0 if the database failed.",
                registry=r,
            ),
            Counter(
                "hookpost_queue_read_errors",
                "Reads of the queue's depth that failed (the database was unavailable).",
                registry=r,
            ),
        )

    async def _refresh_queue(self) -> None:
        if self._queue is None or self._queue_gauges is None:
            return
        async with self._queue_lock:
            now = self._monotonic()
            if self._queue_read_at is not None and now - self._queue_read_at < self._queue_ttl:
                return
            depths, oldest, cap, success, errors = self._queue_gauges
            self._queue_read_at = now  # a failed read too: a database down is not hammered
            try:
                depth = await self._queue()
            except Unavailable as exc:
                log.warning("could not read the queue's depth for /metrics: %s", exc.detail)
                success.set(0)
                errors.inc()
                return
            depths.labels("ready").set(depth.ready)
            depths.labels("scheduled").set(depth.scheduled)
            depths.labels("in_flight").set(depth.in_flight)
            oldest.set(depth.oldest_ready_seconds)
            cap.set(depth.cap)
            success.set(1)

    # -- exposition -------------------------------------------------------------------------
    async def exposition(self) -> bytes:
        """The text format Prometheus scrapes, with the gauges read now."""
        await self._refresh_queue()
        if self._pool_use is not None:
            use = self._pool_use()
            self._pool.labels("in_use").set(use.in_use)
            self._pool.labels("idle").set(use.idle)
            self._pool_limit.set(use.limit)
        return generate_latest(self.registry)

    # -- AttemptObserver --------------------------------------------------------------------
    def attempts_recorded(self, records: Sequence[AttemptRecord]) -> None:
        children = self._attempt_children
        counted: dict[tuple[bool, str | None], int] = {}
        for record in records:
            outcome = record.outcome
            key: tuple[bool, str | None] = (outcome.succeeded, outcome.error_class)
            bound = children.get(key)
            if bound is None:
                bound = children[key] = self._bind_attempt(*key)
            counted[key] = counted.get(key, 0) + 1
            bound[1].observe(outcome.duration_ms / 1000)
            claim = record.claim
            if claim.attempts == 0 and claim.trigger is TriggerType.SCHEDULED:
                waited = (record.started_at - claim.message.created_at).total_seconds()
                self._latency.observe(max(waited, 0.0))
        for kind, count in counted.items():  # one increment per kind of outcome in the batch
            children[kind][0].inc(count)

    def _bind_attempt(self, succeeded: bool, error_class: str | None) -> tuple[Any, Any]:
        outcome = "success" if succeeded else "failure"
        return (
            self._attempts.labels(outcome, str(error_class) if error_class else "none"),
            self._attempt_seconds.labels(outcome),
        )

    # -- the API's request timer ------------------------------------------------------------
    def request_finished(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status // 100)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self._requests.labels(
                method, route, f"{status // 100}xx"
            )
        child.observe(seconds)

    # -- RetentionObserver ------------------------------------------------------------------
    def retention_deleted(self, kind: str, rows: int) -> None:
        self._retention_deleted.labels(kind).inc(rows)

    def retention_pass_finished(self, seconds: float) -> None:
        self._retention_pass.set_to_current_time()
        self._retention_seconds.set(seconds)

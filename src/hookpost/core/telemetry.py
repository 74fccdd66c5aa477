"""What the rooms report for monitoring: the observers they call and the values read at scrape
time. The Prometheus side (hookpost/metrics.py) implements these; the rooms never see it.

An observer is called on the event loop, inline: it must be cheap and must not do I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from hookpost.core.outcomes import AttemptRecord


class AttemptObserver(Protocol):
    def attempts_recorded(self, records: Sequence[AttemptRecord]) -> None:
        """Attempts the store has just written (the worker calls this once per recorded
        batch, with the records the database accepted; fenced-out ones are not included)."""
        ...


class RetentionObserver(Protocol):
    """What a retention pass reports. `kind` is one of a fixed, small set of words naming
    what was deleted (`payloads`, `attempts`, `deliveries`, `messages`, `idempotency_keys`),
    never an id: it becomes a metric label."""

    def retention_deleted(self, kind: str, rows: int) -> None:
        """`rows` rows (or payloads) of `kind` were deleted (call once per batch)."""
        ...

    def retention_pass_finished(self, seconds: float) -> None:
        """A whole retention pass ended after `seconds`."""
        ...


class NoObserver:
    """Observes nothing: the default where no metrics are wanted (and in tests)."""

    def attempts_recorded(self, records: Sequence[AttemptRecord]) -> None:
        pass

    def retention_deleted(self, kind: str, rows: int) -> None:
        pass

    def retention_pass_finished(self, seconds: float) -> None:
        pass


@dataclass(frozen=True)
class QueueDepth:
    """The deliveries waiting in the database at one moment. Counts stop at `cap` (reading
    further would cost time in proportion to the backlog): a count equal to `cap` means at
    least that many."""

    ready: int  # due now (or whose lease ran out), waiting for a worker
    scheduled: int  # waiting for a later retry or turn
    in_flight: int  # leased to a worker now
    oldest_ready_seconds: float  # how long the earliest ready delivery has been due (0: none)
    cap: int


@dataclass(frozen=True)
class PoolUse:
    """The database connections of one process."""

    in_use: int
    idle: int
    limit: int

"""Pacing an endpoint to its `throttleRate`: how many deliveries may go now and when the rest
come due, from the endpoint's not-before time (a generic cell rate algorithm). Pure.

The store keeps one not-before time per throttled endpoint, shared by every worker process,
and moves it on only by the deliveries that actually go, so the rate holds across processes.
"""

from __future__ import annotations

from dataclasses import dataclass

# How far ahead of its exact turn a delivery may still go now: claims come in batches, and
# a turn a few milliseconds away is not worth a round trip through the queue.
PACING_SLACK = 0.005


@dataclass(frozen=True)
class Paced:
    allowed: int  # deliveries that may go now
    not_before: float  # the endpoint's next free turn, after those
    later: tuple[float, ...]  # when each of the others comes due (its turn if none go first)


def pace(*, now: float, not_before: float, rate: float, wanted: int) -> Paced:
    """Split `wanted` deliveries to an endpoint limited to `rate` per second into those that
    go now and the due times of the rest; times in seconds on one clock."""
    if rate <= 0:
        raise ValueError("a throttle rate is positive")
    gap = 1.0 / rate
    start = max(not_before, now)
    allowed = 0
    if start <= now + PACING_SLACK:
        allowed = min(wanted, int((now + PACING_SLACK - start) / gap) + 1)
    after = start + allowed * gap
    later = tuple(after + n * gap for n in range(wanted - allowed))
    return Paced(allowed, after, later)

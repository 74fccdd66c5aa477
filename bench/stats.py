"""Small statistics helpers, dependency-free for every process of the benchmark:
nearest-rank percentiles and rates from receive timestamps.
"""

from __future__ import annotations

from collections.abc import Sequence


def percentiles(samples: Sequence[float], points: Sequence[int] = (50, 95, 99)) -> dict[str, float]:
    """Nearest-rank percentiles (and max), rounded to 0.01; empty when there are no samples."""
    if not samples:
        return {}
    ordered = sorted(samples)
    found = {}
    for point in points:
        rank = max(1, -(-point * len(ordered) // 100))  # ceil, at least the first
        found[f"p{point}"] = round(ordered[rank - 1], 2)
    found["max"] = round(ordered[-1], 2)
    return found


def steady_rate(times: Sequence[float]) -> float:
    """Requests per second between the first and the last timestamp."""
    if len(times) < 2 or times[-1] <= times[0]:
        return 0.0
    return (len(times) - 1) / (times[-1] - times[0])

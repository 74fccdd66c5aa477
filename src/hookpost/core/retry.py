"""The retry policy: when the next attempt of a failed delivery is due, if ever.

Svix-compatible: a schedule of delays with +-20 % jitter, a floor after timeouts, and a
receiver's Retry-After honoured but clamped to [scheduled delay, 2 x scheduled delay].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_SCHEDULE: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)


@dataclass(frozen=True)
class RetryPolicy:
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    jitter: float = 0.2
    timeout_floor: float = 60.0  # Svix waits at least a minute after a timeout

    @property
    def max_attempts(self) -> int:
        """Scheduled attempts in all: the first one plus one per schedule entry."""
        return len(self.schedule) + 1

    def next_delay(
        self,
        attempts_made: int,
        *,
        unit_random: float,
        retry_after: float | None = None,
        timed_out: bool = False,
    ) -> float | None:
        """Seconds until the next attempt after `attempts_made` failed ones; None when exhausted.

        `unit_random` is a uniform draw in [0, 1) supplied by the caller (the core takes no
        randomness of its own).
        """
        if attempts_made < 1 or attempts_made > len(self.schedule):
            return None
        scheduled = self.schedule[attempts_made - 1]
        delay = scheduled * (1 + self.jitter * (2 * unit_random - 1))
        if timed_out:
            delay = max(delay, self.timeout_floor)
        if retry_after is not None and retry_after >= 0:
            delay = min(max(retry_after, scheduled), 2 * scheduled)
        return max(delay, 0.0)


def parse_schedule(text: str) -> tuple[float, ...]:
    """Parse `HOOKPOST_RETRY_SCHEDULE`: comma-separated non-negative seconds."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise ValueError(f"retry schedule must be comma-separated seconds, got {text!r}") from None
    if any(v < 0 or not math.isfinite(v) for v in values):
        raise ValueError("retry schedule delays must be finite and not negative")
    return values

"""Phase sizes of the full run (under 10 minutes on 2 cores) and of `--quick` (~2 min);
API-driven phases are time-boxed, seeded backlogs have exact sizes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    capacity_seconds: float = 2.0
    ceiling_posts: int = 20_000
    ceiling_deliveries: int = 20_000
    publish_seconds: float = 8.0  # each publish burst, from 64 concurrent clients
    ceiling_publish_seconds: float = 5.0
    warmup_seconds: float = 2.0  # untimed burst first: pools fill, statements get prepared
    paced_seconds: float = 8.0  # each paced latency run
    paced_low_rate: float = 200.0
    saturation_share: float = 0.8
    drain_backlog: int = 50_000
    drain_timeout: float = 150.0
    fanout_endpoints: int = 1000
    memory_backlog: int = 100_000
    memory_down_seconds: float = 8.0
    memory_drain_seconds: float = 20.0  # RSS is sampled over this much of the drain
    retry_schedule: str = ",".join(["5"] * 40)  # long: the backlog stays pending while down

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            capacity_seconds=1.0,
            ceiling_posts=10_000,
            ceiling_deliveries=10_000,
            publish_seconds=3.0,
            ceiling_publish_seconds=3.0,
            warmup_seconds=1.0,
            paced_seconds=3.0,
            drain_backlog=5_000,
            drain_timeout=40.0,
            fanout_endpoints=250,
            memory_backlog=10_000,
            memory_down_seconds=3.0,
            memory_drain_seconds=5.0,
        )

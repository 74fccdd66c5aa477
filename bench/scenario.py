"""One hookpost configuration end to end: a fresh database, a publish-only API process, then
the deployment under test through every phase; a failing phase is recorded, not fatal.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import databases, phases
from bench.hookpost_proc import Deployment, RssSampler
from bench.phases import Stage
from bench.profiling import Profiler
from bench.publisher import Publisher
from bench.receiver import Receiver
from bench.sizes import Sizes


@dataclass(frozen=True)
class Config:
    name: str
    backend: str
    kind: str  # serve | split
    workers: int = 0
    publish_only: bool = True  # the split layout's API process is the PostgreSQL one
    http_client: str = ""  # HOOKPOST_HTTP_CLIENT; empty: hookpost's default


CONFIGS = (
    Config("sqlite-serve", "sqlite", "serve"),
    Config("postgres-serve", "postgres", "serve"),
    Config("postgres-split", "postgres", "split", workers=2, publish_only=False),
)
# Run only when named in --only: the sender's previous client, for before/after in one run.
OPTIONAL_CONFIGS = (
    Config("sqlite-serve-aiohttp", "sqlite", "serve", http_client="aiohttp"),
    Config("postgres-serve-aiohttp", "postgres", "serve", http_client="aiohttp"),
)


def extra_settings() -> dict[str, str]:
    """HOOKPOST_* settings for every hookpost process of the run, from BENCH_HOOKPOST_ENV
    ("NAME=value NAME=value"): an experiment on one setting without editing the benchmark
    (the processes get no HOOKPOST_* variable of the caller's environment otherwise)."""
    pairs = [item.split("=", 1) for item in os.environ.get("BENCH_HOOKPOST_ENV", "").split()]
    return {name: value for name, value in pairs if name.startswith("HOOKPOST_")}


def _attempt(results: dict[str, Any], key: str, phase: Callable[[], dict[str, Any]]) -> None:
    try:
        results[key] = phase()
    except Exception as exc:
        results[key] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
        traceback.print_exc()


def _log_problems(folder: Path, config: str) -> list[str]:
    """WARNING/ERROR lines the config's hookpost processes logged (first 20, deduplicated)."""
    seen: dict[str, None] = {}
    for log in sorted(folder.glob(f"{config}*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if " WARNING " in line or " ERROR " in line or "Traceback" in line:
                text = f"{log.stem}: {line.split(' ', 2)[-1][:300]}"
                seen.setdefault(text, None)
    return list(seen)[:20]


def run(
    config: Config,
    receiver: Receiver,
    publisher: Publisher,
    sizes: Sizes,
    folder: Path,
    profiler: Profiler,
    say: Callable[[str], None],
) -> dict[str, Any]:
    url = (
        databases.sqlite_url(folder, config.name)
        if config.backend == "sqlite"
        else databases.create_postgres(config.name.replace("-", "_"))
    )
    env = {"HOOKPOST_RETRY_SCHEDULE": sizes.retry_schedule, **extra_settings()}
    if config.http_client:
        env["HOOKPOST_HTTP_CLIENT"] = config.http_client
    port = receiver.listen()
    results: dict[str, Any] = {"backend": config.backend, "layout": _layout(config)}

    def stage_for(deployment: Deployment) -> Stage:
        return Stage(config.name, deployment, receiver, port, publisher, sizes, profiler)

    try:
        if config.publish_only:
            say(f"{config.name}: publish throughput, API process alone")
            api = Deployment(f"{config.name}-apionly", url, folder, kind="api", env=env).start()
            try:
                _attempt(results, "publish_only", lambda: phases.publish_only(stage_for(api)))
            finally:
                api.stop()
        deployment = Deployment(
            config.name, url, folder, kind=config.kind, workers=config.workers, env=env
        ).start()
        stage = stage_for(deployment)
        try:
            with RssSampler(deployment.pids()) as overall:
                _phases(stage, results, say)
            results["peak_rss_mb"] = overall.peak_mb()
            deployment.check_alive()
        finally:
            results["exit_codes"] = deployment.stop()
    finally:
        receiver.close(port)
        if config.backend == "postgres":
            databases.drop_postgres(url)
    results["log_problems"] = _log_problems(folder, config.name)
    return results


def _phases(stage: Stage, results: dict[str, Any], say: Callable[[str], None]) -> None:
    sizes, name = stage.sizes, stage.name
    say(f"{name}: publish throughput while delivering")
    _attempt(results, "publish_delivering", lambda: phases.publish_delivering(stage))
    saturation = results["publish_delivering"].get("end_to_end_rate") or 100.0
    say(f"{name}: latency at {sizes.paced_low_rate:g} msg/s")
    _attempt(results, "latency_low", lambda: phases.paced(stage, sizes.paced_low_rate))
    high = max(1.0, round(saturation * sizes.saturation_share))
    say(f"{name}: latency at {high:g} msg/s (80 % of saturation)")
    _attempt(results, "latency_high", lambda: phases.paced(stage, high))
    say(f"{name}: fan-out to {sizes.fanout_endpoints} endpoints")
    _attempt(results, "fanout", lambda: phases.fanout(stage))
    say(f"{name}: draining a backlog of {sizes.drain_backlog}")
    _attempt(results, "drain", lambda: phases.drain(stage))
    say(f"{name}: memory with {sizes.memory_backlog} waiting on a receiver that is down")
    _attempt(results, "memory", lambda: phases.memory(stage))


def _layout(config: Config) -> str:
    if config.kind == "serve":
        return "hookpost serve (API + worker, one process)"
    return f"hookpost api + {config.workers} x hookpost worker"

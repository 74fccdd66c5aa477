"""The end-to-end phases run against one hookpost deployment: publish bursts, paced latency,
fan-out, backlog drain and memory with the receiver down; each returns a dict of figures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bench import backlog
from bench.hookpost_proc import TOKEN, CpuMeter, Deployment, RssSampler, free_port
from bench.profiling import Profiler
from bench.publisher import Publisher
from bench.receiver import Receiver
from bench.sizes import Sizes
from bench.stats import percentiles, steady_rate


@dataclass
class Stage:
    """Everything a phase needs: the deployment under test and the tools around it."""

    name: str
    deployment: Deployment
    receiver: Receiver
    port: int  # the receiver's listening port
    publisher: Publisher
    sizes: Sizes
    profiler: Profiler

    @property
    def base(self) -> str:
        return self.deployment.url

    def app(self, uid: str, paths: list[str]) -> tuple[str, list[str]]:
        app = self.publisher.create_app(self.base, TOKEN, uid)
        urls = [f"http://127.0.0.1:{self.port}{path}" for path in paths]
        return app, self.publisher.create_endpoints(self.base, TOKEN, app, urls)

    def meter(self) -> CpuMeter:
        url = self.deployment.database_url
        database = None if url.startswith("sqlite") else url.rsplit("/", 1)[1]
        return CpuMeter(self.deployment.pids(), database)


def _latency_ms(receiver: Receiver) -> dict[str, float]:
    return percentiles([x * 1000 for x in receiver.latencies()])


def publish_only(stage: Stage) -> dict[str, Any]:
    """Publish throughput of an API process with no worker anywhere (nothing is delivered)."""
    app, _ = stage.app("publish-only", ["/publish-only"])
    _warm_up(stage, app)
    done = [0]
    with (
        stage.meter() as cpu,
        stage.profiler.attach(f"{stage.name}-publish-api", stage.deployment.api_pid, done),
    ):
        result = stage.publisher.burst(
            stage.base, TOKEN, app, 10**9, seconds=stage.sizes.publish_seconds
        )
        done[0] = result["accepted"]
    backlog.cancel(stage.deployment.database_url, app)
    return {**_burst_fields(result), **_cpu(cpu, result["accepted"])}


def _cpu(cpu: CpuMeter, operations: int) -> dict[str, Any]:
    return {
        "cpu_seconds": cpu.used,
        "cpu_system_seconds": cpu.system,
        "hookpost_cpu_ms_per_op": cpu.hookpost_ms_per(operations),
    }


def _warm_up(stage: Stage, app: str) -> int:
    """An untimed burst first (pools fill, statements get prepared); returns how many."""
    result = stage.publisher.burst(
        stage.base, TOKEN, app, 10**9, seconds=stage.sizes.warmup_seconds
    )
    return int(result["accepted"])


def _burst_fields(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("rate", "accepted", "seconds", "statuses", "concurrency", "api_latency_ms")
    keys += ("accepted_per_second",)
    return {k: result[k] for k in keys}


def publish_delivering(stage: Stage) -> dict[str, Any]:
    """Publish as fast as 64 clients can while the worker delivers everything to the receiver;
    the end-to-end rate (all published and delivered) is the saturation point."""
    warm_app, _ = stage.app("publish-warm", ["/publish-warm"])
    app, _ = stage.app("publish-live", ["/publish-live"])
    stage.receiver.reset("/publish-warm")
    stage.receiver.wait_for(_warm_up(stage, warm_app), timeout=60, stall=10)
    stage.receiver.reset("/publish-live")
    done = [0]
    with (
        stage.meter() as cpu,
        stage.profiler.attach(f"{stage.name}-publish-serve", stage.deployment.api_pid, done),
    ):
        result = stage.publisher.burst(
            stage.base, TOKEN, app, 10**9, seconds=stage.sizes.publish_seconds
        )
        done[0] = result["accepted"]
        got = stage.receiver.wait_for(result["accepted"], timeout=120, stall=10)
    end_to_end = got["count"] / (got["last"] - result["first_sent"]) if got["count"] else 0.0
    return {
        **_burst_fields(result),
        "delivered": got["count"],
        "duplicates": got["duplicates"],
        "end_to_end_rate": end_to_end,
        "latency_ms": _latency_ms(stage.receiver),
        **_cpu(cpu, result["accepted"]),
    }


def paced(stage: Stage, rate: float) -> dict[str, Any]:
    """Publish → receive latency at a steady `rate` messages/s."""
    app, _ = stage.app(f"paced-{int(rate)}", [f"/paced-{int(rate)}"])
    stage.receiver.reset(f"/paced-{int(rate)}")
    with stage.meter() as cpu:
        result = stage.publisher.paced(stage.base, TOKEN, app, rate, stage.sizes.paced_seconds)
        got = stage.receiver.wait_for(result["accepted"], timeout=120, stall=10)
    return {
        "target_rate": rate,
        "achieved_publish_rate": result["achieved_rate"],
        "accepted": result["accepted"],
        "delivered": got["count"],
        "duplicates": got["duplicates"],
        "late_sends": result["late_sends"],
        "latency_ms": _latency_ms(stage.receiver),
        "api_latency_ms": result["api_latency_ms"],
        **_cpu(cpu, result["accepted"]),
    }


def fanout(stage: Stage, rounds: int = 3) -> dict[str, Any]:
    """One message to N endpoints of one application: time until the last one arrives."""
    count = stage.sizes.fanout_endpoints
    started = time.perf_counter()
    app, _ = stage.app("fanout", [f"/fanout/{i}" for i in range(count)])
    created = time.perf_counter() - started
    times = []
    for _ in range(rounds):
        stage.receiver.reset("/fanout/", track_paths=True)
        stage.publisher.burst(stage.base, TOKEN, app, 1, concurrency=1)
        got = stage.receiver.wait_for(count, timeout=60, stall=10)
        latencies = stage.receiver.latencies()
        times.append(
            {
                "delivered": got["count"],
                "duplicates": got["duplicates"],
                "distinct_endpoints": got["paths"],
                "first_ms": round(min(latencies) * 1000, 1) if latencies else None,
                "last_ms": round(max(latencies) * 1000, 1) if latencies else None,
            }
        )
    last = sorted(t["last_ms"] or float("inf") for t in times)
    return {
        "endpoints": count,
        "endpoint_creation_per_s": count / created,
        "rounds": times,
        "median_last_ms": last[len(last) // 2],
    }


def drain(stage: Stage) -> dict[str, Any]:
    """Deliveries/s while the worker(s) drain a seeded backlog of due deliveries."""
    count = stage.sizes.drain_backlog
    url = stage.deployment.database_url
    app, endpoints = stage.app("drain", ["/drain"])
    seeded = backlog.seed(url, app, endpoints, count, held=True)
    stage.receiver.reset("/drain")
    done = [count]
    pid = next(iter(stage.deployment.delivering_pids.values()))
    with (
        stage.meter() as cpu,
        RssSampler(stage.deployment.pids()) as rss,
        stage.profiler.attach(f"{stage.name}-drain", pid, done),
    ):
        released_at = time.time()
        backlog.release(url, app)
        got = stage.receiver.wait_for(count, timeout=stage.sizes.drain_timeout, stall=15)
        done[0] = got["count"]
    times = stage.receiver.times()
    whole = (got["last"] - released_at) if got["count"] else 0.0
    return {
        "backlog": count,
        "seed_seconds": round(seeded, 2),
        "delivered": got["count"],
        "duplicates": got["duplicates"],
        "rate": steady_rate(times),
        "rate_from_release": got["count"] / whole if whole else 0.0,
        "seconds": whole,
        **_cpu(cpu, got["count"]),
        "peak_rss_mb": rss.peak_mb(),
    }


def memory(stage: Stage) -> dict[str, Any]:
    """Peak RSS while a backlog waits on a receiver that refuses connections, then while it
    drains once the receiver is back (sampled over a time box)."""
    sizes, url = stage.sizes, stage.deployment.database_url
    down = free_port()
    app = stage.publisher.create_app(stage.base, TOKEN, "memory")
    endpoints = stage.publisher.create_endpoints(
        stage.base, TOKEN, app, [f"http://127.0.0.1:{down}/memory"]
    )
    before = RssSampler(stage.deployment.pids())
    before.sample()
    backlog.seed(url, app, endpoints, sizes.memory_backlog, held=False)
    with stage.meter() as down_cpu, RssSampler(stage.deployment.pids()) as while_down:
        time.sleep(sizes.memory_down_seconds)
    stage.receiver.reset("/memory")
    stage.receiver.listen(down)
    try:
        with stage.meter() as up_cpu, RssSampler(stage.deployment.pids()) as while_up:
            got = stage.receiver.wait_for(
                sizes.memory_backlog, timeout=sizes.memory_drain_seconds, stall=10
            )
    finally:
        stage.receiver.close(down)
    return {
        "backlog": sizes.memory_backlog,
        "rss_before_mb": before.last_mb(),
        "peak_rss_down_mb": while_down.peak_mb(),
        "peak_rss_draining_mb": while_up.peak_mb(),
        "down_seconds": sizes.memory_down_seconds,
        "drain_window_seconds": sizes.memory_drain_seconds,
        "delivered_in_window": got["count"],
        "duplicates": got["duplicates"],
        "drain_rate": steady_rate(stage.receiver.times()),
        "still_pending": backlog.count_pending(url, app),
        "cpu_seconds_down": down_cpu.used,
        "cpu_seconds_draining": up_cpu.used,
    }

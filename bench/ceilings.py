"""The ceilings of one run: the receiver's own capacity, (a) signed POSTs alone (aiohttp;
a2 a minimal httptools client, a3 pyreqwest, a4 hookpost's own transport), (b) the minimal
durable delivery loop and (c) the minimal durable publish endpoint, per backend.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench import capacity, ceiling_durable, ceiling_http, databases
from bench.hookpost_proc import TOKEN, CpuMeter, free_port
from bench.procs import Child
from bench.publisher import Publisher
from bench.receiver import Receiver
from bench.sizes import Sizes

ROOT = Path(__file__).resolve().parent.parent
# Claim lanes of the durable loop: the best of 1, 2 and 4 measured on 2 cores.
LANES = {"sqlite": 2, "postgres": 4}


def database(backend: str, folder: Path, what: str) -> str:
    if backend == "sqlite":
        return databases.sqlite_url(folder, what)
    return databases.create_postgres(what)


def durable(backend: str, port: int, sizes: Sizes, folder: Path) -> dict[str, Any]:
    url = database(backend, folder, "ceiling_durable")
    try:
        return ceiling_durable.measure(backend, url, port, sizes.ceiling_deliveries, LANES[backend])
    finally:
        if backend == "postgres":
            databases.drop_postgres(url)


def publish(backend: str, publisher: Publisher, sizes: Sizes, folder: Path) -> dict[str, Any]:
    url = database(backend, folder, "ceiling_publish")
    port = free_port()
    argv = [sys.executable, "-m", "bench.ceiling_publish", backend, url, str(port), TOKEN]
    server = Child(
        argv, {**os.environ, "PYTHONPATH": str(ROOT)}, folder / "ceiling-publish.log", "c"
    )
    try:
        _wait_up(f"http://127.0.0.1:{port}/api/v1/health", server)
        base = f"http://127.0.0.1:{port}"
        publisher.burst(base, TOKEN, "app_1", 10**9, seconds=sizes.warmup_seconds)
        with CpuMeter({"server": server.pid}) as cpu:
            result = publisher.burst(
                base, TOKEN, "app_1", 10**9, seconds=sizes.ceiling_publish_seconds
            )
        keys = ("accepted", "seconds", "rate", "statuses", "api_latency_ms")
        return {k: result[k] for k in keys} | {
            "cpu_ms_per_publish": cpu.hookpost_ms_per(result["accepted"])
        }
    finally:
        server.stop()
        if backend == "postgres":
            databases.drop_postgres(url)


def _wait_up(url: str, child: Child, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited:\n{child.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not up after {timeout:g}s")


def measure_all(
    receiver: Receiver, publisher: Publisher, sizes: Sizes, folder: Path, backends: list[str]
) -> dict[str, Any]:
    port = receiver.listen()
    try:
        found: dict[str, Any] = {
            "receiver_capacity": capacity.receiver_capacity(port, sizes.capacity_seconds),
            "http": ceiling_http.measure(port, sizes.ceiling_posts),
            "http_minimal": ceiling_http.measure(port, sizes.ceiling_posts, client="minimal"),
            "http_pyreqwest": ceiling_http.measure(port, sizes.ceiling_posts, client="pyreqwest"),
            "http_hookpost": ceiling_http.measure(port, sizes.ceiling_posts, client="hookpost"),
            "http_stock_asyncio": ceiling_http.measure(port, sizes.ceiling_posts, loop="asyncio"),
        }
        for backend in backends:
            found[f"durable_{backend}"] = durable(backend, port, sizes, folder)
            found[f"publish_{backend}"] = publish(backend, publisher, sizes, folder)
        return found
    finally:
        receiver.close(port)

"""hookpost as the benchmark runs it: `serve`, `api` and `worker` subprocesses with their
settings, a readiness wait, and a psutil sampler recording each process's peak RSS.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.procs import Child

TOKEN = "hp_sk_benchmarkbenchmarkbenchmarkbenchmark0001"  # a local benchmark key
HOOKPOST = str(Path(sys.executable).with_name("hookpost"))
CODE_PATH: str | None = None  # a snapshot of src/ to import hookpost from (bench.snapshot)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(
    database_url: str, port: int, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKPOST_")}
    env.update(
        HOOKPOST_DATABASE_URL=database_url,
        HOOKPOST_PORT=str(port),
        HOOKPOST_API_TOKEN=TOKEN,
        HOOKPOST_ALLOWED_NETWORKS="127.0.0.0/8",
        HOOKPOST_LOG_LEVEL="warning",
        HOOKPOST_SHUTDOWN_GRACE="2",
    )
    if CODE_PATH is not None:
        env["PYTHONPATH"] = CODE_PATH
    env.update(extra or {})
    return env


@dataclass
class Deployment:
    """One hookpost layout on one database: `hookpost serve` alone (kind "serve"), `hookpost
    api` alone ("api"), or `hookpost api` plus `workers` x `hookpost worker` ("split")."""

    name: str
    database_url: str
    folder: Path
    kind: str = "serve"
    workers: int = 0
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    ready_timeout: float = 60.0  # migrations on a big seeded database take longer
    processes: dict[str, Child] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Deployment:
        self.port = self.port or free_port()
        env = base_env(self.database_url, self.port, self.env)
        main = "serve" if self.kind == "serve" else "api"
        self._spawn(main, [HOOKPOST, main], env)
        self.wait_ready(self.ready_timeout)  # migrations ran: workers may start without racing them
        for index in range(self.workers if self.kind == "split" else 0):
            self._spawn(f"worker{index + 1}", [HOOKPOST, "worker"], env)
        time.sleep(1.0)  # let workers connect and start listening
        self.check_alive()
        return self

    def _spawn(self, role: str, argv: list[str], env: dict[str, str]) -> None:
        log = self.folder / f"{self.name}-{role}.log"
        self.processes[role] = Child(argv, env, log, f"{self.name}-{role}")

    def kill(self, role: str) -> int:
        """SIGKILL one process (no shutdown at all, as a crash or the OOM killer would)."""
        child = self.processes.pop(role)
        child.proc.kill()
        child.stop()
        return child.pid

    def respawn(self, role: str) -> int:
        """Start a killed worker again with the same settings; returns its new pid."""
        env = base_env(self.database_url, self.port, self.env)
        self._spawn(role, [HOOKPOST, "worker"], env)
        return self.processes[role].pid

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(f"{self.url}/api/v1/health", timeout=2) as answer:
                    if answer.status == 204:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:g}s")

    def check_alive(self) -> None:
        for child in self.processes.values():
            if not child.alive():
                raise RuntimeError(f"{child.name} exited early:\n{child.tail()}")

    def pids(self) -> dict[str, int]:
        return {role: child.pid for role, child in self.processes.items()}

    @property
    def api_pid(self) -> int:
        return self.processes["serve" if self.kind == "serve" else "api"].pid

    @property
    def delivering_pids(self) -> dict[str, int]:
        """The processes that deliver (serve, or the workers)."""
        return {r: c.pid for r, c in self.processes.items() if r == "serve" or r.startswith("w")}

    def stop(self) -> dict[str, int | None]:
        codes = {}
        for role in reversed(list(self.processes)):
            codes[role] = self.processes.pop(role).stop()
        return codes


class CpuMeter:
    """CPU seconds (user + system) some processes used over a block, and what the PostgreSQL
    backends serving `database` used (backends that exited inside the block are missed)."""

    def __init__(self, pids: Mapping[str, int], database: str | None = None) -> None:
        self.procs = {role: psutil.Process(pid) for role, pid in pids.items()}
        self.database = database
        self.used: dict[str, float] = {}
        self.system: dict[str, float] = {}
        self._start: dict[str, tuple[float, float]] = {}
        self._backends: dict[int, float] = {}

    def __enter__(self) -> CpuMeter:
        self._start = self._now()
        self._backends = _backends(self.database)
        return self

    def __exit__(self, *_exc: object) -> None:
        now = self._now()
        self.used = {k: round(now[k][0] - v[0], 2) for k, v in self._start.items() if k in now}
        self.system = {k: round(now[k][1] - v[1], 2) for k, v in self._start.items() if k in now}
        if self.database is not None:
            ended = _backends(self.database)
            spent = sum(cpu - self._backends.get(pid, 0.0) for pid, cpu in ended.items())
            self.used["postgres"] = round(spent, 2)

    def _now(self) -> dict[str, tuple[float, float]]:
        found = {}
        for role, proc in self.procs.items():
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            found[role] = (times.user + times.system, times.system)
        return found

    def hookpost_ms_per(self, operations: int) -> float | None:
        """CPU milliseconds of the measured processes (not PostgreSQL) per operation."""
        if not operations:
            return None
        spent = sum(v for k, v in self.used.items() if k != "postgres")
        return round(spent * 1000 / operations, 3)


def _backends(database: str | None) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to `database`, by pid."""
    found: dict[int, float] = {}
    if database is None:
        return found
    marker = f" {database} "
    for proc in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        if proc.info["name"] not in {"postgres", "postmaster"} or not proc.info["cpu_times"]:
            continue
        title = " ".join(proc.info["cmdline"] or ()) + " "
        if marker in title:
            found[proc.pid] = proc.info["cpu_times"].user + proc.info["cpu_times"].system
    return found


class RssSampler:
    """Samples the RSS of some processes every `interval` seconds; keeps each one's peak."""

    def __init__(self, pids: Mapping[str, int], interval: float = 0.1) -> None:
        self.procs = {role: psutil.Process(pid) for role, pid in pids.items()}
        self.interval = interval
        self.peak: dict[str, int] = dict.fromkeys(pids, 0)
        self.last: dict[str, int] = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        for role, proc in self.procs.items():
            try:
                rss = proc.memory_info().rss
            except psutil.Error:
                continue
            self.last[role] = rss
            self.peak[role] = max(self.peak[role], rss)

    def peak_mb(self) -> dict[str, float]:
        return {role: round(rss / 2**20, 1) for role, rss in self.peak.items()}

    def last_mb(self) -> dict[str, float]:
        return {role: round(rss / 2**20, 1) for role, rss in self.last.items()}

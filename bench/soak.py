"""Soak benchmark: `hookpost api` + 2 `hookpost worker` on a private PostgreSQL cluster for a
bounded time, steady keyed publishing to healthy, flaky and slow endpoints, with faults.

    .venv/bin/python -m bench.soak --minutes 12     # -> bench/results/soak.{json,md}
    .venv/bin/python -m bench.soak --minutes 2      # a quick check -> soak-quick.{json,md}

~150 msg/s over 20 applications, as SDK users publish (an idempotency key on every request,
the application inline, retries of 5xx with the same key). Every application has a healthy
endpoint; 3 also a flaky one (30 % 500s), 3 a slow one (1-3 s). At 40 % of the time a worker
is killed with SIGKILL and restarted 3 s later; at 60 % every database connection is
terminated (pg_terminate_backend). Per minute: publish and healthy-delivery latency, RSS and
open files of each process, database size. At the end: every acknowledged message must have
reached every healthy endpoint of its application.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import threading
import time
from array import array
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from bench import hookpost_proc as hp
from bench import machine, procs, snapshot, soak_report
from bench.pgcluster import Cluster, remove_stale
from bench.publisher import Publisher, Style
from bench.soak_receiver import SoakReceiver
from bench.stats import percentiles

RESULTS = Path(__file__).resolve().parent / "results"
APPS = 20
FLAKY_APPS = range(0, 3)
SLOW_APPS = range(3, 6)
SDK = Style(keyed=True, inline=True, retries=2)
SETTINGS = {
    # Retries come quickly so a flaky endpoint's messages settle within the run.
    "HOOKPOST_RETRY_SCHEDULE": "1,2,4,8,15,30,60",
    "HOOKPOST_LOG_LEVEL": "warning",
}


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--rate", type=float, default=150.0, help="messages per second")
    parser.add_argument("--output", help="result file stem (default: soak, or soak-quick)")
    parser.add_argument("--code", metavar="REF", help="measure this commit (default: tree)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args(argv)


class Sampler:
    """Every `interval` s: RSS and open file descriptors of each hookpost process, and the
    database size; workers may be replaced (the role keeps its column)."""

    def __init__(self, deployment: hp.Deployment, dsn: str, interval: float = 5.0) -> None:
        self.deployment = deployment
        self.dsn = dsn
        self.interval = interval
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(self.sample())

    def sample(self) -> dict[str, Any]:
        found: dict[str, Any] = {"t": time.time(), "rss_mb": {}, "fds": {}}
        for role, pid in self.deployment.pids().items():
            try:
                proc = psutil.Process(pid)
                found["rss_mb"][role] = round(proc.memory_info().rss / 2**20, 1)
                found["fds"][role] = proc.num_fds()
            except psutil.Error:
                continue
        try:
            found["db_mb"] = round(asyncio.run(_db_size(self.dsn)) / 2**20, 1)
        except Exception:
            found["db_mb"] = None
        return found


async def _db_size(dsn: str) -> int:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        return int(await conn.fetchval("SELECT pg_database_size(current_database())"))
    finally:
        await conn.close()


async def _terminate_all(admin_dsn: str, database: str) -> int:
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
        )
    finally:
        await conn.close()


def setup_apps(
    deployment: hp.Deployment, publisher: Publisher, receiver: SoakReceiver
) -> list[str]:
    uids = [f"soak-{n:02d}" for n in range(APPS)]
    for n, uid in enumerate(uids):
        app = publisher.create_app(deployment.url, hp.TOKEN, uid)
        urls = [receiver.url("healthy", uid)]
        if n in FLAKY_APPS:
            urls.append(receiver.url("flaky", uid))
        if n in SLOW_APPS:
            urls.append(receiver.url("slow", uid))
        publisher.create_endpoints(deployment.url, hp.TOKEN, app, urls)
    return uids


class Faults:
    """The faults of the run, at fixed shares of its length. `tick()` runs them from the main
    thread: a child's PR_SET_PDEATHSIG fires when the *thread* that started it ends."""

    def __init__(self, deployment: hp.Deployment, cluster: Cluster, seconds: float) -> None:
        self.deployment = deployment
        self.cluster = cluster
        self.seconds = seconds
        self.started = time.time()
        self.events: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._killed_at: float | None = None
        self._done: set[str] = set()

    def tick(self) -> None:
        now = time.time()
        try:
            if "kill" not in self._done and now >= self.started + self.seconds * 0.4:
                self._done.add("kill")
                pid = self.deployment.kill("worker1")
                self._killed_at = now
                self._event(f"worker1 (pid {pid}) killed with SIGKILL")
            if (
                "respawn" not in self._done
                and self._killed_at is not None
                and now >= self._killed_at + 3.0
            ):
                self._done.add("respawn")
                self._event(f"worker1 restarted (pid {self.deployment.respawn('worker1')})")
            if "terminate" not in self._done and now >= self.started + self.seconds * 0.6:
                self._done.add("terminate")
                killed = asyncio.run(_terminate_all(self.cluster.admin_dsn, "soak"))
                self._event(f"pg_terminate_backend: {killed} connections to database soak")
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def _event(self, what: str) -> None:
        self.events.append({"t": time.time(), "what": what})
        say(f"  fault: {what}")


def per_minute(
    start: float,
    minutes: int,
    publishes: array[float],
    received: array[float],
    sent: array[float],
    samples: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Figures by minute of the run: publishes by send time, deliveries by publish time,
    resources as last sampled in that minute."""
    rows: list[dict[str, Any]] = []
    pub: list[list[float]] = [[] for _ in range(minutes)]
    for n in range(0, len(publishes), 2):
        minute = int((publishes[n] - start) // 60)
        if 0 <= minute < minutes:
            pub[minute].append(publishes[n + 1] * 1000)
    dlv: list[list[float]] = [[] for _ in range(minutes)]
    for got, at in zip(received, sent, strict=True):
        minute = int((at - start) // 60)
        if 0 <= minute < minutes:
            dlv[minute].append((got - at) * 1000)
    for minute in range(minutes):
        inside = [s for s in samples if start + minute * 60 <= s["t"] < start + minute * 60 + 60]
        last = inside[-1] if inside else {}
        rows.append(
            {
                "minute": minute + 1,
                "published": len(pub[minute]),
                "publish_ms": percentiles(pub[minute]),
                "healthy_deliveries": len(dlv[minute]),
                "healthy_delivery_ms": percentiles(dlv[minute]),
                "rss_mb": last.get("rss_mb", {}),
                "fds": last.get("fds", {}),
                "db_mb": last.get("db_mb"),
            }
        )
    return rows


def verify(acked: dict[str, list[str]], received: dict[str, set[str]]) -> dict[str, Any]:
    """Every acknowledged message of every application reached its healthy endpoint."""
    missing = {
        app: [i for i in ids if i not in received.get(app, set())] for app, ids in acked.items()
    }
    lost = {app: ids for app, ids in missing.items() if ids}
    return {
        "acknowledged": sum(len(ids) for ids in acked.values()),
        "delivered_to_healthy": sum(len(ids) for ids in received.values()),
        "lost": sum(len(ids) for ids in lost.values()),
        "lost_examples": {app: ids[:5] for app, ids in lost.items()},
    }


def _wait_delivered(receiver: SoakReceiver, acked: dict[str, list[str]], limit: float) -> float:
    started = time.monotonic()
    want = {app: set(ids) for app, ids in acked.items()}
    while time.monotonic() - started < limit:
        got = receiver.received_ids()
        if all(ids <= got.get(app, set()) for app, ids in want.items()):
            break
        time.sleep(1.0)
    return time.monotonic() - started


def _after(events: list[dict[str, Any]], received: array[float], sent: array[float]) -> list[Any]:
    """Healthy-delivery latency in the 30 s after each fault (by publish time)."""
    found = []
    for event in events:
        window = [
            (got - at) * 1000
            for got, at in zip(received, sent, strict=True)
            if event["t"] <= at < event["t"] + 30
        ]
        found.append({**event, "next_30s_delivery_ms": percentiles(window)})
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    stem = args.output or ("soak" if args.minutes >= 10 else "soak-quick")
    for stale in remove_stale():
        say(f"removed a cluster left by a killed run: {stale}")
    procs.install_signal_cleanup()
    folder = Path(tempfile.mkdtemp(prefix=f"hookpost-bench-{os.getpid()}-"))
    seconds = args.minutes * 60
    results: dict[str, Any] = {
        "kind": "soak",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "minutes": args.minutes,
        "rate": args.rate,
        "style": SDK.name,
        "apps": {"total": APPS, "flaky": len(FLAKY_APPS), "slow": len(SLOW_APPS)},
        "settings": SETTINGS,
        "machine": machine.describe(),
        "uptime_before": os.popen("uptime").read().strip(),
    }
    cluster = publisher = receiver = deployment = None
    try:
        (folder / "code").mkdir()
        code_path, results["code"] = snapshot.take(folder / "code", args.code)
        hp.CODE_PATH = str(code_path)
        cluster = Cluster().start()
        results["postgres_cluster"] = cluster.describe()
        url = cluster.create_database("soak")
        receiver, publisher = SoakReceiver(), Publisher()
        deployment = hp.Deployment("soak", url, folder, kind="split", workers=2, env=SETTINGS)
        deployment.start()
        uids = setup_apps(deployment, publisher, receiver)
        say(f"publishing {args.rate:g} msg/s for {args.minutes:g} min to {len(uids)} apps")
        answer: dict[str, Any] = {}

        def publish() -> None:
            answer.update(
                publisher.paced(
                    deployment.url, hp.TOKEN, uids, args.rate, seconds, 256, style=SDK, record=True
                )
            )

        with Sampler(deployment, url) as sampler:
            start = time.time()
            faults = Faults(deployment, cluster, seconds)
            publishing = threading.Thread(target=publish, daemon=True)
            publishing.start()
            last_word = start
            while publishing.is_alive():
                publishing.join(0.5)
                faults.tick()
                if time.time() - last_word >= 60:
                    last_word = time.time()
                    say(f"  {int(last_word - start)} s; {len(sampler.samples)} samples")
            say("waiting for every acknowledged message to reach its healthy endpoint")
            results["final_wait_seconds"] = round(
                _wait_delivered(receiver, answer["acked"], 180), 1
            )
            deployment.check_alive()
        results["exit_codes"] = deployment.stop()
        publishes = array("d")
        publishes.frombytes(answer.pop("samples"))
        received, sent = receiver.timings()
        last_send = max(publishes[0::2], default=start)  # a slow API stretches the run
        minutes = max(1, int(-(-max(seconds, last_send - start) // 60)))
        results["publishing"] = {k: v for k, v in answer.items() if k != "acked"}
        results["minutes_table"] = per_minute(
            start, minutes, publishes, received, sent, sampler.samples
        )
        results["faults"] = _after(faults.events, received, sent)
        results["fault_errors"] = faults.errors
        results["receiver"] = receiver.summary()
        results["verification"] = verify(answer["acked"], receiver.received_ids())
        results["samples"] = sampler.samples
        results["log_problems"] = _log_problems(folder)
    finally:
        if deployment is not None:
            deployment.stop()
        for tool in (publisher, receiver):
            if tool is not None:
                tool.stop()
        if cluster is not None:
            cluster.stop()
        procs.stop_all()
        if args.keep:
            say(f"logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    results["uptime_after"] = os.popen("uptime").read().strip()
    as_json, as_md = soak_report.write(results, RESULTS, stem)
    say(f"done: {as_json} and {as_md}")
    print(as_md.read_text())
    return 0 if results["verification"]["lost"] == 0 else 1


def _log_problems(folder: Path) -> list[str]:
    """WARNING/ERROR lines the hookpost processes logged (first 30, deduplicated)."""
    seen: dict[str, None] = {}
    for log in sorted(folder.glob("soak*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if " WARNING " in line or " ERROR " in line or "Traceback" in line:
                seen.setdefault(f"{log.stem}: {line.split(' ', 2)[-1][:300]}", None)
    return list(seen)[:30]


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

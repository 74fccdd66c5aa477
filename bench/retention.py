"""Retention benchmark: publish and delivery throughput while a retention pass deletes a
seeded history, against the same load with retention off, on SQLite and on a private
PostgreSQL cluster.

    .venv/bin/python -m bench.retention                              # 500,000 rows per table
    .venv/bin/python -m bench.retention --rows 50000 --stores sqlite --output retention-quick

`--rows` N seeds N messages, N deliveries and N attempts (bench/seeding.py, set-based), all
older than HOOKPOST_ATTEMPT_RETENTION and with expired payloads: the pass deletes 2N rows
(attempts and deliveries) and expunges N payloads. The default N = 500,000 deletes 1,000,000.
Each phase publishes as fast as 64 clients can (`serve`, one endpoint on a local receiver) in
windows of `--window` seconds; with retention on, windows follow one another until the pass
has finished (its row in `retention_runs`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench import databases, machine, procs, seeding
from bench import hookpost_proc as hp
from bench.pgcluster import Cluster, remove_stale
from bench.publisher import CLIENT, Publisher
from bench.receiver import Receiver
from bench.stats import percentiles

RESULTS = Path(__file__).resolve().parent / "results"
OFF = {"HOOKPOST_RETENTION_INTERVAL": "0"}
_EXPIRE = "UPDATE messages SET expires_at = created_at + 1000000"  # a second after publishing
_LAST_RUN = (
    "SELECT started_at, finished_at, payloads, attempts, deliveries, idempotency_keys, "
    "freed_pages, error FROM retention_runs ORDER BY id DESC LIMIT 1"
)


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.retention", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000, help="seeded rows per table")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--batch", type=int, default=1000, help="HOOKPOST_RETENTION_BATCH")
    parser.add_argument("--window", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--baseline-windows", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="give up on a pass")
    parser.add_argument("--output", default="retention")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args(argv)


class Run:
    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.args = args
        self.folder = folder
        self.receiver = Receiver()
        self.publisher = Publisher()
        self.port = self.receiver.listen()
        self.cluster: Cluster | None = None

    def url(self, store: str) -> str:
        if store == "sqlite":
            return databases.sqlite_url(self.folder, "retention")
        assert self.cluster is not None
        return self.cluster.create_database("retention")

    def deployment(self, url: str, name: str, env: dict[str, str]) -> hp.Deployment:
        deployment = hp.Deployment(name, url, self.folder, kind="serve", env=env)
        deployment.ready_timeout = 900.0
        return deployment.start()

    def measure(self, store: str) -> dict[str, Any]:
        url = self.url(store)
        self.deployment(url, f"{store}-migrate", OFF).stop()
        say(f"{store}: seeding {self.args.rows:,} rows per table")
        seeded = seeding.seed(url, seeding.Shape(rows=self.args.rows), _home_org(url), say)
        _execute(url, _EXPIRE)
        found: dict[str, Any] = {"store": store, "rows": self.args.rows, "seed": seeded}
        found["size_before"] = _size(url)
        say(f"{store}: baseline, retention off")
        deployment = self.deployment(url, f"{store}-off", OFF)
        try:
            app = self.app(deployment, "off")
            found["off"] = [self.window(deployment, app) for _ in range(self.args.baseline_windows)]
        finally:
            deployment.stop()
        say(f"{store}: retention on (the pass starts with the process)")
        on = {
            "HOOKPOST_RETENTION_INTERVAL": "1h",
            "HOOKPOST_ATTEMPT_RETENTION": "60s",
            "HOOKPOST_RETENTION_BATCH": str(self.args.batch),
        }
        deployment = self.deployment(url, f"{store}-on", on)
        windows: list[dict[str, Any]] = []
        started = time.monotonic()
        try:
            app = self.app(deployment, "on")
            while _last_run(url) is None and time.monotonic() - started < self.args.max_seconds:
                windows.append(self.window(deployment, app))
                say(f"  {windows[-1]['published_per_s']}/s published during the pass")
            windows.append({**self.window(deployment, app), "after_pass": True})
            deployment.check_alive()
        finally:
            deployment.stop()
        found["on"] = windows
        found["pass"] = _last_run(url)
        found["size_after"] = _size(url)
        return found

    def app(self, deployment: hp.Deployment, uid: str) -> str:
        app = self.publisher.create_app(deployment.url, hp.TOKEN, uid)
        self.publisher.create_endpoints(
            deployment.url, hp.TOKEN, app, [f"http://127.0.0.1:{self.port}/{uid}"]
        )
        return uid

    def window(self, deployment: hp.Deployment, uid: str) -> dict[str, Any]:
        """Publish flat out for one window; what was accepted and what was delivered in it."""
        self.receiver.reset(f"/{uid}")
        begun = time.time()
        sent = self.publisher.burst(
            deployment.url, hp.TOKEN, uid, 10**9, seconds=self.args.window, style=CLIENT
        )
        ended = time.time()
        delivered = [t for t in self.receiver.times() if begun <= t <= ended]
        return {
            "seconds": round(ended - begun, 2),
            "published_per_s": round(sent["accepted"] / (ended - begun), 1),
            "delivered_per_s": round(len(delivered) / (ended - begun), 1),
            "statuses": sent["statuses"],
            "publish_ms": sent["api_latency_ms"],
            "delivery_ms": percentiles([x * 1000 for x in self.receiver.latencies()]),
        }

    def close(self) -> None:
        self.publisher.stop()
        self.receiver.stop()


def _home_org(url: str) -> str:
    return str(_value(url, "SELECT org_id FROM api_keys ORDER BY created_at LIMIT 1"))


def _last_run(url: str) -> dict[str, Any] | None:
    names = ("started_at", "finished_at", "payloads", "attempts", "deliveries")
    names += ("idempotency_keys", "freed_pages", "error")
    row = _row(url, _LAST_RUN)
    if row is None:
        return None
    found = dict(zip(names, row, strict=True))
    found["seconds"] = round((found["finished_at"] - found["started_at"]) / 1e6, 1)
    found["deleted_rows"] = found["attempts"] + found["deliveries"]
    return found


def _size(url: str) -> dict[str, int]:
    if url.startswith("sqlite"):
        return {"database_file": Path(databases.sqlite_path(url)).stat().st_size}
    query = "SELECT pg_total_relation_size('{}')"
    return {t: int(_value(url, query.format(t))) for t in ("messages", "deliveries", "attempts")}


def _row(url: str, query: str) -> tuple[Any, ...] | None:
    if url.startswith("sqlite"):
        conn = sqlite3.connect(databases.sqlite_path(url), timeout=60)
        try:
            found = conn.execute(query).fetchone()
        finally:
            conn.close()
        return None if found is None else tuple(found)
    record = asyncio.run(_pg(url, "fetchrow", query))
    return None if record is None else tuple(record)


def _value(url: str, query: str) -> Any:
    row = _row(url, query)
    return None if row is None else row[0]


def _execute(url: str, query: str) -> None:
    if url.startswith("sqlite"):
        conn = sqlite3.connect(databases.sqlite_path(url), timeout=60, isolation_level=None)
        try:
            conn.execute(query)
        finally:
            conn.close()
        return
    asyncio.run(_pg(url, "execute", query))
    asyncio.run(_pg(url, "execute", "VACUUM ANALYZE messages"))


async def _pg(url: str, method: str, query: str) -> Any:
    conn = await asyncpg.connect(databases.asyncpg_dsn(url), timeout=10)
    try:
        return await getattr(conn, method)(query)
    finally:
        await conn.close()


def summary(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| store | rows deleted | pass s | publish/s off | publish/s during | "
        "delivered/s off | delivered/s during |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        during = [w for w in row["on"] if not w.get("after_pass")] or row["on"]
        lines.append(
            f"| {row['store']} | {(row['pass'] or {}).get('deleted_rows', 0):,} | "
            f"{(row['pass'] or {}).get('seconds', '-')} | {_mean(row['off'], 'published_per_s')} | "
            f"{_mean(during, 'published_per_s')} | {_mean(row['off'], 'delivered_per_s')} | "
            f"{_mean(during, 'delivered_per_s')} |"
        )
    return "\n".join(lines) + "\n"


def _mean(windows: list[dict[str, Any]], key: str) -> float:
    return round(sum(w[key] for w in windows) / len(windows), 1) if windows else 0.0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    stores = [s for s in args.stores.split(",") if s in ("sqlite", "postgres")]
    for stale in remove_stale():
        say(f"removed a cluster left by a killed run: {stale}")
    procs.install_signal_cleanup()
    folder = Path(tempfile.mkdtemp(prefix=f"hookpost-bench-{os.getpid()}-"))
    results: dict[str, Any] = {
        "kind": "retention",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "args": vars(args),
        "rows": [],
    }
    run = None
    try:
        run = Run(args, folder)
        if "postgres" in stores:
            run.cluster = Cluster().start()
        for store in stores:
            results["rows"].append(run.measure(store))
    finally:
        if run is not None:
            run.close()
            if run.cluster is not None:
                run.cluster.stop()
        procs.stop_all()
        if args.keep:
            say(f"logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    results["load_after"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.output}.json").write_text(json.dumps(results, indent=2) + "\n")
    table = summary(results["rows"])
    notes = (
        f"`--rows {args.rows}` (rows per table; the pass deletes twice that), "
        f"`--batch {args.batch}`, `--window {args.window:g}`; started {results['started']}, "
        f"load {results['load_before']} before, {results['load_after']} after. "
        "Passes and windows in the JSON beside this file.\n\n"
    )
    (RESULTS / f"{args.output}.md").write_text(f"# Retention benchmark\n\n{notes}{table}")
    print(table)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

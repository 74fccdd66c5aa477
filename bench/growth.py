"""Growth benchmark: publish and delivery latency and throughput with 0, 1 M and 5 M rows
already in messages, deliveries and attempts, on SQLite and on a private PostgreSQL cluster.

    .venv/bin/python -m bench.growth                       # -> bench/results/growth.{json,md}
    .venv/bin/python -m bench.growth --sizes 0,100000 --stores sqlite --output growth-quick
    .venv/bin/python -m bench.growth --code 9cbb8b8 --code HEAD   # two versions, same data

Publishes go out as SDK users send them (an idempotency key on every request, the
application inline); the bare style of `bench/run` is measured beside them for comparison.
List older code first with `--code`: each version migrates the database in turn.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from bench import backlog, databases, explain, growth_report, machine, procs, seeding, snapshot
from bench import hookpost_proc as hp
from bench.pgcluster import Cluster, remove_stale
from bench.publisher import CLIENT, PLAIN, Publisher, Style
from bench.receiver import Receiver
from bench.stats import percentiles, steady_rate

RESULTS = Path(__file__).resolve().parent / "results"
R = TypeVar("R", bound="Run")
KEYED = Style(keyed=True)  # a key but no inline application: tells the two costs apart


@dataclass(frozen=True)
class Plan:
    rate: float = 100.0  # the fixed paced rate of the latency figures
    seconds: float = 20.0
    plain_seconds: float = 10.0
    burst_seconds: float = 8.0
    drain: int = 20_000
    retry_schedule: str = ",".join(["5"] * 40)


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.growth", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,1000000,5000000", help="rows per history table")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument(
        "--code", action="append", metavar="REF", help="git commit(s) to measure, oldest first"
    )
    parser.add_argument(
        "--old-max-rows",
        type=int,
        default=1_000_000,
        help="measure all but the last --code only up to this many rows (a scan is slow)",
    )
    parser.add_argument("--rate", type=float, default=Plan.rate)
    parser.add_argument("--seconds", type=float, default=Plan.seconds)
    parser.add_argument("--drain", type=int, default=Plan.drain)
    parser.add_argument("--output", default="growth")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args(argv)


class Run:
    """One growth run: the tools, the code versions, the cluster and what was measured."""

    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.folder = folder
        self.plan = Plan(rate=args.rate, seconds=args.seconds, drain=args.drain)
        self.old_max_rows = args.old_max_rows
        self.codes: dict[str, tuple[str, dict[str, Any]]] = {}
        for n, ref in enumerate(args.code or [None]):
            (folder / f"code{n}").mkdir()
            path, info = snapshot.take(folder / f"code{n}", ref)
            self.codes[info["commit"] + ("+wt" if ref is None else "")] = (str(path), info)
        self.receiver = Receiver()
        self.publisher = Publisher()
        self.port = self.receiver.listen()
        self.cluster: Cluster | None = None
        self.rows: list[dict[str, Any]] = []
        self.plans: dict[str, Any] = {}

    def store_url(self, store: str, name: str) -> str:
        """A new empty database `name` on `store`."""
        if store == "sqlite":
            return databases.sqlite_url(self.folder, name)
        assert self.cluster is not None
        return self.cluster.create_database(name)

    def drop(self, url: str) -> None:
        if url.startswith("sqlite"):
            for suffix in ("", "-wal", "-shm"):
                Path(databases.sqlite_path(url) + suffix).unlink(missing_ok=True)
        elif self.cluster is not None:
            self.cluster.drop_database(url.rsplit("/", 1)[1])

    def migrate(self, url: str, name: str) -> None:
        """Let the first code version create the schema (and the benchmark's organization)."""
        self.deployment(url, next(iter(self.codes)), f"{name}-migrate").stop()

    def deployment(self, url: str, code: str, name: str) -> hp.Deployment:
        hp.CODE_PATH = self.codes[code][0]
        env = {"HOOKPOST_RETRY_SCHEDULE": self.plan.retry_schedule}
        deployment = hp.Deployment(name, url, self.folder, kind="serve", env=env)
        deployment.ready_timeout = 900.0
        return deployment.start()

    def measure_size(self, store: str, size: int) -> None:
        url = self.store_url(store, f"growth{size}")
        try:
            self.migrate(url, f"{store}-{size}")
            say(f"{store}: seeding {size:,} rows per table")
            seeded = seeding.seed(url, seeding.Shape(rows=size), home_org(url), say)
            sizes = _table_sizes(url)
            for code in self.codes:
                if code != list(self.codes)[-1] and size > self.old_max_rows:
                    continue
                say(f"{store}, {size:,} rows, code {code}")
                row = {"store": store, "rows": size, "code": code, "seed": seeded}
                row["table_bytes"] = sizes
                row.update(self.phases(url, code, f"{store}-{size}-{code}", explain_too=True))
                self.rows.append(row)
        finally:
            self.drop(url)

    def phases(self, url: str, code: str, name: str, *, explain_too: bool) -> dict[str, Any]:
        found: dict[str, Any] = {"load_before": load()}
        deployment = self.deployment(url, code, name)
        try:
            tag = f"g{len(self.rows)}"
            client = self.client_app(deployment, f"{tag}-client")
            self.publisher.paced(deployment.url, hp.TOKEN, client, 50, 3, style=CLIENT)  # warm
            found["client"] = self.paced(deployment, client, CLIENT, self.plan.seconds)
            if explain_too:
                plans = self.explained(
                    url,
                    lambda: self.publisher.paced(
                        deployment.url, hp.TOKEN, client, 50, 3, style=CLIENT
                    ),
                )
                if plans is not None:
                    found["plans"] = plans
            keyed = self.client_app(deployment, f"{tag}-keyed")
            found["keyed"] = self.paced(deployment, keyed, KEYED, self.plan.plain_seconds)
            plain = self.client_app(deployment, f"{tag}-plain")
            found["plain"] = self.paced(deployment, plain, PLAIN, self.plan.plain_seconds)
            found["burst"] = self.burst(deployment, client)
            found["drain"] = self.drain(deployment, f"{tag}-drain")
            deployment.check_alive()
        finally:
            found["exit_codes"] = deployment.stop()
        found["load_after"] = load()
        return found

    @property
    def admin_dsn(self) -> str:
        assert self.cluster is not None
        return self.cluster.admin_dsn

    def explained(self, url: str, action: Callable[[], object]) -> dict[str, Any] | None:
        """The plans of the hot statements while `action` runs (PostgreSQL only: None on
        SQLite). Plans as hookpost runs them, logged apart: logging slows what it watches."""
        if url.startswith("sqlite") or self.cluster is None:
            return None
        offset = self.cluster.log.stat().st_size
        explain.switch(self.admin_dsn, True)
        try:
            action()
            time.sleep(1.0)  # statements still running when the action returned are logged
        finally:
            explain.switch(self.admin_dsn, False)
        return explain.collect(self.cluster.log, offset)

    def client_app(self, deployment: hp.Deployment, uid: str) -> str:
        """An application (by uid) with one endpoint on the receiver at /<uid>."""
        app = self.publisher.create_app(deployment.url, hp.TOKEN, uid)
        url = f"http://127.0.0.1:{self.port}/{uid}"
        self.publisher.create_endpoints(deployment.url, hp.TOKEN, app, [url])
        return uid

    def paced(
        self,
        deployment: hp.Deployment,
        uid: str | list[str],
        style: Style,
        seconds: float,
        focus: str | None = None,
    ) -> dict[str, Any]:
        """Paced publishing to application `uid` (or round-robin over a list of them, whose
        endpoints' paths start with `focus`)."""
        self.receiver.reset(focus or f"/{uid}")
        with meter(deployment) as cpu:
            sent = self.publisher.paced(
                deployment.url, hp.TOKEN, uid, self.plan.rate, seconds, 64, style=style
            )
            got = self.receiver.wait_for(sent["accepted"], timeout=120, stall=15)
        return {
            **cpu_per(cpu, sent["accepted"]),
            "style": style.name,
            "rate": self.plan.rate,
            "achieved_rate": round(sent["achieved_rate"], 1),
            "sent": sent["sent"],
            "accepted": sent["accepted"],
            "statuses": sent["statuses"],
            "publish_ms": sent["api_latency_ms"],
            "delivered": got["count"],
            "duplicates": got["duplicates"],
            "delivery_ms": percentiles([x * 1000 for x in self.receiver.latencies()]),
        }

    def burst(
        self, deployment: hp.Deployment, uid: str | list[str], focus: str | None = None
    ) -> dict[str, Any]:
        """64 concurrent clients for `plan.burst_seconds` (to `uid` as `paced` does); CPU per
        message published and delivered."""
        self.receiver.reset(focus or f"/{uid}")
        with meter(deployment) as cpu:
            sent = self.publisher.burst(
                deployment.url,
                hp.TOKEN,
                uid,
                10**9,
                seconds=self.plan.burst_seconds,
                style=CLIENT,
            )
            got = self.receiver.wait_for(sent["accepted"], timeout=180, stall=15)
        return {
            **cpu_per(cpu, sent["accepted"]),
            "style": CLIENT.name,
            "rate": round(sent["rate"], 1),
            "accepted": sent["accepted"],
            "statuses": sent["statuses"],
            "publish_ms": sent["api_latency_ms"],
            "delivered": got["count"],
        }

    def drain(self, deployment: hp.Deployment, uid: str) -> dict[str, Any]:
        """Deliveries/s of a held backlog of `plan.drain` made due at once."""
        app = self.publisher.create_app(deployment.url, hp.TOKEN, uid)
        url = f"http://127.0.0.1:{self.port}/{uid}"
        endpoints = self.publisher.create_endpoints(deployment.url, hp.TOKEN, app, [url])
        backlog.seed(deployment.database_url, app, endpoints, self.plan.drain, held=True)
        self.receiver.reset(f"/{uid}")
        with meter(deployment) as cpu:
            released = time.time()
            backlog.release(deployment.database_url, app)
            got = self.receiver.wait_for(self.plan.drain, timeout=300, stall=15)
        whole = (got["last"] - released) if got["count"] else 0.0
        return {
            **cpu_per(cpu, got["count"]),
            "backlog": self.plan.drain,
            "delivered": got["count"],
            "duplicates": got["duplicates"],
            "rate": round(steady_rate(self.receiver.times()), 1),
            "rate_from_release": round(got["count"] / whole, 1) if whole else 0.0,
        }

    def close(self) -> None:
        self.publisher.stop()
        self.receiver.stop()


def meter(deployment: hp.Deployment) -> hp.CpuMeter:
    url = deployment.database_url
    return hp.CpuMeter(deployment.pids(), None if url.startswith("sqlite") else url.rsplit("/")[-1])


def cpu_per(cpu: hp.CpuMeter, published: int) -> dict[str, Any]:
    """CPU milliseconds per published (and delivered) message: hookpost's processes, and
    PostgreSQL's backends for this database; a machine busy with other work barely moves it."""
    if not published:
        return {}
    found = {"hookpost_cpu_ms": cpu.hookpost_ms_per(published)}
    if "postgres" in cpu.used:
        found["postgres_cpu_ms"] = round(cpu.used["postgres"] * 1000 / published, 3)
    return found


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def home_org(url: str) -> str:
    """The organization of the benchmark's API key (hookpost created it on first start)."""
    query = "SELECT org_id FROM api_keys ORDER BY created_at LIMIT 1"
    if url.startswith("sqlite"):
        conn = sqlite3.connect(databases.sqlite_path(url))
        try:
            return str(conn.execute(query).fetchone()[0])
        finally:
            conn.close()
    return str(asyncio.run(_pg_value(url, query)))


def _table_sizes(url: str) -> dict[str, int]:
    tables = ("messages", "deliveries", "attempts")
    if url.startswith("sqlite"):
        return {"database_file": Path(databases.sqlite_path(url)).stat().st_size}
    query = "SELECT pg_total_relation_size('{}')"
    return {t: int(asyncio.run(_pg_value(url, query.format(t)))) for t in tables}


async def _pg_value(url: str, query: str) -> Any:
    conn = await asyncpg.connect(databases.asyncpg_dsn(url), timeout=10)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


def header(kind: str) -> dict[str, Any]:
    """The start of a run's results: what ran, when, where, and how busy the machine was."""
    return {
        "kind": kind,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(),
        "uptime_before": _uptime(),
        "load_before": load(),
    }


def footer(results: dict[str, Any], started: float) -> None:
    results["seconds"] = round(time.monotonic() - started, 1)
    results["load_after"] = load()
    results["uptime_after"] = _uptime()


@contextlib.contextmanager
def session(
    make: Callable[[Path], R], stores: list[str], results: dict[str, Any], *, keep: bool
) -> Iterator[R]:
    """A run made by `make` in a temporary folder, with the private cluster when PostgreSQL
    is measured; every child, the cluster and the folder are gone when it ends, however."""
    for stale in remove_stale():
        say(f"removed a cluster left by a killed run: {stale}")
    procs.install_signal_cleanup()
    folder = Path(tempfile.mkdtemp(prefix=f"hookpost-bench-{os.getpid()}-"))
    run = None
    try:
        run = make(folder)
        results["plan"] = run.plan.__dict__
        results["codes"] = {label: info for label, (_, info) in run.codes.items()}
        if "postgres" in stores:
            run.cluster = Cluster().start()
            results["postgres_cluster"] = run.cluster.describe()
        yield run
    finally:
        if run is not None:
            run.close()
            if run.cluster is not None:
                run.cluster.stop()
        procs.stop_all()
        if keep:
            say(f"logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    stores = [s for s in args.stores.split(",") if s in ("sqlite", "postgres")]
    started = time.monotonic()
    results = {**header("growth"), "sizes": sizes}
    with session(lambda folder: Run(args, folder), stores, results, keep=args.keep) as run:
        for store in stores:
            for size in sizes:
                run.measure_size(store, size)
                results["rows"] = run.rows
                footer(results, started)
                growth_report.write(results, RESULTS, args.output)  # partial results kept
    footer(results, started)
    announce(growth_report.write(results, RESULTS, args.output), results)
    return 0


def announce(written: tuple[Path, Path], results: dict[str, Any]) -> None:
    """Say where the results are, and print the Markdown page."""
    as_json, as_md = written
    say(f"done in {results['seconds']:.0f} s: {as_json} and {as_md}")
    print(as_md.read_text())


def _uptime() -> str:
    try:
        return os.popen("uptime").read().strip()
    except OSError:
        return ""


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

"""How cost grows (issue 13): the drain rate with 10,000 / 100,000 / 1,000,000 rows of history,
the publish rate and latency with 10 / 10,000 / 100,000 applications, and one message to
10,000 endpoints; on SQLite and on a private PostgreSQL cluster, `hookpost serve`, with the
plans of the hot statements on PostgreSQL at the smallest and the largest size.

    .venv/bin/python -m bench.scale              # about 10 minutes -> bench/results/scale.{json,md}
    .venv/bin/python -m bench.scale --quick      # about 2 minutes  -> bench/results/scale-quick.*
    .venv/bin/python -m bench.scale --stores postgres --code HEAD~2 --output scale-old

Publishes go out as the SDK sends them (an idempotency key on every request, the application
inline). History, applications and endpoints are written straight into the tables (set-based
SQL, `seeding.py` and `seed_apps.py`); the backlogs with `backlog.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import backlog, growth, scale_report, seed_apps, seeding
from bench import hookpost_proc as hp
from bench.growth import RESULTS, cpu_per, home_org, load, meter, say
from bench.publisher import CLIENT


@dataclass(frozen=True)
class Sizes:
    history: tuple[int, ...]  # rows already in deliveries and attempts (and messages)
    apps: tuple[int, ...]  # applications, one endpoint each
    fanout: tuple[int, ...]  # endpoints of the one application a fan-out message goes to
    fanout_rounds: int
    drain: int  # the backlog drained at each history size
    burst_seconds: float
    paced_seconds: float
    rate: float = 100.0  # paced publishing
    # Publishing over the fewest applications again at the end of each store's run: the
    # drift of the machine over the run (a drain at the smallest history size costs more).
    again: bool = True
    plan_backlog: int = 2_000  # drained while plans are logged (claim and record under load)


FULL = Sizes((10_000, 100_000, 1_000_000), (10, 10_000, 100_000), (1_000, 10_000), 2, 20_000, 8, 10)
QUICK = Sizes((10_000, 100_000), (10, 10_000), (1_000, 10_000), 1, 10_000, 4, 5, again=False)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, shorter phases")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--code", metavar="REF", help="git commit to measure (default: worktree)")
    parser.add_argument("--output", help="results name (default scale, or scale-quick)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args(argv)


class Scale(growth.Run):
    """The growth benchmark's tools (receiver, publisher, deployments, cluster, plans), run
    over the sizes of issue 13."""

    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.sizes = QUICK if args.quick else FULL
        tools = argparse.Namespace(
            rate=self.sizes.rate,
            seconds=self.sizes.paced_seconds,
            drain=self.sizes.drain,
            code=[args.code] if args.code else None,
            old_max_rows=0,
        )
        super().__init__(tools, folder)
        self.plan = dataclasses.replace(self.plan, burst_seconds=self.sizes.burst_seconds)
        self.code = next(iter(self.codes))

    @contextlib.contextmanager
    def fresh(self, store: str, name: str) -> Iterator[str]:
        """A new database on `store`, migrated, with the benchmark's organization; dropped
        when the block ends."""
        url = self.store_url(store, name)
        try:
            self.migrate(url, f"{store}-{name}")
            yield url
        finally:
            self.drop(url)

    @contextlib.contextmanager
    def serving(self, url: str, name: str, found: dict[str, Any]) -> Iterator[hp.Deployment]:
        """`hookpost serve` on `url` for the block; the load before and after, and how every
        process exited, go into `found`."""
        found["load_before"] = load()
        deployment = self.deployment(url, self.code, name)
        try:
            yield deployment
            deployment.check_alive()
        finally:
            found["exit_codes"] = deployment.stop()
        found["load_after"] = load()

    # --- 1. drain with history ------------------------------------------------------------

    def history(self, store: str, rows: int, *, plans: bool) -> dict[str, Any]:
        found: dict[str, Any] = {"store": store, "rows": rows}
        with self.fresh(store, f"history{rows}") as url:
            say(f"{store}: {rows:,} rows of history")
            found["seed"] = seeding.seed(url, seeding.Shape(rows=rows), home_org(url), say)
            with self.serving(url, f"{store}-history{rows}", found) as deployment:
                found["drain"] = self.drain(deployment, f"h{rows}-drain")
                if plans:
                    found["plans"] = self.explained(url, lambda: self.plan_traffic(deployment))
        return found

    def plan_traffic(self, deployment: hp.Deployment) -> None:
        """What the plans are logged for: a small backlog drained (claim and record with work
        to do), then SDK-style publishing at 50/s for 3 s (key lookup, application and
        endpoints, insert)."""
        uid = f"plans-{len(self.rows)}-{time.monotonic_ns()}"
        app = self.publisher.create_app(deployment.url, hp.TOKEN, uid)
        url = f"http://127.0.0.1:{self.port}/{uid}"
        endpoints = self.publisher.create_endpoints(deployment.url, hp.TOKEN, app, [url])
        count = self.sizes.plan_backlog
        backlog.seed(deployment.database_url, app, endpoints, count, held=True)
        self.receiver.reset(f"/{uid}")
        backlog.release(deployment.database_url, app)
        self.receiver.wait_for(count, timeout=120, stall=15)
        self.publisher.paced(deployment.url, hp.TOKEN, uid, 50, 3, style=CLIENT)

    # --- 2. publishing over many applications, 3. fan-out ---------------------------------

    def applications(self, store: str, count: int, *, plans: bool, fanout: bool) -> dict[str, Any]:
        found: dict[str, Any] = {"store": store, "apps": count}
        with self.fresh(store, f"apps{count}") as url:
            say(f"{store}: {count:,} applications")
            org, receiver = home_org(url), f"http://127.0.0.1:{self.port}"
            found["seed_seconds"] = seed_apps.seed(
                url, org, count, 1, uid_prefix="scale-", endpoint_url=f"{receiver}/apps/"
            )
            for n in self.sizes.fanout if fanout else ():
                seed_apps.seed(
                    url, org, 1, n, uid_prefix=f"fanout{n}-", endpoint_url=f"{receiver}/fanout{n}/"
                )
            with self.serving(url, f"{store}-apps{count}", found) as deployment:
                found.update(self.publishing(deployment, count))
                if plans:
                    spread = _spread(count, 150)
                    found["plans"] = self.explained(
                        url,
                        lambda: self.publisher.paced(
                            deployment.url, hp.TOKEN, spread, 50, 3, style=CLIENT
                        ),
                    )
                if fanout:
                    found["fanout"] = self.fanout(deployment)
        return found

    def publishing(self, deployment: hp.Deployment, count: int) -> dict[str, Any]:
        """Burst and paced publishing, each message to an application drawn uniformly from
        all `count` of them (so lookups see the whole table, not a few hot rows)."""
        self.receiver.reset("/apps/")
        spread = _spread(count, 150)
        warm = self.publisher.paced(deployment.url, hp.TOKEN, spread, 50, 3, style=CLIENT)
        self.receiver.wait_for(warm["accepted"], timeout=60, stall=10)  # none left over
        burst = self.burst(deployment, _spread(count, 60_000), focus="/apps/")
        paced_count = int(self.sizes.rate * self.sizes.paced_seconds)
        spread = _spread(count, paced_count)
        paced = self.paced(deployment, spread, CLIENT, self.sizes.paced_seconds, focus="/apps/")
        return {"burst": burst, "paced": paced}

    def fanout(self, deployment: hp.Deployment) -> dict[str, Any]:
        """One message to each fan-out application in turn, interleaved over the rounds."""
        rounds = [
            self.fan_once(deployment, n)
            for _ in range(self.sizes.fanout_rounds)
            for n in self.sizes.fanout
        ]
        found: dict[str, Any] = {"rounds": rounds}
        url = deployment.database_url
        for n in (min(self.sizes.fanout), max(self.sizes.fanout)):
            # The plans of the publish and of the first claims and recordings are enough: the
            # rest of the fan-out is not waited for (the deployment stops after this).
            plans = self.explained(url, lambda n=n: self.fan_start(deployment, n))
            if plans is not None:
                found.setdefault("plans", {})[str(n)] = plans
        return found

    def fan_start(self, deployment: hp.Deployment, endpoints: int) -> None:
        self.receiver.reset(f"/fanout{endpoints}/", track_paths=True)
        uid = f"fanout{endpoints}-1"
        self.publisher.burst(deployment.url, hp.TOKEN, uid, 1, concurrency=1, style=CLIENT)
        self.receiver.wait_for(min(endpoints, 500), timeout=20, stall=10)

    def fan_once(self, deployment: hp.Deployment, endpoints: int) -> dict[str, Any]:
        """Publish one message to the application with `endpoints` endpoints; time until the
        last one arrives (from the publish request), and deliveries/s over that time."""
        self.receiver.reset(f"/fanout{endpoints}/", track_paths=True)
        with meter(deployment) as cpu:
            sent = self.publisher.burst(
                deployment.url, hp.TOKEN, f"fanout{endpoints}-1", 1, concurrency=1, style=CLIENT
            )
            got = self.receiver.wait_for(endpoints, timeout=180, stall=15)
        latencies = self.receiver.latencies()
        last = max(latencies) if latencies else 0.0
        return {
            "endpoints": endpoints,
            "statuses": sent["statuses"],
            "publish_ms": sent["api_latency_ms"].get("p50"),
            "delivered": got["count"],
            "duplicates": got["duplicates"],
            "distinct_endpoints": got["paths"],
            "first_ms": round(min(latencies) * 1000, 1) if latencies else None,
            "last_ms": round(last * 1000, 1) if latencies else None,
            "rate": round(got["count"] / last, 1) if last else 0.0,
            **cpu_per(cpu, got["count"]),
        }


def _spread(count: int, k: int) -> list[str]:
    """`k` application uids drawn uniformly (with replacement) from all `count`."""
    return [f"scale-{n}" for n in random.choices(range(1, count + 1), k=k)]


def measure(run: Scale, stores: list[str], results: dict[str, Any], output: str) -> None:
    sizes, started = run.sizes, time.monotonic()
    results.setdefault("history", [])
    results.setdefault("apps", [])

    def keep(part: str, row: dict[str, Any], again: bool = False) -> None:
        results[part].append({**row, "again": again})
        growth.footer(results, started)
        scale_report.write(results, RESULTS, output)  # partial results kept

    for store in stores:
        ends = (min(sizes.history), max(sizes.history))
        for rows in sizes.history:
            keep("history", run.history(store, rows, plans=rows in ends))
        ends = (min(sizes.apps), max(sizes.apps))
        for count in sizes.apps:
            row = run.applications(store, count, plans=count in ends, fanout=count == ends[1])
            keep("apps", row)
        if sizes.again:
            keep("apps", run.applications(store, min(sizes.apps), plans=False, fanout=False), True)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    stores = [s for s in args.stores.split(",") if s in ("sqlite", "postgres")]
    output = args.output or ("scale-quick" if args.quick else "scale")
    started = time.monotonic()
    results = {**growth.header("scale"), "quick": args.quick}
    with growth.session(lambda f: Scale(args, f), stores, results, keep=args.keep) as run:
        results["sizes"] = dataclasses.asdict(run.sizes)
        results["reference_fanout"] = scale_report.reference_fanout()
        measure(run, stores, results, output)
    growth.footer(results, started)
    growth.announce(scale_report.write(results, RESULTS, output), results)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

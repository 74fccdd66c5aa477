"""Isolation under attack: customer B's delivery latency at a steady rate, first alone, then
while customer A's endpoints hang or fail (issue: no customer's endpoint can slow another's).

    .venv/bin/python -m bench.attack                      # every layout, ~4 minutes
    .venv/bin/python -m bench.attack --only sqlite-serve  # one layout

Attacks (default settings: 15 s request timeout, 64 slots per worker, 16 per endpoint):
- `hanging`: 200 messages to one endpoint that never answers, 64 more over four such
  endpoints, 20 endpoints answering 500 with a message each second;
- `thousand`: 1,000 applications with one hanging endpoint and one message each.
Goal: B's p99 under attack within 100 ms of its p99 alone. Writes bench/results/attack.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench import databases, hookpost_proc, snapshot
from bench.hookpost_proc import TOKEN, Deployment
from bench.stats import percentiles

RESULTS = Path(__file__).parent / "results"
LAYOUTS = {
    "sqlite-serve": ("sqlite", "serve", 0),
    "postgres-serve": ("postgres", "serve", 0),
    "postgres-split": ("postgres", "split", 2),
}
RATE = 20.0  # B's messages per second
MEASURED = 300  # B's messages per phase (15 s at RATE)
GOAL_MS = 100.0


class Receivers:
    """B's endpoint (records latency), hanging endpoints and failing endpoints, on one port."""

    def __init__(self) -> None:
        self.received: dict[int, float] = {}
        self.hanging = 0
        self._never = asyncio.Event()
        self._news = asyncio.Event()

    async def arrived(self, wanted: set[int]) -> None:
        """Return once every message in `wanted` has arrived."""
        while not wanted <= self.received.keys():
            self._news.clear()
            await self._news.wait()

    async def start(self) -> int:
        app = web.Application()
        app.router.add_post("/b", self._b)
        app.router.add_post("/hang/{n}", self._hang)
        app.router.add_post("/fail/{n}", self._fail)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _b(self, request: web.Request) -> web.Response:
        self.received[json.loads(await request.read())["n"]] = time.perf_counter()
        self._news.set()
        return web.Response(status=204)

    async def _hang(self, _request: web.Request) -> web.Response:
        self.hanging += 1
        await self._never.wait()
        return web.Response(status=204)

    async def _fail(self, _request: web.Request) -> web.Response:
        return web.Response(status=500)


async def _app(api: aiohttp.ClientSession, name: str, urls: list[str]) -> str:
    async with api.post("/api/v1/app", json={"name": name}) as made:
        made.raise_for_status()
        app_id = str((await made.json())["id"])
    for url in urls:
        async with api.post(f"/api/v1/app/{app_id}/endpoint", json={"url": url}) as answer:
            answer.raise_for_status()
    return app_id


async def _publish(api: aiohttp.ClientSession, app_id: str, payload: dict[str, Any]) -> None:
    body = {"eventType": "attack.sent", "payload": payload}
    headers = {"idempotency-key": os.urandom(12).hex()}  # as the svix SDK sends
    async with api.post(f"/api/v1/app/{app_id}/msg", json=body, headers=headers) as answer:
        await answer.read()
        answer.raise_for_status()


async def _many(count: int, work: Any) -> None:
    limit = asyncio.Semaphore(32)

    async def one(n: int) -> None:
        async with limit:
            await work(n)

    await asyncio.gather(*(one(n) for n in range(count)))


async def _measure_b(
    api: aiohttp.ClientSession, receivers: Receivers, app_id: str, first: int
) -> list[float]:
    """Publish MEASURED messages to B at RATE; publish -> receive latency of each, in ms."""
    sent: dict[int, float] = {}
    start = time.perf_counter()
    tasks = []
    for k in range(MEASURED):
        n = first + k
        await asyncio.sleep(max(0.0, start + k / RATE - time.perf_counter()))
        sent[n] = time.perf_counter()
        tasks.append(asyncio.create_task(_publish(api, app_id, {"n": n})))
    await asyncio.gather(*tasks)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(receivers.arrived(set(sent)), timeout=60)
    return [(receivers.received[n] - sent[n]) * 1000 for n in sent if n in receivers.received]


async def _attack_hanging(api: aiohttp.ClientSession, base: str) -> asyncio.Task[None]:
    flooded = await _app(api, "A-flooded", [f"{base}/hang/0"])
    others = [await _app(api, f"A-{n}", [f"{base}/hang/{n}"]) for n in range(1, 5)]
    failing = await _app(api, "A-failing", [f"{base}/fail/{n}" for n in range(20)])
    await _many(200, lambda n: _publish(api, flooded, {"n": n}))
    for app_id in others:
        await _many(16, lambda n, a=app_id: _publish(api, a, {"n": n}))

    async def keep_failing() -> None:
        n = 0
        while True:
            await _publish(api, failing, {"n": n})
            n += 1
            await asyncio.sleep(1.0)

    return asyncio.create_task(keep_failing())


async def _attack_thousand(api: aiohttp.ClientSession, base: str) -> None:
    async def one(n: int) -> None:
        app_id = await _app(api, f"dead-{n}", [f"{base}/hang/{n}"])
        await _publish(api, app_id, {"n": n})

    await _many(1000, one)


async def _scenario(url: str, attack: str) -> dict[str, Any]:
    receivers = Receivers()
    port = await receivers.start()
    base = f"http://127.0.0.1:{port}"
    background: asyncio.Task[None] | None = None
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with aiohttp.ClientSession(url, headers=headers) as api:
            b = await _app(api, "B", [f"{base}/b"])
            await _measure_b(api, receivers, b, 1_000_000)  # warm-up, not reported
            alone = await _measure_b(api, receivers, b, 0)
            started = time.perf_counter()
            if attack == "hanging":
                background = await _attack_hanging(api, base)
            else:
                await _attack_thousand(api, base)
            setup_s = time.perf_counter() - started
            attacked = await _measure_b(api, receivers, b, MEASURED)
            hanging = receivers.hanging
    finally:
        if background is not None:
            background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await background
        await receivers.stop()
    before, during = percentiles(alone), percentiles(attacked)
    return {
        "attack": attack,
        "alone_ms": before,
        "attacked_ms": during,
        "delivered": f"{len(attacked)}/{MEASURED}",
        "hanging_requests_open": hanging,
        "attack_setup_s": round(setup_s, 1),
        "p99_increase_ms": round(during.get("p99", 0) - before.get("p99", 0), 2),
        "goal_met": len(attacked) == MEASURED
        and during.get("p99", 1e9) - before.get("p99", 0) <= GOAL_MS,
    }


def _run_layout(name: str, attack: str) -> dict[str, Any]:
    backend, kind, workers = LAYOUTS[name]
    with tempfile.TemporaryDirectory(prefix="hookpost-attack-") as folder:
        if backend == "sqlite":
            url = f"sqlite:///{Path(folder) / 'attack.sqlite3'}"
        else:
            url = databases.create_postgres("attack")
        deployment = Deployment(name, url, Path(folder), kind=kind, workers=workers).start()
        try:
            result = asyncio.run(_scenario(deployment.url, attack))
        finally:
            deployment.stop()
            if backend == "postgres":
                databases.drop_postgres(url)
    return {"layout": name, **result}


def _markdown(rows: list[dict[str, Any]], load: str, code: dict[str, Any]) -> str:
    lines = [
        "# Isolation under attack",
        "",
        f"Code: {code.get('source')} at {code.get('commit')} ({code.get('subject', '')[:70]}).",
        "",
        f"B publishes {RATE:g} msg/s ({MEASURED} measured per phase, idempotency key on each);"
        f" publish -> receive latency in ms. Goal: p99 under attack within {GOAL_MS:g} ms of"
        " alone. Load average at the end: " + load,
        "",
        "| layout | attack | alone p50/p95/p99 | attacked p50/p95/p99 | delivered | p99 +ms |"
        " goal |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:

        def trio(p: dict[str, float]) -> str:
            return f"{p.get('p50', 0):.1f} / {p.get('p95', 0):.1f} / {p.get('p99', 0):.1f}"

        lines.append(
            f"| {row['layout']} | {row['attack']} | {trio(row['alone_ms'])} |"
            f" {trio(row['attacked_ms'])} | {row['delivered']} | {row['p99_increase_ms']} |"
            f" {'met' if row['goal_met'] else 'MISSED'} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(LAYOUTS))
    parser.add_argument("--attack", action="append", choices=["hanging", "thousand"])
    parser.add_argument("--output", default="attack")
    parser.add_argument("--code", metavar="REF", help="measure this commit (default: tree)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="hookpost-attack-code-"))
    code_path, code = snapshot.take(folder, args.code)
    hookpost_proc.CODE_PATH = str(code_path)
    print(f"code: {code.get('commit')} {code.get('subject', '')[:60]}", flush=True)
    rows = []
    for name in args.only or list(LAYOUTS):
        for attack in args.attack or ["hanging", "thousand"]:
            print(f"{name}: {attack}", flush=True)
            rows.append(_run_layout(name, attack))
            print(json.dumps(rows[-1]), flush=True)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    RESULTS.mkdir(exist_ok=True)
    results = {"load": load, "code": code, "rows": rows}
    (RESULTS / f"{args.output}.json").write_text(json.dumps(results, indent=2))
    (RESULTS / f"{args.output}.md").write_text(_markdown(rows, load, code))
    print(_markdown(rows, load, code))


if __name__ == "__main__":
    main()

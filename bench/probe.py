"""A latency probe: where the time of publish → receive goes, at a paced rate.

    .venv/bin/python -m bench.probe --backend postgres --layout serve --rate 200 --count 1600

Unlike `bench/run`, the publisher and the receiver share one process and one clock, so each
message's time splits exactly into *publish* (request sent → 202 read) and *commit →
receive* (202 read → request received; negative when the delivery overtakes the 202). It is a
quick instrument for a change, not the reference: `bench/run` is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from bench import databases
from bench.hookpost_proc import TOKEN, Deployment


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    if not ordered:
        return "no data"

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return f"p50 {at(0.5):6.1f}  p95 {at(0.95):6.1f}  p99 {at(0.99):6.1f} ms"


async def probe(base: str, rate: float, count: int, warm_up: int) -> dict[str, list[float]]:
    """Publish `warm_up` messages (not measured: processes still starting, first connections),
    then `count` at `rate`; the three times of each delivered message."""
    received: dict[int, float] = {}
    warmed, everything = asyncio.Event(), asyncio.Event()
    total = warm_up + count

    async def receive(request: web.Request) -> web.Response:
        received[json.loads(await request.read())["n"]] = time.perf_counter()
        if len(received) >= warm_up:
            warmed.set()
        if len(received) >= total:
            everything.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/probe", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    headers = {"Authorization": f"Bearer {TOKEN}"}
    sent: dict[int, float] = {}
    acked: dict[int, float] = {}
    try:
        async with aiohttp.ClientSession(base, headers=headers) as api:
            made = await api.post("/api/v1/app", json={"name": "probe", "uid": "probe"})
            made.raise_for_status()
            hook = {"url": f"http://127.0.0.1:{port}/probe"}
            (await api.post("/api/v1/app/probe/endpoint", json=hook)).raise_for_status()

            async def publish(n: int) -> None:
                sent[n] = time.perf_counter()
                body = {"eventType": "probe.sent", "payload": {"n": n}}
                async with api.post("/api/v1/app/probe/msg", json=body) as answer:
                    await answer.read()
                    answer.raise_for_status()
                acked[n] = time.perf_counter()

            start = time.perf_counter()
            tasks = []
            for n in range(total):
                if n == warm_up:  # measure from here, once the warm-up has arrived
                    await asyncio.gather(*tasks)
                    await asyncio.wait_for(warmed.wait(), timeout=60)
                    start = time.perf_counter() - n / rate
                await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
                tasks.append(asyncio.create_task(publish(n)))
            await asyncio.gather(*tasks)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(everything.wait(), timeout=30)
    finally:
        await runner.cleanup()
    done = [n for n in range(warm_up, total) if n in received and n in acked]
    return {
        "publish": [acked[n] - sent[n] for n in done],
        "commit → receive": [received[n] - acked[n] for n in done],
        "publish → receive": [received[n] - sent[n] for n in done],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--layout", choices=["serve", "split"], default="serve")
    parser.add_argument("--workers", type=int, default=2, help="worker processes when split")
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second")
    parser.add_argument("--count", type=int, default=1600)
    parser.add_argument("--warm-up", type=int, default=100, help="messages not measured")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hookpost-probe-") as folder:
        if args.backend == "sqlite":
            url = f"sqlite:///{Path(folder) / 'probe.sqlite3'}"
        else:
            url = databases.create_postgres("probe")
        deployment = Deployment(
            "probe", url, Path(folder), kind=args.layout, workers=args.workers
        ).start()
        try:
            times = asyncio.run(probe(deployment.url, args.rate, args.count, args.warm_up))
        finally:
            deployment.stop()
            if args.backend == "postgres":
                databases.drop_postgres(url)
    print(f"{args.backend} {args.layout}, {args.rate:g} msg/s, {len(times['publish'])} messages")
    for name, values in times.items():
        print(f"  {name:<18} {percentiles(values)}")
    sys.exit(0 if len(times["publish"]) == args.count else 1)


if __name__ == "__main__":
    main()

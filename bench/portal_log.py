"""Portal message-log page time with 100,000 messages: p50/p95 of whole page requests.

Seeds one application with N messages (and a delivery of each to one endpoint) straight
into the database, then times GET /portal/messages variants against a real `hookpost serve`.

    .venv/bin/python -m bench.portal_log [--messages 100000] [--backend sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import httpx
import sqlalchemy as sa

from bench.databases import create_postgres, drop_postgres
from bench.hookpost_proc import TOKEN, free_port
from hookpost.core.ids import make_id
from hookpost.store.database import Database
from hookpost.store.schema import applications, deliveries, messages

REQUESTS = 200  # per variant, after 20 unmeasured warm-up requests
WARMUP = 20


async def seed(url: str, org_id: str, app_id: str, endpoint_id: str, count: int) -> str:
    """Insert `count` messages spread over the last 10 days; returns one message id."""
    db = Database(url)
    now = datetime.now(UTC)
    step = timedelta(days=10) / count
    batch_m: list[dict[str, object]] = []
    batch_d: list[dict[str, object]] = []
    some_id = ""
    try:
        for i in range(count):
            at = now - timedelta(days=10) + step * i
            us = int(at.timestamp() * 1_000_000)
            msg_id = make_id("msg_", at, os.urandom(15))
            some_id = msg_id if i == count // 2 else some_id
            batch_m.append(
                {
                    "id": msg_id,
                    "org_id": org_id,
                    "app_id": app_id,
                    "event_type": ("invoice.paid", "invoice.failed")[i % 2],
                    "event_id": f"evt-{i}",
                    "channels": None,
                    "tags": None,
                    "payload": json.dumps({"i": i, "amount": 1250}).encode(),
                    "raw_payload": False,
                    "idempotency_key": None,
                    "created_at": us,
                    "expires_at": us + 90 * 86_400_000_000,
                }
            )
            batch_d.append(
                {
                    "id": make_id("msgep_", at, os.urandom(15)),
                    "org_id": org_id,
                    "app_id": app_id,
                    "msg_id": msg_id,
                    "endpoint_id": endpoint_id,
                    "state": ("succeeded", "failed")[i % 7 == 0],
                    "trigger": 0,
                    "attempts": 1,
                    "next_attempt_at": None,
                    "claim_token": None,
                    "created_at": us,
                    "updated_at": us,
                }
            )
            if len(batch_m) == 5000 or i == count - 1:
                async with db.write() as conn:
                    await conn.execute(messages.insert(), batch_m)
                    await conn.execute(deliveries.insert(), batch_d)
                batch_m, batch_d = [], []
        if not db.is_sqlite:
            # What autovacuum does soon after a bulk load; without it the planner guesses.
            async with db.write() as conn:
                await conn.execute(sa.text("ANALYZE messages"))
                await conn.execute(sa.text("ANALYZE deliveries"))
    finally:
        await db.close()
    return some_id


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(backend: str, count: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        if backend == "sqlite":
            url = f"sqlite:///{Path(folder) / 'portal.sqlite3'}"
            return measure(url, folder, count, backend)
        url = create_postgres("portal")
        try:
            return measure(url, folder, count, backend)
        finally:
            drop_postgres(url)


def measure(url: str, folder: str, count: int, backend: str) -> dict[str, object]:
    port = free_port()
    env = {
        **os.environ,
        "HOOKPOST_DATABASE_URL": url,
        "HOOKPOST_API_TOKEN": TOKEN,
        "HOOKPOST_PORT": str(port),
        "HOOKPOST_ALLOWED_NETWORKS": "127.0.0.0/8",
        "HOOKPOST_LOG_LEVEL": "warning",
    }
    log = (Path(folder) / "server.log").open("wb")
    command = [sys.executable, "-m", "hookpost", "serve"]
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        api = httpx.Client(base_url=base, headers={"authorization": f"Bearer {TOKEN}"})
        for _ in range(200):
            try:
                if api.get("/api/v1/health/ping").status_code == 204:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        app = api.post("/api/v1/app", json={"name": "bench", "uid": "bench"}).json()
        for name in ("invoice.paid", "invoice.failed"):
            api.post("/api/v1/event-type", json={"name": name, "description": name})
        endpoint = api.post(
            "/api/v1/app/bench/endpoint", json={"url": "http://127.0.0.1:9/x", "disabled": True}
        ).json()
        org_id = asyncio.run(_org_of(url, app["id"]))
        started = time.monotonic()
        middle = asyncio.run(seed(url, org_id, app["id"], endpoint["id"], count))
        seeded = time.monotonic() - started
        link = api.post("/api/v1/auth/app-portal-access/bench", json={}).json()["url"]
        portal = httpx.Client(base_url=base)
        parsed = urlparse(link)
        assert portal.get(f"{parsed.path}?{parsed.query}").status_code == 303
        first = portal.get("/portal/messages").text
        older = first.split('id="older" href="')[1].split('"')[0].replace("&amp;", "&")
        variants = {
            "first page": "/portal/messages",
            "second page (keyset)": older,
            "event type filter": "/portal/messages?event_type=invoice.failed",
            "endpoint + status=fail": f"/portal/messages?endpoint={endpoint['id']}&status=fail",
            "date range (one day)": "/portal/messages?since={0}&until={0}".format(
                (datetime.now(UTC) - timedelta(days=5)).date().isoformat()
            ),
            "search by message id": f"/portal/messages?search={middle}",
            "search by event id": f"/portal/messages?search=evt-{count // 3}",
        }
        results = {}
        for name, path in variants.items():
            for _ in range(WARMUP):
                assert portal.get(path).status_code == 200
            times = []
            for _ in range(REQUESTS):
                t0 = time.perf_counter()
                response = portal.get(path)
                times.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200
            results[name] = {
                "p50_ms": round(statistics.median(times), 2),
                "p95_ms": round(percentile(times, 0.95), 2),
            }
        return {"backend": backend, "messages": count, "seed_seconds": round(seeded, 1), **results}
    finally:
        server.terminate()
        server.wait(20)


async def _org_of(url: str, app_id: str) -> str:
    db = Database(url)
    try:
        async with db.read() as conn:
            query = applications.select().where(applications.c.id == app_id)
            row = (await conn.execute(query)).first()
            assert row is not None
            return str(row.org_id)
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    result = run(args.backend, args.messages)
    text = json.dumps(result, indent=2)
    out = Path(__file__).parent / "results" / f"portal-log-{args.backend}.json"
    out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

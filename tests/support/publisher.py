"""Publish many messages concurrently over the raw HTTP API and remember which were acknowledged.

The checker compares these acknowledged ids with what receivers got.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.support.server import TOKEN


async def _publish_all(
    base_url: str, app_id: str, count: int, concurrency: int, event_type: str
) -> list[str]:
    acked: list[str] = []
    limit = asyncio.Semaphore(concurrency)
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:

        async def one(n: int) -> None:
            body: dict[str, Any] = {"eventType": event_type, "payload": {"n": n}}
            async with limit:
                response = await client.post(f"/api/v1/app/{app_id}/msg", json=body)
            if response.status_code == 202:
                acked.append(response.json()["id"])

        await asyncio.gather(*(one(n) for n in range(count)))
    return acked


def publish_many(
    base_url: str,
    app_id: str,
    count: int,
    *,
    concurrency: int = 32,
    event_type: str = "invoice.paid",
) -> list[str]:
    """Publish `count` messages; returns the ids the API acknowledged (202)."""
    return asyncio.run(_publish_all(base_url, app_id, count, concurrency, event_type))


async def _statuses(base_url: str, app_id: str, count: int) -> dict[str, int]:
    headers = {"authorization": f"Bearer {TOKEN}"}
    found: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        for n in range(count):
            body = {"eventType": "invoice.paid", "payload": {"n": n}}
            response = await client.post(f"/api/v1/app/{app_id}/msg", json=body)
            key = response.json().get("id", f"refused-{n}")
            found[key] = response.status_code
    return found


def publish_statuses(base_url: str, app_id: str, count: int) -> dict[str, int]:
    """Publish one at a time; message id (or a placeholder) -> HTTP status of each."""
    return asyncio.run(_statuses(base_url, app_id, count))

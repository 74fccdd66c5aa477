"""The publishing client, in its own process: aiohttp bursts from ~64 concurrent clients
or paced publishing at a fixed rate; it also creates applications and endpoints.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import orjson

from bench.procs import Remote, answer
from bench.stats import percentiles
from bench.wire import idempotency_key, publish_body


@dataclass(frozen=True)
class Style:
    """How requests look: `keyed` sends an `idempotency-key` on every publish (as the svix
    SDK does); `inline` puts the application (`{"uid", "name"}`) in every body, so the API
    creates it on first use. `Style()` is the older bare publish, kept for comparison."""

    keyed: bool = False
    inline: bool = False
    retries: int = 0  # the SDK retries 5xx and lost connections, with the same key

    @property
    def name(self) -> str:
        base = self._base_name
        return f"{base}+retries" if self.retries else base

    @property
    def _base_name(self) -> str:
        if not (self.keyed or self.inline):
            return "plain"
        return "+".join(n for n, on in (("keyed", self.keyed), ("inline", self.inline)) if on)


CLIENT = Style(keyed=True, inline=True)  # what an SDK user sends: the default for figures
PLAIN = Style()


class Api:
    def __init__(self, base: str, token: str, connections: int) -> None:
        self.base = base
        self.headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections),
            timeout=aiohttp.ClientTimeout(total=60),
        )

    async def post(self, path: str, body: bytes, *, key: str | None = None) -> tuple[int, bytes]:
        headers = self.headers if key is None else {**self.headers, "idempotency-key": key}
        async with self.session.post(self.base + path, data=body, headers=headers) as r:
            return r.status, await r.read()

    async def publish(self, app: str, index: int, style: Style) -> tuple[int, bytes]:
        """`app` is the application's id, or its uid when `style.inline`. Retries (when the
        style says so) resend the same body and key after 50, 100, 200 ms... as the SDK does."""
        inline = {"uid": app, "name": app} if style.inline else None
        body = publish_body(index, application=inline)
        key = idempotency_key() if style.keyed else None
        for attempt in range(style.retries + 1):
            try:
                status, answer = await self.post(f"/api/v1/app/{app}/msg", body, key=key)
            except (aiohttp.ClientError, TimeoutError):
                if attempt == style.retries:
                    raise
                status, answer = 599, b""
            if status < 500 or attempt == style.retries:
                return status, answer
            await asyncio.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        await self.session.close()


async def create_app(base: str, token: str, uid: str) -> str:
    api = Api(base, token, 4)
    try:
        status, body = await api.post("/api/v1/app", orjson.dumps({"name": uid, "uid": uid}))
    finally:
        await api.close()
    if status != 201:
        raise RuntimeError(f"creating app {uid}: {status} {body[:300]!r}")
    return str(orjson.loads(body)["id"])


async def create_endpoints(base: str, token: str, app: str, urls: list[str]) -> list[str]:
    api = Api(base, token, 16)
    ids: list[str] = [""] * len(urls)
    queue = list(enumerate(urls))

    async def lane() -> None:
        while queue:
            index, url = queue.pop()
            status, body = await api.post(f"/api/v1/app/{app}/endpoint", orjson.dumps({"url": url}))
            if status != 201:
                raise RuntimeError(f"creating endpoint {url}: {status} {body[:300]!r}")
            ids[index] = orjson.loads(body)["id"]

    try:
        await asyncio.gather(*(lane() for _ in range(16)))
    finally:
        await api.close()
    return ids


async def burst(
    base: str,
    token: str,
    app: str | list[str],
    count: int,
    concurrency: int,
    seconds: float | None,
    style: Style = PLAIN,
) -> dict[str, Any]:
    """Publish up to `count` messages (for at most `seconds`) from `concurrency` clients as
    fast as the API accepts them, to `app` (or round-robin over a list of them)."""
    apps = [app] if isinstance(app, str) else list(app)
    api = Api(base, token, concurrency)
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    remaining = iter(range(count))
    per_second: Counter[int] = Counter()
    first, started = time.time(), time.perf_counter()
    deadline = None if seconds is None else started + seconds

    async def client() -> None:
        for index in remaining:
            if deadline is not None and time.perf_counter() > deadline:
                return
            sent = time.perf_counter()
            status, _ = await api.publish(apps[index % len(apps)], index, style)
            done = time.perf_counter()
            latencies.append(done - sent)
            statuses[status] += 1
            per_second[int(done - started)] += status == 202

    try:
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await api.close()
    accepted = statuses.get(202, 0)
    return {
        "sent": sum(statuses.values()),
        "accepted": accepted,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "seconds": elapsed,
        "rate": accepted / elapsed,
        "first_sent": first,
        "concurrency": concurrency,
        "api_latency_ms": percentiles([x * 1000 for x in latencies]),
        "accepted_per_second": [per_second[i] for i in range(int(elapsed) + 1)],
    }


async def paced(
    base: str,
    token: str,
    app: str | list[str],
    rate: float,
    seconds: float,
    max_in_flight: int,
    style: Style = PLAIN,
    record: bool = False,
) -> dict[str, Any]:
    """Publish at `rate` messages/s for `seconds`, each on its own schedule slot, to `app`
    (or round-robin over a list of them). `record` also returns every publish's send time and
    latency (`samples`: pairs of doubles) and the id of every acknowledged message by app."""
    apps = [app] if isinstance(app, str) else list(app)
    api = Api(base, token, max_in_flight)
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    samples = array("d")
    acked: dict[str, list[str]] = {a: [] for a in apps}
    slots = asyncio.Semaphore(max_in_flight)
    count = int(rate * seconds)
    late = 0

    async def one(index: int) -> None:
        target = apps[index % len(apps)]
        try:
            sent, started = time.time(), time.perf_counter()
            try:
                status, body = await api.publish(target, index, style)
            except (aiohttp.ClientError, TimeoutError):
                status, body = 599, b""  # no answer: not acknowledged
            latency = time.perf_counter() - started
            latencies.append(latency)
            statuses[status] += 1
            if record:
                samples.extend((sent, latency))
                if status == 202:
                    acked[target].append(orjson.loads(body)["id"])
        finally:
            slots.release()

    tasks = []
    try:
        start = time.perf_counter()
        cutoff = start + seconds * 1.5 + 5  # an API that cannot keep up ends the phase
        for index in range(count):
            if time.perf_counter() > cutoff:
                break
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.05:
                late += 1
            await slots.acquire()
            tasks.append(asyncio.create_task(one(index)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    finally:
        await api.close()
    found: dict[str, Any] = {
        "sent": len(tasks),
        "accepted": statuses.get(202, 0),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "target_rate": rate,
        "achieved_rate": len(tasks) / elapsed,
        "late_sends": late,
        "style": style.name,
        "api_latency_ms": percentiles([x * 1000 for x in latencies]),
    }
    if record:
        found["samples"] = samples.tobytes()
        found["acked"] = acked
    return found


def _main(conn: Connection) -> None:
    import uvloop  # noqa: PLC0415 - child process only

    loop = uvloop.new_event_loop()

    def sync(function: Any) -> Any:
        return lambda **kwargs: loop.run_until_complete(function(**kwargs))

    handlers = {
        "create_app": sync(create_app),
        "create_endpoints": sync(create_endpoints),
        "burst": sync(burst),
        "paced": sync(paced),
    }
    while answer(conn, handlers):
        pass
    loop.close()


class Publisher:
    """The benchmark's handle on the publishing process (bound to one hookpost API)."""

    def __init__(self) -> None:
        self.remote = Remote(_main, "publisher")

    def create_app(self, base: str, token: str, uid: str) -> str:
        return str(self.remote.call("create_app", base=base, token=token, uid=uid))

    def create_endpoints(self, base: str, token: str, app: str, urls: list[str]) -> list[str]:
        found = self.remote.call("create_endpoints", base=base, token=token, app=app, urls=urls)
        return list(found)

    def burst(
        self,
        base: str,
        token: str,
        app: str | list[str],
        count: int,
        *,
        seconds: float | None = None,
        concurrency: int = 64,
        style: Style = PLAIN,
    ) -> Any:
        return self.remote.call(
            "burst",
            base=base,
            token=token,
            app=app,
            count=count,
            concurrency=concurrency,
            seconds=seconds,
            style=style,
        )

    def paced(
        self,
        base: str,
        token: str,
        app: str | list[str],
        rate: float,
        seconds: float,
        max_in_flight: int = 256,
        *,
        style: Style = PLAIN,
        record: bool = False,
    ) -> Any:
        return self.remote.call(
            "paced",
            deadline=seconds * 2 + 300,
            base=base,
            token=token,
            app=app,
            rate=rate,
            seconds=seconds,
            max_in_flight=max_in_flight,
            style=style,
            record=record,
        )

    def stop(self) -> None:
        self.remote.stop()

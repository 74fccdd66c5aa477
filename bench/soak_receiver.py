"""The soak's receiver, in its own process: healthy endpoints answer 200 at once, flaky ones
answer 500 at random, slow ones after 1-3 s; it records what each healthy endpoint received.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import traceback
from array import array
from multiprocessing.connection import Connection
from typing import Any

import orjson
from aiohttp import web

from bench.procs import Remote

FLAKY_FAILURES = 0.3  # share of requests a flaky endpoint answers with a 500
SLOW_SECONDS = (1.0, 3.0)


class Book:
    """Per healthy endpoint (path /healthy/<app>): the webhook ids received; for every
    request to a healthy endpoint: receive time and publish-send time; counts by kind."""

    def __init__(self) -> None:
        self.ids: dict[str, set[str]] = {}
        self.duplicates = 0
        self.received = array("d")
        self.sent = array("d")
        self.counts: dict[str, int] = {"healthy": 0, "flaky": 0, "flaky_500": 0, "slow": 0}

    async def handle(self, request: web.Request) -> web.Response:
        kind, app = request.match_info["kind"], request.match_info["app"]
        body = await request.read()
        now = time.time()
        if kind == "healthy":
            self.counts["healthy"] += 1
            seen = self.ids.setdefault(app, set())
            msg_id = request.headers.get("webhook-id", "")
            if msg_id in seen:
                self.duplicates += 1
            seen.add(msg_id)
            self.received.append(now)
            self.sent.append(float(orjson.loads(body)["t"]))
            return web.Response(status=200, text="ok")
        if kind == "flaky":
            self.counts["flaky"] += 1
            if random.random() < FLAKY_FAILURES:
                self.counts["flaky_500"] += 1
                return web.Response(status=500, text="flaky")
            return web.Response(status=200, text="ok")
        self.counts["slow"] += 1
        await asyncio.sleep(random.uniform(*SLOW_SECONDS))
        return web.Response(status=200, text="ok")

    def timings(self) -> tuple[bytes, bytes]:
        return self.received.tobytes(), self.sent.tobytes()

    def received_ids(self) -> dict[str, list[str]]:
        return {app: sorted(ids) for app, ids in self.ids.items()}

    def summary(self) -> dict[str, Any]:
        return {
            **self.counts,
            "duplicates": self.duplicates,
            "healthy_distinct": sum(len(v) for v in self.ids.values()),
        }


def _main(conn: Connection) -> None:
    import uvloop  # noqa: PLC0415 - child process only

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    book = Book()
    app = web.Application()
    app.router.add_post("/{kind:healthy|flaky|slow}/{app}", book.handle)
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    done = loop.create_future()

    def commands() -> None:
        handlers = {
            "port": lambda: port,
            "timings": book.timings,
            "received_ids": book.received_ids,
            "summary": book.summary,
        }
        while True:
            try:
                name, kwargs = conn.recv()
            except EOFError:
                name, kwargs = "exit", {}
            if name == "exit":
                loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None))
                return

            async def run(name: str = name, kwargs: Any = kwargs) -> Any:
                return handlers[name](**kwargs)

            try:
                value = asyncio.run_coroutine_threadsafe(run(), loop).result()
                conn.send(("ok", value))
            except Exception:
                conn.send(("error", traceback.format_exc()))

    threading.Thread(target=commands, daemon=True).start()
    loop.run_until_complete(done)
    loop.run_until_complete(runner.cleanup())
    loop.close()


class SoakReceiver:
    def __init__(self) -> None:
        self.remote = Remote(_main, "soak-receiver")
        self.port = int(self.remote.call("port"))

    def url(self, kind: str, app: str) -> str:
        return f"http://127.0.0.1:{self.port}/{kind}/{app}"

    def timings(self) -> tuple[array[float], array[float]]:
        received, sent = array("d"), array("d")
        raw_received, raw_sent = self.remote.call("timings")
        received.frombytes(raw_received)
        sent.frombytes(raw_sent)
        return received, sent

    def received_ids(self) -> dict[str, set[str]]:
        return {app: set(ids) for app, ids in self.remote.call("received_ids").items()}

    def summary(self) -> dict[str, Any]:
        return dict(self.remote.call("summary"))

    def stop(self) -> None:
        self.remote.stop()

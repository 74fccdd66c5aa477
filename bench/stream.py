"""Messages per second through one live stream (SSE) and through `hookpost listen`.

A backlog is published first, then read from its start: one SSE connection, then one
`listen` forwarding (re-signed) to a local receiver. Run: .venv/bin/python -m bench.stream
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from pathlib import Path

import httpx

from bench.hookpost_proc import TOKEN, Deployment, free_port
from hookpost.remote.connection import Connection
from hookpost.remote.event_stream import read_events
from hookpost.remote.listen import Listener, new_secret

AUTH = {"authorization": f"Bearer {TOKEN}"}
START = "msg_" + "0" * 27  # before every message: read the backlog from its beginning
RESPONSE = b"HTTP/1.1 204 No Content\r\n\r\n"


async def publish(url: str, app_id: str, count: int, concurrency: int = 32) -> float:
    started = time.perf_counter()
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=60) as client:

        async def one(n: int) -> None:
            body = {"eventType": "bench.event", "payload": {"n": n, "pad": "x" * 200}}
            async with limit:
                answer = await client.post(f"/api/v1/app/{app_id}/msg", json=body)
            answer.raise_for_status()

        await asyncio.gather(*(one(n) for n in range(count)))
    return count / (time.perf_counter() - started)


def through_stream(url: str, app_id: str, count: int) -> float:
    started = time.perf_counter()
    got = 0
    with httpx.Client(base_url=url, headers=AUTH, timeout=60) as client:
        headers = {"last-event-id": START}
        with client.stream("GET", f"/api/v1/app/{app_id}/stream", headers=headers) as answer:
            for _ in read_events(answer):
                got += 1
                if got == count:
                    break
    return count / (time.perf_counter() - started)


def _serve_204(port: int) -> None:
    class Answer(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            # One request per write from httpx; bodies are small enough to arrive whole.
            self.transport.write(RESPONSE * data.count(b"webhook-id:"))  # type: ignore[attr-defined]

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", port)
        await server.serve_forever()

    asyncio.run(main())


def through_listen(url: str, app_id: str, count: int) -> float:
    port = free_port()
    receiver = multiprocessing.Process(target=_serve_204, args=(port,), daemon=True)
    receiver.start()
    time.sleep(0.5)
    seen = 0

    def count_line(_line: str) -> None:
        nonlocal seen
        seen += 1
        if seen == count:
            listener.stopped.set()

    listener = Listener(
        Connection(url, TOKEN),
        app_id,
        f"http://127.0.0.1:{port}/hook",
        secret=new_secret(),
        last_event_id=START,
        say=count_line,
    )
    started = time.perf_counter()
    listener.run()
    rate = count / (time.perf_counter() - started)
    receiver.terminate()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--listen-messages", type=int, default=5_000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        deployment = Deployment("stream", url, Path(folder)).start()
        try:
            app_id = httpx.post(
                f"{deployment.url}/api/v1/app", json={"name": "bench-stream"}, headers=AUTH
            ).json()["id"]
            published = asyncio.run(publish(deployment.url, app_id, args.messages))
            stream_rate = through_stream(deployment.url, app_id, args.messages)
            listen_rate = through_listen(deployment.url, app_id, args.listen_messages)
        finally:
            deployment.stop()
    print(f"publish (backlog, 32 in flight):  {published:8.0f} msg/s")
    print(f"one SSE stream, backlog:          {stream_rate:8.0f} msg/s ({args.messages})")
    print(f"hookpost listen, re-sign+forward: {listen_rate:8.0f} msg/s ({args.listen_messages})")


if __name__ == "__main__":
    main()

"""Ceiling (a): signed 1 KB POSTs to the receiver at 64 in flight, nothing stored: what one
Python process can send, the bound on any sender. One workload, three clients:

- `aiohttp` (a): the client hookpost's sender used until issue 13;
- `minimal` (a2): `bench.minimal_http`, an asyncio Protocol with httptools' parser;
- `pyreqwest` (a3): the Rust (reqwest/hyper) client, if it is installed;
- `hookpost` (a4): hookpost's own transport (`hookpost.delivery.http1`) with its guard,
  deadlines and caps, outside the sender (no `Outcome` built).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from multiprocessing.connection import Connection
from typing import Any

from bench.procs import Remote, answer
from bench.wire import SECRET, payload_bytes, webhook_headers
from hookpost.core.signing import signature_header

# (path, headers, body) -> status
Post = Callable[[dict[str, str], bytes], Awaitable[int]]
CLIENTS = ("aiohttp", "minimal", "pyreqwest", "hookpost")


async def _aiohttp(stack: AsyncExitStack, url: str, in_flight: int) -> Post:
    import aiohttp  # noqa: PLC0415

    connector = aiohttp.TCPConnector(limit=in_flight * 2)
    session = await stack.enter_async_context(
        aiohttp.ClientSession(
            connector=connector, skip_auto_headers=("Accept-Encoding", "User-Agent")
        )
    )

    async def post(headers: dict[str, str], body: bytes) -> int:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            return response.status

    return post


async def _minimal(stack: AsyncExitStack, url: str, in_flight: int) -> Post:  # noqa: ARG001
    from bench.minimal_http import MinimalClient  # noqa: PLC0415

    host_port = url.split("/")[2]
    host, port = host_port.rsplit(":", 1)
    path = "/" + url.split("/", 3)[3]
    client = MinimalClient(host, int(port))
    stack.callback(client.close)

    async def post(headers: dict[str, str], body: bytes) -> int:
        status, _ = await client.post(path, headers, body)
        return status

    return post


async def _pyreqwest(stack: AsyncExitStack, url: str, in_flight: int) -> Post:
    from pyreqwest.client import ClientBuilder  # noqa: PLC0415

    client = await stack.enter_async_context(
        ClientBuilder().max_connections(in_flight * 2).error_for_status(False).build()
    )

    async def post(headers: dict[str, str], body: bytes) -> int:
        response = await client.post(url).headers(headers).body_bytes(body).build().send()
        await response.bytes()
        return int(response.status)

    return post


async def _hookpost(stack: AsyncExitStack, url: str, in_flight: int) -> Post:
    from hookpost.core.addresses import AddressPolicy, parse_allowed_networks  # noqa: PLC0415
    from hookpost.core.urls import ParsedUrl, parse_endpoint_url  # noqa: PLC0415
    from hookpost.delivery.http1 import Http1Client  # noqa: PLC0415
    from hookpost.delivery.resolver import GuardedResolver  # noqa: PLC0415

    async def lookup(host: str, _port: int) -> list[str]:
        return [host]

    guard = GuardedResolver(AddressPolicy(parse_allowed_networks("127.0.0.0/8")), lookup=lookup)
    client = Http1Client(
        guard,
        connect_timeout=5.0,
        max_response_bytes=65536,
        max_connections=in_flight * 2,
        ssl_context=None,
    )
    stack.push_async_callback(client.close)
    parsed = parse_endpoint_url(url, policy=guard.policy)
    assert isinstance(parsed, ParsedUrl), parsed

    async def post(headers: dict[str, str], body: bytes) -> int:
        answer = await client.request("POST", parsed, headers, body, deadline=15.0)
        return answer.status

    return post


_MAKERS = {
    "aiohttp": _aiohttp,
    "minimal": _minimal,
    "pyreqwest": _pyreqwest,
    "hookpost": _hookpost,
}


async def _post_many(port: int, count: int, in_flight: int, client: str) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/ceiling"
    next_index = 0
    failures = 0

    async with AsyncExitStack() as stack:
        post = await _MAKERS[client](stack, url, in_flight)

        async def lane() -> None:
            nonlocal next_index, failures
            while next_index < count:
                index = next_index
                next_index += 1
                body = payload_bytes(index)
                msg_id = f"msg_ceiling{index}"
                stamp = int(time.time())
                signature = signature_header([SECRET], msg_id, stamp, body)
                status = await post(webhook_headers(msg_id, stamp, signature), body)
                failures += status != 200

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(lane() for _ in range(in_flight)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "requests": count,
        "failures": failures,
        "seconds": elapsed,
        "rate": count / elapsed,
        "cpu_ms_per_request": round(cpu * 1000 / count, 3),
    }


def _main(conn: Connection) -> None:
    import uvloop  # noqa: PLC0415 - child process only

    def run(port: int, count: int, in_flight: int, loop: str, client: str) -> Any:
        work = _post_many(port, count, in_flight, client)
        return uvloop.run(work) if loop == "uvloop" else asyncio.run(work)

    while answer(conn, {"run": run}):
        pass


def available(client: str) -> bool:
    """Whether `client` can run here (pyreqwest is an optional, benchmark-only package)."""
    if client != "pyreqwest":
        return True
    try:
        import pyreqwest  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def measure(
    port: int, count: int, in_flight: int = 64, loop: str = "uvloop", client: str = "aiohttp"
) -> dict[str, Any]:
    """Signed POSTs per second from a fresh process (warmed up with a short first round)."""
    if not available(client):
        return {"client": client, "error": f"{client} is not installed"}
    remote = Remote(_main, f"ceiling-http-{client}")
    try:
        args = {"port": port, "in_flight": in_flight, "loop": loop, "client": client}
        remote.call("run", count=min(count, 2000), **args)
        result = dict(remote.call("run", count=count, **args))
        result.update(in_flight=in_flight, loop=loop, client=client)
        return result
    finally:
        remote.stop()


if __name__ == "__main__":
    # Iterating: `.venv/bin/python -m bench.ceiling_http [COUNT] [CLIENT ...]` against a
    # fresh bench receiver, each client measured twice, interleaved.
    import sys

    from bench.receiver import Receiver

    total = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    chosen = sys.argv[2:] or list(CLIENTS)
    receiver = Receiver()
    listening = receiver.listen()
    try:
        for _ in range(2):
            for name in chosen:
                found = measure(listening, total, client=name)
                print(
                    name,
                    {k: found.get(k) for k in ("rate", "cpu_ms_per_request", "failures", "error")},
                )
    finally:
        receiver.close(listening)
        receiver.stop()

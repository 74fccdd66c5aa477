"""Ceiling (a): aiohttp POSTing signed 1 KB bodies to the receiver at 64 in flight,
nothing stored: what one Python process can send, the bound on any sender.
"""

from __future__ import annotations

import asyncio
import time
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from bench.procs import Remote, answer
from bench.wire import SECRET, payload_bytes, webhook_headers
from hookpost.core.signing import signature_header


async def _post_many(port: int, count: int, in_flight: int) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/ceiling"
    connector = aiohttp.TCPConnector(limit=in_flight * 2)
    next_index = 0
    failures = 0

    async with aiohttp.ClientSession(
        connector=connector, skip_auto_headers=("Accept-Encoding", "User-Agent")
    ) as session:

        async def lane() -> None:
            nonlocal next_index, failures
            while next_index < count:
                index = next_index
                next_index += 1
                body = payload_bytes(index)
                msg_id = f"msg_ceiling{index}"
                stamp = int(time.time())
                signature = signature_header([SECRET], msg_id, stamp, body)
                async with session.post(
                    url, data=body, headers=webhook_headers(msg_id, stamp, signature)
                ) as response:
                    await response.read()
                    failures += response.status != 200

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

    def run(port: int, count: int, in_flight: int, loop: str) -> Any:
        work = _post_many(port, count, in_flight)
        return uvloop.run(work) if loop == "uvloop" else asyncio.run(work)

    while answer(conn, {"run": run}):
        pass


def measure(port: int, count: int, in_flight: int = 64, loop: str = "uvloop") -> dict[str, Any]:
    """Signed POSTs per second from a fresh process (warmed up with a short first round)."""
    remote = Remote(_main, "ceiling-http")
    try:
        remote.call("run", port=port, count=min(count, 2000), in_flight=in_flight, loop=loop)
        result = dict(remote.call("run", port=port, count=count, in_flight=in_flight, loop=loop))
        result.update(in_flight=in_flight, loop=loop)
        return result
    finally:
        remote.stop()

"""The receiver's own capacity, measured with a raw pipelining client (batches of
1 KB POSTs per write on several connections), so it is known never to be the limit.
"""

from __future__ import annotations

import asyncio
import time
from multiprocessing.connection import Connection
from typing import Any

from bench.procs import Remote, answer
from bench.receiver import RESPONSE

BODY = b'{"t":0,"pad":"' + b"x" * 1000 + b'"}'
REQUEST = (
    b"POST /capacity HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)


async def _connection(port: int, batch: int, until: float) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    expected = len(RESPONSE) * batch
    while time.monotonic() < until:
        writer.write(REQUEST * batch)
        await reader.readexactly(expected)
        sent += batch
    writer.close()
    return sent


async def _hammer(port: int, seconds: float, connections: int, batch: int) -> dict[str, Any]:
    started = time.monotonic()
    counts = await asyncio.gather(
        *(_connection(port, batch, started + seconds) for _ in range(connections))
    )
    elapsed = time.monotonic() - started
    return {"requests": sum(counts), "seconds": elapsed, "rate": sum(counts) / elapsed}


def _main(conn: Connection) -> None:
    import uvloop  # noqa: PLC0415 - child process only

    def hammer(port: int, seconds: float, connections: int = 8, batch: int = 64) -> Any:
        return uvloop.run(_hammer(port, seconds, connections, batch))

    while answer(conn, {"hammer": hammer}):
        pass


def receiver_capacity(port: int, seconds: float) -> dict[str, Any]:
    """Requests per second the receiver answered under a pipelined load of `seconds`."""
    remote = Remote(_main, "capacity-client")
    try:
        return dict(remote.call("hammer", port=port, seconds=seconds))
    finally:
        remote.stop()

"""The fast receiver: an asyncio Protocol on uvloop, in its own process, answering 200 to
keep-alive POSTs, counting, timestamping, deduplicating and timing every delivery.
"""

from __future__ import annotations

import asyncio
import threading
import time
import traceback
from array import array
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, cast

from bench.procs import Remote

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
_HEAD_END = b"\r\n\r\n"
_LENGTH = b"\r\ncontent-length:"
_T = b'"t":'
_ID = b"\r\nwebhook-id:"


class Tally:
    """What the receiver saw since the last reset. Requests whose path starts with `focus`
    (the phase's own endpoints) are counted, timestamped and checked for duplicate
    `webhook-id`s; the rest (stragglers of earlier phases) are only counted as `other`."""

    def __init__(self, focus: bytes = b"/", track_paths: bool = False) -> None:
        self.focus = focus
        self.track_paths = track_paths
        self.count = 0
        self.other = 0
        self.duplicates = 0
        self.times = array("d")
        self.latencies = array("d")
        self.paths: set[bytes] = set()
        self.seen: set[bytes] = set()  # (webhook-id, path) of every focused request

    def reset(self, focus: str = "/", track_paths: bool = False) -> None:
        self.__init__(focus.encode(), track_paths)  # type: ignore[misc]

    def add(self, head: bytes, body: bytes, now: float) -> None:
        path = head[head.find(b" ") + 1 : head.find(b" http/")]
        if not path.startswith(self.focus):
            self.other += 1
            return
        self.count += 1
        self.times.append(now)
        sent = _sent_at(body)
        if sent is not None:
            self.latencies.append(now - sent)
        if self.track_paths:
            self.paths.add(path)
        at = head.find(_ID)
        if at >= 0:
            stop = head.find(b"\r\n", at + len(_ID))
            key = head[at + len(_ID) : stop if stop >= 0 else len(head)].strip() + b" " + path
            if key in self.seen:
                self.duplicates += 1
            else:
                self.seen.add(key)


class HttpCounter(asyncio.Protocol):
    """Parses just enough HTTP/1.1: the end of the headers and Content-Length."""

    def __init__(self, tally: Tally, open_set: set[HttpCounter]) -> None:
        self.tally = tally
        self.open_set = open_set
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.open_set.add(self)

    def connection_lost(self, _exc: Exception | None) -> None:
        self.open_set.discard(self)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        pos, answered, tally = 0, 0, self.tally
        while True:
            end = buffer.find(_HEAD_END, pos)
            if end < 0:
                break
            head = bytes(buffer[pos:end]).lower()
            at = head.find(_LENGTH)
            length = 0
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + len(_LENGTH) : stop if stop >= 0 else len(head)])
            total = end + 4 + length
            if len(buffer) < total:
                break
            tally.add(head, bytes(buffer[end + 4 : total]), time.time())
            pos = total
            answered += 1
        if pos:
            del buffer[:pos]
        if answered and self.transport is not None:
            self.transport.write(RESPONSE * answered)


def _sent_at(body: bytes) -> float | None:
    at = body.find(_T)
    if at < 0:
        return None
    start = at + len(_T)
    stop = start
    while stop < len(body) and body[stop] not in b",}":
        stop += 1
    try:
        return float(body[start:stop])
    except ValueError:
        return None


class ReceiverServer:
    """The receiver's process side: listeners by port, the tally, and the pipe commands."""

    def __init__(self, loop: asyncio.AbstractEventLoop, conn: Connection) -> None:
        self.loop = loop
        self.conn = conn
        self.tally = Tally()
        self.servers: dict[int, asyncio.Server] = {}
        self.connections: dict[int, set[HttpCounter]] = {}
        self.done = loop.create_future()

    async def listen(self, port: int = 0) -> int:
        opened: set[HttpCounter] = set()
        server = await self.loop.create_server(
            lambda: HttpCounter(self.tally, opened),
            "127.0.0.1",
            port,
            backlog=4096,
            reuse_address=True,
        )
        bound = int(server.sockets[0].getsockname()[1])
        self.servers[bound] = server
        self.connections[bound] = opened
        return bound

    async def close(self, port: int) -> None:
        """Stop listening on `port` and drop its connections: the receiver is down."""
        server = self.servers.pop(port)
        server.close()
        for protocol in list(self.connections.pop(port)):
            if protocol.transport is not None:
                protocol.transport.abort()
        await server.wait_closed()

    async def wait_for(self, count: int, limit: float, stall: float = 15.0) -> dict[str, Any]:
        """Wait until `count` requests arrived, or `limit` s, or no progress for `stall` s."""
        started = last_change = time.monotonic()
        seen = self.tally.count
        while self.tally.count < count:
            await asyncio.sleep(0.005)
            now = time.monotonic()
            if self.tally.count != seen:
                seen, last_change = self.tally.count, now
            if now - started > limit or now - last_change > stall:
                break
        return self.stats()

    def stats(self) -> dict[str, Any]:
        times = self.tally.times
        return {
            "count": self.tally.count,
            "first": times[0] if times else None,
            "last": times[-1] if times else None,
            "paths": len(self.tally.paths),
            "duplicates": self.tally.duplicates,
            "other": self.tally.other,
        }

    def handlers(self) -> dict[str, Callable[..., Any]]:
        return {
            "listen": self.listen,
            "close": self.close,
            "wait_for": self.wait_for,
            "stats": self.stats,
            "reset": self.tally.reset,
            "times": self.tally.times.tobytes,
            "latencies": self.tally.latencies.tobytes,
        }

    def serve_commands(self) -> None:
        """Answer pipe commands one by one (in a thread: the pipe stays a blocking one)."""
        while True:
            try:
                name, kwargs = self.conn.recv()
            except EOFError:
                name, kwargs = "exit", {}
            if name == "exit":
                self.loop.call_soon_threadsafe(self._finish)
                return
            future = asyncio.run_coroutine_threadsafe(self._run(name, kwargs), self.loop)
            try:
                self.conn.send(("ok", future.result()))
            except Exception:
                self.conn.send(("error", traceback.format_exc()))

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    async def _run(self, name: str, kwargs: dict[str, Any]) -> Any:
        value = self.handlers()[name](**kwargs)
        if asyncio.iscoroutine(value):
            value = await value
        return value


def receiver_main(conn: Connection) -> None:
    import uvloop  # noqa: PLC0415 - imported in the child process only

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    server = ReceiverServer(loop, conn)
    commands = threading.Thread(target=server.serve_commands, daemon=True)
    commands.start()
    loop.run_until_complete(server.done)
    for port in list(server.servers):
        loop.run_until_complete(server.close(port))
    loop.close()


class Receiver:
    """The benchmark's handle on the receiver process."""

    def __init__(self) -> None:
        self.remote = Remote(receiver_main, "receiver")

    def listen(self, port: int = 0) -> int:
        return int(self.remote.call("listen", port=port))

    def close(self, port: int) -> None:
        self.remote.call("close", port=port)

    def reset(self, focus: str = "/", track_paths: bool = False) -> None:
        """Start counting afresh, only requests to paths starting with `focus`."""
        self.remote.call("reset", focus=focus, track_paths=track_paths)

    def stats(self) -> dict[str, Any]:
        return dict(self.remote.call("stats"))

    def wait_for(self, count: int, timeout: float, stall: float = 15.0) -> dict[str, Any]:
        answer = self.remote.call(
            "wait_for", deadline=timeout + 30, count=count, limit=timeout, stall=stall
        )
        return dict(answer)

    def times(self) -> array[float]:
        values = array("d")
        values.frombytes(self.remote.call("times"))
        return values

    def latencies(self) -> array[float]:
        values = array("d")
        values.frombytes(self.remote.call("latencies"))
        return values

    def stop(self) -> None:
        self.remote.stop()

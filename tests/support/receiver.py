"""A real HTTP receiver on 127.0.0.1 that records every request and misbehaves on demand.

It is a small asyncio socket server (not a framework) so it can reset, hang, trickle,
redirect or answer garbage; it runs in its own thread so synchronous SDK tests can use it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    at: float


@dataclass
class Behaviour:
    """How to answer one request; `status` 0 with `mode` set means no HTTP answer."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    mode: str = "answer"  # answer | reset | close | hang | garbage | trickle
    # ... | raw (write `body` verbatim, then close) | raw_hold (verbatim, then hang)
    # ... | endless (status and headers, then `body` repeated until the client goes away)


Script = Callable[[Received], Behaviour]


class Receiver:
    def __init__(self, host: str = "127.0.0.1", *, tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.tls = tls
        self.port = 0
        self.requests: list[Received] = []
        self.connections = 0
        self.answered: list[tuple[int, str]] = []  # (status, webhook-id) of complete answers
        self._script: Script = lambda _r: Behaviour()
        self._queue: list[Behaviour] = []
        self._cond = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> Receiver:
        self._thread.start()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        future = asyncio.run_coroutine_threadsafe(
            # A deep accept queue: a worker opens hundreds of connections at once, and with
            # asyncio's default of 100 the overflow looks like connect timeouts.
            asyncio.start_server(self._serve, sock=sock, ssl=self.tls, backlog=4096),
            self._loop,
        )
        self._server = future.result(5)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            # A connection accepted just before the close starts its task a moment later and
            # registers it then: cancel until a turn of the loop brings no new one, so no
            # task outlives the loop (it would be destroyed pending, a warning pytest fails).
            await asyncio.sleep(0)
            while self._tasks:
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
                await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    # -- programming ------------------------------------------------------------------------
    def script(self, script: Script) -> None:
        """Decide each answer from the request (used when no queued behaviour is left)."""
        self._script = script

    def answer(self, *behaviours: Behaviour | int) -> None:
        """Queue answers for the next requests, in order; statuses may be given as ints."""
        with self._cond:
            self._queue.extend(b if isinstance(b, Behaviour) else Behaviour(b) for b in behaviours)

    # -- observing --------------------------------------------------------------------------
    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Block until at least `count` requests arrived; fail loudly otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"receiver got {len(self.requests)} requests, expected {count}"
                    )
                self._cond.wait(remaining)
            return list(self.requests)

    def received_ids(self) -> list[str]:
        with self._cond:
            return [r.headers.get("webhook-id", "") for r in self.requests]

    # -- the server -------------------------------------------------------------------------
    def _next_behaviour(self, request: Received) -> Behaviour:
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()
            if self._queue:
                return self._queue.pop(0)
        return self._script(request)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        with self._cond:
            self.connections += 1
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                behaviour = self._next_behaviour(request)
                if behaviour.delay:
                    await asyncio.sleep(behaviour.delay)
                if not await self._respond(writer, behaviour):
                    return
                with self._cond:
                    self.answered.append((behaviour.status, request.headers.get("webhook-id", "")))
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _respond(self, writer: asyncio.StreamWriter, b: Behaviour) -> bool:
        if b.mode == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            writer.transport.abort()
            return False
        if b.mode == "close":
            return False
        if b.mode == "hang":
            await asyncio.Event().wait()  # until the receiver stops and cancels this task
            return False
        if b.mode == "garbage":
            writer.write(b"this is not http\r\n\r\n")
            await writer.drain()
            return False
        if b.mode in ("raw", "raw_hold"):
            writer.write(b.body)
            await writer.drain()
            if b.mode == "raw_hold":
                await asyncio.Event().wait()  # until the receiver stops and cancels this task
            return False
        if b.mode == "endless":
            head = [f"HTTP/1.1 {b.status} X", "connection: close"]
            head += [f"{k}: {v}" for k, v in b.headers.items()]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
            chunk = (b.body or b"x") * max(1, 65536 // max(1, len(b.body)))
            while not writer.is_closing():
                writer.write(chunk)
                await writer.drain()  # raises once the client has gone away
            return False
        head = [f"HTTP/1.1 {b.status} X", f"content-length: {len(b.body)}"]
        head += [f"{k}: {v}" for k, v in b.headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        if b.mode == "trickle":
            for byte in b.body:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.5)
        else:
            writer.write(b.body)
        await writer.drain()
        return True


async def _read_request(reader: asyncio.StreamReader) -> Received | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return Received(method, path, headers, body, time.time())

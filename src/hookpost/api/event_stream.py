"""A server-sent events response with a bounded buffer, heartbeats and slow-reader cut-off.

A reader that leaves its buffer full for `stall_timeout` is disconnected; it resumes later
with Last-Event-ID, so a stuck client costs the server a fixed amount of memory, not more.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

log = logging.getLogger("hookpost.stream")
HEARTBEAT = b": keep-alive\n\n"
# At most this much is handed to the server in one write, so one write stays small.
WRITE_BYTES = 64 * 1024


@dataclass(frozen=True)
class StreamLimits:
    buffer_bytes: int = 1024 * 1024  # events waiting for a slow reader, at most (one always fits)
    stall_timeout: float = 10.0  # seconds a full buffer is tolerated
    heartbeat: float = 15.0  # seconds of silence before a comment line keeps proxies open


class SlowReader(Exception):
    """The reader left the buffer full for longer than the stall timeout."""


# Set in the request's task when we drop a slow reader on purpose, so that the server's
# "returned without completing response" error for that request (and only it) is not logged:
# hookpost's own warning has said what happened.
_dropped_on_purpose = contextvars.ContextVar("dropped_on_purpose", default=False)


class _QuietDeliberateDrop(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            _dropped_on_purpose.get() and "without completing response" in record.getMessage()
        )


logging.getLogger("uvicorn.error").addFilter(_QuietDeliberateDrop())


class _Buffer:
    """Events between the database and the socket, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._chunks: collections.deque[bytes] = collections.deque()
        self.size = 0
        self._changed = asyncio.Condition()

    async def put(self, chunk: bytes) -> None:
        async with self._changed:
            # An event larger than the whole buffer still goes through, alone.
            await self._changed.wait_for(
                lambda: not self.size or self.size + len(chunk) <= self._max
            )
            self._chunks.append(chunk)
            self.size += len(chunk)
            self._changed.notify_all()

    async def take(self) -> bytes:
        """Waits for at least one event; returns up to WRITE_BYTES of them."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._chunks))
            parts = [self._chunks.popleft()]
            taken = len(parts[0])
            while self._chunks and taken + len(self._chunks[0]) <= WRITE_BYTES:
                parts.append(self._chunks.popleft())
                taken += len(parts[-1])
            self.size -= taken
            self._changed.notify_all()
            return b"".join(parts)


class EventStreamResponse(Response):
    def __init__(self, events: AsyncIterator[bytes], limits: StreamLimits) -> None:
        super().__init__(status_code=200, media_type="text/event-stream")
        self._events = events
        self._limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG002
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),  # nginx: do not buffer the stream
                ],
            }
        )
        buffer = _Buffer(self._limits.buffer_bytes)
        tasks = [
            asyncio.create_task(self._produce(buffer)),
            asyncio.create_task(self._write(buffer, send)),
            asyncio.create_task(_disconnected(receive)),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            close = getattr(self._events, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()  # finishes the generator here, not in the garbage collector
        if any(isinstance(task.exception(), SlowReader) for task in done):
            # Returning with the response incomplete makes the server close the connection:
            # the only way to drop a reader whose socket no longer takes anything.
            log.warning("stream reader too slow: disconnected (it resumes by Last-Event-ID)")
            _dropped_on_purpose.set(True)
            return
        with contextlib.suppress(OSError):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _produce(self, buffer: _Buffer) -> None:
        async for event in self._events:
            try:
                await asyncio.wait_for(buffer.put(event), self._limits.stall_timeout)
            except TimeoutError:
                raise SlowReader from None

    async def _write(self, buffer: _Buffer, send: Send) -> None:
        while True:
            try:
                chunk = await asyncio.wait_for(buffer.take(), self._limits.heartbeat)
            except TimeoutError:
                chunk = HEARTBEAT
            await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass

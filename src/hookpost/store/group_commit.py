"""Group commit: concurrent requests of one kind share a transaction (and its commit).

While one batch is being written the next one gathers, so a lone request waits for nothing
and a burst costs one transaction per batch instead of one per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Req = TypeVar("Req")
Res = TypeVar("Res")
# Runs a batch; returns one result or exception per request, in order.
RunBatch = Callable[[Sequence[Req]], Awaitable[Sequence[Res | BaseException]]]


class GroupCommit(Generic[Req, Res]):
    def __init__(self, run: RunBatch[Req, Res], max_batch: int = 256) -> None:
        self._run = run
        self._max = max_batch
        self._pending: list[tuple[Req, asyncio.Future[Res]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, request: Req) -> Res:
        future: asyncio.Future[Res] = asyncio.get_running_loop().create_future()
        self._pending.append((request, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        return await future

    async def _write_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self._max], self._pending[self._max :]
            try:
                results = await self._run([request for request, _ in batch])
            except BaseException as exc:  # every waiter must hear about a failed batch
                results = [exc] * len(batch)
                if isinstance(exc, asyncio.CancelledError):
                    for _, future in batch:
                        future.cancel()
                    raise
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

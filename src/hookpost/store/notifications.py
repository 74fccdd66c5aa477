"""PostgreSQL LISTEN/NOTIFY: a publish in any process wakes the workers in every process.

Notifications only shorten the wait; workers still poll, so a lost one delays, never loses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from hookpost.store.database import Database

CHANNEL = "hookpost_due"
log = logging.getLogger("hookpost.notifications")


class PostgresWakeups:
    def __init__(self, database: Database) -> None:
        self._dsn = database.dsn
        self._timeout = database.connect_timeout or 10.0
        self._sending: asyncio.Task[None] | None = None
        self._again = False
        # NOTIFYs go out on a connection of their own: one statement in autocommit, about a
        # tenth of the CPU of a pooled SQLAlchemy transaction, paid once per publish batch.
        self._sender: asyncpg.Connection | None = None

    def notify(self) -> None:
        """Send one NOTIFY soon; rings that arrive while one is being sent are coalesced."""
        if self._sending is not None and not self._sending.done():
            self._again = True
            return
        self._sending = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        while True:
            self._again = False
            try:
                if self._sender is None or self._sender.is_closed():
                    self._sender = await asyncpg.connect(self._dsn, timeout=self._timeout)
                await self._sender.execute("SELECT pg_notify($1, '')", CHANNEL)
            except Exception as exc:  # the poll fallback covers a lost wake-up
                log.debug("NOTIFY failed: %s", exc)
                await self._drop_sender()
            if not self._again:
                return

    async def close(self) -> None:
        if self._sending is not None:
            with contextlib.suppress(Exception):
                await self._sending
        await self._drop_sender()

    async def _drop_sender(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None and not sender.is_closed():
            with contextlib.suppress(Exception):
                await sender.close(timeout=2)

    async def listen(self, on_wakeup: Callable[[], None], stop: asyncio.Event) -> None:
        """Call `on_wakeup` for every notification until `stop` is set; reconnects on loss."""
        backoff = 0.5
        while not stop.is_set():
            connection = None
            try:
                connection = await asyncpg.connect(self._dsn, timeout=self._timeout)
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _c, lost=lost: lost.set())
                await connection.add_listener(CHANNEL, lambda *_args: on_wakeup())
                on_wakeup()  # anything published while we were not listening
                backoff = 0.5
                waiters = [asyncio.create_task(lost.wait()), asyncio.create_task(stop.wait())]
                _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("LISTEN connection failed (%s); retrying in %.1fs", exc, backoff)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(backoff):
                        await stop.wait()
                backoff = min(backoff * 2, 10.0)
            finally:
                if connection is not None and not connection.is_closed():
                    await connection.close()

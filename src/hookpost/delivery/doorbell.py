"""Wake-ups for the worker: a publish rings the doorbell so delivery starts within milliseconds.

In one process this is an event; across processes on PostgreSQL, LISTEN/NOTIFY rings it.
"""

from __future__ import annotations

import asyncio
import contextlib


class Doorbell:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ring(self) -> None:
        self._event.set()

    async def wait(self, seconds: float) -> bool:
        """Wait for a ring or `seconds`; True when rung. Clears the bell."""
        if seconds > 0 and not self._event.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._event.wait()
        rung = self._event.is_set()
        self._event.clear()
        return rung

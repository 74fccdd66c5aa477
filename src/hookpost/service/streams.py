"""Following one application's messages live: an endless, resumable read in publication order.

The edge frames them (server-sent events); this module only decides what comes next.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from hookpost.core import ids
from hookpost.core.errors import InvalidInput
from hookpost.core.models import Message
from hookpost.service.lookup import require_app
from hookpost.service.message_order import PAGE, FeedReader
from hookpost.store.ports import Lookups

# How often a caught-up follower looks again: messages become visible only once older than
# the commit window anyway, so a wake-up on publish would gain nothing.
IDLE_PAUSE = 0.25


class StreamService:
    def __init__(
        self, lookups: Lookups, reader: FeedReader, idle_pause: float = IDLE_PAUSE
    ) -> None:
        self._lookups = lookups
        self._reader = reader
        self._idle_pause = idle_pause

    async def open(
        self,
        org_id: str,
        app_ref: str,
        *,
        last_event_id: str | None,
        event_type: str | None = None,
        channel: str | None = None,
    ) -> AsyncIterator[Message]:
        """Checks the request now (so errors are answered before streaming starts), then
        gives the messages after `last_event_id` (or from now on), forever."""
        app = await require_app(self._lookups, org_id, app_ref)
        if last_event_id is not None and not ids.is_valid(ids.MESSAGE, last_event_id):
            raise InvalidInput.at(("header", "last-event-id"), "last_event_id_unknown")
        start = last_event_id or self._reader.order.horizon()
        return self._follow(app.id, start, event_type, channel)

    async def _follow(
        self, app_id: str, position: str, event_type: str | None, channel: str | None
    ) -> AsyncIterator[Message]:
        while True:
            batch = await self._reader.scan(
                app_id, position, PAGE, event_type=event_type, channel=channel
            )
            for message in batch.messages:
                yield message
            position = batch.iterator
            if batch.done:
                await asyncio.sleep(self._idle_pause)

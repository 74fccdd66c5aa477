"""The polling (pull) API: an application's messages read in publication order by position.

`poll` is client-positioned (the iterator); consumers keep their position in the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hookpost.core import ids
from hookpost.core.errors import InvalidInput
from hookpost.core.models import Endpoint, Message
from hookpost.service.lookup import require_endpoint
from hookpost.service.message_order import BEGINNING, PublicationOrder, sink_takes
from hookpost.store import Store
from hookpost.store.message_feed import MessageFeed
from hookpost.store.poller_consumers import PollerConsumers

PAGE = 500
# Rows looked at per request when a sparse filter matches few: the rest waits for the next.
SCAN_BUDGET = 5000
MAX_CONSUMER_ID = 256


@dataclass(frozen=True)
class PollBatch:
    messages: list[Message]
    iterator: str
    done: bool


class PollingService:
    def __init__(
        self,
        store: Store,
        feed: MessageFeed,
        consumers: PollerConsumers,
        order: PublicationOrder,
    ) -> None:
        self._store = store
        self._feed = feed
        self._consumers = consumers
        self._order = order

    async def poll(
        self,
        org_id: str,
        app_ref: str,
        sink_ref: str,
        *,
        limit: int,
        iterator: str | None,
        event_type: str | None = None,
        channel: str | None = None,
        after: datetime | None = None,
    ) -> PollBatch:
        sink = await require_endpoint(self._store, org_id, app_ref, sink_ref)
        start = _position(iterator) or (self._order.at(after) if after else BEGINNING)
        return await self.scan(sink, start, limit, event_type=event_type, channel=channel)

    async def consumer_poll(
        self, org_id: str, app_ref: str, sink_ref: str, consumer: str, *, limit: int,
        iterator: str | None,
    ) -> PollBatch:  # fmt: skip
        sink = await require_endpoint(self._store, org_id, app_ref, sink_ref)
        _check_consumer(consumer)
        start = _position(iterator) or (
            await self._consumers.position(sink.app_id, sink.id, consumer) or BEGINNING
        )
        batch = await self.scan(sink, start, limit)
        # Saved when answering: a consumer that lost this answer re-reads from the iterator
        # of the last batch it processed (passing it as `iterator`).
        await self._consumers.save(sink.app_id, sink.id, consumer, batch.iterator)
        return batch

    async def consumer_seek(
        self, org_id: str, app_ref: str, sink_ref: str, consumer: str, after: datetime
    ) -> str:
        sink = await require_endpoint(self._store, org_id, app_ref, sink_ref)
        _check_consumer(consumer)
        position = self._order.at(after)
        await self._consumers.save(sink.app_id, sink.id, consumer, position)
        return position

    async def scan(
        self,
        sink: Endpoint,
        start: str,
        limit: int,
        *,
        event_type: str | None = None,
        channel: str | None = None,
    ) -> PollBatch:
        """Up to `limit` messages after `start` that the sink and filters take, below the
        horizon; `done` once everything committed so far has been looked at."""
        horizon = self._order.horizon()
        position, found, scanned = start, [], 0
        while position < horizon and scanned < SCAN_BUDGET:
            page = await self._feed.read(
                sink.app_id,
                after=position,
                before=horizon,
                limit=PAGE,
                event_type=event_type,
                channel=channel,
            )
            for message in page:
                position = message.id
                if sink_takes(sink, message):
                    found.append(message)
                    if len(found) == limit:
                        return PollBatch(found, position, done=False)
            scanned += len(page)
            if len(page) < PAGE:
                # Everything below the horizon is committed and looked at: skip to it.
                return PollBatch(found, horizon, done=True)
        return PollBatch(found, max(position, start), done=position >= horizon)


def _position(iterator: str | None) -> str | None:
    if iterator is None:
        return None
    if not ids.is_valid(ids.MESSAGE, iterator):
        raise InvalidInput.at(("query", "iterator"), "iterator must be one this API returned")
    return iterator


def _check_consumer(consumer: str) -> None:
    if not consumer or len(consumer) > MAX_CONSUMER_ID or not consumer.isascii():
        raise InvalidInput.at(("path", "consumer_id"), "consumer ids are 1-256 ASCII characters")

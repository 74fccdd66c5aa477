"""The polling (pull) API: an application's messages read in publication order by position.

`poll` is client-positioned (the iterator); consumers keep their position in the store.
"""

from __future__ import annotations

from datetime import datetime

from hookpost.core import ids
from hookpost.core.errors import InvalidInput
from hookpost.service.lookup import require_endpoint
from hookpost.service.message_order import BEGINNING, Batch, FeedReader
from hookpost.store.poller_consumers import PollerConsumers
from hookpost.store.ports import Lookups

MAX_CONSUMER_ID = 256
PollBatch = Batch


class PollingService:
    def __init__(
        self,
        lookups: Lookups,
        reader: FeedReader,
        consumers: PollerConsumers,
    ) -> None:
        self._lookups = lookups
        self._reader = reader
        self._consumers = consumers
        self._order = reader.order

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
        sink = await require_endpoint(self._lookups, org_id, app_ref, sink_ref)
        start = _position(iterator) or (self._order.at(after) if after else BEGINNING)
        return await self._reader.scan(
            sink.app_id, start, limit, sink=sink, event_type=event_type, channel=channel
        )

    async def consumer_poll(
        self, org_id: str, app_ref: str, sink_ref: str, consumer: str, *, limit: int,
        iterator: str | None,
    ) -> PollBatch:  # fmt: skip
        sink = await require_endpoint(self._lookups, org_id, app_ref, sink_ref)
        _check_consumer(consumer)
        start = _position(iterator) or (
            await self._consumers.position(sink.app_id, sink.id, consumer) or BEGINNING
        )
        batch = await self._reader.scan(sink.app_id, start, limit, sink=sink)
        # Saved when answering: a consumer that lost this answer re-reads from the iterator
        # of the last batch it processed (passing it as `iterator`).
        await self._consumers.save(sink.app_id, sink.id, consumer, batch.iterator)
        return batch

    async def consumer_seek(
        self, org_id: str, app_ref: str, sink_ref: str, consumer: str, after: datetime
    ) -> str:
        sink = await require_endpoint(self._lookups, org_id, app_ref, sink_ref)
        _check_consumer(consumer)
        position = self._order.at(after)
        await self._consumers.save(sink.app_id, sink.id, consumer, position)
        return position


def _position(iterator: str | None) -> str | None:
    if iterator is None:
        return None
    if not ids.is_valid(ids.MESSAGE, iterator):
        raise InvalidInput.at(("query", "iterator"), "iterator_not_returned")
    return iterator


def _check_consumer(consumer: str) -> None:
    if not consumer or len(consumer) > MAX_CONSUMER_ID or not consumer.isascii():
        raise InvalidInput.at(("path", "consumer_id"), "consumer_id_invalid", limit=MAX_CONSUMER_ID)

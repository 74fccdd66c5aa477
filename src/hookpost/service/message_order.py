"""Which messages a reader may be handed yet: the commit-safety window of publication order.

Ids sort by creation time, but two publishes can commit out of id order (ids share a 4 ms
step and concurrent transactions finish in any order). A reader that moved past an id could
then miss an older message committing later. So readers are only handed messages older than
`window`: any publish commits within it (publishes are single short transactions), and from
then on the set of messages below the returned position never changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from hookpost.core import ids
from hookpost.core.event_filter import matches_channels, matches_event_type
from hookpost.core.models import Endpoint, Message
from hookpost.store.message_feed import MessageFeed
from hookpost.store.messages import FIRST_ID_TIME, id_bound

DEFAULT_COMMIT_WINDOW = timedelta(seconds=1)
BEGINNING = ids.bound_id(ids.MESSAGE, FIRST_ID_TIME, upper=False)
PAGE = 500
# Rows looked at per call when a sparse filter matches few: the rest waits for the next call.
SCAN_BUDGET = 5000


class PublicationOrder:
    def __init__(self, clock: Callable[[], datetime], window: timedelta) -> None:
        self._clock = clock
        self.window = window

    def horizon(self) -> str:
        """Messages with smaller ids are all committed: readers may hand them out."""
        return id_bound(ids.MESSAGE, self._clock() - self.window, upper=False)

    @staticmethod
    def at(when: datetime) -> str:
        """The position just before the first message created at or after `when` (its ms)."""
        return id_bound(ids.MESSAGE, when, upper=False)


def sink_takes(sink: Endpoint | None, message: Message) -> bool:
    """A sink endpoint's filters, as delivery applies them (no sink: everything)."""
    if sink is None:
        return True
    return matches_event_type(sink.event_types, message.event_type) and matches_channels(
        sink.channels, message.channels
    )


@dataclass(frozen=True)
class Batch:
    messages: list[Message]
    iterator: str  # the position to continue from
    done: bool  # everything committed so far has been looked at


class FeedReader:
    """Reads an application's messages after a position, below the horizon, filtered."""

    def __init__(self, feed: MessageFeed, order: PublicationOrder) -> None:
        self._feed = feed
        self.order = order

    async def scan(
        self,
        app_id: str,
        start: str,
        limit: int,
        *,
        sink: Endpoint | None = None,
        event_type: str | None = None,
        channel: str | None = None,
    ) -> Batch:
        horizon = self.order.horizon()
        position, found, scanned = start, [], 0
        while position < horizon and scanned < SCAN_BUDGET:
            page = await self._feed.read(
                app_id,
                after=position,
                before=horizon,
                limit=PAGE,
                event_type=event_type,
                channel=channel,
            )
            for message in page.messages:
                position = message.id
                if sink_takes(sink, message):
                    found.append(message)
                    if len(found) == limit:
                        return Batch(found, position, done=False)
            scanned += len(page.messages)
            if page.exhausted:
                # Everything below the horizon is committed and looked at: skip to it.
                return Batch(found, horizon, done=True)
        return Batch(found, max(position, start), done=position >= horizon)

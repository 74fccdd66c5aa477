"""Which messages a reader may be handed yet: the commit-safety window of publication order.

Ids sort by creation time, but two publishes can commit out of id order (ids share a 4 ms
step and concurrent transactions finish in any order). A reader that moved past an id could
then miss an older message committing later. So readers are only handed messages older than
`window`: any publish commits within it (publishes are single short transactions), and from
then on the set of messages below the returned position never changes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from hookpost.core import ids
from hookpost.core.event_filter import matches_channels, matches_event_type
from hookpost.core.models import Endpoint, Message
from hookpost.store.messages import FIRST_ID_TIME, id_bound

DEFAULT_COMMIT_WINDOW = timedelta(seconds=1)
BEGINNING = ids.bound_id(ids.MESSAGE, FIRST_ID_TIME, upper=False)


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

"""The commit-safety window of the feed readers (pollers, streams), on SQLite and PostgreSQL.

A publish takes its id, then commits; readers only pass positions older than the window, so
a publish that commits within the window of taking its id is never skipped.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from hookpost.core.fields import ApplicationFields, NewMessage
from hookpost.core.ids import IdFactory
from hookpost.service.message_order import BEGINNING, FeedReader, PublicationOrder
from hookpost.store import Stores
from hookpost.store.message_feed import MessageFeed

WINDOW = timedelta(seconds=1)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_late_commits_inside_the_window_are_not_skipped(store: Stores) -> None:
    start = datetime.now(UTC)
    id_clock = Clock(start)
    # Same database, but ids are taken at times this test chooses: a "slow" publish.
    publisher = Stores(store.database, id_clock, IdFactory(id_clock, os.urandom))
    org = (await store.access.create_organization(f"feed-{os.urandom(4).hex()}")).id
    app = (await store.applications.create_application(org, ApplicationFields("feed"))).id
    reader_clock = Clock(start)
    reader = FeedReader(MessageFeed(store.database), PublicationOrder(reader_clock, WINDOW))

    async def publish_with_id_taken_at(at: datetime) -> str:
        id_clock.now = at
        return (
            await publisher.publishing.publish(org, app, NewMessage("feed.test", b"{}"))
        ).message.id

    settled = await publish_with_id_taken_at(start - timedelta(seconds=3))
    fresh = await publish_with_id_taken_at(start)
    first = await reader.scan(app, BEGINNING, 100)
    assert [m.id for m in first.messages] == [settled]  # `fresh` is inside the window
    assert first.done
    assert settled < first.iterator < fresh

    # A publish that took its id 0.5 s ago commits only now: still ahead of the position.
    late = await publish_with_id_taken_at(start - timedelta(seconds=0.5))
    reader_clock.now = start + timedelta(seconds=2)
    second = await reader.scan(app, first.iterator, 100)
    assert [m.id for m in second.messages] == sorted([late, fresh])

    # The documented limit: a publish that took longer than the window to commit is behind
    # a position already handed out, and a reader that is past it does not see it.
    too_late = await publish_with_id_taken_at(start - timedelta(seconds=1.5))
    reader_clock.now = start + timedelta(seconds=4)
    third = await reader.scan(app, second.iterator, 100)
    assert too_late not in [m.id for m in third.messages]
    assert too_late in [m.id for m in (await reader.scan(app, BEGINNING, 100)).messages]


async def test_sparse_filters_are_bounded_per_call(store: Stores) -> None:
    org = (await store.access.create_organization(f"feed-{os.urandom(4).hex()}")).id
    app = (await store.applications.create_application(org, ApplicationFields("feed"))).id
    for n in range(30):
        await store.publishing.publish(org, app, NewMessage("common" if n < 29 else "rare", b"{}"))
    later = Clock(datetime.now(UTC) + timedelta(seconds=5))
    reader = FeedReader(MessageFeed(store.database), PublicationOrder(later, WINDOW))
    batch = await reader.scan(app, BEGINNING, 10, event_type="rare")
    assert [m.event_type for m in batch.messages] == ["rare"]
    assert batch.done
    limited = await reader.scan(app, BEGINNING, 10)
    assert len(limited.messages) == 10
    assert not limited.done
    rest = await reader.scan(app, limited.iterator, 100)
    assert len(rest.messages) == 20
    assert rest.done


async def test_pages_are_bounded_in_bytes(store: Stores) -> None:
    org = (await store.access.create_organization(f"feed-{os.urandom(4).hex()}")).id
    app = (await store.applications.create_application(org, ApplicationFields("feed"))).id
    published = []
    for n in range(5):
        payload = b'{"pad": "' + b"x" * 20 + b'", "n": %d}' % n  # 36 bytes
        published.append(
            (await store.publishing.publish(org, app, NewMessage("big", payload))).message.id
        )
    feed = MessageFeed(store.database, page_bytes=80)
    later = datetime.now(UTC) + timedelta(seconds=5)
    horizon = PublicationOrder(Clock(later), WINDOW).horizon()
    page = await feed.read(app, after=BEGINNING, before=horizon, limit=500)
    assert [m.id for m in page.messages] == sorted(published)[:2]  # 72 bytes; a third is 108
    assert not page.exhausted
    tiny = MessageFeed(store.database, page_bytes=1)
    one = await tiny.read(app, after=BEGINNING, before=horizon, limit=500)
    assert len(one.messages) == 1  # a message larger than the budget still comes, alone
    reader = FeedReader(feed, PublicationOrder(Clock(later), WINDOW))
    batch = await reader.scan(app, BEGINNING, 100)
    assert [m.id for m in batch.messages] == sorted(published)
    assert batch.done

"""The polling API through the real svix SDK against `hookpost serve`, on SQLite and PostgreSQL.

Two consumers, filters, a server restart, seeking, and publishes racing a polling consumer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from svix.api import (
    ApplicationIn,
    EndpointIn,
    MessageIn,
    MessagePollerConsumerPollOptions,
    MessagePollerPollOptions,
    PollingEndpointConsumerSeekIn,
    Svix,
    SvixOptions,
)
from svix.exceptions import HttpError, HTTPValidationError

from tests.support.server import TOKEN, ServerProcess
from tests.support.waiting import eventually

# Short, so tests need not wait a second for each batch to become visible.
FEED_ENV = {"HOOKPOST_FEED_COMMIT_WINDOW": "150ms"}


@pytest.fixture
def feed_server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(database_url, tmp_path / "server.log", env=FEED_ENV).start()
    yield process
    process.stop()


def client(server: ServerProcess) -> Svix:
    return Svix(TOKEN, SvixOptions(server_url=server.url))


def sink(hp: Svix, app_id: str, **filters: object) -> str:
    # Disabled: a sink exists to be polled, nothing is pushed to its URL.
    endpoint = hp.endpoint.create(
        app_id, EndpointIn(url="http://127.0.0.1:9/unused", disabled=True, **filters)
    )
    return endpoint.id


def publish(hp: Svix, app_id: str, event_type: str, n: int, **extra: object) -> str:
    return hp.message.create(app_id, MessageIn(event_type=event_type, payload={"n": n}, **extra)).id


def drain(hp: Svix, app_id: str, sink_id: str, consumer: str, limit: int = 7) -> list[str]:
    """Consumer-poll until done; the ids handed out, in order."""
    seen: list[str] = []
    while True:
        batch = hp.message.poller.consumer_poll(
            app_id, sink_id, consumer, MessagePollerConsumerPollOptions(limit=limit)
        )
        seen.extend(m.id for m in batch.data)
        assert len(batch.data) <= limit
        if batch.done:
            return seen


def drain_until(hp: Svix, app_id: str, sink_id: str, consumer: str, want: int) -> list[str]:
    got: list[str] = []

    def enough() -> bool:
        got.extend(drain(hp, app_id, sink_id, consumer))
        return len(got) >= want

    eventually(enough, timeout=30, what=f"{want} messages for {consumer}")
    return got


def test_two_consumers_filters_restart_and_seek(feed_server: ServerProcess) -> None:
    hp = client(feed_server)
    app = hp.application.create(ApplicationIn(name="poller"))
    everything = sink(hp, app.id)
    invoices = sink(hp, app.id, event_types=["invoice.*"], channels=["eu"])
    published = []
    for n in range(30):
        event_type = "invoice.paid" if n % 3 == 0 else "user.created"
        channels = ["eu"] if n % 2 == 0 else ["us"]
        msg_id = publish(hp, app.id, event_type, n, channels=channels)
        published.append((msg_id, event_type, channels))
    # Publication order is id order: creation time in 4 ms steps, ids within one step.
    published.sort()
    ids = [msg_id for msg_id, _, _ in published]

    first = drain_until(hp, app.id, everything, "c1", 30)
    assert first == ids  # each once, in publication order
    wanted = [m for m, t, c in published if t == "invoice.paid" and c == ["eu"]]
    assert drain_until(hp, app.id, invoices, "c2", len(wanted)) == wanted
    # One consumer's reading does not move another's position.
    assert drain_until(hp, app.id, everything, "c3", 30) == ids
    # A consumer that lost a batch re-reads it by passing the iterator it last processed.
    first_batch = hp.message.poller.consumer_poll(
        app.id, everything, "c4", MessagePollerConsumerPollOptions(limit=10)
    )
    assert [m.id for m in first_batch.data] == ids[:10]
    hp.message.poller.consumer_poll(app.id, everything, "c4")  # this answer is "lost"
    again = hp.message.poller.consumer_poll(
        app.id,
        everything,
        "c4",
        MessagePollerConsumerPollOptions(limit=5, iterator=first_batch.iterator),
    )
    assert [m.id for m in again.data] == ids[10:15]
    assert drain(hp, app.id, everything, "c4") == ids[15:]  # and goes on from there

    # Client-positioned polls with query filters, paged by the iterator.
    got, iterator = [], None
    while True:
        page = hp.message.poller.poll(
            app.id,
            everything,
            MessagePollerPollOptions(
                limit=2, iterator=iterator, event_type="user.created", channel="us"
            ),
        )
        got.extend(m.id for m in page.data)
        iterator = page.iterator
        if page.done:
            break
    assert got == [m for m, t, c in published if t == "user.created" and c == ["us"]]
    sample = hp.message.poller.poll(app.id, everything, MessagePollerPollOptions(limit=1))
    assert sample.data[0].id == ids[0]
    assert sample.data[0].payload == {"n": 0}
    assert sample.data[0].event_type == "invoice.paid"

    # The position survives a restart of the server.
    feed_server.stop()
    restarted = ServerProcess(feed_server.database_url, feed_server.log_path, env=FEED_ENV).start()
    try:
        hp = client(restarted)
        later = sorted(publish(hp, app.id, "user.created", 100 + n) for n in range(5))
        assert drain_until(hp, app.id, everything, "c1", 5) == later

        # Seek back to the tenth message's time: from there on, everything again.
        tenth = hp.message.get(app.id, ids[9])
        seek = hp.message.poller.consumer_seek(
            app.id, everything, "c1", PollingEndpointConsumerSeekIn(after=tenth.timestamp)
        )
        assert seek.iterator
        again = drain_until(hp, app.id, everything, "c1", len(ids) - 9 + 5)
        # At least once: messages sharing the tenth's millisecond may come too, in order.
        assert again[-(len(ids) - 9 + 5) :] == ids[9:] + later
        assert again == sorted(again)
        # Seeking past the end: nothing until something new is published.
        future = tenth.timestamp + timedelta(days=1)
        hp.message.poller.consumer_seek(
            app.id, everything, "c1", PollingEndpointConsumerSeekIn(after=future)
        )
        assert drain(hp, app.id, everything, "c1") == []
    finally:
        restarted.stop()


def test_bad_requests_are_4xx_with_json(feed_server: ServerProcess) -> None:
    hp = client(feed_server)
    app = hp.application.create(ApplicationIn(name="poller-errors"))
    sink_id = sink(hp, app.id)
    for options, field in (
        (MessagePollerPollOptions(iterator="nonsense"), "iterator"),
        (MessagePollerPollOptions(limit=251), "limit"),
        (MessagePollerPollOptions(event_type="bad type!"), "event_type"),
        (MessagePollerPollOptions(channel="bad channel"), "channel"),
    ):
        with pytest.raises(HTTPValidationError) as caught:
            hp.message.poller.poll(app.id, sink_id, options)
        assert caught.value.status_code == 422
        assert caught.value.detail[0].loc == ["query", field]
    with pytest.raises(HttpError) as missing:
        hp.message.poller.poll(app.id, "ep_nope")
    assert missing.value.status_code == 404


def test_publishes_racing_a_consumer_are_all_seen_in_order(feed_server: ServerProcess) -> None:
    hp = client(feed_server)
    app = hp.application.create(ApplicationIn(name="poller-race"))
    sink_id = sink(hp, app.id)
    published: list[str] = []
    lock = threading.Lock()

    def publisher(k: int) -> None:
        own = client(feed_server)
        for n in range(25):
            msg_id = publish(own, app.id, "race", k * 100 + n)
            with lock:
                published.append(msg_id)

    threads = [threading.Thread(target=publisher, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    seen: list[str] = []
    while any(thread.is_alive() for thread in threads):
        seen.extend(drain(hp, app.id, sink_id, "racer", limit=5))
    for thread in threads:
        thread.join()
    seen.extend(drain_until(hp, app.id, sink_id, "racer", 150 - len(seen)))
    assert seen == sorted(seen), "handed out out of publication order"
    assert sorted(set(seen)) == sorted(published)
    assert len(seen) == len(published)  # nothing twice, either

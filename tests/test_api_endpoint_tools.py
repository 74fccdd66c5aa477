"""Conformance (svix-api.md §6.3): endpoint stats, send-example, recover and replay-missing.

What these calls answer and which deliveries they queue; whether the receiver then gets the
webhook is covered by the delivery tests. Endpoints point at a closed port on 127.0.0.1.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from svix.api import (
    ApplicationIn,
    BackgroundTaskOut,
    EndpointGetStatsOptions,
    EndpointIn,
    EndpointPatch,
    EventExampleIn,
    EventTypeIn,
    MessageAttemptListAttemptedDestinationsOptions,
    MessageGetOptions,
    MessageIn,
    RecoverIn,
    ReplayIn,
    Svix,
)
from svix.exceptions import HttpError, HTTPValidationError

from hookpost.store.schema import deliveries
from tests.support.live import Live, live_server, unique
from tests.support.waiting import eventually

live = live_server()
URL = "http://127.0.0.1:9/hook"  # nothing listens: every attempt fails at once
EXAMPLE: dict[str, Any] = {"invoice": {"id": "in_1", "amount": 1200}}


def setup(svix: Svix, **endpoint: Any) -> tuple[str, str]:
    app = svix.application.create(ApplicationIn(name="tools", uid=unique("app"))).id
    return app, svix.endpoint.create(app, EndpointIn(url=URL, **endpoint)).id


def finished(svix: Svix, task_id: str) -> BackgroundTaskOut:
    """The background task once it is no longer running."""
    return eventually(
        lambda: (t := svix.background_task.get(task_id)).status != "running" and t,
        what=f"background task {task_id} to finish",
    )


def deliveries_of(live: Live, msg_id: str) -> list[tuple[str, int]]:
    """(endpoint id, trigger) of every delivery of a message."""
    rows = live.query(
        sa.select(deliveries.c.endpoint_id, deliveries.c.trigger).where(
            deliveries.c.msg_id == msg_id
        )
    )
    return sorted((r[0], int(r[1])) for r in rows)


def test_stats_count_every_delivery_once(live: Live) -> None:
    svix = live.sdk()
    app, ep = setup(svix)
    empty = svix.endpoint.get_stats(app, ep)
    assert (empty.success, empty.pending, empty.sending, empty.fail, empty.canceled) == (
        0,
        0,
        0,
        0,
        0,
    )
    for _ in range(3):
        svix.message.create(app, MessageIn(event_type="a.b", payload={}))
    stats = svix.endpoint.get_stats(app, ep)
    assert stats.success + stats.pending + stats.sending + stats.fail == 3
    assert stats.canceled == 0
    now = datetime.now(UTC)
    window = EndpointGetStatsOptions(since=now - timedelta(days=1), until=now)
    windowed = svix.endpoint.get_stats(app, ep, window)
    assert windowed.success + windowed.pending + windowed.sending + windowed.fail == 3
    earlier = EndpointGetStatsOptions(since=now - timedelta(days=2), until=now - timedelta(days=1))
    old = svix.endpoint.get_stats(app, ep, earlier)
    assert old.success + old.pending + old.sending + old.fail == 0


def test_stats_refuse_bad_ranges(live: Live) -> None:
    svix = live.sdk()
    app, ep = setup(svix)
    now = datetime.now(UTC)
    for since, until in (
        (now - timedelta(days=30), now),
        (now, now + timedelta(days=1)),
        (now, now - timedelta(days=1)),
    ):
        with pytest.raises(HttpError) as caught:
            svix.endpoint.get_stats(app, ep, EndpointGetStatsOptions(since=since, until=until))
        assert caught.value.status_code == 400
        assert caught.value.code == "invalid_range"


def test_ping_goes_to_this_endpoint_only_whatever_its_filter(live: Live) -> None:
    svix = live.sdk()
    event_type = svix.event_type.create(EventTypeIn(name=unique("only.this"), description="")).name
    app, ep = setup(svix, event_types=[event_type])
    other = svix.endpoint.create(app, EndpointIn(url=URL)).id  # takes everything
    msg = svix.endpoint.send_example(app, ep, EventExampleIn(event_type="svix.ping"))
    assert msg.id.startswith("msg_")
    assert msg.event_type == "svix.ping"
    assert msg.payload == {"success": True}
    stored = svix.message.get(app, msg.id, MessageGetOptions(with_content=True))
    assert stored.payload == {"success": True}
    assert deliveries_of(live, msg.id) == [(ep, 0)]
    assert other != ep


def test_an_example_comes_from_the_event_type_schema(live: Live) -> None:
    svix = live.sdk()
    name = unique("invoice.paid")
    schemas = {"1": {"type": "object", "examples": [EXAMPLE, {"second": True}]}}
    svix.event_type.create(EventTypeIn(name=name, description="", schemas=schemas))
    app, ep = setup(svix)
    first = svix.endpoint.send_example(app, ep, EventExampleIn(event_type=name))
    assert (first.event_type, first.payload) == (name, EXAMPLE)
    second = svix.endpoint.send_example(app, ep, EventExampleIn(event_type=name, example_index=1))
    assert second.payload == {"second": True}
    assert deliveries_of(live, second.id) == [(ep, 0)]


def test_examples_that_cannot_be_made_are_refused(live: Live) -> None:
    svix = live.sdk()
    app, ep = setup(svix)
    with pytest.raises(HttpError) as caught:
        svix.endpoint.send_example(app, ep, EventExampleIn(event_type=unique("unknown")))
    assert caught.value.status_code == 404
    bare = svix.event_type.create(EventTypeIn(name=unique("bare"), description="")).name
    with pytest.raises(HttpError) as caught:
        svix.endpoint.send_example(app, ep, EventExampleIn(event_type=bare))
    assert caught.value.status_code == 400
    assert caught.value.code == "invalid_scheme"
    one = svix.event_type.create(
        EventTypeIn(name=unique("one"), description="", schemas={"1": {"examples": [EXAMPLE]}})
    ).name
    with pytest.raises(HttpError) as caught:
        svix.endpoint.send_example(app, ep, EventExampleIn(event_type=one, example_index=1))
    assert caught.value.status_code == 400
    assert live.sdk().message.list(app).data == []


def test_recover_requeues_failed_deliveries(live: Live) -> None:
    svix = live.sdk()
    app, ep = setup(svix)
    since = datetime.now(UTC) - timedelta(minutes=1)
    msg = svix.message.create(app, MessageIn(event_type="a.b", payload={"n": 1})).id

    def failed() -> bool:
        page = svix.message_attempt.list_attempted_destinations(
            app, msg, MessageAttemptListAttemptedDestinationsOptions()
        )
        return bool(page.data) and page.data[0].status == 2

    eventually(failed, what="the delivery to a closed port to fail")
    task = svix.endpoint.recover(app, ep, RecoverIn(since=since))
    assert task.id.startswith("qtask_")
    assert (task.status, task.task) == ("running", "endpoint.recover")
    assert abs(task.updated_at - datetime.now(UTC)) < timedelta(minutes=1)
    done = finished(svix, task.id)
    assert done.data == {"messagesSent": 1}
    assert deliveries_of(live, msg) == [(ep, 0), (ep, 1)]


def test_replay_missing_sends_what_the_endpoint_never_got(live: Live) -> None:
    svix = live.sdk()
    app, first = setup(svix)
    since = datetime.now(UTC) - timedelta(minutes=1)
    before = svix.message.create(app, MessageIn(event_type="a.b", payload={})).id
    late = svix.endpoint.create(app, EndpointIn(url=URL, description="late")).id
    after = svix.message.create(app, MessageIn(event_type="a.b", payload={})).id
    task = svix.endpoint.replay_missing(app, late, ReplayIn(since=since))
    assert task.id.startswith("qtask_")
    assert (task.status, task.task) == ("running", "endpoint.replay")
    assert finished(svix, task.id).data == {"messagesSent": 1}
    assert deliveries_of(live, before) == sorted([(first, 0), (late, 1)])
    assert deliveries_of(live, after) == sorted([(first, 0), (late, 0)])
    again = svix.endpoint.replay_missing(app, late, ReplayIn(since=since))
    assert again.status == "running"
    assert finished(svix, again.id).data == {"messagesSent": 0}
    assert deliveries_of(live, before) == sorted([(first, 0), (late, 1)])  # nothing twice


def test_recovery_windows_and_disabled_endpoints(live: Live) -> None:
    svix = live.sdk()
    app, ep = setup(svix)
    too_old = datetime.now(UTC) - timedelta(days=15)
    with pytest.raises(HTTPValidationError) as caught:
        svix.endpoint.recover(app, ep, RecoverIn(since=too_old))
    assert list(caught.value.detail[0].loc) == ["body", "since"]
    with pytest.raises(HTTPValidationError):
        svix.endpoint.replay_missing(app, ep, ReplayIn(since=too_old))
    svix.endpoint.patch(app, ep, EndpointPatch(disabled=True))
    with pytest.raises(HttpError) as disabled:
        svix.endpoint.recover(app, ep, RecoverIn(since=datetime.now(UTC) - timedelta(hours=1)))
    assert disabled.value.status_code == 400
    with pytest.raises(HttpError) as missing:
        svix.endpoint.recover(
            app, unique("nope"), RecoverIn(since=datetime.now(UTC) - timedelta(hours=1))
        )
    assert missing.value.status_code == 404

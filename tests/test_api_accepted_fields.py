"""Fields the SDK sends that hookpost once accepted and ignored now work as in Svix (issue 9, 5).

`deliverAt` on a message, `with_msg` on attempt lists, `exclude_apps_with_no_endpoints` (and
`exclude_apps_with_disabled_endpoints`) on the application list.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from svix.api import (
    ApplicationIn,
    ApplicationListOptions,
    EndpointIn,
    MessageAttemptListByEndpointOptions,
    MessageIn,
    Svix,
    SvixOptions,
)
from svix.exceptions import HTTPValidationError

from hookpost.store.schema import deliveries
from tests.support.live import Live, live_server, unique
from tests.support.receiver import Receiver
from tests.support.waiting import eventually

live = live_server()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


def test_deliver_at_holds_the_deliveries_until_then_and_is_echoed(
    live: Live, receiver: Receiver
) -> None:
    svix = live.sdk()
    app = svix.application.create(ApplicationIn(name="Later")).id
    svix.endpoint.create(app, EndpointIn(url=receiver.url + "/later"))
    when = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    sent = svix.message.create(app, MessageIn(event_type="t.later", payload={}, deliver_at=when))
    assert sent.deliver_at == when
    assert svix.message.get(app, sent.id).deliver_at == when
    due = live.query(sa.select(deliveries.c.next_attempt_at).where(deliveries.c.msg_id == sent.id))
    assert [row.next_attempt_at for row in due] == [int(when.timestamp() * 1_000_000)]
    [request] = receiver.wait_for(1)
    assert request.headers["webhook-id"] == sent.id
    assert request.at >= when.timestamp()


def test_a_deliver_at_already_passed_delivers_at_once(live: Live, receiver: Receiver) -> None:
    svix = live.sdk()
    app = svix.application.create(ApplicationIn(name="Past")).id
    svix.endpoint.create(app, EndpointIn(url=receiver.url + "/past"))
    when = datetime(2020, 1, 1, tzinfo=UTC)
    sent = svix.message.create(app, MessageIn(event_type="t.past", payload={}, deliver_at=when))
    assert sent.deliver_at == when
    assert receiver.wait_for(1)[0].headers["webhook-id"] == sent.id


@pytest.mark.parametrize(
    "when",
    [
        "24 hours and 5 minutes ahead",
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+23:59",
        "not a time",
    ],
)
def test_a_deliver_at_beyond_svix_limits_is_refused(live: Live, when: str) -> None:
    app = live.sdk().application.create(ApplicationIn(name="Far")).id
    if when.endswith("ahead"):  # (made here: test ids must not change while pytest collects)
        when = (datetime.now(UTC) + timedelta(hours=24, minutes=5)).isoformat()
    response = live.http().post(
        f"/api/v1/app/{app}/msg", json={"eventType": "t.far", "payload": {}, "deliverAt": when}
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "deliverAt"]


def test_the_sdk_sees_the_24_hour_limit_as_a_validation_error(live: Live) -> None:
    svix = live.sdk()
    app = svix.application.create(ApplicationIn(name="Far")).id
    with pytest.raises(HTTPValidationError):
        svix.message.create(
            app,
            MessageIn(
                event_type="t.far",
                payload={},
                deliver_at=datetime.now(UTC) + timedelta(days=2),
            ),
        )


def test_with_msg_includes_each_attempts_message(live: Live, receiver: Receiver) -> None:
    svix = live.sdk()
    app = svix.application.create(ApplicationIn(name="WithMsg")).id
    ep = svix.endpoint.create(app, EndpointIn(url=receiver.url + "/with-msg")).id
    sent = [
        svix.message.create(app, MessageIn(event_type="t.with", payload={"n": n}, tags=["x"]))
        for n in range(2)
    ]
    receiver.wait_for(2)

    def attempts(with_msg: bool | None) -> list[object] | None:
        options = MessageAttemptListByEndpointOptions(with_msg=with_msg)
        found = svix.message_attempt.list_by_endpoint(app, ep, options).data
        return found if len(found) == 2 else None

    listed = eventually(lambda: attempts(True), what="both attempts recorded")
    by_msg = {a.msg_id: a.msg for a in listed}  # type: ignore[attr-defined]
    assert set(by_msg) == {m.id for m in sent}
    for message in sent:
        embedded = by_msg[message.id]
        assert embedded is not None
        assert (embedded.id, embedded.event_type, embedded.tags) == (message.id, "t.with", ["x"])
        assert embedded.payload == {}  # Svix: payloads are never included
    plain = attempts(None)
    assert plain is not None
    assert all(a.msg is None for a in plain)  # type: ignore[attr-defined]
    raw = live.http().get(f"/api/v1/app/{app}/attempt/msg/{sent[0].id}?with_msg=true")
    assert raw.json()["data"][0]["msg"]["id"] == sent[0].id


def test_the_app_list_can_exclude_apps_without_endpoints(live: Live) -> None:
    svix = Svix(live.new_organization_token(unique("org")), SvixOptions(server_url=live.url))
    url = "http://127.0.0.1:9/x"
    bare = svix.application.create(ApplicationIn(name="bare")).id
    served = svix.application.create(ApplicationIn(name="served")).id
    svix.endpoint.create(served, EndpointIn(url=url))
    paused = svix.application.create(ApplicationIn(name="paused")).id
    svix.endpoint.create(paused, EndpointIn(url=url, disabled=True))
    emptied = svix.application.create(ApplicationIn(name="emptied")).id
    gone = svix.endpoint.create(emptied, EndpointIn(url=url)).id
    svix.endpoint.delete(emptied, gone)

    def listed(**filters: bool) -> set[str]:
        return {a.id for a in svix.application.list(ApplicationListOptions(**filters)).data}

    assert listed() == {bare, served, paused, emptied}
    assert listed(exclude_apps_with_no_endpoints=True) == {served, paused}
    assert listed(exclude_apps_with_disabled_endpoints=True) == {bare, served, emptied}
    both = listed(exclude_apps_with_no_endpoints=True, exclude_apps_with_disabled_endpoints=True)
    assert both == {served}
    assert listed(exclude_apps_with_svix_play_endpoints=True) == {bare, served, paused, emptied}

"""Conformance (svix-api.md §9): the delivery history through the SDK's message_attempt calls.

A real receiver answers 200 on /ok and 500 on /fail, so the server's worker produces real
attempts; each test waits for them, then checks what every list call reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from svix.api import (
    ApplicationIn,
    EmptyResponse,
    EndpointIn,
    MessageAttemptListAttemptedDestinationsOptions,
    MessageAttemptListAttemptedMessagesOptions,
    MessageAttemptListByEndpointOptions,
    MessageAttemptListByMsgOptions,
    MessageAttemptOut,
    MessageIn,
    MessageStatus,
    StatusCodeClass,
    Svix,
)
from svix.exceptions import HttpError, HTTPValidationError

from tests.support.live import Live, live_server, unique
from tests.support.receiver import Behaviour, Receiver
from tests.support.waiting import eventually

live = live_server()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    running.script(lambda r: Behaviour(500 if r.path.startswith("/fail") else 200, b"answer"))
    yield running
    running.stop()


@dataclass
class Delivered:
    app: str
    ok: str  # endpoint answering 200
    fail: str  # endpoint answering 500 (three attempts with the test schedule)
    msg: str


def by_msg(svix: Svix, d: Delivered, **options: object) -> list[MessageAttemptOut]:
    opts = MessageAttemptListByMsgOptions(**options)  # type: ignore[arg-type]
    return svix.message_attempt.list_by_msg(d.app, d.msg, opts).data


def deliver(live: Live, receiver: Receiver) -> Delivered:
    """A message sent to two endpoints, once all its scheduled attempts are recorded."""
    svix = live.sdk()
    app = svix.application.create(ApplicationIn(name="history", uid=unique("app"))).id
    ok = svix.endpoint.create(app, EndpointIn(url=f"{receiver.url}/ok/{app}")).id
    fail = svix.endpoint.create(app, EndpointIn(url=f"{receiver.url}/fail/{app}")).id
    msg = svix.message.create(
        app, MessageIn(event_type="order.paid", payload={"o": 1}, channels=["eu"], tags=["t"])
    ).id
    d = Delivered(app, ok, fail, msg)

    def settled() -> bool:
        destinations = svix.message_attempt.list_attempted_destinations(app, msg).data
        return len(destinations) == 2 and all(e.status in (0, 2) for e in destinations)

    eventually(settled, what="both deliveries to finish")
    return d


@pytest.fixture(scope="module")
def delivered(live: Live, receiver: Receiver) -> Delivered:
    """One delivered message shared by the tests that only read the history."""
    return deliver(live, receiver)


def test_attempts_by_message(live: Live, delivered: Delivered) -> None:
    svix, d = live.sdk(), delivered
    attempts = by_msg(svix, d)
    assert [a.id for a in attempts] == sorted((a.id for a in attempts), reverse=True)
    ok = [a for a in attempts if a.endpoint_id == d.ok]
    failed = [a for a in attempts if a.endpoint_id == d.fail]
    assert len(ok) == 1
    assert len(failed) == 3  # the first try and both retries of the test schedule
    assert ok[0].id.startswith("atmpt_")
    assert len(ok[0].id) == 33
    assert (ok[0].status, ok[0].status_text, ok[0].response_status_code) == (0, "success", 200)
    assert ok[0].trigger_type == 0
    assert ok[0].msg_id == d.msg
    assert ok[0].url.endswith(f"/ok/{d.app}")
    assert ok[0].response == "{}"  # the SDK asks for with_content=false
    assert ok[0].response_duration_ms >= 0
    assert {(a.status, a.response_status_code) for a in failed} == {(2, 500)}
    with_content = by_msg(svix, d, endpoint_id=d.ok, with_content=True)
    assert [a.response for a in with_content] == ["answer"]
    assert [a.id for a in by_msg(svix, d, status=MessageStatus.FAIL)] == [a.id for a in failed]
    assert by_msg(svix, d, status_code_class=StatusCodeClass.CODE2XX) == ok
    assert len(by_msg(svix, d, status_code_class=StatusCodeClass.CODE5XX)) == 3
    assert len(by_msg(svix, d, channel="eu")) == 4
    assert by_msg(svix, d, channel="us") == []
    assert len(by_msg(svix, d, event_types=["order.paid"])) == 4
    assert by_msg(svix, d, event_types=["other"]) == []


def test_attempts_page_one_at_a_time(live: Live, delivered: Delivered) -> None:
    svix, d = live.sdk(), delivered
    everything = [a.id for a in by_msg(svix, d)]
    seen: list[str] = []
    iterator = None
    while True:
        page = svix.message_attempt.list_by_msg(
            d.app, d.msg, MessageAttemptListByMsgOptions(limit=1, iterator=iterator)
        )
        seen.extend(a.id for a in page.data)
        if page.done:
            break
        iterator = page.iterator
    assert seen == everything
    assert len(seen) == 4


def test_one_attempt_by_id(live: Live, delivered: Delivered) -> None:
    svix, d = live.sdk(), delivered
    first = by_msg(svix, d, endpoint_id=d.ok)[0]
    got = svix.message_attempt.get(d.app, d.msg, first.id)
    assert (got.id, got.endpoint_id, got.status) == (first.id, d.ok, 0)
    with pytest.raises(HttpError) as caught:
        svix.message_attempt.get(d.app, d.msg, "atmpt_2yZ6mBIeUiIl4bBWVJp4mO0DXz1")
    assert caught.value.status_code == 404


def test_attempts_by_endpoint(live: Live, delivered: Delivered) -> None:
    svix, d = live.sdk(), delivered
    listing = svix.message_attempt.list_by_endpoint(d.app, d.fail)
    assert len(listing.data) == 3
    assert {a.endpoint_id for a in listing.data} == {d.fail}
    assert listing.done is True
    successes = svix.message_attempt.list_by_endpoint(
        d.app, d.fail, MessageAttemptListByEndpointOptions(status=MessageStatus.SUCCESS)
    )
    assert successes.data == []
    ok = svix.message_attempt.list_by_endpoint(d.app, d.ok)
    assert [(a.msg_id, a.status) for a in ok.data] == [(d.msg, 0)]


def test_attempted_messages_of_an_endpoint(live: Live, delivered: Delivered) -> None:
    svix, d = live.sdk(), delivered
    ok = svix.message_attempt.list_attempted_messages(d.app, d.ok).data
    assert [(m.id, m.status, m.status_text) for m in ok] == [(d.msg, 0, "success")]
    assert ok[0].event_type == "order.paid"
    assert ok[0].payload == {}
    assert ok[0].channels == ["eu"]
    failed = svix.message_attempt.list_attempted_messages(d.app, d.fail).data
    assert [(m.id, m.status, m.next_attempt) for m in failed] == [(d.msg, 2, None)]
    only_ok = svix.message_attempt.list_attempted_messages(
        d.app, d.fail, MessageAttemptListAttemptedMessagesOptions(status=MessageStatus.SUCCESS)
    )
    assert only_ok.data == []
    full = svix.message_attempt.list_attempted_messages(
        d.app, d.ok, MessageAttemptListAttemptedMessagesOptions(with_content=True)
    )
    assert full.data[0].payload == {"o": 1}


def test_attempted_destinations_of_a_message(live: Live, receiver: Receiver) -> None:
    svix, d = live.sdk(), deliver(live, receiver)
    destinations = svix.message_attempt.list_attempted_destinations(d.app, d.msg).data
    assert [e.id for e in destinations] == sorted([d.ok, d.fail])
    status = {e.id: (e.status, e.status_text) for e in destinations}
    assert status == {d.ok: (0, "success"), d.fail: (2, "fail")}
    assert all(e.url.startswith(receiver.url) for e in destinations)
    first = svix.message_attempt.list_attempted_destinations(
        d.app, d.msg, MessageAttemptListAttemptedDestinationsOptions(limit=1)
    )
    assert first.done is False
    rest = svix.message_attempt.list_attempted_destinations(
        d.app, d.msg, MessageAttemptListAttemptedDestinationsOptions(iterator=first.iterator)
    )
    assert [e.id for e in first.data + rest.data] == [e.id for e in destinations]
    svix.endpoint.delete(d.app, d.fail)  # deleted endpoints stay in the history
    after_delete = svix.message_attempt.list_attempted_destinations(d.app, d.msg).data
    assert {e.id for e in after_delete} == {d.ok, d.fail}


def test_resend_adds_a_manual_attempt(live: Live, receiver: Receiver) -> None:
    svix, d = live.sdk(), deliver(live, receiver)
    assert isinstance(svix.message_attempt.resend(d.app, d.msg, d.ok), EmptyResponse)

    def two() -> list[MessageAttemptOut] | None:
        found = by_msg(svix, d, endpoint_id=d.ok)
        return found if len(found) == 2 else None

    newest, oldest = eventually(two, what="the resent attempt")
    assert (newest.trigger_type, newest.status) == (1, 0)
    assert oldest.trigger_type == 0
    raw = live.http().post(f"/api/v1/app/{d.app}/msg/{d.msg}/endpoint/{d.ok}/resend")
    assert raw.status_code == 202
    assert raw.json() == {}


def test_history_of_unknown_objects_is_a_404(live: Live, delivered: Delivered) -> None:
    svix, d = live.sdk(), delivered
    missing_msg, missing_ep = "msg_2yZ6mBIeUiIl4bBWVJp4mO0DXz1", "ep_2yZ6mBIeUiIl4bBWVJp4mO0DXz1"
    calls = [
        lambda: svix.message_attempt.list_by_msg(d.app, missing_msg),
        lambda: svix.message_attempt.list_by_endpoint(d.app, missing_ep),
        lambda: svix.message_attempt.list_attempted_messages(d.app, missing_ep),
        lambda: svix.message_attempt.list_attempted_destinations(d.app, missing_msg),
        lambda: svix.message_attempt.resend(d.app, missing_msg, d.ok),
        lambda: svix.message_attempt.resend(d.app, d.msg, missing_ep),
        lambda: by_msg(svix, d, endpoint_id=missing_ep),
        lambda: svix.message_attempt.list_by_msg(unique("no-app"), d.msg),
    ]
    for call in calls:
        with pytest.raises(HttpError) as caught:
            call()
        assert caught.value.status_code == 404


def test_bad_history_queries_are_a_422(live: Live, delivered: Delivered) -> None:
    svix, d = live.sdk(), delivered
    with pytest.raises(HTTPValidationError) as caught:
        svix.message_attempt.list_by_msg(
            d.app, d.msg, MessageAttemptListByMsgOptions(iterator=d.msg)
        )
    assert list(caught.value.detail[0].loc) == ["query", "iterator"]
    with pytest.raises(HTTPValidationError) as caught:
        svix.message_attempt.list_by_endpoint(
            d.app, d.ok, MessageAttemptListByEndpointOptions(limit=251)
        )
    assert list(caught.value.detail[0].loc) == ["query", "limit"]
    bad = live.http().get(f"/api/v1/app/{d.app}/attempt/msg/{d.msg}", params={"status": 7})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"][:2] == ["query", "status"]

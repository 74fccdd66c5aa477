"""Conformance (svix-api.md §7, §14 steps 12-15, 25): publishing and reading messages via the SDK.

Delivery itself is out of scope here; endpoints point at a closed port and are only needed
to prove that expunged content cannot be resent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from svix.api import (
    ApplicationIn,
    EndpointIn,
    MessageGetOptions,
    MessageIn,
    MessageListOptions,
    MessageOut,
    Svix,
)
from svix.exceptions import HttpError, HTTPValidationError

from hookpost.store.schema import messages
from tests.support.live import Live, live_server, unique

live = live_server()
BIG = 123456789012345678901234567890123


def new_app(svix: Svix) -> str:
    return svix.application.create(ApplicationIn(name="msg", uid=unique("app"))).id


def publish(svix: Svix, app: str, event_type: str = "user.signup", **fields: object) -> MessageOut:
    return svix.message.create(app, MessageIn(event_type=event_type, payload={"n": 1}, **fields))


def listed(svix: Svix, app: str, **options: object) -> list[str]:
    return [m.id for m in svix.message.list(app, MessageListOptions(**options)).data]


def test_create_returns_the_message_without_content(live: Live) -> None:
    svix = live.sdk()
    app = new_app(svix)
    msg = svix.message.create(
        app,
        MessageIn(
            event_type="user.signup",
            payload={"user": {"id": 7, "tags": ["a"]}},
            event_id="evt-1",
            channels=["project_1"],
            tags=["order/42"],
        ),
    )
    assert msg.id.startswith("msg_")
    assert len(msg.id) == 31
    assert msg.payload == {}  # the SDK asks for with_content=false
    assert (msg.event_type, msg.event_id) == ("user.signup", "evt-1")
    assert msg.channels == ["project_1"]
    assert msg.tags == ["order/42"]
    assert abs(msg.timestamp - datetime.now(UTC)) < timedelta(minutes=1)
    full = svix.message.get(app, msg.id, MessageGetOptions(with_content=True))
    assert full.payload == {"user": {"id": 7, "tags": ["a"]}}
    assert svix.message.get(app, "evt-1", MessageGetOptions(with_content=True)) == full
    assert svix.message.get(app, msg.id).payload == {}


def test_with_content_defaults_to_true_for_raw_requests(live: Live) -> None:
    app = new_app(live.sdk())
    raw = live.http().post(
        f"/api/v1/app/{app}/msg", json={"eventType": "a.b", "payload": {"x": "y"}}
    )
    assert raw.status_code == 202
    assert raw.json()["payload"] == {"x": "y"}
    got = live.http().get(f"/api/v1/app/{app}/msg/{raw.json()['id']}")
    assert got.json()["payload"] == {"x": "y"}


def test_a_duplicate_event_id_conflicts_within_an_app_only(live: Live) -> None:
    svix = live.sdk()
    app, other = new_app(svix), new_app(svix)
    first = publish(svix, app, event_id="evt-dup")
    with pytest.raises(HttpError) as caught:
        publish(svix, app, event_id="evt-dup")
    assert caught.value.status_code == 409
    assert caught.value.code == "conflict"
    assert listed(svix, app) == [first.id]
    assert publish(svix, other, event_id="evt-dup").id != first.id


def test_an_inline_application_is_created_with_the_message(live: Live) -> None:
    svix, uid = live.sdk(), unique("cust")
    msg = svix.message.create(
        uid,
        MessageIn(event_type="a.b", payload={}, application=ApplicationIn(name="New", uid=uid)),
    )
    app = svix.application.get(uid)
    assert app.name == "New"
    assert svix.message.get(uid, msg.id).id == msg.id
    # Once the app exists the inline application is ignored, even with another uid.
    again = svix.message.create(
        uid,
        MessageIn(event_type="a.b", payload={}, application=ApplicationIn(name="X", uid="other")),
    )
    assert svix.message.get(app.id, again.id).id == again.id


def test_an_inline_application_with_another_uid_is_a_422(live: Live) -> None:
    svix, path_uid, body_uid = live.sdk(), unique("cust"), unique("cust")
    with pytest.raises(HTTPValidationError) as caught:
        svix.message.create(
            path_uid,
            MessageIn(
                event_type="a.b", payload={}, application=ApplicationIn(name="x", uid=body_uid)
            ),
        )
    assert caught.value.status_code == 422
    assert list(caught.value.detail[0].loc) == ["body", "application", "uid"]
    for uid in (path_uid, body_uid):
        with pytest.raises(HttpError) as missing:
            svix.application.get(uid)
        assert missing.value.status_code == 404


def test_publishing_to_an_unknown_app_is_a_404(live: Live) -> None:
    svix = live.sdk()
    with pytest.raises(HttpError) as caught:
        publish(svix, unique("nobody"))
    assert caught.value.status_code == 404
    assert caught.value.code == "not_found"


def test_get_by_unknown_id_or_event_id_is_a_404(live: Live) -> None:
    svix = live.sdk()
    app = new_app(svix)
    for ref in ("msg_2yZ6mBIeUiIl4bBWVJp4mO0DXz1", unique("evt")):
        with pytest.raises(HttpError) as caught:
            svix.message.get(app, ref)
        assert caught.value.status_code == 404


def test_list_is_newest_first_and_pages_each_message_once(live: Live) -> None:
    svix = live.sdk()
    app = new_app(svix)
    # Ids order by creation time in 4 ms steps; within one step the order is random, so the
    # expected order is the ids' own.
    made = sorted(publish(svix, app).id for _ in range(4))
    assert listed(svix, app) == made[::-1]
    seen: list[str] = []
    iterator = None
    while True:
        page = svix.message.list(app, MessageListOptions(limit=1, iterator=iterator))
        assert len(page.data) <= 1
        seen.extend(m.id for m in page.data)
        if page.done:
            break
        iterator = page.iterator
    assert seen == made[::-1]
    back = svix.message.list(app, MessageListOptions(limit=2, iterator=f"-{made[0]}"))
    assert [m.id for m in back.data] == [made[2], made[1]]
    assert back.done is False


def test_list_filters_by_channel_event_type_and_tag(live: Live) -> None:
    svix = live.sdk()
    app = new_app(svix)
    paid = publish(svix, app, "invoice.paid", channels=["eu", "vip"], tags=["t1"])
    link = publish(svix, app, "PaymentLinkPaymentSucceeded", channels=["us"])
    plain = publish(svix, app, "invoice.created")
    assert listed(svix, app, channel="vip") == [paid.id]
    assert listed(svix, app, channel="us") == [link.id]
    assert listed(svix, app, channel="nowhere") == []
    both = listed(svix, app, event_types=["invoice.paid", "invoice.created"])
    assert both == sorted([plain.id, paid.id])[::-1]
    assert listed(svix, app, event_types=["PaymentLinkPaymentSucceeded"]) == [link.id]
    assert listed(svix, app, tag="t1") == [paid.id]
    repeated = live.http().get(
        f"/api/v1/app/{app}/msg",
        params=[("event_types", "invoice.paid"), ("event_types[]", "invoice.created")],
    )
    assert [m["id"] for m in repeated.json()["data"]] == sorted([plain.id, paid.id])[::-1]


def test_list_filters_by_time(live: Live) -> None:
    svix = live.sdk()
    app = new_app(svix)
    first, middle, last = (publish(svix, app) for _ in range(3))
    long_ago = first.timestamp - timedelta(hours=1)
    assert listed(svix, app, before=long_ago) == []
    newest_first = sorted([first.id, middle.id, last.id], reverse=True)
    assert listed(svix, app, after=long_ago) == newest_first
    assert first.id not in listed(svix, app, after=first.timestamp)
    assert last.id not in listed(svix, app, before=last.timestamp)
    window = {"after": long_ago, "before": last.timestamp + timedelta(hours=1)}
    assert listed(svix, app, **window) == newest_first
    naive = (first.timestamp - timedelta(hours=1)).replace(tzinfo=None)  # read as UTC
    assert len(listed(svix, app, after=naive)) == 3


def test_after_starts_at_the_oldest_and_walks_forward(live: Live) -> None:
    svix = live.sdk()
    app = new_app(svix)
    made = sorted(publish(svix, app).id for _ in range(5))
    since = datetime.now(UTC) - timedelta(hours=1)
    page = svix.message.list(app, MessageListOptions(limit=2, after=since))
    assert [m.id for m in page.data] == [made[1], made[0]]
    walked = [m.id for m in page.data]
    while not page.done:
        page = svix.message.list(
            app, MessageListOptions(limit=2, after=since, iterator=page.prev_iterator)
        )
        walked = [m.id for m in page.data] + walked
    assert walked == made[::-1]


def test_too_many_or_bad_channels_are_a_422(live: Live) -> None:
    svix = live.sdk()
    app = new_app(svix)
    for channels in ([f"c{i}" for i in range(11)], ["has space"], ["dup", "dup"], []):
        with pytest.raises(HTTPValidationError) as caught:
            publish(svix, app, channels=channels)
        assert list(caught.value.detail[0].loc[:2]) == ["body", "channels"]
    assert listed(svix, app) == []


def test_expunged_content_reads_as_expired_and_cannot_be_resent(live: Live) -> None:
    svix = live.sdk()
    app = new_app(svix)
    # The filter keeps the endpoint from getting a delivery of its own.
    ep = svix.endpoint.create(app, EndpointIn(url="http://127.0.0.1:9/", event_types=["x.*"]))
    msg = publish(svix, app, event_id="evt-expunge")
    assert svix.message.expunge_content(app, msg.id) is None
    got = svix.message.get(app, "evt-expunge", MessageGetOptions(with_content=True))
    assert got.payload == {"expired": True}
    assert got.event_type == "user.signup"
    with pytest.raises(HttpError) as caught:
        svix.message_attempt.resend(app, msg.id, ep.id)
    assert caught.value.status_code == 400
    assert caught.value.code == "missing_payload"
    assert svix.message.expunge_content(app, msg.id) is None  # idempotent
    with pytest.raises(HttpError) as missing:
        svix.message.expunge_content(app, "msg_2yZ6mBIeUiIl4bBWVJp4mO0DXz1")
    assert missing.value.status_code == 404


def test_integers_beyond_64_bits_stay_exact(live: Live) -> None:
    app = new_app(live.sdk())
    body = b'{"eventType":"big.int","payload":{"n":%d,"neg":-%d,"f":1.5}}' % (BIG, BIG)
    created = live.http().post(
        f"/api/v1/app/{app}/msg", content=body, headers={"content-type": "application/json"}
    )
    assert created.status_code == 202, created.text
    assert b'"n":%d' % BIG in created.content
    msg_id = created.json()["id"]
    got = live.http().get(f"/api/v1/app/{app}/msg/{msg_id}", params={"with_content": "true"})
    assert b'"n":%d' % BIG in got.content
    assert b'"neg":-%d' % BIG in got.content
    assert got.json()["payload"] == {"n": BIG, "neg": -BIG, "f": 1.5}
    stored = live.query(sa.select(messages.c.payload).where(messages.c.id == msg_id))
    assert bytes(stored[0][0]) == b'{"n":%d,"neg":-%d,"f":1.5}' % (BIG, BIG)
    via_sdk = live.sdk().message.get(app, msg_id, MessageGetOptions(with_content=True))
    assert via_sdk.payload["n"] == BIG
    listed_raw = live.http().get(f"/api/v1/app/{app}/msg", params={"with_content": "true"})
    assert b'"n":%d' % BIG in listed_raw.content


def test_the_stored_payload_is_compact_json(live: Live) -> None:
    app = new_app(live.sdk())
    body = b'{"eventType":"a.b","payload":{ "b" : [1, 2] ,\n "a":"\xc3\xa9"}}'
    created = live.http().post(
        f"/api/v1/app/{app}/msg", content=body, headers={"content-type": "application/json"}
    )
    assert created.status_code == 202
    stored = live.query(sa.select(messages.c.payload).where(messages.c.id == created.json()["id"]))
    assert bytes(stored[0][0]) == '{"b":[1,2],"a":"é"}'.encode()

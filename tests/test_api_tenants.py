"""Tenant isolation: an application's objects are reachable only through its own path, and an
organization's key sees nothing of another organization (always 404, never a leak).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from svix.api import (
    ApplicationIn,
    ApplicationListOptions,
    ApplicationPatch,
    EndpointHeadersIn,
    EndpointIn,
    EndpointPatch,
    EventExampleIn,
    EventTypeIn,
    EventTypeListOptions,
    MessageAttemptListByMsgOptions,
    MessageGetOptions,
    MessageIn,
    RecoverIn,
    Svix,
)
from svix.exceptions import HttpError

from tests.support.live import Live, live_server, unique
from tests.support.waiting import eventually

live = live_server()
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class Tenant:
    app: str
    app_uid: str
    endpoint: str
    endpoint_uid: str
    msg: str
    event_id: str
    attempt: str
    event_type: str


def make_tenant(svix: Svix) -> Tenant:
    """An application with an endpoint, a message and (failed) attempt of that message."""
    uid, ep_uid, event_id = unique("app"), unique("ep"), unique("evt")
    app = svix.application.create(ApplicationIn(name="tenant", uid=uid)).id
    event_type = svix.event_type.create(
        EventTypeIn(name=unique("secret.type"), description="")
    ).name
    ep = svix.endpoint.create(
        app, EndpointIn(url="http://127.0.0.1:9/", uid=ep_uid, secret=SECRET)
    ).id
    msg = svix.message.create(
        app, MessageIn(event_type=event_type, payload={"private": True}, event_id=event_id)
    ).id
    attempt = eventually(
        lambda: svix.message_attempt.list_by_msg(app, msg).data, what="an attempt"
    )[0].id
    return Tenant(app, uid, ep, ep_uid, msg, event_id, attempt, event_type)


@pytest.fixture(scope="module")
def tenant(live: Live) -> Tenant:
    return make_tenant(live.sdk())


def assert_404(call: Callable[[], Any]) -> None:
    with pytest.raises(HttpError) as caught:
        call()
    assert caught.value.status_code == 404, caught.value
    assert caught.value.code == "not_found"


def test_another_apps_path_reaches_none_of_its_objects(live: Live, tenant: Tenant) -> None:
    svix = live.sdk()
    other = svix.application.create(ApplicationIn(name="other", uid=unique("other"))).id
    t = tenant
    since = RecoverIn(since=datetime.now(UTC) - timedelta(hours=1))
    calls: list[Callable[[], Any]] = []
    for ep in (t.endpoint, t.endpoint_uid):
        calls += [
            lambda ep=ep: svix.endpoint.get(other, ep),
            lambda ep=ep: svix.endpoint.get_secret(other, ep),
            lambda ep=ep: svix.endpoint.get_headers(other, ep),
            lambda ep=ep: svix.endpoint.get_stats(other, ep),
            lambda ep=ep: svix.endpoint.patch(other, ep, EndpointPatch(description="x")),
            lambda ep=ep: svix.endpoint.set_headers(other, ep, EndpointHeadersIn(headers={})),
            lambda ep=ep: svix.endpoint.send_example(
                other, ep, EventExampleIn(event_type="svix.ping")
            ),
            lambda ep=ep: svix.endpoint.recover(other, ep, since),
            lambda ep=ep: svix.message_attempt.list_by_endpoint(other, ep),
            lambda ep=ep: svix.message_attempt.list_attempted_messages(other, ep),
            lambda ep=ep: svix.endpoint.delete(other, ep),
        ]
    for msg in (t.msg, t.event_id):
        calls += [
            lambda msg=msg: svix.message.get(other, msg),
            lambda msg=msg: svix.message_attempt.list_by_msg(other, msg),
            lambda msg=msg: svix.message_attempt.list_attempted_destinations(other, msg),
            lambda msg=msg: svix.message_attempt.get(other, msg, t.attempt),
            lambda msg=msg: svix.message_attempt.resend(other, msg, t.endpoint),
            lambda msg=msg: svix.message.expunge_content(other, msg),
        ]
    for call in calls:
        assert_404(call)
    assert svix.endpoint.list(other).data == []
    assert svix.message.list(other).data == []
    # Nothing was changed through the wrong path.
    assert svix.endpoint.get(t.app, t.endpoint).description == ""
    assert svix.endpoint.get_secret(t.app, t.endpoint).key == SECRET
    full = svix.message.get(t.app, t.msg, MessageGetOptions(with_content=True))
    assert full.payload == {"private": True}


def test_an_attempt_is_reachable_only_under_its_own_message(live: Live, tenant: Tenant) -> None:
    svix = live.sdk()
    sibling = svix.message.create(tenant.app, MessageIn(event_type="a", payload={})).id
    assert_404(lambda: svix.message_attempt.get(tenant.app, sibling, tenant.attempt))
    assert svix.message_attempt.get(tenant.app, tenant.msg, tenant.attempt).id == tenant.attempt
    own = MessageAttemptListByMsgOptions(endpoint_id=tenant.endpoint)
    listed = svix.message_attempt.list_by_msg(tenant.app, sibling, own).data
    assert tenant.attempt not in {a.id for a in listed}
    assert all(a.msg_id == sibling for a in listed)


def test_another_organization_sees_nothing(live: Live, tenant: Tenant) -> None:
    svix, stranger = live.sdk(), live.sdk(live.new_organization_token())
    t = tenant
    assert stranger.application.list(ApplicationListOptions(limit=250)).data == []
    assert stranger.event_type.list(EventTypeListOptions(include_archived=True)).data == []
    for app in (t.app, t.app_uid):
        assert_404(lambda app=app: stranger.application.get(app))
        assert_404(lambda app=app: stranger.application.patch(app, ApplicationPatch(name="x")))
        assert_404(lambda app=app: stranger.application.delete(app))
        assert_404(lambda app=app: stranger.endpoint.list(app))
        assert_404(lambda app=app: stranger.endpoint.get(app, t.endpoint))
        assert_404(lambda app=app: stranger.endpoint.get_secret(app, t.endpoint))
        assert_404(
            lambda app=app: stranger.endpoint.create(app, EndpointIn(url="http://127.0.0.1:9/"))
        )
        assert_404(lambda app=app: stranger.message.list(app))
        assert_404(lambda app=app: stranger.message.get(app, t.msg))
        assert_404(lambda app=app: stranger.message.get(app, t.event_id))
        assert_404(lambda app=app: stranger.message.expunge_content(app, t.msg))
        assert_404(lambda app=app: stranger.message_attempt.list_by_msg(app, t.msg))
        assert_404(lambda app=app: stranger.message_attempt.get(app, t.msg, t.attempt))
        assert_404(lambda app=app: stranger.message_attempt.resend(app, t.msg, t.endpoint))
        assert_404(
            lambda app=app: stranger.message.create(app, MessageIn(event_type="a", payload={}))
        )
    assert_404(lambda: stranger.event_type.get(t.event_type))
    # The stranger's own objects may reuse every name without touching ours.
    mine = stranger.application.create(ApplicationIn(name="mine", uid=t.app_uid))
    assert mine.id != t.app
    assert stranger.application.get_or_create(ApplicationIn(name="x", uid=t.app_uid)).id == mine.id
    assert stranger.event_type.create(EventTypeIn(name=t.event_type, description="")).name
    assert [m.id for m in svix.message.list(t.app).data].count(t.msg) == 1
    assert svix.application.get(t.app_uid).id == t.app
    assert svix.application.get(t.app).name == "tenant"


def test_keys_of_two_organizations_list_only_their_own_apps(live: Live) -> None:
    first, second = live.sdk(live.new_organization_token()), live.sdk(live.new_organization_token())
    a = first.application.create(ApplicationIn(name="a", uid="shared-uid")).id
    b = second.application.create(ApplicationIn(name="b", uid="shared-uid")).id
    assert [x.id for x in first.application.list().data] == [a]
    assert [x.id for x in second.application.list().data] == [b]
    assert first.application.get("shared-uid").id == a
    assert second.application.get("shared-uid").id == b
    assert_404(lambda: first.application.get(b))

"""Conformance (svix-api.md §6, §14 steps 9-11, 22-23, 26): endpoint CRUD, secrets and headers.

Examples, stats and recovery are in test_api_endpoint_tools.py. URLs point at a closed port on
127.0.0.1: nothing here depends on delivery.
"""

from __future__ import annotations

import re

import pytest
from svix.api import (
    ApplicationIn,
    EndpointHeadersIn,
    EndpointHeadersPatchIn,
    EndpointIn,
    EndpointListOptions,
    EndpointPatch,
    EndpointSecretRotateIn,
    EndpointUpsertIn,
    EventTypeIn,
    Svix,
)
from svix.exceptions import HttpError, HTTPValidationError

from tests.support.live import Live, live_server, unique

live = live_server()
URL = "http://127.0.0.1:9/hook"
SECRET = re.compile(r"^whsec_[A-Za-z0-9+/=]{32,}$")


def new_app(svix: Svix) -> str:
    return svix.application.create(ApplicationIn(name="ep", uid=unique("app"))).id


def new_event_type(svix: Svix, prefix: str = "user.signup") -> str:
    return svix.event_type.create(EventTypeIn(name=unique(prefix), description="")).name


def test_a_filter_naming_unknown_types_is_a_422_on_event_types(live: Live) -> None:
    svix = live.sdk()
    app, known = new_app(svix), new_event_type(svix)
    with pytest.raises(HTTPValidationError) as caught:
        svix.endpoint.create(app, EndpointIn(url=URL, event_types=[known, "nope.never"]))
    assert caught.value.status_code == 422
    assert list(caught.value.detail[0].loc) == ["body", "eventTypes"]
    assert "nope.never" in caught.value.detail[0].msg
    assert svix.endpoint.list(app).data == []


def test_a_filter_naming_an_archived_type_is_refused(live: Live) -> None:
    svix = live.sdk()
    app, archived = new_app(svix), new_event_type(svix)
    svix.event_type.delete(archived)
    with pytest.raises(HTTPValidationError) as caught:
        svix.endpoint.create(app, EndpointIn(url=URL, event_types=[archived]))
    assert list(caught.value.detail[0].loc) == ["body", "eventTypes"]


def test_create_returns_the_endpoint_with_defaults(live: Live) -> None:
    svix = live.sdk()
    app, event_type = new_app(svix), new_event_type(svix)
    ep = svix.endpoint.create(app, EndpointIn(url=URL, event_types=[event_type], channels=None))
    assert ep.id.startswith("ep_")
    assert len(ep.id) == 30
    assert ep.url == URL
    assert ep.description == ""
    assert ep.disabled is False
    assert ep.metadata == {}
    assert ep.event_types == [event_type]
    assert ep.channels is None
    assert ep.uid is None
    assert ep.created_at.tzinfo is not None
    assert svix.endpoint.get(app, ep.id) == ep


def test_create_with_every_field(live: Live) -> None:
    svix = live.sdk()
    app, uid = new_app(svix), unique("ep")
    ep = svix.endpoint.create(
        app,
        EndpointIn(
            url="http://127.0.0.1:9",
            uid=uid,
            description="Orders",
            event_types=["invoice.*"],  # a wildcard needs no catalog entry
            channels=["project_1", "tenant:42"],
            throttle_rate=20,
            metadata={"team": "billing"},
            disabled=True,
        ),
    )
    assert ep.url == "http://127.0.0.1:9/"  # normalised
    assert (ep.uid, ep.description, ep.throttle_rate) == (uid, "Orders", 20)
    assert ep.event_types == ["invoice.*"]
    assert ep.channels == ["project_1", "tenant:42"]
    assert ep.metadata == {"team": "billing"}
    assert ep.disabled is True
    assert svix.endpoint.get(app, uid).id == ep.id


def test_create_errors(live: Live) -> None:
    svix = live.sdk()
    app, uid = new_app(svix), unique("ep")
    with pytest.raises(HttpError) as caught:
        svix.endpoint.create(unique("no-app"), EndpointIn(url=URL))
    assert caught.value.status_code == 404
    svix.endpoint.create(app, EndpointIn(url=URL, uid=uid))
    with pytest.raises(HttpError) as caught:
        svix.endpoint.create(app, EndpointIn(url=URL, uid=uid))
    assert caught.value.status_code == 409
    for url in ("ftp://127.0.0.1/", "not a url", "http://10.0.0.1/"):
        with pytest.raises(HTTPValidationError) as invalid:
            svix.endpoint.create(app, EndpointIn(url=url))
        assert list(invalid.value.detail[0].loc) == ["body", "url"]
    with pytest.raises(HTTPValidationError) as invalid:
        svix.endpoint.create(app, EndpointIn(url=URL, secret="whsec_tooshort"))
    assert list(invalid.value.detail[0].loc) == ["body", "secret"]
    assert len(svix.endpoint.list(app).data) == 1


def test_list_pages_newest_first_each_once(live: Live) -> None:
    svix = live.sdk()
    app = new_app(svix)
    made = [svix.endpoint.create(app, EndpointIn(url=URL)).id for _ in range(3)]
    seen: list[str] = []
    iterator = None
    while True:
        page = svix.endpoint.list(app, EndpointListOptions(limit=1, iterator=iterator))
        seen.extend(e.id for e in page.data)
        if page.done:
            break
        iterator = page.iterator
    assert seen == sorted(made, reverse=True)
    back = svix.endpoint.list(app, EndpointListOptions(limit=1, iterator=f"-{seen[2]}"))
    assert [e.id for e in back.data] == [seen[1]]
    ascending = svix.endpoint.list(app, EndpointListOptions(order="ascending"))
    assert [e.id for e in ascending.data] == sorted(made)


def test_upsert_creates_under_the_path_uid_then_replaces(live: Live) -> None:
    svix = live.sdk()
    app, uid = new_app(svix), unique("put")
    created = svix.endpoint.upsert(app, uid, EndpointUpsertIn(url=URL, description="one"))
    assert svix.endpoint.get(app, uid).id == created.id
    again = svix.endpoint.upsert(app, uid, EndpointUpsertIn(url=URL + "/2", channels=["c"]))
    assert again.id == created.id
    assert (again.url, again.description, again.channels) == (URL + "/2", "", ["c"])
    assert [e.id for e in svix.endpoint.list(app).data] == [created.id]
    secret = svix.endpoint.get_secret(app, uid).key
    assert SECRET.match(secret)


def test_patch_changes_only_what_is_sent(live: Live) -> None:
    svix = live.sdk()
    app, event_type = new_app(svix), new_event_type(svix)
    ep = svix.endpoint.create(
        app, EndpointIn(url=URL, event_types=[event_type], channels=["a"], metadata={"k": "v"})
    )
    moved = svix.endpoint.patch(app, ep.id, EndpointPatch(url=URL + "/moved"))
    assert (moved.url, moved.event_types, moved.channels, moved.metadata) == (
        URL + "/moved",
        [event_type],
        ["a"],
        {"k": "v"},
    )
    disabled = svix.endpoint.patch(app, ep.id, EndpointPatch(disabled=True))
    assert disabled.disabled is True
    opened = svix.endpoint.patch(app, ep.id, EndpointPatch(event_types=None, channels=None))
    assert (opened.event_types, opened.channels, opened.disabled) == (None, None, True)
    with pytest.raises(HTTPValidationError) as caught:
        svix.endpoint.patch(app, ep.id, EndpointPatch(event_types=["nope.never"]))
    assert list(caught.value.detail[0].loc) == ["body", "eventTypes"]
    null = live.http().patch(f"/api/v1/app/{app}/endpoint/{ep.id}", json={"url": None})
    assert null.status_code == 422
    assert null.json()["detail"][0]["loc"] == ["body", "url"]
    assert svix.endpoint.get(app, ep.id).url == URL + "/moved"


def test_delete_hides_it_and_frees_the_uid(live: Live) -> None:
    svix = live.sdk()
    app, uid = new_app(svix), unique("gone")
    ep = svix.endpoint.create(app, EndpointIn(url=URL, uid=uid))
    assert svix.endpoint.delete(app, uid) is None
    for ref in (uid, ep.id):
        with pytest.raises(HttpError) as caught:
            svix.endpoint.get(app, ref)
        assert caught.value.status_code == 404
    assert svix.endpoint.list(app).data == []
    assert svix.endpoint.create(app, EndpointIn(url=URL, uid=uid)).id != ep.id


def test_secret_and_rotation(live: Live) -> None:
    svix = live.sdk()
    app = new_app(svix)
    ep = svix.endpoint.create(app, EndpointIn(url=URL))
    first = svix.endpoint.get_secret(app, ep.id).key
    assert SECRET.match(first)
    rotated = svix.endpoint.rotate_secret(app, ep.id, EndpointSecretRotateIn())
    assert SECRET.match(rotated.key)
    assert rotated.key != first
    assert svix.endpoint.get_secret(app, ep.id).key == rotated.key
    chosen = "whsec_" + "A" * 32
    assert svix.endpoint.rotate_secret(app, ep.id, EndpointSecretRotateIn(key=chosen)).key == chosen
    assert svix.endpoint.get_secret(app, ep.id).key == chosen
    with pytest.raises(HTTPValidationError) as caught:
        svix.endpoint.rotate_secret(app, ep.id, EndpointSecretRotateIn(key="whsec_!!"))
    assert list(caught.value.detail[0].loc) == ["body", "key"]
    assert svix.endpoint.get_secret(app, ep.id).key == chosen


def test_a_chosen_secret_is_kept(live: Live) -> None:
    svix = live.sdk()
    app = new_app(svix)
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    ep = svix.endpoint.create(app, EndpointIn(url=URL, secret=secret))
    assert svix.endpoint.get_secret(app, ep.id).key == secret


def test_headers_hide_sensitive_values(live: Live) -> None:
    svix = live.sdk()
    app = new_app(svix)
    ep = svix.endpoint.create(app, EndpointIn(url=URL))
    empty = svix.endpoint.get_headers(app, ep.id)
    assert (empty.headers, empty.sensitive) == ({}, [])
    assert (
        svix.endpoint.set_headers(
            app, ep.id, EndpointHeadersIn(headers={"X-A": "1", "Authorization": "s"})
        )
        is None
    )
    got = svix.endpoint.get_headers(app, ep.id)
    assert got.headers == {"X-A": "1"}
    assert got.sensitive == ["Authorization"]
    svix.endpoint.patch_headers(
        app, ep.id, EndpointHeadersPatchIn(headers={"X-B": "2"}, delete_headers=["X-A"])
    )
    patched = svix.endpoint.get_headers(app, ep.id)
    assert patched.headers == {"X-B": "2"}
    assert patched.sensitive == ["Authorization"]
    raw = live.http().patch(
        f"/api/v1/app/{app}/endpoint/{ep.id}/headers", json={"headers": {"authorization": None}}
    )
    assert raw.status_code == 204
    assert svix.endpoint.get_headers(app, ep.id).sensitive == []


@pytest.mark.parametrize("name", ["svix-foo", "Webhook-Id", "Content-Type", "bad name", "x-amz-a"])
def test_reserved_or_invalid_header_names_are_refused(live: Live, name: str) -> None:
    svix = live.sdk()
    app = new_app(svix)
    ep = svix.endpoint.create(app, EndpointIn(url=URL))
    svix.endpoint.set_headers(app, ep.id, EndpointHeadersIn(headers={"X-Keep": "1"}))
    with pytest.raises(HTTPValidationError) as caught:
        svix.endpoint.set_headers(app, ep.id, EndpointHeadersIn(headers={name: "x"}))
    assert caught.value.detail[0].loc[:2] == ["body", "headers"]
    with pytest.raises(HTTPValidationError):
        svix.endpoint.patch_headers(app, ep.id, EndpointHeadersPatchIn(headers={name: "x"}))
    assert svix.endpoint.get_headers(app, ep.id).headers == {"X-Keep": "1"}


def test_headers_given_at_creation(live: Live) -> None:
    svix = live.sdk()
    app = new_app(svix)
    ep = svix.endpoint.create(app, EndpointIn(url=URL, headers={"X-Tenant": "7", "X-Api-Key": "k"}))
    got = svix.endpoint.get_headers(app, ep.id)
    assert (got.headers, got.sensitive) == ({"X-Tenant": "7"}, ["X-Api-Key"])
    with pytest.raises(HTTPValidationError):
        svix.endpoint.create(app, EndpointIn(url=URL, headers={"svix-id": "x"}))


def test_unknown_endpoint_is_a_404_everywhere(live: Live) -> None:
    svix = live.sdk()
    app, missing = new_app(svix), "ep_2yZ6mBIeUiIl4bBWVJp4mO0DXz1"
    calls = [
        lambda: svix.endpoint.get(app, missing),
        lambda: svix.endpoint.patch(app, missing, EndpointPatch(description="x")),
        lambda: svix.endpoint.delete(app, missing),
        lambda: svix.endpoint.get_secret(app, missing),
        lambda: svix.endpoint.rotate_secret(app, missing, EndpointSecretRotateIn()),
        lambda: svix.endpoint.get_headers(app, missing),
        lambda: svix.endpoint.set_headers(app, missing, EndpointHeadersIn(headers={})),
        lambda: svix.endpoint.get_stats(app, missing),
    ]
    for call in calls:
        with pytest.raises(HttpError) as caught:
            call()
        assert caught.value.status_code == 404
        assert caught.value.code == "not_found"

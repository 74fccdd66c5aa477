"""Conformance (svix-api.md §14 steps 1-7, 26): health, authentication and applications via the SDK.

One server per backend serves the whole module; every test uses uids of its own.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from svix.api import ApplicationIn, ApplicationListOptions, ApplicationPatch
from svix.exceptions import HttpError, HTTPValidationError

from tests.support.live import Live, live_server, unique

live = live_server()


def test_health_needs_no_token(live: Live) -> None:
    live.sdk("no-such-token").health.get()
    assert live.http(None).get("/api/v1/health").status_code == 204


@pytest.mark.parametrize("token", ["nope", "hp_sk_" + "x" * 43, "Bearer"])
def test_a_bad_token_is_refused(live: Live, token: str) -> None:
    with pytest.raises(HttpError) as caught:
        live.sdk(token).application.list()
    assert caught.value.status_code == 401
    assert caught.value.code == "authentication_failed"


def test_a_missing_or_non_bearer_authorization_is_refused(live: Live) -> None:
    raw = live.http(None)
    for headers in ({}, {"authorization": "Basic abc"}, {"authorization": "Bearer"}):
        response = raw.get("/api/v1/app", headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "authentication_failed"


def test_create_then_duplicate_uid_conflicts(live: Live) -> None:
    svix, uid = live.sdk(), unique("cust")
    app = svix.application.create(ApplicationIn(name="Customer", uid=uid))
    assert app.id.startswith("app_")
    assert len(app.id) == 31
    assert app.uid == uid
    assert app.name == "Customer"
    assert app.metadata == {}
    assert app.throttle_rate is None
    assert isinstance(app.created_at, datetime)
    assert app.created_at.tzinfo is not None
    with pytest.raises(HttpError) as caught:
        svix.application.create(ApplicationIn(name="Again", uid=uid))
    assert caught.value.status_code == 409
    assert caught.value.code == "conflict"
    assert svix.application.get(uid).name == "Customer"


def test_get_or_create_returns_the_existing_app(live: Live) -> None:
    svix, uid = live.sdk(), unique("cust")
    first = svix.application.get_or_create(ApplicationIn(name="First", uid=uid))
    again = svix.application.get_or_create(ApplicationIn(name="Second", uid=uid))
    assert again.id == first.id
    assert again.name == "First"
    unnamed = [svix.application.get_or_create(ApplicationIn(name="anon")) for _ in range(2)]
    assert unnamed[0].id != unnamed[1].id  # without a uid it always creates


def test_get_by_uid_and_by_id_agree(live: Live) -> None:
    svix, uid = live.sdk(), unique("cust")
    created = svix.application.create(
        ApplicationIn(name="Both", uid=uid, metadata={"tier": "gold"}, throttle_rate=10)
    )
    by_uid, by_id = svix.application.get(uid), svix.application.get(created.id)
    assert by_uid == by_id
    assert by_id.metadata == {"tier": "gold"}
    assert by_id.throttle_rate == 10


def test_list_pages_one_by_one_forward_and_back(live: Live) -> None:
    svix = live.sdk()
    mine = {svix.application.create(ApplicationIn(name=f"page-{i}")).id for i in range(3)}
    seen: list[str] = []
    pages = []
    options = ApplicationListOptions(limit=1)
    while True:
        page = svix.application.list(options)
        assert len(page.data) <= 1
        pages.append(page)
        seen.extend(a.id for a in page.data)
        if page.done:
            break
        options = ApplicationListOptions(limit=1, iterator=page.iterator)
    assert len(seen) == len(set(seen)), "an application was listed twice"
    assert mine <= set(seen)
    assert seen == sorted(seen)  # oldest first by default
    assert len(pages) >= 3
    # prevIterator walks back: from the last page, back one step, is the page before it.
    last_full = next(p for p in reversed(pages) if p.data)
    back = svix.application.list(ApplicationListOptions(limit=1, iterator=last_full.prev_iterator))
    index = seen.index(last_full.data[0].id)
    assert [a.id for a in back.data] == [seen[index - 1]]


def test_list_descending_is_newest_first(live: Live) -> None:
    svix = live.sdk()
    for i in range(2):
        svix.application.create(ApplicationIn(name=f"order-{i}"))
    page = svix.application.list(ApplicationListOptions(limit=250, order="descending"))
    ids = [a.id for a in page.data]
    assert ids == sorted(ids, reverse=True)


def test_limit_above_250_is_a_422_on_query_limit(live: Live) -> None:
    svix = live.sdk()
    assert len(svix.application.list(ApplicationListOptions(limit=250)).data) <= 250
    with pytest.raises(HTTPValidationError) as caught:
        svix.application.list(ApplicationListOptions(limit=251))
    assert caught.value.status_code == 422
    assert list(caught.value.detail[0].loc[:2]) == ["query", "limit"]


def test_an_invalid_field_is_a_422_naming_it(live: Live) -> None:
    svix = live.sdk()
    with pytest.raises(HTTPValidationError) as caught:
        svix.application.create(ApplicationIn(name="bad", uid="has space"))
    assert list(caught.value.detail[0].loc) == ["body", "uid"]
    with pytest.raises(HTTPValidationError) as caught:
        svix.application.create(ApplicationIn(name="bad", uid="app_looks-like-an-id"))
    assert list(caught.value.detail[0].loc) == ["body", "uid"]
    with pytest.raises(HTTPValidationError) as caught:
        svix.application.create(ApplicationIn(name=""))
    assert list(caught.value.detail[0].loc) == ["body", "name"]


def test_unknown_app_is_a_404(live: Live) -> None:
    svix = live.sdk()
    for ref in (unique("missing"), "app_2yZ6mBIeUiIl4bBWVJp4mO0DXz1"):
        with pytest.raises(HttpError) as caught:
            svix.application.get(ref)
        assert caught.value.status_code == 404
        assert caught.value.code == "not_found"


def test_upsert_creates_under_the_path_uid_then_replaces(live: Live) -> None:
    svix, uid = live.sdk(), unique("put")
    created = svix.application.upsert(uid, ApplicationIn(name="Put", metadata={"a": "1"}))
    assert created.uid == uid
    assert svix.application.get(uid).id == created.id
    replaced = svix.application.upsert(uid, ApplicationIn(name="Put 2", uid=uid, throttle_rate=5))
    assert replaced.id == created.id
    assert replaced.name == "Put 2"
    assert replaced.metadata == {}  # a full replace
    assert replaced.throttle_rate == 5
    raw = live.http().put(f"/api/v1/app/{uid}", json={"name": "Put 3", "uid": uid})
    assert raw.status_code == 200
    assert raw.json()["throttleRate"] is None


def test_upsert_onto_a_taken_uid_conflicts(live: Live) -> None:
    svix, taken = live.sdk(), unique("taken")
    svix.application.create(ApplicationIn(name="Owner", uid=taken))
    other = svix.application.create(ApplicationIn(name="Other", uid=unique("other")))
    with pytest.raises(HttpError) as caught:
        svix.application.upsert(other.id, ApplicationIn(name="Other", uid=taken))
    assert caught.value.status_code == 409


def test_patch_changes_only_what_is_sent(live: Live) -> None:
    svix, uid = live.sdk(), unique("patch")
    app = svix.application.create(ApplicationIn(name="P", uid=uid, metadata={"k": "v"}))
    renamed = svix.application.patch(uid, ApplicationPatch(name="Q"))
    assert (renamed.name, renamed.uid, renamed.metadata) == ("Q", uid, {"k": "v"})
    assert renamed.updated_at >= app.updated_at
    cleared = svix.application.patch(app.id, ApplicationPatch(uid=None))
    assert cleared.uid is None
    with pytest.raises(HttpError) as caught:
        svix.application.get(uid)
    assert caught.value.status_code == 404
    null_name = live.http().patch(f"/api/v1/app/{app.id}", json={"name": None})
    assert null_name.status_code == 422
    assert null_name.json()["detail"][0]["loc"] == ["body", "name"]


def test_patch_to_a_taken_uid_conflicts(live: Live) -> None:
    svix, taken = live.sdk(), unique("taken")
    svix.application.create(ApplicationIn(name="Owner", uid=taken))
    other = svix.application.create(ApplicationIn(name="Other"))
    with pytest.raises(HttpError) as caught:
        svix.application.patch(other.id, ApplicationPatch(uid=taken))
    assert caught.value.status_code == 409
    assert svix.application.get(other.id).uid is None


def test_delete_hides_the_app_and_frees_its_uid(live: Live) -> None:
    svix, uid = live.sdk(), unique("gone")
    app = svix.application.create(ApplicationIn(name="Gone", uid=uid))
    assert svix.application.delete(uid) is None
    for ref in (uid, app.id):
        with pytest.raises(HttpError) as caught:
            svix.application.get(ref)
        assert caught.value.status_code == 404
    with pytest.raises(HttpError) as caught:
        svix.application.delete(app.id)
    assert caught.value.status_code == 404
    page = svix.application.list(ApplicationListOptions(limit=250, order="descending"))
    assert app.id not in {a.id for a in page.data}
    reborn = svix.application.create(ApplicationIn(name="Reborn", uid=uid))
    assert reborn.id != app.id

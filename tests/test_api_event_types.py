"""Conformance (svix-api.md §5, §14 step 8): the event catalog through the SDK.

Covers create/get/list/upsert/patch/delete, archive vs expunge, with_content and include_archived.
"""

from __future__ import annotations

from typing import Any

import pytest
from svix.api import (
    EventTypeDeleteOptions,
    EventTypeIn,
    EventTypeListOptions,
    EventTypePatch,
    EventTypeUpsertIn,
)
from svix.exceptions import HttpError, HTTPValidationError

from tests.support.live import Live, live_server, unique

live = live_server()

SCHEMA: dict[str, Any] = {
    "1": {
        "type": "object",
        "properties": {"id": {"type": "string"}},
        "examples": [{"id": "user_1"}],
    }
}


def names_listed(live: Live, **options: Any) -> list[str]:
    """Every event type name the list shows, walking all pages."""
    svix, names, iterator = live.sdk(), [], None
    while True:
        page = svix.event_type.list(EventTypeListOptions(limit=100, iterator=iterator, **options))
        names.extend(e.name for e in page.data)
        if page.done:
            return names
        iterator = page.iterator


def test_create_returns_every_field_then_conflicts(live: Live) -> None:
    svix, name = live.sdk(), unique("user.signup")
    created = svix.event_type.create(
        EventTypeIn(
            name=name,
            description="A user signed up",
            schemas=SCHEMA,
            feature_flags=["beta"],
            group_name="users",
        )
    )
    assert created.name == name
    assert created.description == "A user signed up"
    assert created.deprecated is False
    assert created.archived is False
    assert created.schemas == SCHEMA
    assert created.feature_flags == ["beta"]
    assert created.group_name == "users"
    assert created.created_at.tzinfo is not None
    with pytest.raises(HttpError) as caught:
        svix.event_type.create(EventTypeIn(name=name, description="again"))
    assert caught.value.status_code == 409
    assert caught.value.code == "event_type_exists"
    assert svix.event_type.get(name).description == "A user signed up"


def test_both_naming_styles_are_accepted(live: Live) -> None:
    svix = live.sdk()
    for name in (unique("invoice.paid"), "PaymentLinkPaymentSucceeded" + unique("x")[2:]):
        assert svix.event_type.create(EventTypeIn(name=name, description="")).name == name
        assert svix.event_type.get(name).name == name


def test_list_hides_schemas_unless_asked(live: Live) -> None:
    svix, name = live.sdk(), unique("list.content")
    svix.event_type.create(EventTypeIn(name=name, description="d", schemas=SCHEMA))
    plain = {e.name: e for e in svix.event_type.list(EventTypeListOptions(limit=250)).data}
    assert plain[name].schemas is None
    full = {
        e.name: e
        for e in svix.event_type.list(EventTypeListOptions(limit=250, with_content=True)).data
    }
    assert full[name].schemas == SCHEMA
    assert svix.event_type.get(name).schemas == SCHEMA


def test_list_pages_by_name_each_item_once(live: Live) -> None:
    svix, prefix = live.sdk(), unique("paging")
    mine = [f"{prefix}.{i}" for i in range(3)]
    for name in mine:
        svix.event_type.create(EventTypeIn(name=name, description=""))
    seen: list[str] = []
    iterator = None
    while True:
        page = svix.event_type.list(EventTypeListOptions(limit=1, iterator=iterator))
        assert len(page.data) <= 1
        seen.extend(e.name for e in page.data)
        if page.done:
            break
        iterator = page.iterator
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen)
    assert set(mine) <= set(seen)
    middle = seen.index(mine[1])
    back = svix.event_type.list(EventTypeListOptions(limit=1, iterator=f"-{mine[1]}"))
    assert [e.name for e in back.data] == [seen[middle - 1]]


def test_delete_archives_by_default_and_expunge_erases(live: Live) -> None:
    svix = live.sdk()
    archived, erased = unique("archive.me"), unique("erase.me")
    for name in (archived, erased):
        svix.event_type.create(EventTypeIn(name=name, description="old", schemas=SCHEMA))
    assert svix.event_type.delete(archived) is None
    assert svix.event_type.delete(erased, EventTypeDeleteOptions(expunge=True)) is None

    kept = svix.event_type.get(archived)
    assert kept.archived is True
    assert archived not in names_listed(live)
    assert archived in names_listed(live, include_archived=True)

    with pytest.raises(HttpError) as caught:
        svix.event_type.get(erased)
    assert caught.value.status_code == 404
    assert erased not in names_listed(live, include_archived=True)
    with pytest.raises(HttpError) as caught:
        svix.event_type.delete(erased, EventTypeDeleteOptions(expunge=True))
    assert caught.value.status_code == 404


def test_creating_an_archived_type_revives_it(live: Live) -> None:
    svix, name = live.sdk(), unique("revive")
    svix.event_type.create(EventTypeIn(name=name, description="old", schemas=SCHEMA))
    svix.event_type.delete(name)
    revived = svix.event_type.create(EventTypeIn(name=name, description="new"))
    assert revived.archived is False
    assert revived.description == "new"
    assert revived.schemas is None
    assert name in names_listed(live)


def test_an_erased_name_can_be_created_again(live: Live) -> None:
    svix, name = live.sdk(), unique("again")
    svix.event_type.create(EventTypeIn(name=name, description="one"))
    svix.event_type.delete(name, EventTypeDeleteOptions(expunge=True))
    assert svix.event_type.create(EventTypeIn(name=name, description="two")).description == "two"


def test_upsert_creates_then_replaces(live: Live) -> None:
    svix, name = live.sdk(), unique("upsert")
    created = svix.event_type.upsert(name, EventTypeUpsertIn(description="first", schemas=SCHEMA))
    assert (created.name, created.description, created.schemas) == (name, "first", SCHEMA)
    replaced = svix.event_type.upsert(name, EventTypeUpsertIn(description="second"))
    assert replaced.description == "second"
    assert replaced.schemas is None
    raw = live.http().put(f"/api/v1/event-type/{name}", json={"description": "third"})
    assert raw.status_code == 200
    fresh = live.http().put(f"/api/v1/event-type/{unique('fresh')}", json={"description": "x"})
    assert fresh.status_code == 201


def test_patch_changes_only_what_is_sent(live: Live) -> None:
    svix, name = live.sdk(), unique("patch")
    svix.event_type.create(EventTypeIn(name=name, description="d", schemas=SCHEMA))
    deprecated = svix.event_type.patch(name, EventTypePatch(deprecated=True))
    assert (deprecated.deprecated, deprecated.description, deprecated.schemas) == (
        True,
        "d",
        SCHEMA,
    )
    cleared = svix.event_type.patch(name, EventTypePatch(schemas=None, description="e"))
    assert (cleared.schemas, cleared.description, cleared.deprecated) == (None, "e", True)
    archived = svix.event_type.patch(name, EventTypePatch(archived=True))
    assert archived.archived is True
    with pytest.raises(HttpError) as caught:
        svix.event_type.patch(unique("missing"), EventTypePatch(description="x"))
    assert caught.value.status_code == 404
    null = live.http().patch(f"/api/v1/event-type/{name}", json={"description": None})
    assert null.status_code == 422
    assert null.json()["detail"][0]["loc"] == ["body", "description"]


def test_invalid_names_are_422_on_name(live: Live) -> None:
    svix = live.sdk()
    for bad in ("has space", "a" * 257, "tab\tname", "émoji"):
        with pytest.raises(HTTPValidationError) as caught:
            svix.event_type.create(EventTypeIn(name=bad, description=""))
        assert list(caught.value.detail[0].loc) == ["body", "name"]


def test_unknown_event_type_is_a_404(live: Live) -> None:
    with pytest.raises(HttpError) as caught:
        live.sdk().event_type.get(unique("nope"))
    assert caught.value.status_code == 404
    assert caught.value.code == "not_found"

"""Portal pages over plain HTTP on both stores: editing an endpoint, recovery, the catalog with
examples, and the message log's filters and keyset pages.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from svix.api import EventTypeIn, MessageIn

from tests.support.live import Live, live_server, unique
from tests.support.portal import add_endpoint, new_app, visit

live = live_server()


def event_type(live: Live, description: str, example: dict[str, object] | None = None) -> str:
    name = unique("order") + ".created"
    schemas = None if example is None else {"1": {"examples": [example]}}
    live.sdk().event_type.create(
        EventTypeIn(name=name, description=description, schemas=schemas, group_name="orders")
    )
    return name


def test_edit_an_endpoint(live: Live) -> None:
    uid = new_app(live)
    first, second = event_type(live, "first"), event_type(live, "second")
    endpoint = add_endpoint(live, uid, "http://127.0.0.1:9/old", event_types=[first])
    visitor = visit(live, uid)
    form = visitor.get(f"/endpoints/{endpoint}/edit").text
    assert 'value="http://127.0.0.1:9/old"' in form
    assert re.search(rf'value="{first}" checked', form)
    saved = visitor.post(
        f"/endpoints/{endpoint}",
        {
            "url": "http://127.0.0.1:9/new",
            "description": "orders",
            "method": "PUT",
            "event_types": [first, second],
            "headers": "X-Tenant: 42\nX-Env: prod",
            "rate_limit": "7",
        },
    )
    assert saved.status_code == 303
    after = live.sdk().endpoint.get(uid, endpoint)
    assert after.url == "http://127.0.0.1:9/new"
    assert sorted(after.event_types or []) == sorted([first, second])
    assert after.throttle_rate == 7
    assert after.description == "orders"
    headers = live.sdk().endpoint.get_headers(uid, endpoint).headers
    assert headers == {"X-Tenant": "42", "X-Env": "prod"}
    assert "PUT" in visitor.get(f"/endpoints/{endpoint}").text
    refused = visitor.post(f"/endpoints/{endpoint}", {"url": "gopher://x"})
    assert refused.status_code == 422
    assert live.sdk().endpoint.get(uid, endpoint).url == "http://127.0.0.1:9/new"


def test_recover_since_a_date(live: Live) -> None:
    uid = new_app(live)
    endpoint = add_endpoint(live, uid, "http://127.0.0.1:9/recover")
    visitor = visit(live, uid)
    today = datetime.now(UTC).date().isoformat()
    done = visitor.post(f"/endpoints/{endpoint}/recover", {"since": today})
    assert done.status_code == 303
    assert "notice=recovered" in done.headers["location"]
    too_old = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    refused = visitor.post(f"/endpoints/{endpoint}/recover", {"since": too_old})
    assert "notice=bad-window" in refused.headers["location"]
    assert "14 days" in visitor.http.get(refused.headers["location"]).text
    bad = visitor.post(f"/endpoints/{endpoint}/recover", {"since": "yesterday"})
    assert "notice=bad-date" in bad.headers["location"]


def test_catalog_shows_descriptions_and_examples(live: Live) -> None:
    name = event_type(live, "An order was placed.", {"order": "A-1", "total": 99})
    page = visit(live, new_app(live)).get("/catalog").text
    assert name in page
    assert "An order was placed." in page
    assert "&#34;order&#34;: &#34;A-1&#34;" in page or "&quot;order&quot;" in page


def test_message_log_filters_and_pages(live: Live) -> None:
    uid = new_app(live)
    kept, other = event_type(live, "kept"), event_type(live, "other")
    ids = [
        live.sdk().message.create(uid, MessageIn(event_type=kept, payload={"i": i})).id
        for i in range(55)
    ]
    odd = live.sdk().message.create(
        uid, MessageIn(event_type=other, payload={}, event_id=unique("evt"))
    )
    visitor = visit(live, uid)
    first = visitor.get(f"/messages?event_type={kept}").text
    shown = re.findall(r'href="/portal/messages/(msg_\w+)"', first)
    assert shown == list(reversed(ids))[:50]
    older = re.search(r'id="older" href="([^"]+)"', first)
    assert older
    second = visitor.http.get(older.group(1).replace("&amp;", "&")).text
    rest = re.findall(r'href="/portal/messages/(msg_\w+)"', second)
    assert rest == list(reversed(ids))[50:]
    assert 'id="older"' not in second
    by_id = visitor.get(f"/messages?search={odd.id}").text
    assert re.findall(r'href="/portal/messages/(msg_\w+)"', by_id) == [odd.id]
    by_event_id = visitor.get(f"/messages?search={odd.event_id}").text
    assert re.findall(r'href="/portal/messages/(msg_\w+)"', by_event_id) == [odd.id]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert "No messages match" in visitor.get(f"/messages?since={tomorrow}").text
    assert "No messages match" in visitor.get("/messages?search=msg_nothing").text


def test_feature_flagged_event_types_show_only_to_tokens_holding_the_flag(live: Live) -> None:
    flag = unique("beta")
    hidden = unique("beta") + ".event"
    live.sdk().event_type.create(
        EventTypeIn(name=hidden, description="beta only", feature_flags=[flag])
    )
    uid = new_app(live)
    plain = visit(live, uid)
    flagged = visit(live, uid, feature_flags=[flag])
    for path in ("/catalog", "/endpoints/new", "/messages"):
        assert hidden not in plain.get(path).text, path
        assert hidden in flagged.get(path).text, path

    refused = plain.post("/endpoints", {"url": "http://127.0.0.1:9/x", "event_types": hidden})
    assert refused.status_code == 422
    assert live.sdk().endpoint.list(uid).data == []
    accepted = flagged.post("/endpoints", {"url": "http://127.0.0.1:9/x", "event_types": hidden})
    assert accepted.status_code == 303


def test_editing_keeps_wildcard_filters(live: Live) -> None:
    uid = new_app(live)
    name = event_type(live, "wild")
    group = name.split(".")[0]
    endpoint = add_endpoint(live, uid, "http://127.0.0.1:9/wild", event_types=[f"{group}.*"])
    visitor = visit(live, uid)
    form = visitor.get(f"/endpoints/{endpoint}/edit").text
    assert f'value="{group}.*" checked' in form
    kept = re.findall(r'name="event_types" value="([^"]+)" checked', form)
    saved = visitor.post(
        f"/endpoints/{endpoint}", {"url": "http://127.0.0.1:9/wild2", "event_types": kept}
    )
    assert saved.status_code == 303
    assert live.sdk().endpoint.get(uid, endpoint).event_types == [f"{group}.*"]

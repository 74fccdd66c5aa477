"""A document no UTF-8 can carry is refused with a 4xx JSON error on every way in (issue 9, 3).

`{"n": <a 24-digit integer>, "s": "\\ud800"}` sent the parser down the exact-integer path,
which accepted the lone surrogate; writing the payload then raised and the server answered
500. Big integers with proper text still go through exactly.
"""

from __future__ import annotations

import httpx
import pytest
from svix.api import ApplicationIn, EndpointIn

from tests.support.live import Live, error_of, live_server, unique

live = live_server()
URL = "http://127.0.0.1:9/hook"
BIG = "123456789012345678901234"
LONE = "\\ud800"  # as escaped in the JSON text
PAYLOAD = '{"n":' + BIG + ',"s":"' + LONE + '"}'


def objects(live: Live) -> tuple[str, str]:
    svix = live.sdk()
    app = svix.application.create(ApplicationIn(name="Text")).id
    return app, svix.endpoint.create(app, EndpointIn(url=URL)).id


def refused(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, response.text
    error_of(response)


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_publish_refuses_a_lone_surrogate_beside_a_big_integer(
    live: Live, content_type: str
) -> None:
    app, _ = objects(live)
    body = '{"eventType":"t.text","payload":' + PAYLOAD + "}"
    response = live.http().post(
        f"/api/v1/app/{app}/msg", content=body, headers={"content-type": content_type}
    )
    refused(response)


def test_publish_refuses_a_lone_surrogate_in_the_raw_payload(live: Live) -> None:
    app, _ = objects(live)
    body = (
        '{"eventType":"t.text","payload":{"n":' + BIG + "},"
        '"transformationsParams":{"rawPayload":"' + LONE + '"}}'
    )
    response = live.http().post(
        f"/api/v1/app/{app}/msg", content=body, headers={"content-type": "application/json"}
    )
    refused(response)


def test_the_test_delivery_refuses_it(live: Live) -> None:
    app, endpoint = objects(live)
    body = '{"eventType":"t.text","payload":' + PAYLOAD + "}"
    response = live.http().post(
        f"/api/v1/app/{app}/endpoint/{endpoint}/test",
        content=body,
        headers={"content-type": "application/json"},
    )
    refused(response)


def test_an_event_type_example_with_it_is_refused(live: Live) -> None:
    """send-example sends an event type's stored example: the bad one never gets stored."""
    name = unique("t.example")
    body = '{"name":"' + name + '","description":"d","schemas":{"1":{"examples":[' + PAYLOAD
    response = live.http().post(
        "/api/v1/event-type", content=body + "]}}}", headers={"content-type": "application/json"}
    )
    refused(response)


def test_big_integers_and_surrogate_pairs_are_stored_exactly(live: Live) -> None:
    app, _ = objects(live)
    body = '{"eventType":"t.text","payload":{"n":' + BIG + ',"s":"\\ud83d\\ude00"}}'
    response = live.http().post(
        f"/api/v1/app/{app}/msg", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 202, response.text
    stored = live.http().get(f"/api/v1/app/{app}/msg/{response.json()['id']}")
    assert stored.json()["payload"] == {"n": int(BIG), "s": "\U0001f600"}
    assert (BIG + ',"s":"\U0001f600"').encode() in stored.content

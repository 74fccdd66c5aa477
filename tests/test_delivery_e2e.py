"""Delivery end to end, through the svix SDK and a real receiver, on SQLite and PostgreSQL.

Covers the delivery steps of svix-api.md section 14 (12, 16-24): signed requests that both
verifiers accept, retries recorded in order, redirects and timeouts as failures, resend,
rotation overlap, filters, custom headers and methods, recovery, and 410 Gone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import standardwebhooks
from svix.api import (
    ApplicationIn,
    EndpointHeadersIn,
    EndpointIn,
    EndpointPatch,
    EndpointSecretRotateIn,
    EventTypeIn,
    MessageAttemptListByMsgOptions,
    MessageIn,
    RecoverIn,
)
from svix.webhooks import Webhook as SvixWebhook

from hookpost.core.signing import generate_ed25519_secret, public_key_of
from hookpost.receiver import Webhook as ReceiverWebhook
from hookpost.receiver import WebhookVerificationError
from tests.support.live import Live, live_server, unique
from tests.support.receiver import Behaviour, Receiver
from tests.support.waiting import eventually

live = live_server()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


def setup(live: Live, receiver: Receiver, **endpoint: Any) -> tuple[str, str, str]:
    """An application with one endpoint at the receiver: (app id, endpoint id, secret)."""
    sdk = live.sdk()
    app = sdk.application.create(ApplicationIn(name="Acme", uid=unique("app")))
    url = endpoint.pop("url", f"{receiver.url}/hook")
    ep = sdk.endpoint.create(app.id, EndpointIn(url=url, **endpoint))
    return app.id, ep.id, sdk.endpoint.get_secret(app.id, ep.id).key


def publish(live: Live, app_id: str, event_type: str = "invoice.paid", **fields: Any) -> str:
    message = live.sdk().message.create(
        app_id, MessageIn(event_type=event_type, payload={"invoice": unique()}, **fields)
    )
    return message.id


def attempts(live: Live, app_id: str, msg_id: str, count: int) -> list[Any]:
    """The message's attempts (newest first) once there are `count` of them."""
    sdk = live.sdk()

    def check() -> list[Any] | None:
        page = sdk.message_attempt.list_by_msg(app_id, msg_id)
        return page.data if len(page.data) >= count else None

    return eventually(check, what=f"{count} attempts of {msg_id}")


def raw_attempts(live: Live, app_id: str, msg_id: str, count: int) -> list[dict[str, Any]]:
    """Attempts with hookpost's extra fields (status names, error classes)."""
    http = live.http()

    def check() -> list[dict[str, Any]] | None:
        data = http.get(f"/api/v1/app/{app_id}/attempt/msg/{msg_id}").json()["data"]
        return data if len(data) >= count else None

    return eventually(check, what=f"{count} attempts of {msg_id}")


def test_a_published_message_arrives_signed_for_both_verifiers(
    live: Live, receiver: Receiver
) -> None:
    app_id, _, secret = setup(live, receiver)
    msg_id = publish(live, app_id)
    [request] = receiver.wait_for(1)
    assert request.method == "POST"
    assert request.path == "/hook"
    assert request.headers["svix-id"] == request.headers["webhook-id"] == msg_id
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("hookpost/")
    payload = standardwebhooks.Webhook(secret).verify(request.body, request.headers)
    assert payload["invoice"].startswith("t-")
    assert SvixWebhook(secret).verify(request.body, request.headers) is None
    [attempt] = attempts(live, app_id, msg_id, 1)
    assert attempt.status == 0
    assert attempt.response_status_code == 200
    assert attempt.trigger_type == 0


def test_failures_then_success_are_three_attempts_in_order(live: Live, receiver: Receiver) -> None:
    app_id, _, _ = setup(live, receiver)
    receiver.answer(500, 503)
    msg_id = publish(live, app_id)
    receiver.wait_for(3)
    newest, middle, oldest = raw_attempts(live, app_id, msg_id, 3)
    assert [a["status"] for a in (newest, middle, oldest)] == [0, 2, 2]
    assert [a["responseStatusCode"] for a in (newest, middle, oldest)] == [200, 503, 500]
    assert oldest["statusCodeName"] == "Internal Server Error"
    assert middle["statusCodeName"] == "Service Unavailable"
    assert oldest["errorClass"] == "http_status"
    assert oldest["errorCode"] == "http_status"  # beside errorMessage, the id it words
    assert newest["errorClass"] is None
    assert newest["errorCode"] is None
    # The official SDK parses attempts carrying the extra field (its models ignore extras).
    parsed = attempts(live, app_id, msg_id, 3)
    assert [a.response_status_code for a in parsed] == [200, 503, 500]
    ids = receiver.received_ids()
    assert ids == [msg_id] * 3  # the same webhook-id on every retry
    timestamps = [r.headers["webhook-timestamp"] for r in receiver.requests]
    assert all(t.isdigit() for t in timestamps)


def test_non_standard_codes_get_their_names_and_exhaust_the_schedule(
    live: Live, receiver: Receiver
) -> None:
    app_id, _, _ = setup(live, receiver)
    receiver.answer(444, 499, 599)
    msg_id = publish(live, app_id)
    receiver.wait_for(3)
    names = [a["statusCodeName"] for a in raw_attempts(live, app_id, msg_id, 3)]
    assert names == [
        "Network Connect Timeout Error",
        "Client Closed Request",
        "Connection Closed Without Response",
    ]
    destinations = eventually(
        lambda: [
            d
            for d in live.sdk().message_attempt.list_attempted_destinations(app_id, msg_id).data
            if d.status == 2
        ],
        what="the delivery to be marked failed",
    )
    assert destinations[0].next_attempt is None


def test_a_redirect_is_a_failure_and_is_never_followed(live: Live, receiver: Receiver) -> None:
    trap = Receiver().start()
    try:
        app_id, _, _ = setup(live, receiver)
        receiver.answer(Behaviour(302, headers={"location": f"{trap.url}/internal"}))
        msg_id = publish(live, app_id)
        first = raw_attempts(live, app_id, msg_id, 1)[-1]
        assert first["status"] == 2
        assert first["responseStatusCode"] == 302
        assert first["errorClass"] == "redirect"
        assert trap.url in first["errorMessage"]
        receiver.wait_for(2)  # the retry comes back to the endpoint, not to the target
        assert trap.requests == []
        assert trap.connections == 0
    finally:
        trap.stop()


def test_a_receiver_slower_than_the_timeout_is_a_failure_without_status(
    live: Live, receiver: Receiver
) -> None:
    app_id, _, _ = setup(live, receiver)
    receiver.answer(Behaviour(mode="hang"))
    msg_id = publish(live, app_id)
    first = raw_attempts(live, app_id, msg_id, 1)[-1]
    assert first["status"] == 2
    assert first["responseStatusCode"] == 0
    assert first["errorClass"] == "timeout"
    assert first["errorCode"] == "response_timeout"


def test_resend_is_a_manual_attempt_with_the_same_id(live: Live, receiver: Receiver) -> None:
    app_id, ep_id, _ = setup(live, receiver)
    msg_id = publish(live, app_id)
    receiver.wait_for(1)
    attempts(live, app_id, msg_id, 1)
    live.sdk().message_attempt.resend(app_id, msg_id, ep_id)
    receiver.wait_for(2)
    newest = attempts(live, app_id, msg_id, 2)[0]
    assert newest.trigger_type == 1
    assert receiver.received_ids() == [msg_id, msg_id]


def test_during_rotation_old_and_new_secrets_both_verify(live: Live, receiver: Receiver) -> None:
    app_id, ep_id, old = setup(live, receiver)
    new = live.sdk().endpoint.rotate_secret(app_id, ep_id, EndpointSecretRotateIn()).key
    assert new != old
    assert live.sdk().endpoint.get_secret(app_id, ep_id).key == new
    publish(live, app_id)
    [request] = receiver.wait_for(1)
    entries = request.headers["webhook-signature"].split(" ")
    assert len(entries) == 2
    assert all(e.startswith("v1,") for e in entries)
    standardwebhooks.Webhook(old).verify(request.body, request.headers)
    standardwebhooks.Webhook(new).verify(request.body, request.headers)
    SvixWebhook(old).verify(request.body, request.headers)
    SvixWebhook(new).verify(request.body, request.headers)


def test_filters_and_disabled_endpoints_get_nothing(live: Live, receiver: Receiver) -> None:
    sdk = live.sdk()
    paid, failed = unique("invoice") + ".paid", unique("PaymentLink") + "PaymentFailed"
    for name in (paid, failed):
        sdk.event_type.create(EventTypeIn(name=name, description=name))
    app_id, _, _ = setup(live, receiver, url=f"{receiver.url}/typed", event_types=[paid])
    sdk.endpoint.create(app_id, EndpointIn(url=f"{receiver.url}/channel", channels=["eu"]))
    off = sdk.endpoint.create(app_id, EndpointIn(url=f"{receiver.url}/off"))
    sdk.endpoint.patch(app_id, off.id, EndpointPatch(disabled=True))
    publish(live, app_id, event_type=failed)  # matches no typed filter and has no channel
    barrier = publish(live, app_id, event_type=paid, channels=["eu"])
    requests = receiver.wait_for(2)
    assert sorted(r.path for r in requests) == ["/channel", "/typed"]
    assert {r.headers["webhook-id"] for r in requests} == {barrier}
    assert live.sdk().message_attempt.list_by_msg(app_id, barrier).data
    assert receiver.connections <= 2 or all(r.path != "/off" for r in receiver.requests)


def test_custom_headers_and_method_reach_the_receiver(live: Live, receiver: Receiver) -> None:
    app_id, ep_id, _ = setup(live, receiver)
    sdk = live.sdk()
    sdk.endpoint.set_headers(
        app_id, ep_id, EndpointHeadersIn(headers={"X-Tenant": "acme", "Authorization": "Bearer s"})
    )
    response = live.http().patch(f"/api/v1/app/{app_id}/endpoint/{ep_id}", json={"method": "PUT"})
    assert response.status_code == 200, response.text
    assert response.json()["method"] == "PUT"
    msg_id = publish(live, app_id)
    [request] = receiver.wait_for(1)
    assert request.method == "PUT"
    assert request.headers["x-tenant"] == "acme"
    assert request.headers["authorization"] == "Bearer s"
    [stored] = raw_attempts(live, app_id, msg_id, 1)
    assert stored["requestHeaders"]["Authorization"] == "[redacted]"
    assert stored["requestHeaders"]["X-Tenant"] == "acme"


def test_recover_resends_what_failed(live: Live, receiver: Receiver) -> None:
    app_id, ep_id, _ = setup(live, receiver)
    receiver.script(lambda _r: Behaviour(500))
    msg_id = publish(live, app_id)
    receiver.wait_for(3)
    eventually(
        lambda: (
            live.sdk().message_attempt.list_attempted_destinations(app_id, msg_id).data[0].status
            == 2
        ),
        what="the delivery to exhaust its schedule",
    )
    receiver.script(lambda _r: Behaviour(200))
    since = datetime.now(UTC) - timedelta(hours=1)
    task = live.sdk().endpoint.recover(app_id, ep_id, RecoverIn(since=since))
    assert task.status == "running"
    assert task.task == "endpoint.recover"
    receiver.wait_for(4)
    newest = attempts(live, app_id, msg_id, 4)[0]
    assert newest.status == 0
    assert newest.trigger_type == 1
    options = MessageAttemptListByMsgOptions(status=2)
    assert len(live.sdk().message_attempt.list_by_msg(app_id, msg_id, options).data) == 3


def test_gone_disables_the_endpoint_until_it_is_enabled_again(
    live: Live, receiver: Receiver
) -> None:
    app_id, ep_id, _ = setup(live, receiver)
    receiver.answer(410)
    msg_id = publish(live, app_id)
    receiver.wait_for(1)
    sdk = live.sdk()
    eventually(lambda: sdk.endpoint.get(app_id, ep_id).disabled, what="410 to disable")
    second = publish(live, app_id)
    assert [r.headers["webhook-id"] for r in receiver.requests] == [msg_id]
    sdk.endpoint.patch(app_id, ep_id, EndpointPatch(disabled=False))
    requests = receiver.wait_for(2)
    assert requests[1].headers["webhook-id"] == msg_id  # the paused delivery resumed
    assert second not in receiver.received_ids()  # published while disabled: not matched


def test_an_ed25519_endpoint_is_signed_v1a_and_verifies_with_its_public_key(
    live: Live, receiver: Receiver
) -> None:
    secret = generate_ed25519_secret(os.urandom(32))
    app_id, _, stored = setup(live, receiver, secret=secret)
    assert stored == secret
    publish(live, app_id)
    [request] = receiver.wait_for(1)
    [entry] = request.headers["webhook-signature"].split(" ")
    assert entry.startswith("v1a,")
    payload = ReceiverWebhook(public_key_of(secret)).verify(request.body, request.headers)
    assert payload["invoice"].startswith("t-")
    stranger = ReceiverWebhook(public_key_of(generate_ed25519_secret(os.urandom(32))))
    with pytest.raises(WebhookVerificationError):
        stranger.verify(request.body, request.headers)

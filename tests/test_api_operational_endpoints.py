"""Operational webhook endpoints through the API (`svix.operational_webhook.endpoint`), beside the
one HOOKPOST_OPERATIONAL_WEBHOOK_URL configures, on both stores: CRUD, secret and headers, and
the notices each organization's endpoints receive from real deliveries failing on 127.0.0.1.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import standardwebhooks
from svix.api import (
    ApplicationIn,
    EndpointIn,
    MessageIn,
    OperationalWebhookEndpointHeadersIn,
    OperationalWebhookEndpointIn,
    OperationalWebhookEndpointListOptions,
    OperationalWebhookEndpointSecretIn,
    OperationalWebhookEndpointUpsertIn,
    Svix,
)
from svix.exceptions import HttpError, HTTPValidationError

from tests.support.live import OPERATOR_SECRET, Live, operator_live_server, unique
from tests.support.receiver import Behaviour, Receiver
from tests.support.waiting import eventually

API_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"


live = operator_live_server({"HOOKPOST_RETRY_SCHEDULE": "0.1,0.1"})


def exhausted_for(receiver: Receiver, endpoint_id: str) -> list[Any]:
    found = []
    for request in list(receiver.requests):
        body = json.loads(request.body)
        if (
            body["type"] == "message.attempt.exhausted"
            and body["data"]["endpointId"] == endpoint_id
        ):
            found.append(request)
    return found


def failing_endpoint(svix: Svix, receiver: Receiver) -> tuple[str, str]:
    """A customer endpoint whose every attempt gets a 500, and a message to it."""
    app = svix.application.create(ApplicationIn(name="ops", uid=unique("app"))).id
    ep = svix.endpoint.create(app, EndpointIn(url=f"{receiver.url}/dead")).id
    receiver.script(lambda _r: Behaviour(500))
    svix.message.create(app, MessageIn(event_type="invoice.paid", payload={}))
    return app, ep


def test_operational_endpoints_crud_secret_and_headers(live: Live, receiver: Receiver) -> None:
    svix = live.sdk(live.new_organization_token("crud"))
    ops = svix.operational_webhook.endpoint
    assert ops.list().data == []  # none in a new organization
    made = ops.create(
        OperationalWebhookEndpointIn(
            url=f"{receiver.url}/ops",
            description="alerts",
            uid="alerts",
            event_types=["message.attempt.exhausted", "endpoint.disabled"],
            secret=API_SECRET,
            metadata={"team": "infra"},
            headers={"x-team": "infra"},
        )
    )
    assert made.id.startswith("ep_")
    assert (made.uid, made.description, made.metadata) == ("alerts", "alerts", {"team": "infra"})
    assert sorted(made.event_types or []) == ["endpoint.disabled", "message.attempt.exhausted"]
    assert ops.get("alerts").id == made.id
    assert [e.id for e in ops.list(OperationalWebhookEndpointListOptions(limit=10)).data] == [
        made.id
    ]
    assert ops.get_secret(made.id).key == API_SECRET
    ops.rotate_secret(made.id, OperationalWebhookEndpointSecretIn())
    rotated = ops.get_secret(made.id).key
    assert rotated != API_SECRET
    assert rotated.startswith("whsec_")
    assert ops.get_headers(made.id).headers == {"x-team": "infra"}
    ops.set_headers(made.id, OperationalWebhookEndpointHeadersIn(headers={"x-on-call": "yes"}))
    assert ops.get_headers(made.id).headers == {"x-on-call": "yes"}
    updated = ops.upsert(
        made.id, OperationalWebhookEndpointUpsertIn(url=f"{receiver.url}/ops2", description="v2")
    )
    assert (updated.id, updated.url, updated.description) == (made.id, f"{receiver.url}/ops2", "v2")
    with pytest.raises(HTTPValidationError):
        ops.create(OperationalWebhookEndpointIn(url=receiver.url, event_types=["invoice.paid"]))
    ops.delete(made.id)
    with pytest.raises(HttpError) as gone:
        ops.get(made.id)
    assert gone.value.status_code == 404
    assert ops.list().data == []
    # The operational application is not a customer application of this organization's
    # endpoints: a customer endpoint id is no operational endpoint.
    app = svix.application.create(ApplicationIn(name="c", uid=unique("app"))).id
    customer = svix.endpoint.create(app, EndpointIn(url=f"{receiver.url}/c")).id
    with pytest.raises(HttpError) as foreign:
        ops.get(customer)
    assert foreign.value.status_code == 404


def test_the_configured_operator_is_listed_and_both_sources_are_notified(
    live: Live, receiver: Receiver, operator: Receiver
) -> None:
    svix = live.sdk()
    ops = svix.operational_webhook.endpoint
    listed = {e.uid: e for e in ops.list().data}
    assert listed["operator"].url == f"{operator.url}/ops"
    # Its secret is readable with the default organization's key (not only from the setting).
    assert ops.get_secret(listed["operator"].id).key == OPERATOR_SECRET
    assert "hookpost-operational" not in {a.uid for a in svix.application.list().data}
    alerts = Receiver().start()
    try:
        made = ops.create(
            OperationalWebhookEndpointIn(
                url=f"{alerts.url}/alerts",
                uid=unique("alerts"),
                event_types=["message.attempt.exhausted"],
                secret=API_SECRET,
            )
        )
        ops.set_headers(made.id, OperationalWebhookEndpointHeadersIn(headers={"x-team": "infra"}))
        _, dead = failing_endpoint(svix, receiver)
        got = eventually(lambda: exhausted_for(alerts, dead), what="the API endpoint's notice")
        eventually(lambda: exhausted_for(operator, dead), what="the configured operator's notice")
        standardwebhooks.Webhook(API_SECRET).verify(got[0].body, got[0].headers)
        assert got[0].headers["x-team"] == "infra"
        # Filtered to exhausted: the failing notice went to the operator only.
        assert {json.loads(r.body)["type"] for r in alerts.requests} == {
            "message.attempt.exhausted"
        }
        ops.delete(made.id)
    finally:
        alerts.stop()


def test_each_organization_hears_about_its_own_endpoints(
    live: Live, receiver: Receiver, operator: Receiver
) -> None:
    other = live.sdk(live.new_organization_token("tenant"))
    alerts = Receiver().start()
    try:
        other.operational_webhook.endpoint.create(
            OperationalWebhookEndpointIn(url=f"{alerts.url}/tenant", secret=API_SECRET)
        )
        _, mine = failing_endpoint(live.sdk(), receiver)
        _, theirs = failing_endpoint(other, receiver)
        eventually(lambda: exhausted_for(alerts, theirs), what="the tenant's own notice")
        eventually(lambda: exhausted_for(operator, mine), what="the default organization's")
        assert exhausted_for(alerts, mine) == []
        assert exhausted_for(operator, theirs) == []
    finally:
        alerts.stop()

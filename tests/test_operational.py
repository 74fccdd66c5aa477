"""Operational webhooks and auto-disable, end to end: the operator hears about endpoints that
fail, recover or get disabled, through signed webhooks of its own.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import standardwebhooks
from svix.api import ApplicationIn, EndpointIn, EndpointPatch, MessageIn
from svix.exceptions import HttpError

from hookpost.core.fields import ApplicationFields
from hookpost.core.ids import IdFactory
from hookpost.service.endpoints import EndpointService
from hookpost.service.messages import MessageService
from hookpost.service.operational import APP_NAME, APP_UID, OperationalApps, OperationalWebhooks
from hookpost.store import Stores, migrate
from hookpost.store.database import Database
from hookpost.store.schema import applications
from tests.support.live import OPERATOR_SECRET, Live, clock, operator_live_server, unique
from tests.support.receiver import Behaviour, Receiver
from tests.support.waiting import eventually

live = operator_live_server(
    {"HOOKPOST_RETRY_SCHEDULE": "0.1,0.1,0.1,0.1", "HOOKPOST_DISABLE_AFTER": "0.3s"}
)


def notices(operator: Receiver, endpoint_id: str) -> list[dict[str, Any]]:
    found = []
    for request in list(operator.requests):
        body = json.loads(request.body)
        if body["data"].get("endpointId") == endpoint_id:
            found.append(body)
    return found


def setup(live: Live, receiver: Receiver) -> tuple[str, str]:
    sdk = live.sdk()
    app = sdk.application.create(ApplicationIn(name="ops", uid=unique("app")))
    ep = sdk.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}/hook"))
    return app.id, ep.id


def test_a_dead_endpoint_is_reported_failing_exhausted_and_disabled(
    live: Live, receiver: Receiver, operator: Receiver
) -> None:
    app_id, ep_id = setup(live, receiver)
    receiver.script(lambda _r: Behaviour(500))
    msg = live.sdk().message.create(app_id, MessageIn(event_type="invoice.paid", payload={}))
    receiver.wait_for(5)
    eventually(lambda: live.sdk().endpoint.get(app_id, ep_id).disabled, what="auto-disable")
    types = eventually(
        lambda: (
            [n["type"] for n in notices(operator, ep_id)]
            if len(notices(operator, ep_id)) >= 3
            else None
        ),
        what="three operational webhooks",
    )
    assert sorted(types) == [
        "endpoint.disabled",
        "message.attempt.exhausted",
        "message.attempt.failing",
    ]
    exhausted = next(
        n for n in notices(operator, ep_id) if n["type"] == "message.attempt.exhausted"
    )
    assert exhausted["data"]["msgId"] == msg.id
    assert exhausted["data"]["appId"] == app_id
    assert exhausted["data"]["lastAttempt"]["responseStatusCode"] == 500
    assert exhausted["data"]["lastAttempt"]["id"].startswith("atmpt_")
    for request in operator.requests:
        standardwebhooks.Webhook(OPERATOR_SECRET).verify(request.body, request.headers)
    assert len(receiver.requests) == 5  # the disabled endpoint gets nothing more
    live.sdk().message.create(app_id, MessageIn(event_type="invoice.paid", payload={}))
    live.sdk().endpoint.patch(app_id, ep_id, EndpointPatch(disabled=False))
    assert live.sdk().endpoint.get(app_id, ep_id).disabled is False


def test_success_after_four_failures_is_reported_recovered(
    live: Live, receiver: Receiver, operator: Receiver
) -> None:
    app_id, ep_id = setup(live, receiver)
    receiver.answer(500, 502, 503, 504)
    live.sdk().message.create(app_id, MessageIn(event_type="invoice.paid", payload={}))
    receiver.wait_for(5)
    types = eventually(
        lambda: (
            [n["type"] for n in notices(operator, ep_id)]
            if len(notices(operator, ep_id)) >= 2
            else None
        ),
        what="failing and recovered",
    )
    assert sorted(types) == ["message.attempt.failing", "message.attempt.recovered"]
    assert live.sdk().endpoint.get(app_id, ep_id).disabled is False


def test_the_operational_application_is_out_of_the_customers_sight(live: Live) -> None:
    sdk = live.sdk()
    listed = [a for a in sdk.application.list().data if a.uid == APP_UID or a.name == APP_NAME]
    assert listed == []
    with pytest.raises(HttpError) as caught:
        sdk.application.get(APP_UID)
    assert caught.value.status_code == 404
    # Its messages are there all the same, in hookpost's own organization.
    assert live.count(applications, applications.c.uid == APP_UID) == 1


async def test_configuring_moves_the_application_out_of_the_default_organization(
    empty_database_url: str,
) -> None:
    database = Database(empty_database_url)
    await migrate.upgrade(database)
    store = Stores(database, clock, IdFactory(clock, os.urandom))

    async def any_url(url: str) -> str:
        return url

    messages = MessageService(
        store.lookups, store.publishing, store.messages, 1_000_000, lambda: None
    )
    endpoints = EndpointService(
        store.lookups,
        store.endpoints,
        store.event_types,
        messages,
        entropy=os.urandom,
        check_url=any_url,
    )

    def apps() -> OperationalApps:
        return OperationalApps(store.access, store.applications, store.lookups)

    try:
        internal = await store.access.ensure_internal_organization()
        default = await store.access.ensure_organization()
        assert default.id != internal.id  # the internal one never becomes the default
        legacy, _ = await store.applications.get_or_create_application(
            default.id, ApplicationFields(APP_NAME, APP_UID)
        )
        ops = OperationalWebhooks(apps(), messages, endpoints)
        app = await ops.configure("http://127.0.0.1:9/ops", None)
        assert app.org_id == internal.id
        assert await store.lookups.get_application(default.id, APP_UID) is None
        page = await store.applications.list_applications(
            default.id, limit=50, iterator=None, descending=False
        )
        assert page.items == []
        again = await OperationalWebhooks(apps(), messages, endpoints).configure(
            "http://127.0.0.1:9/ops2", None
        )
        assert again.id == app.id
        assert (await store.access.ensure_organization()).id == default.id
        assert legacy.id != app.id
    finally:
        await database.close()

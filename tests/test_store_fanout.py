"""Fan-out at publish (svix-api.md §10.5), in the store on SQLite and PostgreSQL: one delivery
row per matching endpoint, written in the same transaction as the message, and none elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa

from hookpost.core.errors import Conflict, NotFound
from hookpost.core.fields import ApplicationFields, EndpointFields, NewMessage
from hookpost.store import Stores
from hookpost.store.notifications import CHANNEL
from hookpost.store.schema import deliveries, messages

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass(frozen=True)
class Setup:
    org: str
    app: str
    other_app: str
    exact: str  # filter ["invoice.paid"]
    wildcard: str  # filter ["invoice.*"]
    everything: str  # no filter
    pascal: str  # filter ["PaymentLinkPaymentSucceeded"]
    disabled: str  # no filter, disabled
    deleted: str  # no filter, deleted
    eu_only: str  # no type filter, channels ["eu"]
    elsewhere: str  # no filter, in the other app


async def endpoint(store: Stores, org: str, app: str, **fields: Any) -> str:
    made = await store.endpoints.create_endpoint(
        org, app, EndpointFields(url="https://example.com/hook", **fields), SECRET
    )
    return made.id


@pytest.fixture
async def setup(store: Stores) -> Setup:
    org = (await store.access.create_organization(f"fanout-{os.urandom(4).hex()}")).id
    app = (await store.applications.create_application(org, ApplicationFields("app"))).id
    other = (await store.applications.create_application(org, ApplicationFields("other"))).id
    deleted = await endpoint(store, org, app)
    await store.endpoints.delete_endpoint(org, app, deleted)
    return Setup(
        org=org,
        app=app,
        other_app=other,
        exact=await endpoint(store, org, app, event_types=("invoice.paid",)),
        wildcard=await endpoint(store, org, app, event_types=("invoice.*",)),
        everything=await endpoint(store, org, app),
        pascal=await endpoint(store, org, app, event_types=("PaymentLinkPaymentSucceeded",)),
        disabled=await endpoint(store, org, app, disabled=True),
        deleted=deleted,
        eu_only=await endpoint(store, org, app, channels=("eu",)),
        elsewhere=await endpoint(store, org, other),
    )


async def targets(store: Stores, msg_id: str) -> set[str]:
    """Endpoints with a scheduled delivery of the message, checking each row's initial state."""
    async with store.database.read() as conn:
        rows = (
            await conn.execute(sa.select(deliveries).where(deliveries.c.msg_id == msg_id))
        ).all()
    for row in rows:
        assert (row.trigger, row.attempts) == (0, 0)
        assert row.state in ("pending", "succeeded", "failed")  # no worker runs here: pending
    assert len(rows) == len({r.endpoint_id for r in rows}), "a delivery was doubled"
    return {r.endpoint_id for r in rows}


async def publish(
    store: Stores, s: Setup, event_type: str, channels: tuple[str, ...] | None = None
) -> tuple[str, int]:
    new = NewMessage(event_type=event_type, payload=b'{"n":1}', channels=channels)
    published = await store.publishing.publish(s.org, s.app, new)
    return published.message.id, published.deliveries


async def test_a_dotted_type_reaches_exact_wildcard_and_open_endpoints(
    store: Stores, setup: Setup
) -> None:
    msg, count = await publish(store, setup, "invoice.paid")
    assert count == 3
    assert await targets(store, msg) == {setup.exact, setup.wildcard, setup.everything}


async def test_a_pascal_case_type_reaches_its_exact_filter(store: Stores, setup: Setup) -> None:
    msg, count = await publish(store, setup, "PaymentLinkPaymentSucceeded")
    assert count == 2
    assert await targets(store, msg) == {setup.pascal, setup.everything}


@pytest.mark.parametrize(
    ("event_type", "also"),
    [
        ("invoice.created", {"wildcard"}),
        ("invoice.paid.late", {"wildcard"}),
        ("invoices.paid", set()),
        ("invoice", set()),
        ("Invoice.paid", set()),
        ("paymentlinkpaymentsucceeded", set()),
        ("PaymentLinkPaymentSucceededLate", set()),
    ],
)
async def test_near_misses_reach_only_what_they_match(
    store: Stores, setup: Setup, event_type: str, also: set[str]
) -> None:
    msg, count = await publish(store, setup, event_type)
    expected = {setup.everything} | {getattr(setup, name) for name in also}
    assert await targets(store, msg) == expected
    assert count == len(expected)


async def test_channels_rule(store: Stores, setup: Setup) -> None:
    eu, _ = await publish(store, setup, "invoice.paid", ("eu", "vip"))
    assert await targets(store, eu) == {
        setup.exact,
        setup.wildcard,
        setup.everything,
        setup.eu_only,
    }
    us, _ = await publish(store, setup, "invoice.paid", ("us",))
    assert setup.eu_only not in await targets(store, us)
    plain, _ = await publish(store, setup, "other.type")
    assert await targets(store, plain) == {setup.everything}  # no channels: never eu_only


async def test_disabled_deleted_and_other_apps_endpoints_get_nothing(
    store: Stores, setup: Setup
) -> None:
    reached: set[str] = set()
    for event_type in ("invoice.paid", "PaymentLinkPaymentSucceeded", "x"):
        for channels in (None, ("eu",)):
            msg, _ = await publish(store, setup, event_type, channels)
            reached |= await targets(store, msg)
    assert reached.isdisjoint({setup.disabled, setup.deleted, setup.elsewhere})
    other = await store.publishing.publish(
        setup.org, setup.other_app, NewMessage("invoice.paid", b"{}")
    )
    assert await targets(store, other.message.id) == {setup.elsewhere}


async def test_a_message_with_no_match_is_still_stored(store: Stores, setup: Setup) -> None:
    await store.endpoints.update_endpoint(
        setup.org, setup.app, setup.everything, {"disabled": True}
    )
    msg, count = await publish(store, setup, "nobody.listens")
    assert count == 0
    assert await targets(store, msg) == set()
    assert await store.lookups.get_message(setup.org, setup.app, msg) is not None


async def test_only_endpoint_ignores_filters(store: Stores, setup: Setup) -> None:
    published = await store.publishing.publish(
        setup.org, setup.app, NewMessage("svix.ping", b"{}"), only_endpoint=setup.pascal
    )
    assert published.deliveries == 1
    assert await targets(store, published.message.id) == {setup.pascal}


async def test_a_refused_publish_writes_nothing(store: Stores, setup: Setup) -> None:
    async def counts() -> tuple[int, int]:
        async with store.database.read() as conn:
            msgs = await conn.scalar(
                sa.select(sa.func.count()).where(messages.c.app_id == setup.app)
            )
            rows = await conn.scalar(
                sa.select(sa.func.count()).where(deliveries.c.app_id == setup.app)
            )
        return int(msgs or 0), int(rows or 0)

    first = NewMessage("invoice.paid", b"{}", event_id="evt-once")
    await store.publishing.publish(setup.org, setup.app, first)
    before = await counts()
    with pytest.raises(Conflict):
        await store.publishing.publish(setup.org, setup.app, first)
    with pytest.raises(NotFound):
        await store.publishing.publish(setup.org, "no-such-app", NewMessage("invoice.paid", b"{}"))
    assert await counts() == before


async def test_an_idempotency_key_publishes_once(store: Stores, setup: Setup) -> None:
    new = NewMessage("invoice.paid", b"{}")
    first = await store.publishing.publish(setup.org, setup.app, new, idempotency_key="k" * 64)
    again = await store.publishing.publish(setup.org, setup.app, new, idempotency_key="k" * 64)
    assert (first.created, again.created) == (True, False)
    assert again.message.id == first.message.id
    assert again.deliveries == 0
    assert await targets(store, first.message.id) == {setup.exact, setup.wildcard, setup.everything}


async def test_a_due_publish_wakes_other_processes_with_its_commit(
    store: Stores, setup: Setup
) -> None:
    """With no worker in this process (`hookpost api`), the publish transaction itself sends
    the NOTIFY on PostgreSQL: exactly one per due publish, none for a later one or one that
    fans out to nobody. SQLite has no other process to wake: the caller rings its doorbell."""
    later = datetime.now(UTC) + timedelta(hours=1)
    if store.database.is_sqlite:
        published = await store.publishing.publish(
            setup.org, setup.app, NewMessage("invoice.paid", b"{}")
        )
        assert published.deliveries == 3
        assert not published.rang
        return
    heard: list[str] = []
    listener = await asyncpg.connect(store.database.dsn)
    try:
        await listener.add_listener(CHANNEL, lambda *args: heard.append(args[2]))
        empty = await store.applications.create_application(setup.org, ApplicationFields("e"))
        quiet = [
            (setup.app, NewMessage("invoice.paid", b"{}", deliver_at=later)),
            (empty.id, NewMessage("invoice.paid", b"{}")),
        ]
        for app, new in quiet:
            published = await store.publishing.publish(setup.org, app, new)
            assert not published.rang
        due = await store.publishing.publish(
            setup.org, setup.app, NewMessage("invoice.paid", b"{}")
        )
        assert due.rang
        assert due.deliveries == 3
        # A round trip on the listening connection: notifications committed before it are
        # delivered before its answer, so all three publishes have been heard from by now.
        await listener.execute("SELECT 1")
        assert heard == [CHANNEL]
    finally:
        await listener.close()

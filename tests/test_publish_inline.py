"""A publish with an inline application (the SDK sends one with every message) costs no
statement of its own: the application is looked up, and created when missing, inside the
publishing transaction, on both stores."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime

import sqlalchemy as sa

from hookpost.core.fields import ApplicationFields
from hookpost.core.ids import IdFactory
from hookpost.service.messages import MessageService, Publication
from hookpost.store import Stores, migrate
from hookpost.store.database import Database
from hookpost.store.schema import applications, messages
from tests.support.live import unique
from tests.support.statements import Captured, capture


def _reads_of_applications(statements: list[str]) -> int:
    return sum(
        1
        for sql in statements
        if sql.lstrip().upper().startswith("SELECT") and "FROM applications" in sql
    )


async def test_an_inline_application_adds_no_statement_to_a_publish(database_url: str) -> None:
    database = Database(database_url)
    captured = Captured()
    capture(database, captured)
    try:
        await migrate.upgrade(database)
        clock = lambda: datetime.now(UTC)  # noqa: E731
        store = Stores(database, clock, IdFactory(clock, os.urandom))
        service = MessageService(
            store.lookups,
            store.publishing,
            store.messages,
            max_payload_bytes=1_000_000,
            wake=lambda: None,
        )
        org = (await store.access.create_organization(unique("org"))).id
        uid = unique("shop")
        inline = ApplicationFields("Shop", uid=uid)

        created = await service.publish(
            org, uid, Publication("a.b", {"n": 0}, application=inline), idempotency_key="k0"
        )
        assert created.created
        assert created.application.uid == uid

        async def statements(publication: Publication, key: str) -> list[str]:
            start = len(captured.statements)
            captured.recording = True
            try:
                await service.publish(org, uid, publication, idempotency_key=key)
            finally:
                captured.recording = False
            return [sql for sql, _ in captured.statements[start:]]

        plain = await statements(Publication("a.b", {"n": 1}), "k1")
        with_app = await statements(Publication("a.b", {"n": 2}, application=inline), "k2")
        assert len(with_app) == len(plain), with_app
        assert _reads_of_applications(with_app) == 1

        async with database.read() as conn:
            count = await conn.scalar(
                sa.select(sa.func.count()).select_from(messages).where(messages.c.org_id == org)
            )
        assert count == 3
    finally:
        await database.close()


async def test_concurrent_publishes_share_the_creation_of_their_inline_application(
    database_url: str,
) -> None:
    """Publishes that arrive together share one transaction; the first creates the
    application and the others publish to it."""
    database = Database(database_url)
    try:
        await migrate.upgrade(database)
        clock = lambda: datetime.now(UTC)  # noqa: E731
        store = Stores(database, clock, IdFactory(clock, os.urandom))
        service = MessageService(
            store.lookups,
            store.publishing,
            store.messages,
            max_payload_bytes=1_000_000,
            wake=lambda: None,
        )
        org = (await store.access.create_organization(unique("org"))).id
        uid = unique("shop")
        inline = ApplicationFields("Shop", uid=uid)
        published = await asyncio.gather(
            *(
                service.publish(org, uid, Publication("a.b", {"n": n}, application=inline))
                for n in range(20)
            )
        )
        assert {p.application.uid for p in published} == {uid}
        assert len({p.application.id for p in published}) == 1
        assert len({p.message.id for p in published}) == 20
        async with database.read() as conn:
            apps = (
                await conn.execute(
                    sa.select(applications.c.id).where(
                        applications.c.org_id == org, applications.c.uid == uid
                    )
                )
            ).all()
        assert len(apps) == 1
    finally:
        await database.close()

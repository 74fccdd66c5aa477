"""Concurrent upserts and inline creates through real clients: never a 409, never a duplicate.

On PostgreSQL two transactions can both miss a row and race to insert it; the loser must
answer with the winner's object (issue 9, item 1). SQLite serialises writers, so it is the
control: the same tests run there too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import sqlalchemy as sa
from svix.api import ApplicationIn, MessageIn

from hookpost.core.event_catalog import CatalogEntry, to_openapi
from hookpost.core.fields import EventTypeFields
from hookpost.store.schema import applications, endpoints, event_types, messages
from tests.support.live import Live, live_server, unique

live = live_server()
CLIENTS = 6
ROUNDS = 5
URL = "http://127.0.0.1:9/hook"
T = TypeVar("T")


def together(work: Callable[[int], T], clients: int = CLIENTS) -> list[T]:
    """Run `work(n)` for n in range(clients) on threads released at the same instant."""
    gate = threading.Barrier(clients)

    def run(n: int) -> T:
        gate.wait()
        return work(n)

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(run, range(clients)))


def statuses(live: Live, method: str, path: str, bodies: list[dict[str, object]]) -> list[int]:
    clients = [live.http() for _ in bodies]

    def send(n: int) -> int:
        response = clients[n].request(method, path, json=bodies[n])
        assert response.status_code < 300, response.text
        return response.status_code

    return together(send, len(bodies))


def test_concurrent_publishes_with_the_same_new_inline_application_all_succeed(
    live: Live,
) -> None:
    sdks = [live.sdk() for _ in range(CLIENTS)]
    for _ in range(ROUNDS):
        uid = unique("inline")

        def publish(n: int, uid: str = uid) -> str:
            message = sdks[n].message.create(
                uid,
                MessageIn(
                    event_type="race.inline",
                    payload={"n": n},
                    application=ApplicationIn(name="Raced", uid=uid),
                ),
            )
            return message.id

        ids = together(publish)
        assert len(set(ids)) == CLIENTS
        apps = live.query(sa.select(applications.c.id).where(applications.c.uid == uid))
        assert len(apps) == 1
        stored = live.count(messages, messages.c.app_id == apps[0].id)
        assert stored == CLIENTS


def test_concurrent_application_puts_leave_one_application(live: Live) -> None:
    for _ in range(ROUNDS):
        uid = unique("put")
        bodies: list[dict[str, object]] = [{"name": f"Put {n}"} for n in range(CLIENTS)]
        answers = statuses(live, "PUT", f"/api/v1/app/{uid}", bodies)
        assert sorted(answers) == [200] * (CLIENTS - 1) + [201]
        assert live.count(applications, applications.c.uid == uid) == 1


def test_concurrent_get_or_create_answers_one_application(live: Live) -> None:
    for _ in range(ROUNDS):
        uid = unique("goc")
        bodies: list[dict[str, object]] = [{"name": "Same", "uid": uid}] * CLIENTS
        answers = statuses(live, "POST", "/api/v1/app?get_if_exists=true", bodies)
        assert sorted(answers) == [200] * (CLIENTS - 1) + [201]
        assert live.count(applications, applications.c.uid == uid) == 1


def test_concurrent_event_type_puts_leave_one_event_type(live: Live) -> None:
    for _ in range(ROUNDS):
        name = unique("race.put")
        bodies: list[dict[str, object]] = [{"description": f"d{n}"} for n in range(CLIENTS)]
        answers = statuses(live, "PUT", f"/api/v1/event-type/{name}", bodies)
        assert sorted(answers) == [200] * (CLIENTS - 1) + [201]
        assert live.count(event_types, event_types.c.name == name) == 1


def test_concurrent_endpoint_puts_leave_one_endpoint(live: Live) -> None:
    app = live.sdk().application.create(ApplicationIn(name="Endpoints")).id
    for _ in range(ROUNDS):
        uid = unique("ep")
        bodies: list[dict[str, object]] = [{"url": f"{URL}/{n}"} for n in range(CLIENTS)]
        answers = statuses(live, "PUT", f"/api/v1/app/{app}/endpoint/{uid}", bodies)
        assert sorted(answers) == [200] * (CLIENTS - 1) + [201]
        found = live.query(
            sa.select(endpoints.c.id).where(
                endpoints.c.app_id == app, endpoints.c.uid == uid, endpoints.c.deleted_at.is_(None)
            )
        )
        assert len(found) == 1


def test_a_publish_racing_a_put_of_its_application_succeeds(live: Live) -> None:
    """The two paths that create an application by uid, against each other."""
    sdks, https = [live.sdk() for _ in range(4)], [live.http() for _ in range(4)]
    for _ in range(ROUNDS):
        uid = unique("mixed")

        def either(n: int, uid: str = uid) -> int:
            if n % 2:
                response = https[n].put(f"/api/v1/app/{uid}", json={"name": "Put"})
                assert response.status_code in (200, 201), response.text
                return response.status_code
            sdks[n].message.create(
                uid,
                MessageIn(
                    event_type="race.mixed",
                    payload={},
                    application=ApplicationIn(name="Inline", uid=uid),
                ),
            )
            return 202

        together(either, 4)
        apps = live.query(sa.select(applications.c.id).where(applications.c.uid == uid))
        assert len(apps) == 1
        assert live.count(messages, messages.c.app_id == apps[0].id) == 2


def test_concurrent_catalog_imports_all_succeed(live: Live) -> None:
    """An import writes each type with a PUT: racing imports of new types must not 409."""
    for _ in range(ROUNDS):
        names = [unique("race.import") for _ in range(3)]
        entries = [CatalogEntry(name, EventTypeFields(description=name)) for name in names]
        spec = to_openapi(entries)
        bodies: list[dict[str, object]] = [{"spec": spec}] * CLIENTS
        answers = statuses(live, "POST", "/api/v1/event-type/import/openapi", bodies)
        assert answers == [200] * CLIENTS
        assert live.count(event_types, event_types.c.name.in_(names)) == 3

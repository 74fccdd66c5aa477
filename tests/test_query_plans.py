"""Every statement of the hot paths uses an index that matches its filter, on both stores.

A store seeded with enough rows for the planner to prefer an index runs the operations a
busy deployment runs (keyed and inline-app publishes, claims, handovers, records, history
reads, redelivery, idempotency keys); every statement they send is captured where it enters
the driver and explained. A full scan of a growing table fails the test: such a scan costs
nothing on an empty table and grows without bound in production (a keyed publish once
scanned all of `messages`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hookpost.core.fields import (
    ApplicationFields,
    AttemptQuery,
    EndpointFields,
    MessageQuery,
    NewMessage,
)
from hookpost.core.ids import IdFactory
from hookpost.core.models import Claim, DeliveryState, TaskKind, TaskStatus
from hookpost.core.outcomes import AttemptRecord, Decision, ErrorClass, Outcome
from hookpost.service.background import TaskRunner
from hookpost.store import Stores, migrate
from hookpost.store.background_tasks import BackgroundTaskStore
from hookpost.store.database import Database
from tests.support import databases
from tests.support.statements import Captured, capture

# Tables that grow with traffic (or with customers); a full scan of any of them is a bug.
GROWING = {"messages", "deliveries", "attempts", "idempotency_keys", "endpoints", "applications"}
SEEDED = 20_000  # rows per growing table: far past where an index wins
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LEASE = timedelta(seconds=30)


async def _seed(database: Database, url: str, *, statistics: bool = True) -> None:
    """SEEDED rows in every growing table, spread over many applications, set-based."""
    now = int(datetime.now(UTC).timestamp() * 1_000_000)
    n = SEEDED
    statements = [
        "INSERT INTO organizations (id, name, created_at) VALUES ('org_bulk', 'bulk', {now})",
        "INSERT INTO applications (id, org_id, uid, name, throttle_rate, metadata, created_at,"
        " updated_at) SELECT 'app_bulk' || i, 'org_bulk', 'uid' || i, 'a', NULL, '{{}}', {now},"
        " {now} FROM {series}",
        "INSERT INTO endpoints (id, org_id, app_id, uid, url, method, description, disabled,"
        " event_types, channels, throttle_rate, metadata, headers, keys, failing_since,"
        " created_at, updated_at) SELECT 'ep_bulk' || i, 'org_bulk', 'app_bulk' || i, NULL,"
        " 'https://example.com', 'POST', '', {false}, NULL, NULL, NULL, '{{}}', '{{}}', '[]',"
        " NULL, {now}, {now} FROM {series}",
        "INSERT INTO messages (id, org_id, app_id, event_type, event_id, channels, tags,"
        " payload, raw_payload, idempotency_key, created_at, expires_at)"
        " SELECT 'msg_bulk' || i, 'org_bulk', 'app_bulk' || (1 + i % 500), 'invoice.paid',"
        " 'evt' || i, NULL, NULL, NULL, {false}, 'key' || i, {now} - i, {now} + i FROM {series}",
        "INSERT INTO deliveries (id, org_id, app_id, msg_id, endpoint_id, state, trigger,"
        " attempts, next_attempt_at, claim_token, created_at, updated_at)"
        " SELECT 'dlv_bulk' || i, 'org_bulk', 'app_bulk' || (1 + i % 500), 'msg_bulk' || i,"
        " 'ep_bulk' || (1 + i % 500), 'succeeded', 0, 1, NULL, NULL, {now}, {now} FROM {series}",
        "INSERT INTO attempts (id, org_id, app_id, msg_id, endpoint_id, delivery_id, url,"
        " method, status, trigger, response_status_code, response_body, response_headers,"
        " request_headers, duration_ms, error_class, error_message, created_at)"
        " SELECT 'atmpt_bulk' || i, 'org_bulk', 'app_bulk' || (1 + i % 500), 'msg_bulk' || i,"
        " 'ep_bulk' || (1 + i % 500), 'dlv_bulk' || i, 'https://example.com', 'POST', 0, 0, 200,"
        " '', '{{}}', '{{}}', 5, NULL, NULL, {now} FROM {series}",
        "INSERT INTO idempotency_keys (key_hash, state, status_code, body, locked_until,"
        " expires_at) SELECT 'hash' || i, 'done', 202, NULL, {now}, {now} + i FROM {series}",
    ]
    if database.is_sqlite:
        series = f"(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s)"  # noqa: E501
        raw = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            with raw:
                for sql in statements:
                    raw.execute(sql.format(now=now, series=series, false=0))
            if statistics:
                raw.execute("ANALYZE")
        finally:
            raw.close()
        return
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            series = f"generate_series(1, {n}) AS i"
            for sql in statements:
                await conn.execute(sql.format(now=now, series=series, false="false"))
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


class Recorder:
    """A handover with room: publishes lease their deliveries to it, as in `serve`."""

    lease = LEASE
    busy = False

    def __init__(self) -> None:
        self.claims: list[Claim] = []

    def reserve(self, wanted: int) -> int:
        return wanted

    def accept(self, claims: Sequence[Claim], reserved: int) -> None:
        self.claims.extend(claims)


def _record(claim: Claim, status: int, state: DeliveryState, at: datetime) -> AttemptRecord:
    outcome = Outcome(
        status_code=status,
        duration_ms=12,
        error_class=None if status == 200 else ErrorClass.HTTP_STATUS,
        response_body="ok",
        request_headers={"webhook-id": claim.message.id},
    )
    next_at = at + timedelta(seconds=5) if state is DeliveryState.PENDING else None
    decision = Decision(state=state, attempts=claim.attempts + 1, next_attempt_at=next_at)
    return AttemptRecord(f"atmpt_{os.urandom(8).hex()}", claim, outcome, decision, at)


async def _workload(store: Stores, clock: Clock) -> None:
    """What a busy deployment does all day, once each."""
    org = (await store.access.create_organization("plans")).id
    app = (
        await store.applications.create_application(org, ApplicationFields("app", uid="shop"))
    ).id
    endpoint = (
        await store.endpoints.create_endpoint(
            org, app, EndpointFields(url="https://example.com/a"), SECRET
        )
    ).id
    new = NewMessage(event_type="invoice.paid", payload=b'{"id":"inv_1"}', event_id="evt_1")
    first = await store.publishing.publish(org, app, new, idempotency_key="k1")
    await store.publishing.publish(org, "shop", new, idempotency_key="k1")  # the key answers again
    await store.publishing.publish(
        org,
        "new-shop",
        NewMessage(event_type="invoice.paid", payload=b"{}"),
        create_app=ApplicationFields("new", uid="new-shop"),
        idempotency_key="k2",
    )
    recorder = Recorder()
    store.publishing.handover = recorder
    await store.publishing.publish(
        org, app, NewMessage(event_type="a.b", payload=b"{}"), idempotency_key="k3"
    )
    store.publishing.handover = None
    claims = await store.queue.claim_due(10, LEASE)
    claims += recorder.claims
    # A failure (starts the endpoint's failing clock), then a success (clears it).
    await store.queue.record_attempts([_record(claims[0], 500, DeliveryState.PENDING, clock.now)])
    await store.queue.record_attempts(
        [_record(c, 200, DeliveryState.SUCCEEDED, clock.now) for c in claims[1:]]
    )
    await store.queue.next_due_at()
    await store.access.claim_idempotency_key(
        "hash-plans", lock_for=timedelta(seconds=30), keep_for=timedelta(hours=1)
    )
    await store.access.finish_idempotency_key("hash-plans", 202, b"{}")
    msg = first.message.id
    await store.lookups.get_message(org, app, msg)
    await store.lookups.get_message(org, app, "evt_1")
    await store.messages.list_messages(org, app, MessageQuery(event_types=("invoice.paid",)))
    await store.history.list_attempts(org, app, AttemptQuery())
    await store.history.list_attempts(org, app, AttemptQuery(), msg_id=msg)
    await store.history.list_attempts(org, app, AttemptQuery(endpoint_id=endpoint, status=0))
    await store.history.list_endpoint_messages(org, endpoint, AttemptQuery())
    await store.history.list_message_destinations(org, msg, limit=10, iterator=None)
    target = await store.lookups.get_endpoint(org, app, endpoint)
    assert target is not None
    await store.redelivery.resend(target, msg)
    await _background_tasks(store, clock, org, app, endpoint)


async def _background_tasks(store: Stores, clock: Clock, org: str, app: str, endpoint: str) -> None:
    """Every background task and the queries beside them, each run to its end."""
    tasks = BackgroundTaskStore(store.database, clock, IdFactory(clock, os.urandom))
    day = {"since": (clock.now - timedelta(days=1)).isoformat(), "until": clock.now.isoformat()}
    on_endpoint = {"app_id": app, "endpoint_id": endpoint}
    filters = {"eventTypes": ["invoice.paid"], "channel": "c", "tag": "t", "status": 2}
    started = [
        (TaskKind.ENDPOINT_RECOVER, day, on_endpoint),
        (TaskKind.ENDPOINT_REPLAY, day, on_endpoint),
        (TaskKind.ENDPOINT_BULK_REPLAY, {**day, **filters, "statusCodeClass": 500}, on_endpoint),
        (TaskKind.APPLICATION_PURGE_CONTENT, {}, {"app_id": app}),
        (TaskKind.APPLICATION_STATS, {**day, "appIds": [app]}, {}),
        (TaskKind.EVENT_TYPE_AGGREGATE, {"appIds": [app]}, {}),
    ]
    for kind, params, where in started:
        await tasks.create(org, kind, params, {}, **where)
    runner = TaskRunner(tasks, lease=LEASE)
    while await runner.run_one():
        pass
    listed = await tasks.list_tasks(
        org, status=None, kind=None, limit=10, iterator=None, descending=True
    )
    assert [t.status for t in listed.items] == [TaskStatus.FINISHED] * len(started)
    await tasks.listening_endpoints(app)
    await tasks.endpoint_attempt_stats(endpoint, clock.now - timedelta(days=1), clock.now)


async def _plan_sqlite(url: str, sql: str) -> list[str]:
    raw = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return [row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}")]
    finally:
        raw.close()


# SQLite names a table by its alias in plans; these are the aliases the store's SQL uses.
_ALIASES = {"a": "applications", "d": "deliveries", "e": "endpoints", "m": "messages"}
# A walk of a whole table, of its primary key with only a range on the id (ids are
# time-sortable, so a range bounded by the history window still covers every tenant's rows),
# or a skip-scan (`ANY(col)`): SQLite's way, once ANALYZE says a leading column has few
# values, of using an index whose first column the filter does not name. It is cheap with
# one organization and walks the index once per organization with many.
_FULL_WALK = re.compile(
    r"^(?:SCAN (?P<scanned>\w+)"
    r"|SEARCH (?P<ranged>\w+) USING (?:INDEX sqlite_autoindex_\w+|PRIMARY KEY) \(id[<>]"
    r"|SEARCH (?P<skipped>\w+) USING .*\bANY\()"
)


def _sqlite_scans(plan: list[str]) -> list[str]:
    found = []
    for line in plan:
        match = _FULL_WALK.match(line)
        if match:
            name = match.group("scanned") or match.group("ranged") or match.group("skipped")
            if _ALIASES.get(name, name) in GROWING:
                found.append(line)
    return found


async def _plan_postgres(conn: asyncpg.Connection, sql: str, args: Sequence[Any]) -> Any:
    text = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
    return json.loads(text)[0]["Plan"]


def _postgres_scans(plan: Any) -> list[str]:
    found = []
    if plan.get("Node Type") == "Seq Scan" and plan.get("Relation Name") in GROWING:
        found.append(f"Seq Scan on {plan['Relation Name']}")
    for child in plan.get("Plans", ()):
        found += _postgres_scans(child)
    return found


# SQLite is planned both with the statistics ANALYZE gathers (hookpost runs PRAGMA optimize
# on its connections) and without (a file that was never analysed, or stale statistics).
@pytest.fixture(params=["sqlite", "sqlite-without-statistics", "postgres"])
async def seeded_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / request.param}.sqlite3"
        return
    await asyncio.to_thread(databases.require_postgres)
    url = await asyncio.to_thread(databases.create_postgres_database)
    try:
        yield url
    finally:
        await asyncio.to_thread(databases.drop_postgres_database, url)


async def test_no_hot_statement_scans_a_growing_table(seeded_url: str) -> None:
    database = Database(seeded_url)
    captured = Captured()
    capture(database, captured)
    try:
        await migrate.upgrade(database)
        await _seed(database, seeded_url, statistics="without" not in seeded_url)
        clock = Clock()
        store = Stores(database, clock, IdFactory(clock, os.urandom))
        captured.recording = True
        await _workload(store, clock)
        captured.recording = False
    finally:
        await database.close()

    assert len(captured.statements) > 20  # the capture saw the workload
    scans: dict[str, list[str]] = {}
    if seeded_url.startswith("sqlite"):
        for sql, _ in captured.statements:
            found = _sqlite_scans(await _plan_sqlite(seeded_url, sql))
            if found:
                scans[sql] = found
    else:
        conn = await asyncpg.connect(seeded_url)
        try:
            for sql, args in captured.statements:
                found = _postgres_scans(await _plan_postgres(conn, sql, args))
                if found:
                    scans[sql] = found
        finally:
            await conn.close()
    assert scans == {}, "\n\n".join(f"{sql}\n  -> {found}" for sql, found in scans.items())


async def test_sqlite_statistics_are_gathered_as_hookpost_runs(tmp_path: Path) -> None:
    """hookpost's SQLite connections run PRAGMA optimize (at close, and every few hours on the
    writer), so the planner's statistics of the growing tables follow the data."""
    url = f"sqlite:///{tmp_path / 'optimize.sqlite3'}"
    database = Database(url)
    try:
        await migrate.upgrade(database)
        await _seed(database, url, statistics=False)
        clock = Clock()
        store = Stores(database, clock, IdFactory(clock, os.urandom))
        await _workload(store, clock)
    finally:
        await database.close()
    raw = sqlite3.connect(tmp_path / "optimize.sqlite3")
    try:
        analysed = {row[0] for row in raw.execute("SELECT tbl FROM sqlite_stat1")}
    finally:
        raw.close()
    assert "deliveries" in analysed

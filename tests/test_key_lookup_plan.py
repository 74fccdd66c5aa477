"""A keyed publish on PostgreSQL looks its idempotency keys up with one index probe each, even
when the planner's statistics say the organization has few messages (a table not analysed
yet, or grown since the last ANALYZE). Written as `idempotency_key = ANY(...)`, the lookup
was then planned as a search of the (org_id, idempotency_key) index on org_id alone with the
keys as a filter, reading every message of the organization on every keyed publish
(bench/scale.py's plans: 2,364 rows read and thrown away per lookup).
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from hookpost.store import migrate
from hookpost.store.database import Database
from hookpost.store.postgres.publish import PostgresPublishing
from tests.support.statements import Captured, capture

MESSAGES = 2_000  # of one organization, never analysed


async def _seed_unanalysed(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        # No ANALYZE, and none behind the test's back: the statistics stay those of an empty
        # table while the organization's messages pile up.
        await conn.execute("ALTER TABLE messages SET (autovacuum_enabled = false)")
        await conn.execute("INSERT INTO organizations VALUES ('org_big', 'big', 1)")
        await conn.execute(
            "INSERT INTO applications (id, org_id, uid, name, metadata, created_at, updated_at)"
            " VALUES ('app_big', 'org_big', 'big', 'big', '{}', 1, 1)"
        )
        await conn.execute(
            "INSERT INTO messages (id, org_id, app_id, event_type, payload, raw_payload,"
            " idempotency_key, created_at, expires_at) SELECT 'msg_big' || i, 'org_big',"
            " 'app_big', 'invoice.paid', NULL, false, 'key' || i, i, i"
            f" FROM generate_series(1, {MESSAGES}) AS i"
        )
    finally:
        await conn.close()


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", ()) for node in _nodes(child))]


async def test_each_key_is_one_probe_whatever_the_statistics(fresh_postgres_url: str) -> None:
    url = fresh_postgres_url
    database = Database(url)
    captured = Captured()
    capture(database, captured)
    try:
        await migrate.upgrade(database)
        await _seed_unanalysed(url)
        captured.recording = True
        async with PostgresPublishing(database).transaction() as rows:
            found = await rows.messages_by_key("org_big", {"key7", "key1999", "missing"})
            # Keys whose messages are older than the key's lifetime are released the same way.
            await rows.forget_keys("org_big", {"key7", "key1999", "missing"}, 1000)
        captured.recording = False
        conn = await asyncpg.connect(url)
        try:
            kept = await conn.fetch(
                "SELECT id, idempotency_key FROM messages WHERE id = ANY($1::varchar[])",
                ["msg_big7", "msg_big1999"],
            )
        finally:
            await conn.close()
    finally:
        await database.close()

    assert sorted((message.id, key) for message, key in found) == [
        ("msg_big1999", "key1999"),
        ("msg_big7", "key7"),
    ]
    # created_at is 7 and 1999: only the first is before 1000, so only its key is released.
    assert {record["id"]: record["idempotency_key"] for record in kept} == {
        "msg_big7": None,
        "msg_big1999": "key1999",
    }
    lookups = [(sql, args) for sql, args in captured.statements if "idempotency_key" in sql]
    assert len(lookups) == 2  # the lookup and the release
    for sql, args in lookups:
        conn = await asyncpg.connect(url)
        try:
            async with conn.transaction():  # EXPLAIN ANALYZE runs the UPDATE: roll it back
                text = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
                raise _RolledBack
        except _RolledBack:
            pass
        finally:
            await conn.close()
        nodes = _nodes(json.loads(text)[0]["Plan"])
        # Three keys, three probes: no node reads the organization's other messages (the
        # release filters a found key's own message on its age, at most one row per key).
        assert sum(node.get("Rows Removed by Filter", 0) for node in nodes) <= 3, sql
        searched = [node for node in nodes if node.get("Relation Name") == "messages"]
        assert searched, nodes
        for node in searched:
            if node["Node Type"] == "ModifyTable":
                continue
            assert node["Node Type"] == "Index Scan", (sql, node)
            assert node["Actual Rows"] * node["Actual Loops"] <= 3, (sql, node)
        probes = [node for node in searched if "idempotency_key" in node.get("Index Cond", "")]
        assert probes, (sql, nodes)


class _RolledBack(Exception):
    """Raised inside a transaction to roll back what EXPLAIN ANALYZE did."""

"""Schema migrations (Alembic) applied to either dialect, safely from many processes at once.

PostgreSQL serialises concurrent migrators with an advisory lock; SQLite with BEGIN IMMEDIATE.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from hookpost.store.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_ID = 0x686F6F6B  # "hook": any constant shared by every hookpost process


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to `revision` (idempotent)."""
    if db.is_sqlite:
        async with db.write() as conn:
            await conn.run_sync(_upgrade, revision)
        return
    async with db.engine.begin() as conn:
        await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        await conn.run_sync(_upgrade, revision)


async def current_revision(db: Database) -> str | None:
    async with db.read() as conn:
        return await conn.run_sync(_current)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _upgrade(connection: sa.Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


def _current(connection: sa.Connection) -> Any:
    return MigrationContext.configure(connection).get_current_revision()


SchemaState = Literal["current", "behind", "ahead"]


class SchemaCheck:
    """Where the database's schema stands against the migrations this hookpost ships
    (readiness: a process whose schema is not at head must not take traffic)."""

    def __init__(self, db: Database) -> None:
        script = ScriptDirectory.from_config(alembic_config())
        self._db = db
        self.head = script.get_current_head()
        self._known = {revision.revision for revision in script.walk_revisions()}

    async def state(self) -> SchemaState:
        """`current` at head, `behind` (run `hookpost migrate`) or `ahead` (a newer hookpost
        migrated it); raises the store's `Unavailable` when the database does not answer."""
        revision = await current_revision(self._db)
        if revision == self.head:
            return "current"
        return "behind" if revision is None or revision in self._known else "ahead"

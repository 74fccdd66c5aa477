"""Alembic environment: runs migrations on the connection hookpost hands over.

Migrations run only through `hookpost migrate` (or start-up), never from the alembic CLI.
"""

from __future__ import annotations

from alembic import context

from hookpost.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("hookpost migrations run through `hookpost migrate`, not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

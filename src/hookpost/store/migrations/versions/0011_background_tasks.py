"""Background tasks: durable, resumable tasks (recover, replays, purges, statistics).

Replaces the `tasks` table, which only recorded that a redelivery had been queued. Each task
now keeps its parameters, its progress (a cursor, counts in `data`), its outcome and a lease
that lets a process resume a task whose runner died.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "background_tasks",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("org_id", sa.String(40), nullable=False),
        sa.Column("app_id", sa.String(40), nullable=True),
        sa.Column("endpoint_id", sa.String(40), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("lease_token", sa.String(32), nullable=True),
        sa.Column("lease_until", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_background_tasks"),
    )
    op.create_index("ix_background_tasks_org_id_id", "background_tasks", ["org_id", "id"])
    op.create_index("ix_background_tasks_status", "background_tasks", ["status"])
    # The old rows were redeliveries queued in one transaction: finished tasks now.
    op.execute(
        "INSERT INTO background_tasks (id, org_id, app_id, endpoint_id, kind, status, params,"
        " data, cursor, error, runs, lease_token, lease_until, created_at, updated_at,"
        " finished_at)"
        " SELECT id, org_id, app_id, endpoint_id, kind, 'finished', '{}',"
        " '{\"messagesSent\": ' || messages || '}', NULL, NULL, 1, NULL, NULL,"
        " created_at, updated_at, updated_at FROM tasks"
    )
    op.drop_table("tasks")


def downgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("app_id", sa.String(length=40), nullable=False),
        sa.Column("endpoint_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
    )
    op.drop_table("background_tasks")

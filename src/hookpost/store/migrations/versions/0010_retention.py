"""Retention: payloads still to expunge indexed by expiry, and a row per retention pass.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

`ix_messages_expiring` replaces `ix_messages_expires_at`: a partial index over the messages
whose payload is still there, so a pass never walks the rows it has already expunged. Building
it reads the whole messages table once (see docs/operations.md, Retention).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_index("ix_messages_expires_at")
        batch_op.create_index(
            "ix_messages_expiring",
            ["expires_at", "id"],
            unique=False,
            postgresql_where=sa.text("payload IS NOT NULL AND expires_at > 0"),
            sqlite_where=sa.text("payload IS NOT NULL AND expires_at > 0"),
        )
    op.create_table(
        "retention_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=False),
        sa.Column("payloads", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("idempotency_keys", sa.Integer(), nullable=False),
        sa.Column("freed_pages", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_retention_runs"),
    )
    with op.batch_alter_table("retention_runs") as batch_op:
        batch_op.create_index("ix_retention_runs_finished_at", ["finished_at"], unique=False)


def downgrade() -> None:
    op.drop_table("retention_runs")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_index("ix_messages_expiring")
        batch_op.create_index("ix_messages_expires_at", ["expires_at"], unique=False)

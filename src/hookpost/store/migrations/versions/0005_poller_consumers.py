"""Positions of polling consumers.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "poller_consumers",
        sa.Column("app_id", sa.String(length=40), nullable=False),
        sa.Column("sink_id", sa.String(length=40), nullable=False),
        sa.Column("consumer_id", sa.String(length=256), nullable=False),
        sa.Column("position", sa.String(length=40), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "app_id", "sink_id", "consumer_id", name=op.f("pk_poller_consumers")
        ),
    )


def downgrade() -> None:
    op.drop_table("poller_consumers")

"""Endpoint pacing: the shared not-before time of each throttled endpoint.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "endpoint_pacing",
        sa.Column("endpoint_id", sa.String(40), nullable=False),
        sa.Column("not_before", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("endpoint_id", name="pk_endpoint_pacing"),
    )


def downgrade() -> None:
    op.drop_table("endpoint_pacing")

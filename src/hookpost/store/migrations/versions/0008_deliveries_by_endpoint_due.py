"""Index pending deliveries by endpoint and due time, for the claim's walk over endpoints.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_PENDING = sa.text("state = 'pending'")


def upgrade() -> None:
    # A claim visits endpoints with pending work in turn (one index seek each) and takes each
    # one's earliest due deliveries, instead of the globally earliest: one tenant's backlog
    # (or an endpoint at its limit) is skipped, not read through.
    op.create_index(
        "ix_deliveries_endpoint_due",
        "deliveries",
        ["endpoint_id", "next_attempt_at"],
        postgresql_where=_PENDING,
        sqlite_where=_PENDING,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_deliveries_endpoint_due",
        table_name="deliveries",
        postgresql_where=_PENDING,
        sqlite_where=_PENDING,
    )

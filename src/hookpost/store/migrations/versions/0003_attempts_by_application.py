"""Index attempts by application, for the application-wide attempt history.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Listing an application's attempts walked the primary key of every tenant's attempts.
    op.create_index("ix_attempts_app_id_id", "attempts", ["app_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_attempts_app_id_id", table_name="attempts")

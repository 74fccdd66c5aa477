"""Customer-portal tokens and browser sessions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_tokens",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("app_id", sa.String(length=40), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("link_hash", sa.String(length=64), nullable=False),
        sa.Column("link_used_at", sa.BigInteger(), nullable=True),
        sa.Column("capabilities", sa.Text(), nullable=False),
        sa.Column("feature_flags", sa.Text(), nullable=False),
        sa.Column("session_id", sa.String(length=256), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_tokens")),
        sa.UniqueConstraint("link_hash", name=op.f("uq_portal_tokens_link_hash")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_portal_tokens_token_hash")),
    )
    with op.batch_alter_table("portal_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_tokens_app_id"), ["app_id"], unique=False)

    op.create_table(
        "portal_sessions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("token_id", sa.String(length=40), nullable=False),
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["portal_tokens.id"],
            name=op.f("fk_portal_sessions_token_id_portal_tokens"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_sessions")),
        sa.UniqueConstraint("session_hash", name=op.f("uq_portal_sessions_session_hash")),
    )
    with op.batch_alter_table("portal_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_sessions_token_id"), ["token_id"], unique=False)


def downgrade() -> None:
    op.drop_table("portal_sessions")
    op.drop_table("portal_tokens")

"""The relational schema, shared by SQLite and PostgreSQL (SQLAlchemy Core tables).

Times are integer microseconds since the epoch and JSON is stored as text, so both dialects
behave the same; the Alembic migrations in `migrations/` must produce exactly these tables.
"""

from __future__ import annotations

import sqlalchemy as sa

from hookpost.store.queue_sql import PENDING

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = sa.String(40)
EXPIRING = "payload IS NOT NULL AND expires_at > 0"  # ix_messages_expiring's rows
TIME = sa.BigInteger

organizations = sa.Table(
    "organizations",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("org_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("hint", sa.String(16), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("revoked_at", TIME),
)

applications = sa.Table(
    "applications",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("org_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("uid", sa.String(256)),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("throttle_rate", sa.Integer),
    sa.Column("metadata", sa.Text, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
    sa.Column("deleted_at", TIME),
    sa.UniqueConstraint("org_id", "uid"),
    sa.Index(None, "org_id", "id"),
)

event_types = sa.Table(
    "event_types",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("org_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("archived", sa.Boolean, nullable=False),
    sa.Column("deprecated", sa.Boolean, nullable=False),
    sa.Column("schemas", sa.Text),
    sa.Column("feature_flags", sa.Text),
    sa.Column("group_name", sa.Text),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
    sa.UniqueConstraint("org_id", "name"),
)

endpoints = sa.Table(
    "endpoints",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("org_id", ID, nullable=False),
    sa.Column("app_id", ID, sa.ForeignKey("applications.id"), nullable=False),
    sa.Column("uid", sa.String(256)),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("event_types", sa.Text),
    sa.Column("channels", sa.Text),
    sa.Column("throttle_rate", sa.Integer),
    sa.Column("metadata", sa.Text, nullable=False),
    sa.Column("headers", sa.Text, nullable=False),
    sa.Column("keys", sa.Text, nullable=False),
    sa.Column("failing_since", TIME),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
    sa.Column("deleted_at", TIME),
    sa.UniqueConstraint("app_id", "uid"),
    sa.Index(None, "app_id", "id"),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("org_id", ID, nullable=False),
    sa.Column("app_id", ID, sa.ForeignKey("applications.id"), nullable=False),
    sa.Column("event_type", sa.String(256), nullable=False),
    sa.Column("event_id", sa.String(256)),
    sa.Column("channels", sa.Text),
    sa.Column("tags", sa.Text),
    sa.Column("payload", sa.LargeBinary),
    sa.Column("raw_payload", sa.Boolean, nullable=False),
    sa.Column("idempotency_key", sa.String(64)),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("expires_at", TIME, nullable=False),
    # deliverAt: its deliveries were first due then, not at creation (null: at once).
    sa.Column("deliver_at", TIME),
    sa.UniqueConstraint("app_id", "event_id"),
    sa.UniqueConstraint("org_id", "idempotency_key"),
    sa.Index(None, "app_id", "id"),
    # Payloads still to expunge, oldest first (revision 0010): retention walks this index,
    # which loses each row as its payload is set to NULL. `expires_at > 0` (always true) keeps
    # it to retention's query: a query filtering on `payload IS NOT NULL` alone (recover)
    # cannot use it, so its small count on a database of expunged payloads never draws the
    # planner into walking messages by id.
    sa.Index(
        "ix_messages_expiring",
        "expires_at",
        "id",
        postgresql_where=sa.text(EXPIRING),
        sqlite_where=sa.text(EXPIRING),
    ),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("org_id", ID, nullable=False),
    sa.Column("app_id", ID, nullable=False),
    sa.Column("msg_id", ID, sa.ForeignKey("messages.id"), nullable=False),
    sa.Column("endpoint_id", ID, sa.ForeignKey("endpoints.id"), nullable=False),
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("trigger", sa.SmallInteger, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    # For a pending delivery: when it is due, or when a worker's lease on it runs out.
    sa.Column("next_attempt_at", TIME),
    sa.Column("claim_token", sa.String(32)),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
    sa.Index(None, "msg_id", "endpoint_id"),
    sa.Index(None, "endpoint_id", "msg_id"),
    sa.Index(
        "ix_deliveries_due",
        "next_attempt_at",
        postgresql_where=sa.text(f"state = {PENDING}"),  # the claim's condition
        sqlite_where=sa.text(f"state = {PENDING}"),
    ),
    # Pending deliveries by endpoint, earliest due first: the claim's walk over endpoints.
    sa.Index(
        "ix_deliveries_endpoint_due",
        "endpoint_id",
        "next_attempt_at",
        postgresql_where=sa.text(f"state = {PENDING}"),
        sqlite_where=sa.text(f"state = {PENDING}"),
    ),
    # Leased deliveries by claim token: loading a claim and fencing its results.
    sa.Index(
        "ix_deliveries_claim",
        "claim_token",
        postgresql_where=sa.text("claim_token IS NOT NULL"),
        sqlite_where=sa.text("claim_token IS NOT NULL"),
    ),
    # One scheduled delivery per message and endpoint, so a fan-out can never double.
    sa.Index(
        "uq_deliveries_scheduled",
        "msg_id",
        "endpoint_id",
        unique=True,
        postgresql_where=sa.text("trigger = 0"),
        sqlite_where=sa.text("trigger = 0"),
    ),
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("org_id", ID, nullable=False),
    sa.Column("app_id", ID, nullable=False),
    sa.Column("msg_id", ID, nullable=False),
    sa.Column("endpoint_id", ID, nullable=False),
    sa.Column("delivery_id", ID, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("status", sa.SmallInteger, nullable=False),
    sa.Column("trigger", sa.SmallInteger, nullable=False),
    sa.Column("response_status_code", sa.Integer, nullable=False),
    sa.Column("response_body", sa.Text, nullable=False),
    sa.Column("response_headers", sa.Text, nullable=False),
    sa.Column("request_headers", sa.Text, nullable=False),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("error_class", sa.String(32)),
    sa.Column("error_message", sa.Text),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("error_code", sa.String(64)),  # revision 0006
    sa.Index(None, "msg_id", "id"),
    sa.Index(None, "endpoint_id", "id"),
    sa.Index(None, "app_id", "id"),
)

# Endpoints with a throttleRate: the earliest time (µs) their next delivery may go.
endpoint_pacing = sa.Table(
    "endpoint_pacing",
    metadata,
    sa.Column("endpoint_id", ID, primary_key=True),
    sa.Column("not_before", TIME, nullable=False),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("key_hash", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("body", sa.LargeBinary),
    sa.Column("locked_until", TIME, nullable=False),
    sa.Column("expires_at", TIME, nullable=False),
    sa.Index(None, "expires_at"),
)

# Background tasks (revision 0008): parameters, progress and outcome of a bulk operation, and
# the lease of the process running it (a task whose lease ran out is resumed elsewhere).
background_tasks = sa.Table(
    "background_tasks",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("org_id", ID, nullable=False),
    sa.Column("app_id", ID),
    sa.Column("endpoint_id", ID),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("cursor", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("runs", sa.Integer, nullable=False),
    sa.Column("lease_token", sa.String(32)),
    sa.Column("lease_until", TIME),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
    sa.Column("finished_at", TIME),
    sa.Index(None, "org_id", "id"),
    sa.Index(None, "status"),
)

# Customer-portal tokens (Svix's app-portal access): the token and its single-use magic link
# are stored only as SHA-256 hashes.
portal_tokens = sa.Table(
    "portal_tokens",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("org_id", ID, nullable=False),
    sa.Column("app_id", ID, nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("link_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("link_used_at", TIME),
    sa.Column("capabilities", sa.Text, nullable=False),
    sa.Column("feature_flags", sa.Text, nullable=False),
    sa.Column("session_id", sa.String(256)),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("expires_at", TIME, nullable=False),
    sa.Column("revoked_at", TIME),
    sa.Index(None, "app_id"),
)

# Browser sessions opened from a magic link; the cookie's value is stored as a hash.
portal_sessions = sa.Table(
    "portal_sessions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("token_id", ID, sa.ForeignKey("portal_tokens.id"), nullable=False),
    sa.Column("session_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("expires_at", TIME, nullable=False),
    sa.Column("ended_at", TIME),
    sa.Index(None, "token_id"),
)

# Where each consumer of a polling endpoint (`/poller/{sink}/consumer/{consumer}`) stands.
poller_consumers = sa.Table(
    "poller_consumers",
    metadata,
    sa.Column("app_id", ID, primary_key=True),
    sa.Column("sink_id", ID, primary_key=True),
    sa.Column("consumer_id", sa.String(256), primary_key=True),
    sa.Column("position", ID, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
)

# One row per retention pass (revision 0010): what it deleted, and when; see
# docs/operations.md, Retention. Rows older than HOOKPOST_ATTEMPT_RETENTION are deleted too.
retention_runs = sa.Table(
    "retention_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("started_at", TIME, nullable=False),
    sa.Column("finished_at", TIME, nullable=False),
    sa.Column("payloads", sa.Integer, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("deliveries", sa.Integer, nullable=False),
    sa.Column("idempotency_keys", sa.Integer, nullable=False),
    sa.Column("freed_pages", sa.Integer, nullable=False),
    sa.Column("error", sa.Text),
    sa.Index(None, "finished_at"),
)

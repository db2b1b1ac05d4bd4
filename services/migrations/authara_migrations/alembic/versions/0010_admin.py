"""The admin console: the email allowlist, the admin audit log, and user search indexes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

- `allowed_emails` (upstream 003): one row per allowed address, stored trimmed and lowercased
  (a check keeps it so); `uq_allowed_emails_email` makes an address appear once.
  `ix_allowed_emails_email_pattern` (btree, `text_pattern_ops`) serves `email LIKE 'prefix%'`
  whatever the database's collation (the unique index only serves `=` outside the C collation).
- `admin_audit_events` (upstream 011, plus `actor_label` and `request_id`): who did what to whom.
  `actor_user_id` and `target_user_id` are SET NULL when the account is deleted, so the trail
  outlives the accounts. `actor_label` names an actor that is not a user (`cli`). Indexes: newest
  first `(created_at, id)` (also the retention cleanup's range), and `(actor_user_id, created_at)`,
  `(target_user_id, created_at)`, `(action, created_at)` for the filters, each read backwards for
  newest-first pages; the two user ones also make ON DELETE SET NULL cheap.
- User search (admin console) by prefix, on 1M users: three btree expression indexes with
  `text_pattern_ops`, which serve left-anchored LIKE in any collation:
    `ix_users_email_pattern`     lower(email) text_pattern_ops  → `lower(email) LIKE $1 || '%'`
    `ix_users_username_pattern`  username_normalized text_pattern_ops
                                 → `username_normalized LIKE $1 || '%'`
    `ix_users_id_pattern`        (id::text) text_pattern_ops    → `(id::text) LIKE $1 || '%'`
  A query must use these exact expressions (escaping `%`, `_` and backslash in the term) to use
  them. We chose prefix over substring (pg_trgm): prefix is what an operator types (the start of
  an email, a username, an id copied from a log), a btree range scan stays a few pages whatever
  the table size, and pg_trgm needs CREATE EXTENSION, which managed databases often refuse to
  the application's role; trigram scans for short terms also degrade to most of the index.
  `ix_users_created_at` serves the dashboard's signups (last 24 h, 7 d, per day for 30 days)
  and a newest-first user listing.
  Built with plain CREATE INDEX (a table lock for the build: seconds on 1M rows); run the
  migration in a quiet moment on a large installation.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP, UUID

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[object]:
    return sa.Column(
        "id", UUID(as_uuid=True), nullable=False, server_default=sa.text("gen_random_uuid()")
    )


def _ts(name: str) -> sa.Column[object]:
    return sa.Column(
        name, TIMESTAMP(timezone=True), nullable=False, server_default=sa.text("now()")
    )


def _user_ref(name: str) -> sa.Column[object]:
    return sa.Column(
        name,
        UUID(as_uuid=True),
        sa.ForeignKey("users.id", ondelete="SET NULL", name=f"fk_admin_audit_events_{name}_users"),
        nullable=True,
    )


def upgrade() -> None:
    op.create_table(
        "allowed_emails",
        _id(),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("email", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_allowed_emails"),
        sa.UniqueConstraint("email", name="uq_allowed_emails_email"),
        sa.CheckConstraint(
            "email = lower(btrim(email)) AND email <> ''",
            name=op.f("ck_allowed_emails_email_normalized"),
        ),
    )
    op.create_index(
        "ix_allowed_emails_email_pattern",
        "allowed_emails",
        ["email"],
        postgresql_ops={"email": "text_pattern_ops"},
    )
    op.create_table(
        "admin_audit_events",
        _id(),
        _ts("created_at"),
        _user_ref("actor_user_id"),
        sa.Column("actor_label", sa.Text(), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        _user_ref("target_user_id"),
        sa.Column("target_email", sa.Text(), nullable=True),
        sa.Column("metadata", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_admin_audit_events"),
        sa.CheckConstraint(
            "jsonb_typeof(metadata) = 'object'",
            name=op.f("ck_admin_audit_events_metadata_object"),
        ),
    )
    op.create_index(
        "ix_admin_audit_events_created_at_id", "admin_audit_events", ["created_at", "id"]
    )
    for column in ("actor_user_id", "target_user_id", "action"):
        op.create_index(
            f"ix_admin_audit_events_{column}_created_at",
            "admin_audit_events",
            [column, "created_at"],
        )
    op.execute("CREATE INDEX ix_users_email_pattern ON users (lower(email) text_pattern_ops)")
    op.create_index(
        "ix_users_username_pattern",
        "users",
        ["username_normalized"],
        postgresql_ops={"username_normalized": "text_pattern_ops"},
    )
    op.execute("CREATE INDEX ix_users_id_pattern ON users ((id::text) text_pattern_ops)")
    op.create_index("ix_users_created_at", "users", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_users_created_at", table_name="users")
    op.drop_index("ix_users_id_pattern", table_name="users")
    op.drop_index("ix_users_username_pattern", table_name="users")
    op.drop_index("ix_users_email_pattern", table_name="users")
    op.drop_table("admin_audit_events")
    op.drop_table("allowed_emails")

"""Email challenges and the email outbox (upstream 004, 005, 006, 008 and 015 in one revision).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

- `challenges`: one per signup verification, password reset or email change; `opaque` ones
  (unknown or taken emails) never get a code, so they can never verify.
- `verification_codes`: at most one live code per challenge, stored as HMAC-SHA256 hex under a
  JWT key (`key_id` says which); made when the email is sent, replaced by a resend.
- `pending_signup_actions`, `pending_password_resets`, `pending_email_changes`: what a verified
  challenge applies (a password hash captured up front, a new email).
- `email_jobs`: the transactional email outbox, written in the transaction of the change that
  needs the mail; workers claim due rows with FOR UPDATE SKIP LOCKED.
New, empty tables: nothing to backfill, nothing locked.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP, UUID

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = False, now_default: bool = True) -> sa.Column[object]:
    return sa.Column(
        name,
        TIMESTAMP(timezone=True),
        nullable=nullable,
        server_default=sa.text("now()") if now_default and not nullable else None,
    )


def _id() -> sa.Column[object]:
    return sa.Column(
        "id", UUID(as_uuid=True), nullable=False, server_default=sa.text("gen_random_uuid()")
    )


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete=ondelete
    )


def _challenge_child(table: str, *columns: sa.Column[object] | sa.Constraint) -> None:
    """Create a table of what a verified challenge applies: a row per challenge, gone with it."""
    op.create_table(
        table,
        _id(),
        _ts("created_at"),
        sa.Column("challenge_id", UUID(as_uuid=True), nullable=False),
        *columns,
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        _fk(table, "challenge_id", "challenges", "CASCADE"),
        sa.UniqueConstraint("challenge_id", name=f"uq_{table}_challenge_id"),
    )


def upgrade() -> None:
    op.create_table(
        "challenges",
        _id(),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("user_id", UUID(as_uuid=True), nullable=True),
        sa.Column("opaque", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        _ts("expires_at", now_default=False),
        _ts("consumed_at", nullable=True),
        sa.Column("attempt_count", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("max_attempts", sa.Integer(), nullable=False, server_default=sa.text("5")),
        sa.Column("resend_count", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("max_resends", sa.Integer(), nullable=False, server_default=sa.text("3")),
        _ts("last_sent_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_challenges"),
        _fk("challenges", "user_id", "users", "CASCADE"),
        sa.CheckConstraint(
            "purpose IN ('signup', 'password_reset', 'email_change')",
            name=op.f("ck_challenges_purpose"),
        ),
    )
    op.create_index("ix_challenges_expires_at", "challenges", ["expires_at"])
    op.create_index("ix_challenges_email", "challenges", [sa.text("lower(email)")])
    op.create_index("ix_challenges_user_id", "challenges", ["user_id"])

    op.create_table(
        "verification_codes",
        _id(),
        _ts("created_at"),
        sa.Column("challenge_id", UUID(as_uuid=True), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(128), nullable=False),
        _ts("expires_at", now_default=False),
        sa.PrimaryKeyConstraint("id", name="pk_verification_codes"),
        _fk("verification_codes", "challenge_id", "challenges", "CASCADE"),
        sa.UniqueConstraint("challenge_id", name="uq_verification_codes_challenge_id"),
    )

    _challenge_child(
        "pending_signup_actions",
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("invitation_id", UUID(as_uuid=True), nullable=True),
    )
    op.create_foreign_key(
        "fk_pending_signup_actions_invitation_id",
        "pending_signup_actions",
        "organization_invitations",
        ["invitation_id"],
        ["id"],
        ondelete="CASCADE",
    )
    _challenge_child(
        "pending_password_resets",
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        _fk("pending_password_resets", "user_id", "users", "CASCADE"),
    )
    _challenge_child(
        "pending_email_changes",
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("old_email", sa.Text(), nullable=False),
        sa.Column("new_email", sa.Text(), nullable=False),
        _fk("pending_email_changes", "user_id", "users", "CASCADE"),
    )

    op.create_table(
        "email_jobs",
        _id(),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("challenge_id", UUID(as_uuid=True), nullable=True),
        sa.Column("to_email", sa.Text(), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("template_data", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempt_count", sa.Integer(), nullable=False, server_default=sa.text("0")),
        _ts("next_attempt_at"),
        _ts("processing_started_at", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("sent_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_email_jobs"),
        _fk("email_jobs", "challenge_id", "challenges", "CASCADE"),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'sent', 'failed')",
            name=op.f("ck_email_jobs_status"),
        ),
        sa.CheckConstraint(
            "jsonb_typeof(template_data) = 'object'",
            name=op.f("ck_email_jobs_template_data_object"),
        ),
    )
    op.create_index(
        "ix_email_jobs_pending",
        "email_jobs",
        ["next_attempt_at", "created_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_email_jobs_processing",
        "email_jobs",
        ["processing_started_at"],
        postgresql_where=sa.text("status = 'processing'"),
    )
    op.create_index(
        "ix_email_jobs_terminal",
        "email_jobs",
        ["status", "updated_at"],
        postgresql_where=sa.text("status IN ('sent', 'failed')"),
    )
    op.create_index("ix_email_jobs_to_email", "email_jobs", [sa.text("lower(to_email)")])


def downgrade() -> None:
    op.drop_table("email_jobs")
    op.drop_table("pending_email_changes")
    op.drop_table("pending_password_resets")
    op.drop_table("pending_signup_actions")
    op.drop_table("verification_codes")
    op.drop_table("challenges")

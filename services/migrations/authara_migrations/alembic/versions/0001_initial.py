"""Initial schema: users, platform roles, auth providers, sessions, refresh tokens.

Revision ID: 0001
Revises:
Create Date: 2026-01-01

Hand-written, and frozen once released: it spells out every name instead of importing
tables.py, which describes the newest schema, not this revision's.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TIMESTAMP, UUID

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLATFORM_ROLES = ("admin", "auditor", "monitor")


def _id() -> sa.Column[object]:
    return sa.Column(
        "id", UUID(as_uuid=True), nullable=False, server_default=sa.text("gen_random_uuid()")
    )


def _ts(name: str, *, nullable: bool = False, now_default: bool = True) -> sa.Column[object]:
    default = sa.text("now()") if now_default and not nullable else None
    return sa.Column(name, TIMESTAMP(timezone=True), nullable=nullable, server_default=default)


def _uuid(name: str) -> sa.Column[object]:
    return sa.Column(name, UUID(as_uuid=True), nullable=False)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "users",
        _id(),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("username_normalized", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        _ts("disabled_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
        sa.UniqueConstraint("username", name="uq_users_username"),
        sa.UniqueConstraint("username_normalized", name="uq_users_username_normalized"),
    )
    roles = op.create_table(
        "platform_roles",
        _id(),
        sa.Column("name", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_platform_roles"),
        sa.UniqueConstraint("name", name="uq_platform_roles_name"),
    )
    op.create_table(
        "user_platform_roles",
        _uuid("user_id"),
        _uuid("role_id"),
        _ts("created_at"),
        _fk("user_platform_roles", "user_id", "users"),
        _fk("user_platform_roles", "role_id", "platform_roles"),
        sa.PrimaryKeyConstraint("user_id", "role_id", name="pk_user_platform_roles"),
    )
    op.create_table(
        "auth_providers",
        _id(),
        _ts("created_at"),
        _ts("updated_at"),
        _uuid("user_id"),
        sa.Column("provider", sa.String(50), nullable=False),
        sa.Column("provider_user_id", sa.Text(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        _fk("auth_providers", "user_id", "users"),
        sa.PrimaryKeyConstraint("id", name="pk_auth_providers"),
        sa.UniqueConstraint("user_id", "provider", name="uq_auth_providers_user_id_provider"),
        sa.UniqueConstraint(
            "provider", "provider_user_id", name="uq_auth_providers_provider_provider_user_id"
        ),
    )
    op.create_table(
        "sessions",
        _id(),
        _ts("created_at"),
        _ts("updated_at"),
        _uuid("user_id"),
        _ts("expires_at", now_default=False),
        _ts("revoked_at", nullable=True),
        sa.Column("user_agent", sa.String(255), nullable=False, server_default=""),
        _fk("sessions", "user_id", "users"),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])
    op.create_table(
        "refresh_tokens",
        _id(),
        _ts("created_at"),
        _uuid("session_id"),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _ts("expires_at", now_default=False),
        _ts("consumed_at", nullable=True),
        _fk("refresh_tokens", "session_id", "sessions"),
        sa.PrimaryKeyConstraint("id", name="pk_refresh_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_refresh_tokens_token_hash"),
    )
    op.create_index("ix_refresh_tokens_session_id", "refresh_tokens", ["session_id"])
    op.create_index("ix_refresh_tokens_expires_at", "refresh_tokens", ["expires_at"])
    op.bulk_insert(roles, [{"name": name} for name in PLATFORM_ROLES])


def downgrade() -> None:
    op.drop_table("refresh_tokens")
    op.drop_table("sessions")
    op.drop_table("auth_providers")
    op.drop_table("user_platform_roles")
    op.drop_table("platform_roles")
    op.drop_table("users")

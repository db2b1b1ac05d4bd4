"""OAuth sign-in: single-use flow states and pending provider links.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

`oauth_states` holds one row per redirect flow (or used ID-token nonce), found by the hash
of its `state` and consumed compare-and-set; `provider_links` holds an external identity
whose email matches an existing account until that account proves ownership.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TIMESTAMP, UUID

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[object]:
    return sa.Column(
        "id", UUID(as_uuid=True), nullable=False, server_default=sa.text("gen_random_uuid()")
    )


def _ts(name: str, *, nullable: bool = False, now_default: bool = True) -> sa.Column[object]:
    default = sa.text("now()") if now_default and not nullable else None
    return sa.Column(name, TIMESTAMP(timezone=True), nullable=nullable, server_default=default)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "provider_links",
        _id(),
        _ts("created_at"),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("binding_hash", sa.String(64), nullable=False),
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("provider", sa.String(50), nullable=False),
        sa.Column("provider_user_id", sa.Text(), nullable=False),
        sa.Column("provider_email", sa.Text(), nullable=False),
        sa.Column("return_to", sa.Text(), nullable=False),
        _ts("expires_at", now_default=False),
        _ts("consumed_at", nullable=True),
        _fk("provider_links", "user_id", "users"),
        sa.PrimaryKeyConstraint("id", name="pk_provider_links"),
        sa.UniqueConstraint("token_hash", name="uq_provider_links_token_hash"),
    )
    op.create_index("ix_provider_links_expires_at", "provider_links", ["expires_at"])
    op.create_table(
        "oauth_states",
        _id(),
        _ts("created_at"),
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("binding_hash", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(50), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("user_id", UUID(as_uuid=True), nullable=True),
        sa.Column("session_id", UUID(as_uuid=True), nullable=True),
        sa.Column("provider_link_id", UUID(as_uuid=True), nullable=True),
        sa.Column("return_to", sa.Text(), nullable=False),
        _ts("expires_at", now_default=False),
        _ts("consumed_at", nullable=True),
        _fk("oauth_states", "user_id", "users"),
        _fk("oauth_states", "session_id", "sessions"),
        _fk("oauth_states", "provider_link_id", "provider_links"),
        sa.PrimaryKeyConstraint("id", name="pk_oauth_states"),
        sa.UniqueConstraint("state_hash", name="uq_oauth_states_state_hash"),
    )
    op.create_index("ix_oauth_states_expires_at", "oauth_states", ["expires_at"])


def downgrade() -> None:
    op.drop_table("oauth_states")
    op.drop_table("provider_links")

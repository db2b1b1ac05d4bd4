"""Organization invitations: `organization_invitations` (upstream 013 and 018 in one revision).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

A new, empty table: nothing to backfill, nothing locked. Only the SHA-256 hex of an
invitation token is stored. At most one active (neither accepted nor revoked) invitation per
organization and email, case-insensitively, enforced by a partial unique index.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP, UUID

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "organization_invitations"


def _ts(name: str, *, nullable: bool = False, now_default: bool = True) -> sa.Column[object]:
    return sa.Column(
        name,
        TIMESTAMP(timezone=True),
        nullable=nullable,
        server_default=sa.text("now()") if now_default and not nullable else None,
    )


def _user_fk(column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["users.id"], name=f"fk_{_TABLE}_{column}_users", ondelete="SET NULL"
    )


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column(
            "id", UUID(as_uuid=True), nullable=False, server_default=sa.text("gen_random_uuid()")
        ),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("organization_id", UUID(as_uuid=True), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("invited_by_user_id", UUID(as_uuid=True), nullable=True),
        _ts("expires_at", now_default=False),
        _ts("accepted_at", nullable=True),
        sa.Column("accepted_by_user_id", UUID(as_uuid=True), nullable=True),
        _ts("revoked_at", nullable=True),
        sa.Column("revoked_by_user_id", UUID(as_uuid=True), nullable=True),
        sa.Column("metadata", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.PrimaryKeyConstraint("id", name=f"pk_{_TABLE}"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=f"fk_{_TABLE}_organization_id_organizations",
            ondelete="CASCADE",
        ),
        _user_fk("invited_by_user_id"),
        _user_fk("accepted_by_user_id"),
        _user_fk("revoked_by_user_id"),
        sa.UniqueConstraint("token_hash", name=f"uq_{_TABLE}_token_hash"),
        sa.CheckConstraint("role IN ('admin', 'member')", name=op.f(f"ck_{_TABLE}_role")),
        sa.CheckConstraint("btrim(email) <> ''", name=op.f(f"ck_{_TABLE}_email_not_blank")),
        sa.CheckConstraint(
            "accepted_at IS NULL OR revoked_at IS NULL",
            name=op.f(f"ck_{_TABLE}_accepted_or_revoked"),
        ),
        sa.CheckConstraint(
            "jsonb_typeof(metadata) = 'object'", name=op.f(f"ck_{_TABLE}_metadata_object")
        ),
    )
    op.create_index(f"ix_{_TABLE}_organization_id", _TABLE, ["organization_id"])
    op.create_index(
        f"uq_{_TABLE}_active_email",
        _TABLE,
        ["organization_id", sa.text("lower(email)")],
        unique=True,
        postgresql_where=sa.text("accepted_at IS NULL AND revoked_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table(_TABLE)

"""Organizations: tables, the pinned mode, and each session's active organization.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Creates `organizations`, `organization_memberships` and the `organization_mode` singleton,
and adds `sessions.active_organization_id` as a nullable column with its composite foreign
key to memberships marked NOT VALID (so adding it scans nothing). Revision 0005 fills it in.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TIMESTAMP, UUID

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str) -> sa.Column[object]:
    return sa.Column(
        name, TIMESTAMP(timezone=True), nullable=False, server_default=sa.text("now()")
    )


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column(
            "id", UUID(as_uuid=True), nullable=False, server_default=sa.text("gen_random_uuid()")
        ),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_by_user_id", UUID(as_uuid=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_organizations"),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name="fk_organizations_created_by_user_id_users",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint("btrim(name) <> ''", name=op.f("ck_organizations_name_not_blank")),
        sa.CheckConstraint("kind IN ('personal', 'team')", name=op.f("ck_organizations_kind")),
    )
    op.create_index(
        "uq_organizations_personal_creator",
        "organizations",
        ["created_by_user_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'personal'"),
    )
    op.create_table(
        "organization_memberships",
        sa.Column("organization_id", UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("organization_id", "user_id", name="pk_organization_memberships"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_organization_memberships_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_organization_memberships_user_id_users",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "role IN ('owner', 'admin', 'member')", name=op.f("ck_organization_memberships_role")
        ),
    )
    op.create_index("ix_organization_memberships_user_id", "organization_memberships", ["user_id"])
    op.create_table(
        "organization_mode",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_organization_mode"),
        sa.CheckConstraint("id = 1", name=op.f("ck_organization_mode_singleton")),
        sa.CheckConstraint(
            "mode IN ('personal', 'single', 'multi')", name=op.f("ck_organization_mode_mode")
        ),
    )
    op.add_column(
        "sessions", sa.Column("active_organization_id", UUID(as_uuid=True), nullable=True)
    )
    op.execute(
        "ALTER TABLE sessions ADD CONSTRAINT"
        " fk_sessions_active_organization_id_organization_memberships"
        " FOREIGN KEY (active_organization_id, user_id)"
        " REFERENCES organization_memberships (organization_id, user_id) NOT VALID"
    )


def downgrade() -> None:
    op.drop_column("sessions", "active_organization_id")
    op.drop_table("organization_mode")
    op.drop_table("organization_memberships")
    op.drop_table("organizations")

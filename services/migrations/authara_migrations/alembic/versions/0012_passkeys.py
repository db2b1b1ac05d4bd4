"""Passkeys: users' WebAuthn credentials and the ceremonies' single-use challenges.

Revision ID: 0012
Revises: 0011 (on this branch still 0010: the lead rebases it onto 0011)
Create Date: 2026-12-05

- `passkeys` (upstream 010): one row per credential, `credential_id` unique across users (the
  browser hands it back at sign-in; it names the row). `public_key` is the COSE key as the
  authenticator sent it, `sign_count` its last signature counter (a counter that goes backwards
  sets `clone_warning` and refuses that sign-in), `transports`, `aaguid` (the authenticator
  model), `attestation_format`, and the backup flags (eligible: a synced passkey; state: backed
  up now). `name` is editable ("Chrome on macOS • Jan 2026" at first). Deleted with the user.
- `webauthn_challenges` (upstream 010): the challenge of one registration (a user's) or one
  authentication (nobody's yet), five minutes long, consumed once by compare-and-set
  (`consumed_at IS NULL AND expires_at > now`). `ix_webauthn_challenges_expires_at` serves the
  periodic cleanup.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP, UUID

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[object]:
    return sa.Column(
        "id", UUID(as_uuid=True), nullable=False, server_default=sa.text("gen_random_uuid()")
    )


def _ts(name: str, *, nullable: bool = False, now_default: bool = True) -> sa.Column[object]:
    return sa.Column(
        name,
        TIMESTAMP(timezone=True),
        nullable=nullable,
        server_default=sa.text("now()") if now_default and not nullable else None,
    )


def _user_id(table: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(
        "user_id",
        UUID(as_uuid=True),
        sa.ForeignKey("users.id", ondelete="CASCADE", name=f"fk_{table}_user_id_users"),
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_table(
        "passkeys",
        _id(),
        _ts("created_at"),
        _ts("updated_at"),
        _user_id("passkeys", nullable=False),
        sa.Column("credential_id", sa.LargeBinary(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column(
            "transports",
            ARRAY(sa.Text()),
            nullable=False,
            server_default=sa.text("'{}'::text[]"),
        ),
        sa.Column("aaguid", sa.String(36), nullable=False),
        sa.Column("attestation_format", sa.String(32), nullable=False),
        sa.Column("user_verified", sa.Boolean(), nullable=False),
        sa.Column("backup_eligible", sa.Boolean(), nullable=False),
        sa.Column("backup_state", sa.Boolean(), nullable=False),
        sa.Column("clone_warning", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("name", sa.String(100), nullable=False, server_default=sa.text("'Passkey'")),
        _ts("last_used_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_passkeys"),
        sa.UniqueConstraint("credential_id", name="uq_passkeys_credential_id"),
        sa.CheckConstraint("btrim(name) <> ''", name=op.f("ck_passkeys_name_not_blank")),
    )
    op.create_index("ix_passkeys_user_id", "passkeys", ["user_id"])
    op.create_table(
        "webauthn_challenges",
        _id(),
        _ts("created_at"),
        _user_id("webauthn_challenges", nullable=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("challenge", sa.LargeBinary(), nullable=False),
        _ts("expires_at", now_default=False),
        _ts("consumed_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webauthn_challenges"),
        sa.CheckConstraint(
            "purpose IN ('registration', 'authentication')",
            name=op.f("ck_webauthn_challenges_purpose"),
        ),
    )
    op.create_index("ix_webauthn_challenges_expires_at", "webauthn_challenges", ["expires_at"])
    op.create_index("ix_webauthn_challenges_user_id", "webauthn_challenges", ["user_id"])


def downgrade() -> None:
    op.drop_table("webauthn_challenges")
    op.drop_table("passkeys")

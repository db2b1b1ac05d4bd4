"""Remember each rotated refresh token's successor (as a hash) for the reuse grace window.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

A replay of the token that was just rotated away gets the same successor back; the server
re-derives it from the presented token with its key and checks it against this hash.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("refresh_tokens", sa.Column("successor_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("refresh_tokens", "successor_hash")

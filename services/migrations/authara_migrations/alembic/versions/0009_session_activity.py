"""Sessions remember when they were last used and the IP address they started from.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

- `sessions.last_used_at`: set when a session starts and moved at each refresh (at most once a
  minute), not at every request. Nullable and not backfilled: adding a nullable column
  without a default rewrites nothing and holds its lock for an instant on any table size;
  readers take `created_at` for rows that predate it.
- `sessions.ip_address`: the client's address when the session started (sign-in), as text;
  64 characters hold any IPv6 address with a zone. Null for older rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TIMESTAMP

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("last_used_at", TIMESTAMP(timezone=True), nullable=True))
    op.add_column("sessions", sa.Column("ip_address", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("sessions", "ip_address")
    op.drop_column("sessions", "last_used_at")

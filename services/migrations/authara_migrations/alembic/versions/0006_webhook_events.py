"""The webhook outbox: `webhook_events` (upstream 016 and 017 in one revision).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

One row per event, written in the transaction of the change it reports; `payload` is the
whole envelope as delivered. A new, empty table: nothing to backfill, nothing locked.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "webhook_events"


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(
        name,
        TIMESTAMP(timezone=True),
        nullable=nullable,
        server_default=None if nullable else sa.text("now()"),
    )


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("id", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("payload", JSONB(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempt_count", sa.Integer(), nullable=False, server_default=sa.text("0")),
        _ts("next_attempt_at"),
        _ts("processing_started_at", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("delivered_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_events"),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'delivered', 'failed')",
            name=op.f("ck_webhook_events_status"),
        ),
    )
    op.create_index(
        "ix_webhook_events_pending",
        _TABLE,
        ["next_attempt_at", "created_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_webhook_events_processing",
        _TABLE,
        ["processing_started_at"],
        postgresql_where=sa.text("status = 'processing'"),
    )
    op.create_index(
        "ix_webhook_events_terminal",
        _TABLE,
        ["status", "updated_at"],
        postgresql_where=sa.text("status IN ('delivered', 'failed')"),
    )


def downgrade() -> None:
    op.drop_table(_TABLE)

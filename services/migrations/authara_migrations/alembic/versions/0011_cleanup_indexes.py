"""Index the foreign keys the cleanup jobs' deletes cascade through.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

A DELETE that cascades through a foreign key looks the referencing rows up by that key, once
per deleted row; without an index on it, each lookup scans the referencing table. Added:
`oauth_states (session_id)`, `oauth_states (provider_link_id)`, `email_jobs (challenge_id)`.
- Deleting a session (the expired-session cleanup, 1000 per batch; a user's or an
  organization's sessions) cascades to `refresh_tokens` (indexed by `session_id` since 0001)
  and to `oauth_states`, whose `session_id` had no index.
- The OAuth cleanup deletes expired `provider_links`, which cascades to `oauth_states` by
  `provider_link_id`.
- The challenge cleanup deletes expired `challenges`, which cascades to `email_jobs` (the
  outbox keeps sent mail for 30 days: the biggest of these tables) by `challenge_id`.
`oauth_states` holds flows in progress (minutes) and `email_jobs` a month of mail, so the
builds are short; plain CREATE INDEX, like 0005 and 0010.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_oauth_states_session_id", "oauth_states", "session_id"),
    ("ix_oauth_states_provider_link_id", "oauth_states", "provider_link_id"),
    ("ix_email_jobs_challenge_id", "email_jobs", "challenge_id"),
)


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _column in INDEXES:
        op.drop_index(name, table_name=table)

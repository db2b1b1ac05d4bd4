"""An index for deleting sessions: `oauth_states.session_id`.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

Deleting a session (the expired-session cleanup, in batches of 1000; a user's or an
organization's sessions) cascades to `refresh_tokens` (indexed by `session_id` since 0001) and
to `oauth_states`, whose `session_id` had no index: each deleted session cost a scan of
`oauth_states`. `ix_oauth_states_session_id` makes it an index probe. `oauth_states` holds only
flows in progress (minutes), so the build is short; plain CREATE INDEX, like 0005 and 0010.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_oauth_states_session_id", "oauth_states", ["session_id"])


def downgrade() -> None:
    op.drop_index("ix_oauth_states_session_id", table_name="oauth_states")

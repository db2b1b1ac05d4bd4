"""Give every user a personal organization and every session its active organization.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Safe on a live database: the backfill runs outside the migration's transaction, in batches
of BATCH_SIZE rows each committed on its own (keyset over ids, so no batch rescans earlier
ones), and is idempotent, so a run interrupted half-way is finished by the next. Then rows
written meanwhile by a running core are caught up, and `active_organization_id` becomes
NOT NULL through a CHECK validated under a lock that lets traffic go on, so SET NOT NULL
does not scan `sessions` under its exclusive lock.
The index the foreign key needs (deleting a membership looks up its sessions) is built
in between; writes to `sessions` wait for that build (seconds for millions of rows).

Organization name: the username, else the email's local part, else "Personal workspace".
"""

from collections.abc import Sequence
from typing import Final

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH_SIZE: Final = 1000
_AFTER: Final = "id > CAST(:after AS uuid)"

# One batch of users (from :after on, by id): a personal organization and its owner membership
# for each user that has none. Returns the batch's last id, NULL once past the end.
_ORGANIZE_USERS: Final = """
WITH batch AS (
    SELECT id, username, email FROM users WHERE {where} ORDER BY id LIMIT {limit}
), orgs AS (
    INSERT INTO organizations (name, kind, created_by_user_id)
    SELECT coalesce(nullif(btrim(b.username), ''), nullif(btrim(split_part(b.email, '@', 1)), ''),
                    'Personal workspace'),
           'personal', b.id
    FROM batch b
    WHERE NOT EXISTS (
        SELECT 1 FROM organizations o WHERE o.created_by_user_id = b.id AND o.kind = 'personal'
    )
    ON CONFLICT DO NOTHING
    RETURNING id, created_by_user_id
), members AS (
    INSERT INTO organization_memberships (organization_id, user_id, role)
    SELECT id, created_by_user_id, 'owner' FROM orgs
    ON CONFLICT DO NOTHING
)
SELECT id FROM batch ORDER BY id DESC LIMIT 1
"""

# One batch of sessions: point each one without an active organization at its user's
# personal organization.
_ACTIVATE_SESSIONS: Final = """
WITH batch AS (
    SELECT id FROM sessions WHERE {where} ORDER BY id LIMIT {limit}
), updated AS (
    UPDATE sessions s SET active_organization_id = o.id
    FROM batch b, organizations o
    WHERE s.id = b.id AND s.active_organization_id IS NULL
      AND o.created_by_user_id = s.user_id AND o.kind = 'personal'
)
SELECT id FROM batch ORDER BY id DESC LIMIT 1
"""


def _in_batches(template: str) -> None:
    conn = op.get_bind()
    statement = sa.text(template.format(where=_AFTER, limit=BATCH_SIZE))
    after = "00000000-0000-0000-0000-000000000000"
    while True:
        last = conn.execute(statement, {"after": after}).scalar()
        if last is None:
            return
        after = str(last)


def _all_at_once(template: str) -> None:
    op.execute(template.format(where="TRUE", limit="ALL"))


def upgrade() -> None:
    with op.get_context().autocommit_block():  # each statement commits on its own
        _in_batches(_ORGANIZE_USERS)
        _in_batches(_ACTIVATE_SESSIONS)
        # Not CONCURRENTLY: that waits for every open snapshot, including a second migration
        # run queued on the advisory lock (a deadlock). Writes to sessions wait for the build.
        op.execute(
            "CREATE INDEX IF NOT EXISTS ix_sessions_active_organization_id_user_id"
            " ON sessions (active_organization_id, user_id)"
        )
        op.execute(
            "ALTER TABLE sessions DROP CONSTRAINT IF EXISTS ck_sessions_active_organization_set"
        )
        # From here on no session can be written without an organization (an older core
        # still running fails to sign users in until it is replaced: docs/operations.md).
        op.execute(
            "ALTER TABLE sessions ADD CONSTRAINT ck_sessions_active_organization_set"
            " CHECK (active_organization_id IS NOT NULL) NOT VALID"
        )
        # Rows a running core wrote during the batches: few, so one statement each.
        _all_at_once(_ORGANIZE_USERS)
        _all_at_once(_ACTIVATE_SESSIONS)
        # VALIDATE takes a lock that lets reads and writes go on while it scans.
        op.execute("ALTER TABLE sessions VALIDATE CONSTRAINT ck_sessions_active_organization_set")
        op.execute(
            "ALTER TABLE sessions VALIDATE CONSTRAINT"
            " fk_sessions_active_organization_id_organization_memberships"
        )
    _all_at_once(_ORGANIZE_USERS)  # users an older core created since
    # The validated CHECK proves the column holds no NULL: SET NOT NULL scans nothing.
    op.execute("ALTER TABLE sessions ALTER COLUMN active_organization_id SET NOT NULL")
    op.execute("ALTER TABLE sessions DROP CONSTRAINT ck_sessions_active_organization_set")


def downgrade() -> None:
    op.drop_index("ix_sessions_active_organization_id_user_id", "sessions")
    op.execute("ALTER TABLE sessions ALTER COLUMN active_organization_id DROP NOT NULL")
    op.execute("UPDATE sessions SET active_organization_id = NULL")
    op.execute("DELETE FROM organization_memberships")
    op.execute("DELETE FROM organizations")

"""The migrations job against a real PostgreSQL: schema, idempotence, locking, CLI contract."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Final

import asyncpg
import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg import sql
from psycopg.rows import TupleRow
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from authara_contract.database import DatabaseSettings
from authara_core.platform.schema import REQUIRED_SCHEMA_REVISION, current_schema_revision
from authara_migrations import runner, tables
from authara_migrations.connection import ADVISORY_LOCK_KEY
from tests.dbutil import fresh_database

MIGRATE: Final = Path(sys.executable).parent / "authara-migrate"
CLI_TIMEOUT_S: Final = 60
EXPECTED_TABLES: Final = frozenset(
    {"users", "platform_roles", "user_platform_roles", "auth_providers", "sessions",
     "refresh_tokens", "provider_links", "oauth_states", "organizations",
     "organization_memberships", "organization_mode", "webhook_events",
     "organization_invitations", "challenges", "verification_codes", "pending_signup_actions",
     "pending_password_resets", "pending_email_changes", "email_jobs",
     "allowed_emails", "admin_audit_events", "passkeys", "webauthn_challenges"}
)  # fmt: skip
# Core maps unique violations to domain errors by constraint name: these names are contract.
EXPECTED_CONSTRAINTS: Final = frozenset(
    {
        "pk_users", "uq_users_email", "uq_users_username", "uq_users_username_normalized",
        "pk_platform_roles", "uq_platform_roles_name",
        "pk_user_platform_roles", "fk_user_platform_roles_user_id_users",
        "fk_user_platform_roles_role_id_platform_roles",
        "pk_auth_providers", "fk_auth_providers_user_id_users",
        "uq_auth_providers_user_id_provider", "uq_auth_providers_provider_provider_user_id",
        "pk_sessions", "fk_sessions_user_id_users",
        "pk_refresh_tokens", "fk_refresh_tokens_session_id_sessions",
        "uq_refresh_tokens_token_hash",
        "pk_provider_links", "uq_provider_links_token_hash", "fk_provider_links_user_id_users",
        "pk_oauth_states", "uq_oauth_states_state_hash", "fk_oauth_states_user_id_users",
        "fk_oauth_states_session_id_sessions", "fk_oauth_states_provider_link_id_provider_links",
        "pk_organizations", "fk_organizations_created_by_user_id_users",
        "ck_organizations_name_not_blank", "ck_organizations_kind",
        "pk_organization_memberships", "ck_organization_memberships_role",
        "fk_organization_memberships_organization_id_organizations",
        "fk_organization_memberships_user_id_users",
        "pk_organization_mode", "ck_organization_mode_singleton", "ck_organization_mode_mode",
        "fk_sessions_active_organization_id_organization_memberships",
        "pk_webhook_events", "ck_webhook_events_status",
        "pk_organization_invitations", "uq_organization_invitations_token_hash",
        "fk_organization_invitations_organization_id_organizations",
        "fk_organization_invitations_invited_by_user_id_users",
        "fk_organization_invitations_accepted_by_user_id_users",
        "fk_organization_invitations_revoked_by_user_id_users",
        "ck_organization_invitations_role", "ck_organization_invitations_email_not_blank",
        "ck_organization_invitations_accepted_or_revoked",
        "ck_organization_invitations_metadata_object",
        "pk_challenges", "fk_challenges_user_id_users", "ck_challenges_purpose",
        "pk_verification_codes", "fk_verification_codes_challenge_id_challenges",
        "uq_verification_codes_challenge_id",
        "pk_pending_signup_actions", "fk_pending_signup_actions_challenge_id_challenges",
        "uq_pending_signup_actions_challenge_id", "fk_pending_signup_actions_invitation_id",
        "pk_pending_password_resets", "fk_pending_password_resets_challenge_id_challenges",
        "uq_pending_password_resets_challenge_id", "fk_pending_password_resets_user_id_users",
        "pk_pending_email_changes", "fk_pending_email_changes_challenge_id_challenges",
        "uq_pending_email_changes_challenge_id", "fk_pending_email_changes_user_id_users",
        "pk_email_jobs", "fk_email_jobs_challenge_id_challenges", "ck_email_jobs_status",
        "ck_email_jobs_template_data_object",
        "pk_allowed_emails", "uq_allowed_emails_email", "ck_allowed_emails_email_normalized",
        "pk_admin_audit_events", "ck_admin_audit_events_metadata_object",
        "fk_admin_audit_events_actor_user_id_users", "fk_admin_audit_events_target_user_id_users",
        "pk_passkeys", "uq_passkeys_credential_id", "fk_passkeys_user_id_users",
        "ck_passkeys_name_not_blank",
        "pk_webauthn_challenges", "fk_webauthn_challenges_user_id_users",
        "ck_webauthn_challenges_purpose",
    }
)  # fmt: skip
EXPECTED_INDEXES: Final = frozenset(
    {
        "ix_sessions_user_id", "ix_sessions_expires_at",
        "ix_refresh_tokens_session_id", "ix_refresh_tokens_expires_at",
        "ix_provider_links_expires_at", "ix_oauth_states_expires_at", "ix_oauth_states_session_id",
        "ix_oauth_states_provider_link_id", "ix_email_jobs_challenge_id",
        "ix_sessions_active_organization_id_user_id", "ix_organization_memberships_user_id",
        "uq_organizations_personal_creator",
        "ix_webhook_events_pending", "ix_webhook_events_processing", "ix_webhook_events_terminal",
        "ix_organization_invitations_organization_id", "uq_organization_invitations_active_email",
        "ix_challenges_expires_at", "ix_challenges_email", "ix_challenges_user_id",
        "ix_email_jobs_pending", "ix_email_jobs_processing", "ix_email_jobs_terminal",
        "ix_email_jobs_to_email",
        "ix_users_email_pattern", "ix_users_username_pattern", "ix_users_id_pattern",
        "ix_users_created_at",
        "ix_allowed_emails_email_pattern", "ix_admin_audit_events_created_at_id",
        "ix_admin_audit_events_actor_user_id_created_at",
        "ix_admin_audit_events_target_user_id_created_at",
        "ix_admin_audit_events_action_created_at",
        "ix_passkeys_user_id", "ix_webauthn_challenges_expires_at",
        "ix_webauthn_challenges_user_id",
    }
)  # fmt: skip
SEEDED_ROLES: Final = ("admin", "auditor", "monitor")


@pytest.fixture
def fresh_db(pg_server_url: str) -> Iterator[DatabaseSettings]:
    """Yield an empty database that was never migrated."""
    with fresh_database(pg_server_url) as settings:
        yield settings


def _connect(settings: DatabaseSettings) -> psycopg.Connection[TupleRow]:
    return psycopg.connect(settings.url(), autocommit=True)


def _cli_env(settings: DatabaseSettings | None, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("POSTGRESQL_") and key != "LOG_LEVEL"
    }
    if settings is not None:
        env |= {
            "POSTGRESQL_HOST": settings.host,
            "POSTGRESQL_PORT": str(settings.port),
            "POSTGRESQL_DATABASE": settings.database,
            "POSTGRESQL_USERNAME": settings.username,
            "POSTGRESQL_PASSWORD": settings.password,
            "POSTGRESQL_SCHEMA": settings.schema,
        }
    return env | extra


def _migrate(
    *args: str, env: Mapping[str, str], command_line: tuple[str, ...] = (str(MIGRATE),)
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command_line, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def _tables(settings: DatabaseSettings, schema: str) -> set[str]:
    with _connect(settings) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))
        return {name for (name,) in rows}


def _role_names(settings: DatabaseSettings) -> list[str]:
    with _connect(settings) as conn:
        rows = conn.execute(
            sql.SQL("SELECT name FROM {} ORDER BY name").format(
                sql.Identifier(settings.schema, "platform_roles")
            )
        )
        return [name for (name,) in rows]


def _snapshot(settings: DatabaseSettings) -> dict[str, list[tuple[object, ...]]]:
    """Capture the schema's catalog and seed rows, to prove a later run changed nothing."""
    queries = {
        "columns": """
            SELECT table_name, column_name, data_type, is_nullable, column_default
            FROM information_schema.columns WHERE table_schema = %(schema)s ORDER BY 1, 2""",
        "constraints": """
            SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid),
                   c.oid
            FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
            WHERE n.nspname = %(schema)s ORDER BY 2""",
        "indexes": """
            SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %(schema)s
            ORDER BY 1""",
        "roles": sql.SQL("SELECT id, name, created_at FROM {} ORDER BY 2").format(
            sql.Identifier(settings.schema, "platform_roles")
        ),
        "version": sql.SQL("SELECT version_num FROM {}").format(
            sql.Identifier(settings.schema, runner.VERSION_TABLE)
        ),
    }
    with _connect(settings) as conn:
        return {
            key: conn.execute(query, {"schema": settings.schema}).fetchall()
            for key, query in queries.items()
        }


def _schema_diff(settings: DatabaseSettings) -> list[object]:
    """Compare the live schema with tables.metadata, as `alembic check` does."""
    engine = create_engine(
        settings.url("postgresql+psycopg"),
        poolclass=NullPool,
        connect_args={"options": f"-csearch_path={settings.schema}"},
    )
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "include_name": lambda name, type_, _parents: (
                        not (type_ == "table" and name == runner.VERSION_TABLE)
                    ),
                },
            )
            return list(compare_metadata(context, tables.metadata))
    finally:
        engine.dispose()


def _waiting_for_migration_lock(settings: DatabaseSettings) -> int:
    with _connect(settings) as conn:
        row = conn.execute(
            """
            SELECT count(*) FROM pg_locks
            WHERE locktype = 'advisory' AND NOT granted
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND ((classid::bigint << 32) | objid::bigint) = %s
            """,
            (ADVISORY_LOCK_KEY,),
        ).fetchone()
        assert row is not None
        return int(str(row[0]))


def test_upgrade_again_changes_nothing(db_settings: DatabaseSettings) -> None:
    before = _snapshot(db_settings)

    runner.upgrade(db_settings)

    assert _snapshot(db_settings) == before
    assert runner.current_revision(db_settings) == REQUIRED_SCHEMA_REVISION


def test_tables_constraints_and_indexes_exist(db_settings: DatabaseSettings) -> None:
    assert _tables(db_settings, db_settings.schema) == EXPECTED_TABLES | {runner.VERSION_TABLE}
    snapshot = _snapshot(db_settings)
    # PostgreSQL 18 also lists NOT NULL as constraints (contype 'n'); they are columns' business.
    constraints = {str(row[1]) for row in snapshot["constraints"] if row[2] != "n"}
    indexes = {str(row[0]) for row in snapshot["indexes"]}
    assert constraints == EXPECTED_CONSTRAINTS | {"alembic_version_pkc"}
    # Primary keys and unique constraints are backed by indexes of the same name.
    backing = {name for name in EXPECTED_CONSTRAINTS if name.startswith(("pk_", "uq_"))}
    assert indexes == EXPECTED_INDEXES | backing | {"alembic_version_pkc"}
    assert not [row for row in snapshot["constraints"] if "NOT VALID" in str(row[3])]


def test_platform_roles_are_seeded(db_settings: DatabaseSettings) -> None:
    assert _role_names(db_settings) == list(SEEDED_ROLES)
    assert tuple(sorted(tables.PLATFORM_ROLE_NAMES)) == SEEDED_ROLES


def test_migrated_schema_matches_metadata(db_settings: DatabaseSettings) -> None:
    assert _schema_diff(db_settings) == []
    command.check(runner.alembic_config(db_settings))  # raises on any difference


def test_schema_comparison_detects_drift(fresh_db: DatabaseSettings) -> None:
    runner.upgrade(fresh_db)
    with _connect(fresh_db) as conn:
        conn.execute("DROP INDEX authara.ix_sessions_expires_at")
        conn.execute("ALTER TABLE authara.users ALTER COLUMN email DROP NOT NULL")

    diff = [str(change) for change in _schema_diff(fresh_db)]

    assert any("ix_sessions_expires_at" in change for change in diff)
    assert any("modify_nullable" in change and "email" in change for change in diff)


def test_head_is_the_revision_core_requires() -> None:
    script = ScriptDirectory.from_config(runner.alembic_config())
    assert script.get_heads() == [REQUIRED_SCHEMA_REVISION]
    assert runner.head_revision() == REQUIRED_SCHEMA_REVISION
    assert runner.known_revisions() == {f"{n:04d}" for n in range(1, 13)}


def test_downgrade_removes_everything_and_upgrade_restores_it(fresh_db: DatabaseSettings) -> None:
    runner.upgrade(fresh_db)

    command.downgrade(runner.alembic_config(fresh_db), "base")

    assert _tables(fresh_db, "authara") == {runner.VERSION_TABLE}
    assert runner.current_revision(fresh_db) is None
    runner.upgrade(fresh_db)
    assert runner.current_revision(fresh_db) == REQUIRED_SCHEMA_REVISION
    assert _role_names(fresh_db) == list(SEEDED_ROLES)


def test_concurrent_runs_wait_for_the_lock_and_both_succeed(fresh_db: DatabaseSettings) -> None:
    env = _cli_env(fresh_db)
    with _connect(fresh_db) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        runs = [
            subprocess.Popen(
                [str(MIGRATE), "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for _ in range(2)
        ]
        try:
            deadline = time.monotonic() + CLI_TIMEOUT_S
            while _waiting_for_migration_lock(fresh_db) < 2:
                assert all(run.poll() is None for run in runs), "a run did not wait for the lock"
                assert time.monotonic() < deadline, "the runs never queued on the lock"
                time.sleep(0.05)
            # Nothing may happen before the lock is held, not even creating the schema.
            assert _tables(fresh_db, "authara") == set()
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
        outputs = [run.communicate(timeout=CLI_TIMEOUT_S) for run in runs]

    stdouts = [out.decode() for out, _ in outputs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert [err for _, err in outputs] == [b"", b""]
    assert [out.splitlines()[-1] for out in stdouts] == [
        f"database is at revision {REQUIRED_SCHEMA_REVISION}"
    ] * 2
    assert all("waiting for it" in out for out in stdouts), stdouts
    assert sum("applied revision 0001" in out for out in stdouts) == 1, stdouts
    assert runner.current_revision(fresh_db) == REQUIRED_SCHEMA_REVISION
    assert _role_names(fresh_db) == list(SEEDED_ROLES)
    assert _schema_diff(fresh_db) == []


def test_status_exits_1_when_behind_and_0_at_head(fresh_db: DatabaseSettings) -> None:
    env = _cli_env(fresh_db)

    behind = _migrate("status", env=env)
    up = _migrate("up", env=env)
    at_head = _migrate("status", env=env, command_line=(sys.executable, "-m", "authara_migrations"))

    assert behind.returncode == 1, behind.stderr
    assert behind.stdout.strip() == (
        f"database is at revision none, head is {REQUIRED_SCHEMA_REVISION}: behind,"
        " run `authara-migrate up`"
    )
    assert up.returncode == 0, up.stderr
    assert up.stderr == ""
    assert up.stdout.splitlines()[-1] == f"database is at revision {REQUIRED_SCHEMA_REVISION}"
    assert "INFO authara_migrations: applied revision 0001 (Initial schema" in up.stdout
    assert at_head.returncode == 0, at_head.stderr
    assert at_head.stdout.strip() == (
        f"database is at revision {REQUIRED_SCHEMA_REVISION},"
        f" head is {REQUIRED_SCHEMA_REVISION}: up to date"
    )


def test_failing_migration_exits_3_with_one_line_and_rolls_back(
    fresh_db: DatabaseSettings,
) -> None:
    with _connect(fresh_db) as conn:
        conn.execute("CREATE SCHEMA authara")
        conn.execute("CREATE TABLE authara.sessions (id int)")

    result = _migrate("up", env=_cli_env(fresh_db))

    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        'authara-migrate: migration failed: relation "sessions" already exists'
    ]
    # One transaction per migration: nothing of revision 0001 survives its failure.
    assert _tables(fresh_db, "authara") == {"sessions"}
    assert runner.current_revision(fresh_db) is None


def test_revision_from_a_newer_release_is_refused(fresh_db: DatabaseSettings) -> None:
    runner.upgrade(fresh_db)
    with _connect(fresh_db) as conn:
        conn.execute("UPDATE authara.alembic_version SET version_num = '9999'")
    env = _cli_env(fresh_db)

    status = _migrate("status", env=env)
    up = _migrate("up", env=env)

    assert status.returncode == 1
    assert (
        f"database is at revision 9999, head is {REQUIRED_SCHEMA_REVISION}: unknown to this release"
        in status.stdout
    )
    assert up.returncode == 3
    assert up.stderr.splitlines() == [
        "authara-migrate: cannot upgrade: Can't locate revision identified by '9999'"
    ]


@pytest.mark.parametrize("subcommand", ["up", "status"])
def test_unreachable_database_fails_with_one_line(
    fresh_db: DatabaseSettings, subcommand: str
) -> None:
    env = _cli_env(replace(fresh_db, host="127.0.0.1", port=1))

    result = _migrate(subcommand, env=env)

    assert result.returncode == 3
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "authara-migrate: cannot reach PostgreSQL at 127.0.0.1:1: connection refused"
    ]


def test_missing_variables_exit_2_naming_each() -> None:
    result = _migrate("up", env=_cli_env(None, LOG_LEVEL="loud"))

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("authara-migrate: invalid configuration: ")
    for name in ("HOST", "PORT", "DATABASE", "USERNAME", "PASSWORD"):
        assert f"POSTGRESQL_{name}: is required" in lines[0]
    assert "LOG_LEVEL: must be one of debug, info, warn, error" in lines[0]


async def test_custom_schema_holds_the_tables(fresh_db: DatabaseSettings) -> None:
    custom = replace(fresh_db, schema="custom_schema")

    result = _migrate("up", env=_cli_env(custom))

    assert result.returncode == 0, result.stderr
    assert _tables(custom, "custom_schema") == EXPECTED_TABLES | {runner.VERSION_TABLE}
    assert _tables(custom, "authara") == set()
    assert runner.current_revision(custom) == REQUIRED_SCHEMA_REVISION
    assert runner.current_revision(fresh_db) is None
    conn = await asyncpg.connect(custom.url())
    try:
        assert await current_schema_revision(conn, "custom_schema") == REQUIRED_SCHEMA_REVISION
        assert await current_schema_revision(conn, "authara") is None
    finally:
        await conn.close()


async def test_current_schema_revision_reads_alembic_version(fresh_db: DatabaseSettings) -> None:
    conn = await asyncpg.connect(fresh_db.url())
    try:
        assert await current_schema_revision(conn, "authara") is None
        await conn.execute("CREATE SCHEMA authara")
        assert await current_schema_revision(conn, "authara") is None
        runner.upgrade(fresh_db)
        assert await current_schema_revision(conn, "authara") == REQUIRED_SCHEMA_REVISION
    finally:
        await conn.close()


@pytest.mark.parametrize("attempt", [1, 2])
def test_db_fixture_starts_each_test_empty(db: DatabaseSettings, attempt: int) -> None:
    with _connect(db) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM authara.users), (SELECT count(*) FROM authara.sessions),"
            " (SELECT count(*) FROM authara.organizations)"
        ).fetchone()
        assert counts == (0, 0, 0), f"attempt {attempt} saw rows left by an earlier test"
        user_id = conn.execute(
            "INSERT INTO authara.users (username, username_normalized, email)"
            " VALUES ('ada', 'ada', 'ada@example.com') RETURNING id"
        ).fetchone()
        assert user_id is not None
        org_id = conn.execute(
            "INSERT INTO authara.organizations (name, kind, created_by_user_id)"
            " VALUES ('ada', 'personal', %s) RETURNING id",
            (user_id[0],),
        ).fetchone()
        assert org_id is not None
        conn.execute(
            "INSERT INTO authara.organization_memberships (organization_id, user_id, role)"
            " VALUES (%s, %s, 'owner')",
            (org_id[0], user_id[0]),
        )
        conn.execute(
            "INSERT INTO authara.sessions (user_id, expires_at, active_organization_id)"
            " VALUES (%s, now(), %s)",
            (user_id[0], org_id[0]),
        )
    assert _role_names(db) == list(SEEDED_ROLES)


def test_0002_keeps_existing_tokens(fresh_db: DatabaseSettings) -> None:
    command.upgrade(runner.alembic_config(fresh_db), "0001")
    with psycopg.connect(fresh_db.url(), autocommit=True) as conn:
        conn.execute(
            "WITH u AS (INSERT INTO authara.users (email, username, username_normalized)"
            " VALUES ('a@example.com', 'a-10000', 'a-10000') RETURNING id),"
            " s AS (INSERT INTO authara.sessions (user_id, expires_at)"
            " SELECT id, now() + interval '1 day' FROM u RETURNING id)"
            " INSERT INTO authara.refresh_tokens (session_id, token_hash, expires_at)"
            " SELECT id, repeat('a', 64), now() + interval '1 day' FROM s"
        )
    runner.upgrade(fresh_db)
    with psycopg.connect(fresh_db.url(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT token_hash, successor_hash FROM authara.refresh_tokens"
        ).fetchall()
    assert rows == [("a" * 64, None)]


def _seed_users_and_sessions(settings: DatabaseSettings, count: int) -> None:
    """Insert users (one with a blank username, one with no local part) with two sessions each."""
    with psycopg.connect(settings.url(), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO authara.users (email, username, username_normalized)"
            " SELECT 'u' || n || '@example.com', 'user-' || n, 'user-' || n"
            " FROM generate_series(1, %s) AS n",
            (count,),
        )
        conn.execute(
            "INSERT INTO authara.users (email, username, username_normalized) VALUES"
            " ('bob@example.com', ' ', 'blank'), ('@example.com', '', 'empty')"
        )
        conn.execute(
            "INSERT INTO authara.sessions (user_id, expires_at)"
            " SELECT id, now() + interval '1 day' FROM authara.users, generate_series(1, 2)"
        )


def test_0005_gives_every_user_a_personal_organization(
    fresh_db: DatabaseSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    command.upgrade(runner.alembic_config(fresh_db), "0003")
    _seed_users_and_sessions(fresh_db, 25)
    backfill = ScriptDirectory.from_config(runner.alembic_config()).get_revision("0005")
    assert backfill is not None
    monkeypatch.setattr(backfill.module, "BATCH_SIZE", 10)  # several batches, and a partial one

    runner.upgrade(fresh_db)

    with psycopg.connect(fresh_db.url(), autocommit=True) as conn:
        per_user = conn.execute(
            "SELECT u.username, o.name, o.kind, m.role,"
            " (SELECT count(*) FROM authara.organizations x WHERE x.created_by_user_id = u.id)"
            " FROM authara.users u"
            " JOIN authara.organizations o ON o.created_by_user_id = u.id"
            " JOIN authara.organization_memberships m"
            "   ON m.organization_id = o.id AND m.user_id = u.id"
        ).fetchall()
        stray = conn.execute(
            "SELECT count(*) FROM authara.sessions s JOIN authara.organizations o"
            " ON o.id = s.active_organization_id"
            " WHERE o.created_by_user_id <> s.user_id OR o.kind <> 'personal'"
        ).fetchone()
        sessions = conn.execute("SELECT count(*) FROM authara.sessions").fetchone()
    assert len(per_user) == 27
    assert {(kind, role, count) for _, _, kind, role, count in per_user} == {
        ("personal", "owner", 1)
    }
    names = {username: name for username, name, *_ in per_user}
    assert names["user-7"] == "user-7"
    assert names[" "] == "bob"
    assert names[""] == "Personal workspace"
    assert stray == (0,)
    assert sessions == (54,)
    assert _schema_diff(fresh_db) == []


def test_0005_membership_in_use_cannot_be_deleted(fresh_db: DatabaseSettings) -> None:
    command.upgrade(runner.alembic_config(fresh_db), "0003")
    _seed_users_and_sessions(fresh_db, 1)
    runner.upgrade(fresh_db)

    with (
        psycopg.connect(fresh_db.url(), autocommit=True) as conn,
        pytest.raises(psycopg.errors.ForeignKeyViolation),
    ):
        conn.execute("DELETE FROM authara.organization_memberships")


def test_0005_downgrades_and_upgrades_again(fresh_db: DatabaseSettings) -> None:
    command.upgrade(runner.alembic_config(fresh_db), "0003")
    _seed_users_and_sessions(fresh_db, 3)
    runner.upgrade(fresh_db)

    command.downgrade(runner.alembic_config(fresh_db), "0003")

    assert "organizations" not in _tables(fresh_db, "authara")
    runner.upgrade(fresh_db)
    with psycopg.connect(fresh_db.url(), autocommit=True) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM authara.organizations),"
            " (SELECT count(*) FROM authara.sessions WHERE active_organization_id IS NULL)"
        ).fetchone()
    assert counts == (5, 0)

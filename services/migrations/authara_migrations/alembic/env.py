"""Alembic environment: migrate POSTGRESQL_SCHEMA online, one run at a time per database.

Loaded by alembic, never imported: the runner passes the DatabaseSettings in
`config.attributes`, so no alembic.ini or environment is read here.
"""

import logging
from collections.abc import Collection, Mapping
from typing import Any, Final

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import Script
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from authara_contract.database import DatabaseSettings
from authara_migrations.connection import ADVISORY_LOCK_KEY, connect
from authara_migrations.errors import MigrationError
from authara_migrations.runner import SETTINGS_ATTRIBUTE, VERSION_TABLE
from authara_migrations.tables import metadata

_LOGGER: Final = logging.getLogger("authara_migrations")
# Waiting for another run is normal (several job replicas start together), so the wait is
# long; once we hold the lock, DDL must not queue behind live traffic for long, because
# every query on that table would queue behind the DDL in turn.
LOCK_WAIT_TIMEOUT: Final = "15min"
LOCK_TIMEOUT: Final = "30s"
STATEMENT_TIMEOUT: Final = "30min"


def _set(conn: Connection, name: str, value: str) -> None:
    conn.execute(text("SELECT set_config(:name, :value, false)"), {"name": name, "value": value})


def _take_lock(conn: Connection) -> None:
    _set(conn, "lock_timeout", LOCK_WAIT_TIMEOUT)
    _set(conn, "statement_timeout", "0")
    key = {"key": ADVISORY_LOCK_KEY}
    if conn.execute(text("SELECT pg_try_advisory_lock(:key)"), key).scalar_one():
        _LOGGER.debug("took the migration lock")
    else:
        _LOGGER.info("another run holds the migration lock; waiting for it")
        _wait_for_lock(conn)
    _set(conn, "lock_timeout", LOCK_TIMEOUT)
    _set(conn, "statement_timeout", STATEMENT_TIMEOUT)


def _wait_for_lock(conn: Connection) -> None:
    try:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    except OperationalError as exc:
        raise MigrationError(
            f"another migration run held the migration lock for more than {LOCK_WAIT_TIMEOUT}"
        ) from exc


def _use_schema(conn: Connection, schema: str) -> None:
    quoted = conn.dialect.identifier_preparer.quote_schema(schema)
    conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
    _set(conn, "search_path", quoted)
    # Commit so that alembic starts outside any transaction and runs one per migration.
    conn.commit()


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    # The version table shares the schema but belongs to alembic, not to tables.py.
    return not (type_ == "table" and name == VERSION_TABLE)


def _log_step(
    ctx: MigrationContext,
    step: MigrationInfo,
    heads: Collection[Any],
    run_args: Mapping[str, Any],
) -> None:
    if step.is_upgrade:
        script = step.up_revision
        doc = script.doc if isinstance(script, Script) else ""
        _LOGGER.info("applied revision %s (%s)", step.up_revision_id, doc)
    else:
        _LOGGER.info("reverted revision %s", step.up_revision_id)


def run_migrations_online() -> None:
    """Connect, take the lock, and run the requested alembic command."""
    if context.is_offline_mode():
        raise MigrationError("offline (--sql) mode is not supported")
    settings: DatabaseSettings = context.config.attributes[SETTINGS_ATTRIBUTE]
    # Closing the connection ends the session, which releases the advisory lock even when a
    # migration failed half-way.
    with connect(settings) as conn:
        _take_lock(conn)
        _use_schema(conn, settings.schema)
        context.configure(
            connection=conn,
            target_metadata=metadata,
            version_table=VERSION_TABLE,
            version_table_schema=settings.schema,
            transaction_per_migration=True,
            include_name=_include_name,
            compare_server_default=True,
            on_version_apply=_log_step,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()

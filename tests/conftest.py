"""Fixtures shared by every suite: one PostgreSQL server and one migrated database per run."""

import os
from collections.abc import Callable, Iterator
from typing import Final

import psycopg
import pytest
from psycopg import sql

from authara_contract.database import DatabaseSettings
from authara_devstack.embedded_pg import EmbeddedPostgres, free_port
from authara_migrations import runner
from tests.dbutil import drop_database, make_database, random_database_name

SERVER_URL_VARIABLE: Final = "AUTHARA_TEST_DATABASE_URL"
# Reference data the migrations seed, and alembic's bookkeeping: never emptied between tests.
KEPT_TABLES: Final = frozenset({"platform_roles", runner.VERSION_TABLE})


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Yield a URL to a PostgreSQL server: $AUTHARA_TEST_DATABASE_URL, else an embedded one."""
    configured = os.environ.get(SERVER_URL_VARIABLE)
    if configured:
        yield configured
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("postgres"), free_port(), durable=False)
    server.start()
    try:
        yield server.url()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def db_settings(pg_server_url: str) -> Iterator[DatabaseSettings]:
    """Yield settings for a fresh database migrated by the real migrations."""
    name = random_database_name()
    settings = make_database(pg_server_url, name)
    try:
        runner.upgrade(settings)
        yield settings
    finally:
        drop_database(pg_server_url, name)


@pytest.fixture(scope="session")
def truncate_db(db_settings: DatabaseSettings) -> Iterator[Callable[[], None]]:
    """Yield a function that empties every table but the kept ones, in one statement."""
    with psycopg.connect(db_settings.url(), autocommit=True) as conn:
        # Fail fast instead of hanging when a test leaked a connection inside a transaction.
        conn.execute("SET lock_timeout = '10s'")
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename",
            (db_settings.schema,),
        ).fetchall()
        tables = [
            sql.Identifier(db_settings.schema, name) for (name,) in rows if name not in KEPT_TABLES
        ]
        statement = sql.SQL("TRUNCATE {} CASCADE").format(sql.SQL(", ").join(tables))

        def truncate() -> None:
            conn.execute(statement)

        yield truncate


@pytest.fixture
def db(db_settings: DatabaseSettings, truncate_db: Callable[[], None]) -> DatabaseSettings:
    """Return settings for the migrated database, emptied before this test."""
    truncate_db()
    return db_settings

"""Create and drop throwaway databases on a test PostgreSQL server (sync, psycopg)."""

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from authara_contract.database import DatabaseSettings

DEFAULT_SCHEMA: Final = "authara"
CONNECT_TIMEOUT_S: Final = 10


def random_database_name(prefix: str = "authara_test") -> str:
    """Return a database name no other test run will pick."""
    return f"{prefix}_{secrets.token_hex(6)}"


def _admin(server_url: str) -> psycopg.Connection[TupleRow]:
    # CREATE/DROP DATABASE cannot run inside a transaction block.
    return psycopg.connect(server_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)


def make_database(server_url: str, name: str, *, schema: str = DEFAULT_SCHEMA) -> DatabaseSettings:
    """Create an empty database on the server of `server_url` and return settings for it."""
    with _admin(server_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        info = conn.info
        return DatabaseSettings(
            host=info.host,
            port=info.port,
            database=name,
            username=info.user,
            password=info.password or "",
            schema=schema,
        )


def drop_database(server_url: str, name: str) -> None:
    """Drop a database, disconnecting whoever still uses it."""
    with _admin(server_url) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        # FORCE closes the race with a client connecting between the two statements.
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextmanager
def fresh_database(server_url: str, *, schema: str = DEFAULT_SCHEMA) -> Iterator[DatabaseSettings]:
    """Create an empty, unmigrated database for the block and drop it afterwards."""
    name = random_database_name()
    settings = make_database(server_url, name, schema=schema)
    try:
        yield settings
    finally:
        drop_database(server_url, name)

"""The development database: the embedded PostgreSQL in the data dir, or one named by env."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import psycopg
from psycopg import sql

from .embedded_pg import EmbeddedPostgres, free_port

DATABASE_NAME: Final = "authara"
_PORT_FILE: Final = "postgres.port"
_CONNECT_TIMEOUT_S: Final = 10


class DevDatabaseError(RuntimeError):
    """The development database could not be prepared."""


def uses_external_database(environ: Mapping[str, str]) -> bool:
    """Tell whether POSTGRESQL_HOST names a server to use instead of the embedded one."""
    return bool(environ.get("POSTGRESQL_HOST", "").strip())


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Tell whether a TCP port can be bound right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def embedded_server(data_dir: Path) -> EmbeddedPostgres:
    """Describe the embedded server, on its previous port when that port is still free."""
    port_file = data_dir / _PORT_FILE
    port: int | None = None
    with contextlib.suppress(OSError, ValueError):
        port = int(port_file.read_text(encoding="utf-8").strip())
    if port is None or not 0 < port < 65536 or not port_is_free(port):
        port = free_port()
    port_file.write_text(f"{port}\n", encoding="utf-8")
    return EmbeddedPostgres(data_dir / "postgres", port)


def embedded_env(server: EmbeddedPostgres, database: str = DATABASE_NAME) -> dict[str, str]:
    """Return the POSTGRESQL_* variables that point at the embedded server."""
    return {
        "POSTGRESQL_HOST": server.host,
        "POSTGRESQL_PORT": str(server.port),
        "POSTGRESQL_DATABASE": database,
        "POSTGRESQL_USERNAME": server.user,
        "POSTGRESQL_PASSWORD": "",
    }


def ensure_database(admin_url: str, name: str = DATABASE_NAME) -> bool:
    """Create database `name` unless it exists; return whether it was created."""
    try:
        with psycopg.connect(
            admin_url, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S
        ) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if found is not None:
                return False
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise DevDatabaseError(f"cannot create database {name!r}: {exc}") from exc
    return True

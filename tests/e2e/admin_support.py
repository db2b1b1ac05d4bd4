"""Helpers of the admin console's browser tests: the stack's database, the admin command line.

`authara dev` prints its database's connection string; `database_env` turns it into the
POSTGRESQL_* variables `authara-core admin ...` reads, and `connect` opens an asyncpg
connection on it (schema on the search path) for a test that must read or seed rows.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Final
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg

from .devstack_process import DevStackProcess

CORE: Final = str(Path(sys.executable).parent / "authara-core")
PHONE: Final = {"width": 375, "height": 812}
DESKTOP: Final = {"width": 1280, "height": 900}


def database_env(stack: DevStackProcess) -> dict[str, str]:
    """POSTGRESQL_* for the stack's database, from the connection string it printed."""
    line = next(line for line in stack.lines if line.startswith("  database   "))
    url = urlsplit(line.split()[1])
    query = parse_qs(url.query)
    schema = line.rsplit("(schema ", 1)[1].rstrip(")")
    return {
        "POSTGRESQL_HOST": query["host"][0] if "host" in query else str(url.hostname),
        "POSTGRESQL_PORT": query["port"][0] if "port" in query else str(url.port),
        "POSTGRESQL_DATABASE": unquote(url.path.lstrip("/")),
        "POSTGRESQL_USERNAME": unquote(url.username or ""),
        "POSTGRESQL_PASSWORD": unquote(url.password or ""),
        "POSTGRESQL_SCHEMA": schema,
    }


def admin_cli(stack: DevStackProcess, *args: str) -> str:
    """Run `authara-core admin ARGS` against the stack's database; return what it printed."""
    result = subprocess.run(
        [CORE, "admin", *args],
        env={"PATH": "/usr/bin:/bin", **database_env(stack)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def grant_admin(stack: DevStackProcess, email: str) -> None:
    """Make `email` an admin with the command line, as an operator would."""
    assert "role admin granted" in admin_cli(stack, "grant", email)


async def connect(env: dict[str, str]) -> asyncpg.Connection:
    """Open a connection to the database `env` (from `database_env`) names."""
    return await asyncpg.connect(
        host=env["POSTGRESQL_HOST"],
        port=int(env["POSTGRESQL_PORT"]),
        database=env["POSTGRESQL_DATABASE"],
        user=env["POSTGRESQL_USERNAME"],
        password=env["POSTGRESQL_PASSWORD"] or None,
        server_settings={"search_path": env["POSTGRESQL_SCHEMA"]},
    )

"""`authara admin ...`: platform roles and password recovery on the dev stack's database.

With POSTGRESQL_HOST set, that database is used. Otherwise the embedded one in the data
dir: reached on its port while `authara dev` runs, or started just for this command.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from authara_core.admin.cli import run_parsed_admin

from .dev_database import embedded_env, embedded_server, uses_external_database
from .embedded_pg import EmbeddedPostgres

PROG = "authara admin"


def run_admin_command(args: argparse.Namespace, data_dir: Path, environ: Mapping[str, str]) -> int:
    """Run a parsed admin command; return the exit status."""
    if uses_external_database(environ):
        return run_parsed_admin(args, environ, prog=PROG)
    if not (data_dir / "postgres" / "pgdata" / "PG_VERSION").exists():
        print(f"{PROG}: no dev database in {data_dir}: run `authara dev` first", file=sys.stderr)
        return 1
    with _embedded(data_dir) as server:
        return run_parsed_admin(args, {**environ, **embedded_env(server)}, prog=PROG)


@contextlib.contextmanager
def _embedded(data_dir: Path) -> Iterator[EmbeddedPostgres]:
    running = _running_port(data_dir)
    if running is not None:
        yield EmbeddedPostgres(data_dir / "postgres", running)
        return
    server = embedded_server(data_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _running_port(data_dir: Path) -> int | None:
    """Return the port of the dev stack's PostgreSQL if its postmaster is alive."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        lines = (data_dir / "postgres" / "pgdata" / "postmaster.pid").read_text().splitlines()
        os.kill(int(lines[0]), 0)
        return int(lines[3])
    return None

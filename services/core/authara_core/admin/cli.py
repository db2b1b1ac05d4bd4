"""`authara-core admin grant|revoke EMAIL [--role ROLE]`: manage platform roles."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping, Sequence

import asyncpg

from authara_contract.database import DatabaseSettings, read_database_settings
from authara_contract.env import EnvReader, Service, SettingsError, exit_on_settings_error
from authara_core.admin.service import ROLE_NAMES, AdminService
from authara_core.platform.clock import SystemClock
from authara_core.platform.db import Database
from authara_core.platform.errors import DatabaseUnavailable, NotFound

DESCRIPTION = "Grant or revoke platform roles (database in POSTGRESQL_*)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `grant|revoke EMAIL [--role ROLE]` to `parser`."""
    parser.add_argument("action", choices=("grant", "revoke"))
    parser.add_argument("email", help="the account's email address")
    parser.add_argument("--role", choices=ROLE_NAMES, default="admin", help="(default: admin)")


def build_parser(prog: str) -> argparse.ArgumentParser:
    """Describe `admin grant|revoke EMAIL [--role ROLE]`."""
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    add_arguments(parser)
    return parser


def run_admin(argv: Sequence[str], environ: Mapping[str, str], *, prog: str) -> int:
    """Run one admin command against the database in POSTGRESQL_*; return the exit status."""
    return run_parsed_admin(build_parser(prog).parse_args(argv), environ, prog=prog)


def run_parsed_admin(args: argparse.Namespace, environ: Mapping[str, str], *, prog: str) -> int:
    """Run an admin command parsed by a parser that `add_arguments` described."""
    reader = EnvReader(environ, Service.CORE)
    database = read_database_settings(reader)
    try:
        reader.finish()
    except SettingsError as exc:
        exit_on_settings_error(exc, prog)
    try:
        changed = asyncio.run(_apply(database, args.action, args.email, args.role))
    except NotFound as exc:
        print(f"{prog}: {exc.message}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError, DatabaseUnavailable) as exc:
        print(f"{prog}: cannot reach the database: {exc}", file=sys.stderr)
        return 1
    verb = "granted" if args.action == "grant" else "revoked"
    state = verb if changed else ("already had" if args.action == "grant" else "did not have")
    print(f"{args.email}: role {args.role} {state}")
    return 0


async def _apply(database: DatabaseSettings, action: str, email: str, role: str) -> bool:
    db = Database(database, pool_size=1)
    await db.open()
    try:
        service = AdminService(db=db, clock=SystemClock())
        if action == "grant":
            return await service.grant(email, role)
        return await service.revoke(email, role)
    finally:
        await db.close()

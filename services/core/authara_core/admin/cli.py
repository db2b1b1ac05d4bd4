"""`authara-core admin grant|revoke|set-password|allow|list`: roles, recovery, the allowlist."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TextIO, TypeVar

import asyncpg

from authara_contract.database import DatabaseSettings, read_database_settings
from authara_contract.env import EnvReader, Service, SettingsError, exit_on_settings_error
from authara_core.accounts.validation import normalize_email, validate_password
from authara_core.admin.audit import CLI
from authara_core.admin.service import ROLE_NAMES, AdminService
from authara_core.allowlist.service import AccessPolicy, AllowlistService
from authara_core.platform.clock import SystemClock
from authara_core.platform.db import Database
from authara_core.platform.errors import (
    AlreadyAllowed,
    DatabaseUnavailable,
    InvalidRequest,
    NotFound,
)
from authara_core.platform.hasher import PasswordHasher, PasswordSettings
from authara_core.platform.revocation import Revoker
from authara_runtime.cache import RedisSettings, read_cache_settings

_T = TypeVar("_T")

DESCRIPTION = (
    "Grant or revoke platform roles, list who holds them, or set a password for recovery "
    "(database in POSTGRESQL_*)."
)


def add_arguments(
    parser: argparse.ArgumentParser,
    *,
    each: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """Add the admin subcommands to `parser`; `each` adds options every subcommand takes."""
    commands = parser.add_subparsers(dest="action", required=True, metavar="COMMAND")
    for action, verb in (("grant", "give"), ("revoke", "take away")):
        command = commands.add_parser(
            action, help=f"{verb} a platform role", description=f"{verb.capitalize()} a role."
        )
        command.add_argument("email", help="the account's email address")
        command.add_argument("--role", choices=ROLE_NAMES, default="admin", help="(default: admin)")
    recover = commands.add_parser(
        "set-password",
        help="set an account's password and end its sessions (recovery)",
        description=(
            "Set the password of the account with this email and end all its sessions. "
            "The password is asked for twice on a terminal, or read as one line from stdin."
        ),
    )
    recover.add_argument("email", help="the account's email address")
    allow = commands.add_parser(
        "allow",
        help="add an email to the allowlist (AUTHARA_ACCESS_POLICY_ALLOWLIST_ENABLED)",
        description=(
            "Add an email address to the allowlist, so it may sign up or sign in while the "
            "access policy is on (the first admin's, before the console can be used)."
        ),
    )
    allow.add_argument("email", help="the email address")
    listing = commands.add_parser(
        "list", help="list the accounts holding platform roles", description="List role holders."
    )
    listing.add_argument("--json", action="store_true", help="print JSON instead of text")
    if each is not None:
        for command in commands.choices.values():
            each(command)


def build_parser(prog: str) -> argparse.ArgumentParser:
    """Describe `admin COMMAND ...`."""
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    add_arguments(parser)
    return parser


def run_admin(argv: Sequence[str], environ: Mapping[str, str], *, prog: str) -> int:
    """Run one admin command against the database in POSTGRESQL_*; return the exit status."""
    return run_parsed_admin(build_parser(prog).parse_args(argv), environ, prog=prog)


def run_parsed_admin(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    *,
    prog: str,
    stdin: TextIO | None = None,
) -> int:
    """Run an admin command parsed by a parser that `add_arguments` described."""
    reader = EnvReader(environ, Service.CORE)
    database = read_database_settings(reader)
    target = _Target(
        database,
        pgbouncer=reader.boolean("AUTHARA_DB_PGBOUNCER"),
        cache=read_cache_settings(reader),
        access_ttl=timedelta(minutes=reader.integer("AUTHARA_ACCESS_TOKEN_TTL_MINUTES", minimum=1)),
    )
    try:
        reader.finish()
    except SettingsError as exc:
        exit_on_settings_error(exc, prog)
    try:
        if args.action == "set-password":
            password = _read_password(stdin or sys.stdin)
            validate_password(password)
            ended = asyncio.run(_set_password(target, args.email, password))
            print(f"{args.email}: password set; {ended} session(s) ended")
            return 0
        if args.action == "allow":
            print(asyncio.run(_allow(target, args.email)))
            return 0
        if args.action == "list":
            holders = asyncio.run(_run(target, lambda service: service.list_roles()))
            _print_holders(holders, as_json=args.json)
            return 0
        changed = asyncio.run(_apply(target, args.action, args.email, args.role))
    except (NotFound, InvalidRequest) as exc:
        print(f"{prog}: {exc.message}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError, DatabaseUnavailable) as exc:
        print(f"{prog}: cannot reach the database: {exc}", file=sys.stderr)
        return 1
    verb = "granted" if args.action == "grant" else "revoked"
    state = verb if changed else ("already had" if args.action == "grant" else "did not have")
    print(f"{args.email}: role {args.role} {state}")
    return 0


def _read_password(stdin: TextIO) -> str:
    """Ask twice on a terminal; otherwise take the first line of stdin."""
    if stdin.isatty():
        first = getpass.getpass("New password: ")
        if getpass.getpass("Repeat it: ") != first:
            raise InvalidRequest("The passwords do not match.")
        return first
    return stdin.readline().removesuffix("\n").removesuffix("\r")


def _print_holders(holders: list[tuple[str, str]], *, as_json: bool) -> None:
    if as_json:
        grouped: dict[str, list[str]] = {}
        for email, role in holders:
            grouped.setdefault(email, []).append(role)
        print(json.dumps([{"email": e, "roles": r} for e, r in grouped.items()]))
        return
    if not holders:
        print("no account holds a platform role (grant one with: admin grant EMAIL)")
    for email, role in holders:
        print(f"{email}\t{role}")


@dataclass(frozen=True, slots=True)
class _Target:
    """The database, and the Redis whose revocations a change writes (when configured)."""

    database: DatabaseSettings
    pgbouncer: bool
    cache: RedisSettings | None
    access_ttl: timedelta


async def _run(target: _Target, work: Callable[[AdminService], Awaitable[_T]]) -> _T:
    db = Database(target.database, pool_size=1, pgbouncer=target.pgbouncer)
    clock = SystemClock()
    client = target.cache.client() if target.cache is not None else None
    revoker = Revoker(client, clock=clock, access_ttl=target.access_ttl)
    await db.open()
    try:
        return await work(AdminService(db=db, clock=clock, revoker=revoker))
    finally:
        await db.close()
        if client is not None:
            await client.aclose()


async def _allow(target: _Target, email: str) -> str:
    """Add an email to the allowlist (audited as the command line); say what happened."""
    db = Database(target.database, pool_size=1, pgbouncer=target.pgbouncer)
    await db.open()
    try:
        clock = SystemClock()
        service = AllowlistService(
            db=db, clock=clock, policy=AccessPolicy(db=db, clock=clock, enabled=True)
        )
        try:
            entry = await service.add(CLI, email)
        except AlreadyAllowed:
            return f"{normalize_email(email)}: already on the allowlist"
        return f"{entry.email}: added to the allowlist"
    finally:
        await db.close()


async def _set_password(target: _Target, email: str, password: str) -> int:
    hasher = PasswordHasher(PasswordSettings(workers=1))
    try:
        password_hash = await hasher.hash(password)
    finally:
        hasher.close()
    return await _run(target, lambda service: service.set_password(email, password_hash))


async def _apply(target: _Target, action: str, email: str, role: str) -> bool:
    if action == "grant":
        return await _run(target, lambda service: service.grant(email, role))
    return await _run(target, lambda service: service.revoke(email, role))

"""The `authara-migrate` command: apply migrations or report whether they are applied.

Progress is logged on stdout; a failure prints one line on stderr and no traceback.
Exit status: 0 success (for `status`: the database is at head), 1 `status` found the
database behind or at an unknown revision, 2 bad configuration or usage, 3 the database
could not be reached or a migration failed.
"""

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Final

from authara_contract.env import SettingsError, exit_on_settings_error
from authara_runtime.logs import configure_logging

from . import runner
from .errors import MigrationError
from .settings import MigrationSettings, load_settings

PROG: Final = "authara-migrate"
EXIT_OK: Final = 0
EXIT_BEHIND: Final = 1
EXIT_FAILED: Final = 3
EXIT_INTERRUPTED: Final = 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Apply Authara's database migrations (configured by POSTGRESQL_* variables).",
        epilog=(
            "exit status:\n  0  success (status: at head)\n  1  status: not at head\n"
            "  2  bad configuration or usage\n  3  database unreachable or a migration failed"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("up", help="apply every pending migration (safe to run concurrently)")
    commands.add_parser("status", help="print the current and head revisions; exit 1 if behind")
    return parser


def _up(settings: MigrationSettings) -> int:
    runner.upgrade(settings.database)
    print(f"database is at revision {runner.current_revision(settings.database)}")
    return EXIT_OK


def _status(settings: MigrationSettings) -> int:
    current = runner.current_revision(settings.database)
    head = runner.head_revision()
    if current == head:
        verdict, status = "up to date", EXIT_OK
    elif current is None or current in runner.known_revisions():
        verdict, status = f"behind, run `{PROG} up`", EXIT_BEHIND
    else:
        verdict, status = "unknown to this release (written by a newer one?)", EXIT_BEHIND
    print(f"database is at revision {current or 'none'}, head is {head}: {verdict}")
    return status


def _configure_logging(level: str) -> None:
    # Progress goes to stdout so that a failure is the only line on stderr.
    numeric = configure_logging(level, stream=sys.stdout)
    # Alembic narrates its internals at INFO; our env.py logs each applied revision instead.
    if level != "debug":
        logging.getLogger("alembic").setLevel(max(numeric, logging.WARNING))


def main(argv: Sequence[str] | None = None) -> int:
    """Run `authara-migrate` and return its exit status."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(os.environ)
    except SettingsError as exc:
        exit_on_settings_error(exc, PROG)
    _configure_logging(settings.log_level)
    try:
        return _up(settings) if args.command == "up" else _status(settings)
    except MigrationError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED

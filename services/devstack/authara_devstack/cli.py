"""The `authara` command: `authara dev [--port 3000] [--data-dir .authara]`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from authara_core.admin.cli import add_arguments as add_admin_arguments

from .admin import run_admin_command
from .dev import DevOptions, run_dev

DEFAULT_PORT = 3000
DEFAULT_DATA_DIR = Path(".authara")


def _port(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"port must be from 1 to 65535, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line."""
    parser = argparse.ArgumentParser(prog="authara", description="Authara developer tools.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    dev = commands.add_parser(
        "dev",
        help="run PostgreSQL, migrations, core, gateway and a demo app on this machine",
        description=(
            "Run the whole stack locally. PostgreSQL is embedded (data in --data-dir) unless "
            "POSTGRESQL_HOST is set; any variable already in the environment overrides the "
            "dev defaults and reaches every service."
        ),
    )
    dev.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help="gateway port on 127.0.0.1 (3000)"
    )
    dev.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="folder for the embedded database and dev secrets (.authara)",
    )
    admin = commands.add_parser(
        "admin",
        help="platform roles and password recovery (make the first admin)",
        description=(
            "Grant or revoke a platform role, list who holds one, or set a password, on the "
            "dev database (or the one in POSTGRESQL_*)."
        ),
    )
    add_admin_arguments(admin, each=_data_dir_option)
    return parser


def _data_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="the dev stack's data folder"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and run the chosen command."""
    args = build_parser().parse_args(argv)
    if args.command == "dev":
        options = DevOptions(port=args.port, data_dir=args.data_dir.absolute())
        sys.exit(run_dev(options, os.environ))
    if args.command == "admin":
        sys.exit(run_admin_command(args, args.data_dir.absolute(), os.environ))

"""Every command line answers --help (exit 0) and bad usage (exit 2, usage on stderr)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

import pytest

from authara_devstack.dev import VIA_MAKE_VARIABLE, port_in_use_message

BIN: Final = Path(sys.executable).parent
TIMEOUT_S: Final = 20

# (program, subcommands): each subcommand must have its own --help.
PROGRAMS: Final = (
    ("authara-core", ("serve", "healthcheck", "admin")),
    ("authara-gateway", ("serve", "healthcheck")),
    ("authara-migrate", ("up", "status")),
    ("authara", ("dev", "admin")),
)
HELP_CASES: Final = [
    pytest.param(program, args, id=" ".join((program, *args)))
    for program, subcommands in PROGRAMS
    for args in [("--help",), *((sub, "--help") for sub in subcommands)]
] + [
    pytest.param(program, ("admin", action, "--help"), id=f"{program} admin {action}")
    for program in ("authara-core", "authara")
    for action in ("grant", "revoke", "set-password", "list")
]


def _run(program: str, *args: str) -> subprocess.CompletedProcess[str]:
    # No settings at all: a command that ignored --help would fail on them, not serve.
    return subprocess.run(
        [str(BIN / program), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        env={"PATH": "/usr/bin:/bin", **_python_path()},
    )


def _python_path() -> dict[str, str]:
    # Run the code under test even when the virtualenv's editable installs point elsewhere.
    value = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": value} if value else {}


@pytest.mark.parametrize(("program", "args"), HELP_CASES)
def test_help_prints_usage_and_exits_0(program: str, args: tuple[str, ...]) -> None:
    result = _run(program, *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: "), result.stdout
    assert f"usage: {program}" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize("program", [program for program, _ in PROGRAMS])
def test_an_unknown_command_is_a_usage_error(program: str) -> None:
    result = _run(program, "no-such-command")
    assert result.returncode == 2
    assert result.stderr.startswith(f"usage: {program}"), result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("program", ["authara-core", "authara-gateway"])
def test_serve_help_returns_at_once_without_serving(program: str) -> None:
    started = time.monotonic()
    result = _run(program, "serve", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {program} serve"), result.stdout
    # No settings were read: a missing one would have been reported on stderr.
    assert result.stderr == ""
    assert time.monotonic() - started < TIMEOUT_S


def test_python_m_core_answers_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "authara_core", "--help"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: authara-core")


def test_port_in_use_names_the_port_option_by_default() -> None:
    message = port_in_use_message(3000, {})
    assert message == (
        "port 3000 on 127.0.0.1 is already in use; "
        "stop what listens there or choose another port with --port"
    )


def test_port_in_use_under_make_dev_names_the_make_variable() -> None:
    message = port_in_use_message(3000, {VIA_MAKE_VARIABLE: "1"})
    assert message == (
        "port 3000 on 127.0.0.1 is already in use; "
        "stop what listens there or choose another port with PORT=3001 make dev"
    )
    assert "--port" not in message


def test_port_in_use_suggests_a_valid_port_at_the_top_of_the_range() -> None:
    assert port_in_use_message(65535, {VIA_MAKE_VARIABLE: "1"}).endswith("PORT=65534 make dev")

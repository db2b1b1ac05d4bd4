"""`authara dev` as a user runs it: one command, real processes, clean shutdown."""

from __future__ import annotations

import json
import re
import smtplib
import socket
import time
from email.message import EmailMessage
from pathlib import Path

import psutil
import psycopg
import pytest

from authara_contract import headers
from authara_devstack.embedded_pg import free_port

from .devstack_process import (
    DevStackProcess,
    get,
    hermetic_environ,
    running_dev_stack,
    start_dev_stack,
)

pytestmark = pytest.mark.e2e


def _command(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.NoSuchProcess:
        return ""


def test_health_answers_through_the_gateway(dev_stack: DevStackProcess) -> None:
    status, body = get(dev_stack.base_url, "/auth/health")

    assert status == 200, body
    assert json.loads(body) == {"status": "ok"}


def test_demo_app_is_served_behind_the_gateway(dev_stack: DevStackProcess) -> None:
    # A client-sent identity header must not reach the app: the gateway strips it.
    forged = {headers.USER_ID: "00000000-0000-4000-8000-000000000001", headers.ROLES: "x"}
    status, body = get(dev_stack.base_url, "/whoami", headers=forged)

    assert status == 200, body
    assert json.loads(body) == {
        "user_id": None,
        "session_id": None,
        "roles": None,
        "audience": None,
        "organization_id": None,
        "organization_role": None,
    }


def test_the_stack_starts_without_warnings_and_says_where_to_go(
    dev_stack: DevStackProcess,
) -> None:
    ready = dev_stack.lines.index(f"Authara is running at {dev_stack.base_url}")
    start_up = dev_stack.lines[:ready]
    assert [line for line in start_up if re.search(r" (WARNING|ERROR) ", line)] == []
    after = dev_stack.lines[ready : ready + 8]
    assert f"  account    {dev_stack.base_url}/auth/account" in after, after
    assert any(line.startswith(f"  try it     {dev_stack.base_url}/private") for line in after)
    assert any("authara admin grant EMAIL" in line for line in after), after
    database = next(line for line in after if line.startswith("  database   "))
    url = database.split()[1]
    # The printed connection string reaches the stack's database, migrated.
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("select count(*) from authara.users").fetchone()
    assert row is not None


def test_the_mail_sink_prints_what_it_catches_and_the_dev_page_shows_it(
    dev_stack: DevStackProcess,
) -> None:
    listening = re.search(r"catching mail on 127\.0\.0\.1:(\d+)", dev_stack.output)
    assert listening is not None, dev_stack.output_tail()
    announced = f"Mail is caught, not delivered: codes and links at {dev_stack.base_url}/_dev/mail"
    assert announced in dev_stack.lines, dev_stack.output_tail()
    message = EmailMessage()
    message["From"] = "Authara (dev) <no-reply@authara.localhost>"
    message["To"] = "e2e-mail@example.com"
    message["Subject"] = "Your verification code"
    message.set_content("Enter this code:\n\n    314159\n")
    with smtplib.SMTP("127.0.0.1", int(listening.group(1)), timeout=10) as smtp:
        smtp.send_message(message)

    printed = "mail to e2e-mail@example.com: 'Your verification code' - code 314159"
    deadline = time.monotonic() + 10
    while printed not in dev_stack.output:
        assert time.monotonic() < deadline, dev_stack.output_tail()
        time.sleep(0.05)
    status, body = get(dev_stack.base_url, "/_dev/mail.json")
    assert status == 200, body
    caught = [mail for mail in json.loads(body) if mail["to"] == "e2e-mail@example.com"]
    assert [(mail["subject"], mail["code"]) for mail in caught] == [
        ("Your verification code", "314159")
    ]
    status, page = get(dev_stack.base_url, "/_dev/mail", headers={"Accept": "text/html"})
    assert status == 200
    assert b"e2e-mail@example.com" in page


def test_sigterm_stops_everything_and_the_data_dir_restarts(
    tmp_path: Path, stack_environ: dict[str, str]
) -> None:
    data_dir = tmp_path / "data"
    with running_dev_stack(free_port(), data_dir, stack_environ) as stack:
        children = stack.descendants()
        commands = [_command(child) for child in children]
        services = ("authara-core", "authara-gateway", "authara-dev-demo", "authara-dev-mail")
        for service in services:
            assert any(service in command for command in commands), commands
        if "POSTGRESQL_HOST" not in stack_environ:
            assert any(child.name() == "postgres" for child in children), commands

        status = stack.terminate()

        assert status == 0, stack.output_tail()
        _, alive = psutil.wait_procs(children, timeout=10)
        assert alive == [], [_command(process) for process in alive]

    with running_dev_stack(free_port(), data_dir, stack_environ) as again:
        status, _ = get(again.base_url, "/auth/health")
        assert status == 200
        assert again.terminate() == 0, again.output_tail()


def test_environment_overrides_reach_the_services(
    tmp_path: Path, stack_environ: dict[str, str]
) -> None:
    environ = {**stack_environ, "AUTHARA_ACCESS_TOKEN_TTL_MINUTES": "abc"}
    stack = start_dev_stack(free_port(), tmp_path / "data", environ)

    status = stack.wait_exit(timeout=90)

    assert status != 0
    assert "AUTHARA_ACCESS_TOKEN_TTL_MINUTES" in stack.output, stack.output_tail()
    assert "Authara is running" not in stack.output
    postmaster_pid = tmp_path / "data" / "postgres" / "pgdata" / "postmaster.pid"
    assert not postmaster_pid.exists(), "the embedded PostgreSQL was left running"


def test_a_busy_port_is_reported_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        stack = start_dev_stack(port, tmp_path / "data", hermetic_environ())

        status = stack.wait_exit(timeout=30)

    assert status != 0
    assert stack.lines == [
        f"authara dev: port {port} on 127.0.0.1 is already in use; "
        "stop what listens there or choose another port with --port"
    ]

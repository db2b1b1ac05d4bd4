"""The dev stack's mail sink (`authara-dev-mail`, a real process) and its pages at /_dev/mail."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from authara_core.mail.config import SmtpSettings
from authara_core.mail.messages import MessageBuilder
from authara_core.mail.outbox import MailTemplate
from authara_core.mail.smtp import SmtpSender
from authara_demo.app import DemoSettings, create_app
from authara_devstack.embedded_pg import free_port
from authara_devstack.mail_folder import MailFolder, parse
from authara_devstack.mail_pages import add_mail_pages

BIN: Final = Path(sys.executable).parent
WAIT: Final = 30.0
INVITATION: Final = {
    "organization_name": "Acme",
    "role": "member",
    "invite_url": "http://127.0.0.1:3000/auth/invitations/accept?token=abc",
    "expires_at": "2026-12-10T17:40:00Z",
}


class Sink:
    """A running sink: its port, its folder and the lines it printed."""

    def __init__(self, process: asyncio.subprocess.Process, port: int, folder: Path) -> None:
        self.process = process
        self.port = port
        self.folder = folder

    async def line(self) -> str:
        assert self.process.stdout is not None
        async with asyncio.timeout(WAIT):
            return (await self.process.stdout.readline()).decode().rstrip("\n")


@pytest.fixture
async def sink(tmp_path: Path) -> AsyncIterator[Sink]:
    port = free_port()
    folder = tmp_path / "data" / "mail"
    env = {
        **os.environ,
        "AUTHARA_DEV_MAIL_BIND": f"127.0.0.1:{port}",
        "AUTHARA_DEV_MAIL_DIR": str(folder),
        "PUBLIC_URL": "http://127.0.0.1:3000",
        "PYTHONUNBUFFERED": "1",
    }
    process = await asyncio.create_subprocess_exec(
        str(BIN / "authara-dev-mail"), env=env, stdout=asyncio.subprocess.PIPE
    )
    running = Sink(process, port, folder)
    try:
        assert await running.line() == (
            f"catching mail on 127.0.0.1:{port} into {folder}"
            " (read them at http://127.0.0.1:3000/_dev/mail)"
        )
        yield running
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), WAIT) == 0


async def _send(sink: Sink, template: MailTemplate, context: dict[str, Any], to: str) -> None:
    sender = SmtpSender(SmtpSettings(host="127.0.0.1", port=sink.port, tls=False), timeout_s=10)
    builder = MessageBuilder("Authara (dev) <no-reply@authara.localhost>")
    await sender.send(builder.build(template, to, context, datetime.now(UTC)))


async def test_the_sink_keeps_each_mail_and_prints_its_code(sink: Sink) -> None:
    await _send(sink, MailTemplate.PASSWORD_RESET_CODE, {"code": "093417"}, "ada@example.com")
    assert await sink.line() == (
        "mail to ada@example.com: 'Your password reset code' - code 093417"
    )
    await _send(sink, MailTemplate.ORGANIZATION_INVITATION, INVITATION, "bob@example.com")
    assert await sink.line() == (
        f'mail to bob@example.com: "You\'re invited to Acme" - link {INVITATION["invite_url"]}'
    )

    [reset, invitation] = sorted(sink.folder.glob("*.eml"))
    assert b"093417" in reset.read_bytes()
    assert [mail.subject for mail in MailFolder(sink.folder).all()] == [
        "You're invited to Acme",
        "Your password reset code",
    ]
    assert invitation.suffix == ".eml"


async def test_the_pages_list_and_show_caught_mail(sink: Sink) -> None:
    await _send(sink, MailTemplate.SIGNUP_CODE, {"code": "551200"}, "ada@example.com")
    await sink.line()
    demo = create_app(DemoSettings("127.0.0.1", 0, URL("http://127.0.0.1:1/")))
    add_mail_pages(demo, MailFolder(sink.folder))
    client: TestClient[Any, Any] = TestClient(TestServer(demo))
    await client.start_server()
    try:
        listing = await client.get("/_dev/mail")
        assert listing.status == 200
        page = await listing.text()
        assert "ada@example.com" in page and "Your verification code" in page
        assert "551200" in page

        [mail] = await (await client.get("/_dev/mail.json")).json()
        assert (mail["to"], mail["subject"], mail["code"]) == (
            "ada@example.com",
            "Your verification code",
            "551200",
        )
        assert mail["text"].startswith("Your verification code\n\nEnter this code")
        view = await client.get(f"/_dev/mail/{mail['id']}")
        assert view.status == 200
        assert "551200" in await view.text()
        html = await client.get(f"/_dev/mail/{mail['id']}/html")
        assert html.status == 200
        assert html.headers["Content-Security-Policy"].startswith("sandbox")
        assert "551200" in await html.text()

        for path in ("/_dev/mail/nope", "/_dev/mail/..%2f..%2fsecrets", "/_dev/mail/x/html"):
            assert (await client.get(path)).status == 404, path
    finally:
        await client.close()


def test_only_a_code_on_its_own_line_counts_as_one() -> None:
    context = INVITATION | {
        "invite_url": "http://127.0.0.1:3000/auth/invitations/accept?token=a-123456-b"
    }
    message = MessageBuilder("no-reply@authara.localhost").build(
        MailTemplate.ORGANIZATION_INVITATION, "bob@example.com", context, datetime.now(UTC)
    )
    caught = parse("x", message.as_bytes())

    assert caught.code is None
    assert caught.link == context["invite_url"]

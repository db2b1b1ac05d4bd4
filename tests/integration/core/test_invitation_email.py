"""An invitation made or resent over the internal API queues its email, which arrives by SMTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from authara_contract import routes
from authara_contract.database import DatabaseSettings
from authara_core.app import SERVICES_KEY, create_app
from authara_core.settings import load_settings
from tests.coresupport import core_env
from tests.integration.core.internalsupport import BEARER, TOKEN, add_member, create_team
from tests.mailsupport import SmtpServer, parts, smtp_server

Client = TestClient[Any, Any]
PASSWORD: Final = "correct horse battery"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[SmtpServer]:
    async with smtp_server(tmp_path / "mail") as running:
        yield running


async def _client(db: DatabaseSettings, port: int, **env: str) -> Client:
    settings = load_settings(
        core_env(
            db,
            AUTHARA_ORGANIZATION_MODE="multi",
            AUTHARA_INTERNAL_API_TOKEN=TOKEN,
            AUTHARA_EMAIL_PROVIDER="smtp",
            AUTHARA_EMAIL_FROM="Acme Auth <auth@acme.test>",
            AUTHARA_EMAIL_SMTP_HOST="127.0.0.1",
            AUTHARA_EMAIL_SMTP_PORT=str(port),
            AUTHARA_EMAIL_SMTP_TLS="false",
            **env,
        )
    )
    # The workers are driven by hand (run_once), so the queue can be looked at first.
    client: Client = TestClient(TestServer(create_app(settings, send_mail=False)))
    await client.start_server()
    return client


async def _signup(client: Client, email: str) -> str:
    csrf = await (await client.get(routes.API_CSRF)).json()
    response = await client.post(
        routes.API_SIGNUP_DIRECT,
        json={"email": email, "password": PASSWORD},
        headers={"X-CSRF-Token": csrf["csrf_token"]},
    )
    assert response.status == 201, await response.text()
    client.session.cookie_jar.clear()
    user_id: str = (await response.json())["user"]["id"]
    return user_id


async def _invite(client: Client, conn: asyncpg.Connection, email: str) -> dict[str, Any]:
    owner = await _signup(client, "owner@example.com")
    admin = await _signup(client, "admin@example.com")
    org_id = await create_team(client, owner, name="Acme <Labs>")
    await add_member(conn, org_id, admin, "admin")
    response = await client.post(
        routes.INTERNAL_INVITATIONS.format(organization_id=org_id),
        json={"actor_user_id": admin, "email": email, "role": "admin"},
        headers=BEARER,
    )
    assert response.status == 201, await response.text()
    invitation: dict[str, Any] = (await response.json())["invitation"]
    invitation["organization_id"] = org_id
    return invitation


async def _jobs(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM email_jobs ORDER BY created_at, id"))


async def test_a_new_invitation_sends_its_link_role_and_expiry(
    db: DatabaseSettings, conn: asyncpg.Connection, server: SmtpServer
) -> None:
    client = await _client(db, server.port)
    try:
        invitation = await _invite(client, conn, "New@Example.com")
        [job] = await _jobs(conn)
        data = json.loads(job["template_data"])
        assert job["template"] == "organization_invitation"
        assert job["to_email"] == "new@example.com"
        assert data == {
            "organization_name": "Acme <Labs>",
            "role": "admin",
            "invite_url": invitation["invite_url"],
            "expires_at": data["expires_at"],
        }
        assert data["expires_at"].endswith("Z")

        assert await client.app[SERVICES_KEY].mail.run_once() is True
    finally:
        await client.close()

    [received] = server.received()
    message = received.message
    assert received.rcpt_tos == ["new@example.com"]
    assert message["Subject"] == "You're invited to Acme <Labs>"
    assert message["From"] == "Acme Auth <auth@acme.test>"
    text, html = parts(message)["text/plain"], parts(message)["text/html"]
    assert invitation["invite_url"] in text
    assert "Acme <Labs> as an admin" in text
    assert "Acme &lt;Labs&gt;" in html and "<Labs>" not in html  # escaped in HTML
    assert invitation["invite_url"].replace("&", "&amp;") in html
    assert "Invitation code" not in text
    [sent] = await _jobs(conn)
    assert sent["status"] == "sent"
    assert json.loads(sent["template_data"]) == {}  # the link (and token) is gone


async def test_the_raw_token_is_added_as_a_code_when_configured(
    db: DatabaseSettings, conn: asyncpg.Connection, server: SmtpServer
) -> None:
    client = await _client(db, server.port, AUTHARA_INVITATION_EMAIL_INCLUDE_CODE="true")
    try:
        invitation = await _invite(client, conn, "new@example.com")
        await client.app[SERVICES_KEY].mail.run_once()
    finally:
        await client.close()

    token = parse_qs(urlsplit(invitation["invite_url"]).query)["token"][0]
    [received] = server.received()
    assert f"Invitation code: {token}" in parts(received.message)["text/plain"]


async def test_a_resend_queues_a_mail_with_the_new_link(
    db: DatabaseSettings, conn: asyncpg.Connection, server: SmtpServer
) -> None:
    client = await _client(db, server.port)
    try:
        invitation = await _invite(client, conn, "new@example.com")
        path = routes.INTERNAL_INVITATION_RESEND.format(
            organization_id=invitation["organization_id"], invitation_id=invitation["id"]
        )
        response = await client.post(path, headers=BEARER)
        assert response.status in (200, 201), await response.text()
        resent = (await response.json())["invitation"]
        mail = client.app[SERVICES_KEY].mail
        while await mail.run_once():
            pass
    finally:
        await client.close()

    first, second = server.received()
    assert invitation["invite_url"] in parts(first.message)["text/plain"]
    assert resent["invite_url"] in parts(second.message)["text/plain"]
    assert resent["invite_url"] != invitation["invite_url"]


async def test_an_invitation_refused_for_a_line_break_in_the_email_queues_nothing(
    db: DatabaseSettings, conn: asyncpg.Connection, server: SmtpServer
) -> None:
    client = await _client(db, server.port)
    try:
        owner = await _signup(client, "owner@example.com")
        org_id = await create_team(client, owner)
        response = await client.post(
            routes.INTERNAL_INVITATIONS.format(organization_id=org_id),
            json={"actor_user_id": owner, "email": "a@example.com\r\nBcc: eve@example.com"},
            headers=BEARER,
        )
        assert response.status == 400, await response.text()
    finally:
        await client.close()

    assert await _jobs(conn) == []

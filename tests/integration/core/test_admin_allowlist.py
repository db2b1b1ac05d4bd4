"""The console's allowlist pages: search, add, remove (confirmed), import; audited; 404 when off."""

from __future__ import annotations

import io
import json
import re
import uuid
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from authara_contract import cookies, routes
from authara_contract.database import DatabaseSettings
from authara_core.app import create_app
from authara_core.settings import Settings, load_settings
from tests.coresupport import core_env
from tests.integration.core.conftest import ClientFactory, signup

PASSWORD = "correct horse battery"
ON = {"AUTHARA_ACCESS_POLICY_ALLOWLIST_ENABLED": "true"}
ADMIN = "root@example.com"
ENTRY_LINK = re.compile(r'href="/auth/admin/allowlist/([0-9a-f-]{36})/delete"')
Client = TestClient[Any, Any]


@pytest.fixture
async def console(aiohttp_client: ClientFactory, db: DatabaseSettings) -> Client:
    app = create_app(
        load_settings(core_env(db, **ON)),
        periodic_cleanup=False,
        send_mail=False,
        deliver_webhooks=False,
    )
    return await aiohttp_client(app)


async def _operator(client: Client, conn: asyncpg.Connection, role: str = "admin") -> None:
    email = ADMIN if role == "admin" else f"{role}@example.com"
    await conn.execute(
        "INSERT INTO allowed_emails (email) VALUES ($1) ON CONFLICT DO NOTHING", email
    )
    client.session.cookie_jar.clear()
    assert (await signup(client, email, PASSWORD)).status == 303
    await conn.execute(
        "INSERT INTO user_platform_roles (user_id, role_id)"
        " SELECT u.id, r.id FROM users u, platform_roles r WHERE u.email = $1 AND r.name = $2",
        email,
        role,
    )


def _csrf(client: Client) -> str:
    return client.session.cookie_jar.filter_cookies(client.make_url("/"))[cookies.CSRF.name].value


async def _post(client: Client, path: str, **data: str) -> aiohttp.ClientResponse:
    return await client.post(
        path, data={"csrf_token": _csrf(client), **data}, allow_redirects=False
    )


async def _emails(conn: asyncpg.Connection) -> list[str]:
    return [r["email"] for r in await conn.fetch("SELECT email FROM allowed_emails ORDER BY email")]


async def _audit(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT action, actor_user_id, target_email, metadata FROM admin_audit_events"
        " WHERE action LIKE 'allowlist.%' ORDER BY created_at, id"
    )


async def test_the_pages_are_404_while_the_policy_is_off(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection
) -> None:
    assert settings.allowlist_enabled is False
    client = await aiohttp_client(create_app(settings, send_mail=False, deliver_webhooks=False))
    await _operator(client, conn)
    dashboard = await client.get(routes.ADMIN_DASHBOARD)
    assert dashboard.status == 200
    assert routes.ADMIN_ALLOWLIST not in await dashboard.text()  # not in the nav
    for path in (routes.ADMIN_ALLOWLIST, routes.ADMIN_ALLOWLIST_RESULTS):
        assert (await client.get(path)).status == 404
    for path in (routes.ADMIN_ALLOWLIST, routes.ADMIN_ALLOWLIST_IMPORT):
        assert (
            await _post(client, path, email="a@example.com", emails="a@example.com")
        ).status == 404
    assert await _emails(conn) == [ADMIN]


async def test_add_search_and_page(console: Client, conn: asyncpg.Connection) -> None:
    await _operator(console, conn)
    page = await console.get(routes.ADMIN_ALLOWLIST)
    assert page.status == 200
    html = await page.text()
    assert 'aria-current="page">Allowlist<' in html
    assert ADMIN in html

    added = await _post(console, routes.ADMIN_ALLOWLIST, email="  Zoe@Example.COM ")
    assert added.status == 303
    after = await (await console.get(added.headers["Location"])).text()
    assert "Added zoe@example.com to the allowlist." in after
    duplicate = await _post(console, routes.ADMIN_ALLOWLIST, email="zoe@example.com")
    assert duplicate.status == 400
    assert "zoe@example.com is already on the allowlist." in await duplicate.text()
    invalid = await _post(console, routes.ADMIN_ALLOWLIST, email="not an email")
    assert invalid.status == 400
    assert "Enter a valid email address." in await invalid.text()
    assert await _emails(conn) == [ADMIN, "zoe@example.com"]
    (event,) = await _audit(conn)
    assert event["action"] == "allowlist.email_added"
    assert event["target_email"] == "zoe@example.com"
    assert event["actor_user_id"] is not None

    for n in range(5):
        await _post(console, routes.ADMIN_ALLOWLIST, email=f"zed{n}@example.com")
    short = await (await console.get(routes.ADMIN_ALLOWLIST_RESULTS, params={"q": "ze"})).text()
    assert "7 emails." in short  # under 3 characters: everything
    found = await console.get(routes.ADMIN_ALLOWLIST_RESULTS, params={"q": "ZED", "size": "2"})
    fragment = await found.text()
    assert found.status == 200
    assert "<html" not in fragment
    assert "5 emails starting with “ZED”, page 1 of 3." in fragment
    assert fragment.count('data-testid="remove-link"') == 2
    last = await (
        await console.get(routes.ADMIN_ALLOWLIST, params={"q": "zed", "size": "2", "page": "3"})
    ).text()
    assert "zed4@example.com" in last and "zed0@example.com" not in last
    odd = await console.get(
        routes.ADMIN_ALLOWLIST, params={"q": "%_\\", "page": "x", "size": "9999"}
    )
    assert odd.status == 200
    assert "No listed email starts with" in await odd.text()


async def test_remove_asks_first_and_never_takes_your_own(
    console: Client, conn: asyncpg.Connection
) -> None:
    await _operator(console, conn)
    await _post(console, routes.ADMIN_ALLOWLIST, email="gone@example.com")
    rows = await conn.fetch("SELECT id, email FROM allowed_emails")
    ids = {r["email"]: r["id"] for r in rows}
    path = routes.ADMIN_ALLOWLIST_DELETE.format(emailID=ids["gone@example.com"])
    confirm = await console.get(path)
    assert confirm.status == 200
    assert "I understand" in await confirm.text()
    unconfirmed = await _post(console, path)
    assert unconfirmed.status == 400
    assert "gone@example.com" in await _emails(conn)
    removed = await _post(console, path, confirm="yes")
    assert removed.status == 303
    assert await _emails(conn) == [ADMIN]
    assert [e["action"] for e in await _audit(conn)] == [
        "allowlist.email_added",
        "allowlist.email_removed",
    ]
    assert (await _post(console, path, confirm="yes")).status == 404  # gone already
    mine = routes.ADMIN_ALLOWLIST_DELETE.format(emailID=ids[ADMIN])
    own = await _post(console, mine, confirm="yes")
    assert own.status == 400
    assert "You cannot remove your own email from the allowlist." in await own.text()
    assert await _emails(conn) == [ADMIN]
    for bad in ("not-a-uuid", str(uuid.uuid4())):
        bad_path = routes.ADMIN_ALLOWLIST_DELETE.format(emailID=bad)
        assert (await console.get(bad_path)).status == 404
        assert (await _post(console, bad_path, confirm="yes")).status == 404


async def test_import_keeps_the_good_lines_and_reports_each(
    console: Client, conn: asyncpg.Connection
) -> None:
    await _operator(console, conn)
    pasted = "\n".join(
        ["email", "new1@example.com", f"{ADMIN}", "", "broken", "New1@example.com", "b@x.org,Bea"]
    )
    report = await _post(console, routes.ADMIN_ALLOWLIST_IMPORT, emails=pasted)
    assert report.status == 200
    html = await report.text()
    assert "Import: 2 added, 2 already listed, 1 invalid" in html
    assert "repeated in this import" in html
    assert await _emails(conn) == ["b@x.org", "new1@example.com", ADMIN]
    (event,) = await _audit(conn)
    metadata = (
        json.loads(event["metadata"]) if isinstance(event["metadata"], str) else event["metadata"]
    )
    assert metadata == {"bulk": True, "added": 2, "already_listed": 2, "invalid": 1}

    form = aiohttp.FormData()
    form.add_field("csrf_token", _csrf(console))
    form.add_field("emails", "")
    csv = '\ufeffEmail,Name\nfile1@example.com,One\n"file2@example.com",Two\n'
    form.add_field("file", csv.encode(), filename="list.csv", content_type="text/csv")
    uploaded = await console.post(routes.ADMIN_ALLOWLIST_IMPORT, data=form)
    assert uploaded.status == 200
    assert "Import: 2 added, 0 already listed, 0 invalid" in await uploaded.text()
    assert {"file1@example.com", "file2@example.com"} <= set(await _emails(conn))


async def _upload(console: Client, content: bytes) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("csrf_token", _csrf(console))
    form.add_field("file", io.BytesIO(content), filename="list.csv", content_type="text/csv")
    return await console.post(routes.ADMIN_ALLOWLIST_IMPORT, data=form)


async def test_bad_imports_are_refused_whole(console: Client, conn: asyncpg.Connection) -> None:
    await _operator(console, conn)
    too_many = "\n".join(f"u{n}@example.com" for n in range(10_001))
    refused = await _post(console, routes.ADMIN_ALLOWLIST_IMPORT, emails=too_many)
    assert refused.status == 413
    assert "at most 10,000 lines" in await refused.text()
    big = (b"x" * 70 + b"@example.com\n") * 7000  # ~574 KiB: over the import's 512 KiB
    assert (await _upload(console, big)).status == 413
    huge = b"a@example.com\n" * 100_000  # 1.4 MiB: over the app's body limit
    assert (await _upload(console, huge)).status == 413
    latin = await _upload(console, "caf\xe9@example.com\n".encode("latin-1"))
    assert latin.status == 400
    assert "not UTF-8" in await latin.text()
    empty = await _post(console, routes.ADMIN_ALLOWLIST_IMPORT, emails="  \n ")
    assert empty.status == 400
    assert await _emails(conn) == [ADMIN]
    assert await _audit(conn) == []


async def test_an_auditor_reads_but_cannot_change(
    console: Client, conn: asyncpg.Connection
) -> None:
    await _operator(console, conn, "auditor")
    page = await console.get(routes.ADMIN_ALLOWLIST)
    assert page.status == 200
    html = await page.text()
    assert "auditor@example.com" in html
    assert "Add an email" not in html and "remove-link" not in html
    assert (await _post(console, routes.ADMIN_ALLOWLIST, email="x@example.com")).status == 403
    assert (
        await _post(console, routes.ADMIN_ALLOWLIST_IMPORT, emails="x@example.com")
    ).status == 403
    assert await _emails(conn) == ["auditor@example.com"]

"""The audit log page, its filters and keyset pages, its CSV/JSONL exports, its retention."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from authara_contract import routes
from authara_contract.database import DatabaseSettings
from authara_core.admin import audit
from authara_core.admin.audit import CLI, Action, Actor
from authara_core.app import SERVICES_KEY, create_app
from authara_core.settings import Settings, load_settings
from tests.coresupport import FakeClock, core_env
from tests.integration.core.conftest import ClientFactory, signup

PASSWORD = "correct horse battery"
EVENT = re.compile(r'data-testid="audit-event"')
ACTION_SHOWN = re.compile(r'<strong class="event-action">([^<]+)</strong>')
LINK = re.compile(r'<a href="([^"]+)" rel="(prev|next)"')
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def console(aiohttp_client: ClientFactory, settings: Settings) -> TestClient:
    app = create_app(settings, periodic_cleanup=False, send_mail=False, deliver_webhooks=False)
    return await aiohttp_client(app)


async def _as(client: TestClient, conn: asyncpg.Connection, role: str) -> str:
    client.session.cookie_jar.clear()
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    assert (await signup(client, email, PASSWORD)).status == 303
    await conn.execute(
        "INSERT INTO user_platform_roles (user_id, role_id)"
        " SELECT u.id, r.id FROM users u, platform_roles r WHERE u.email = $1 AND r.name = $2",
        email,
        role,
    )
    return email


async def _user(conn: asyncpg.Connection, email: str) -> uuid.UUID:
    user_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO users (username, username_normalized, email) VALUES ($1, $1, $2) RETURNING id",
        email.split("@")[0],
        email,
    )
    return user_id


async def _event(conn: asyncpg.Connection, event: audit.AuditEvent, at: datetime) -> uuid.UUID:
    return await audit.record(conn, event, now=at)


async def _actions(client: TestClient, query: str = "") -> tuple[int, list[str], str]:
    response = await client.get(f"{routes.ADMIN_AUDIT}{query}")
    html = await response.text()
    return response.status, ACTION_SHOWN.findall(html), html


async def test_the_log_shows_events_newest_first_with_who_what_whom_and_where(
    console: TestClient, conn: asyncpg.Connection
) -> None:
    admin_email = await _as(console, conn, "admin")
    target = await _user(conn, "tess@example.com")
    admin_id = await conn.fetchval("SELECT id FROM users WHERE email = $1", admin_email)
    operator = Actor(
        user_id=admin_id,
        ip="203.0.113.9",
        user_agent="Mozilla/5.0 " + "x" * 200,
        request_id="req-123",
    )
    await _event(conn, CLI.event(Action.ADMIN_GRANTED, target_user_id=target), T0)
    await _event(
        conn,
        operator.event(Action.USER_DISABLED, target_user_id=target, metadata={"why": "spam"}),
        T0 + timedelta(minutes=1),
    )

    status, actions, html = await _actions(console)

    assert status == 200
    assert actions == ["user.disabled", "user.admin_granted"]
    assert admin_email in html
    assert "tess@example.com" in html
    assert "203.0.113.9" in html
    assert "req-123" in html
    assert "&#34;why&#34;: &#34;spam&#34;" in html or "&quot;why&quot;" in html
    assert "x" * 100 not in html.split('title="')[0]  # the User-Agent is shortened
    assert ">cli<" in html
    assert 'aria-current="page"' in html and ">Audit log<" in html
    assert "2026-11-01 12:01:00 UTC" in html


async def test_filters_by_actor_target_action_and_dates(
    console: TestClient, conn: asyncpg.Connection
) -> None:
    admin_email = await _as(console, conn, "admin")
    admin_id = await conn.fetchval("SELECT id FROM users WHERE email = $1", admin_email)
    tess = await _user(conn, "tess@example.com")
    operator = Actor(user_id=admin_id)
    await _event(conn, CLI.event(Action.ADMIN_GRANTED, target_user_id=tess), T0)
    await _event(
        conn, operator.event(Action.USER_DISABLED, target_user_id=tess), T0 + timedelta(days=1)
    )
    await _event(
        conn,
        operator.event(Action.ALLOWLIST_EMAIL_ADDED, target_email="gone@example.com"),
        T0 + timedelta(days=2),
    )

    async def shown(query: str) -> list[str]:
        status, actions, _ = await _actions(console, query)
        assert status == 200, query
        return actions

    assert await shown("?actor=cli") == ["user.admin_granted"]
    assert await shown("?actor=CLI") == ["user.admin_granted"]
    assert await shown(f"?actor={admin_email.upper()}") == [
        "allowlist.email_added",
        "user.disabled",
    ]
    assert await shown(f"?actor={admin_id}") == ["allowlist.email_added", "user.disabled"]
    assert await shown("?actor=nobody@example.com") == []
    assert await shown("?target=TESS@example.com") == ["user.disabled", "user.admin_granted"]
    assert await shown(f"?target={tess}") == ["user.disabled", "user.admin_granted"]
    assert await shown("?target=gone@example.com") == ["allowlist.email_added"]
    assert await shown("?action=user.disabled") == ["user.disabled"]
    assert await shown("?from=2026-11-02") == ["allowlist.email_added", "user.disabled"]
    assert await shown("?to=2026-11-02") == ["user.disabled", "user.admin_granted"]
    assert await shown("?from=2026-11-02&to=2026-11-02&actor=" + admin_email) == ["user.disabled"]
    _, _, html = await _actions(console, "?action=user.disabled")
    assert '<option value="user.disabled" selected>' in html


@pytest.mark.parametrize(
    "query",
    [
        "?action=user.nope",
        "?from=2026-13-01",
        "?to=yesterday",
        "?from=2026-11-03&to=2026-11-01",
        "?to=9999-12-31",
        "?target=not-an-id",
        "?size=0",
        "?size=101",
        "?size=ten",
        "?page=0",
        "?page=99999999999999999999",
        "?before=garbage",
        "?after=1_zz",
        "?before=99999999999999999999999_" + "0" * 32,
        "?actor=" + "a" * 400,
    ],
)
async def test_bad_filters_answer_400_with_the_form_never_500(
    console: TestClient, conn: asyncpg.Connection, query: str
) -> None:
    await _as(console, conn, "auditor")
    response = await console.get(f"{routes.ADMIN_AUDIT}{query}")
    assert response.status == 400
    html = await response.text()
    assert 'data-testid="audit-error"' in html
    assert 'name="actor"' in html  # the form is there to fix it
    for export in (routes.ADMIN_AUDIT_EXPORT_CSV, routes.ADMIN_AUDIT_EXPORT_JSONL):
        assert (await console.get(f"{export}{query}")).status == 400


async def test_keyset_pages_walk_every_event_once_in_both_directions(
    console: TestClient, conn: asyncpg.Connection
) -> None:
    await _as(console, conn, "monitor")
    for index in range(7):  # two pairs share a timestamp: the id breaks the tie
        await _event(conn, CLI.event(f"test.e{index}"), T0 + timedelta(seconds=index // 2 * 2))
    expected = [
        row["action"]
        for row in await conn.fetch(
            "SELECT action FROM admin_audit_events ORDER BY created_at DESC, id DESC"
        )
    ]

    pages: list[list[str]] = []
    url = f"{routes.ADMIN_AUDIT}?size=3"
    older_links: list[str] = []
    while url:
        response = await console.get(url)
        html = await response.text()
        pages.append(ACTION_SHOWN.findall(html))
        links = {rel: href.replace("&amp;", "&") for href, rel in LINK.findall(html)}
        if len(pages) == 1:
            assert "prev" not in links
        url = links.get("next", "")
        if url:
            older_links.append(url)
    assert pages == [expected[0:3], expected[3:6], expected[6:7]]

    last = await (await console.get(older_links[-1])).text()
    newer = {rel: h.replace("&amp;", "&") for h, rel in LINK.findall(last)}["prev"]
    assert ACTION_SHOWN.findall(await (await console.get(newer)).text()) == expected[3:6]
    second = await (await console.get(older_links[0])).text()
    to_top = {rel: h.replace("&amp;", "&") for h, rel in LINK.findall(second)}["prev"]
    top = await (await console.get(to_top)).text()
    assert ACTION_SHOWN.findall(top) == expected[0:3]
    assert 'rel="prev"' not in top  # back at the newest: no newer page

    # upstream's page numbers: an offset, the size kept
    assert (await _actions(console, "?size=3&page=2"))[1] == expected[3:6]
    assert (await _actions(console, "?size=3&page=9"))[1] == []
    assert (await _actions(console, "?page=1"))[1] == expected  # default size 50


async def test_an_empty_log_says_so(console: TestClient, conn: asyncpg.Connection) -> None:
    await _as(console, conn, "auditor")
    status, actions, html = await _actions(console)
    assert status == 200
    assert actions == []
    assert 'data-testid="audit-empty"' in html
    assert 'rel="next"' not in html


async def test_htmx_gets_the_fragment(console: TestClient, conn: asyncpg.Connection) -> None:
    await _as(console, conn, "admin")
    await _event(conn, CLI.event(Action.USER_ENABLED), T0)
    response = await console.get(f"{routes.ADMIN_AUDIT}?actor=cli", headers={"HX-Request": "true"})
    html = await response.text()
    assert response.status == 200
    assert "<html" not in html
    assert 'id="audit-results"' in html
    assert ACTION_SHOWN.findall(html) == ["user.enabled"]


async def test_exports_stream_the_filtered_events_injection_safe(
    console: TestClient, conn: asyncpg.Connection
) -> None:
    await _as(console, conn, "auditor")
    evil = Actor(label="cli", ip="=1+1", user_agent="@SUM(A1)", request_id="-2")
    await _event(
        conn,
        evil.event(
            Action.ALLOWLIST_EMAIL_ADDED,
            target_email="+cmd@example.com",
            metadata={"note": "=HYPERLINK()"},
        ),
        T0,
    )
    await _event(conn, CLI.event(Action.USER_ENABLED, target_email="\tx@example.com"), T0)
    for index in range(1203):  # more than two export batches
        await _event(conn, CLI.event("test.bulk"), T0 - timedelta(seconds=index + 1))

    response = await console.get(f"{routes.ADMIN_AUDIT_EXPORT_CSV}?action=allowlist.email_added")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="authara-audit-\d{8}T\d{6}Z\.csv"', disposition)
    assert response.headers["Cache-Control"].startswith("no-store")
    assert "Content-Security-Policy" in response.headers
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert len(rows) == 1
    row = rows[0]
    assert row["action"] == "allowlist.email_added"
    assert row["ip"] == "'=1+1"
    assert row["user_agent"] == "'@SUM(A1)"
    assert row["request_id"] == "'-2"
    assert row["target_email"] == "'+cmd@example.com"
    assert row["actor_label"] == "cli"
    assert json.loads(row["metadata"]) == {"note": "=HYPERLINK()"}  # JSON starts with {

    tabbed = await console.get(f"{routes.ADMIN_AUDIT_EXPORT_CSV}?action=user.enabled")
    assert next(iter(csv.DictReader(io.StringIO(await tabbed.text()))))["target_email"] == (
        "'\tx@example.com"
    )

    everything = await console.get(routes.ADMIN_AUDIT_EXPORT_JSONL)
    assert everything.headers["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert everything.headers["Content-Disposition"].endswith('.jsonl"')
    lines = (await everything.text()).splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 1205
    assert len({record["id"] for record in records}) == 1205
    assert [r["created_at"] for r in records] == sorted(
        (r["created_at"] for r in records), reverse=True
    )
    first = next(r for r in records if r["action"] == "allowlist.email_added")
    assert first["ip"] == "=1+1"  # JSON is data, not a spreadsheet: kept as it is
    assert first["metadata"] == {"note": "=HYPERLINK()"}

    empty = await console.get(f"{routes.ADMIN_AUDIT_EXPORT_CSV}?actor=nobody@example.com")
    assert (await empty.text()).splitlines() == [
        "id,created_at,action,actor_user_id,actor_email,actor_label,target_user_id,"
        "target_email,ip,user_agent,request_id,metadata"
    ]


async def test_retention_deletes_only_events_older_than_the_setting_in_batches(
    conn: asyncpg.Connection, db: DatabaseSettings
) -> None:
    clock = FakeClock(T0)
    settings = load_settings(core_env(db, AUTHARA_ADMIN_AUDIT_RETENTION_DAYS="30"))
    services = create_app(settings, clock=clock, periodic_cleanup=False, send_mail=False)[
        SERVICES_KEY
    ]
    for index in range(2500):  # three delete batches
        await _event(conn, CLI.event("test.old"), T0 - timedelta(days=31, seconds=index))
    await _event(conn, CLI.event("test.kept"), T0 - timedelta(days=29))
    await _event(conn, CLI.event("test.edge"), T0 - timedelta(days=30))  # exactly at the cutoff

    await services.database.open()
    try:
        assert await services.audit_log.cleanup() == 2500
        assert await services.audit_log.cleanup() == 0
        kept = await conn.fetch("SELECT action FROM admin_audit_events ORDER BY created_at")
        assert [row["action"] for row in kept] == ["test.edge", "test.kept"]
        clock.advance(days=2)
        assert await services.audit_log.cleanup() == 2  # now both are older than 30 days
    finally:
        await services.database.close()
    assert await conn.fetchval("SELECT count(*) FROM admin_audit_events") == 0

"""The console's Failures page: failed email jobs and webhook events, listed and retried.

Rows are written failed straight into the outbox tables (as a worker leaves them); a retry
goes through the real console (guard, CSRF, audit) and the mail then leaves through the app's
own workers to a real SMTP server process (aiosmtpd); a retried webhook event is taken by the
webhook workers' own claim query.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient
from aiohttp.web import Application

from authara_contract import cookies, routes
from authara_contract.database import DatabaseSettings
from authara_core.app import create_app
from authara_core.settings import load_settings
from authara_core.webhooks import store as webhook_store
from tests.coresupport import core_env
from tests.integration.core.conftest import ClientFactory, signup
from tests.mailsupport import parts, smtp_server

Client = TestClient[object, Application]
PASSWORD: Final = "correct horse battery"
HTMX: Final = {"HX-Request": "true"}
FLASH = re.compile(r'data-testid="flash">([^<]+)<')
ROW = re.compile(r'data-testid="failure" data-kind="(\w+)" data-id="([0-9a-f-]+)"')
T0: Final = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


async def _as(client: Client, conn: asyncpg.Connection, role: str) -> None:
    client.session.cookie_jar.clear()
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    assert (await signup(client, email, PASSWORD)).status == 303
    await conn.execute(
        "INSERT INTO user_platform_roles (user_id, role_id)"
        " SELECT u.id, r.id FROM users u, platform_roles r WHERE u.email = $1 AND r.name = $2",
        email,
        role,
    )


def _csrf(client: Client) -> str:
    found = client.session.cookie_jar.filter_cookies(client.make_url("/")).get(cookies.CSRF.name)
    assert found is not None
    return found.value


async def _post(client: Client, path: str, *, htmx: bool = False) -> aiohttp.ClientResponse:
    return await client.post(
        path,
        data={"csrf_token": _csrf(client), "page": "1"},
        headers=HTMX if htmx else {},
        allow_redirects=False,
    )


async def _failed_email(
    conn: asyncpg.Connection,
    at: datetime,
    to: str = "ada@example.com",
    data: str = "{}",
    template: str = "signup_code",
) -> uuid.UUID:
    job_id: uuid.UUID = await conn.fetchval(
        """
        INSERT INTO email_jobs (to_email, template, template_data, status, attempt_count,
            last_error, created_at, updated_at, next_attempt_at)
        VALUES ($1, $5, $2::jsonb, 'failed', 5, $3, $4, $4, $4) RETURNING id
        """,
        to,
        data,
        "cannot reach the SMTP server: " + "x" * 600,
        at,
        template,
    )
    return job_id


async def _failed_webhook(conn: asyncpg.Connection, at: datetime) -> str:
    event_id = str(uuid.uuid4())
    await conn.execute(
        """
        INSERT INTO webhook_events (id, event_type, payload, status, attempt_count, last_error,
            created_at, updated_at, next_attempt_at)
        VALUES ($1, 'user.created', '{"id": "x"}'::jsonb, 'failed', 3, 'HTTP 410', $2, $2, $2)
        """,
        event_id,
        at,
    )
    return event_id


def _retry_url(kind: str, row_id: object) -> str:
    if kind == "email":
        return routes.ADMIN_FAILURE_EMAIL_RETRY.format(jobID=row_id)
    return routes.ADMIN_FAILURE_WEBHOOK_RETRY.format(eventID=row_id)


async def test_the_page_lists_both_kinds_newest_first_25_a_page(
    client: Client, conn: asyncpg.Connection
) -> None:
    expected: list[tuple[str, str]] = []
    for i in range(20):
        at = T0 + timedelta(minutes=2 * i)
        expected.append(("email", str(await _failed_email(conn, at, f"u{i}@example.com"))))
        expected.append(("webhook", await _failed_webhook(conn, at + timedelta(minutes=1))))
    expected.reverse()  # newest first
    await _as(client, conn, "monitor")  # every platform role reads the page

    first = await client.get(routes.ADMIN_FAILURES)
    html = await first.text()
    assert first.status == 200
    assert ROW.findall(html) == expected[:25]
    assert "20 failed emails, 20 failed webhook events" in html
    assert 'aria-current="page">Failures<' in html
    assert "u19@example.com" in html and "HTTP 410" in html
    assert "x" * 201 not in html  # the error is shortened
    assert 'data-testid="retry"' not in html  # read-only: no Retry buttons
    second = await client.get(f"{routes.ADMIN_FAILURES}?page=2")
    assert ROW.findall(await second.text()) == expected[25:]
    for bad in ("0", "x", "401", "-1"):
        response = await client.get(f"{routes.ADMIN_FAILURES}?page={bad}")
        assert response.status == 400, bad


async def test_a_retried_email_is_delivered_by_the_real_workers_and_audited(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    # A mail with no composer keeps what it sends in its row here (a failed job forgets its
    # template data; a challenge's mail is composed again at send time, see docs/admin.md).
    data = json.dumps({"reset_url": "https://app.example/reset?token=482915"})
    job_id = await _failed_email(conn, T0, data=data, template="password_reset_request")
    async with smtp_server(tmp_path / "mail") as server:
        env = {
            "AUTHARA_EMAIL_PROVIDER": "smtp",
            "AUTHARA_EMAIL_FROM": "Authara <no-reply@authara.test>",
            "AUTHARA_EMAIL_SMTP_HOST": "127.0.0.1",
            "AUTHARA_EMAIL_SMTP_PORT": str(server.port),
            "AUTHARA_EMAIL_SMTP_TLS": "false",
            "AUTHARA_EMAIL_WORKER_POLL_INTERVAL": "100ms",
        }
        client = await aiohttp_client(create_app(load_settings(core_env(db, **env))))
        await _as(client, conn, "admin")
        assert server.received() == []  # a failed job is never picked up on its own

        response = await _post(client, _retry_url("email", job_id))
        assert response.status == 303
        assert response.headers["Location"] == routes.ADMIN_FAILURES
        page = await client.get(routes.ADMIN_FAILURES)
        [flash] = FLASH.findall(await page.text())
        assert "queued again" in flash and "ada@example.com" in flash

        [received] = await server.wait_for(1)
        # The server has the message before its reply reaches the worker: keep the server up
        # until the worker has marked the job sent (stopping it sooner fails the attempt).
        row = await conn.fetchrow("SELECT * FROM email_jobs WHERE id = $1", job_id)
        for _ in range(400):
            if row["status"] == "sent":
                break
            await asyncio.sleep(0.05)
            row = await conn.fetchrow("SELECT * FROM email_jobs WHERE id = $1", job_id)
    assert received.rcpt_tos == ["ada@example.com"]
    assert "482915" in parts(received.message)["text/plain"]
    assert row["status"] == "sent"
    assert row["attempt_count"] == 1  # a fresh round of attempts
    audit = await conn.fetchrow(
        "SELECT * FROM admin_audit_events WHERE action = 'email_job.retried'"
    )
    assert audit["target_email"] == "ada@example.com"
    assert json.loads(audit["metadata"]) == {
        "id": str(job_id),
        "attempts": 5,
        "what": "password_reset_request",
    }


async def test_a_retried_webhook_is_claimed_again_and_only_one_retry_wins(
    client: Client, conn: asyncpg.Connection, db: DatabaseSettings
) -> None:
    event_id = await _failed_webhook(conn, T0)
    await _as(client, conn, "admin")
    url = _retry_url("webhook", event_id)

    first, second = await asyncio.gather(_post(client, url, htmx=True), _post(client, url))
    assert first.status in (200, 409)  # HTMX: the list, or the refusal as an error toast
    assert second.status == 303  # no JavaScript: back to the page, a flash either way
    # Exactly one retry changed the row and was audited; the other was refused.
    events = await conn.fetchval(
        "SELECT count(*) FROM admin_audit_events WHERE action = 'webhook_event.retried'"
    )
    assert events == 1
    refused = await _post(client, url)
    assert refused.status == 303
    page = await client.get(routes.ADMIN_FAILURES)
    [flash] = FLASH.findall(await page.text())
    assert "no longer failed" in flash
    htmx_refused = await _post(client, url, htmx=True)
    assert htmx_refused.status == 409
    assert "no longer failed" in await htmx_refused.text()

    row = await conn.fetchrow("SELECT * FROM webhook_events WHERE id = $1", event_id)
    assert (row["status"], row["attempt_count"], row["processing_started_at"]) == (
        "pending",
        0,
        None,
    )
    assert row["last_error"] == "HTTP 410"  # kept until the next attempt
    async with conn.transaction():
        claimed = await webhook_store.claim_next(conn, now=datetime.now(UTC))
    assert claimed is not None
    assert (claimed.id, claimed.attempt_count) == (event_id, 1)


async def test_the_htmx_retry_answers_the_list_and_a_toast(
    client: Client, conn: asyncpg.Connection
) -> None:
    event_id = await _failed_webhook(conn, T0)
    other = await _failed_webhook(conn, T0 + timedelta(minutes=1))
    await _as(client, conn, "admin")
    response = await _post(client, _retry_url("webhook", event_id), htmx=True)
    html = await response.text()
    assert response.status == 200
    assert 'id="failures"' in html and 'data-testid="toast"' in html
    assert ROW.findall(html) == [("webhook", other)]
    assert "<html" not in html


async def test_auditors_cannot_retry_and_bad_ids_are_clear_errors(
    client: Client, conn: asyncpg.Connection
) -> None:
    event_id = await _failed_webhook(conn, T0)
    job_id = await _failed_email(conn, T0)
    await _as(client, conn, "auditor")
    assert (await _post(client, _retry_url("webhook", event_id))).status == 403
    assert (await _post(client, _retry_url("email", job_id))).status == 403

    await _as(client, conn, "admin")
    for kind in ("email", "webhook"):
        for bad in ("not-a-uuid", str(job_id)[:-1], str(job_id).replace("-", ""), "1"):
            response = await _post(client, _retry_url(kind, bad))
            assert response.status == 400, (kind, bad)
        assert (await _post(client, _retry_url(kind, uuid.uuid4()))).status == 404
    assert await conn.fetchval("SELECT status FROM webhook_events") == "failed"
    assert await conn.fetchval("SELECT count(*) FROM admin_audit_events") == 0


async def test_a_mail_whose_contents_were_cleared_is_not_offered_and_not_retried(
    client: Client, conn: asyncpg.Connection
) -> None:
    # What the worker leaves of a failed invitation mail: no challenge to rebuild it from and
    # its template_data cleared. Sending it again would fail at once ("cannot build").
    job_id = await _failed_email(conn, T0, template="organization_invitation")
    await _as(client, conn, "admin")

    page = await (await client.get(routes.ADMIN_FAILURES)).text()
    assert 'data-testid="not-retryable"' in page
    assert 'data-testid="retry"' not in page

    response = await _post(client, _retry_url("email", job_id))
    assert response.status == 303  # back to the page, with the reason in the flash
    page = await (await client.get(routes.ADMIN_FAILURES)).text()
    assert "cannot be sent again" in page
    htmx = await _post(client, _retry_url("email", job_id), htmx=True)
    assert htmx.status == 409
    assert await conn.fetchval("SELECT status FROM email_jobs WHERE id = $1", job_id) == "failed"
    assert await conn.fetchval("SELECT count(*) FROM admin_audit_events") == 0

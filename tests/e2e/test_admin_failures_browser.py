"""The console's Failures page in a browser, through `authara dev`.

A failed email job and a failed webhook event are written into the stack's database; an admin
signs in, opens Failures, and the page passes axe in the light and the dark color scheme at
1280 and 375 px (no sideways scrolling); retrying the webhook event with HTMX swaps the list
and shows the toast. Screenshots go to /tmp/admfail-shots/.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import pytest
from playwright.sync_api import expect

from authara_contract import routes

from .admin_support import DESKTOP, PHONE, connect, database_env, grant_admin
from .conftest import ContextOpener, StackStarter
from .devstack_process import DevStackProcess
from .invitation_support import (
    PASSWORD,
    ROOMY_RATE_LIMITS,
    axe_in_both_schemes,
    fresh_email,
    sign_up,
)

pytestmark = pytest.mark.e2e

SHOTS: Final = Path("/tmp/admfail-shots")  # noqa: S108 (screenshots for a person to look at)


@pytest.fixture(scope="module")
def stack(start_stack: StackStarter) -> DevStackProcess:
    return start_stack(**ROOMY_RATE_LIMITS)


async def _write_failures(env: dict[str, str]) -> str:
    conn = await connect(env)
    event_id = str(uuid.uuid4())
    try:
        await conn.execute(
            """
            INSERT INTO email_jobs (to_email, template, status, attempt_count, last_error,
                created_at, updated_at, next_attempt_at)
            VALUES ('someone.with.a.rather.long.address@example.com', 'signup_code', 'failed',
                5, 'cannot reach the SMTP server: connection refused by mail.example.com:587',
                now(), now(), now())
            """
        )
        await conn.execute(
            """
            INSERT INTO webhook_events (id, event_type, payload, status, attempt_count,
                last_error, created_at, updated_at, next_attempt_at)
            VALUES ($1, 'user.created', '{}'::jsonb, 'failed', 3, 'HTTP 410', now(), now(), now())
            """,
            event_id,
        )
    finally:
        await conn.close()
    return event_id


def test_the_failures_page_is_accessible_and_retries_with_htmx(
    stack: DevStackProcess, open_context: ContextOpener
) -> None:
    admin_email = fresh_email("admin")
    sign_up(open_context(stack), admin_email)
    grant_admin(stack, admin_email)
    env = database_env(stack)
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's loop
        event_id = pool.submit(asyncio.run, _write_failures(env)).result()

    page = open_context(stack, viewport=DESKTOP).new_page()
    page.goto(routes.ADMIN_FAILURES)
    page.locator('input[name="email"]').fill(admin_email)
    page.locator('input[name="password"]').fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{stack.base_url}{routes.ADMIN_FAILURES}")

    expect(page.get_by_role("heading", name="Failures", exact=True)).to_be_visible()
    nav = page.get_by_role("navigation", name="Admin console")
    expect(nav.get_by_role("link", name="Failures")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id("failure")).to_have_count(2)
    assert axe_in_both_schemes(page) == {}
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "failures-1280.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(SHOTS / "failures-1280-dark.png"), full_page=True)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(PHONE)
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert axe_in_both_schemes(page) == {}
    page.screenshot(path=str(SHOTS / "failures-375.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(SHOTS / "failures-375-dark.png"), full_page=True)
    page.emulate_media(color_scheme="light")

    page.locator(f'[data-id="{event_id}"]').get_by_test_id("retry").click()
    expect(page.get_by_test_id("toast")).to_contain_text("queued again")
    expect(page.get_by_test_id("failure")).to_have_count(1)
    assert page.url == f"{stack.base_url}{routes.ADMIN_FAILURES}"

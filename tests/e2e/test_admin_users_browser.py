"""The console's Users pages in a browser, through `authara dev` (issue 16's users flow).

The command line makes an admin; the admin opens /auth/admin, signs in, goes to Users, finds
a member by the start of their email (the live search), opens their page and signs out all
their sessions. The member's browser is signed out at its next refresh, and the action is in
admin_audit_events and on the audit log page. The list and the user page pass axe in light
and dark and fit 375 px; screenshots at 375 and 1280 px, light and dark, go to /tmp/admusers-shots/.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import asyncpg
import pytest
from playwright.sync_api import Page, expect

from authara_contract import cookies, routes

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

SHOTS: Final = Path("/tmp/admusers-shots")  # noqa: S108 (screenshots for a person to look at)


@pytest.fixture(scope="module")
def stack(start_stack: StackStarter) -> DevStackProcess:
    """Run `authara dev` on a database of its own."""
    return start_stack(**ROOMY_RATE_LIMITS)


def _audit_events(stack: DevStackProcess) -> list[asyncpg.Record]:
    env = database_env(stack)

    async def fetch() -> list[asyncpg.Record]:
        conn = await connect(env)
        try:
            return await conn.fetch(
                "SELECT e.action, e.target_email, e.metadata, a.email AS actor"
                " FROM admin_audit_events e LEFT JOIN users a ON a.id = e.actor_user_id"
                " ORDER BY e.created_at"
            )
        finally:
            await conn.close()

    # Playwright's sync API runs an event loop in this thread: query from another one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, fetch()).result(timeout=60)


def _shots(page: Page, name: str) -> None:
    """Check the page at 1280 and 375 px (axe, no sideways scroll) and screenshot both schemes."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        assert axe_in_both_schemes(page) == {}
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            path = SHOTS / f"{name}-{viewport['width']}-{scheme}.png"
            page.screenshot(path=str(path), full_page=True)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(DESKTOP)


def test_an_admin_finds_a_member_and_signs_them_out_everywhere(
    stack: DevStackProcess, open_context: ContextOpener
) -> None:
    admin_email, member_email = fresh_email("boss"), fresh_email("member")
    sign_up(open_context(stack), admin_email)
    member = open_context(stack)
    sign_up(member, member_email)
    grant_admin(stack, admin_email)

    page = open_context(stack, viewport=DESKTOP).new_page()
    page.goto(routes.ADMIN_DASHBOARD)
    page.locator('input[name="email"]').fill(admin_email)
    page.locator('input[name="password"]').fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{stack.base_url}{routes.ADMIN_DASHBOARD}")

    page.get_by_role("navigation", name="Admin console").get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    rows = page.get_by_test_id("user-row")
    expect(rows).to_have_count(2)  # newest first: the admin and the member
    page.get_by_label("Email, username or user id starts with").press_sequentially(
        member_email[:14].upper()  # "MEMBER-" and a few hex digits: any case
    )
    expect(rows).to_have_count(1)  # the live search replaced the list
    expect(page).to_have_url(f"{stack.base_url}{routes.ADMIN_USERS}?q={member_email[:14].upper()}")
    _shots(page, "users")

    rows.get_by_role("link", name=member_email).click()
    expect(page.get_by_role("heading", name=member_email)).to_be_visible()
    sessions = page.get_by_test_id("user-sessions").get_by_test_id("session")
    expect(sessions).to_have_count(1)
    _shots(page, "user")

    page.get_by_label("Sign this account out on every device").check()
    page.get_by_role("button", name="Sign out all sessions").click()
    expect(page.get_by_test_id("toast").locator("p")).to_have_text("Signed out 1 session.")
    expect(page.get_by_test_id("no-sessions")).to_be_visible()
    expect(page.get_by_role("heading", name=member_email)).to_be_focused()  # not lost
    page.screenshot(path=str(SHOTS / "user-after-sign-out-1280-light.png"), full_page=True)
    assert urlsplit(page.url).path.startswith(routes.ADMIN_USERS + "/")

    # The member's browser: its access token "expires"; the refresh is refused.
    tab = member.new_page()
    member.clear_cookies(name=cookies.ACCESS.name)
    tab.goto("/private")
    assert urlsplit(tab.url).path == routes.LOGIN
    assert cookies.REFRESH.name not in {c["name"] for c in member.cookies()}

    events = _audit_events(stack)
    assert [(e["action"], e["target_email"], e["actor"]) for e in events] == [
        ("user.admin_granted", admin_email, None),  # the command line
        ("user.sessions_revoked", member_email, admin_email),
    ]
    # ... and the console's audit log shows it, newest first, with who did it to whom.
    page.get_by_role("navigation", name="Admin console").get_by_role(
        "link", name="Audit log"
    ).click()
    newest = page.get_by_test_id("audit-event").first
    expect(newest.locator(".event-action")).to_have_text("user.sessions_revoked")
    expect(newest).to_contain_text(admin_email)
    expect(newest).to_contain_text(member_email)

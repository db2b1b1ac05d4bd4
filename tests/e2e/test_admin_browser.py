"""The admin console in a browser, through `authara dev` (issue 16's first step).

Two people sign up; the command line makes one of them an admin; in a fresh browser that
person opens /auth/admin, is sent to the login page, signs in and lands back on the
dashboard, which counts both accounts. The dashboard passes axe in the light and the dark
color scheme and fits a 375 px phone; screenshots at 375 and 1280 px go to /tmp/admin-shots/.
The admin then goes to their account page and back to the console without signing in again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from authara_contract import routes

from .admin_support import DESKTOP, PHONE, grant_admin
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

SHOTS: Final = Path("/tmp/admin-shots")  # noqa: S108 (screenshots for a person to look at)


@pytest.fixture(scope="module")
def stack(start_stack: StackStarter) -> DevStackProcess:
    """Run `authara dev` on a database of its own, so the dashboard's counts are ours."""
    return start_stack(**ROOMY_RATE_LIMITS)


def _stat(page: Page, name: str) -> str:
    return page.get_by_test_id(f"stat-{name}").inner_text()


def test_an_admin_made_by_the_cli_signs_in_and_reads_the_dashboard(
    stack: DevStackProcess, open_context: ContextOpener
) -> None:
    admin_email = fresh_email("admin")
    sign_up(open_context(stack), admin_email)
    sign_up(open_context(stack), fresh_email("member"))
    grant_admin(stack, admin_email)

    page = open_context(stack, viewport=DESKTOP).new_page()
    page.goto(routes.ADMIN_DASHBOARD)
    assert urlsplit(page.url).path == routes.LOGIN
    page.locator('input[name="email"]').fill(admin_email)
    page.locator('input[name="password"]').fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{stack.base_url}{routes.ADMIN_DASHBOARD}")

    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert _stat(page, "users") == "2"
    assert _stat(page, "signups-24h") == "2"
    assert _stat(page, "signups-7d") == "2"
    assert _stat(page, "disabled") == "0"
    assert _stat(page, "sessions") == "3"  # two signups and this login
    expect(page.get_by_role("img", name="Signups per day")).to_be_visible()
    nav = page.get_by_role("navigation", name="Admin console")
    expect(nav.get_by_role("link", name="Dashboard")).to_have_attribute("aria-current", "page")
    page.get_by_text("Show the numbers").click()
    assert axe_in_both_schemes(page) == {}

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "dashboard-1280.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(SHOTS / "dashboard-1280-dark.png"), full_page=True)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(PHONE)
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert axe_in_both_schemes(page) == {}
    page.screenshot(path=str(SHOTS / "dashboard-375.png"), full_page=True)

    page.get_by_role("link", name="Your account").click()
    page.wait_for_url(f"{stack.base_url}{routes.ACCOUNT}")
    page.goto(routes.ADMIN_DASHBOARD)
    assert urlsplit(page.url).path == routes.ADMIN_DASHBOARD  # no login page in between
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

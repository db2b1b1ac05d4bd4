"""The audit log page in a browser, through `authara dev`.

The command line makes an admin (an audited grant); five failed logins for one email write a
`security.login_failures` event; the admin signs in on the way to /auth/admin/audit (reached
from the console's navigation), sees both events, filters by action with the GET form (HTMX
swaps the results and pushes the URL; the URL reloads to the same view), and the page passes
axe in the light and the dark scheme and fits a 375 px phone. Screenshots at 375 and 1280 px,
light and dark, go to /tmp/admaudit-shots/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from authara_contract import routes

from .admin_support import DESKTOP, PHONE, grant_admin
from .conftest import ContextOpener, StackStarter
from .devstack_process import DevStackProcess
from .invitation_support import PASSWORD, ROOMY_RATE_LIMITS, axe_in_both_schemes, fresh_email
from .invitation_support import sign_up as sign_up_api

pytestmark = pytest.mark.e2e

SHOTS: Final = Path("/tmp/admaudit-shots")  # noqa: S108 (screenshots for a person to look at)


@pytest.fixture(scope="module")
def stack(start_stack: StackStarter) -> DevStackProcess:
    """Run `authara dev` on a database of its own, so the log holds only our events."""
    return start_stack(**ROOMY_RATE_LIMITS)


def _log_in(page: Page, email: str, password: str) -> None:
    page.locator('input[name="email"]').fill(email)
    page.locator('input[name="password"]').fill(password)
    page.get_by_role("button", name="Log in").click()


def _actions(page: Page) -> list[str]:
    return page.locator(".event-action").all_inner_texts()


def _shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.emulate_media(color_scheme="light")
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(SHOTS / f"{name}-dark.png"), full_page=True)
    page.emulate_media(color_scheme="light")


def test_an_admin_reads_and_filters_the_audit_log(
    stack: DevStackProcess, open_context: ContextOpener
) -> None:
    admin_email = fresh_email("admin")
    victim = fresh_email("victim")
    sign_up_api(open_context(stack), admin_email)
    sign_up_api(open_context(stack), victim)
    grant_admin(stack, admin_email)

    page = open_context(stack, viewport=DESKTOP).new_page()
    page.goto(routes.ADMIN_DASHBOARD)
    assert urlsplit(page.url).path == routes.LOGIN
    for _ in range(5):
        _log_in(page, victim, "not the password")
        expect(page.locator("#form-error")).to_be_visible()
    _log_in(page, admin_email, PASSWORD)
    page.wait_for_url(f"{stack.base_url}{routes.ADMIN_DASHBOARD}")

    nav = page.get_by_role("navigation", name="Admin console")
    nav.get_by_role("link", name="Audit log").click()
    page.wait_for_url(f"{stack.base_url}{routes.ADMIN_AUDIT}")
    expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
    expect(nav.get_by_role("link", name="Audit log")).to_have_attribute("aria-current", "page")
    assert _actions(page) == ["security.login_failures", "user.admin_granted"]
    events = page.get_by_test_id("audit-event")
    expect(events.nth(0)).to_contain_text(victim)
    expect(events.nth(0)).to_contain_text("anonymous")
    expect(events.nth(1)).to_contain_text("cli")
    expect(events.nth(1)).to_contain_text(admin_email)
    assert axe_in_both_schemes(page) == {}
    _shoot(page, "audit-1280")

    page.get_by_label("Action").select_option("user.admin_granted")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/auth/admin/audit?*action=user.admin_granted*")
    expect(page.get_by_role("heading", name="Matching events")).to_be_visible()
    assert _actions(page) == ["user.admin_granted"]
    assert parse_qs(urlsplit(page.url).query)["action"] == ["user.admin_granted"]
    page.reload()  # the pushed URL is a page of its own
    assert _actions(page) == ["user.admin_granted"]
    expect(page.get_by_label("Action")).to_have_value("user.admin_granted")

    page.get_by_label("From (UTC)").fill("2031-01-02")
    page.get_by_label("To (UTC)").fill("2031-01-01")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("audit-error")).to_contain_text("From must be on or before To")

    page.set_viewport_size(PHONE)
    page.goto(routes.ADMIN_AUDIT)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert axe_in_both_schemes(page) == {}
    _shoot(page, "audit-375")

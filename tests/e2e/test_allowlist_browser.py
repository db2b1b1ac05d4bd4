"""The allowlist in a browser, through `authara dev` with the access policy on.

The command line puts the first admin on the allowlist and makes them an admin. A visitor
whose email is not listed cannot sign up (HTML); the admin adds it on the console's
allowlist page; the visitor signs up. The admin removes it again (with the confirmation):
the visitor cannot log in; re-added (this time by an import), they can. The allowlist page
passes axe in the light and the dark color scheme and fits a 375 px phone; screenshots at 375
and 1280 px, light and dark, go to /tmp/admallow-shots/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from authara_contract import routes

from .admin_support import DESKTOP, PHONE, admin_cli
from .conftest import ContextOpener, StackStarter
from .devstack_process import DevStackProcess
from .invitation_support import (
    PASSWORD,
    ROOMY_RATE_LIMITS,
    axe_in_both_schemes,
    fresh_email,
    sign_up,
)
from .mail_codes import enter_emailed_code

pytestmark = pytest.mark.e2e

SHOTS: Final = Path("/tmp/admallow-shots")  # noqa: S108 (screenshots for a person to look at)


@pytest.fixture(scope="module")
def stack(start_stack: StackStarter) -> DevStackProcess:
    return start_stack(**ROOMY_RATE_LIMITS, AUTHARA_ACCESS_POLICY_ALLOWLIST_ENABLED="true")


def _try_signup(page: Page, email: str) -> None:
    page.goto(routes.SIGNUP)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()


def _try_login(page: Page, email: str) -> None:
    page.context.clear_cookies()
    page.goto(routes.LOGIN)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def _shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.screenshot(path=str(SHOTS / f"{name}-{scheme}.png"), full_page=True)
    page.emulate_media(color_scheme="light")


def test_an_admin_lets_a_visitor_in_through_the_allowlist(
    stack: DevStackProcess, open_context: ContextOpener
) -> None:
    admin_email = fresh_email("admin")
    assert "added to the allowlist" in admin_cli(stack, "allow", admin_email)
    sign_up(open_context(stack), admin_email)
    admin_cli(stack, "grant", admin_email)

    visitor_email = fresh_email("visitor")
    visitor = open_context(stack, viewport=PHONE).new_page()
    _try_signup(visitor, visitor_email)
    expect(visitor.get_by_role("alert")).to_have_text(
        "Sign-up is limited to approved email addresses."
    )

    admin = open_context(stack, viewport=DESKTOP).new_page()
    admin.goto(routes.ADMIN_ALLOWLIST)
    assert urlsplit(admin.url).path == routes.LOGIN
    admin.get_by_label("Email").fill(admin_email)
    admin.get_by_label("Password", exact=True).fill(PASSWORD)
    admin.get_by_role("button", name="Log in").click()
    admin.wait_for_url(f"{stack.base_url}{routes.ADMIN_ALLOWLIST}")
    nav = admin.get_by_role("navigation", name="Admin console")
    expect(nav.get_by_role("link", name="Allowlist")).to_have_attribute("aria-current", "page")
    admin.get_by_label("Email", exact=True).fill(visitor_email)
    admin.get_by_role("button", name="Add", exact=True).click()
    expect(admin.get_by_test_id("flash")).to_have_text(f"Added {visitor_email} to the allowlist.")
    assert axe_in_both_schemes(admin) == {}
    _shoot(admin, "allowlist-1280")

    _try_signup(visitor, visitor_email)
    enter_emailed_code(visitor, visitor_email, skip_passkey_offer=True)
    visitor.wait_for_url(lambda url: not urlsplit(url).path.startswith("/auth/"))
    assert visitor.context.request.get("/whoami").json()["user_id"]  # signed in

    # Live search (HTMX), then remove the visitor with the confirmation.
    admin.get_by_label("Search by the start of an email").fill(visitor_email[:10])
    expect(admin.get_by_test_id("allowlist-count")).to_contain_text("1 email starting with")
    admin.get_by_role("link", name=f"Remove {visitor_email}").click()
    expect(admin.get_by_role("heading", name="Remove from the allowlist")).to_be_visible()
    assert axe_in_both_schemes(admin) == {}
    admin.get_by_label("I understand").check()
    admin.get_by_role("button", name="Remove").click()
    expect(admin.get_by_test_id("flash")).to_have_text(
        f"Removed {visitor_email} from the allowlist."
    )

    _try_login(visitor, visitor_email)
    expect(visitor.get_by_role("alert")).to_have_text("This account is disabled.")

    # Back by an import: one good line, one already listed, one invalid.
    admin.get_by_label("Paste emails").fill(f"{visitor_email}\n{admin_email}\nnot-an-email\n")
    admin.get_by_role("button", name="Import").click()
    expect(admin.get_by_test_id("import-report")).to_contain_text(
        "Import: 1 added, 1 already listed, 1 invalid"
    )
    assert axe_in_both_schemes(admin) == {}
    _shoot(admin, "allowlist-import-1280")
    admin.set_viewport_size(PHONE)
    admin.goto(routes.ADMIN_ALLOWLIST)
    assert admin.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert axe_in_both_schemes(admin) == {}
    _shoot(admin, "allowlist-375")

    _try_login(visitor, visitor_email)
    visitor.wait_for_url(lambda url: not urlsplit(url).path.startswith("/auth/"))
    assert visitor.context.request.get("/whoami").json()["user_id"]

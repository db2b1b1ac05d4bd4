"""Two browsers signed in to one account: one signs the other out from the account page, and
the other is signed out at its next refresh (issue 14's sessions check)."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from authara_contract import cookies

from .conftest import ContextOpener, StackStarter
from .devstack_process import DevStackProcess
from .invitation_support import ROOMY_RATE_LIMITS, axe_violations
from .mail_codes import enter_emailed_code

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)


@pytest.fixture(scope="module")
def stack(start_stack: StackStarter) -> DevStackProcess:
    """A stack of its own: the package's shared one may have spent its per-IP signups."""
    return start_stack(**ROOMY_RATE_LIMITS)


def _fill(page: Page, email: str, button: str) -> None:
    page.locator('input[name="email"]').fill(email)
    page.locator('input[name="password"]').fill(PASSWORD)
    page.get_by_role("button", name=button).click()


def _next_refresh(context: BrowserContext, page: Page) -> None:
    """Let the access token "expire": the next page load goes through a refresh."""
    context.clear_cookies(name=cookies.ACCESS.name)
    page.goto("/private")


def test_one_browser_signs_the_other_out(
    open_context: ContextOpener, stack: DevStackProcess
) -> None:
    email = f"e2e-{uuid.uuid4().hex[:12]}@example.com"
    laptop_context = open_context(stack)
    laptop = laptop_context.new_page()
    laptop.goto("/auth/signup?return_to=/private")
    _fill(laptop, email, "Create account")
    enter_emailed_code(laptop, email)
    laptop.wait_for_url(f"{stack.base_url}/private")

    phone_context = open_context(stack, user_agent=IPHONE)
    phone = phone_context.new_page()
    phone.goto("/auth/login?return_to=/private")
    _fill(phone, email, "Log in")
    phone.wait_for_url(f"{stack.base_url}/private")

    laptop.goto("/auth/account")
    sessions = laptop.get_by_test_id("session")
    expect(sessions).to_have_count(2)
    expect(sessions.first).to_contain_text("This device")
    expect(sessions.nth(1)).to_contain_text("iPhone")
    assert axe_violations(laptop) == []
    laptop.set_viewport_size({"width": 390, "height": 844})  # a phone: nothing scrolls sideways
    assert laptop.evaluate("document.documentElement.scrollWidth") <= 390
    assert axe_violations(laptop) == []
    laptop.get_by_role("button", name="Sign out Mobile Safari 17 on iOS 17.4").click()
    expect(laptop.get_by_test_id("flash")).to_have_text("The session was signed out.")
    expect(laptop.get_by_test_id("session")).to_have_count(1)

    _next_refresh(phone_context, phone)
    assert urlsplit(phone.url).path == "/auth/login", phone.url

    _next_refresh(laptop_context, laptop)  # the laptop stays signed in
    assert urlsplit(laptop.url).path == "/private", laptop.url
    expect(laptop.get_by_test_id("email")).to_have_text(email)

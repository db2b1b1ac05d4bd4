"""The account page in a browser, through `authara dev`: username, password change, deletion.

Without JavaScript-only behaviour: every form posts and the page comes back. A password change
signs the other browser out at its next refresh and keeps this one; deleting the account ends
on /auth/successful-deletion, signed out. Each page passes axe and fits a phone's width.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from authara_contract import cookies, routes

from .conftest import ContextOpener, StackStarter
from .devstack_process import DevStackProcess
from .invitation_support import PASSWORD, ROOMY_RATE_LIMITS, axe_violations, fresh_email
from .mail_codes import sign_up_through_api

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "a brand new passphrase"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def stack(start_stack: StackStarter) -> DevStackProcess:
    """Run `authara dev` (challenges on) with room for many logins from one IP."""
    return start_stack(**ROOMY_RATE_LIMITS)


def _fits(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
    assert axe_violations(page) == []


def _log_in(context: BrowserContext, email: str, password: str) -> Page:
    tab = context.new_page()
    tab.goto(f"{routes.LOGIN}?return_to={routes.ACCOUNT}")
    tab.get_by_label("Email").fill(email)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Log in").click()
    expect(tab.get_by_role("heading", name="Your account")).to_be_visible()
    return tab


def _signed_out_at_next_refresh(tab: Page) -> None:
    """Drop the access cookie as its expiry would; the refresh must then be refused."""
    tab.context.clear_cookies(name=cookies.ACCESS.name)
    tab.goto(routes.ACCOUNT)
    expect(tab).to_have_url(f"{tab.url.split('/auth/')[0]}/auth/login?return_to=%2Fauth%2Faccount")
    assert cookies.REFRESH.name not in {c["name"] for c in tab.context.cookies()}


def test_username_password_change_and_deletion(
    stack: DevStackProcess, open_context: ContextOpener
) -> None:
    email = fresh_email("account")
    phone = open_context(stack, viewport=PHONE)
    sign_up_through_api(phone, email, PASSWORD)
    laptop = open_context(stack)
    other = _log_in(laptop, email, PASSWORD)

    page = phone.new_page()
    page.goto(routes.ACCOUNT)
    expect(page.get_by_test_id("account-email")).to_have_text(email)
    _fits(page)

    page.get_by_label("New username").fill("bad name!")
    page.get_by_role("button", name="Save username").click()
    expect(page.get_by_text("That is not a valid username.")).to_be_visible()
    expect(page.get_by_label("New username")).to_have_value("bad name!")
    _fits(page)
    page.get_by_label("New username").fill("e2e_user")
    page.get_by_role("button", name="Save username").click()
    expect(page.get_by_test_id("flash")).to_have_text("Your username is now e2e_user.")
    expect(page.get_by_test_id("account-username")).to_have_text("e2e_user")

    page.get_by_role("link", name="Change password").click()
    page.get_by_label("Current password").fill("not the password")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Your current password is not correct.")).to_be_visible()
    _fits(page)
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_test_id("flash")).to_have_text(
        "Your password was changed. You were signed out on 1 other session."
    )
    _signed_out_at_next_refresh(other)
    page.reload()  # this browser's session goes on
    expect(page.get_by_test_id("account-username")).to_have_text("e2e_user")

    page.get_by_label("Your password").fill(PASSWORD)  # the old one
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_text("Your account was not deleted.")).to_be_visible()
    page.get_by_label("Your password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("heading", name="Your account was deleted")).to_be_visible()
    assert page.url.endswith(routes.ACCOUNT_DELETED)
    _fits(page)
    assert not {cookies.ACCESS.name, cookies.REFRESH.name} & {c["name"] for c in phone.cookies()}
    page.goto(routes.ACCOUNT)
    assert "/auth/login" in page.url

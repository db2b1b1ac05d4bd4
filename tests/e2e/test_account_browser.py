"""The account page in a browser, through `authara dev` (issue 14's check).

Two browsers signed in to one account: the account page of one lists both, and signing the
other out there ends it at its next refresh. A username change, a password change (which signs
the other browser out at its next refresh and keeps this one), and deleting the account, which
ends on /auth/successful-deletion signed out, while the demo app's webhook page shows
`user.deleted`. Those run with JavaScript off: every form posts and the browser comes back to
/auth/account (303) with the message in a flash or next to the refused field, so a reload
posts nothing again. The same page with JavaScript on goes through HTMX (vendored htmx,
fragments swapped in place, toasts, HX-Redirect) under a policy without
'unsafe-inline'/'unsafe-eval', and its address stays /auth/account too. Each page passes axe
and fits a phone's width, a 60-character email address included.
"""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from authara_contract import cookies, routes

from .conftest import ContextOpener, StackStarter
from .csp_support import RECORD_VIOLATIONS, tighten_csp
from .devstack_process import DevStackProcess
from .invitation_support import PASSWORD, ROOMY_RATE_LIMITS, axe_violations, fresh_email
from .mail_codes import enter_emailed_code, sign_up_through_api

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "a brand new passphrase"
WEBHOOK_TIMEOUT_S = 20.0
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def stack(start_stack: StackStarter) -> DevStackProcess:
    """Run `authara dev` (challenges on, webhooks to the demo) with room for many logins."""
    return start_stack(**ROOMY_RATE_LIMITS)


def _fits(page: Page, *, javascript: bool = False) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
    assert (axe_violations(page) if javascript else _axe_on_a_copy(page)) == []


def _axe_on_a_copy(page: Page) -> list[str]:
    """Run axe on what a page without JavaScript shows (axe itself needs JavaScript).

    The page's DOM is served again, at its own URL and the same size, to a tab with
    JavaScript on; its stylesheet comes from the stack as before.
    """
    html = page.content()
    browser = page.context.browser
    assert browser is not None
    copy_context = browser.new_context(viewport=page.viewport_size)
    try:
        copy = copy_context.new_page()
        copy.route(page.url, lambda route: route.fulfill(body=html, content_type="text/html"))
        copy.goto(page.url)
        return axe_violations(copy)
    finally:
        copy_context.close()


def _at_account(page: Page) -> None:
    """The address bar shows the account page (not the address a form posted to)."""
    assert urlsplit(page.url).path == routes.ACCOUNT, page.url


def _announced(page: Page, message: str, role: str) -> None:
    """`message` is on the page in a live element of `role` (status, or alert for errors)."""
    expect(page.get_by_role(role).filter(has_text=message).first).to_be_visible()


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


def _demo_shows(page: Page, event_type: str, user_id: str) -> None:
    """Reload the demo app's webhook page until it lists `event_type` for `user_id`."""
    deadline = time.monotonic() + WEBHOOK_TIMEOUT_S
    while True:
        page.goto("/webhooks")
        for event in page.get_by_test_id("events").locator("li").all():
            if event.get_by_test_id("event-type").inner_text() == event_type:
                data = json.loads(event.locator("pre").inner_text())
                if data.get("user_id") == user_id:
                    return
        assert time.monotonic() < deadline, f"no {event_type} for {user_id} on the demo"
        time.sleep(0.2)


def test_username_password_change_and_deletion(
    stack: DevStackProcess, open_context: ContextOpener
) -> None:
    email = fresh_email("account")
    phone = open_context(stack, viewport=PHONE, java_script_enabled=False)
    sign_up_through_api(phone, email, PASSWORD)
    laptop = open_context(stack, java_script_enabled=False)
    other = _log_in(laptop, email, PASSWORD)

    page = phone.new_page()
    page.goto(routes.ACCOUNT)
    user_id = page.request.get(routes.API_USER).json()["id"]
    expect(page.get_by_test_id("account-email")).to_have_text(email)
    _fits(page)

    # A refusal comes back to /auth/account, the message at its field and the typed value
    # kept; reloading posts nothing again and shows the page afresh.
    page.get_by_label("New username").fill("bad name!")
    page.get_by_role("button", name="Save username").click()
    expect(page.locator("#username-error")).to_have_text("That is not a valid username.")
    _announced(page, "That is not a valid username.", "alert")
    expect(page.get_by_label("New username")).to_have_value("bad name!")
    _at_account(page)
    _fits(page)
    page.reload()
    expect(page.locator("#username-error")).to_have_count(0)
    _at_account(page)
    page.get_by_label("New username").fill("e2e_user")
    page.get_by_role("button", name="Save username").click()
    expect(page.get_by_test_id("flash")).to_have_text("Your username is now e2e_user.")
    _announced(page, "Your username is now e2e_user.", "status")
    expect(page.get_by_test_id("account-username")).to_have_text("e2e_user")
    _at_account(page)

    # The password form is on the account page; so are its refusals.
    page.get_by_label("Current password").fill("not the password")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#current_password-error")).to_contain_text(
        "Your current password is not correct."
    )
    _announced(page, "Your current password is not correct.", "alert")
    expect(page.get_by_label("Current password")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Current password")).to_have_value("")  # never typed back
    _at_account(page)
    _fits(page)
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_test_id("flash")).to_have_text(
        "Your password was changed. You were signed out on 1 other session."
    )
    _announced(page, "Your password was changed.", "status")
    _at_account(page)
    _signed_out_at_next_refresh(other)
    page.reload()  # this browser's session goes on
    expect(page.get_by_test_id("account-username")).to_have_text("e2e_user")

    page.get_by_label("Your password").fill(PASSWORD)  # the old one
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#delete-error")).to_contain_text("Your account was not deleted.")
    _announced(page, "Your account was not deleted.", "alert")
    _at_account(page)
    page.get_by_label("Your password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("heading", name="Your account was deleted")).to_be_visible()
    assert page.url.endswith(routes.ACCOUNT_DELETED)
    _fits(page)
    assert not {cookies.ACCESS.name, cookies.REFRESH.name} & {c["name"] for c in phone.cookies()}
    page.goto(routes.ACCOUNT)
    assert "/auth/login" in page.url
    _demo_shows(page, "user.deleted", user_id)


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
    laptop_context = open_context(stack, java_script_enabled=False)
    laptop = laptop_context.new_page()
    laptop.goto("/auth/signup?return_to=/private")
    _fill(laptop, email, "Create account")
    enter_emailed_code(laptop, email, skip_passkey_offer=True)
    laptop.wait_for_url(f"{stack.base_url}/private")
    user_id = laptop.request.get(routes.API_USER).json()["id"]
    _demo_shows(laptop, "user.created", user_id)

    phone_context = open_context(stack, user_agent=IPHONE, java_script_enabled=False)
    phone = phone_context.new_page()
    phone.goto("/auth/login?return_to=/private")
    _fill(phone, email, "Log in")
    phone.wait_for_url(f"{stack.base_url}/private")

    laptop.goto("/auth/account")
    sessions = laptop.get_by_test_id("session")
    expect(sessions).to_have_count(2)
    expect(sessions.first).to_contain_text("This device")
    expect(sessions.nth(1)).to_contain_text("iPhone")
    assert _axe_on_a_copy(laptop) == []
    laptop.set_viewport_size({"width": 390, "height": 844})  # a phone: nothing scrolls sideways
    assert laptop.evaluate("document.documentElement.scrollWidth") <= 390
    assert _axe_on_a_copy(laptop) == []
    laptop.get_by_role("button", name="Sign out Mobile Safari 17 on iOS 17.4").click()
    expect(laptop.get_by_test_id("flash")).to_have_text("The session was signed out.")
    _announced(laptop, "The session was signed out.", "status")
    _at_account(laptop)
    expect(laptop.get_by_test_id("session")).to_have_count(1)

    _next_refresh(phone_context, phone)
    assert urlsplit(phone.url).path == "/auth/login", phone.url

    _next_refresh(laptop_context, laptop)  # the laptop stays signed in
    assert urlsplit(laptop.url).path == "/private", laptop.url
    expect(laptop.get_by_test_id("email")).to_have_text(email)


def _toast(page: Page) -> Locator:
    return page.get_by_test_id("toast").get_by_role("paragraph")


def _still_the_same_document(page: Page) -> None:
    assert page.evaluate("() => window.__marker") == "set before", "the page was reloaded"


def test_the_account_page_through_htmx(stack: DevStackProcess, open_context: ContextOpener) -> None:
    email = fresh_email("htmx")
    phone = open_context(stack, viewport=PHONE)  # JavaScript on
    sign_up_through_api(phone, email, PASSWORD)
    laptop = open_context(stack, java_script_enabled=False)
    other = _log_in(laptop, email, PASSWORD)

    page = phone.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(RECORD_VIOLATIONS)
    page.route("**/*", tighten_csp)
    page.goto(routes.ACCOUNT)
    page.wait_for_function("() => window.htmx && window.htmx.config.allowEval === false")
    page.evaluate("() => { window.__marker = 'set before'; }")

    # A refused username: the 422 answer is swapped in (message at the field, typed value
    # kept) and the toast says it too.
    page.get_by_label("New username").fill("bad name!")
    page.get_by_role("button", name="Save username").click()
    expect(_toast(page)).to_have_text("That is not a valid username.")
    expect(page.locator("#username-error")).to_have_text("That is not a valid username.")
    expect(page.get_by_label("New username")).to_have_value("bad name!")
    _announced(page, "That is not a valid username.", "alert")
    _still_the_same_document(page)
    _at_account(page)
    _fits(page, javascript=True)

    # An error (here a forged CSRF token: 403) is a toast alone; nothing is swapped.
    token = page.locator('#profile input[name="csrf_token"]')
    kept = token.input_value()
    token.evaluate("(input) => { input.value = 'forged'; }")
    page.get_by_label("New username").fill("forged_user")
    page.get_by_role("button", name="Save username").click()
    expect(_toast(page)).to_have_text("Security check failed. Please refresh and try again.")
    expect(page.get_by_label("New username")).to_have_value("forged_user")
    expect(page.locator("#username-error")).to_have_text("That is not a valid username.")
    token.evaluate("(input, value) => { input.value = value; }", kept)

    page.get_by_label("New username").fill("htmx_user")
    page.get_by_role("button", name="Save username").click()
    expect(_toast(page)).to_have_text("Your username is now htmx_user.")
    expect(page.get_by_test_id("account-username")).to_have_text("htmx_user")
    expect(page.get_by_test_id("flash")).to_have_count(0)
    _announced(page, "Your username is now htmx_user.", "status")
    _still_the_same_document(page)
    _at_account(page)
    page.get_by_role("button", name="Dismiss this message").click()
    expect(page.get_by_test_id("toast")).to_have_count(0)

    # Sign the other browser out from the sessions section (its fragment swapped in place,
    # with a fresh CSRF token in the new forms).
    expect(page.get_by_test_id("session")).to_have_count(2)
    page.get_by_test_id("revoke-session").click()
    expect(page.get_by_test_id("sessions-notice")).to_have_text("The session was signed out.")
    expect(_toast(page)).to_have_text("The session was signed out.")
    expect(page.get_by_test_id("session")).to_have_count(1)
    _announced(page, "The session was signed out.", "status")
    _still_the_same_document(page)
    _at_account(page)
    _signed_out_at_next_refresh(other)
    _fits(page, javascript=True)

    # The password form answers with the account page's body: a refusal in place, the change
    # with a toast; the address stays /auth/account.
    page.get_by_label("Current password").fill("not the password")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(_toast(page)).to_contain_text("Your current password is not correct.")
    expect(page.locator("#current_password-error")).to_be_visible()
    _announced(page, "Your current password is not correct.", "alert")
    _still_the_same_document(page)
    _at_account(page)
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(_toast(page)).to_have_text("Your password was changed.")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page).to_have_url(f"{stack.base_url}{routes.ACCOUNT}")
    _still_the_same_document(page)

    # A refused deletion re-renders the page body in place; the right password leaves for
    # the goodbye page through HX-Redirect.
    page.get_by_label("Your password").fill("not the password")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#delete-error")).to_contain_text("Your account was not deleted.")
    expect(_toast(page)).to_contain_text("Your account was not deleted.")
    _still_the_same_document(page)
    _at_account(page)
    page.get_by_label("Your password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    page.wait_for_url(f"**{routes.ACCOUNT_DELETED}")
    expect(page.get_by_role("heading", name="Your account was deleted")).to_be_visible()
    assert not {cookies.ACCESS.name, cookies.REFRESH.name} & {c["name"] for c in phone.cookies()}

    assert page.evaluate("() => window.__cspViolations") == []
    assert [line for line in console if "Content Security Policy" in line] == []


LONG_EMAIL_PHONE = {"width": 375, "height": 812}


@pytest.mark.parametrize("javascript", [False, True])
def test_a_long_email_fits_a_phone_and_the_page_links_back_to_the_app(
    stack: DevStackProcess, open_context: ContextOpener, javascript: bool
) -> None:
    email = f"{'x' * 36}{uuid.uuid4().hex[:12]}@example.com"  # 60 characters, no hyphen to break at
    assert len(email) == 60
    phone = open_context(stack, viewport=LONG_EMAIL_PHONE, java_script_enabled=javascript)
    sign_up_through_api(phone, email, PASSWORD)
    page = phone.new_page()
    page.goto(routes.ACCOUNT)

    expect(page.get_by_test_id("account-email")).to_have_text(email)
    assert page.evaluate("document.documentElement.scrollWidth") <= LONG_EMAIL_PHONE["width"]
    back = page.get_by_role("link", name="Back to the app")
    expect(back).to_have_attribute("href", "/")  # AUTHARA_DEFAULT_RETURN_TO's default
    # It comes first, before the heading.
    assert page.locator("a, h1").first.get_attribute("data-testid") == "back-to-app"
    assert (axe_violations(page) if javascript else _axe_on_a_copy(page)) == []
    back.click()
    page.wait_for_url(f"{stack.base_url}/")

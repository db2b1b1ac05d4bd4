"""A browser signs up, logs out and logs in again through the gateway of `authara dev`.

The dev stack verifies signups by email: the code comes from its mail sink.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from .devstack_process import DevStackProcess
from .invitation_support import axe_violations
from .mail_codes import enter_emailed_code

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"


def _fresh_email() -> str:
    return f"e2e-{uuid.uuid4().hex[:12]}@example.com"


def _assert_on_login_page(page: Page, return_to: str) -> None:
    url = urlsplit(page.url)
    assert url.path == "/auth/login", page.url
    assert parse_qs(url.query).get("return_to") == [return_to], page.url
    expect(page.get_by_role("button", name="Log in")).to_be_visible()


def _submit_credentials(page: Page, email: str, password: str, button: str) -> None:
    page.locator('input[name="email"]').fill(email)
    page.locator('input[name="password"]').fill(password)
    page.get_by_role("button", name=button).click()


def _confirm_email(page: Page, email: str) -> None:
    expect(page.get_by_role("heading", name="Confirm your email")).to_be_visible()
    expect(page.get_by_test_id("challenge-email")).to_have_text(email)
    enter_emailed_code(page, email, skip_passkey_offer=True)


def test_sign_up_log_out_and_log_in_again(
    page: Page, dev_stack: DevStackProcess, tmp_path: Path
) -> None:
    email = _fresh_email()

    page.goto("/private")
    _assert_on_login_page(page, "/private")

    page.get_by_role("link", name="Create an account").click()
    page.wait_for_url("**/auth/signup**")
    _submit_credentials(page, email, PASSWORD, "Create account")
    _confirm_email(page, email)

    page.wait_for_url(f"{dev_stack.base_url}/private")
    expect(page.get_by_test_id("email")).to_have_text(email)
    screenshot = tmp_path / "private.png"
    page.screenshot(path=screenshot, full_page=True)
    assert screenshot.stat().st_size > 0
    # The demo's page wears the auth pages' look and leads to the account, /whoami and logout.
    expect(page.locator("main.card")).to_have_css("border-radius", "12px")
    expect(page.get_by_role("link", name="/whoami").first).to_have_attribute("href", "/whoami")
    assert axe_violations(page) == []
    page.get_by_role("link", name="Your account").click()
    page.wait_for_url(f"{dev_stack.base_url}/auth/account")
    page.go_back()
    page.wait_for_url(f"{dev_stack.base_url}/private")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(lambda url: urlsplit(url).path != "/private")
    page.goto("/private")
    _assert_on_login_page(page, "/private")

    _submit_credentials(page, email, PASSWORD, "Log in")
    page.wait_for_url(f"{dev_stack.base_url}/private")
    expect(page.get_by_test_id("email")).to_have_text(email)


def test_home_page_names_the_signed_in_user(page: Page, dev_stack: DevStackProcess) -> None:
    email = _fresh_email()
    page.goto("/auth/signup?return_to=/")
    _submit_credentials(page, email, PASSWORD, "Create account")
    _confirm_email(page, email)

    page.wait_for_url(f"{dev_stack.base_url}/")
    expect(page.get_by_text(f"Signed in as {email}")).to_be_visible()


def test_a_too_short_password_shows_the_form_again(page: Page) -> None:
    email = _fresh_email()
    page.goto("/auth/signup?return_to=/private")

    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        _submit_credentials(page, email, "short", "Create account")

    assert answer.value.status == 422
    assert urlsplit(page.url).path == "/auth/signup"
    expect(page.get_by_role("alert")).not_to_be_empty()
    expect(page.locator('input[name="email"]')).to_have_value(email)
    expect(page.get_by_role("button", name="Create account")).to_be_visible()


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "no-js"])
def test_a_refused_login_ties_the_error_to_the_password_and_focuses_it(
    browser: Browser, dev_stack: DevStackProcess, javascript: bool
) -> None:
    context = browser.new_context(base_url=dev_stack.base_url, java_script_enabled=javascript)
    page = context.new_page()
    try:
        page.goto("/auth/login")
        expect(page.locator("#email")).to_be_focused()
        _submit_credentials(page, _fresh_email(), "not-the-password", "Log in")

        password = page.locator("#password")
        expect(page.get_by_role("alert")).to_have_text("Invalid email or password.")
        expect(password).to_have_attribute("aria-invalid", "true")
        expect(password).to_have_attribute("aria-describedby", "form-error")
        expect(page.locator("#email")).not_to_have_attribute("aria-invalid", "true")
        expect(password).to_be_focused()
        if javascript:  # axe waits on timers, which do not run in a page without JavaScript
            assert axe_violations(page) == []
    finally:
        context.close()

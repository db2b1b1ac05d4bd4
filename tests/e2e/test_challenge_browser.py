"""Email challenges in a browser, through `authara dev` and its real mail sink.

`authara dev` turns challenges on by default: a new account is made only once the code
mailed to it comes back, "Forgot password?" sets a new password by code, and a signed-in
user moves to a new address by the code sent there. Codes are read where a developer reads
them: the dev mail page (/_dev/mail) or its JSON (/_dev/mail.json).

One stack for the module, as `make dev` runs it except for room for many signups and logins
from one IP (the browser is always 127.0.0.1) and no wait between two codes of a challenge.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from authara_contract import cookies, routes

from .challenge_support import challenge_pages
from .conftest import ContextOpener, StackStarter
from .devstack_process import DevStackProcess
from .invitation_support import PASSWORD, ROOMY_RATE_LIMITS, axe_violations, fresh_email, whoami
from .mail_codes import (
    EMAIL_CHANGE_SUBJECT,
    MAIL_TIMEOUT_S,
    RESET_SUBJECT,
    caught_codes,
    sign_up_through_api,
    wait_for_code,
)

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "a brand new passphrase"
INVALID_LOGIN = "Invalid email or password."
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def stack(start_stack: StackStarter) -> DevStackProcess:
    """Run `authara dev` with its default settings (challenges on), roomy limits, no resend wait."""
    return start_stack(
        **ROOMY_RATE_LIMITS,
        AUTHARA_RATE_LIMIT_PASSWORD_RESET_IP_LIMIT="1000",
        AUTHARA_CHALLENGE_MIN_RESEND_INTERVAL="0s",
    )


def _code_on_mail_page(tab: Page, to: str, *, count: int) -> str:
    """Reload /_dev/mail until it lists `count` mails to `to`; return the newest one's code."""
    deadline = time.monotonic() + MAIL_TIMEOUT_S
    while True:
        tab.goto("/_dev/mail")
        rows = tab.get_by_role("row").filter(has_text=to)
        if rows.count() >= count:
            return rows.first.locator(".code").inner_text()
        assert time.monotonic() < deadline, f"{rows.count()} of {count} mail(s) to {to}"
        time.sleep(0.2)


def _verify(page: Page, code: str) -> None:
    page.get_by_label("Verification code").fill(code)
    page.get_by_role("button", name="Verify").click()


def _log_in(page: Page, email: str, password: str) -> None:
    page.goto(f"{routes.LOGIN}?return_to=/private")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def _refused_login(page: Page, email: str, password: str) -> None:
    with page.expect_response(lambda answer: answer.request.method == "POST") as posted:
        _log_in(page, email, password)
    assert posted.value.status == 422, posted.value.status
    expect(page.get_by_role("alert")).to_have_text(INVALID_LOGIN)


def _refresh(context: BrowserContext) -> int:
    """Refresh the profile's session as the browser SDK does (fetch, CSRF header); the status."""
    [csrf] = [
        cookie["value"] for cookie in context.cookies() if cookie["name"] == cookies.CSRF.name
    ]
    answer = context.request.post(routes.REFRESH, headers={"X-CSRF-Token": csrf})
    return answer.status


def test_a_new_user_signs_up_with_the_code_from_the_dev_mail_page(
    stack: DevStackProcess, open_context: ContextOpener
) -> None:
    email = fresh_email("signup")
    context = open_context(stack)
    page, mail_tab = context.new_page(), context.new_page()
    page.goto("/private")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    expect(page.get_by_role("heading", name="Confirm your email")).to_be_visible()
    expect(page.get_by_test_id("challenge-email")).to_have_text(email)
    first = _code_on_mail_page(mail_tab, email, count=1)
    assert cookies.ACCESS.name not in {cookie["name"] for cookie in context.cookies()}

    page.get_by_role("button", name="Send a new code").click()
    expect(page.get_by_test_id("flash")).to_have_text("A new verification code has been sent.")
    second = _code_on_mail_page(mail_tab, email, count=2)
    _verify(page, first)  # replaced by the new code when its mail went out
    expect(page.get_by_role("alert")).to_have_text(
        "That code is not right. Check the email and try again."
    )
    _verify(page, second)

    # A new account is offered a passkey first; "Not now" goes on to return_to.
    page.wait_for_url(f"**{routes.PASSKEY_SETUP}?return_to=%2Fprivate")
    page.get_by_test_id("skip-passkey").click()
    page.wait_for_url(f"{stack.base_url}/private")
    expect(page.get_by_test_id("email")).to_have_text(email)
    user_id = page.get_by_test_id("user-id").inner_text()
    assert whoami(page)["user_id"] == user_id


def test_forgot_password_sets_the_new_one_and_signs_out_every_session(
    stack: DevStackProcess, open_context: ContextOpener
) -> None:
    email = fresh_email("reset")
    old = open_context(stack)
    user_id = sign_up_through_api(old, email, PASSWORD)["user"]["id"]
    assert _refresh(old) == 204  # while the session lives, it refreshes

    page = open_context(stack).new_page()
    page.goto(f"{routes.LOGIN}?return_to=/private")
    page.get_by_role("link", name="Forgot password?").click()
    page.wait_for_url(lambda url: urlsplit(url).path == routes.PASSWORD_RESET)
    page.get_by_label("Email").fill(email)
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Email me a code").click()
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    expect(page.get_by_test_id("challenge-email")).to_have_text(email)
    _verify(page, wait_for_code(page.context.request, email, RESET_SUBJECT))

    page.wait_for_url(lambda url: urlsplit(url).path == routes.LOGIN)
    assert parse_qs(urlsplit(page.url).query)["return_to"] == ["/private"]
    expect(page.get_by_test_id("flash")).to_have_text(
        "Your password has been reset. Log in with your new password."
    )
    _refused_login(page, email, PASSWORD)
    _log_in(page, email, NEW_PASSWORD)
    page.wait_for_url(f"{stack.base_url}/private")
    expect(page.get_by_test_id("user-id")).to_have_text(user_id)

    # The session from before the reset is over: its next refresh is refused, its cookies
    # are cleared, and its next page load is anonymous.
    assert _refresh(old) == 401
    left = {cookie["name"] for cookie in old.cookies()}
    assert not left & {cookies.ACCESS.name, cookies.REFRESH.name}, left
    old_tab = old.new_page()
    old_tab.goto("/private")
    old_tab.wait_for_url(lambda url: urlsplit(url).path == routes.LOGIN)


def test_a_signed_in_user_moves_to_a_new_email_by_the_code_sent_there(
    stack: DevStackProcess, open_context: ContextOpener
) -> None:
    old_email, new_email = fresh_email("before"), fresh_email("after")
    context = open_context(stack)
    user_id = sign_up_through_api(context, old_email, PASSWORD)["user"]["id"]
    page = context.new_page()
    page.goto(routes.ACCOUNT)
    expect(page.get_by_test_id("account-email")).to_have_text(old_email)

    page.get_by_role("link", name="Change email").click()
    page.wait_for_url(f"{stack.base_url}{routes.EMAIL_CHANGE}")
    expect(page.get_by_test_id("current-email")).to_have_text(old_email)
    page.get_by_label("New email").fill(new_email)
    page.get_by_role("button", name="Email me a code").click()
    expect(page.get_by_role("heading", name="Confirm your new email")).to_be_visible()
    expect(page.get_by_test_id("challenge-email")).to_have_text(new_email)
    code = wait_for_code(context.request, new_email, EMAIL_CHANGE_SUBJECT)
    assert caught_codes(context.request, old_email, EMAIL_CHANGE_SUBJECT) == []
    _verify(page, code)

    page.wait_for_url(f"{stack.base_url}{routes.ACCOUNT}")
    expect(page.get_by_test_id("flash")).to_have_text(f"Your email address is now {new_email}.")
    expect(page.get_by_test_id("account-email")).to_have_text(new_email)
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(lambda url: urlsplit(url).path != routes.ACCOUNT)

    _refused_login(page, old_email, PASSWORD)
    _log_in(page, new_email, PASSWORD)
    page.wait_for_url(f"{stack.base_url}/private")
    expect(page.get_by_test_id("user-id")).to_have_text(user_id)
    expect(page.get_by_test_id("email")).to_have_text(new_email)


def test_the_challenge_pages_pass_axe_on_a_phone_and_a_desktop_in_light_and_dark(
    stack: DevStackProcess, open_context: ContextOpener
) -> None:
    found = {}
    for name, page in challenge_pages(stack, open_context):
        for width, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(viewport)
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow == 0, f"{name} scrolls sideways at {width} width"
            for scheme in ("light", "dark"):
                page.emulate_media(color_scheme=scheme)
                violations = axe_violations(page)
                if violations:
                    found[f"{name} ({width}, {scheme})"] = violations
    assert found == {}

"""The email challenge pages in each state worth looking at, for the axe check (and screenshots).

Every state is a real page of a running `authara dev` (challenges on), reached the way a
person reaches it: forms filled and submitted in the browser, codes from the mail sink.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect

from authara_contract import routes

from .devstack_process import DevStackProcess
from .invitation_support import PASSWORD, fresh_email
from .mail_codes import sign_up_through_api

WRONG_SHAPE = "12345"  # five digits: refused before any code is checked, no attempt counted


def long_email(prefix: str) -> str:
    """Return a fresh address too long for a phone's line, with no hyphen to break at."""
    return f"{prefix}.alexander.montgomery.{uuid.uuid4().hex[:8]}@engineering.example.org"


def _submit(page: Page, button: str, status: int) -> None:
    """Click `button` and check the status of the POST it sends."""
    with page.expect_response(lambda answer: answer.request.method == "POST") as posted:
        page.get_by_role("button", name=button).click()
    assert posted.value.status == status, posted.value.status


def challenge_pages(
    stack: DevStackProcess, open_context: Callable[..., BrowserContext], **options: Any
) -> Iterator[tuple[str, Page]]:
    """Show each state of the challenge pages in turn: yield its name and tab.

    Signup's verify page with an error and with "a new code has been sent"; the password
    reset form with an error, then its verify page with an error; the email change form
    with an error, then its verify page (long addresses, to show they wrap on a phone).
    `options` go to each browser profile (viewport...).
    """
    anonymous = open_context(stack, **options).new_page()
    anonymous.goto(routes.SIGNUP)
    anonymous.get_by_label("Email").fill(fresh_email("verify"))
    anonymous.get_by_label("Password").fill(PASSWORD)
    anonymous.get_by_role("button", name="Create account").click()
    anonymous.get_by_label("Verification code").fill(WRONG_SHAPE)
    _submit(anonymous, "Verify", 422)
    expect(anonymous.get_by_role("alert")).to_have_text("Enter the 6-digit code from the email.")
    yield "signup-verify-error", anonymous
    _submit(anonymous, "Send a new code", 200)
    expect(anonymous.get_by_test_id("flash")).to_be_visible()
    yield "signup-verify-resent", anonymous

    anonymous.goto(routes.PASSWORD_RESET)
    anonymous.get_by_label("Email").fill(fresh_email("reset"))
    anonymous.get_by_label("New password").fill("short")
    _submit(anonymous, "Email me a code", 422)
    yield "reset-form-error", anonymous
    anonymous.get_by_label("New password").fill(PASSWORD)
    _submit(anonymous, "Email me a code", 200)
    anonymous.get_by_label("Verification code").fill(WRONG_SHAPE)
    _submit(anonymous, "Verify", 422)
    yield "reset-verify-error", anonymous

    signed_in = open_context(stack, **options)
    sign_up_through_api(signed_in, long_email("christopher"), PASSWORD)
    account = signed_in.new_page()
    account.goto(routes.EMAIL_CHANGE)
    account.get_by_label("New email").fill("not an address")
    _submit(account, "Email me a code", 422)
    yield "email-change-error", account
    account.get_by_label("New email").fill(long_email("maximilian"))
    _submit(account, "Email me a code", 200)
    expect(account.get_by_role("heading", name="Confirm your new email")).to_be_visible()
    yield "email-change-verify", account

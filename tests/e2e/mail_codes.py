"""Codes from the dev stack's mail sink, read the way a developer's script would.

`authara dev` turns email challenges on: a signup, a password reset or an email change is
applied only when the 6-digit code mailed to the address comes back. The sink catches that
mail and the stack serves it at /_dev/mail.json through the gateway, so a browser profile's
own request context reads it at the stack's address.
"""

from __future__ import annotations

import time
from typing import Any, Final

from playwright.sync_api import APIRequestContext, BrowserContext, Page

from authara_contract import routes

MAIL_JSON: Final = "/_dev/mail.json"
# Upstream's subjects (core's mail/messages.py): one per kind of code mail.
SIGNUP_SUBJECT: Final = "Your verification code"
RESET_SUBJECT: Final = "Your password reset code"
EMAIL_CHANGE_SUBJECT: Final = "Verify your new email address"
# The mail worker polls every 500 ms in the dev stack; a loaded machine may take longer.
MAIL_TIMEOUT_S: Final = 20.0
_POLL_S: Final = 0.1


def caught_codes(request: APIRequestContext, to: str, subject: str) -> list[str]:
    """Return the codes of the mails the sink caught for `to` with `subject`, newest first."""
    answer = request.get(MAIL_JSON)
    assert answer.ok, (answer.status, answer.text())
    mails: list[dict[str, Any]] = answer.json()
    return [
        mail["code"]
        for mail in mails
        if mail["to"] == to.lower() and mail["subject"] == subject and mail["code"]
    ]


def wait_for_code(request: APIRequestContext, to: str, subject: str, *, count: int = 1) -> str:
    """Wait until the sink caught `count` such mails for `to`; return the newest one's code."""
    deadline = time.monotonic() + MAIL_TIMEOUT_S
    while True:
        codes = caught_codes(request, to, subject)
        if len(codes) >= count:
            return codes[0]
        assert time.monotonic() < deadline, (
            f"the sink caught {len(codes)} of {count} {subject!r} mail(s) to {to}"
        )
        time.sleep(_POLL_S)


def enter_emailed_code(
    page: Page, to: str, subject: str = SIGNUP_SUBJECT, *, skip_passkey_offer: bool = False
) -> str:
    """On the verify page, type the code mailed to `to` and submit it; return the code.

    A verified signup of a new account lands on the passkey offer: `skip_passkey_offer`
    takes its "Not now" link on to the return_to it carries.
    """
    code = wait_for_code(page.context.request, to, subject)
    page.get_by_label("Verification code").fill(code)
    page.get_by_role("button", name="Verify").click()
    if skip_passkey_offer:
        page.wait_for_url(f"**{routes.PASSKEY_SETUP}?*")
        page.get_by_test_id("skip-passkey").click()
    return code


def sign_up_through_api(context: BrowserContext, email: str, password: str) -> dict[str, Any]:
    """Sign up with the JSON API's verified signup in this profile; return the AuthSession.

    What a single-page app does with challenges on: open the challenge, then send back the
    code the user read in the mail (here, from the sink). The session cookies land in
    `context`.
    """
    csrf = context.request.get(routes.API_CSRF)
    assert csrf.ok, csrf.status
    token = {"X-CSRF-Token": csrf.json()["csrf_token"]}
    started = context.request.post(
        f"{routes.API_SIGNUP_CHALLENGES}?audience=app",
        data={"email": email, "password": password},
        headers=token,
    )
    assert started.status == 202, (started.status, started.text())
    code = wait_for_code(context.request, email, SIGNUP_SUBJECT)
    verified = context.request.post(
        f"{routes.API_SIGNUP_CHALLENGE_VERIFY}?audience=app",
        data={"challenge_id": started.json()["challenge_id"], "code": code},
        headers=token,
    )
    assert verified.status == 201, (verified.status, verified.text())
    session: dict[str, Any] = verified.json()
    return session

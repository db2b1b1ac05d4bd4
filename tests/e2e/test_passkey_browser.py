"""Passkeys in Chromium with a virtual authenticator (issue 18's check), through `authara dev`.

The Chrome DevTools Protocol's WebAuthn domain gives the tab a platform authenticator (CTAP2,
internal transport, resident keys, user verification that always succeeds). With it: sign up
with a password, add a passkey on the setup page signup leads to, log out, sign in with the
passkey without typing an email, delete it, then show that the last way to sign in cannot be
deleted (a passkey-only account). Pages run under a policy without 'unsafe-inline' and
'unsafe-eval' and the setup page and account section are photographed on a phone and a desktop.

WebAuthn needs a secure context: the stack's PUBLIC_URL and the browser use `localhost`
(a secure context over plain HTTP), never 127.0.0.1, which cannot be an RP ID.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, expect

from authara_contract import routes
from authara_devstack.embedded_pg import free_port
from tests.dbutil import fresh_database

from .conftest import PAGE_TIMEOUT_MS, SERVER_URL_VARIABLE
from .csp_support import RECORD_VIOLATIONS, tighten_csp
from .devstack_process import (
    FAST_HASHING,
    DevStackProcess,
    database_environ,
    hermetic_environ,
    running_dev_stack,
)
from .invitation_support import PASSWORD, fresh_email

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
ROOMY = {
    "AUTHARA_RATE_LIMIT_SIGNUP_IP_LIMIT": "1000",
    "AUTHARA_RATE_LIMIT_LOGIN_IP_LIMIT": "1000",
    "AUTHARA_RATE_LIMIT_PASSKEY_LOGIN_IP_LIMIT": "1000",
    # Direct signup (no emailed code): the form leads straight to the passkey offer.
    "AUTHARA_CHALLENGE_ENABLED": "false",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStackProcess]:
    """Run `authara dev` whose PUBLIC_URL is http://localhost:<port> (the RP ID `localhost`)."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("authara-dev-passkeys")
    settings = {**FAST_HASHING, **ROOMY, "PUBLIC_URL": f"http://localhost:{port}"}
    server_url = os.environ.get(SERVER_URL_VARIABLE) or None
    if server_url is None:
        with running_dev_stack(port, data_dir, hermetic_environ(**settings)) as running:
            yield running
        return
    with fresh_database(server_url) as db:
        environ = hermetic_environ(**settings, **database_environ(db))
        with running_dev_stack(port, data_dir, environ) as running:
            yield running


@pytest.fixture
def site(stack: DevStackProcess) -> str:
    return f"http://localhost:{stack.port}"


@pytest.fixture
def context(browser: Browser, site: str) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=site, viewport=DESKTOP)
    ctx.set_default_timeout(PAGE_TIMEOUT_MS)
    yield ctx
    ctx.close()


# A tab whose sessionStorage says so behaves as a browser without passkey autofill
# (conditional mediation): the login page then offers only the button.
NO_AUTOFILL = """
if (window.sessionStorage && sessionStorage.getItem("no-autofill") && window.PublicKeyCredential) {
  PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);
}
"""


@pytest.fixture
def page(context: BrowserContext) -> Page:
    tab = context.new_page()
    tab.add_init_script(RECORD_VIOLATIONS)
    tab.add_init_script(NO_AUTOFILL)
    tab.route("**/*", tighten_csp)
    return tab


@pytest.fixture
def authenticator(context: BrowserContext, page: Page) -> tuple[CDPSession, str]:
    """Give the tab a virtual platform authenticator; return the session and its id."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def _credentials(authenticator: tuple[CDPSession, str]) -> list[dict[str, Any]]:
    cdp, authenticator_id = authenticator
    answer = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
    return list(answer["credentials"])


def _path(page: Page) -> str:
    return urlsplit(page.url).path


def _no_csp_violations(page: Page) -> None:
    assert page.evaluate("window.__cspViolations") == []


def _log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/")


def _photograph(page: Page, locator_testid: str, name: str, shots: Path) -> None:
    """Screenshot a part of the page on a desktop and on a phone (it must fit the phone)."""
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        part = page.get_by_test_id(locator_testid)
        part.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / f"{name}-{label}.png"), full_page=True)
        if label == "phone":
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.set_viewport_size(DESKTOP)


def test_sign_up_add_a_passkey_sign_in_with_it_and_keep_a_way_in(
    page: Page,
    authenticator: tuple[CDPSession, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    shots = Path(os.environ.get("AUTHARA_SCREENSHOT_DIR") or tmp_path_factory.mktemp("shots"))
    shots.mkdir(parents=True, exist_ok=True)
    email = fresh_email("passkey")

    # Sign up with a password: the passkey offer comes first, skippable.
    page.goto(f"{routes.SIGNUP}?return_to={routes.ACCOUNT}")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"**{routes.PASSKEY_SETUP}?return_to=*")
    expect(page.get_by_test_id("skip-passkey")).to_have_attribute("href", routes.ACCOUNT)
    add = page.get_by_test_id("add-passkey")
    expect(add).to_be_visible()
    _photograph(page, "add-passkey", "passkey-setup", shots)

    # Add a passkey: the authenticator makes a resident credential; on to return_to.
    add.click()
    page.wait_for_url(lambda url: urlsplit(url).path == routes.ACCOUNT)
    assert len(_credentials(authenticator)) == 1
    assert _credentials(authenticator)[0]["isResidentCredential"] is True
    rows = page.get_by_test_id("passkey")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Chrome")
    _photograph(page, "passkeys", "account-passkeys", shots)
    _no_csp_violations(page)

    # Log out, then sign in with the passkey's button: no email typed.
    _log_out(page)
    page.evaluate("sessionStorage.setItem('no-autofill', '1')")
    page.goto(f"{routes.LOGIN}?return_to={routes.ACCOUNT}")
    expect(page.locator("#email")).to_have_attribute("autocomplete", "username webauthn")
    assert page.input_value("#email") == ""
    page.get_by_test_id("passkey-sign-in").click()
    page.wait_for_url(lambda url: urlsplit(url).path == routes.ACCOUNT)
    expect(page.get_by_test_id("passkey")).to_have_count(1)
    expect(page.get_by_test_id("passkey").first).to_contain_text("last used")
    _no_csp_violations(page)

    # Delete it (the password remains a way in).
    page.get_by_test_id("delete-passkey").click()
    expect(page.get_by_test_id("flash")).to_contain_text("The passkey was removed.")
    expect(page.get_by_test_id("no-passkeys")).to_be_visible()

    # The last-method guard: add a passkey again, remove the password, then try to delete
    # the passkey, now the only way in.
    page.get_by_test_id("add-passkey").click()
    expect(page.get_by_test_id("passkey")).to_have_count(1)
    page.get_by_test_id("method-password").get_by_role("button", name="Remove").click()
    expect(page.get_by_test_id("flash")).to_contain_text("was removed")
    expect(page.get_by_test_id("method-password")).to_have_count(0)
    page.get_by_test_id("delete-passkey").click()
    expect(page.locator("#form-error, [role=alert]").first).to_contain_text(
        "This passkey is your only way to sign in"
    )
    expect(page.get_by_test_id("passkey")).to_have_count(1)
    _no_csp_violations(page)

    # And it still signs in, this time through the email field's autofill (conditional
    # mediation): the virtual authenticator answers it, nothing is typed or clicked.
    _log_out(page)
    page.evaluate("sessionStorage.removeItem('no-autofill')")
    page.goto(f"{routes.LOGIN}?return_to={routes.ACCOUNT}")
    page.wait_for_url(lambda url: urlsplit(url).path == routes.ACCOUNT)
    expect(page.get_by_test_id("passkey")).to_have_count(1)


def test_without_javascript_the_setup_page_says_passkeys_need_it(
    browser: Browser, site: str
) -> None:
    ctx = browser.new_context(base_url=site, java_script_enabled=False)
    ctx.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        page = ctx.new_page()
        page.goto(routes.SIGNUP)
        page.fill("#email", fresh_email("nojs"))
        page.fill("#password", PASSWORD)
        page.get_by_role("button", name="Create account").click()
        page.wait_for_url(f"**{routes.PASSKEY_SETUP}*")
        expect(page.get_by_test_id("passkey-needs-js")).to_be_visible()
        expect(page.get_by_test_id("add-passkey")).to_be_hidden()
        page.get_by_test_id("skip-passkey").click()
        assert _path(page) == "/"
    finally:
        ctx.close()

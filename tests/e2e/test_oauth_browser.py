"""A browser signs in through a real OpenID Connect provider (npm `oidc-provider`).

One `authara dev` stack is configured, through the environment exactly as an operator would,
with a generic OIDC provider `corp` whose issuer is the provider process; the provider has a
client registered for the stack's callback. Headless Chromium clicks through the login page,
the provider's own login screen and back.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from authara_devstack.embedded_pg import free_port
from tests.dbutil import fresh_database

from .conftest import PAGE_TIMEOUT_MS, _external_server_url
from .devstack_process import (
    FAST_HASHING,
    DevStackProcess,
    database_environ,
    hermetic_environ,
    running_dev_stack,
)
from .invitation_support import axe_in_both_schemes
from .mail_codes import enter_emailed_code
from .oidc_provider import OidcProviderError, OidcProviderProcess, running_oidc_provider

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"
CLIENT_ID = "authara-e2e"
PROVIDER_LABEL = "Corp SSO"


class OAuthStack:
    """The dev stack and the provider it trusts."""

    def __init__(self, stack: DevStackProcess, provider: OidcProviderProcess) -> None:
        self.stack = stack
        self.provider = provider

    @property
    def base_url(self) -> str:
        """The gateway's URL."""
        return self.stack.base_url


@pytest.fixture(scope="module")
def oauth_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OAuthStack]:
    """Start oidc-provider, then `authara dev` configured to sign in with it."""
    gateway_port, provider_port = free_port(), free_port()
    client_secret = secrets.token_urlsafe(24)
    callback = f"http://127.0.0.1:{gateway_port}/auth/oauth/corp/callback"
    try:
        with running_oidc_provider(
            provider_port,
            client_id=CLIENT_ID,
            client_secret=client_secret,
            redirect_uris=[callback],
        ) as provider:
            oauth = {
                "AUTHARA_OAUTH_PROVIDERS": "corp",
                "AUTHARA_OAUTH_CORP_CLIENT_ID": CLIENT_ID,
                "AUTHARA_OAUTH_CORP_CLIENT_SECRET": client_secret,
                "AUTHARA_OAUTH_CORP_ISSUER": provider.issuer,
                "AUTHARA_OAUTH_CORP_DISPLAY_NAME": PROVIDER_LABEL,
            }
            yield from _stack(
                tmp_path_factory.mktemp("authara-oauth"), gateway_port, oauth, provider
            )
    except OidcProviderError as exc:
        pytest.fail(str(exc), pytrace=False)


def _stack(
    data_dir: Path, port: int, oauth: dict[str, str], provider: OidcProviderProcess
) -> Iterator[OAuthStack]:
    server_url = _external_server_url()
    if server_url is None:
        with running_dev_stack(port, data_dir, hermetic_environ(**FAST_HASHING, **oauth)) as stack:
            yield OAuthStack(stack, provider)
        return
    with fresh_database(server_url) as db:
        environ = hermetic_environ(**FAST_HASHING, **database_environ(db), **oauth)
        with running_dev_stack(port, data_dir, environ) as stack:
            yield OAuthStack(stack, provider)


@pytest.fixture
def oauth_context(browser: Browser, oauth_stack: OAuthStack) -> Iterator[BrowserContext]:
    """A fresh browser profile aimed at the OAuth stack (no network beyond this machine)."""
    ctx = browser.new_context(base_url=oauth_stack.base_url)
    ctx.set_default_timeout(PAGE_TIMEOUT_MS)
    ctx.route("https://**/*", lambda route: route.abort())  # the provider's page loads web fonts
    yield ctx
    ctx.close()


@pytest.fixture
def tab(oauth_context: BrowserContext) -> Page:
    """A tab in the fresh profile."""
    return oauth_context.new_page()


def _fresh_email() -> str:
    return f"oidc-{uuid.uuid4().hex[:12]}@example.com"


def _continue_with_provider(page: Page) -> None:
    page.get_by_role("link", name=f"Continue with {PROVIDER_LABEL}").click()


def _provider_login(page: Page, oauth_stack: OAuthStack, login: str) -> None:
    page.wait_for_url(f"{oauth_stack.provider.issuer}/interaction/**")
    page.locator('input[name="login"]').fill(login)
    page.locator('input[name="password"]').fill("any password works here")
    page.get_by_role("button", name="Sign-in").click()


def _log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(lambda url: urlsplit(url).path != "/private")


def _forget_provider_session(context: BrowserContext) -> None:
    context.clear_cookies(name=re.compile(r"^_session"))  # oidc-provider's session cookies


def test_new_user_via_oidc_reaches_private_and_comes_back_as_the_same_user(
    tab: Page, oauth_context: BrowserContext, oauth_stack: OAuthStack
) -> None:
    email = _fresh_email()
    tab.goto("/private")
    assert urlsplit(tab.url).path == "/auth/login"

    _continue_with_provider(tab)
    _provider_login(tab, oauth_stack, email)

    tab.wait_for_url(f"{oauth_stack.base_url}/private")
    expect(tab.get_by_test_id("email")).to_have_text(email)
    user_id = tab.get_by_test_id("user-id").inner_text()
    assert uuid.UUID(user_id)

    _log_out(tab)
    _forget_provider_session(oauth_context)  # sign in at the provider again
    tab.goto("/private")
    _continue_with_provider(tab)
    _provider_login(tab, oauth_stack, email)

    tab.wait_for_url(f"{oauth_stack.base_url}/private")
    expect(tab.get_by_test_id("user-id")).to_have_text(user_id)


def test_existing_password_account_is_linked_only_after_its_password(
    tab: Page, oauth_stack: OAuthStack
) -> None:
    email = _fresh_email()
    tab.goto("/auth/signup?return_to=/private")
    tab.locator('input[name="email"]').fill(email)
    tab.locator('input[name="password"]').fill(PASSWORD)
    tab.get_by_role("button", name="Create account").click()
    enter_emailed_code(tab, email, skip_passkey_offer=True)  # `authara dev` verifies signups
    tab.wait_for_url(f"{oauth_stack.base_url}/private")
    owner = tab.get_by_test_id("user-id").inner_text()
    _log_out(tab)

    tab.goto("/private")
    _continue_with_provider(tab)
    _provider_login(tab, oauth_stack, email)

    tab.wait_for_url("**/auth/provider-links/confirm?**")
    expect(tab.get_by_role("heading", name=f"Link {PROVIDER_LABEL}")).to_be_visible()
    expect(tab.get_by_test_id("link-email")).to_have_text(email)
    assert axe_in_both_schemes(tab) == {}
    with tab.expect_response(lambda response: response.request.method == "POST") as wrong:
        tab.locator('input[name="password"]').fill("not my password at all")
        tab.get_by_role("button", name="Link and sign in").click()
    assert wrong.value.status == 422
    expect(tab.get_by_role("alert")).to_have_text("Invalid password.")
    assert axe_in_both_schemes(tab) == {}

    tab.locator('input[name="password"]').fill(PASSWORD)
    tab.get_by_role("button", name="Link and sign in").click()
    tab.wait_for_url(f"{oauth_stack.base_url}/private")
    expect(tab.get_by_test_id("user-id")).to_have_text(owner)

    # Linked: the next sign-in with the provider goes straight in, no link page.
    _log_out(tab)
    tab.goto("/private")
    _continue_with_provider(tab)
    tab.wait_for_url(f"{oauth_stack.base_url}/private")
    expect(tab.get_by_test_id("user-id")).to_have_text(owner)


def test_the_last_way_to_sign_in_offers_no_remove(tab: Page, oauth_stack: OAuthStack) -> None:
    # The server still refuses such a request (tests/integration/core/test_oauth_linking.py);
    # the page does not offer it.
    tab.goto("/auth/login?return_to=/auth/account")
    _continue_with_provider(tab)
    _provider_login(tab, oauth_stack, _fresh_email())
    tab.wait_for_url(f"{oauth_stack.base_url}/auth/account")
    method = tab.get_by_test_id("method-corp")
    expect(method).to_contain_text(PROVIDER_LABEL)

    expect(method.get_by_test_id("only-method")).to_have_text("Your only way to sign in")
    expect(tab.get_by_role("button", name=f"Remove {PROVIDER_LABEL}")).to_have_count(0)
    assert axe_in_both_schemes(tab) == {}


def test_a_password_account_links_the_provider_from_its_account_page(
    tab: Page, oauth_stack: OAuthStack
) -> None:
    email = _fresh_email()
    tab.goto("/auth/signup?return_to=/auth/account")
    tab.locator('input[name="email"]').fill(email)
    tab.locator('input[name="password"]').fill(PASSWORD)
    tab.get_by_role("button", name="Create account").click()
    enter_emailed_code(tab, email, skip_passkey_offer=True)
    tab.wait_for_url(f"{oauth_stack.base_url}/auth/account")

    tab.get_by_role("button", name=f"Link {PROVIDER_LABEL}").click()
    _provider_login(tab, oauth_stack, "someone.else@example.org")

    tab.wait_for_url(f"{oauth_stack.base_url}/auth/account")
    expect(tab.get_by_test_id("flash")).to_have_text(f"{PROVIDER_LABEL} is now linked.")
    expect(tab.get_by_test_id("method-corp")).to_be_visible()
    assert axe_in_both_schemes(tab) == {}
    tab.get_by_role("button", name="Remove Password").click()
    expect(tab.get_by_test_id("flash")).to_have_text("Password was removed.")
    expect(tab.get_by_test_id("method-password")).to_have_count(0)


def test_cancelling_at_the_provider_comes_back_to_login_with_a_message(
    tab: Page, oauth_stack: OAuthStack
) -> None:
    tab.goto("/private")
    _continue_with_provider(tab)
    tab.wait_for_url(f"{oauth_stack.provider.issuer}/interaction/**")
    tab.get_by_role("link", name="[ Cancel ]").click()

    tab.wait_for_url("**/auth/login?return_to=%2Fprivate")
    expect(tab.get_by_role("alert")).to_have_text(f"Sign-in with {PROVIDER_LABEL} was cancelled.")
    assert axe_in_both_schemes(tab) == {}  # the login page with a provider button and an alert

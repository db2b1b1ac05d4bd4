"""Every page passes axe in the light and the dark scheme; the show-password button (issue 15).

One `authara dev` stack (multi organization mode for the invitation pages, challenges on, roomy
limits) and the package's browser. The pages are reached the way a person reaches them, with
JavaScript on (axe needs it; the no-JavaScript DOM is the same minus the show-password
buttons), each checked for sideways scrolling at a 375 px phone width and by axe-core at a
desktop width in both color schemes.

With AUTHARA_E2E_SCREENSHOTS=<dir>, every page is also saved there at both widths in both
schemes, for a person to look at.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from playwright.sync_api import Page, expect

from authara_contract import routes

from .challenge_support import challenge_pages
from .conftest import ContextOpener, StackStarter
from .csp_support import RECORD_VIOLATIONS, tighten_csp
from .devstack_process import DevStackProcess
from .invitation_support import (
    PASSWORD,
    axe_violations,
    fresh_email,
    invitation_pages,
    organization_settings,
)
from .mail_codes import sign_up_through_api

pytestmark = pytest.mark.e2e

PHONE: Final = {"width": 375, "height": 812}
DESKTOP: Final = {"width": 1280, "height": 800}
SCHEMES: Final = ("light", "dark")
SCREENSHOTS_VARIABLE: Final = "AUTHARA_E2E_SCREENSHOTS"


@pytest.fixture(scope="module")
def stack(start_stack: StackStarter) -> DevStackProcess:
    """Run `authara dev` in multi mode, internal API open, room for many signups and codes."""
    return start_stack(
        **organization_settings("multi"),
        AUTHARA_RATE_LIMIT_PASSWORD_RESET_IP_LIMIT="1000",
        AUTHARA_CHALLENGE_MIN_RESEND_INTERVAL="0s",
    )


def _submit(page: Page, button: str, status: int) -> None:
    with page.expect_response(lambda answer: answer.request.method == "POST") as posted:
        page.get_by_role("button", name=button, exact=True).click()
    assert posted.value.status == status, posted.value.status


def _goto(page: Page, path: str, status: int) -> None:
    response = page.goto(path)
    assert response is not None
    assert response.status == status, (path, response.status)


def _anonymous_pages(
    stack: DevStackProcess, open_context: ContextOpener
) -> Iterator[tuple[str, Page]]:
    page = open_context(stack).new_page()
    _goto(page, routes.LOGIN, 200)
    yield "login", page
    page.get_by_label("Email").fill(fresh_email("nobody"))
    page.get_by_label("Password").fill("not the password")
    _submit(page, "Log in", 422)
    yield "login-error", page
    _goto(page, routes.SIGNUP, 200)
    yield "signup", page
    page.get_by_label("Email").fill(fresh_email("short"))
    page.get_by_label("Password").fill("short")
    _submit(page, "Create account", 422)
    yield "signup-error", page
    _goto(page, routes.PASSWORD_RESET, 200)
    yield "password-reset", page
    _goto(page, "/auth/no-such-page", 404)
    yield "error-not-found", page
    verify = routes.VERIFY_CHALLENGE.format(action="signup")
    _goto(page, f"{verify}?{routes.CHALLENGE_ID_PARAM}=not-a-challenge", 400)
    yield "error-bad-verify-link", page


def _account_pages(
    stack: DevStackProcess, open_context: ContextOpener
) -> Iterator[tuple[str, Page]]:
    """The account page listing two sessions, a refused password change, the app, deletion."""
    email = fresh_email("a11y")
    here = open_context(stack)
    sign_up_through_api(here, email, PASSWORD)
    elsewhere = open_context(stack).new_page()
    elsewhere.goto(f"{routes.LOGIN}?return_to=/private")
    elsewhere.get_by_label("Email").fill(email)
    elsewhere.get_by_label("Password").fill(PASSWORD)
    elsewhere.get_by_role("button", name="Log in", exact=True).click()
    elsewhere.wait_for_url(f"{stack.base_url}/private")
    yield "demo-private", elsewhere

    page = here.new_page()
    _goto(page, routes.ACCOUNT, 200)
    expect(page.get_by_test_id("session")).to_have_count(2)
    yield "account", page
    page.get_by_label("Current password").fill("not the password")
    page.get_by_label("New password", exact=True).fill("a brand new passphrase")
    page.get_by_label("Confirm new password").fill("a brand new passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#current_password-error")).to_be_visible()
    yield "account-password-refused", page
    _goto(page, routes.ACCOUNT, 200)
    page.get_by_label("Your password").fill("not the password")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#delete-error")).to_be_visible()
    yield "account-delete-refused", page
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    page.wait_for_url(f"**{routes.ACCOUNT_DELETED}")
    yield "account-deleted", page


def _every_page(stack: DevStackProcess, open_context: ContextOpener) -> Iterator[tuple[str, Page]]:
    yield from _anonymous_pages(stack, open_context)
    for name, page in challenge_pages(stack, open_context):
        yield f"challenge-{name}", page
    for name, page in invitation_pages(stack, open_context):
        yield f"invitation-{name}", page
    yield from _account_pages(stack, open_context)


def _screenshots(page: Page, name: str) -> None:
    folder = os.environ.get(SCREENSHOTS_VARIABLE)
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for width, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)
            page.screenshot(path=Path(folder) / f"{name}-{width}-{scheme}.png", full_page=True)


def test_every_page_passes_axe_in_light_and_dark(
    stack: DevStackProcess, open_context: ContextOpener
) -> None:
    found: dict[str, list[str]] = {}
    seen = []
    for name, page in _every_page(stack, open_context):
        seen.append(name)
        _screenshots(page, name)
        page.set_viewport_size(PHONE)
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow == 0, f"{name} scrolls sideways on a phone"
        page.set_viewport_size(DESKTOP)
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)
            violations = axe_violations(page)
            if violations:
                found[f"{name} ({scheme})"] = violations
    assert found == {}
    assert len(seen) == len(set(seen)) == 24, seen


def test_the_show_password_button_toggles_and_the_form_still_submits(
    stack: DevStackProcess, open_context: ContextOpener
) -> None:
    email = fresh_email("toggle")
    sign_up_through_api(open_context(stack), email, PASSWORD)
    page = open_context(stack).new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    page.route("**/*", tighten_csp)  # no inline script or eval, as the pages promise
    page.goto(f"{routes.LOGIN}?return_to=/private")

    password = page.locator("#password")
    toggle = page.get_by_role("button", name="Show password")
    expect(toggle).to_have_count(1)
    expect(toggle).to_have_attribute("aria-controls", "password")
    expect(toggle).to_have_accessible_description("Password")  # its field's label
    expect(password).to_have_attribute("type", "password")
    page.get_by_label("Email").fill(email)
    password.fill(PASSWORD)

    toggle.click()
    expect(password).to_have_attribute("type", "text")
    hide = page.get_by_role("button", name="Hide password")
    expect(hide).to_be_focused()
    page.keyboard.press("Enter")  # a real button: the keyboard presses it too
    expect(password).to_have_attribute("type", "password")
    password.focus()
    page.keyboard.press("Tab")  # right after its input in the tab order
    expect(toggle).to_be_focused()
    page.keyboard.press("Space")
    expect(password).to_have_attribute("type", "text")
    expect(password).to_have_value(PASSWORD)
    assert page.evaluate("() => window.__cspViolations") == []

    page.get_by_role("button", name="Log in", exact=True).click()  # shown: it still posts
    page.wait_for_url(f"{stack.base_url}/private")

    # The account page's HTMX re-render of the delete form gets its button again.
    page.goto(routes.ACCOUNT)
    page.wait_for_function("() => window.htmx !== undefined")
    page.evaluate("() => { window.__marker = 'set before'; }")
    # One per password input: the password form's three and the delete form's.
    expect(page.get_by_role("button", name="Show password")).to_have_count(4)
    descriptions = page.get_by_role("button", name="Show password").evaluate_all(
        "buttons => buttons.map(b => document.getElementById("
        "b.getAttribute('aria-describedby')).textContent.trim())"
    )
    assert len(set(descriptions)) == 4, descriptions  # each button says which field it shows
    page.get_by_label("Your password").fill("not the password")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#delete-error")).to_be_visible()
    assert page.evaluate("() => window.__marker") == "set before", "the page was reloaded"
    expect(page.get_by_role("button", name="Show password")).to_have_count(4)
    page.locator("#delete-account").get_by_role("button", name="Show password").click()
    expect(page.get_by_label("Your password")).to_have_attribute("type", "text")
    assert page.evaluate("() => window.__cspViolations") == []


def test_without_javascript_there_is_no_button_and_login_works(
    stack: DevStackProcess, open_context: ContextOpener
) -> None:
    email = fresh_email("nojs")
    sign_up_through_api(open_context(stack), email, PASSWORD)
    page = open_context(stack, java_script_enabled=False).new_page()
    page.goto(f"{routes.LOGIN}?return_to=/private")
    expect(page.get_by_role("button")).to_have_count(1)  # Log in, alone
    expect(page.get_by_test_id("password-toggle")).to_have_count(0)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{stack.base_url}/private")

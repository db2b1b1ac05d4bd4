"""Invitations in a browser: an owner invites through the internal API, the invitee joins.

Two extra `authara dev` stacks, one in `multi` and one in `single` organization mode, each on
a fresh database with the internal API open; they run for this module only. The app behind
the gateway (the demo's /whoami) must see the invited organization in the identity headers.
Signups are verified, as `authara dev` runs: the code comes from the stack's mail sink.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from authara_contract import routes

from .conftest import ContextOpener, StackStarter
from .devstack_process import DevStackProcess
from .invitation_support import (
    PASSWORD,
    axe_violations,
    create_team,
    fresh_email,
    invitation_pages,
    invite,
    organization_settings,
    sign_up,
    token_url,
    whoami,
)
from .mail_codes import enter_emailed_code

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def multi_stack(start_stack: StackStarter) -> DevStackProcess:
    """Run a stack in multi mode (team organizations, existing accounts may accept)."""
    return start_stack(**organization_settings("multi"))


@pytest.fixture(scope="module")
def single_stack(start_stack: StackStarter) -> DevStackProcess:
    """Run a stack in single mode (only a new account may accept)."""
    return start_stack(**organization_settings("single"))


def _sign_up_by_invitation(page: Page, stack: DevStackProcess, link: str, email: str) -> None:
    """From the invitation's link, create the invited account and land on the app."""
    page.goto(link)
    expect(page.get_by_test_id("invited-email")).to_have_text(email)
    page.get_by_role("link", name="Create an account").click()
    page.wait_for_url(lambda url: urlsplit(url).path == routes.INVITATION_SIGNUP)
    expect(page.get_by_test_id("invited-email")).to_have_text(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account and join").click()
    # `authara dev` verifies signups: the code goes to the invited address.
    expect(page.get_by_role("heading", name="Confirm your email")).to_be_visible()
    expect(page.get_by_test_id("challenge-email")).to_have_text(email)
    enter_emailed_code(page, email)
    page.wait_for_url(f"{stack.base_url}/")
    expect(page.get_by_text(f"Signed in as {email}")).to_be_visible()


def _expect_unavailable(page: Page, message: str) -> None:
    expect(page.get_by_role("heading", name="Invitation unavailable")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text(message)


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_invitee_signs_up_from_the_link_and_the_app_sees_the_team(
    multi_stack: DevStackProcess, open_context: ContextOpener, javascript: bool
) -> None:
    owner = sign_up(open_context(multi_stack), fresh_email("owner"))
    team = create_team(multi_stack, owner["user_id"], "Acme Research")
    email = fresh_email("invitee")
    link = invite(multi_stack, team, owner["user_id"], email)

    page = open_context(multi_stack, java_script_enabled=javascript).new_page()
    page.goto(link)
    expect(page.get_by_role("heading", name="Join Acme Research")).to_be_visible()
    expect(page.get_by_role("link", name="Log in to accept")).to_be_visible()
    _sign_up_by_invitation(page, multi_stack, link, email)

    identity = whoami(page)
    assert identity["organization_id"] == team
    assert identity["organization_role"] == "member"
    assert identity["user_id"] != owner["user_id"]

    page.goto(link)
    _expect_unavailable(page, "This invitation has already been accepted.")
    stranger = open_context(multi_stack, java_script_enabled=javascript).new_page()
    response = stranger.goto(token_url(link, routes.INVITATION_SIGNUP))
    assert response is not None
    assert response.status == 410
    _expect_unavailable(stranger, "This invitation has already been accepted.")
    expect(stranger.get_by_role("link", name="Go to log in")).to_be_visible()


def test_a_signed_in_account_accepts_and_its_session_moves_to_the_team(
    multi_stack: DevStackProcess, open_context: ContextOpener
) -> None:
    owner = sign_up(open_context(multi_stack), fresh_email("owner"))
    team = create_team(multi_stack, owner["user_id"], "Globex")
    email = fresh_email("member")
    context = open_context(multi_stack)
    before = sign_up(context, email)
    assert before["organization_id"] != team
    assert before["organization_role"] == "owner"  # of the personal organization
    link = invite(multi_stack, team, owner["user_id"], email, role="admin")

    page = context.new_page()
    page.goto(link)
    page.get_by_role("button", name="Accept and join Globex").click()
    page.wait_for_url(f"{multi_stack.base_url}/")

    after = whoami(page)
    assert after["organization_id"] == team
    assert after["organization_role"] == "admin"
    assert (after["user_id"], after["session_id"]) == (before["user_id"], before["session_id"])

    page.goto(link)
    _expect_unavailable(page, "This invitation has already been accepted.")
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(f"{multi_stack.base_url}/")


def test_single_mode_invitee_joins_the_owners_organization(
    single_stack: DevStackProcess, open_context: ContextOpener
) -> None:
    owner = sign_up(open_context(single_stack), fresh_email("owner"))
    assert owner["organization_role"] == "owner"
    email = fresh_email("invitee")
    link = invite(single_stack, owner["organization_id"], owner["user_id"], email)

    page = open_context(single_stack).new_page()
    page.goto(link)
    expect(page.get_by_role("link", name="Log in to accept")).to_have_count(0)
    _sign_up_by_invitation(page, single_stack, link, email)

    identity = whoami(page)
    assert identity["organization_id"] == owner["organization_id"]
    assert identity["organization_role"] == "member"


def test_the_invitation_pages_pass_axe_in_light_and_dark(
    multi_stack: DevStackProcess, open_context: ContextOpener
) -> None:
    found = {}
    for name, page in invitation_pages(multi_stack, open_context):
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            violations = axe_violations(page)
            if violations:
                found[f"{name} ({scheme})"] = violations
    assert found == {}

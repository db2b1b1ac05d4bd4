"""What the invitation browser tests share: the internal API over real HTTP, and browser steps.

Every call goes through the gateway of a running `authara dev`, as an app's backend and a
person's browser would reach it.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

from playwright.sync_api import BrowserContext, Page, expect

from authara_contract import routes

from .devstack_process import DevStackProcess
from .mail_codes import sign_up_through_api

INTERNAL_API_TOKEN: Final = "e2e-internal-api-token-" + "0123456789abcdef" * 2
PASSWORD: Final = "correct horse battery staple"
# axe-core, vendored from the npm registry (see vendor/axe-core/README.md).
AXE_SCRIPT: Final = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
_AXE_RUN: Final = """async () => {
  const results = await axe.run(document);
  return results.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target).join(", ")}`
  );
}"""
# Every browser here signs up from 127.0.0.1: lift the per-IP limits (3 signups an hour).
ROOMY_RATE_LIMITS: Final = {
    "AUTHARA_RATE_LIMIT_SIGNUP_IP_LIMIT": "1000",
    "AUTHARA_RATE_LIMIT_LOGIN_IP_LIMIT": "1000",
}


def organization_settings(mode: str) -> dict[str, str]:
    """Return the settings of a stack in organization `mode` whose internal API is open."""
    return {
        "AUTHARA_ORGANIZATION_MODE": mode,
        "AUTHARA_INTERNAL_API_TOKEN": INTERNAL_API_TOKEN,
        **ROOMY_RATE_LIMITS,
    }


def fresh_email(prefix: str = "e2e") -> str:
    """Return an address no test used before."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def internal_post(stack: DevStackProcess, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST JSON to the internal API through the gateway; return the 201 body or fail."""
    host, _, port = stack.base_url.removeprefix("http://").partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(
            "POST",
            path,
            body=json.dumps(body),
            headers={
                "Authorization": f"Bearer {INTERNAL_API_TOKEN}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    assert response.status == 201, (response.status, raw)
    answer: dict[str, Any] = json.loads(raw)
    return answer


def create_team(stack: DevStackProcess, owner_id: str, name: str) -> str:
    """Create a team organization owned by `owner_id`; return its id."""
    body = {"name": name, "created_by_user_id": owner_id}
    answer = internal_post(stack, routes.INTERNAL_ORGANIZATIONS, body)
    organization_id: str = answer["organization"]["id"]
    return organization_id


def invite(
    stack: DevStackProcess, organization_id: str, actor_id: str, email: str, role: str = "member"
) -> str:
    """Invite `email` into the organization; return the invitation's link."""
    path = routes.INTERNAL_INVITATIONS.format(organization_id=organization_id)
    answer = internal_post(stack, path, {"actor_user_id": actor_id, "email": email, "role": role})
    invite_url: str = answer["invitation"]["invite_url"]
    assert invite_url.startswith(f"{stack.base_url}{routes.INVITATION_ACCEPT}?token="), invite_url
    return invite_url


def whoami(page: Page) -> dict[str, Any]:
    """Open the demo app's /whoami in this tab and return what the gateway told the app."""
    response = page.goto("/whoami")
    assert response is not None
    assert response.status == 200, response.status
    identity: dict[str, Any] = response.json()
    return identity


def sign_up(context: BrowserContext, email: str) -> dict[str, Any]:
    """Sign up through the JSON API in this browser profile (its cookies); return its /whoami.

    The invitation tests are about the invitation pages: accounts they only need are made
    the quick way, through the gateway like a single-page app would, verified by the code
    the stack's mail sink caught (`authara dev` runs with email challenges on).
    """
    created = sign_up_through_api(context, email, PASSWORD)
    identity = context.request.get("/whoami")
    assert identity.ok, identity.status
    found: dict[str, Any] = identity.json()
    assert found["user_id"] == created["user"]["id"], found
    return found


def axe_violations(page: Page) -> list[str]:
    """Run axe-core (every rule it runs by default) on the page; return one line per violation."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated rather than added as a <script>: that also works with JavaScript off
        # and under a policy that forbids inline scripts.
        page.evaluate(AXE_SCRIPT.read_text())
    violations: list[str] = page.evaluate(_AXE_RUN)
    return violations


def axe_in_both_schemes(page: Page) -> dict[str, list[str]]:
    """Run axe on the page in the light and the dark color scheme; return what each found."""
    found = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        violations = axe_violations(page)
        if violations:
            found[scheme] = violations
    page.emulate_media(color_scheme="light")
    return found


def token_url(invite_url: str, path: str) -> str:
    """Return the page at `path` for the invitation in `invite_url` (same token)."""
    return path + invite_url[invite_url.index("?") :]


def invitation_pages(
    stack: DevStackProcess, open_context: Callable[..., BrowserContext], **options: Any
) -> Iterator[tuple[str, Page]]:
    """Show each state of the invitation pages (multi mode) in turn: yield its name and tab.

    Anonymous, signed in as the invited email, signed in as another one; the signup form
    with an error; the login form; a used link. A tab moves on to its next state when the
    caller asks for the next one. `options` go to each browser profile (viewport...).
    """
    owner_context = open_context(stack, **options)
    owner = sign_up(owner_context, fresh_email("owner"))
    team = create_team(stack, owner["user_id"], "Northwind Research")
    invited_link = invite(stack, team, owner["user_id"], fresh_email("invitee"))
    member_email = fresh_email("member")
    member_context = open_context(stack, **options)
    sign_up(member_context, member_email)
    member_link = invite(stack, team, owner["user_id"], member_email, role="admin")
    anonymous, member, owner_tab = (
        context.new_page()
        for context in (open_context(stack, **options), member_context, owner_context)
    )

    anonymous.goto(invited_link)
    expect(anonymous.get_by_role("link", name="Create an account")).to_be_visible()
    yield "landing-anonymous", anonymous
    member.goto(member_link)
    expect(member.get_by_role("button", name="Accept and join")).to_be_visible()
    yield "landing-same-email", member
    owner_tab.goto(invited_link)
    expect(owner_tab.get_by_test_id("other-account")).to_be_visible()
    yield "landing-other-email", owner_tab

    anonymous.goto(token_url(invited_link, routes.INVITATION_SIGNUP))
    anonymous.get_by_label("Password").fill("short")
    with anonymous.expect_response(lambda answer: answer.request.method == "POST") as posted:
        anonymous.get_by_role("button", name="Create account and join").click()
    assert posted.value.status == 422, posted.value.status
    yield "signup-error", anonymous
    anonymous.goto(token_url(invited_link, routes.INVITATION_LOGIN))
    expect(anonymous.get_by_role("button", name="Log in and join")).to_be_visible()
    yield "login", anonymous

    member.get_by_role("button", name="Accept and join").click()
    member.wait_for_url(f"{stack.base_url}/")
    member.goto(member_link)
    expect(member.get_by_role("heading", name="Invitation unavailable")).to_be_visible()
    yield "unavailable", member

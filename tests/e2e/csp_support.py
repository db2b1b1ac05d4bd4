"""A stricter script policy for browser checks: the pages and the HTMX layer need no inline
script and no eval, so a test may drop both from the policy core sends and fail on any report.

The policy upstream sends allows 'unsafe-inline' and 'unsafe-eval' (core's platform/envelope.py);
`tighten_csp` removes them from every document this tab loads, and `RECORD_VIOLATIONS`, added as
an init script, collects each `securitypolicyviolation` in `window.__cspViolations`.
"""

from __future__ import annotations

from typing import Final

from playwright.sync_api import Route

STRICT_SCRIPTS: Final = {"'unsafe-inline'", "'unsafe-eval'"}
RECORD_VIOLATIONS: Final = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def strict_policy(policy: str) -> str:
    """Return `policy` without 'unsafe-inline' and 'unsafe-eval' in any directive."""
    return "; ".join(
        " ".join(word for word in directive.split() if word not in STRICT_SCRIPTS)
        for directive in policy.split(";")
    )


def tighten_csp(route: Route) -> None:
    """Route handler: serve every document with the strict policy instead of upstream's."""
    if route.request.resource_type != "document":
        route.continue_()
        return
    response = route.fetch(max_redirects=0)
    headers = dict(response.headers)
    policy = headers.get("content-security-policy")
    assert policy is not None and "'unsafe-inline'" in policy  # what upstream sends
    headers["content-security-policy"] = strict_policy(policy)
    route.fulfill(response=response, headers=headers)

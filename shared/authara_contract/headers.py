"""HTTP header names that are part of the contract."""

from typing import Final

CSRF_TOKEN: Final = "X-CSRF-Token"  # noqa: S105  (a header name, not a secret)
REQUEST_ID: Final = "X-Request-Id"
# Cache-Control of every response that sets session cookies, carries tokens or reports state.
NO_STORE: Final = "no-store"

HX_REQUEST: Final = "HX-Request"
HX_REDIRECT: Final = "HX-Redirect"
HX_REPLACE_URL: Final = "HX-Replace-Url"

# Identity headers the gateway sends the app after verifying `authara_access`.
IDENTITY_PREFIX: Final = "x-authara-"
USER_ID: Final = "X-Authara-User-Id"
SESSION_ID: Final = "X-Authara-Session-Id"
ROLES: Final = "X-Authara-Roles"
AUDIENCE: Final = "X-Authara-Audience"
ORGANIZATION_ID: Final = "X-Authara-Organization-Id"
ORGANIZATION_ROLE: Final = "X-Authara-Organization-Role"
IDENTITY_HEADERS: Final = (USER_ID, SESSION_ID, ROLES, AUDIENCE, ORGANIZATION_ID, ORGANIZATION_ROLE)


def is_identity_header(name: str) -> bool:
    """Tell whether a header is in the X-Authara-* namespace the gateway owns."""
    return name.lower().startswith(IDENTITY_PREFIX)

"""Route paths served by core and the gateway (upstream contract §1)."""

from typing import Final

AUTH_PREFIX: Final = "/auth"
API_PREFIX: Final = "/auth/api/v1"
INTERNAL_PREFIX: Final = "/auth/internal/v1"
STATIC_PREFIX: Final = "/auth/static"
# Branding (AUTHARA_BRAND_*): the color stylesheet and the images of AUTHARA_BRAND_DIR.
BRAND_CSS: Final = "/auth/brand.css"
BRAND_FILE: Final = "/auth/brand/{name}"

HEALTH: Final = "/auth/health"
READY: Final = "/auth/ready"
VERSION: Final = "/auth/version"

LOGIN: Final = "/auth/login"
SIGNUP: Final = "/auth/signup"
LOGOUT: Final = "/auth/sessions/logout"
LOGOUT_ALIAS: Final = "/auth/logout"
REFRESH: Final = "/auth/sessions/refresh"
ACCOUNT: Final = "/auth/account"
OAUTH_PREFIX: Final = "/auth/oauth"
OAUTH_START: Final = "/auth/oauth/{provider}/start"
OAUTH_CALLBACK: Final = "/auth/oauth/{provider}/callback"
OAUTH_LINK: Final = "/auth/oauth/{provider}/link"
PROVIDER_LINK_CONFIRM: Final = "/auth/provider-links/confirm"
PROVIDER_UNLINK: Final = "/auth/providers/{provider}/unlink"
SESSION_REVOKE: Final = "/auth/sessions/{sessionID}/revoke"
SESSIONS_REVOKE_OTHER: Final = "/auth/sessions/revoke-other"
# Email challenges: {action} is signup, password-reset or email-change (any case).
PASSWORD_RESET: Final = "/auth/password-reset"  # noqa: S105 (a path)
VERIFY_CHALLENGE: Final = "/auth/verify-challenge/{action}"
RESEND_CHALLENGE: Final = "/auth/resend-challenge"
EMAIL_CHANGE: Final = "/auth/email-change"
# Account self-service (the account page's forms)
USERNAME_CHANGE: Final = "/auth/user/username"
ACCOUNT_DELETE: Final = "/auth/user/delete"
ACCOUNT_DELETED: Final = "/auth/successful-deletion"
PASSWORD_ADD: Final = "/auth/providers/password/add"  # noqa: S105 (a path)
PASSWORD_LINK: Final = "/auth/providers/password/link"  # noqa: S105 (a path)
PASSWORD_CHANGE: Final = "/auth/providers/password/change"  # noqa: S105 (a path)
CHALLENGE_ID_PARAM: Final = "challenge_id"
# Passkeys (WebAuthn): the setup page after signup, the browser's JSON ceremony routes, and the
# account page's forms ({passkeyID} a passkey's id; rename is this project's addition).
PASSKEYS_PREFIX: Final = "/auth/passkeys"
PASSKEY_SETUP: Final = f"{PASSKEYS_PREFIX}/setup"
PASSKEY_AUTHENTICATE_OPTIONS: Final = f"{PASSKEYS_PREFIX}/authenticate/options"
PASSKEY_AUTHENTICATE_FINISH: Final = f"{PASSKEYS_PREFIX}/authenticate/finish"
PASSKEY_REGISTER_OPTIONS: Final = f"{PASSKEYS_PREFIX}/register/options"
PASSKEY_REGISTER_FINISH: Final = f"{PASSKEYS_PREFIX}/register/finish"
PASSKEY_DELETE: Final = f"{PASSKEYS_PREFIX}/{{passkeyID}}/delete"
PASSKEY_RENAME: Final = f"{PASSKEYS_PREFIX}/{{passkeyID}}/rename"

API_CSRF: Final = f"{API_PREFIX}/csrf"
API_LOGIN: Final = f"{API_PREFIX}/login"
API_SIGNUP_DIRECT: Final = f"{API_PREFIX}/signup/direct"
API_SIGNUP_CHALLENGES: Final = f"{API_PREFIX}/signup/challenges"
API_SIGNUP_CHALLENGE_VERIFY: Final = f"{API_PREFIX}/signup/challenges/verify"
API_PASSWORD_RESET_CHALLENGES: Final = f"{API_PREFIX}/password-reset/challenges"
API_PASSWORD_RESET_CHALLENGE_VERIFY: Final = f"{API_PREFIX}/password-reset/challenges/verify"
API_CHALLENGE_RESEND: Final = f"{API_PREFIX}/challenges/resend"
API_LOGOUT: Final = f"{API_PREFIX}/sessions/logout"
API_SESSIONS_REFRESH: Final = f"{API_PREFIX}/sessions/refresh"
API_TOKENS_REFRESH: Final = f"{API_PREFIX}/tokens/refresh"
# This project's additions: the signed-in user's own sessions (x-authara-addition in OpenAPI).
API_SESSIONS: Final = f"{API_PREFIX}/sessions"
API_SESSION: Final = f"{API_PREFIX}/sessions/{{sessionID}}"
API_SESSIONS_REVOKE_OTHERS: Final = f"{API_PREFIX}/sessions/revoke-others"
API_USER: Final = f"{API_PREFIX}/user"
API_PASSKEY_AUTHENTICATE_OPTIONS: Final = f"{API_PREFIX}/passkeys/authenticate/options"
API_PASSKEY_AUTHENTICATE_FINISH: Final = f"{API_PREFIX}/passkeys/authenticate/finish"
API_PASSKEY_REGISTER_OPTIONS: Final = f"{API_PREFIX}/passkeys/register/options"
API_PASSKEY_REGISTER_FINISH: Final = f"{API_PREFIX}/passkeys/register/finish"
# This project's additions: the signed-in user's passkeys (x-authara-addition in OpenAPI).
API_PASSKEYS: Final = f"{API_PREFIX}/passkeys"
API_PASSKEY: Final = f"{API_PREFIX}/passkeys/{{passkeyID}}"
API_USER_PASSWORD: Final = f"{API_PREFIX}/users/password"
API_OPENAPI: Final = f"{API_PREFIX}/openapi.json"
API_GOOGLE_OPTIONS: Final = f"{API_PREFIX}/oauth/google/options"
API_GOOGLE_LOGIN: Final = f"{API_PREFIX}/oauth/google"
API_CAPABILITIES: Final = f"{API_PREFIX}/capabilities"
API_ORGANIZATIONS: Final = f"{API_PREFIX}/organizations"
API_ORGANIZATION_CURRENT: Final = f"{API_PREFIX}/organizations/current"
API_ORGANIZATION_MEMBERS: Final = f"{API_PREFIX}/organizations/current/members"
API_ORGANIZATION_SWITCH: Final = f"{API_PREFIX}/organizations/{{organizationID}}/switch"
# The public management group (AUTHARA_PUBLIC_ORGANIZATION_MANAGEMENT_ENABLED)
API_ORGANIZATION: Final = f"{API_PREFIX}/organizations/{{organizationID}}"
API_ORGANIZATION_MEMBER_LIST: Final = f"{API_ORGANIZATION}/members"
API_ORGANIZATION_MEMBER: Final = f"{API_ORGANIZATION}/members/{{userID}}"
API_USER_MEMBERSHIPS: Final = f"{API_PREFIX}/users/{{userID}}/memberships"
API_ORGANIZATION_INVITATIONS: Final = f"{API_ORGANIZATION}/invitations"
API_ORGANIZATION_INVITATION: Final = f"{API_ORGANIZATION_INVITATIONS}/{{invitationID}}"
API_ORGANIZATION_INVITATION_REVOKE: Final = f"{API_ORGANIZATION_INVITATION}/revoke"

INTERNAL_OPENAPI: Final = f"{INTERNAL_PREFIX}/openapi.json"
INTERNAL_ORGANIZATIONS: Final = f"{INTERNAL_PREFIX}/organizations"
INTERNAL_ORGANIZATION: Final = f"{INTERNAL_ORGANIZATIONS}/{{organization_id}}"
INTERNAL_MEMBER: Final = f"{INTERNAL_ORGANIZATION}/members/{{user_id}}"
INTERNAL_OWNERSHIP_TRANSFER: Final = f"{INTERNAL_ORGANIZATION}/ownership-transfer"
INTERNAL_USER: Final = f"{INTERNAL_PREFIX}/users/{{user_id}}"
# The invitation pages; an invitation link lands on the first with `?token=`.
INVITATION_ACCEPT: Final = "/auth/invitations/accept"
INVITATION_SIGNUP: Final = "/auth/invitations/signup"
INVITATION_LOGIN: Final = "/auth/invitations/login"
INVITATION_TOKEN_PARAM: Final = "token"  # noqa: S105 (a query parameter name)
INTERNAL_INVITATIONS: Final = f"{INTERNAL_ORGANIZATION}/invitations"
INTERNAL_INVITATION_RESEND: Final = f"{INTERNAL_INVITATIONS}/{{invitation_id}}/resend"

# The admin console (contract §1.2 admin rows): every route under ADMIN_PREFIX is guarded
# (admin-audience token; GET for any platform role, anything else for authara:admin only).
ADMIN_PREFIX: Final = "/auth/admin"
ADMIN_DASHBOARD: Final = ADMIN_PREFIX
ADMIN_DASHBOARD_SLASH: Final = f"{ADMIN_PREFIX}/"
ADMIN_AUDIT: Final = f"{ADMIN_PREFIX}/audit"
ADMIN_AUDIT_EXPORT_CSV: Final = f"{ADMIN_AUDIT}/export.csv"
ADMIN_AUDIT_EXPORT_JSONL: Final = f"{ADMIN_AUDIT}/export.jsonl"
ADMIN_USERS: Final = f"{ADMIN_PREFIX}/users"
ADMIN_USERS_SEARCH: Final = f"{ADMIN_USERS}/search"  # the results fragment (HTMX live search)
ADMIN_USER: Final = f"{ADMIN_USERS}/{{userID}}"
ADMIN_USER_DISABLE: Final = f"{ADMIN_USER}/disable"
ADMIN_USER_ENABLE: Final = f"{ADMIN_USER}/enable"
ADMIN_USER_ROLE_GRANT: Final = f"{ADMIN_USER}/roles/{{role}}/grant"
ADMIN_USER_ROLE_REVOKE: Final = f"{ADMIN_USER}/roles/{{role}}/revoke"
ADMIN_USER_SESSION_REVOKE: Final = f"{ADMIN_USER}/sessions/{{sessionID}}/revoke"
ADMIN_USER_SESSIONS_REVOKE: Final = f"{ADMIN_USER}/sessions/revoke-all"
ADMIN_USER_PASSWORD_RESET: Final = f"{ADMIN_USER}/password-reset"
# The allowlist (only while AUTHARA_ACCESS_POLICY_ALLOWLIST_ENABLED; 404 otherwise).
ADMIN_FAILURES: Final = f"{ADMIN_PREFIX}/failures"
ADMIN_FAILURE_EMAIL_RETRY: Final = f"{ADMIN_FAILURES}/email/{{jobID}}/retry"
ADMIN_FAILURE_WEBHOOK_RETRY: Final = f"{ADMIN_FAILURES}/webhook/{{eventID}}/retry"
ADMIN_ALLOWLIST: Final = f"{ADMIN_PREFIX}/allowlist"
ADMIN_ALLOWLIST_RESULTS: Final = f"{ADMIN_ALLOWLIST}/results"
ADMIN_ALLOWLIST_IMPORT: Final = f"{ADMIN_ALLOWLIST}/import"
ADMIN_ALLOWLIST_DELETE: Final = f"{ADMIN_ALLOWLIST}/{{emailID}}/delete"

GATEWAY_HEALTH: Final = "/auth/gateway/health"
GATEWAY_READY: Final = "/auth/gateway/ready"

RETURN_TO_PARAM: Final = "return_to"
CSRF_FORM_FIELD: Final = "csrf_token"


def is_api_path(path: str) -> bool:
    """Tell whether a path belongs to the JSON API (errors there use the envelope)."""
    return path.startswith((API_PREFIX + "/", INTERNAL_PREFIX + "/")) or path in (
        API_PREFIX,
        INTERNAL_PREFIX,
    )


# Browser routes outside the API that speak JSON (the passkey ceremonies' fetch calls): their
# errors are envelopes too, never HTML pages.
JSON_PAGE_PATHS: Final = frozenset(
    {
        PASSKEY_AUTHENTICATE_OPTIONS,
        PASSKEY_AUTHENTICATE_FINISH,
        PASSKEY_REGISTER_OPTIONS,
        PASSKEY_REGISTER_FINISH,
    }
)


def answers_json(path: str) -> bool:
    """Tell whether errors on this path are JSON envelopes (the API, the JSON page routes)."""
    return is_api_path(path) or path in JSON_PAGE_PATHS or not is_auth_path(path)


def is_admin_path(path: str) -> bool:
    """Tell whether a path (query string allowed) belongs to the admin console."""
    path = path.split("?", 1)[0]
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def is_auth_path(path: str) -> bool:
    """Tell whether the gateway routes this path to core."""
    return path == AUTH_PREFIX or path.startswith(AUTH_PREFIX + "/")

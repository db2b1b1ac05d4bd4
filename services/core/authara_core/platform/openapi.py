"""The OpenAPI 3.1 document of /auth/api/v1: served as JSON and used to validate bodies.

Request bodies are checked against the schemas below (JSON Schema 2020-12, which OpenAPI 3.1
uses as is), so the document cannot drift from what the server accepts. `x-authara-csrf`
marks operations that need the double-submit token; a contract test compares it with the
CSRF middleware and the document's operations with the registered routes.
`x-authara-addition: true` marks operations upstream Authara does not have (the signed-in
user's own sessions).
"""

from __future__ import annotations

from typing import Any, Final

from authara_contract import VERSION, routes

JSONObject = dict[str, Any]

_STRING: Final = {"type": "string"}
_ERROR_REF: Final = {"$ref": "#/components/schemas/Error"}
# Upstream caps API bodies at 1 MiB; a larger body is refused with 413 before parsing.
MAX_BODY_BYTES: Final = 1024 * 1024
# PostgreSQL text cannot hold NUL, so no request string may contain one.
NO_NUL_PATTERN: Final = "^[^\\u0000]*$"
_TEXT_NOTE: Final = "Unicode text without NUL characters or lone surrogates (refused with 400)."
UUID_PATTERN: Final = (
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
MAX_ORGANIZATION_NAME: Final = 200


def _text(
    *, min_length: int = 0, max_length: int | None = None, note: str = "", email: bool = False
) -> JSONObject:
    """Return the schema of a request string with the limits the server enforces."""
    schema: JSONObject = {
        "type": "string",
        **({"format": "email"} if email else {}),
        "pattern": NO_NUL_PATTERN,
        "description": f"{note} {_TEXT_NOTE}".strip(),
    }
    if min_length:
        schema["minLength"] = min_length
    if max_length is not None:
        schema["maxLength"] = max_length
    return schema


def _object(required: list[str], properties: JSONObject) -> JSONObject:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }


def _ref(name: str) -> JSONObject:
    return {"$ref": f"#/components/schemas/{name}"}


_UUID_OUT: Final = {"type": "string", "format": "uuid"}
_TIME: Final = {"type": "string", "format": "date-time"}
_ROLE: Final = {"type": "string", "enum": ["owner", "admin", "member"]}
# The public management group (AUTHARA_PUBLIC_ORGANIZATION_MANAGEMENT_ENABLED).
_MANAGEMENT_SCHEMAS: Final[JSONObject] = {
    "UpdateOrganizationRequest": _object(
        ["name"],
        {
            "name": _text(
                min_length=1,
                max_length=MAX_ORGANIZATION_NAME,
                note="Trimmed; blank is refused.",
            )
        },
    ),
    "Organization": _object(
        ["id", "created_at", "updated_at", "name", "kind"],
        {
            "id": _UUID_OUT,
            "created_at": _TIME,
            "updated_at": _TIME,
            "name": _STRING,
            "kind": {"type": "string", "enum": ["personal", "team"]},
            "created_by_user_id": _UUID_OUT | {"description": "Absent once that user is deleted."},
        },
    ),
    "Membership": _object(
        ["organization_id", "user_id", "role", "created_at", "updated_at"],
        {
            "organization_id": _UUID_OUT,
            "user_id": _UUID_OUT,
            "role": _ROLE,
            "created_at": _TIME,
            "updated_at": _TIME,
        },
    ),
    "OrganizationMember": _object(
        [
            "organization_id",
            "user_id",
            "email",
            "username",
            "role",
            "created_at",
            "updated_at",
            "disabled",
        ],
        {
            "organization_id": _UUID_OUT,
            "user_id": _UUID_OUT,
            "email": _STRING,
            "username": _STRING,
            "role": _ROLE,
            "created_at": _TIME,
            "updated_at": _TIME,
            "disabled": {"type": "boolean"},
        },
    ),
    "OrganizationInvitation": _object(
        ["id", "organization_id", "email", "role", "metadata", "status", "expires_at"],
        {
            "id": _UUID_OUT,
            "organization_id": _UUID_OUT,
            "email": _STRING,
            "role": {"type": "string", "enum": ["admin", "member"]},
            "metadata": {"type": "object"},
            "status": {
                "type": "string",
                "enum": ["pending", "accepted", "revoked", "expired"],
                "description": "Precedence: accepted > revoked > expired > pending.",
            },
            "expires_at": _TIME,
            "invite_url": {
                "type": "string",
                "description": "Only when the invitation is issued (internal API).",
            },
        },
    ),
    "OrganizationInvitationBody": _object(
        ["invitation"], {"invitation": _ref("OrganizationInvitation")}
    ),
    "OrganizationInvitations": _object(
        ["invitations"],
        {"invitations": {"type": "array", "items": _ref("OrganizationInvitation")}},
    ),
    "OrganizationBody": _object(["organization"], {"organization": _ref("Organization")}),
    "OrganizationMembers": _object(
        ["members"], {"members": {"type": "array", "items": _ref("OrganizationMember")}}
    ),
    "OrganizationMemberBody": _object(["member"], {"member": _ref("OrganizationMember")}),
    "UserMemberships": _object(
        ["memberships"],
        {
            "memberships": {
                "type": "array",
                "items": _object(
                    ["organization", "membership"],
                    {"organization": _ref("Organization"), "membership": _ref("Membership")},
                ),
            }
        },
    ),
}


_CHALLENGE_ID: Final = {
    "type": "string",
    "format": "uuid",
    "pattern": UUID_PATTERN,
    "description": "The id a challenge was opened with (202).",
}
# Email challenges: signup verification and password reset by a code sent to the address.
_CHALLENGE_SCHEMAS: Final[JSONObject] = {
    "PasswordResetRequest": _object(
        ["email", "new_password"],
        {
            "email": _text(
                min_length=1,
                max_length=254,
                email=True,
                note="Trimmed and lowercased, then a plain addr-spec: no whitespace inside.",
            ),
            "new_password": _text(min_length=8, max_length=128, note="Counted in code points."),
        },
    ),
    "ChallengeVerifyRequest": _object(
        ["challenge_id", "code"],
        {
            "challenge_id": _CHALLENGE_ID,
            "code": {
                "type": "string",
                "pattern": "^[0-9]{6}$",
                "description": "The 6-digit code from the email.",
            },
        },
    ),
    "ChallengeResendRequest": _object(["challenge_id"], {"challenge_id": _CHALLENGE_ID}),
    "ChallengeStarted": _object(
        ["challenge_id"],
        {
            "challenge_id": _UUID_OUT
            | {
                "description": "Also for an email that must not be told apart (an account that"
                " exists on signup, none on reset): that challenge never verifies."
            }
        },
    ),
}


_NULLABLE_STRING: Final = {"type": ["string", "null"]}
_SESSION_SCHEMAS: Final[JSONObject] = {
    "Session": {
        "type": "object",
        "additionalProperties": False,
        "description": "One of the signed-in user's live sessions (neither revoked nor expired).",
        "required": [
            "id", "current", "created_at", "last_used_at", "expires_at", "ip_address",
            "user_agent", "device", "os", "browser",
        ],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "current": {"type": "boolean", "description": "The session of this request."},
            "created_at": {"type": "string", "format": "date-time"},
            "last_used_at": {
                "type": "string",
                "format": "date-time",
                "description": "Its last refresh (moved at most once a minute); created_at if "
                "it never refreshed.",
            },
            "expires_at": {"type": "string", "format": "date-time"},
            "ip_address": _NULLABLE_STRING
            | {"description": "The client's IP address when the session started."},
            "user_agent": {"type": "string", "description": "As sent (at most 255 characters)."},
            "device": _NULLABLE_STRING | {"description": "e.g. iPhone; null when unknown."},
            "os": _NULLABLE_STRING | {"description": "e.g. iOS 17.4; null when unknown."},
            "browser": _NULLABLE_STRING | {"description": "e.g. Chrome 124; null when unknown."},
        },
    },
    "SessionList": _object(
        ["sessions"],
        {
            "sessions": {
                "type": "array",
                "description": "The current session first, then by last use, newest first.",
                "items": {"$ref": "#/components/schemas/Session"},
            }
        },
    ),
    "RevokedSessions": _object(["revoked"], {"revoked": {"type": "integer", "minimum": 0}}),
}  # fmt: skip


_CEREMONY_ID: Final = {
    "type": "string",
    "format": "uuid",
    "pattern": UUID_PATTERN,
    "description": "The challenge_id of the options this response answers (single use).",
}
_CREDENTIAL: Final = {
    "type": "object",
    "description": "The browser's PublicKeyCredential as JSON (PublicKeyCredential.toJSON():"
    " id, rawId, type, response with base64url fields); the WebAuthn library checks it.",
}
MAX_PASSKEY_NAME: Final = 100
_PASSKEY_NAME: Final = _text(
    min_length=1,
    max_length=MAX_PASSKEY_NAME,
    note="Whitespace is collapsed; blank is refused (422).",
)
_PLATFORM_HINT: Final = _text(
    max_length=64, note="navigator.userAgentData.platform, for the passkey's automatic name."
)
# Passkeys (WebAuthn): the ceremonies' options and finishes, the signed-in user's passkeys.
PASSKEY_SCHEMAS: Final[JSONObject] = {
    "PasskeyOptions": _object(
        ["challenge_id", "options"],
        {
            "challenge_id": _UUID_OUT,
            "options": {
                "type": "object",
                "required": ["publicKey"],
                "description": "For navigator.credentials.create()/get(): publicKey is the"
                " WebAuthn options JSON (PublicKeyCredential.parseCreationOptionsFromJSON /"
                " parseRequestOptionsFromJSON); challenges live 5 minutes.",
                "properties": {"publicKey": {"type": "object"}},
            },
        },
    ),
    "PasskeyAuthenticateRequest": _object(
        ["challenge_id", "credential"], {"challenge_id": _CEREMONY_ID, "credential": _CREDENTIAL}
    ),
    "PasskeyRegisterRequest": _object(
        ["challenge_id", "credential"],
        {
            "challenge_id": _CEREMONY_ID,
            "credential": _CREDENTIAL,
            "name": _PASSKEY_NAME,
            "platform_hint": _PLATFORM_HINT,
        },
    ),
    "PasskeyRenameRequest": _object(["name"], {"name": _PASSKEY_NAME}),
    "Passkey": _object(
        [
            "id", "name", "created_at", "last_used_at", "synced", "backed_up",
            "clone_warning", "transports",
        ],
        {
            "id": _UUID_OUT,
            "name": _STRING,
            "created_at": _TIME,
            "last_used_at": {"type": ["string", "null"], "format": "date-time"},
            "synced": {
                "type": "boolean",
                "description": "Backup eligible: a passkey synced between devices.",
            },
            "backed_up": {"type": "boolean", "description": "Backed up at its last use."},
            "clone_warning": {
                "type": "boolean",
                "description": "Its signature counter went backwards once: possibly copied."
                " It signs in no more; delete it and add it again.",
            },
            "transports": {"type": "array", "items": _STRING},
        },
    ),
    "PasskeyList": _object(
        ["passkeys"],
        {"passkeys": {"type": "array", "items": {"$ref": "#/components/schemas/Passkey"}}},
    ),
}  # fmt: skip
# The browser pages' own ceremony bodies (/auth/passkeys/...; not part of this API).
PASSKEY_PAGE_SCHEMAS: Final[JSONObject] = {
    "PasskeyPageAuthenticateRequest": _object(
        ["challenge_id", "credential"],
        {
            "challenge_id": _CEREMONY_ID,
            "credential": _CREDENTIAL,
            "return_to": _text(max_length=2048),
        },
    ),
    "PasskeyPageRegisterRequest": _object(
        ["challenge_id", "credential"],
        {
            "challenge_id": _CEREMONY_ID,
            "credential": _CREDENTIAL,
            "name": _PASSKEY_NAME,
            "platform_hint": _PLATFORM_HINT,
            "return_to": _text(max_length=2048),
        },
    ),
}


SCHEMAS: Final[JSONObject] = {
    "Error": {
        "type": "object",
        "additionalProperties": False,
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "additionalProperties": False,
                "required": ["code", "message"],
                "properties": {"code": _STRING, "message": _STRING},
            }
        },
    },
    "LoginRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["email", "password"],
        "properties": {
            "email": _text(
                min_length=1, email=True, note="Trimmed and lowercased; blank is refused."
            ),
            "password": _text(min_length=1, note="Not re-checked against the signup rule."),
        },
    },
    "SetPasswordRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["password"],
        "properties": {
            "password": _text(
                min_length=8, max_length=128, note="8 to 128 characters; not trimmed."
            ),
        },
    },
    "SignupRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["email", "password"],
        "properties": {
            "email": _text(
                min_length=1,
                max_length=254,
                email=True,
                note="Trimmed and lowercased, then a plain addr-spec: no whitespace inside.",
            ),
            "password": _text(min_length=8, max_length=128, note="Counted in code points."),
            "invitation_code": _text(
                note="An invitation's token: the account joins its organization (400 when the"
                " invitation is unknown, used, revoked, expired, for another email, or the mode"
                " has no invitations)."
            ),
        },
    },
    "TokenRefreshRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["refresh_token"],
        "properties": {
            "refresh_token": _text(min_length=1),
            "audience": {"type": "string", "enum": ["app", "admin"]},
        },
    },
    "AuthUser": {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "email", "username", "disabled", "created_at"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "email": _STRING,
            "username": _STRING,
            "disabled": {"type": "boolean"},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "CurrentUser": {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "email", "username", "disabled", "created_at", "roles", "organization"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "email": _STRING,
            "username": _STRING,
            "disabled": {"type": "boolean"},
            "created_at": {"type": "string", "format": "date-time"},
            "roles": {
                "type": "array",
                "items": {
                    "type": "string",
                    "enum": ["authara:admin", "authara:auditor", "authara:monitor"],
                },
            },
            "organization": {"$ref": "#/components/schemas/OrganizationSummary"},
        },
    },
    "OrganizationSummary": {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "name", "role"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "name": _STRING,
            "role": {"type": "string", "enum": ["owner", "admin", "member"]},
        },
    },
    "Capabilities": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "organization_mode",
            "has_visible_organizations",
            "allows_invitations",
            "allows_public_organization_management",
            "allows_org_switching",
            "allows_user_created_team_orgs",
            "allows_organization_leave",
        ],
        "properties": {
            "organization_mode": {"type": "string", "enum": ["personal", "single", "multi"]},
            "has_visible_organizations": {"type": "boolean"},
            "allows_invitations": {"type": "boolean"},
            "allows_public_organization_management": {"type": "boolean"},
            "allows_org_switching": {"type": "boolean"},
            "allows_user_created_team_orgs": {"type": "boolean"},
            "allows_organization_leave": {"type": "boolean"},
        },
    },
    "OrganizationList": {
        "type": "object",
        "additionalProperties": False,
        "required": ["organizations"],
        "properties": {
            "organizations": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/OrganizationSummary"},
            }
        },
    },
    "CurrentOrganizationMember": {
        "type": "object",
        "additionalProperties": False,
        "required": ["user_id", "email", "username", "role", "created_at"],
        "properties": {
            "user_id": {"type": "string", "format": "uuid"},
            "email": _STRING,
            "username": _STRING,
            "role": {"type": "string", "enum": ["owner", "admin", "member"]},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "CurrentOrganizationMembers": {
        "type": "object",
        "additionalProperties": False,
        "required": ["members"],
        "properties": {
            "members": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/CurrentOrganizationMember"},
            }
        },
    },
    "Tokens": {
        "type": "object",
        "additionalProperties": False,
        "required": ["access_token", "refresh_token"],
        "properties": {"access_token": _STRING, "refresh_token": _STRING},
    },
    "AuthSession": {
        "type": "object",
        "additionalProperties": False,
        "required": ["user", "access_token", "refresh_token"],
        "properties": {
            "user": {"$ref": "#/components/schemas/AuthUser"},
            "access_token": _STRING,
            "refresh_token": _STRING,
        },
    },
    "GoogleOptions": {
        "type": "object",
        "additionalProperties": False,
        "required": ["client_id", "nonce"],
        "properties": {"client_id": _STRING, "nonce": _STRING},
    },
    "GoogleLoginRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["credential", "nonce"],
        "properties": {
            "credential": _text(min_length=1, note="A Google ID token; trimmed."),
            "nonce": _text(min_length=1, note="Trimmed."),
        },
    },
    "CsrfToken": {
        "type": "object",
        "additionalProperties": False,
        "required": ["csrf_token"],
        "properties": {"csrf_token": _STRING},
    },
    **_MANAGEMENT_SCHEMAS,
    **_CHALLENGE_SCHEMAS,
    **_SESSION_SCHEMAS,
    **PASSKEY_SCHEMAS,
}


def _audience(values: list[str]) -> JSONObject:
    return {
        "name": "audience",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": values, "default": "app"},
    }


def _json(ref: str) -> JSONObject:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _op(
    summary: str,
    *,
    csrf: bool,
    access: str,
    ok: tuple[int, str | None],
    errors: dict[int, list[str]],
    body: str | None = None,
    params: list[JSONObject] | None = None,
) -> JSONObject:
    status, schema = ok
    responses: JSONObject = {
        str(status): {"description": summary} | ({"content": _json(schema)} if schema else {})
    }
    for code, names in errors.items():
        responses[str(code)] = {
            "description": ", ".join(names),
            "content": {"application/json": {"schema": _ERROR_REF}},
        }
    operation: JSONObject = {
        "summary": summary,
        "x-authara-csrf": "required" if csrf else "none",
        "x-authara-access": access,
        "x-authara-error-codes": {str(code): names for code, names in errors.items()},
        "responses": responses,
    }
    if body:
        operation["requestBody"] = {
            "required": True,
            "description": f"JSON (UTF-8), at most {MAX_BODY_BYTES} bytes (413 beyond).",
            "content": _json(body),
        }
    if params:
        operation["parameters"] = params
    return operation


_INTERNAL: Final = {500: ["internal_error"]}
# Routes that reach the database answer 503 when it misses its deadlines or is unreachable.
_DATABASE: Final = {503: ["service_unavailable"], **_INTERNAL}
_BAD: Final = {400: ["invalid_request"], 413: ["invalid_request"]}
_UUID_IN: Final = {"type": "string", "format": "uuid", "pattern": UUID_PATTERN}


def _organization_paths(app_audience: list[JSONObject]) -> JSONObject:
    """Return the organization operations (all on the access cookie, app audience)."""
    signed_in = {401: ["unauthorized"], **_DATABASE}
    organization_id = {
        "name": "organizationID",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    }
    return {
        "/capabilities": {
            "get": _op(
                "What the organization mode allows",
                csrf=False,
                access="user",
                ok=(200, "Capabilities"),
                errors={401: ["unauthorized"], **_INTERNAL},
            )
        },
        "/organizations": {
            "get": _op(
                "The caller's organizations, the active one first, then by name",
                csrf=False,
                access="user",
                ok=(200, "OrganizationList"),
                errors=signed_in,
            )
        },
        "/organizations/current": {
            "get": _op(
                "The access token's organization (role from the token)",
                csrf=False,
                access="user",
                ok=(200, "OrganizationSummary"),
                errors=signed_in,
            )
        },
        "/organizations/current/members": {
            "get": _op(
                "The members of the access token's organization (403 in personal mode)",
                csrf=False,
                access="user",
                ok=(200, "CurrentOrganizationMembers"),
                errors={403: ["forbidden"], **signed_in},
            )
        },
        **_management_paths(organization_id),
        "/organizations/{organizationID}/switch": {
            "post": _op(
                "Switch the session to another organization (multi mode): new cookies",
                csrf=True,
                access="user",
                ok=(200, "Tokens"),
                params=[organization_id, *app_audience],
                errors={400: ["invalid_request"], 403: ["forbidden"], **signed_in},
            )
        },
    }


def _addition(operation: JSONObject) -> JSONObject:
    """Mark an operation upstream Authara does not have (`x-authara-addition: true`)."""
    return operation | {"x-authara-addition": True}


def _session_paths() -> JSONObject:
    """Return the signed-in user's own sessions (this project's additions; app audience)."""
    signed_in = {401: ["unauthorized"], **_DATABASE}
    session_id = {
        "name": "sessionID",
        "in": "path",
        "required": True,
        "schema": _UUID_IN,
    }
    note = " This project's addition: upstream offers it on the HTML account page only."
    return {
        "/sessions": {
            "get": _addition(
                _op(
                    "The signed-in user's live sessions, the current one first." + note,
                    csrf=False,
                    access="user",
                    ok=(200, "SessionList"),
                    errors=signed_in,
                )
            )
        },
        "/sessions/{sessionID}": {
            "delete": _addition(
                _op(
                    "Revoke one of the signed-in user's sessions: it is signed out at its next"
                    " refresh (its refresh tokens are deleted). 422 when the id names no live"
                    " session of this user (another user's included); nothing changes." + note,
                    csrf=True,
                    access="user",
                    ok=(204, None),
                    params=[session_id],
                    errors={
                        400: ["invalid_request"],
                        403: ["forbidden"],
                        422: ["invalid_request"],
                        **signed_in,
                    },
                )
            )
        },
        "/sessions/revoke-others": {
            "post": _addition(
                _op(
                    "Revoke every session of the signed-in user except the current one;"
                    " answers how many were revoked." + note,
                    csrf=True,
                    access="user",
                    ok=(200, "RevokedSessions"),
                    errors={403: ["forbidden"], **signed_in},
                )
            )
        },
    }


def _passkey_paths(any_audience: list[JSONObject]) -> JSONObject:
    """Return the passkey ceremonies (upstream) and the user's passkeys (our additions)."""
    signed_in = {401: ["unauthorized"], 403: ["forbidden"], **_DATABASE}
    ceremony_body = f" Body at most {128 * 1024} bytes (413 beyond)."
    passkey_id = {"name": "passkeyID", "in": "path", "required": True, "schema": _UUID_IN}
    note = " This project's addition: upstream offers it on the HTML account page only."
    return {
        "/passkeys/authenticate/options": {
            "post": _op(
                "Open a passkey sign-in: a challenge for a discoverable credential (no email)",
                csrf=True,
                access="public",
                ok=(200, "PasskeyOptions"),
                errors={403: ["forbidden"], 429: ["rate_limited"], **_DATABASE},
            )
        },
        "/passkeys/authenticate/finish": {
            "post": _op(
                "Sign in with a passkey assertion. 401 for any that does not verify: unknown"
                " credential, challenge used, expired or of the other kind, another origin or"
                " RP ID, bad signature, user verification missing, a counter that went"
                " backwards (the passkey is then flagged)." + ceremony_body,
                csrf=True,
                access="public",
                ok=(200, "AuthSession"),
                body="PasskeyAuthenticateRequest",
                params=any_audience,
                errors={
                    **_BAD,
                    401: ["unauthorized"],
                    403: ["forbidden"],
                    429: ["rate_limited"],
                    **_DATABASE,
                },
            )
        },
        "/passkeys/register/options": {
            "post": _op(
                "Open a passkey registration for the signed-in user (resident key and user"
                " verification required; their passkeys excluded)",
                csrf=True,
                access="user",
                ok=(200, "PasskeyOptions"),
                errors=signed_in,
            )
        },
        "/passkeys/register/finish": {
            "post": _op(
                "Verify and store the new passkey. 422 when it does not verify (the challenge"
                " unknown, used, expired, of the other kind or another user's included)."
                + ceremony_body,
                csrf=True,
                access="user",
                ok=(204, None),
                body="PasskeyRegisterRequest",
                errors={
                    **_BAD,
                    409: ["passkey_already_exists"],
                    422: ["passkey_registration_invalid", "invalid_request"],
                    **signed_in,
                },
            )
        },
        "/passkeys": {
            "get": _addition(
                _op(
                    "The signed-in user's passkeys, oldest first." + note,
                    csrf=False,
                    access="user",
                    ok=(200, "PasskeyList"),
                    errors={401: ["unauthorized"], **_DATABASE},
                )
            )
        },
        "/passkeys/{passkeyID}": {
            "patch": _addition(
                _op(
                    "Rename one of the signed-in user's passkeys." + note,
                    csrf=True,
                    access="user",
                    ok=(200, "Passkey"),
                    body="PasskeyRenameRequest",
                    params=[passkey_id],
                    errors={
                        **_BAD,
                        404: ["not_found"],
                        422: ["invalid_request"],
                        **signed_in,
                    },
                )
            ),
            "delete": _addition(
                _op(
                    "Delete one of the signed-in user's passkeys; 422 when it is their last way"
                    " to sign in (no password, no linked provider, no other passkey)." + note,
                    csrf=True,
                    access="user",
                    ok=(204, None),
                    params=[passkey_id],
                    errors={
                        400: ["invalid_request"],
                        404: ["not_found"],
                        422: ["invalid_request"],
                        **signed_in,
                    },
                )
            ),
        },
    }


def _challenge_paths(app_audience: list[JSONObject]) -> JSONObject:
    """Return the email challenge operations (signup ones 404 while challenges are off)."""
    refused = {
        **_BAD,
        403: ["forbidden"],
        429: ["rate_limited"],
        503: ["service_unavailable"],
        **_INTERNAL,
    }
    flag = " (AUTHARA_CHALLENGE_ENABLED; 404 while off)"
    return {
        "/signup/challenges": {
            "post": _op(
                "Start a signup verified by an emailed code" + flag,
                csrf=True,
                access="public",
                ok=(202, "ChallengeStarted"),
                body="SignupRequest",
                params=app_audience,
                errors={**refused, 404: ["not_found"]},
            )
        },
        "/signup/challenges/verify": {
            "post": _op(
                "Verify a signup code: the account is created and signed in" + flag,
                csrf=True,
                access="public",
                ok=(201, "AuthSession"),
                body="ChallengeVerifyRequest",
                params=app_audience,
                errors={**refused, 404: ["not_found"]},
            )
        },
        "/password-reset/challenges": {
            "post": _op(
                "Start a password reset: the new password is applied once the code is verified",
                csrf=True,
                access="public",
                ok=(202, "ChallengeStarted"),
                body="PasswordResetRequest",
                errors=refused,
            )
        },
        "/password-reset/challenges/verify": {
            "post": _op(
                "Verify a reset code: the new password is set, every session revoked",
                csrf=True,
                access="public",
                ok=(204, None),
                body="ChallengeVerifyRequest",
                errors=refused,
            )
        },
        "/challenges/resend": {
            "post": _op(
                "Send a new code (204 whatever the challenge's state)",
                csrf=True,
                access="public",
                ok=(204, None),
                body="ChallengeResendRequest",
                errors=refused,
            )
        },
    }


def _management_paths(organization_id: JSONObject) -> JSONObject:
    """Return the public management group (404 not_found while the flag is off)."""
    organization_id = organization_id | {"schema": _UUID_IN}
    user_id = organization_id | {"name": "userID"}
    invitation_id = organization_id | {"name": "invitationID"}
    errors = {
        400: ["invalid_request"],
        401: ["unauthorized"],
        403: ["forbidden"],
        404: ["not_found", "organization_not_found"],
        **_DATABASE,
    }
    flag = " (AUTHARA_PUBLIC_ORGANIZATION_MANAGEMENT_ENABLED)"
    return {
        "/organizations/{organizationID}": {
            "get": _op(
                "The access token's organization, to a member" + flag,
                ok=(200, "OrganizationBody"),
                params=[organization_id],
                errors=errors,
                csrf=False,
                access="user",
            ),
            "patch": _op(
                "Rename the access token's organization (owner or admin)" + flag,
                csrf=True,
                access="user",
                ok=(200, "OrganizationBody"),
                body="UpdateOrganizationRequest",
                params=[organization_id],
                errors={413: ["invalid_request"], **errors},
            ),
        },
        "/organizations/{organizationID}/members": {
            "get": _op(
                "The organization's members (403 in personal mode)" + flag,
                ok=(200, "OrganizationMembers"),
                params=[organization_id],
                errors=errors,
                csrf=False,
                access="user",
            )
        },
        "/organizations/{organizationID}/members/{userID}": {
            "get": _op(
                "One member of the organization (403 in personal mode)" + flag,
                ok=(200, "OrganizationMemberBody"),
                params=[organization_id, user_id],
                errors=errors | {404: [*errors[404], "membership_not_found"]},
                csrf=False,
                access="user",
            )
        },
        "/organizations/{organizationID}/invitations": {
            "get": _op(
                "The organization's invitations, newest first (owner or admin)" + flag,
                ok=(200, "OrganizationInvitations"),
                params=[organization_id],
                errors=errors,
                csrf=False,
                access="user",
            )
        },
        "/organizations/{organizationID}/invitations/{invitationID}": {
            "get": _op(
                "One invitation of the organization (owner or admin)" + flag,
                ok=(200, "OrganizationInvitationBody"),
                params=[organization_id, invitation_id],
                errors=errors | {404: [*errors[404], "invitation_not_found"]},
                csrf=False,
                access="user",
            )
        },
        "/organizations/{organizationID}/invitations/{invitationID}/revoke": {
            "post": _op(
                "Revoke a pending invitation (owner or admin)" + flag,
                ok=(200, "OrganizationInvitationBody"),
                params=[organization_id, invitation_id],
                errors=errors
                | {
                    404: [*errors[404], "invitation_not_found"],
                    409: [
                        "invitation_already_accepted",
                        "invitation_revoked",
                        "invitation_expired",
                    ],
                },
                csrf=True,
                access="user",
            )
        },
        "/users/{userID}/memberships": {
            "get": _op(
                "The caller's organizations with their membership in each" + flag,
                ok=(200, "UserMemberships"),
                params=[user_id],
                errors=errors | {404: ["not_found"]},
                csrf=False,
                access="user",
            )
        },
    }


def openapi_document() -> JSONObject:
    """Return the OpenAPI document for the JSON API (paths relative to /auth/api/v1)."""
    app_audience = [_audience(["app"])]
    any_audience = [_audience(["app", "admin"])]
    paths: JSONObject = {
        "/csrf": {
            "get": _op(
                "Get the CSRF token",
                csrf=False,
                access="public",
                ok=(200, "CsrfToken"),
                errors=_INTERNAL,
            )
        },
        "/login": {
            "post": _op(
                "Log in with email and password",
                csrf=True,
                access="public",
                ok=(200, "AuthSession"),
                body="LoginRequest",
                params=any_audience,
                errors={
                    **_BAD,
                    401: ["unauthorized"],
                    403: ["forbidden"],
                    429: ["rate_limited"],
                    503: ["service_unavailable"],
                    **_INTERNAL,
                },
            )
        },
        "/signup/direct": {
            "post": _op(
                "Create an account and sign in (404 while AUTHARA_CHALLENGE_ENABLED is on)",
                csrf=True,
                access="public",
                ok=(201, "AuthSession"),
                body="SignupRequest",
                params=app_audience,
                errors={
                    **_BAD,
                    403: ["forbidden"],
                    404: ["not_found"],
                    429: ["rate_limited"],
                    503: ["service_unavailable"],
                    **_INTERNAL,
                },
            )
        },
        **_challenge_paths(app_audience),
        "/sessions/logout": {
            "post": _op(
                "Revoke the session and clear cookies",
                csrf=True,
                access="public",
                ok=(204, None),
                errors={403: ["forbidden"], **_DATABASE},
            )
        },
        "/sessions/refresh": {
            "post": _op(
                "Refresh the session cookies",
                csrf=True,
                access="refresh_cookie",
                ok=(200, None),
                params=any_audience,
                errors={
                    400: ["invalid_request"],
                    401: ["unauthorized"],
                    403: ["forbidden"],
                    **_DATABASE,
                },
            )
        },
        "/tokens/refresh": {
            "post": _op(
                "Exchange a refresh token for tokens",
                csrf=False,
                access="public",
                ok=(200, "Tokens"),
                body="TokenRefreshRequest",
                errors={**_BAD, 401: ["unauthorized"], **_DATABASE},
            )
        },
        "/user": {
            "get": _op(
                "The signed-in user",
                csrf=False,
                access="user",
                ok=(200, "CurrentUser"),
                errors={401: ["unauthorized"], **_DATABASE},
            )
        },
        "/users/password": {
            "put": _op(
                "Create or replace the signed-in user's password; ends every session of the"
                " user, this one included, and drops pending password resets",
                csrf=True,
                access="user",
                ok=(204, None),
                body="SetPasswordRequest",
                errors={**_BAD, 401: ["unauthorized"], 403: ["forbidden"], **_DATABASE},
            )
        },
        **_session_paths(),
        **_passkey_paths(any_audience),
        **_organization_paths(app_audience),
        "/oauth/google/options": {
            "get": _op(
                "Google Identity Services: client id and nonce (sets authara_oauth_nonce)",
                csrf=False,
                access="public",
                ok=(200, "GoogleOptions"),
                errors={404: ["not_found"], **_INTERNAL},
            )
        },
        "/oauth/google": {
            "post": _op(
                "Sign in with a Google ID token (needs the authara_oauth_nonce cookie)",
                csrf=True,
                access="public",
                ok=(200, "AuthSession"),
                body="GoogleLoginRequest",
                params=any_audience,
                errors={
                    **_BAD,
                    401: ["unauthorized"],
                    403: ["forbidden"],
                    404: ["not_found"],
                    409: ["account_link_required", "invalid_request"],
                    502: ["bad_gateway"],
                    503: ["service_unavailable"],
                    504: ["gateway_timeout"],
                    **_INTERNAL,
                },
            )
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "x-authara-csrf": "none",
                "x-authara-access": "public",
                "x-authara-error-codes": {},
                "responses": {"200": {"description": "OpenAPI document"}},
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Authara API", "version": VERSION},
        "x-authara-max-body-bytes": MAX_BODY_BYTES,
        "servers": [{"url": routes.API_PREFIX}],
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }

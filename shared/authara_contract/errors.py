"""Error codes and the JSON error envelope `{"error": {"code", "message"}}`."""

import json
from enum import StrEnum
from typing import Final


class ErrorCode(StrEnum):
    """Stable error codes (upstream CONTRACT.md)."""

    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    INVALID_REQUEST = "invalid_request"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    INTERNAL_ERROR = "internal_error"
    ACCOUNT_LINK_REQUIRED = "account_link_required"
    SERVICE_UNAVAILABLE = "service_unavailable"
    BAD_GATEWAY = "bad_gateway"
    GATEWAY_TIMEOUT = "gateway_timeout"
    # Internal API (organizations, users)
    USER_NOT_FOUND = "user_not_found"
    ORGANIZATION_NOT_FOUND = "organization_not_found"
    MEMBERSHIP_NOT_FOUND = "membership_not_found"
    LAST_OWNER = "last_owner"
    NOT_OWNER = "not_owner"
    PERSONAL_ORGANIZATION = "personal_organization"
    # Invitations
    INVITATION_NOT_FOUND = "invitation_not_found"
    ACTOR_NOT_MEMBER = "actor_not_member"
    ACTOR_NOT_ALLOWED = "actor_not_allowed"
    ALREADY_MEMBER = "already_member"
    INVITATION_ALREADY_PENDING = "invitation_already_pending"
    INVITATION_ALREADY_ACCEPTED = "invitation_already_accepted"
    INVITATION_REVOKED = "invitation_revoked"
    INVITATION_EXPIRED = "invitation_expired"
    # Passkeys
    PASSKEY_ALREADY_EXISTS = "passkey_already_exists"
    PASSKEY_REGISTRATION_INVALID = "passkey_registration_invalid"


JSON_CONTENT_TYPE: Final = "application/json; charset=utf-8"


def error_envelope(code: ErrorCode, message: str) -> dict[str, dict[str, str]]:
    """Build the error envelope as a dict."""
    return {"error": {"code": code.value, "message": message}}


def error_body(code: ErrorCode, message: str) -> bytes:
    """Serialize the envelope the way upstream does (compact JSON plus a newline)."""
    return (json.dumps(error_envelope(code, message), separators=(",", ":")) + "\n").encode()

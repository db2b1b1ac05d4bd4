"""The OpenAPI 3.1 document of the internal API, /auth/internal/v1 (a second document).

Upstream keeps both APIs in one file; here each document has its own server prefix, so the
public one stays what browsers and apps see. Every operation needs the bearer token
(`internalBearer`) except this document itself; none needs CSRF. Request bodies are
validated against INTERNAL_SCHEMAS like the public API's.
"""

from __future__ import annotations

from typing import Final

from authara_contract import VERSION, routes
from authara_core.platform.openapi import SCHEMAS, UUID_PATTERN, JSONObject, _op, _text

_UUID_IN: Final = {"type": "string", "format": "uuid", "pattern": UUID_PATTERN}


def _object(required: list[str], properties: JSONObject) -> JSONObject:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }


INTERNAL_SCHEMAS: Final[JSONObject] = {
    "Error": SCHEMAS["Error"],
    "CreateOrganizationRequest": _object(
        ["name", "created_by_user_id"],
        {
            "name": _text(min_length=1, note="Trimmed; blank is refused."),
            "created_by_user_id": _UUID_IN,
        },
    ),
    "OwnershipTransferRequest": _object(
        ["from_user_id", "to_user_id"],
        {
            "from_user_id": _UUID_IN | {"description": "An owner; becomes admin."},
            "to_user_id": _UUID_IN | {"description": "A member; becomes owner."},
        },
    ),
    "CreateInvitationRequest": _object(
        ["actor_user_id", "email"],
        {
            "actor_user_id": _UUID_IN | {"description": "An owner or admin of the organization."},
            "email": _text(min_length=1, note="Trimmed and lowercased.", email=True),
            "role": {"type": "string", "enum": ["admin", "member"], "default": "member"},
            "metadata": {
                "type": "object",
                "default": {},
                "description": "Free JSON object, at most 16 KiB serialized (400 beyond).",
            },
        },
    ),
    # The same shapes as the public document's (one definition each).
    "OrganizationInvitation": SCHEMAS["OrganizationInvitation"],
    "OrganizationInvitationBody": SCHEMAS["OrganizationInvitationBody"],
    "Organization": SCHEMAS["Organization"],
    "Membership": SCHEMAS["Membership"],
    "CreatedOrganization": _object(
        ["organization", "membership"],
        {
            "organization": {"$ref": "#/components/schemas/Organization"},
            "membership": {"$ref": "#/components/schemas/Membership"},
        },
    ),
    "OwnershipTransfer": _object(
        ["organization", "previous_owner", "new_owner"],
        {
            "organization": {"$ref": "#/components/schemas/Organization"},
            "previous_owner": {"$ref": "#/components/schemas/Membership"},
            "new_owner": {"$ref": "#/components/schemas/Membership"},
        },
    ),
}


def _path(name: str) -> JSONObject:
    return {"name": name, "in": "path", "required": True, "schema": _UUID_IN}


def _internal(
    summary: str,
    *,
    ok: tuple[int, str | None],
    errors: dict[int, list[str]],
    body: str | None = None,
    params: list[JSONObject] | None = None,
) -> JSONObject:
    every = {401: ["unauthorized"], 503: ["service_unavailable"], 500: ["internal_error"]}
    bad = {400: ["invalid_request"]} | ({413: ["invalid_request"]} if body else {})
    return _op(
        summary,
        csrf=False,
        access="internal",
        ok=ok,
        errors=dict(sorted((bad | errors | every).items())),
        body=body,
        params=params,
    )


def internal_openapi_document() -> JSONObject:
    """Return the OpenAPI document for the internal API (paths relative to /auth/internal/v1)."""
    organization = _path("organization_id")
    user = _path("user_id")
    paths: JSONObject = {
        "/organizations": {
            "post": _internal(
                "Create a team organization; its creator becomes owner (multi mode only)",
                ok=(201, "CreatedOrganization"),
                body="CreateOrganizationRequest",
                errors={403: ["forbidden"], 404: ["user_not_found"]},
            )
        },
        "/organizations/{organization_id}": {
            "delete": _internal(
                "Delete an organization and its memberships; sessions active in it move to"
                " each member's default organization, or end if none remains",
                ok=(204, None),
                params=[organization],
                errors={404: ["organization_not_found"], 409: ["personal_organization"]},
            )
        },
        "/organizations/{organization_id}/members/{user_id}": {
            "delete": _internal(
                "Remove a member (never the last owner); their sessions in it move or end",
                ok=(204, None),
                params=[organization, user],
                errors={
                    404: ["organization_not_found", "membership_not_found"],
                    409: ["last_owner"],
                },
            )
        },
        "/organizations/{organization_id}/ownership-transfer": {
            "post": _internal(
                "Make a member owner; the owner handing over becomes admin",
                ok=(200, "OwnershipTransfer"),
                body="OwnershipTransferRequest",
                params=[organization],
                errors={
                    404: ["organization_not_found", "membership_not_found"],
                    409: ["not_owner"],
                },
            )
        },
        "/organizations/{organization_id}/invitations": {
            "post": _internal(
                "Invite an email to the organization on behalf of an owner or admin; the answer"
                " carries invite_url (its token is shown only here)",
                ok=(201, "OrganizationInvitationBody"),
                body="CreateInvitationRequest",
                params=[organization],
                errors={
                    403: ["actor_not_member", "actor_not_allowed"],
                    404: ["organization_not_found"],
                    409: ["already_member", "invitation_already_pending"],
                },
            )
        },
        "/organizations/{organization_id}/invitations/{invitation_id}/resend": {
            "post": _internal(
                "Replace an invitation with a new one (new id, token and expiry, with"
                " invite_url); the old one is revoked",
                ok=(201, "OrganizationInvitationBody"),
                params=[organization, _path("invitation_id")],
                errors={
                    403: ["forbidden"],
                    404: ["organization_not_found", "invitation_not_found"],
                    409: [
                        "already_member",
                        "invitation_already_pending",
                        "invitation_already_accepted",
                        "invitation_revoked",
                    ],
                },
            )
        },
        "/users/{user_id}": {
            "delete": _internal(
                "Delete a user, their sessions and memberships, their personal organization and"
                " every organization only they belong to (refused while they are the last"
                " owner of one with other members, or the last active admin)",
                ok=(204, None),
                params=[user],
                errors={404: ["user_not_found"], 409: ["last_owner"], 422: ["invalid_request"]},
            )
        },
        "/openapi.json": {
            "get": {
                "summary": "This document (no token needed)",
                "security": [],
                "x-authara-csrf": "none",
                "x-authara-access": "public",
                "x-authara-error-codes": {},
                "responses": {"200": {"description": "OpenAPI document"}},
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Authara internal API", "version": VERSION},
        "servers": [{"url": routes.INTERNAL_PREFIX}],
        "security": [{"internalBearer": []}],
        "paths": paths,
        "components": {
            "schemas": INTERNAL_SCHEMAS,
            "securitySchemes": {
                "internalBearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "AUTHARA_INTERNAL_API_TOKEN; empty refuses every call.",
                    "x-authara-auth-mode": "internal_bearer",
                }
            },
        },
    }

"""JSON renderings of organizations, memberships and invitations (public and internal APIs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from authara_core.organizations.invitations import Invitation, status_of
from authara_core.organizations.management_store import Membership, Organization


def organization_json(organization: Organization) -> dict[str, Any]:
    """Render the Organization schema (created_by_user_id absent once that user is gone)."""
    body: dict[str, Any] = {
        "id": str(organization.id),
        "created_at": organization.created_at,
        "updated_at": organization.updated_at,
        "name": organization.name,
        "kind": organization.kind,
    }
    if organization.created_by_user_id is not None:
        body["created_by_user_id"] = str(organization.created_by_user_id)
    return body


def membership_json(membership: Membership) -> dict[str, Any]:
    """Render the Membership schema."""
    return {
        "organization_id": str(membership.organization_id),
        "user_id": str(membership.user_id),
        "role": membership.role.value,
        "created_at": membership.created_at,
        "updated_at": membership.updated_at,
    }


def invitation_json(
    invitation: Invitation, now: datetime, *, invite_url: str | None = None
) -> dict[str, Any]:
    """Render the OrganizationInvitation schema (`invite_url` only when just issued)."""
    body: dict[str, Any] = {
        "id": str(invitation.id),
        "organization_id": str(invitation.organization_id),
        "email": invitation.email,
        "role": invitation.role,
        "metadata": dict(invitation.metadata),
        "status": status_of(invitation, now).value,
        "expires_at": invitation.expires_at,
    }
    if invite_url is not None:
        body["invite_url"] = invite_url
    return body

"""JSON renderings of organizations and memberships, shared by the public and internal APIs."""

from __future__ import annotations

from typing import Any

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

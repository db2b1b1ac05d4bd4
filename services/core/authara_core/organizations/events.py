"""Events of organizations, memberships and invitations (contract §13 `data` fields)."""

from __future__ import annotations

import uuid
from typing import Any

from authara_contract.claims import OrganizationRole
from authara_core.organizations.invitation_store import Invitation
from authara_core.platform.outbox import Event, rfc3339

ORGANIZATION_CREATED = "organization.created"
ORGANIZATION_UPDATED = "organization.updated"
ORGANIZATION_DELETED = "organization.deleted"
MEMBERSHIP_CREATED = "organization.membership.created"
MEMBERSHIP_UPDATED = "organization.membership.updated"
MEMBERSHIP_DELETED = "organization.membership.deleted"


def _organization(
    organization_id: uuid.UUID, name: str, kind: str, created_by: uuid.UUID | None
) -> dict[str, Any]:
    return {
        "organization_id": str(organization_id),
        "name": name,
        "kind": kind,
        "created_by_user_id": None if created_by is None else str(created_by),
    }


def _membership(
    organization_id: uuid.UUID, user_id: uuid.UUID, role: OrganizationRole
) -> dict[str, Any]:
    return {"organization_id": str(organization_id), "user_id": str(user_id), "role": role.value}


def organization_created(
    organization_id: uuid.UUID, *, name: str, kind: str, created_by: uuid.UUID | None
) -> Event:
    """Build `organization.created`."""
    return Event(ORGANIZATION_CREATED, _organization(organization_id, name, kind, created_by))


def organization_updated(
    organization_id: uuid.UUID, *, name: str, kind: str, created_by: uuid.UUID | None
) -> Event:
    """Build `organization.updated` (the organization after the change; for PATCH)."""
    return Event(ORGANIZATION_UPDATED, _organization(organization_id, name, kind, created_by))


def organization_deleted(
    organization_id: uuid.UUID, *, name: str, kind: str, created_by: uuid.UUID | None
) -> Event:
    """Build `organization.deleted`."""
    return Event(ORGANIZATION_DELETED, _organization(organization_id, name, kind, created_by))


def initial_membership_created(
    organization_id: uuid.UUID, user_id: uuid.UUID, role: OrganizationRole
) -> Event:
    """Build `organization.membership.created` for an organization's creator (no invitation)."""
    data = _membership(organization_id, user_id, role)
    data |= {"is_initial_membership": True, "invitation_id": None, "metadata": {}}
    return Event(MEMBERSHIP_CREATED, data)


def invited_membership_created(invitation: Invitation, user_id: uuid.UUID) -> Event:
    """Build `organization.membership.created` for a member who accepted an invitation."""
    role = OrganizationRole(invitation.role)
    data = _membership(invitation.organization_id, user_id, role)
    data |= {
        "is_initial_membership": False,
        "invitation_id": str(invitation.id),
        "metadata": dict(invitation.metadata),
    }
    return Event(MEMBERSHIP_CREATED, data)


def membership_updated(
    organization_id: uuid.UUID, user_id: uuid.UUID, role: OrganizationRole
) -> Event:
    """Build `organization.membership.updated` (the role after the change)."""
    return Event(MEMBERSHIP_UPDATED, _membership(organization_id, user_id, role))


def membership_deleted(
    organization_id: uuid.UUID, user_id: uuid.UUID, role: OrganizationRole
) -> Event:
    """Build `organization.membership.deleted` (the role the member had)."""
    return Event(MEMBERSHIP_DELETED, _membership(organization_id, user_id, role))


INVITATION_CREATED = "organization.invitation.created"
INVITATION_REVOKED = "organization.invitation.revoked"
INVITATION_ACCEPTED = "organization.invitation.accepted"


def _invitation(invitation: Invitation) -> dict[str, Any]:
    return {
        "invitation_id": str(invitation.id),
        "organization_id": str(invitation.organization_id),
        "email": invitation.email,
        "role": invitation.role,
        "metadata": dict(invitation.metadata),
    }


def _user(user_id: uuid.UUID | None) -> str | None:
    return None if user_id is None else str(user_id)


def invitation_created(invitation: Invitation) -> Event:
    """Build `organization.invitation.created` (internal create and resend)."""
    data = _invitation(invitation) | {
        "invited_by_user_id": _user(invitation.invited_by_user_id),
        "expires_at": rfc3339(invitation.expires_at),
    }
    return Event(INVITATION_CREATED, data)


def invitation_revoked(invitation: Invitation) -> Event:
    """Build `organization.invitation.revoked` (public revoke; the old one at a resend)."""
    revoked_at = invitation.revoked_at
    data = _invitation(invitation) | {
        "revoked_by_user_id": _user(invitation.revoked_by_user_id),
        "revoked_at": None if revoked_at is None else rfc3339(revoked_at),
    }
    return Event(INVITATION_REVOKED, data)


def invitation_accepted(invitation: Invitation) -> Event:
    """Build `organization.invitation.accepted`."""
    accepted_at = invitation.accepted_at
    data = _invitation(invitation) | {
        "accepted_by_user_id": _user(invitation.accepted_by_user_id),
        "accepted_at": None if accepted_at is None else rfc3339(accepted_at),
    }
    return Event(INVITATION_ACCEPTED, data)

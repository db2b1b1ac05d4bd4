"""The organization and membership events this domain reports (contract §13 `data` fields)."""

from __future__ import annotations

import uuid
from typing import Any

from authara_contract.claims import OrganizationRole
from authara_core.platform.outbox import Event

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

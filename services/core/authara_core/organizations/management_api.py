"""Handlers of the public management group: /organizations/{id}[/members[/{userID}]], memberships.

Authenticated like GET /user (the access cookie, app audience); then the flag (404 when off),
then the path ids (400 unless plain UUIDs), then one service call.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Final

from aiohttp import web

from authara_contract import cookies
from authara_contract.claims import Audience
from authara_contract.tokens import AccessClaims
from authara_core.organizations.invitations import Invitations
from authara_core.organizations.public_management import (
    OrganizationMember,
    PublicManagement,
)
from authara_core.organizations.views import invitation_json, membership_json, organization_json
from authara_core.platform.bodies import BodyReader
from authara_core.platform.cookies import read_cookie
from authara_core.platform.errors import InvalidRequest
from authara_core.platform.openapi import UUID_PATTERN
from authara_core.platform.render import json_response
from authara_core.sessions.service import SessionService

APP_ONLY: Final = (Audience.APP,)
_UUID: Final = re.compile(UUID_PATTERN)


def member_json(member: OrganizationMember) -> dict[str, Any]:
    """Render the OrganizationMember schema."""
    return {
        "organization_id": str(member.organization_id),
        "user_id": str(member.user_id),
        "email": member.email,
        "username": member.username,
        "role": member.role.value,
        "created_at": member.created_at,
        "updated_at": member.updated_at,
        "disabled": member.disabled,
    }


class ManagementApi:
    """Handlers for the routes behind AUTHARA_PUBLIC_ORGANIZATION_MANAGEMENT_ENABLED."""

    def __init__(
        self,
        *,
        management: PublicManagement,
        invitations: Invitations,
        sessions: SessionService,
        bodies: BodyReader,
    ) -> None:
        self._management = management
        self._invitations = invitations
        self._sessions = sessions
        self._bodies = bodies

    async def _claims(self, request: web.Request) -> AccessClaims:
        claims = await self._sessions.identify(
            read_cookie(request, cookies.ACCESS), audiences=APP_ONLY
        )
        self._management.check_enabled()
        return claims

    async def organization(self, request: web.Request) -> web.StreamResponse:
        """Return the token's organization."""
        claims = await self._claims(request)
        found = await self._management.organization(claims, _path_id(request, "organizationID"))
        return json_response({"organization": organization_json(found)})

    async def rename(self, request: web.Request) -> web.StreamResponse:
        """Rename the token's organization (owner or admin)."""
        claims = await self._claims(request)
        organization_id = _path_id(request, "organizationID")
        body = await self._bodies.read(request, "UpdateOrganizationRequest")
        found = await self._management.rename(claims, organization_id, body["name"])
        return json_response({"organization": organization_json(found)})

    async def members(self, request: web.Request) -> web.StreamResponse:
        """List the members of the token's organization."""
        claims = await self._claims(request)
        found = await self._management.members(claims, _path_id(request, "organizationID"))
        return json_response({"members": [member_json(member) for member in found]})

    async def member(self, request: web.Request) -> web.StreamResponse:
        """Return one member of the token's organization."""
        claims = await self._claims(request)
        organization_id = _path_id(request, "organizationID")
        found = await self._management.member(claims, organization_id, _path_id(request, "userID"))
        return json_response({"member": member_json(found)})

    async def memberships(self, request: web.Request) -> web.StreamResponse:
        """List the caller's organizations with their membership in each."""
        claims = await self._claims(request)
        found = await self._management.memberships(claims, _path_id(request, "userID"))
        return json_response(
            {
                "memberships": [
                    {
                        "organization": organization_json(organization),
                        "membership": membership_json(membership),
                    }
                    for organization, membership in found
                ]
            }
        )

    async def invitations(self, request: web.Request) -> web.StreamResponse:
        """List the invitations of the token's organization (owner or admin)."""
        claims = await self._claims(request)
        found = await self._invitations.list(claims, _path_id(request, "organizationID"))
        now = self._invitations.now()
        return json_response({"invitations": [invitation_json(i, now) for i in found]})

    async def invitation(self, request: web.Request) -> web.StreamResponse:
        """Return one invitation of the token's organization (owner or admin)."""
        claims = await self._claims(request)
        organization_id = _path_id(request, "organizationID")
        invitation_id = _path_id(request, "invitationID")
        found = await self._invitations.get(claims, organization_id, invitation_id)
        return json_response({"invitation": invitation_json(found, self._invitations.now())})

    async def revoke_invitation(self, request: web.Request) -> web.StreamResponse:
        """Revoke a pending invitation of the token's organization (owner or admin)."""
        claims = await self._claims(request)
        organization_id = _path_id(request, "organizationID")
        invitation_id = _path_id(request, "invitationID")
        revoked = await self._invitations.revoke(claims, organization_id, invitation_id)
        return json_response({"invitation": invitation_json(revoked, self._invitations.now())})


def _path_id(request: web.Request, name: str) -> uuid.UUID:
    # uuid.UUID also takes braces, URNs and bare hex: the document promises the plain form.
    raw = request.match_info[name]
    if not _UUID.fullmatch(raw):
        raise InvalidRequest(f"{name} must be a UUID.")
    return uuid.UUID(raw)

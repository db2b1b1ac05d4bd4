"""Internal API handlers (/auth/internal/v1): organizations, members, invitations, users.

Machine to machine: `Authorization: Bearer <AUTHARA_INTERNAL_API_TOKEN>`, no cookies, no
CSRF. With no token configured every call is refused.
"""

from __future__ import annotations

import hmac
import re
import uuid
from typing import Final

from aiohttp import web

from authara_core.organizations.invitations import Invitations, Issued
from authara_core.organizations.management import (
    OrganizationManagement,
)
from authara_core.organizations.views import invitation_json, membership_json, organization_json
from authara_core.platform.bodies import BodyReader
from authara_core.platform.errors import InvalidRequest, Unauthorized
from authara_core.platform.openapi import UUID_PATTERN
from authara_core.platform.render import json_response

BEARER: Final = "Bearer "
_UUID: Final = re.compile(UUID_PATTERN)


def _uuid(raw: str, name: str) -> uuid.UUID:
    # uuid.UUID also takes braces, URNs and bare hex: the document promises the plain form.
    if not _UUID.fullmatch(raw):
        raise InvalidRequest(f"{name} must be a UUID.")
    return uuid.UUID(raw)


class InternalApi:
    """The internal API's handlers: check the bearer token, then one service call each."""

    def __init__(
        self,
        *,
        management: OrganizationManagement,
        invitations: Invitations,
        bodies: BodyReader,
        token: str,
    ) -> None:
        self._management = management
        self._invitations = invitations
        self._bodies = bodies
        self._token = token.encode()

    def _authorize(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        if not self._token or not header.startswith(BEARER):
            raise Unauthorized
        given = header[len(BEARER) :].strip().encode("utf-8", "surrogatepass")
        if not hmac.compare_digest(given, self._token):
            raise Unauthorized

    def _path_id(self, request: web.Request, name: str) -> uuid.UUID:
        return _uuid(request.match_info[name], name)

    async def create_organization(self, request: web.Request) -> web.StreamResponse:
        """Create a team organization whose creator is its owner (201)."""
        self._authorize(request)
        body = await self._bodies.read(request, "CreateOrganizationRequest")
        organization, membership = await self._management.create_team(
            name=body["name"], created_by=_uuid(body["created_by_user_id"], "created_by_user_id")
        )
        return json_response(
            {
                "organization": organization_json(organization),
                "membership": membership_json(membership),
            },
            status=201,
        )

    async def delete_organization(self, request: web.Request) -> web.StreamResponse:
        """Delete an organization and its memberships (204)."""
        self._authorize(request)
        await self._management.delete_organization(self._path_id(request, "organization_id"))
        return web.Response(status=204)

    async def remove_member(self, request: web.Request) -> web.StreamResponse:
        """Remove a user from an organization (204)."""
        self._authorize(request)
        organization_id = self._path_id(request, "organization_id")
        user_id = self._path_id(request, "user_id")
        await self._management.remove_member(organization_id, user_id)
        return web.Response(status=204)

    async def transfer_ownership(self, request: web.Request) -> web.StreamResponse:
        """Hand an organization's ownership from one member to another (200)."""
        self._authorize(request)
        organization_id = self._path_id(request, "organization_id")
        body = await self._bodies.read(request, "OwnershipTransferRequest")
        transfer = await self._management.transfer_ownership(
            organization_id,
            from_user_id=_uuid(body["from_user_id"], "from_user_id"),
            to_user_id=_uuid(body["to_user_id"], "to_user_id"),
        )
        return json_response(
            {
                "organization": organization_json(transfer.organization),
                "previous_owner": membership_json(transfer.previous_owner),
                "new_owner": membership_json(transfer.new_owner),
            }
        )

    async def delete_user(self, request: web.Request) -> web.StreamResponse:
        """Delete a user with their sessions, memberships and sole organizations (204)."""
        self._authorize(request)
        await self._management.delete_user(self._path_id(request, "user_id"))
        return web.Response(status=204)

    async def create_invitation(self, request: web.Request) -> web.StreamResponse:
        """Invite an email to an organization for an owner or admin (201, with invite_url)."""
        self._authorize(request)
        organization_id = self._path_id(request, "organization_id")
        body = await self._bodies.read(request, "CreateInvitationRequest")
        issued = await self._invitations.create(
            organization_id,
            actor=_uuid(body["actor_user_id"], "actor_user_id"),
            email=body["email"],
            role=body.get("role", "member"),
            metadata=body.get("metadata", {}),
        )
        return _issued(issued)

    async def resend_invitation(self, request: web.Request) -> web.StreamResponse:
        """Replace an invitation with a new one; the old one is revoked (201)."""
        self._authorize(request)
        organization_id = self._path_id(request, "organization_id")
        invitation_id = self._path_id(request, "invitation_id")
        return _issued(await self._invitations.resend(organization_id, invitation_id))


def _issued(issued: Issued) -> web.StreamResponse:
    rendered = invitation_json(issued.invitation, issued.now, invite_url=issued.invite_url)
    return json_response({"invitation": rendered}, status=201)

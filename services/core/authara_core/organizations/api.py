"""The public organization API: capabilities, the caller's organizations, members, switching.

Every route is authenticated like GET /user: the access cookie, app audience.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from aiohttp import web

from authara_contract import cookies
from authara_contract.claims import Audience
from authara_contract.headers import NO_STORE
from authara_contract.tokens import AccessClaims
from authara_core.organizations.directory import OrganizationDirectory
from authara_core.organizations.service import MembershipRow
from authara_core.platform.bodies import audience_param
from authara_core.platform.cookies import CookieWriter, read_cookie
from authara_core.platform.errors import InvalidRequest
from authara_core.platform.render import json_response
from authara_core.sessions.service import SessionService

APP_ONLY: Final = (Audience.APP,)
ORGANIZATION_ID: Final = "organizationID"


def summary_json(organization: MembershipRow) -> dict[str, Any]:
    """Render an OrganizationSummary."""
    return {
        "id": str(organization.organization_id),
        "name": organization.name,
        "role": organization.role.value,
    }


class OrganizationApi:
    """Handlers for /auth/api/v1/capabilities and /auth/api/v1/organizations/..."""

    def __init__(
        self,
        *,
        directory: OrganizationDirectory,
        sessions: SessionService,
        cookie_writer: CookieWriter,
    ) -> None:
        self._directory = directory
        self._sessions = sessions
        self._cookies = cookie_writer

    async def _claims(self, request: web.Request) -> AccessClaims:
        return await self._sessions.identify(
            read_cookie(request, cookies.ACCESS), audiences=APP_ONLY
        )

    async def capabilities(self, request: web.Request) -> web.StreamResponse:
        """Tell what the organization mode allows."""
        await self._claims(request)
        found = self._directory.capabilities()
        return json_response(
            {
                "organization_mode": found.organization_mode.value,
                "has_visible_organizations": found.has_visible_organizations,
                "allows_invitations": found.allows_invitations,
                "allows_public_organization_management": (
                    found.allows_public_organization_management
                ),
                "allows_org_switching": found.allows_org_switching,
                "allows_user_created_team_orgs": found.allows_user_created_team_orgs,
                "allows_organization_leave": found.allows_organization_leave,
            }
        )

    async def organizations(self, request: web.Request) -> web.StreamResponse:
        """List the caller's organizations, the active one first."""
        found = await self._directory.organizations(await self._claims(request))
        return json_response({"organizations": [summary_json(row) for row in found]})

    async def current(self, request: web.Request) -> web.StreamResponse:
        """Return the access token's organization."""
        return json_response(
            summary_json(await self._directory.current(await self._claims(request)))
        )

    async def members(self, request: web.Request) -> web.StreamResponse:
        """List the members of the access token's organization."""
        found = await self._directory.members(await self._claims(request))
        return json_response(
            {
                "members": [
                    {
                        "user_id": str(member.user_id),
                        "email": member.email,
                        "username": member.username,
                        "role": member.role.value,
                        "created_at": member.created_at,
                    }
                    for member in found
                ]
            }
        )

    async def switch(self, request: web.Request) -> web.StreamResponse:
        """Switch the session to another of the caller's organizations: new cookies and Tokens."""
        claims = await self._claims(request)
        audience_param(request, APP_ONLY)
        organization_id = _organization_id(request)
        self._directory.check_switching()
        issued = await self._sessions.switch_organization(
            claims, organization_id, refresh_token=read_cookie(request, cookies.REFRESH)
        )
        response = json_response(
            {"access_token": issued.access_token, "refresh_token": issued.refresh_token},
            headers={"Cache-Control": NO_STORE},
        )
        self._cookies.set_session(response, issued)
        return response


def _organization_id(request: web.Request) -> uuid.UUID:
    raw = request.match_info[ORGANIZATION_ID]
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise InvalidRequest("Invalid organization ID.") from None

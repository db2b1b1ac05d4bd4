"""Challenge handlers of the JSON API: signup and password reset by emailed code, resend."""

from __future__ import annotations

import uuid
from typing import Final

from aiohttp import web

from authara_contract.claims import Audience
from authara_contract.headers import NO_STORE
from authara_core.challenges.service import ChallengeService
from authara_core.platform.bodies import BodyReader, audience_param
from authara_core.platform.client import client_ip
from authara_core.platform.cookies import CookieWriter
from authara_core.platform.errors import InvalidRequest, InvitationUnusable
from authara_core.platform.render import json_response
from authara_core.sessions.responses import auth_session_response

APP_ONLY: Final = (Audience.APP,)
ACCEPTED: Final = 202
NO_CONTENT: Final = 204


def _started(challenge_id: uuid.UUID) -> web.Response:
    return json_response(
        {"challenge_id": str(challenge_id)}, status=ACCEPTED, headers={"Cache-Control": NO_STORE}
    )


class ChallengeApi:
    """Handlers for /auth/api/v1/signup/challenges, /password-reset/challenges and resend."""

    def __init__(
        self,
        *,
        challenges: ChallengeService,
        cookie_writer: CookieWriter,
        bodies: BodyReader,
        trust_proxy_headers: bool,
    ) -> None:
        self._challenges = challenges
        self._cookies = cookie_writer
        self._bodies = bodies
        self._trust_proxy_headers = trust_proxy_headers

    async def signup_start(self, request: web.Request) -> web.StreamResponse:
        """Open a signup challenge: 202 {challenge_id}, also for an email that has an account."""
        self._challenges.check_enabled()
        audience_param(request, APP_ONLY)
        body = await self._bodies.read(request, "SignupRequest")
        challenge_id = await self._challenges.start_signup(
            email=body["email"],
            password=body["password"],
            client_ip=self._client_ip(request),
            invitation_code=body.get("invitation_code") or None,
        )
        return _started(challenge_id)

    async def signup_verify(self, request: web.Request) -> web.StreamResponse:
        """Verify a signup code: the account is created and signed in (201 AuthSession)."""
        self._challenges.check_enabled()
        audience = audience_param(request, APP_ONLY)
        body = await self._bodies.read(request, "ChallengeVerifyRequest")
        try:
            issued = await self._challenges.verify_signup(
                uuid.UUID(body["challenge_id"]),
                body["code"],
                audience=audience,
                user_agent=request.headers.get("User-Agent", ""),
                client_ip=self._client_ip(request),
                in_invited_organization=False,
            )
        except InvitationUnusable as exc:  # the invitation went while the code was in flight
            raise InvalidRequest(exc.message) from exc
        return auth_session_response(self._cookies, issued, status=201)

    async def password_reset_start(self, request: web.Request) -> web.StreamResponse:
        """Open a password reset challenge: 202 {challenge_id}, the same for unknown emails."""
        body = await self._bodies.read(request, "PasswordResetRequest")
        challenge_id = await self._challenges.start_password_reset(
            email=body["email"],
            new_password=body["new_password"],
            client_ip=self._client_ip(request),
        )
        return _started(challenge_id)

    async def password_reset_verify(self, request: web.Request) -> web.StreamResponse:
        """Verify a reset code: the new password is set and every session revoked (204)."""
        body = await self._bodies.read(request, "ChallengeVerifyRequest")
        await self._challenges.verify_password_reset(
            uuid.UUID(body["challenge_id"]), body["code"], client_ip=self._client_ip(request)
        )
        return web.Response(status=NO_CONTENT, headers={"Cache-Control": NO_STORE})

    async def resend(self, request: web.Request) -> web.StreamResponse:
        """Ask for a new code: 204 whatever the challenge's state (nothing to learn from it)."""
        body = await self._bodies.read(request, "ChallengeResendRequest")
        await self._challenges.resend(
            uuid.UUID(body["challenge_id"]), client_ip=self._client_ip(request)
        )
        return web.Response(status=NO_CONTENT)

    def _client_ip(self, request: web.Request) -> str | None:
        return client_ip(request, trust_proxy_headers=self._trust_proxy_headers)

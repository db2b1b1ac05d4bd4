"""Passkey handlers of the JSON API (/auth/api/v1/passkeys/...), and their body limit."""

from __future__ import annotations

import uuid
from typing import Any, Final

from aiohttp import web

from authara_contract import cookies
from authara_contract.claims import Audience
from authara_contract.headers import NO_STORE
from authara_contract.tokens import AccessClaims
from authara_core.passkeys.service import CeremonyOptions, PasskeyService, PasskeyView
from authara_core.platform.bodies import BodyReader, audience_param
from authara_core.platform.client import client_ip
from authara_core.platform.cookies import CookieWriter, read_cookie
from authara_core.platform.errors import InvalidRequest, PasskeyNotFound, PayloadTooLarge
from authara_core.platform.render import json_response
from authara_core.sessions.responses import auth_session_response
from authara_core.sessions.service import SessionService

MAX_CEREMONY_BODY: Final = 128 * 1024  # upstream: finish bodies up to 128 KiB
ANY_AUDIENCE: Final = (Audience.APP, Audience.ADMIN)
APP_ONLY: Final = (Audience.APP,)


async def read_ceremony_body(
    bodies: BodyReader, request: web.Request, schema: str
) -> dict[str, Any]:
    """Read a ceremony's JSON body: at most 128 KiB (413 beyond), checked against `schema`."""
    if request.content_length is not None and request.content_length > MAX_CEREMONY_BODY:
        raise PayloadTooLarge
    if len(await request.read()) > MAX_CEREMONY_BODY:  # chunked: counted once read
        raise PayloadTooLarge
    return await bodies.read(request, schema)  # the body read above is cached


def options_json(options: CeremonyOptions) -> web.Response:
    """Answer `{"challenge_id", "options"}` (PasskeyOptions), never cached."""
    return json_response(
        {"challenge_id": str(options.challenge_id), "options": options.options},
        headers={"Cache-Control": NO_STORE},
    )


def passkey_json(view: PasskeyView) -> dict[str, Any]:
    """Return a passkey as the API shows it (the Passkey schema)."""
    return {
        "id": str(view.id),
        "name": view.name,
        "created_at": view.created_at,
        "last_used_at": view.last_used_at,
        "synced": view.synced,
        "backed_up": view.backed_up,
        "clone_warning": view.clone_warning,
        "transports": list(view.transports),
    }


def passkey_id_param(request: web.Request) -> uuid.UUID:
    """Read the {passkeyID} path parameter (400 when it is not a UUID)."""
    try:
        return uuid.UUID(request.match_info["passkeyID"])
    except ValueError as exc:
        raise InvalidRequest("passkeyID must be a UUID.") from exc


def optional_text(body: dict[str, Any], name: str) -> str | None:
    """Return an optional string field."""
    value = body.get(name)
    return value if isinstance(value, str) else None


class PasskeyApi:
    """Handlers for /auth/api/v1/passkeys/..."""

    def __init__(
        self,
        *,
        passkeys: PasskeyService,
        sessions: SessionService,
        cookie_writer: CookieWriter,
        bodies: BodyReader,
        trust_proxy_headers: bool,
    ) -> None:
        self._passkeys = passkeys
        self._sessions = sessions
        self._cookies = cookie_writer
        self._bodies = bodies
        self._trust_proxy_headers = trust_proxy_headers

    async def _claims(self, request: web.Request) -> AccessClaims:
        return await self._sessions.identify(
            read_cookie(request, cookies.ACCESS), audiences=APP_ONLY
        )

    def _ip(self, request: web.Request) -> str | None:
        return client_ip(request, trust_proxy_headers=self._trust_proxy_headers)

    async def authenticate_options(self, request: web.Request) -> web.StreamResponse:
        """Open a passkey sign-in: a challenge for a discoverable credential."""
        return options_json(
            await self._passkeys.authentication_options(client_ip=self._ip(request))
        )

    async def authenticate_finish(self, request: web.Request) -> web.StreamResponse:
        """Sign in with the assertion: AuthSession in the body and as cookies."""
        audience = audience_param(request, ANY_AUDIENCE)
        body = await read_ceremony_body(self._bodies, request, "PasskeyAuthenticateRequest")
        issued = await self._passkeys.authenticate(
            challenge_id=uuid.UUID(body["challenge_id"]),
            credential=body["credential"],
            audience=audience,
            user_agent=request.headers.get("User-Agent", ""),
            client_ip=self._ip(request),
        )
        return auth_session_response(self._cookies, issued, status=200)

    async def register_options(self, request: web.Request) -> web.StreamResponse:
        """Open a registration for the signed-in user."""
        claims = await self._claims(request)
        return options_json(await self._passkeys.registration_options(claims.user_id))

    async def register_finish(self, request: web.Request) -> web.StreamResponse:
        """Store the signed-in user's new passkey (204)."""
        claims = await self._claims(request)
        body = await read_ceremony_body(self._bodies, request, "PasskeyRegisterRequest")
        await self._passkeys.register(
            user_id=claims.user_id,
            challenge_id=uuid.UUID(body["challenge_id"]),
            credential=body["credential"],
            name=optional_text(body, "name"),
            platform_hint=optional_text(body, "platform_hint"),
            user_agent=request.headers.get("User-Agent", ""),
        )
        return web.Response(status=204)

    async def list(self, request: web.Request) -> web.StreamResponse:
        """List the signed-in user's passkeys, oldest first."""
        claims = await self._claims(request)
        views = await self._passkeys.list(claims.user_id)
        return json_response(
            {"passkeys": [passkey_json(v) for v in views]}, headers={"Cache-Control": NO_STORE}
        )

    async def rename(self, request: web.Request) -> web.StreamResponse:
        """Rename one of the signed-in user's passkeys."""
        claims = await self._claims(request)
        passkey_id = passkey_id_param(request)
        body = await self._bodies.read(request, "PasskeyRenameRequest")
        await self._passkeys.rename(
            user_id=claims.user_id, passkey_id=passkey_id, name=body["name"]
        )
        for view in await self._passkeys.list(claims.user_id):
            if view.id == passkey_id:
                return json_response(passkey_json(view), headers={"Cache-Control": NO_STORE})
        raise PasskeyNotFound  # deleted meanwhile

    async def delete(self, request: web.Request) -> web.StreamResponse:
        """Delete one of the signed-in user's passkeys (422 when it is their last way in)."""
        claims = await self._claims(request)
        await self._passkeys.delete(user_id=claims.user_id, passkey_id=passkey_id_param(request))
        return web.Response(status=204)

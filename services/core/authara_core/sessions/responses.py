"""Session answers that handlers in every domain give: AuthSession bodies and session cookies."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from aiohttp import web

from authara_contract import cookies
from authara_contract.claims import Audience
from authara_contract.headers import NO_STORE
from authara_core.accounts.users import UserRow
from authara_core.platform.cookies import CookieWriter, read_cookie
from authara_core.platform.errors import Unauthorized
from authara_core.platform.render import json_response, redirect
from authara_core.platform.request_id import HANDLED_ERROR_KEY
from authara_core.sessions.service import IssuedSession, SessionService


def user_json(user: UserRow) -> dict[str, Any]:
    """Render a user the way AuthUser in the OpenAPI document describes.

    The creation time stays a datetime: `json_response` writes it (`…Z` for UTC) several
    times faster than `isoformat()` would.
    """
    return {
        "id": str(user.id),
        "email": user.email,
        "username": user.username,
        "disabled": user.disabled_at is not None,
        "created_at": user.created_at,
    }


def auth_session_response(
    cookie_writer: CookieWriter, issued: IssuedSession, *, status: int
) -> web.Response:
    """Answer with an AuthSession body and set the session cookies (and a fresh CSRF token)."""
    response = json_response(
        {
            "user": user_json(issued.user),
            "access_token": issued.access_token,
            "refresh_token": issued.refresh_token,
        },
        status=status,
        headers={"Cache-Control": NO_STORE},
    )
    cookie_writer.set_session(response, issued)
    cookie_writer.renew_csrf(response)
    return response


def signed_in_redirect(
    request: web.Request, cookie_writer: CookieWriter, issued: IssuedSession, location: str
) -> web.StreamResponse:
    """Send a browser that just signed in on to `location` with its session cookies.

    The CSRF token is replaced too, as at every sign-in.
    """
    response = redirect(request, location)
    cookie_writer.set_session(response, issued)
    cookie_writer.renew_csrf(response)
    return response


async def refresh_or_clear(
    request: web.Request,
    sessions: SessionService,
    cookie_writer: CookieWriter,
    *,
    audience: Audience,
    refreshed: Callable[[], web.StreamResponse],
    refused: Callable[[Unauthorized], web.StreamResponse],
) -> web.StreamResponse:
    """Refresh the session from the refresh cookie into `refreshed()`'s response.

    When the refresh token is refused, answer `refused(error)` and clear the session cookies.
    """
    try:
        issued = await sessions.refresh(read_cookie(request, cookies.REFRESH), audience=audience)
    except Unauthorized as exc:
        request[HANDLED_ERROR_KEY] = exc  # a reuse detection is counted by the metrics
        response = refused(exc)
        cookie_writer.clear_session(response)
        return response
    response = refreshed()
    cookie_writer.set_session(response, issued)
    return response


async def end_session(
    request: web.Request,
    response: web.StreamResponse,
    sessions: SessionService,
    cookie_writer: CookieWriter,
) -> None:
    """Revoke the session the request's cookies name (if any) and clear them."""
    access_token = read_cookie(request, cookies.ACCESS)
    claims = None
    with contextlib.suppress(Unauthorized):  # logout always succeeds; no revocation check
        claims = sessions.verify(access_token, audiences=tuple(Audience))
    await sessions.logout(
        refresh_token=read_cookie(request, cookies.REFRESH),
        access_token=access_token,
        claims=claims,
    )
    cookie_writer.clear_session(response)

"""Set and clear Authara's cookies with exactly the contract's attributes."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Protocol

from aiohttp import hdrs, web

from authara_contract import cookies
from authara_contract.cookies import CookieSpec
from authara_contract.headers import NO_STORE
from authara_core.platform.clock import Clock
from authara_runtime.cookie_header import cookie_value


class SessionTokens(Protocol):
    """The two tokens a signed-in browser holds as cookies (an issued session has both)."""

    @property
    def access_token(self) -> str:
        """The signed access token (a JWT)."""

    @property
    def refresh_token(self) -> str:
        """The opaque refresh token."""


class CookieWriter:
    """Write cookies for one deployment (Secure exactly when APP_ENV=prod)."""

    def __init__(
        self, *, secure: bool, access_ttl: timedelta, refresh_ttl: timedelta, clock: Clock
    ) -> None:
        self._secure = secure
        self._access_ttl = access_ttl
        self._refresh_ttl = refresh_ttl
        self._clock = clock

    def set_session(self, response: web.StreamResponse, issued: SessionTokens) -> None:
        """Set the access and refresh cookies; responses carrying them are never cached."""
        self._set(response, cookies.ACCESS, issued.access_token, self._access_ttl)
        self._set(response, cookies.REFRESH, issued.refresh_token, self._refresh_ttl)
        response.headers["Cache-Control"] = NO_STORE

    def clear_session(self, response: web.StreamResponse) -> None:
        """Expire the access and refresh cookies."""
        for spec in cookies.SESSION_COOKIES:
            self._clear(response, spec)
        response.headers["Cache-Control"] = NO_STORE

    def set_csrf(self, response: web.StreamResponse, token: str) -> None:
        """Set the CSRF cookie (readable by scripts: the double-submit needs that)."""
        self._set(response, cookies.CSRF, token, None)

    def renew_csrf(self, response: web.StreamResponse) -> str:
        """Set a fresh CSRF token (at login, so a pre-login token cannot be fixed)."""
        token = new_csrf_token()
        self.set_csrf(response, token)
        return token

    def set_oauth_flow(self, response: web.StreamResponse, binding: str) -> None:
        """Set (or extend) the cookie that binds OAuth flows to this browser."""
        self._set(response, cookies.OAUTH_FLOW, binding, None)

    def set_oauth_nonce(self, response: web.StreamResponse, nonce: str) -> None:
        """Set the Google ID-token nonce cookie."""
        self._set(response, cookies.OAUTH_NONCE, nonce, None)

    def clear_oauth_nonce(self, response: web.StreamResponse) -> None:
        """Expire the Google ID-token nonce cookie after it signed someone in."""
        self._clear(response, cookies.OAUTH_NONCE)

    def _secure_for(self, spec: CookieSpec) -> bool:
        return self._secure and spec.secure_in_prod

    def _clear(self, response: web.StreamResponse, spec: CookieSpec) -> None:
        # A browser drops a cookie only when name and path match the one it holds.
        response.del_cookie(
            spec.name,
            path=spec.path,
            secure=self._secure_for(spec),
            httponly=spec.http_only,
            samesite=spec.same_site,
        )

    def _set(
        self, response: web.StreamResponse, spec: CookieSpec, value: str, ttl: timedelta | None
    ) -> None:
        max_age = int(ttl.total_seconds()) if ttl is not None else spec.max_age
        response.set_cookie(
            spec.name,
            value,
            max_age=max_age,
            expires=_http_date(self._clock.now() + timedelta(seconds=max_age)) if max_age else None,
            path=spec.path,
            secure=self._secure_for(spec),
            httponly=spec.http_only,
            samesite=spec.same_site,
        )


def new_csrf_token() -> str:
    """Return a fresh CSRF token (32 bytes, base64url, no padding)."""
    return secrets.token_urlsafe(32)


def read_cookie(request: web.Request, spec: cookies.CookieSpec) -> str | None:
    """Return the request's cookie of one name (the first one when it is repeated)."""
    return cookie_value(request.headers.getall(hdrs.COOKIE, ()), spec.name)


def csrf_token_of(request: web.Request) -> tuple[str, bool]:
    """Return the request's CSRF token, or a new one and True when it must be set."""
    existing = read_cookie(request, cookies.CSRF)
    if existing:
        return existing, False
    return new_csrf_token(), True


def _http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)

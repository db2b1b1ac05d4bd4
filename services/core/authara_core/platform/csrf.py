"""CSRF defence on every unsafe request under /auth (fail closed).

Three checks, any one failing gives 403 forbidden: Fetch Metadata (`Sec-Fetch-Site:
cross-site`), the `Origin` header against PUBLIC_URL's origin when a browser sends one, and
the double-submit token (cookie `authara_csrf` equal to the `X-CSRF-Token` header or the
`csrf_token` form field).
"""

from __future__ import annotations

import hmac
from typing import Final
from urllib.parse import urlsplit

from aiohttp import web

from authara_contract import cookies, headers, routes
from authara_core.platform.bodies import read_form
from authara_core.platform.cookies import read_cookie
from authara_core.platform.errors import CsrfFailed

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
# Machine-to-machine routes that carry no cookies (upstream contract §3).
EXEMPT_PATHS: Final = frozenset({routes.API_TOKENS_REFRESH})
EXEMPT_PREFIXES: Final = (routes.INTERNAL_PREFIX + "/",)
_FORM_TYPES: Final = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})


def csrf_required(method: str, path: str) -> bool:
    """Tell whether a request must pass the CSRF checks."""
    if method in SAFE_METHODS or not routes.is_auth_path(path):
        return False
    return path not in EXEMPT_PATHS and not path.startswith(EXEMPT_PREFIXES)


def _origin_key(origin: str, *, loopback_equal: bool) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(origin)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if loopback_equal and host in _LOOPBACK:
        host = "loopback"
    return parts.scheme, host, port


async def submitted_token(request: web.Request) -> str:
    """Return the token from X-CSRF-Token, else from the csrf_token form field."""
    token = request.headers.get(headers.CSRF_TOKEN, "")
    if token:
        return token
    if request.content_type in _FORM_TYPES:
        value = (await read_form(request)).get(routes.CSRF_FORM_FIELD, "")
        return value if isinstance(value, str) else ""
    return request.query.get(routes.CSRF_FORM_FIELD, "")


class CsrfGuard:
    """Apply the CSRF checks for one deployment's public origin."""

    def __init__(self, public_url: str, *, dev: bool) -> None:
        # In dev, localhost and 127.0.0.1 name the same machine; in prod origins must match.
        self._dev = dev
        self._expected = _origin_key(public_url, loopback_equal=dev)

    def origin_allowed(self, origin: str | None) -> bool:
        """Tell whether a request's Origin header (absent for non-browser clients) is ours."""
        if origin is None:
            return True
        return _origin_key(origin, loopback_equal=self._dev) == self._expected

    async def check(self, request: web.Request) -> None:
        """Refuse (CsrfFailed) an unsafe cross-site request or one whose token does not match."""
        if not csrf_required(request.method, request.path):
            return
        if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
            raise CsrfFailed
        if not self.origin_allowed(request.headers.get("Origin")):
            raise CsrfFailed
        expected = read_cookie(request, cookies.CSRF)
        if not expected:
            raise CsrfFailed  # before reading the body: nothing it holds could pass
        given = await submitted_token(request)
        # Tokens are ASCII; a header's undecodable bytes would arrive as lone surrogates.
        if not given.isascii() or not hmac.compare_digest(expected.encode(), given.encode()):
            raise CsrfFailed

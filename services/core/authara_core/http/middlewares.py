"""The one middleware every core request passes: request id, CSRF, error mapping, headers."""

from __future__ import annotations

import re
import secrets
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler

from authara_contract import headers
from authara_core.keys import REQUEST_ID_KEY

from .csrf import CsrfGuard
from .errors import ErrorRenderer

_SANE_REQUEST_ID: Final = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

SECURITY_HEADERS: Final = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'self'; object-src 'none'; frame-ancestors 'none'; "
        "form-action 'self'; font-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-src 'none'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
        "style-src 'self' 'unsafe-inline'"
    ),
}


class RequestEnvelope:
    """Wrap every request: give it an id, check CSRF, map errors, add the security headers.

    One middleware rather than three: each layer costs a coroutine per request on the
    hottest paths (GET /user, token refresh). Error mapping itself lives in ErrorRenderer.
    """

    def __init__(self, errors: ErrorRenderer, csrf: CsrfGuard) -> None:
        self._errors = errors
        self._csrf = csrf

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Run the request through CSRF and its handler; every outcome gets the headers."""
        incoming = request.headers.get(headers.REQUEST_ID)
        request_id = (
            incoming
            if incoming is not None and _SANE_REQUEST_ID.match(incoming)
            else secrets.token_hex(16)
        )
        request[REQUEST_ID_KEY] = request_id
        try:
            await self._csrf.check(request)
            response = await handler(request)
        except Exception as exc:  # ErrorRenderer logs what it does not know
            response = self._errors.response_for(request, exc)
        response_headers = response.headers
        response_headers[headers.REQUEST_ID] = request_id
        for name, value in SECURITY_HEADERS.items():
            response_headers.setdefault(name, value)
        return response

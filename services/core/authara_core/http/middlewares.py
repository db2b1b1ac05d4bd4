"""Request id and security headers, applied to every response."""

from __future__ import annotations

import re
import uuid
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler

from authara_contract import headers
from authara_core.keys import REQUEST_ID_KEY

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


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Keep a sane incoming X-Request-Id or make one; echo it on the response."""
    incoming = request.headers.get(headers.REQUEST_ID, "")
    request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request[REQUEST_ID_KEY] = request_id
    response = await handler(request)
    response.headers[headers.REQUEST_ID] = request_id
    return response


@web.middleware
async def security_headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Add the contract's security headers to every response."""
    response = await handler(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response

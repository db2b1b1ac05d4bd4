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
async def envelope_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the request an id and every response that id plus the security headers.

    The id is a sane incoming X-Request-Id or a new one. One middleware rather than two:
    each layer costs a coroutine per request on the hottest paths.
    """
    incoming = request.headers.get(headers.REQUEST_ID, "")
    request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request[REQUEST_ID_KEY] = request_id
    response = await handler(request)
    response.headers[headers.REQUEST_ID] = request_id
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response

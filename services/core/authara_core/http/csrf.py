"""Double-submit CSRF check on every unsafe request under /auth (fail closed)."""

from __future__ import annotations

import hmac
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler

from authara_contract import cookies, headers, routes
from authara_core.errors import CsrfFailed

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
# Machine-to-machine routes that carry no cookies (upstream contract §3).
EXEMPT_PATHS: Final = frozenset({routes.API_TOKENS_REFRESH})
EXEMPT_PREFIXES: Final = (routes.INTERNAL_PREFIX + "/",)
_FORM_TYPES: Final = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def csrf_required(method: str, path: str) -> bool:
    """Tell whether a request must pass the CSRF check."""
    if method in SAFE_METHODS or not routes.is_auth_path(path):
        return False
    return path not in EXEMPT_PATHS and not path.startswith(EXEMPT_PREFIXES)


async def submitted_token(request: web.Request) -> str:
    """Return the token from X-CSRF-Token, else from the csrf_token form field."""
    token = request.headers.get(headers.CSRF_TOKEN, "")
    if token:
        return token
    if request.content_type in _FORM_TYPES:
        value = (await request.post()).get(routes.CSRF_FORM_FIELD, "")
        return value if isinstance(value, str) else ""
    return request.query.get(routes.CSRF_FORM_FIELD, "")


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse unsafe requests whose submitted token does not match the cookie."""
    if csrf_required(request.method, request.path):
        expected = request.cookies.get(cookies.CSRF.name, "")
        given = await submitted_token(request)
        if not expected or not given or not hmac.compare_digest(expected.encode(), given.encode()):
            raise CsrfFailed
    return await handler(request)
